//! The admin REST API: `/api/upstreams[/<id>]` and `/api/products[/<id>]` (list, get, create or
//! replace with `PUT`, delete), `/api/usage` (and `POST /api/usage/reset`), and the OpenAPI
//! document of the REST surface at `/api/openapi.json`.
//!
//! Every route but the OpenAPI document needs a caller who may administer the gateway: a
//! principal with the `admin` scope, or, with auth off, an anonymous caller on a loopback
//! address. That is checked before a body is read. The gateway does the rest
//! (`switchboard_gateway::admin`): validation exactly like the config file, the state file,
//! live apply. Errors are the usual JSON-RPC error body (`data.request_id`; `data.field` names
//! the field a validation error is about); `GET` and `PUT` answer with the item's `ETag`, and
//! `If-Match` guards `PUT` and `DELETE` (412 when stale).

use std::net::SocketAddr;

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use switchboard_config::Kind;
use switchboard_gateway::admin::{AdminError, Item};
use switchboard_gateway::principal::Principal;
use switchboard_gateway::usage::Filter;
use switchboard_protocol::{ErrorCode, object};

use super::Server;
use super::inputs::credentials;
use super::rejection::Rejection;

/// The OpenAPI 3.1 document of the REST surface, kept in sync by `tests/openapi.rs`.
pub(super) const OPENAPI: &str = include_str!("openapi.json");

/// Whether this module serves `path`.
pub(super) fn owns(path: &str) -> bool {
    matches!(
        path,
        "/api/openapi.json" | "/api/usage" | "/api/usage/reset"
    ) || collection(path).is_some()
}

/// Serves a path [`owns`] says is this module's.
pub(super) async fn route(
    srv: &Server,
    rid: &str,
    head: &Parts,
    body: Incoming,
    client: Option<SocketAddr>,
) -> Response {
    let path = head.uri.path();
    let r = match path {
        "/api/openapi.json" => match head.method {
            Method::GET | Method::HEAD => Ok(json(StatusCode::OK, OPENAPI.to_owned())),
            _ => Ok(super::method_not_allowed("GET, HEAD")),
        },
        "/api/usage" => match head.method {
            Method::GET => usage(srv, head, client).await,
            _ => Ok(super::method_not_allowed("GET")),
        },
        "/api/usage/reset" => match head.method {
            Method::POST => reset(srv, head, client).await,
            _ => Ok(super::method_not_allowed("POST")),
        },
        _ => match collection(path) {
            None => Ok((StatusCode::NOT_FOUND, "not found\n").into_response()),
            Some((kind, id)) => match (id, &head.method) {
                (None, &Method::GET) => list(srv, head, client, kind).await,
                (None, _) => Ok(super::method_not_allowed("GET")),
                (Some(id), &Method::GET) => get(srv, head, client, kind, id).await,
                (Some(id), &Method::PUT) => put(srv, head, body, client, kind, id).await,
                (Some(id), &Method::DELETE) => delete(srv, head, client, kind, id).await,
                (Some(_), _) => Ok(super::method_not_allowed("GET, PUT, DELETE")),
            },
        },
    };
    r.unwrap_or_else(|e| e.into_response_with(rid))
}

/// `(kind, None)` for a collection, `(kind, Some(id))` for one item; `None` for other paths.
fn collection(path: &str) -> Option<(Kind, Option<&str>)> {
    for kind in [Kind::Upstream, Kind::Product] {
        let Some(rest) = path
            .strip_prefix("/api/")
            .and_then(|p| p.strip_prefix(kind.key()))
        else {
            continue;
        };
        return match rest {
            "" => Some((kind, None)),
            _ => match rest.strip_prefix('/') {
                Some(id) if !id.is_empty() && !id.contains('/') => Some((kind, Some(id))),
                _ => None,
            },
        };
    }
    None
}

/// The caller, if it may administer: `admin` scope, or anonymous from a loopback address.
async fn administrator(
    srv: &Server,
    headers: &HeaderMap,
    client: Option<SocketAddr>,
) -> Result<Principal, Rejection> {
    let principal = srv
        .gw
        .authenticate(credentials(headers))
        .await
        .map_err(Rejection::from_error)?;
    let loopback = client.is_some_and(|a| a.ip().is_loopback());
    if (principal == Principal::anonymous() && !loopback) || !srv.gw.may_administer(&principal) {
        return Err(refusal(AdminError::Forbidden));
    }
    Ok(principal)
}

