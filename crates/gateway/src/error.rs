//! The one place internal failures become JSON-RPC errors.
//!
//! Every error the gateway produces on its own is built here, so codes and messages stay consistent
//! and `docs/errors.md` has one file to mirror; [`status_of`] gives each code its HTTP status where
//! a transport sends errors with one. Each error is of a kind from the catalogue
//! (`switchboard_protocol::catalogue`), which gives it `data.category` and `data.retryable`.
//! Errors about an upstream always name it in `error.data.upstream`.

use switchboard_protocol::{ErrorCode, ErrorKind, RpcError};
use switchboard_upstream::UpstreamError;

/// The error object used when an upstream's error response has none (it cannot be relayed).
pub const INTERNAL_ERROR_JSON: &str = "{\"code\":-32603,\"message\":\"internal error\",\"data\":{\"category\":\"internal\",\"retryable\":false}}";

/// The HTTP status an error is sent with where the era or transport gives errors a status of
/// their own (2026-07-28 answers, refusals before the pipeline); 200 means "a JSON-RPC error in
/// a 200 response", which is every other code's fate.
pub fn status_of(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::METHOD_NOT_FOUND => 404,
        ErrorCode::OVERLOADED => 429,
        crate::auth::UNAUTHENTICATED => 401,
        crate::auth::FORBIDDEN => 403,
        RATE_LIMITED => 429,
        crate::idempotency::CONFLICT | crate::idempotency::IN_FLIGHT => 409,
        crate::idempotency::KEY_REQUIRED => 400,
        ErrorCode::CIRCUIT_OPEN | ErrorCode::AUDIT_BACKLOG => 503,
        ErrorCode::HEADER_MISMATCH
        | ErrorCode::MISSING_CLIENT_CAPABILITY
        | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION => 400,
        _ => 200,
    }
}

/// An upstream failure, as the client sees it.
pub fn upstream(name: &str, e: &UpstreamError) -> RpcError {
    let (code, message) = match e {
        UpstreamError::Unavailable(m) => (
            ErrorCode::UPSTREAM_UNAVAILABLE,
            format!("upstream {name} is unavailable: {m}"),
        ),
        UpstreamError::Timeout(d) => (
            ErrorCode::UPSTREAM_TIMEOUT,
            format!("upstream {name} did not answer within {}ms", d.as_millis()),
        ),
        UpstreamError::Closed(m) => (
            ErrorCode::UPSTREAM_CLOSED,
            format!("upstream {name} closed: {m}"),
        ),
        UpstreamError::Protocol(m) => (
            ErrorCode::UPSTREAM_PROTOCOL,
            format!("upstream {name} broke the protocol: {m}"),
        ),
        UpstreamError::Cancelled => (ErrorCode::UPSTREAM_CLOSED, "request cancelled".to_owned()),
        UpstreamError::NotModern(m) => (
            ErrorCode::UPSTREAM_UNAVAILABLE,
            format!("upstream {name} is not a 2026-07-28 server: {m}"),
        ),
    };
    RpcError::new(code, message).with_str("upstream", name)
}

/// An upstream that is configured but has no live connection right now.
pub fn upstream_down(name: &str, why: Option<&str>) -> RpcError {
    let message = match why {
        Some(w) => format!("upstream {name} is unavailable: {w}"),
        None => format!("upstream {name} is unavailable"),
    };
    RpcError::new(ErrorCode::UPSTREAM_UNAVAILABLE, message).with_str("upstream", name)
}

/// A concurrency limit refused the call (`scope`: the upstream's name, or "the gateway").
pub fn overloaded(scope: &str, reason: &str, retry_after: std::time::Duration) -> RpcError {
    RpcError::new(
        ErrorCode::OVERLOADED,
        format!("{scope} is overloaded: {reason}; retry later"),
    )
    .with_str("limit", scope)
    .with_raw("retry_after_ms", retry_after.as_millis().to_string())
}

/// A principal went over `limits.rate` (HTTP 429).
pub const RATE_LIMITED: ErrorCode = ErrorCode(-31042);

/// `principal` (for `tool`, when the per-tool limit) went over its rate.
pub fn rate_limited(principal: &str, tool: Option<&str>, wait: std::time::Duration) -> RpcError {
    let ms = wait.as_millis().max(1);
    let what = match tool {
        Some(t) => format!("calls of {t}"),
        None => "requests".to_owned(),
    };
    RpcError::new(
        RATE_LIMITED,
        format!("rate limit: too many {what} by {principal}; retry in {ms}ms"),
    )
    .with_raw("retry_after_ms", ms.to_string())
}

