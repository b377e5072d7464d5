//! The error catalogue: every kind of error the gateway itself produces, with the stable
//! `data.category` and `data.retryable` a client branches on.
//!
//! Every [`RpcError`](crate::RpcError) holds one [`ErrorKind`] from [`CATALOGUE`], and its
//! `data.category` and `data.retryable` are written from it, never from text: a category outside
//! [`ErrorCategory`] cannot be emitted. `docs/errors.md` has one catalogue row per kind, and a
//! test below checks the two agree in both directions. Errors an upstream returns are not the
//! gateway's: they are relayed as they came and have no kind.

use crate::ErrorCode;

/// What went wrong, in the few words a client branches on (`data.category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// No credential, or one that is not valid.
    Auth,
    /// The credential lacks a scope the request needs.
    Scope,
    /// The caller went over a rate limit.
    RateLimited,
    /// An idempotency key was reused with other arguments.
    IdempotencyConflict,
    /// The first call with this idempotency key is still running.
    IdempotencyInFlight,
    /// The upstream (or the gateway's way to it) is not serving right now.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The call was made, or begun, and failed on the way.
    InvocationFailed,
    /// The gateway has no room for the request right now.
    Overloaded,
    /// The request is wrong: malformed, unsupported, or missing something.
    InvalidRequest,
    /// What the request names does not exist (here, or any more).
    NotFound,
    /// A bug in the gateway.
    Internal,
}

impl ErrorCategory {
    /// Every category, in the order `docs/errors.md` lists them.
    pub const ALL: [ErrorCategory; 12] = [
        ErrorCategory::Auth,
        ErrorCategory::Scope,
        ErrorCategory::RateLimited,
        ErrorCategory::IdempotencyConflict,
        ErrorCategory::IdempotencyInFlight,
        ErrorCategory::UpstreamUnavailable,
        ErrorCategory::UpstreamTimeout,
        ErrorCategory::InvocationFailed,
        ErrorCategory::Overloaded,
        ErrorCategory::InvalidRequest,
        ErrorCategory::NotFound,
        ErrorCategory::Internal,
    ];

    /// The value of `data.category`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Auth => "auth",
            ErrorCategory::Scope => "scope",
            ErrorCategory::RateLimited => "rate_limited",
            ErrorCategory::IdempotencyConflict => "idempotency_conflict",
            ErrorCategory::IdempotencyInFlight => "idempotency_in_flight",
            ErrorCategory::UpstreamUnavailable => "upstream_unavailable",
            ErrorCategory::UpstreamTimeout => "upstream_timeout",
            ErrorCategory::InvocationFailed => "invocation_failed",
            ErrorCategory::Overloaded => "overloaded",
            ErrorCategory::InvalidRequest => "invalid_request",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::Internal => "internal",
        }
    }

    /// Whether the same request, unchanged, may succeed later: the default of a kind's
    /// `data.retryable` (a kind may say otherwise).
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCategory::RateLimited
                | ErrorCategory::IdempotencyInFlight
                | ErrorCategory::UpstreamUnavailable
                | ErrorCategory::UpstreamTimeout
                | ErrorCategory::Overloaded
        )
    }

    /// The category named `s`, if it is one.
    pub fn parse(s: &str) -> Option<ErrorCategory> {
        ErrorCategory::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One kind of error the gateway produces: one row of `docs/errors.md`'s catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind {
    /// Its name in the catalogue (not sent on the wire).
    pub name: &'static str,
    pub code: ErrorCode,
    /// The HTTP status of a JSON answer carrying it on HTTP (handshake sessions; where
    /// 2026-07-28 callers get another status, `docs/errors.md` says so).
    pub status: u16,
    pub category: ErrorCategory,
    pub retryable: bool,
}

impl ErrorKind {
    /// The kind [`RpcError::new`](crate::RpcError::new) gives an error with this code: the
    /// code's own catalogue entry, or [`ErrorKind::INTERNAL_ERROR`] for a code the catalogue
    /// does not know (a test keeps every code the gateway uses in it).
    pub fn of_code(code: ErrorCode) -> &'static ErrorKind {
        BY_CODE
            .iter()
            .find(|k| k.code == code)
            .copied()
            .unwrap_or(ErrorKind::INTERNAL_ERROR)
    }

    /// The kind of a transport refusal with this code and HTTP status: the entry with both,
    /// else the code's own.
    pub fn of_refusal(code: ErrorCode, status: u16) -> &'static ErrorKind {
        CATALOGUE
            .iter()
            .find(|k| k.code == code && k.status == status)
            .copied()
            .unwrap_or_else(|| ErrorKind::of_code(code))
    }
}

