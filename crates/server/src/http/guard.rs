//! DNS-rebinding protection: which `Host` and `Origin` values a request may carry.
//!
//! A browser page on a hostile site can reach a gateway on localhost; the `Host` it sends names
//! the hostile site and its `Origin` names the page. Both are checked on every request: localhost
//! forms (`localhost`, `127.0.0.1`, `[::1]`, any port) are always accepted, anything else only when
//! configured in `http.allowed_hosts` / `http.allowed_origins`. A request without `Origin` (not a
//! browser) is accepted.

use switchboard_config::HttpConfig;

#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Allowlist {
    pub fn new(cfg: &HttpConfig) -> Allowlist {
        Allowlist {
            hosts: cfg
                .allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            origins: cfg
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a `Host` header value is acceptable.
    pub fn host_ok(&self, host: &str) -> bool {
        // Asked of every request: compared without folding a copy to lowercase.
        let host = host.trim();
        let bare = strip_port(host);
        is_loopback_name(bare)
            || self
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(bare))
    }

    /// Whether an `Origin` header value is acceptable.
    pub fn origin_ok(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false;
        };
        if !matches!(scheme, "http" | "https") || rest.contains('/') {
            return false;
        }
        is_loopback_name(strip_port(rest))
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return match rest.find(']') {
            Some(i) => &host[..i + 2],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// `h` in any letter case.
fn is_loopback_name(h: &str) -> bool {
    const SUFFIX: &str = ".localhost";
    h.eq_ignore_ascii_case("localhost")
        || h == "[::1]"
        || h.len() > SUFFIX.len()
            && h.is_char_boundary(h.len() - SUFFIX.len())
            && h[h.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX)
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_forms_are_always_allowed() {
        let a = Allowlist::default();
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:9",
            "[::1]",
        ] {
            assert!(a.host_ok(h), "{h}");
        }
        for h in [
            "evil.example.com",
            "evil.example.com:80",
            "127.0.0.2.evil.com",
            "",
        ] {
            assert!(!a.host_ok(h), "{h}");
        }
        for h in ["LOCALHOST:8080", "App.LocalHost", "[::1]:9"] {
            assert!(a.host_ok(h), "{h}: letter case does not matter");
        }
        assert!(!a.host_ok("evil.example.com.localhos"));
        assert!(!a.host_ok(".localhost"), "the bare suffix names no host");
        assert!(a.origin_ok("http://localhost:3000"));
        assert!(a.origin_ok("https://127.0.0.1"));
        assert!(!a.origin_ok("http://evil.example.com"));
        assert!(!a.origin_ok("null"));
    }

    #[test]
    fn configured_names_are_allowed() {
        let a = Allowlist::new(&HttpConfig {
            allowed_hosts: vec!["gw.example.com".into()],
            allowed_origins: vec!["https://app.example.com".into()],
            ..HttpConfig::default()
        });
        assert!(a.host_ok("gw.example.com:443"));
        assert!(a.host_ok("GW.Example.com"));
        assert!(a.origin_ok("https://app.example.com/"));
        assert!(!a.origin_ok("https://other.example.com"));
    }
}
