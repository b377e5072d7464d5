//! The closed vocabularies label values come from.
//!
//! A label value is either one of the fixed words here or a name from the config (an upstream)
//! or the catalog (a tool an upstream listed). Nothing a client sends becomes a label value:
//! a method outside [`Method::ALL`] is `other`, a tool name no view resolves is [`UNKNOWN`].
//! That is what keeps every family's cardinality bounded (`docs/metrics.md` gives each bound).

/// The label value for a tool (and its upstream) that no view resolved.
pub const UNKNOWN: &str = "unknown";

/// The MCP methods counted under their own name; everything else is `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method(usize);

impl Method {
    /// Every method label value, `other` last.
    pub const ALL: [&'static str; 20] = [
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "completion/complete",
        "logging/setLevel",
        "tasks/get",
        "tasks/list",
        "tasks/cancel",
        "tasks/result",
        "server/discover",
        "subscriptions/listen",
        "other",
    ];

    /// The method a request names, or `other`. A `match` on the text: no hashing, no allocation.
    pub fn of(method: &str) -> Method {
        Method(match method {
            "initialize" => 0,
            "ping" => 1,
            "tools/list" => 2,
            "tools/call" => 3,
            "prompts/list" => 4,
            "prompts/get" => 5,
            "resources/list" => 6,
            "resources/templates/list" => 7,
            "resources/read" => 8,
            "resources/subscribe" => 9,
            "resources/unsubscribe" => 10,
            "completion/complete" => 11,
            "logging/setLevel" => 12,
            "tasks/get" => 13,
            "tasks/list" => 14,
            "tasks/cancel" => 15,
            "tasks/result" => 16,
            "server/discover" => 17,
            "subscriptions/listen" => 18,
            _ => 19,
        })
    }

    pub fn index(self) -> usize {
        self.0
    }

    pub fn as_str(self) -> &'static str {
        Method::ALL[self.0]
    }
}

/// How a request or a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result.
    Ok,
    /// A JSON-RPC error (the gateway's or the upstream's).
    Error,
    /// A `tools/call` result with `isError: true`: the tool ran and failed.
    ToolError,
    /// The client cancelled (or went away) before the answer.
    Cancelled,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::ToolError,
        Outcome::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::ToolError => "tool_error",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where an upstream stands (issue 11's lifecycle): `switchboard_upstream_state` is 1 for the
/// current one and 0 for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started (a lazy upstream before its first use, or stopped when idle).
    Cold,
    Starting,
    Ready,
    /// Serving, but failing health checks.
    Degraded,
    /// Down: exited, refused to start, or stopped answering; restarts with backoff.
    Failed,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Cold,
        State::Starting,
        State::Ready,
        State::Degraded,
        State::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Cold => "cold",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Degraded => "degraded",
            State::Failed => "failed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// How one health check (a supervisor's keep-alive `ping`) went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    Ok,
    /// No answer within the check's timeout.
    Timeout,
    /// An error answer, or the connection failed.
    Error,
}

impl HealthCheck {
    pub const ALL: [HealthCheck; 3] = [HealthCheck::Ok, HealthCheck::Timeout, HealthCheck::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheck::Ok => "ok",
            HealthCheck::Timeout => "timeout",
            HealthCheck::Error => "error",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A circuit breaker's position, as `switchboard_circuit_breaker_state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// Which era a downstream session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// Opened by `initialize` (2024-11-05 … 2025-11-25), kept in the session store.
    Handshake,
    /// A 2026-07-28 caller: a one-request session, counted while its request runs.
    Modern,
}

impl Era {
    pub const ALL: [Era; 2] = [Era::Handshake, Era::Modern];

    pub fn as_str(self) -> &'static str {
        match self {
            Era::Handshake => "handshake",
            Era::Modern => "modern",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a config reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Ok,
    Error,
}

impl Reload {
    pub const ALL: [Reload; 2] = [Reload::Ok, Reload::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Reload::Ok => "ok",
            Reload::Error => "error",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_method_maps_to_itself() {
        for (i, m) in Method::ALL.iter().enumerate() {
            assert_eq!(Method::of(m).index(), i, "{m}");
            assert_eq!(Method::of(m).as_str(), *m);
        }
    }

    #[test]
    fn unlisted_methods_are_other() {
        for m in [
            "",
            "tools/cal",
            "TOOLS/CALL",
            "evil\"}\n",
            "x/y",
            "notifications/cancelled",
        ] {
            assert_eq!(Method::of(m).as_str(), "other", "{m:?}");
        }
    }

    #[test]
    fn indexes_follow_all() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        for (i, s) in State::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        for (i, h) in HealthCheck::ALL.iter().enumerate() {
            assert_eq!(h.index(), i);
        }
        for (i, e) in Era::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
        for (i, r) in Reload::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
