//! The address the gateway listens on: its syntax, its overrides and whether it is loopback.
//!
//! Precedence is `--listen` over `SWITCHBOARD_LISTEN` over the file's `listen:`. Whether the
//! address is loopback decides what is safe by default (anonymous access is only allowed on
//! loopback), so that answer lives next to the value rather than in the server.

use std::net::{IpAddr, SocketAddr};

use crate::model::Config;

/// The environment variable that overrides `listen:`.
pub const LISTEN_ENV: &str = "SWITCHBOARD_LISTEN";

impl Config {
    /// Applies `--listen` (highest) then `SWITCHBOARD_LISTEN` over the file's value.
    ///
    /// An empty `SWITCHBOARD_LISTEN` counts as unset; a flag is applied as given.
    pub fn apply_listen_override(
        &mut self,
        flag: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) {
        if let Some(flag) = flag {
            self.listen = flag.to_owned();
        } else if let Some(value) = env(LISTEN_ENV).filter(|v| !v.is_empty()) {
            self.listen = value;
        }
    }

    /// True when `listen` is a loopback address: `127.0.0.0/8`, `::1` (also IPv4-mapped), or
    /// `localhost`, with or without a port.
    pub fn listen_is_loopback(&self) -> bool {
        is_loopback(&self.listen)
    }

    /// Checks `listen` after overrides (the file's own value was checked when loading):
    /// `HOST:PORT` with a name, an IPv4 address or a bracketed IPv6 address.
    pub fn check_listen(&self) -> Result<(), String> {
        check_listen(&self.listen)
    }
}

fn is_loopback(listen: &str) -> bool {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return addr.ip().to_canonical().is_loopback();
    }
    let host = match split_host_port(listen) {
        Some((host, _)) => host,
        None => listen.trim_start_matches('[').trim_end_matches(']'),
    };
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Splits `host:port` or `[v6]:port`; `None` when there is no port.
fn split_host_port(listen: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(bracketed) = listen.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = listen.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// `host:port`, where host is a name, an IPv4 address or a bracketed IPv6 address.
pub(crate) fn check_listen(listen: &str) -> Result<(), String> {
    let host_ok = split_host_port(listen).is_some_and(|(host, _)| {
        host.parse::<IpAddr>().is_ok()
            || (!host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    });
    if host_ok {
        Ok(())
    } else {
        Err(format!(
            "invalid listen address `{}`: expected HOST:PORT, e.g. `127.0.0.1:8080` or `[::1]:8080`",
            listen.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_syntax() {
        for good in [
            "127.0.0.1:8080",
            "0.0.0.0:80",
            "[::1]:8080",
            "[::]:0",
            "localhost:3000",
            "gw.internal:443",
        ] {
            assert_eq!(check_listen(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "8080",
            ":8080",
            "127.0.0.1",
            "::1:8080",
            "host:http",
            "host:70000",
            "a b:1",
            "[::1]",
        ] {
            assert!(check_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_forms() {
        for yes in [
            "127.0.0.1:8080",
            "127.1.2.3:1",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
            "localhost:8080",
            "LOCALHOST:1",
            "localhost",
            "::1",
            "127.0.0.1",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "0.0.0.0:8080",
            "[::]:8080",
            "10.0.0.1:80",
            "example.com:80",
            "localhost.example.com:80",
            "",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