/// The principal lacks a scope `method` needs.
pub fn insufficient_scope(method: &str, scopes: &[&str]) -> RpcError {
    let list = scopes
        .iter()
        .map(|s| switchboard_protocol::object::json_string(s))
        .collect::<Vec<_>>()
        .join(",");
    RpcError::new(
        crate::auth::FORBIDDEN,
        format!("insufficient_scope: {method} needs {}", scopes.join(" ")),
    )
    .with_raw("required_scopes", format!("[{list}]"))
}

/// The upstream's circuit breaker is open.
pub fn circuit_open(name: &str, retry_in: std::time::Duration) -> RpcError {
    let ms = retry_in.as_millis().max(1);
    RpcError::new(
        ErrorCode::CIRCUIT_OPEN,
        format!(
            "upstream {name} is failing and its circuit breaker is open; retrying it in {ms}ms"
        ),
    )
    .with_str("reason", "circuit_open")
    .with_str("upstream", name)
    .with_raw("retry_after_ms", ms.to_string())
}

pub fn method_not_found(method: &str) -> RpcError {
    RpcError::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("Method not found: {method}"),
    )
}

pub fn invalid_params(message: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::INVALID_PARAMS, message)
}

pub fn unknown_tool(name: &str) -> RpcError {
    RpcError::of(ErrorKind::UNKNOWN_TOOL, format!("Unknown tool: {name}")).with_str("name", name)
}

pub fn unknown_prompt(name: &str) -> RpcError {
    RpcError::of(ErrorKind::UNKNOWN_PROMPT, format!("Unknown prompt: {name}"))
        .with_str("name", name)
}

/// A task id that does not exist for this client (including another client's task: never say which).
pub fn unknown_task(id: &str) -> RpcError {
    RpcError::of(ErrorKind::UNKNOWN_TASK, format!("Unknown task: {id}")).with_str("taskId", id)
}

pub fn resource_not_found(uri: &str) -> RpcError {
    RpcError::new(
        ErrorCode::RESOURCE_NOT_FOUND,
        format!("Resource not found: {uri}"),
    )
    .with_str("uri", uri)
}

pub fn shutting_down() -> RpcError {
    RpcError::new(ErrorCode::SHUTTING_DOWN, "the gateway is shutting down")
        .with_str("reason", "shutting_down")
}

/// `audit.on_full: refuse_calls` while the audit queue is full: the call would go unrecorded.
pub fn audit_backlog() -> RpcError {
    RpcError::new(
        ErrorCode::AUDIT_BACKLOG,
        "the audit log is behind; the call was not made (try again)",
    )
    .with_str("reason", "audit_backlog")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses the pipeline gives errors in every era (`status_of`) are the catalogue's.
    #[test]
    fn status_of_agrees_with_the_catalogue() {
        let mut kept = 0;
        for k in switchboard_protocol::CATALOGUE {
            if ErrorKind::of_code(k.code) != *k {
                continue;
            }
            let status = status_of(k.code);
            if matches!(status, 401 | 403 | 409 | 429 | 503) {
                assert_eq!(status, k.status, "{k:?}");
                kept += 1;
            } else {
                assert!(!matches!(k.status, 401 | 403 | 409 | 429 | 503), "{k:?}");
            }
        }
        assert_eq!(kept, 8);
    }

    #[test]
    fn errors_carry_their_category() {
        let e = circuit_open("fx", std::time::Duration::from_millis(5)).to_json();
        assert!(
            e.contains(r#""data":{"category":"upstream_unavailable","retryable":true,"reason":"circuit_open","upstream":"fx""#),
            "{e}"
        );
        let e = audit_backlog().to_json();
        assert!(
            e.contains(r#""category":"overloaded","retryable":true,"reason":"audit_backlog""#),
            "{e}"
        );
        let e = insufficient_scope("tools/call", &["mcp.invoke"]).to_json();
        assert!(e.contains(r#""category":"scope","retryable":false"#), "{e}");
        assert!(
            unknown_tool("x")
                .to_json()
                .contains(r#""category":"not_found""#)
        );
        let e = upstream(
            "fx",
            &UpstreamError::Timeout(std::time::Duration::from_secs(1)),
        );
        assert_eq!(
            e.kind().category,
            switchboard_protocol::ErrorCategory::UpstreamTimeout
        );
    }
}
