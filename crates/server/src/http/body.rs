//! Request bodies, read the same way on every route that takes one (`POST /mcp`, the admin API,
//! the legacy REST routes): JSON only, within `http.max_body_bytes` and
//! `http.body_read_timeout`.

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::Server;
use super::rejection::Rejection;

/// Whether a request says its body is JSON (`Content-Type: application/json`, parameters such
/// as `charset` allowed).
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The whole body, or the refusal: 413 past the size limit, 408 past the time limit. A body
/// that is already here (the common case) is collected on the first poll. Whatever else stops
/// the read (the client went away mid-body) leaves nothing to answer but "too large": a client
/// that is gone reads no answer. hyper closes the connection after either answer, since the
/// rest of the body was never read.
pub(super) async fn read(srv: &Server, body: Incoming) -> Result<Bytes, Rejection> {
    match tokio::time::timeout(
        srv.body_read_timeout,
        Limited::new(body, srv.max_body).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(Rejection::too_large(srv.max_body)),
        Err(_) => Err(Rejection::body_timeout(srv.body_read_timeout)),
    }
}
