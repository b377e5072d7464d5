//! `POST /api/plugins`: install a signed plugin bundle at run time.
//!
//! The body is the `.tar.gz` as `application/octet-stream`, capped at the bundle size limit.
//! The caller must administer the gateway (`Gateway::may_administer`), which is checked before
//! the body is read; the gateway verifies,
//! places and starts the plugin (`Gateway::install_plugin`). Answers: 201 with the plugin's
//! name, version and tool count; 403 when runtime install is off or the caller is not an
//! administrator; 409 when the name is taken or disabled; 413 for a body over the cap; 415 for
//! another content type; 422 with the refusal reason for a bundle that does not verify.
//! Refusals carry the usual JSON-RPC error body with `data.request_id` (and `data.reason`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use switchboard_gateway::plugins::InstallError;
use switchboard_protocol::{ErrorCode, ErrorKind, object};

use super::Server;
use super::inputs::credentials;
use super::mcp::header_str;
use super::rejection::Rejection;

pub(super) async fn post(srv: &Server, rid: &str, headers: &HeaderMap, body: Incoming) -> Response {
    match install(srv, headers, body).await {
        Ok(r) => r,
        Err(r) => r.into_response_with(rid),
    }
}

async fn install(srv: &Server, headers: &HeaderMap, body: Incoming) -> Result<Response, Rejection> {
    let principal = srv
        .gw
        .authenticate(credentials(headers))
        .await
        .map_err(Rejection::from_error)?;
    srv.gw
        .may_install_plugins(&principal)
        .map_err(|e| refusal(&e))?;
    let ctype = header_str(headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
    if !ctype
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/octet-stream"))
    {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::INVALID_REQUEST,
            "Content-Type must be application/octet-stream (the bundle's bytes)",
        ));
    }
    let limit = usize::try_from(srv.gw.max_bundle_bytes()).unwrap_or(usize::MAX);
    let bytes = match tokio::time::timeout(
        srv.body_read_timeout,
        Limited::new(body, limit).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return Err(Rejection::too_large(limit)),
        Err(_) => return Err(Rejection::body_timeout(srv.body_read_timeout)),
    };
    match srv.gw.install_plugin(&principal, bytes).await {
        Ok(done) => {
            let mut r = (StatusCode::CREATED, done.to_json()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        Err(e) => Err(refusal(&e)),
    }
}

fn refusal(e: &InstallError) -> Rejection {
    let kind = match e {
        InstallError::Off => ErrorKind::PLUGIN_INSTALL_OFF,
        InstallError::Forbidden => ErrorKind::PLUGIN_INSTALL_FORBIDDEN,
        InstallError::Conflict(_) => ErrorKind::PLUGIN_NAME_TAKEN,
        InstallError::Refused(_) => ErrorKind::PLUGIN_REFUSED,
    };
    let mut r = Rejection::of(kind, e.to_string());
    if let InstallError::Refused(why) = e {
        r = r.with_data("reason", object::json_string(&why.to_string()));
    }
    r
}
