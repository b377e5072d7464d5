//! RFC 5424 log levels as MCP names them, ordered from most to least verbose.
//!
//! A shared upstream runs at the most verbose level any of its clients asked for; each client then
//! receives only the messages its own level admits.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "debug" => Level::Debug,
            "info" => Level::Info,
            "notice" => Level::Notice,
            "warning" => Level::Warning,
            "error" => Level::Error,
            "critical" => Level::Critical,
            "alert" => Level::Alert,
            "emergency" => Level::Emergency,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
            Level::Alert => "alert",
            Level::Emergency => "emergency",
        }
    }

    /// Whether a client at level `self` receives a message at `msg`.
    pub fn admits(self, msg: Level) -> bool {
        msg >= self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_severity() {
        assert!(Level::Debug < Level::Emergency);
        assert!(Level::Warning.admits(Level::Error));
        assert!(!Level::Warning.admits(Level::Info));
        assert_eq!(Level::parse("notice").map(Level::as_str), Some("notice"));
        assert_eq!(Level::parse("verbose"), None);
    }
}
