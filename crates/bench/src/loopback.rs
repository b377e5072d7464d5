//! Benchmark traffic stays on this machine: listen addresses and target URLs must be loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};

/// Where an HTTP target lives: the socket to connect to, the `Host` header and the request path.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    /// The `Authorization` header every request carries (`Bearer <credential>`), if any.
    pub authorization: Option<String>,
    /// The `Idempotency-Key` header every request carries, if any (the replay benchmark).
    pub idempotency_key: Option<String>,
}

impl HttpTarget {
    /// Parses `http://HOST:PORT/PATH`, accepting only loopback hosts.
    pub fn parse(url: &str) -> anyhow::Result<HttpTarget> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .with_context(|| format!("{url}: bad port"))?,
            ),
            _ => (authority, 80),
        };
        let ip: IpAddr = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .with_context(|| format!("{url}: host must be an IP address or localhost"))?,
        };
        let addr = SocketAddr::new(ip, port);
        require(&addr)?;
        Ok(HttpTarget {
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
            authorization: None,
            idempotency_key: None,
        })
    }
}

/// Refuses any address outside 127.0.0.0/8 and ::1.
pub fn require(addr: &SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address: benchmarks run on this machine only");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_urls() {
        let t = HttpTarget::parse("http://127.0.0.1:8080/mcp").unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path, "/mcp");
        assert!(HttpTarget::parse("http://localhost:9/").is_ok());
        assert!(HttpTarget::parse("http://[::1]:9/mcp").is_ok());
    }

    #[test]
    fn refuses_other_hosts() {
        assert!(HttpTarget::parse("http://10.0.0.1:80/mcp").is_err());
        assert!(HttpTarget::parse("http://example.com/mcp").is_err());
        assert!(HttpTarget::parse("https://127.0.0.1/mcp").is_err());
    }
}
