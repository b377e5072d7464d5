//! MCP protocol revisions and what each one allows.
//!
//! The revision is a property of one session (or one request), never of the process: a gateway
//! talks 2025-06-18 to one client, 2025-11-25 to another, and 2024-11-05 to an old upstream at
//! the same time. Every feature gate asks the revision of the peer it is about to send to.

/// A protocol revision this gateway knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Revision {
    V2024_11_05,
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
}

impl Revision {
    /// Every revision, oldest first.
    pub const ALL: [Revision; 4] = [
        Revision::V2024_11_05,
        Revision::V2025_03_26,
        Revision::V2025_06_18,
        Revision::V2025_11_25,
    ];
    /// Revisions served to downstream clients, oldest first.
    pub const SERVED: [Revision; 2] = [Revision::V2025_06_18, Revision::V2025_11_25];
    /// The newest revision with the `initialize` handshake.
    pub const LATEST: Revision = Revision::V2025_11_25;

    pub fn parse(s: &str) -> Option<Revision> {
        Revision::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Revision::V2024_11_05 => "2024-11-05",
            Revision::V2025_03_26 => "2025-03-26",
            Revision::V2025_06_18 => "2025-06-18",
            Revision::V2025_11_25 => "2025-11-25",
        }
    }

    /// The revision a server answers to a client that asked for `requested`: the same one when
    /// served, else the newest served.
    pub fn negotiate_served(requested: &str) -> Revision {
        Revision::parse(requested)
            .filter(|r| Revision::SERVED.contains(r))
            .unwrap_or(Revision::LATEST)
    }

    /// Tasks (`params.task`, `tasks/*`, `execution`) exist.
    pub fn has_tasks(self) -> bool {
        self >= Revision::V2025_11_25
    }

    /// URL-mode elicitation exists.
    pub fn has_url_elicitation(self) -> bool {
        self >= Revision::V2025_11_25
    }

    /// Tool use inside sampling (`sampling.tools`) exists.
    pub fn has_sampling_tools(self) -> bool {
        self >= Revision::V2025_11_25
    }

    /// SSE streams open with a priming event and carry event ids and `retry` (SEP-1699).
    pub fn has_sse_priming(self) -> bool {
        self >= Revision::V2025_11_25
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
}
