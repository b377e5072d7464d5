//! HTTP-level refusals: the status code and JSON-RPC error body for every request the transport
//! turns away before the gateway sees it. `docs/errors.md` mirrors this table.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_protocol::message::encode;
use switchboard_protocol::{ErrorCode, Id, RpcError};

/// A refusal: HTTP status, JSON-RPC code and message.
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub id: Option<Id>,
}

impl Rejection {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            code,
            message: message.into(),
            id: None,
        }
    }

    pub fn with_id(mut self, id: Option<Id>) -> Rejection {
        self.id = id;
        self
    }

    pub fn parse(e: &switchboard_protocol::ParseError) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, ErrorCode(e.code()), e.to_string())
    }

    pub fn forbidden(what: &str) -> Rejection {
        Rejection::new(
            StatusCode::FORBIDDEN,
            ErrorCode::INVALID_REQUEST,
            format!("forbidden: {what} is not allowed"),
        )
    }

    pub fn unsupported_media() -> Rejection {
        Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::INVALID_REQUEST,
            "Content-Type must be application/json",
        )
    }

    pub fn not_acceptable(need: &str) -> Rejection {
        Rejection::new(
            StatusCode::NOT_ACCEPTABLE,
            ErrorCode::INVALID_REQUEST,
            format!("Accept must include {need}"),
        )
    }

    pub fn too_large(limit: usize) -> Rejection {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::INVALID_REQUEST,
            format!("body larger than {limit} bytes"),
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
        Rejection::new(
            StatusCode::NOT_FOUND,
            ErrorCode::INVALID_REQUEST,
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

    pub fn overloaded(why: &str) -> Rejection {
        Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::INVALID_REQUEST,
            why.to_owned(),
        )
    }

    /// The response, with `data.request_id`.
    pub fn into_response_with(self, request_id: &str) -> Response {
        let err = RpcError::new(self.code, self.message).with_str("request_id", request_id);
        let body = encode::error(self.id.as_ref(), &err.to_json());
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}
