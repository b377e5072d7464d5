//! The rules a single config value must satisfy, as pure checks on already-expanded text.
//!
//! Each check returns the sentence to show the user; `resolve` attaches the file and the
//! location of the scalar it came from. Checks that span several values (unique prefixes, a
//! name in both the file and `SWITCHBOARD_UPSTREAMS`) live in `resolve` and `federation`,
//! where the locations of both sides are known.

use crate::model::MAX_REPLICA_ID_LEN;

/// Upstream names and product ids: `[A-Za-z0-9][A-Za-z0-9_-]{0,63}`. They appear in tool
/// names, URLs (`/mcp/v/<id>`) and env variable names, so the alphabet is deliberately small.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} `{}`: use 1 to 64 letters, digits, `_` or `-`, starting with a letter or digit",
            name.escape_debug()
        ))
    }
}

/// 1–4 characters, each `_`, `-` or `.`: never a character a prefix or tool name starts with.
pub(crate) fn check_namespace_separator(separator: &str) -> Result<(), String> {
    let count = separator.chars().count();
    if (1..=4).contains(&count) && separator.chars().all(|c| matches!(c, '_' | '-' | '.')) {
        Ok(())
    } else {
        Err(format!(
            "invalid namespace_separator `{}`: use 1 to 4 characters, each `_`, `-` or `.`",
            separator.escape_debug()
        ))
    }
}

/// `[A-Za-z0-9_.-]*`; empty mounts the upstream without a namespace.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid prefix `{}`: use letters, digits, `_`, `.` or `-` (or \"\" for no namespace)",
            prefix.escape_debug()
        ))
    }
}

/// An absolute `http://` or `https://` URL with a host. A hand check, not a full RFC 3986
/// parser: it catches what people actually get wrong (missing scheme, typos, stray spaces,
/// an unexpanded-looking value) and leaves the rest to the HTTP client.
pub(crate) fn check_http_url(url: &str) -> Result<(), String> {
    let invalid = |why: String| Err(format!("invalid URL `{}`: {why}", url.escape_debug()));
    let scheme_len = if starts_with_ignore_case(url, "https://") {
        8
    } else if starts_with_ignore_case(url, "http://") {
        7
    } else {
        return invalid("expected an absolute URL starting with `http://` or `https://`".into());
    };
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return invalid(format!("it contains the character {c:?}"));
    }
    let rest = url.get(scheme_len..).unwrap_or_default();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Userinfo (`user:pass@`) is legal but rare; the host is what follows the last `@`.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port, host_ok) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return invalid("the `[` of an IPv6 host is never closed".into());
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return invalid("unexpected text after the `]` of the host".into()),
            },
        };
        let ok = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '%'));
        (host, port, ok)
    } else {
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        };
        let ok = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '%'));
        (host, port, ok)
    };
    if host.is_empty() {
        return invalid("it has no host".into());
    }
    if !host_ok {
        return invalid("the host contains characters a host name cannot have".into());
    }
    if let Some(port) = port
        && (!port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err())
    {
        return invalid("the port must be a number from 0 to 65535".into());
    }
    Ok(())
}

/// `http.public_url`: an http(s) URL with no query or fragment (paths are appended to it).
pub(crate) fn check_public_url(url: &str) -> Result<(), String> {
    check_http_url(url)?;
    if url.contains(['?', '#']) {
        return Err(format!(
            "`public_url` must not have a query or fragment: `{}`",
            url.escape_debug()
        ));
    }
    Ok(())
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// An HTTP field name: one or more `tchar`s (RFC 9110 §5.6.2).
pub(crate) fn check_header_name(name: &str) -> Result<(), String> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.is_empty() && name.chars().all(is_tchar) {
        Ok(())
    } else {
        Err(format!(
            "invalid header name `{}`: use letters, digits and !#$%&'*+-.^_`|~",
            name.escape_debug()
        ))
    }
}

/// An HTTP field value: no control characters other than tab. Values often come from env
/// variables, and a stray newline there would otherwise split one header into two.
pub(crate) fn check_header_value(name: &str, value: &str) -> Result<(), String> {
    match value.chars().find(|&c| c.is_control() && c != '\t') {
        Some(c) => Err(format!(
            "the value of header `{name}` contains the control character {c:?}"
        )),
        None => Ok(()),
    }
}

/// Text handed to a child process (command, argument, env) cannot hold a NUL byte.
pub(crate) fn check_no_nul(what: &str, text: &str) -> Result<(), String> {
    if text.contains('\0') {
        Err(format!("{what} contains a NUL character"))
    } else {
        Ok(())
    }
}

/// An environment variable name for a child: non-empty, no `=` and no NUL.
pub(crate) fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        Err(format!(
            "invalid environment variable name `{}`: it must be non-empty and contain no `=`",
            name.escape_debug()
        ))
    } else {
        Ok(())
    }
}

/// MCP roots are `file://` URIs (MCP 2025-06-18, "Roots").
pub(crate) fn check_root_uri(uri: &str) -> Result<(), String> {
    if starts_with_ignore_case(uri, "file://") && !uri.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(format!(
            "invalid root uri `{}`: MCP roots are `file://` URIs",
            uri.escape_debug()
        ))
    }
}

/// A non-empty value with no control characters (allowed hosts and origins, globs).
pub(crate) fn check_plain(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() {
        Err(format!("{what} must not be empty"))
    } else if text.chars().any(|c| c.is_control() || c == ' ') {
        Err(format!(
            "{what} `{}` must not contain spaces or control characters",
            text.escape_debug()
        ))
    } else {
        Ok(())
    }
}