/// `retryable` of a kind: its category's default unless the kind says otherwise.
const fn retryable(category: ErrorCategory, over: &[bool]) -> bool {
    match over {
        [r] => *r,
        _ => category.retryable(),
    }
}

macro_rules! catalogue {
    (
        by_code: [$($by_code:ident),* $(,)?];
        $(
            $(#[doc = $doc:literal])*
            $konst:ident = $name:literal, $code:expr, $status:literal, $cat:ident $(, retryable: $r:literal)?;
        )*
    ) => {
        impl ErrorKind {
            $(
                $(#[doc = $doc])*
                pub const $konst: &'static ErrorKind = &ErrorKind {
                    name: $name,
                    code: ErrorCode($code),
                    status: $status,
                    category: ErrorCategory::$cat,
                    retryable: retryable(ErrorCategory::$cat, &[$($r)?]),
                };
            )*
        }

        /// Every kind of error the gateway produces.
        pub const CATALOGUE: &[&ErrorKind] = &[$(ErrorKind::$konst),*];

        /// The kind each code gets when nothing more specific is said.
        const BY_CODE: &[&ErrorKind] = &[$(ErrorKind::$by_code),*];
    };
}

catalogue! {
    by_code: [
        PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR,
        RESOURCE_NOT_FOUND, HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY,
        UNSUPPORTED_PROTOCOL_VERSION, UPSTREAM_UNAVAILABLE, UPSTREAM_TIMEOUT, UPSTREAM_PROTOCOL,
        UPSTREAM_CLOSED, SHUTTING_DOWN, OVERLOADED, CIRCUIT_OPEN, AUDIT_BACKLOG,
        CLIENT_LACKS_CAPABILITY, NO_CLIENT_FOR_REQUEST, CLIENT_TIMEOUT, STATE_EXPIRED,
        STATE_ELSEWHERE, TOO_MANY_ROUNDS, TOO_MANY_HELD, IDEMPOTENCY_CONFLICT,
        IDEMPOTENCY_IN_FLIGHT, IDEMPOTENCY_KEY_REQUIRED, UNAUTHENTICATED, INSUFFICIENT_SCOPE, RATE_LIMITED,
    ];

    // JSON-RPC and MCP codes, with their spec meaning.
    /// The body is not JSON (or not UTF-8).
    PARSE_ERROR = "parse_error", -32700, 400, InvalidRequest;
    /// Not a JSON-RPC message, a batch, or a request the transport cannot take.
    INVALID_REQUEST = "invalid_request", -32600, 400, InvalidRequest;
    /// A method the gateway (or the caller's era) does not serve.
    METHOD_NOT_FOUND = "method_not_found", -32601, 200, NotFound;
    /// Params of the wrong shape.
    INVALID_PARAMS = "invalid_params", -32602, 200, InvalidRequest;
    /// A failure inside the gateway.
    INTERNAL_ERROR = "internal_error", -32603, 200, Internal;
    /// No upstream serves the URI.
    RESOURCE_NOT_FOUND = "resource_not_found", -32002, 200, NotFound;
    /// 2026-07-28: a header that mirrors the body disagrees with it.
    HEADER_MISMATCH = "header_mismatch", -32020, 400, InvalidRequest;
    /// 2026-07-28: the call needs a client capability the request did not declare.
    MISSING_CLIENT_CAPABILITY = "missing_client_capability", -32021, 400, InvalidRequest;
    /// 2026-07-28: a protocol version this endpoint does not serve.
    UNSUPPORTED_PROTOCOL_VERSION = "unsupported_protocol_version", -32022, 400, InvalidRequest;

    // The gateway's own codes.
    UPSTREAM_UNAVAILABLE = "upstream_unavailable", -31001, 200, UpstreamUnavailable;
    UPSTREAM_TIMEOUT = "upstream_timeout", -31002, 200, UpstreamTimeout;
    UPSTREAM_PROTOCOL = "upstream_protocol_error", -31003, 200, InvocationFailed;
    UPSTREAM_CLOSED = "upstream_closed", -31004, 200, UpstreamUnavailable;
    SHUTTING_DOWN = "shutting_down", -31005, 200, Overloaded;
    OVERLOADED = "overloaded", -31006, 429, Overloaded;
    CIRCUIT_OPEN = "circuit_open", -31007, 503, UpstreamUnavailable;
    AUDIT_BACKLOG = "audit_backlog", -31008, 503, Overloaded;
    CLIENT_LACKS_CAPABILITY = "client_lacks_capability", -31010, 200, InvalidRequest;
    NO_CLIENT_FOR_REQUEST = "no_client_for_request", -31011, 200, InvocationFailed;
    CLIENT_TIMEOUT = "client_timeout", -31012, 200, InvocationFailed;
    STATE_EXPIRED = "state_expired", -31020, 200, NotFound;
    STATE_ELSEWHERE = "state_elsewhere", -31021, 200, NotFound;
    TOO_MANY_ROUNDS = "too_many_rounds", -31022, 200, InvocationFailed;
    TOO_MANY_HELD = "too_many_held", -31023, 200, Overloaded;
    IDEMPOTENCY_CONFLICT = "idempotency_conflict", -31030, 409, IdempotencyConflict;
    IDEMPOTENCY_IN_FLIGHT = "idempotency_in_flight", -31031, 409, IdempotencyInFlight;
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required", -31032, 400, InvalidRequest;
    UNAUTHENTICATED = "unauthenticated", -31040, 401, Auth;
    INSUFFICIENT_SCOPE = "insufficient_scope", -31041, 403, Scope;
    RATE_LIMITED = "rate_limited", -31042, 429, RateLimited;

    // More specific kinds of the same codes.
    /// `tools/call` of a name no tool of the caller's view has.
    UNKNOWN_TOOL = "unknown_tool", -32602, 200, NotFound;
    /// `prompts/get` (or a prompt completion) of a name no prompt has.
    UNKNOWN_PROMPT = "unknown_prompt", -32602, 200, NotFound;
    /// A task id this session did not create.
    UNKNOWN_TASK = "unknown_task", -32602, 200, NotFound;
    /// 2026-07-28 V1: the request's `_meta` lacks the version or the capabilities.
    MISSING_META = "missing_meta", -32602, 400, InvalidRequest;
    /// The `Host` or `Origin` header is not allowed (DNS-rebinding protection).
    HOST_NOT_ALLOWED = "host_not_allowed", -32600, 403, InvalidRequest;
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", -32600, 415, InvalidRequest;
    NOT_ACCEPTABLE = "not_acceptable", -32600, 406, InvalidRequest;
    BODY_TOO_LARGE = "body_too_large", -32600, 413, InvalidRequest;
    /// The body did not arrive in time; sent again, it may.
    BODY_TIMEOUT = "body_timeout", -32600, 408, InvalidRequest, retryable: true;
    /// `MCP-Session-Id` names no live session of this caller.
    UNKNOWN_SESSION = "unknown_session", -32600, 404, NotFound;
    /// `sessions.max_sessions` sessions exist.
    TOO_MANY_SESSIONS = "too_many_sessions", -32600, 503, Overloaded;
    /// A second standalone GET stream for one session.
    STREAM_CONFLICT = "stream_conflict", -32600, 409, InvalidRequest;
    /// An access token in the URL query (RFC 6750 §2.3).
    TOKEN_IN_QUERY = "token_in_query", -32600, 400, Auth;
    /// The request's handler failed (a bug).
    HANDLER_FAILED = "handler_failed", -32603, 500, Internal;
    /// `POST /api/plugins` while `plugins.runtime_install` is off.
    PLUGIN_INSTALL_OFF = "plugin_install_off", -32600, 403, InvalidRequest;
    /// `POST /api/plugins` by a caller without the `admin` scope.
    PLUGIN_INSTALL_FORBIDDEN = "plugin_install_forbidden", -32600, 403, Scope;
    /// `POST /api/plugins`: the plugin's name is taken or disabled.
    PLUGIN_NAME_TAKEN = "plugin_name_taken", -32600, 409, InvalidRequest;
    /// `POST /api/plugins`: the bundle does not verify.
    PLUGIN_REFUSED = "plugin_refused", -32600, 422, InvalidRequest;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_statuses_are_unique_where_they_must_be() {
        for (i, a) in CATALOGUE.iter().enumerate() {
            for b in &CATALOGUE[i + 1..] {
                assert_ne!(a.name, b.name, "two kinds named {}", a.name);
            }
        }
        // Each code's default kind is the first with that code and the only default.
        for k in BY_CODE {
            assert_eq!(ErrorKind::of_code(k.code), *k);
            assert_eq!(BY_CODE.iter().filter(|o| o.code == k.code).count(), 1);
        }
        // A refusal finds its kind by code and status.
        assert_eq!(
            ErrorKind::of_refusal(ErrorCode(-32600), 404),
            ErrorKind::UNKNOWN_SESSION
        );
        assert_eq!(
            ErrorKind::of_refusal(ErrorCode(-32600), 400),
            ErrorKind::INVALID_REQUEST
        );
        assert_eq!(ErrorKind::of_code(ErrorCode(-1)), ErrorKind::INTERNAL_ERROR);
    }

    #[test]
    fn every_code_the_gateway_names_has_a_default_kind() {
        for code in [
            ErrorCode::PARSE_ERROR,
            ErrorCode::INVALID_REQUEST,
            ErrorCode::METHOD_NOT_FOUND,
            ErrorCode::INVALID_PARAMS,
            ErrorCode::INTERNAL_ERROR,
            ErrorCode::RESOURCE_NOT_FOUND,
            ErrorCode::HEADER_MISMATCH,
            ErrorCode::MISSING_CLIENT_CAPABILITY,
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            ErrorCode::UPSTREAM_UNAVAILABLE,
            ErrorCode::UPSTREAM_TIMEOUT,
            ErrorCode::UPSTREAM_PROTOCOL,
            ErrorCode::UPSTREAM_CLOSED,
            ErrorCode::SHUTTING_DOWN,
            ErrorCode::OVERLOADED,
            ErrorCode::CIRCUIT_OPEN,
            ErrorCode::AUDIT_BACKLOG,
            ErrorCode::CLIENT_LACKS_CAPABILITY,
            ErrorCode::NO_CLIENT_FOR_REQUEST,
            ErrorCode::CLIENT_TIMEOUT,
            ErrorCode::STATE_EXPIRED,
            ErrorCode::STATE_ELSEWHERE,
            ErrorCode::TOO_MANY_ROUNDS,
            ErrorCode::TOO_MANY_HELD,
        ] {
            assert!(BY_CODE.iter().any(|k| k.code == code), "{code:?}");
        }
    }

    #[test]
    fn categories_round_trip() {
        for c in ErrorCategory::ALL {
            assert_eq!(ErrorCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCategory::parse("circuit_open"), None);
    }

    /// One row of the catalogue table in `docs/errors.md`.
    #[derive(Debug, PartialEq, Eq)]
    struct Row {
        name: String,
        code: i64,
        status: u16,
        category: String,
        retryable: bool,
    }

    /// The rows of the table under `## Error catalogue`: `| name | code | HTTP | category |
    /// retryable | when |`, each cell's first word (backticks dropped) read.
    fn doc_rows(doc: &str) -> Vec<Row> {
        let section = doc
            .split("\n## Error catalogue\n")
            .nth(1)
            .expect("docs/errors.md has a `## Error catalogue` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let table = section
            .split("| Kind | Code | HTTP | Category | Retryable | When |")
            .nth(1)
            .expect("the catalogue table's header");
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let first = |i: usize| {
                    cells[i]
                        .trim_matches('`')
                        .split(|c: char| c.is_whitespace() || c == '`')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                };
                Row {
                    name: first(1),
                    code: first(2)
                        .parse()
                        .unwrap_or_else(|_| panic!("code in {line}")),
                    status: first(3)
                        .parse()
                        .unwrap_or_else(|_| panic!("status in {line}")),
                    category: first(4),
                    retryable: match first(5).as_str() {
                        "yes" => true,
                        "no" => false,
                        other => panic!("retryable {other:?} in {line}"),
                    },
                }
            })
            .collect()
    }

    #[test]
    fn the_catalogue_and_docs_errors_md_agree() {
        let doc = include_str!("../../../docs/errors.md");
        let rows = doc_rows(doc);
        let code: Vec<Row> = CATALOGUE
            .iter()
            .map(|k| Row {
                name: k.name.to_owned(),
                code: k.code.0,
                status: k.status,
                category: k.category.as_str().to_owned(),
                retryable: k.retryable,
            })
            .collect();
        for row in &rows {
            assert!(
                code.contains(row),
                "docs/errors.md lists {row:?}, which the code's catalogue does not have (or has otherwise)"
            );
            assert!(
                ErrorCategory::parse(&row.category).is_some(),
                "{row:?}: not a category"
            );
        }
        for k in &code {
            assert!(
                rows.contains(k),
                "the code's catalogue has {k:?}, which docs/errors.md does not list (or lists otherwise)"
            );
        }
        assert_eq!(rows.len(), CATALOGUE.len(), "a row listed twice");
        // The categories' own list names exactly the twelve.
        let list = doc
            .split("\n## Error catalogue\n")
            .nth(1)
            .and_then(|s| {
                s.split("| Category | Retryable by default | Meaning |")
                    .nth(1)
            })
            .expect("the category table");
        let listed: Vec<(String, bool)> = list
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_owned(), cells[2] == "yes")
            })
            .collect();
        let expected: Vec<(String, bool)> = ErrorCategory::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), c.retryable()))
            .collect();
        assert_eq!(listed, expected);
    }
}
