//! OAuth 2.0 resource-server discovery (RFC 9728) and the `WWW-Authenticate` challenges that
//! point to it (RFC 6750).
//!
//! With `auth.jwt` configured, `/.well-known/oauth-protected-resource` describes the gateway,
//! `/.well-known/oauth-protected-resource/mcp` describes the `/mcp` endpoint, and
//! `/.well-known/oauth-protected-resource/mcp/v/<id>` each published product's: its canonical URL
//! (`resource`, RFC 8707), the token issuer as its authorization server, the scopes the gateway
//! asks for, and that tokens go in the `Authorization` header only. An MCP client that gets a
//! 401 follows the challenge's `resource_metadata` there, then to the issuer. Without `auth.jwt`
//! there is no authorization server to name, so there is no metadata (404) and the challenges
//! carry no `resource_metadata`.
//!
//! The canonical URL is `http.public_url` when set; otherwise `http://` and the request's
//! `Host` (which the Host guard already admitted), which is right for a loopback quick start.

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_gateway::auth::METHOD_SCOPES;
use switchboard_protocol::object::json_string;

use super::Server;
use super::rejection::Rejection;
use switchboard_protocol::ErrorKind;

/// The RFC 9728 well-known path.
pub(super) const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The base URL clients reach this gateway at, without a trailing `/`.
fn base_url(srv: &Server, head: &Parts) -> String {
    if let Some(u) = &srv.gw.config().http.public_url {
        return u.clone();
    }
    let host = head
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| head.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// GET `/.well-known/oauth-protected-resource[/<resource path>]`.
pub(super) fn metadata(srv: &Server, head: &Parts, suffix: &str) -> Response {
    let Some(issuer) = srv.gw.jwt_issuer() else {
        return (
            StatusCode::NOT_FOUND,
            "no OAuth authorization server is configured (auth.jwt)\n",
        )
            .into_response();
    };
    // Each endpoint that takes tokens has its own document: `/mcp` and each published
    // product's `/mcp/v/<id>` (a draft or unknown id has none).
    if !is_resource_path(srv, suffix) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let resource = format!("{}{suffix}", base_url(srv, head));
    let scopes: Vec<String> = METHOD_SCOPES.iter().map(|s| json_string(s)).collect();
    let body = format!(
        "{{\"resource\":{},\"authorization_servers\":[{}],\"scopes_supported\":[{}],\"bearer_methods_supported\":[\"header\"],\"resource_name\":\"switchboard\"}}",
        json_string(&resource),
        json_string(issuer),
        scopes.join(","),
    );
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Whether `path` is an endpoint with its own protected-resource metadata (`""` is the gateway).
fn is_resource_path(srv: &Server, path: &str) -> bool {
    match path.strip_prefix("/mcp/v/") {
        Some(id) => srv.gw.product_endpoint(id).is_some(),
        None => matches!(path, "" | "/mcp"),
    }
}

/// A request that carries its access token in the query string (RFC 6750 §2.3): refused, since
/// URLs end up in logs, histories and `Referer` headers.
pub(super) fn token_in_query(head: &Parts, rid: &str) -> Option<Response> {
    let query = head.uri.query()?;
    let has = query
        .split('&')
        .any(|kv| kv.split('=').next().is_some_and(|k| k == "access_token"));
    if !has {
        return None;
    }
    let mut r = Rejection::of(
        ErrorKind::TOKEN_IN_QUERY,
        "access tokens in the URL query are refused (they end up in logs); send `Authorization: Bearer <token>`",
    )
    .with_data("reason", "\"token_in_query\"".to_owned())
    .into_response_with(rid);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"switchboard\", error=\"invalid_request\""),
    );
    Some(r)
}

/// Completes the challenge of a refusal: a 401 gains `resource_metadata` and `scope`; a 403 for
/// missing scopes gains `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`.
pub(super) fn challenge(srv: &Server, head: &Parts, resp: &mut Response) {
    let status = resp.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return;
    }
    let jwt = srv.gw.jwt_issuer().is_some();
    let metadata = || {
        let path = head.uri.path();
        let suffix = if !path.is_empty() && is_resource_path(srv, path) {
            path
        } else {
            ""
        };
        format!(
            ", resource_metadata=\"{}{METADATA_PATH}{suffix}\"",
            base_url(srv, head)
        )
    };
    let h: &mut HeaderMap = resp.headers_mut();
    let value = if status == StatusCode::UNAUTHORIZED {
        let Some(current) = h
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        if current.contains("invalid_request") {
            return;
        }
        let mut v = current.to_owned();
        if jwt {
            v.push_str(&metadata());
        }
        v.push_str(&format!(", scope=\"{}\"", METHOD_SCOPES.join(" ")));
        v
    } else {
        let Some(scopes) = h
            .get(HeaderName::from_static("x-required-scopes"))
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let mut v = format!("Bearer error=\"insufficient_scope\", scope=\"{scopes}\"");
        if jwt {
            v.push_str(&metadata());
        }
        v
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
}