/// What a `modern.state_keys` entry starts with, before the base64 of the key.
pub(crate) const STATE_KEY_PREFIX: &str = "base64:";

/// How to make a key, repeated in every state-key error.
const STATE_KEY_FORM: &str = "a state key is `base64:` followed by the standard, padded base64 of 32 random bytes (`openssl rand -base64 32`)";

/// A state key: `base64:` + the standard, padded base64 of exactly 32 bytes. The message never
/// quotes the value: it is a secret, and errors end up in logs.
pub(crate) fn parse_state_key(what: &str, text: &str) -> Result<[u8; 32], String> {
    let Some(encoded) = text.strip_prefix(STATE_KEY_PREFIX) else {
        let why = if text.is_empty() {
            "is empty"
        } else {
            "does not start with `base64:`"
        };
        return Err(format!("{what} {why}; {STATE_KEY_FORM}"));
    };
    let Some(bytes) = switchboard_protocol::base64::decode(encoded) else {
        let why = if encoded.contains(char::is_whitespace) {
            "is not valid base64 (it contains whitespace)"
        } else {
            "is not valid base64"
        };
        return Err(format!("{what} {why}; {STATE_KEY_FORM}"));
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "{what} decodes to {} bytes, not 32; {STATE_KEY_FORM}",
            bytes.len()
        )
    })
}

/// A replica id is sealed into states and compared as text: 1 to 64 visible ASCII characters,
/// so it prints the same in logs, errors and `data.replica`.
pub(crate) fn check_replica_id(id: &str) -> Result<(), String> {
    let visible = id.bytes().all(|b| b.is_ascii_graphic());
    if visible && (1..=MAX_REPLICA_ID_LEN).contains(&id.len()) {
        Ok(())
    } else {
        Err(format!(
            "invalid replica_id `{}`: use 1 to {MAX_REPLICA_ID_LEN} visible ASCII characters (no spaces)",
            id.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "A9", "9a", "my-api", "my_api", &"x".repeat(64)] {
            assert_eq!(check_name("upstream name", good), Ok(()), "{good}");
        }
        for bad in ["", "-a", "_a", "a.b", "a b", "é", &"x".repeat(65)] {
            assert!(check_name("upstream name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn separators() {
        for good in ["_", "__", ".", "-", "-.-_", "...."] {
            assert_eq!(check_namespace_separator(good), Ok(()), "{good}");
        }
        for bad in ["", "_____", "/", "a", "_ ", ":"] {
            assert!(check_namespace_separator(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        for good in ["", "a", "gh.v2", "a-b_c"] {
            assert_eq!(check_prefix(good), Ok(()), "{good}");
        }
        for bad in ["a b", "a/b", "a:b", "é"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        for good in [
            "http://localhost",
            "https://mcp.example.com/mcp",
            "HTTPS://Example.com:8443/a?b=c#d",
            "http://127.0.0.1:3000/sse",
            "http://[::1]:8080/mcp",
            "http://user:pass@host/x",
        ] {
            assert_eq!(check_http_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "http://",
            "http:///path",
            "http://host:port/",
            "http://host:/",
            "http://host:99999/",
            "http://ho st/",
            "http://host/a b",
            "http://[::1/",
            "http://a\"b/",
        ] {
            assert!(check_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(check_header_name("Authorization"), Ok(()));
        assert_eq!(check_header_name("X-Api_Key.v2"), Ok(()));
        assert!(check_header_name("").is_err());
        assert!(check_header_name("Bad Header").is_err());
        assert!(check_header_name("Bad:Header").is_err());
        assert_eq!(check_header_value("A", "Bearer x\ty"), Ok(()));
        assert!(check_header_value("A", "x\r\nEvil: y").is_err());
    }

    #[test]
    fn root_uris() {
        assert_eq!(check_root_uri("file:///work"), Ok(()));
        assert!(check_root_uri("/work").is_err());
        assert!(check_root_uri("https://x").is_err());
    }

    #[test]
    fn state_keys() {
        let key = |bytes: &[u8]| format!("base64:{}", switchboard_protocol::base64::encode(bytes));
        assert_eq!(parse_state_key("k", &key(&[7; 32])), Ok([7; 32]));
        let cases = [
            (String::new(), "k is empty"),
            ("c2VjcmV0".to_owned(), "does not start with `base64:`"),
            ("BASE64:AAAA".to_owned(), "does not start with `base64:`"),
            ("base64:not base64".to_owned(), "(it contains whitespace)"),
            ("base64:@@@@".to_owned(), "is not valid base64;"),
            (
                key(&[1; 32]).trim_end_matches('=').to_owned(),
                "is not valid base64;",
            ),
            (key(&[1; 16]), "decodes to 16 bytes, not 32"),
            (key(&[1; 33]), "decodes to 33 bytes, not 32"),
            ("base64:".to_owned(), "decodes to 0 bytes"),
        ];
        for (text, why) in cases {
            match parse_state_key("k", &text) {
                Ok(_) => panic!("{text:?} was accepted"),
                Err(message) => {
                    assert!(message.contains(why), "{text:?}: {message}");
                    assert!(message.contains("openssl rand -base64 32"), "{message}");
                }
            }
        }
    }

    #[test]
    fn replica_ids() {
        for good in ["a", "eu-west-1/pod-7", "0123456789abcdef", &"x".repeat(64)] {
            assert_eq!(check_replica_id(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "tab\t", "é", "nul\0", &"x".repeat(65)] {
            assert!(check_replica_id(bad).is_err(), "{bad}");
        }
    }
}
