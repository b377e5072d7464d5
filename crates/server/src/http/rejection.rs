//! HTTP-level refusals: the status code and JSON-RPC error body for every request the transport
//! turns away before the gateway sees it. `docs/errors.md` mirrors this table.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_protocol::message::encode;
use switchboard_protocol::{ErrorCode, ErrorKind, Id, RpcError, object};

/// A refusal: HTTP status, JSON-RPC code and message, and its kind in the error catalogue
/// (`data.category`, `data.retryable`).
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub kind: &'static ErrorKind,
    pub message: String,
    pub id: Option<Id>,
    /// Members of `error.data` beside `request_id` (raw JSON values).
    pub data: Vec<(Cow<'static, str>, String)>,
}

impl Rejection {
    /// A refusal of the catalogue's kind with this code and status
    /// ([`ErrorKind::of_refusal`]); [`Rejection::of`] names the kind.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            code,
            kind: ErrorKind::of_refusal(code, status.as_u16()),
            message: message.into(),
            id: None,
            data: Vec::new(),
        }
    }

    /// A refusal of `kind`, with its code and HTTP status.
    pub fn of(kind: &'static ErrorKind, message: impl Into<String>) -> Rejection {
        Rejection {
            status: StatusCode::from_u16(kind.status).unwrap_or(StatusCode::BAD_REQUEST),
            code: kind.code,
            kind,
            message: message.into(),
            id: None,
            data: Vec::new(),
        }
    }

    /// Adds a member to `error.data` (`raw` is JSON).
    pub fn with_data(mut self, key: &'static str, raw: String) -> Rejection {
        self.data.push((Cow::Borrowed(key), raw));
        self
    }

    /// A gateway error as an HTTP refusal, with the status the error table gives it.
    pub fn from_error(e: RpcError) -> Rejection {
        let status = StatusCode::from_u16(switchboard_gateway::error::status_of(e.code))
            .unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = Rejection::new(status, e.code, e.message.clone());
        r.kind = e.kind();
        r.data = e
            .data()
            .iter()
            .map(|(k, v)| (Cow::Owned(k.clone()), v.clone()))
            .collect();
        r
    }

    pub fn with_id(mut self, id: Option<Id>) -> Rejection {
        self.id = id;
        self
    }

    pub fn parse(e: &switchboard_protocol::ParseError) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, ErrorCode(e.code()), e.to_string())
    }

    pub fn forbidden(what: &str) -> Rejection {
        Rejection::of(
            ErrorKind::HOST_NOT_ALLOWED,
            format!("forbidden: {what} is not allowed"),
        )
    }

    pub fn unsupported_media() -> Rejection {
        Rejection::of(
            ErrorKind::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )
    }

    pub fn not_acceptable(need: &str) -> Rejection {
        Rejection::of(
            ErrorKind::NOT_ACCEPTABLE,
            format!("Accept must include {need}"),
        )
    }

    pub fn too_large(limit: usize) -> Rejection {
        Rejection::of(
            ErrorKind::BODY_TOO_LARGE,
            format!("body larger than {limit} bytes"),
        )
    }

    pub fn body_timeout(after: std::time::Duration) -> Rejection {
        Rejection::of(
            ErrorKind::BODY_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                after.as_secs_f64()
            ),
        )
    }

    pub fn missing_session() -> Rejection {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST,
            "Bad Request: no valid MCP-Session-Id header; send initialize first",
        )
    }

    pub fn unknown_session() -> Rejection {
        Rejection::of(
            ErrorKind::UNKNOWN_SESSION,
            "Session not found: it expired or was deleted; initialize a new one",
        )
    }

    pub fn bad_version(v: &str) -> Rejection {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST,
            format!(
                "Unsupported MCP-Protocol-Version {v:?}; known: 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25"
            ),
        )
    }

    /// 2026-07-28 V1: the request's `_meta` lacks what every modern request must carry.
    pub fn missing_meta(missing: &[&str]) -> Rejection {
        let list: Vec<String> = missing.iter().map(|k| object::json_string(k)).collect();
        Rejection::of(
            ErrorKind::MISSING_META,
            "Invalid params: a 2026-07-28 request's params._meta must carry io.modelcontextprotocol/protocolVersion (a string) and io.modelcontextprotocol/clientCapabilities (an object); to open a handshake-era session instead, send initialize without them",
        )
        .with_data("missing", format!("[{}]", list.join(",")))
    }

    /// 2026-07-28: a header that mirrors the body is missing or says something else.
    pub fn header_mismatch(message: String) -> Rejection {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::HEADER_MISMATCH,
            format!("Header mismatch: {message}"),
        )
    }

    /// 2026-07-28: a version this endpoint does not serve statelessly.
    pub fn unsupported_version(requested: &str, supported: &str) -> Rejection {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            format!("Unsupported protocol version {requested:?}"),
        )
        .with_data("supported", supported.to_owned())
        .with_data("requested", object::json_string(requested))
    }

    pub fn overloaded(why: &str) -> Rejection {
        Rejection::of(ErrorKind::TOO_MANY_SESSIONS, why.to_owned())
    }

    /// The response, with `data.request_id`.
    pub fn into_response_with(self, request_id: &str) -> Response {
        let invalid_token = self
            .data
            .iter()
            .any(|(k, v)| k == "reason" && v.contains(switchboard_gateway::auth::INVALID_TOKEN));
        let mut err = RpcError::of(self.kind, self.message);
        err.code = self.code;
        for (k, raw) in self.data {
            err = err.with_raw(&k, raw);
        }
        let err = err.with_str("request_id", request_id);
        let body = encode::error(self.id.as_ref(), &err.to_json());
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1: `invalid_token` when a credential was presented and refused; no
            // error code when none was (the server adds `resource_metadata` and `scope`).
            let value = if invalid_token {
                "Bearer realm=\"switchboard\", error=\"invalid_token\""
            } else {
                "Bearer realm=\"switchboard\""
            };
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        resp
    }
}