async fn list(
    srv: &Server,
    head: &Parts,
    client: Option<SocketAddr>,
    kind: Kind,
) -> Result<Response, Rejection> {
    administrator(srv, &head.headers, client).await?;
    let items = srv.gw.admin_list(kind).await.map_err(refusal)?;
    let bodies: Vec<serde_json::Value> = items.into_iter().map(|i| i.body).collect();
    let doc = serde_json::json!({ (kind.key()): bodies });
    Ok(json(StatusCode::OK, doc.to_string()))
}

async fn get(
    srv: &Server,
    head: &Parts,
    client: Option<SocketAddr>,
    kind: Kind,
    id: &str,
) -> Result<Response, Rejection> {
    administrator(srv, &head.headers, client).await?;
    let item = srv.gw.admin_get(kind, id).await.map_err(refusal)?;
    Ok(item_response(StatusCode::OK, item))
}

async fn put(
    srv: &Server,
    head: &Parts,
    body: Incoming,
    client: Option<SocketAddr>,
    kind: Kind,
    id: &str,
) -> Result<Response, Rejection> {
    let principal = administrator(srv, &head.headers, client).await?;
    if !super::body::is_json(&head.headers) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::INVALID_REQUEST,
            "Content-Type must be application/json",
        ));
    }
    let bytes = super::body::read(srv, body).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let (item, created) = srv
        .gw
        .admin_put(&principal, kind, id, value, if_match(&head.headers))
        .await
        .map_err(refusal)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(item_response(status, item))
}

async fn delete(
    srv: &Server,
    head: &Parts,
    client: Option<SocketAddr>,
    kind: Kind,
    id: &str,
) -> Result<Response, Rejection> {
    let principal = administrator(srv, &head.headers, client).await?;
    srv.gw
        .admin_delete(&principal, kind, id, if_match(&head.headers))
        .await
        .map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn usage(
    srv: &Server,
    head: &Parts,
    client: Option<SocketAddr>,
) -> Result<Response, Rejection> {
    administrator(srv, &head.headers, client).await?;
    let mut filter = Filter::default();
    for pair in head.uri.query().unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| bad_query(k))?;
        match k {
            "principal" => filter.principal = Some(v),
            "product" => filter.product = Some(v),
            "tool" => filter.tool = Some(v),
            "" => {}
            other => {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::INVALID_REQUEST,
                    format!(
                        "unknown query parameter `{other}`: filter by principal, product or tool"
                    ),
                ));
            }
        }
    }
    Ok(json(
        StatusCode::OK,
        srv.gw.usage().to_json(&filter).to_string(),
    ))
}

async fn reset(
    srv: &Server,
    head: &Parts,
    client: Option<SocketAddr>,
) -> Result<Response, Rejection> {
    let principal = administrator(srv, &head.headers, client).await?;
    srv.gw.usage().reset();
    tracing::info!(principal = principal.id(), "usage counts reset");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn bad_query(key: &str) -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::INVALID_REQUEST,
        format!("query parameter `{key}` is not valid percent-encoded UTF-8"),
    )
}

/// `application/x-www-form-urlencoded` value decoding (`+` is a space).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

fn item_response(status: StatusCode, item: Item) -> Response {
    let mut r = json(status, item.body.to_string());
    if let Ok(v) = HeaderValue::from_str(&item.etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn json(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn refusal(e: AdminError) -> Rejection {
    let status = match &e {
        AdminError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        AdminError::Forbidden => StatusCode::FORBIDDEN,
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
        AdminError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::Stale(_) => StatusCode::PRECONDITION_FAILED,
        AdminError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut r = Rejection::new(status, ErrorCode::INVALID_REQUEST, e.to_string());
    if let AdminError::Invalid(f) = &e {
        r = r.with_data("field", object::json_string(&f.path));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_collection_or_one_item() {
        assert!(matches!(
            collection("/api/products"),
            Some((Kind::Product, None))
        ));
        assert!(matches!(
            collection("/api/upstreams/a"),
            Some((Kind::Upstream, Some("a")))
        ));
        assert!(collection("/api/products/").is_none());
        assert!(collection("/api/products/a/b").is_none());
        assert!(collection("/api/productsx").is_none());
    }

    #[test]
    fn the_openapi_document_is_json() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn query_values_decode() {
        assert_eq!(percent_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert!(percent_decode("%zz").is_none());
    }
}
