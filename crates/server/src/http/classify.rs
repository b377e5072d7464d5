//! Which era a POST to `/mcp` belongs to, decided per request.
//!
//! Two eras share the endpoint: the handshake era (`initialize`, then `MCP-Session-Id` on every
//! request) and 2026-07-28 (no session; version and capabilities in every request's `_meta`).
//! Three markers decide, checked in this order (`docs/protocol.md` has the same table):
//!
//! | # | `MCP-Session-Id` | message | modern `_meta` | `MCP-Protocol-Version` | route |
//! |---|---|---|---|---|---|
//! | 1 | present | any | any | absent or a handshake revision | handshake |
//! | 2 | present | any | any | 2026-07-28 or unknown | refused: contradictory markers (400) |
//! | 3 | absent | response | — | any | handshake (which refuses it: no session) |
//! | 4 | absent | `initialize` request | no | absent or a handshake revision | handshake: a new session |
//! | 5 | absent | request or notification | yes | any | modern |
//! | 6 | absent | request or notification | no | 2026-07-28 or unknown | modern (which refuses it: no `_meta`) |
//! | 7 | absent | anything else | no | absent or a handshake revision | handshake (which refuses it: no session) |

use axum::http::{HeaderMap, HeaderName, StatusCode};
use switchboard_protocol::headers::trim_ows;
use switchboard_protocol::meta;
use switchboard_protocol::{ErrorCode, Message, Revision};

use super::rejection::Rejection;

// Names, not text: a lookup by text parses the name each time, and inserting one copies it.
pub const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
pub const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// Where a POST goes.
#[derive(Debug)]
pub enum Route {
    Handshake,
    Modern,
    Refuse(Rejection),
}

/// What the `MCP-Protocol-Version` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionHeader<'a> {
    Absent,
    Handshake,
    Modern,
    /// Not a revision this gateway knows (or not text at all).
    Unknown(&'a str),
}

impl<'a> VersionHeader<'a> {
    pub fn read(headers: &'a HeaderMap) -> VersionHeader<'a> {
        let Some(v) = headers.get(VERSION_HEADER) else {
            return VersionHeader::Absent;
        };
        let Ok(v) = v.to_str() else {
            return VersionHeader::Unknown("(not visible ASCII)");
        };
        let v = trim_ows(v);
        match Revision::parse_any(v) {
            Some(r) if r.is_modern() => VersionHeader::Modern,
            Some(_) => VersionHeader::Handshake,
            None => VersionHeader::Unknown(v),
        }
    }

    fn is_handshake_or_absent(self) -> bool {
        matches!(self, VersionHeader::Absent | VersionHeader::Handshake)
    }
}

/// Decides the era of one POSTed message.
pub fn classify(headers: &HeaderMap, msg: &Message) -> Route {
    let version = VersionHeader::read(headers);
    if headers.contains_key(SESSION_HEADER) {
        return match version {
            v if v.is_handshake_or_absent() => Route::Handshake,
            VersionHeader::Unknown(v) => Route::Refuse(Rejection::bad_version(v)),
            _ => Route::Refuse(contradictory()),
        };
    }
    if msg.is_response() {
        return Route::Handshake;
    }
    if meta::version(msg.params()).is_some() || !version.is_handshake_or_absent() {
        return Route::Modern;
    }
    Route::Handshake
}

fn contradictory() -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::INVALID_REQUEST,
        "MCP-Protocol-Version 2026-07-28 does not belong to a session: sessions are the handshake era's (2025-11-25 and older); 2026-07-28 requests carry no MCP-Session-Id",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(s: &str) -> Message {
        Message::parse(Bytes::from(s.to_owned())).unwrap()
    }

    fn headers(session: bool, version: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if session {
            h.insert(SESSION_HEADER, "abc".parse().unwrap());
        }
        if let Some(v) = version {
            h.insert(VERSION_HEADER, v.parse().unwrap());
        }
        h
    }

    const MODERN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    const PLAIN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;

    fn route(session: bool, version: Option<&str>, m: &str) -> &'static str {
        match classify(&headers(session, version), &msg(m)) {
            Route::Handshake => "handshake",
            Route::Modern => "modern",
            Route::Refuse(r) if r.message.contains("does not belong") => "contradictory",
            Route::Refuse(r) if r.message.contains("Unsupported") => "bad version",
            Route::Refuse(_) => "refused",
        }
    }

    #[test]
    fn every_row_of_the_table() {
        // 1: a session with a handshake header (or none); modern `_meta` is just `_meta` there.
        assert_eq!(route(true, Some("2025-11-25"), PLAIN), "handshake");
        assert_eq!(route(true, None, MODERN), "handshake");
        // 2: a session with a modern or unknown header.
        assert_eq!(route(true, Some("2026-07-28"), PLAIN), "contradictory");
        assert_eq!(route(true, Some("1999-01-01"), PLAIN), "bad version");
        // 3: responses are the handshake era's.
        assert_eq!(
            route(
                false,
                Some("2026-07-28"),
                r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
            ),
            "handshake"
        );
        // 4: initialize without modern markers opens a session.
        assert_eq!(route(false, None, INIT), "handshake");
        assert_eq!(route(false, Some("2025-06-18"), INIT), "handshake");
        // 5: modern `_meta`, whatever the header says.
        assert_eq!(route(false, Some("2026-07-28"), MODERN), "modern");
        assert_eq!(route(false, None, MODERN), "modern");
        assert_eq!(route(false, Some("2025-11-25"), MODERN), "modern");
        // 6: a modern or unknown header without `_meta`, initialize included.
        assert_eq!(route(false, Some("2026-07-28"), PLAIN), "modern");
        assert_eq!(route(false, Some("v999"), PLAIN), "modern");
        assert_eq!(route(false, Some("2026-07-28"), INIT), "modern");
        // 7: neither.
        assert_eq!(route(false, None, PLAIN), "handshake");
        assert_eq!(route(false, Some("2025-11-25"), PLAIN), "handshake");
    }

    #[test]
    fn header_whitespace_is_not_the_value() {
        let h = headers(false, Some(" 2026-07-28\t"));
        assert_eq!(VersionHeader::read(&h), VersionHeader::Modern);
    }
}
