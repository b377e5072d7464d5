//! `X-Request-Id`: accepted from the client when well-formed, generated otherwise, echoed on every
//! response, forwarded to HTTP upstreams, and put in every error's `data.request_id`.

use std::sync::Arc;

/// The request id of one HTTP request (an axum extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Accepts 1–128 characters of `[A-Za-z0-9._:-]`.
pub fn valid(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The client's id if valid, else a fresh random one.
pub fn accept_or_generate(header: Option<&str>) -> Arc<str> {
    match header {
        Some(h) if valid(h) => h.into(),
        _ => generate(),
    }
}

pub fn generate() -> Arc<str> {
    switchboard_gateway::token::random::<12>("sb-")
}

/// The `tracing` span around work a transport does for a request outside the gateway's
/// pipeline (which has its own, of the same name and field): `initialize`, notifications,
/// responses, `DELETE`. Every log line inside carries the request id. Like the pipeline's, it is
/// at ERROR level so that whatever the log filter lets through is inside it.
pub fn span(rid: &str) -> tracing::Span {
    if !tracing::enabled!(tracing::Level::ERROR) {
        return tracing::Span::none();
    }
    tracing::error_span!("request", request_id = rid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(valid("abc-1.2:3_x"));
        assert!(!valid(""));
        assert!(!valid(&"a".repeat(129)));
        assert!(!valid("a b"));
        assert_eq!(&*accept_or_generate(Some("ok-1")), "ok-1");
        assert!(accept_or_generate(Some("bad id")).starts_with("sb-"));
    }
}
