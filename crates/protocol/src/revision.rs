//! MCP protocol revisions and what each one allows.
//!
//! The revision is a property of one session (or one request), never of the process: a gateway
//! talks 2025-06-18 to one client, 2025-11-25 to another, and 2024-11-05 to an old upstream at
//! the same time. Every feature gate asks the revision of the peer it is about to send to.
//!
//! Two eras: the *handshake* revisions (up to 2025-11-25) negotiate once in `initialize`; the
//! *modern* ones (2026-07-28 on) carry version and capabilities in every request's `_meta`.
//! [`Revision::parse`] knows only the handshake revisions, because everything that calls it today
//! is handshake machinery; [`Revision::parse_any`] knows both.

/// A protocol revision this gateway knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Revision {
    V2024_11_05,
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
    /// The stateless revision: no `initialize`, no sessions, `_meta` on every request.
    V2026_07_28,
}

impl Revision {
    /// Every handshake-era revision, oldest first.
    pub const ALL: [Revision; 4] = [
        Revision::V2024_11_05,
        Revision::V2025_03_26,
        Revision::V2025_06_18,
        Revision::V2025_11_25,
    ];
    /// Every modern-era revision, oldest first.
    pub const MODERN: [Revision; 1] = [Revision::V2026_07_28];
    /// Revisions served to downstream clients, oldest first.
    pub const SERVED: [Revision; 2] = [Revision::V2025_06_18, Revision::V2025_11_25];
    /// The newest revision with the `initialize` handshake.
    pub const LATEST: Revision = Revision::V2025_11_25;

    /// A handshake-era revision by name.
    pub fn parse(s: &str) -> Option<Revision> {
        Revision::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Any known revision by name, of either era.
    pub fn parse_any(s: &str) -> Option<Revision> {
        Revision::parse(s).or_else(|| Revision::MODERN.into_iter().find(|r| r.as_str() == s))
    }

    /// Version, capabilities and client info travel in every request (no `initialize`).
    pub fn is_modern(self) -> bool {
        self >= Revision::V2026_07_28
    }

    /// The `initialize` handshake exists.
    pub fn has_initialize(self) -> bool {
        !self.is_modern()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Revision::V2024_11_05 => "2024-11-05",
            Revision::V2025_03_26 => "2025-03-26",
            Revision::V2025_06_18 => "2025-06-18",
            Revision::V2025_11_25 => "2025-11-25",
            Revision::V2026_07_28 => "2026-07-28",
        }
    }

    /// The revision a server answers to a client that asked for `requested`: the same one when
    /// served, else the newest served.
    pub fn negotiate_served(requested: &str) -> Revision {
        Revision::parse(requested)
            .filter(|r| Revision::SERVED.contains(r))
            .unwrap_or(Revision::LATEST)
    }

    /// Core tasks (`params.task`, `tasks/*`, `execution`) exist. In 2026-07-28 they moved to an
    /// extension with another shape.
    pub fn has_tasks(self) -> bool {
        self == Revision::V2025_11_25
    }

    /// URL-mode elicitation as a server-to-client request (2026-07-28 has it only as an input
    /// request of an `input_required` result).
    pub fn has_url_elicitation(self) -> bool {
        self == Revision::V2025_11_25
    }

    /// Tool use inside sampling (`sampling.tools`) exists.
    pub fn has_sampling_tools(self) -> bool {
        self >= Revision::V2025_11_25
    }

    /// SSE streams open with a priming event and carry event ids and `retry` (SEP-1699);
    /// 2026-07-28 removed resumability again.
    pub fn has_sse_priming(self) -> bool {
        self == Revision::V2025_11_25
    }

    /// The `MCP-Protocol-Version` header is sent on HTTP requests after initialization.
    pub fn has_version_header(self) -> bool {
        self >= Revision::V2025_06_18
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates() {
        assert_eq!(
            Revision::negotiate_served("2025-06-18"),
            Revision::V2025_06_18
        );
        assert_eq!(
            Revision::negotiate_served("2024-11-05"),
            Revision::V2025_11_25
        );
        assert_eq!(
            Revision::negotiate_served("1999-01-01"),
            Revision::V2025_11_25
        );
        assert!(Revision::V2025_11_25.has_tasks() && !Revision::V2025_06_18.has_tasks());
        assert_eq!(Revision::parse("2025-03-26"), Some(Revision::V2025_03_26));
    }

    #[test]
    fn the_modern_revision_is_its_own_era() {
        assert_eq!(
            Revision::parse("2026-07-28"),
            None,
            "handshake machinery must not accept it"
        );
        let m = Revision::parse_any("2026-07-28").unwrap();
        assert!(m.is_modern() && !m.has_initialize());
        assert!(!m.has_tasks() && !m.has_sse_priming() && !m.has_url_elicitation());
        assert!(m.has_version_header() && m.has_sampling_tools());
        assert_eq!(
            Revision::negotiate_served("2026-07-28"),
            Revision::V2025_11_25
        );
        assert!(Revision::ALL.iter().all(|r| r.has_initialize()));
    }
}
