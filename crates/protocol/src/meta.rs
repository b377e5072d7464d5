//! The reserved `_meta` keys of 2026-07-28 requests, read and written without re-serialising.
//!
//! A modern request carries its protocol version, the client's capabilities and (optionally) its
//! identity and log level in `params._meta` under `io.modelcontextprotocol/*` keys. The gateway
//! reads them to classify and validate a request, strips them before a handshake-era upstream
//! sees the request (such a server would not expect them), and stamps them onto requests it sends
//! to modern upstreams. Every other `_meta` member, and every other byte, is left as it was.

use crate::object::{self, Edit};

pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The reserved prefix: keys under it belong to the protocol, not to the application.
const RESERVED: &str = "io.modelcontextprotocol/";

/// What a modern request says about itself, raw where it is JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta<'a> {
    pub version: Option<String>,
    pub client_capabilities: Option<&'a str>,
    pub client_info: Option<&'a str>,
    pub log_level: Option<String>,
}

impl<'a> RequestMeta<'a> {
    /// Reads the reserved keys of `params._meta` (all `None` when there is no `_meta`).
    pub fn read(params: Option<&'a str>) -> RequestMeta<'a> {
        let Some(meta) = params.and_then(|p| object::get(p, "_meta")) else {
            return RequestMeta::default();
        };
        let [version, caps, info, level] = object::get_all(
            meta,
            [
                PROTOCOL_VERSION,
                CLIENT_CAPABILITIES,
                CLIENT_INFO,
                LOG_LEVEL,
            ],
        );
        let text = |raw: Option<&str>| raw.and_then(object::string_value).map(|v| v.into_owned());
        RequestMeta {
            version: text(version),
            client_capabilities: caps.filter(|c| c.starts_with('{')),
            client_info: info.filter(|c| c.starts_with('{')),
            log_level: text(level),
        }
    }

    /// The required keys that are missing or of the wrong type, named as the spec names them.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.version.is_none() {
            m.push(PROTOCOL_VERSION);
        }
        if self.client_capabilities.is_none() {
            m.push(CLIENT_CAPABILITIES);
        }
        m
    }
}

/// The raw `_meta` protocol version of these params, if they name one: what marks a request as
/// 2026-07-28 (stateless) rather than part of a handshake session.
pub fn version(params: Option<&str>) -> Option<&str> {
    params
        .and_then(|p| object::get(p, "_meta"))
        .and_then(|m| object::get(m, PROTOCOL_VERSION))
}

/// `params` without the reserved `io.modelcontextprotocol/*` keys in `_meta` (and without
/// `_meta` when nothing else was in it), for a handshake-era upstream. `progressToken` and the
/// trace context keys are application keys and stay. `None` when there was nothing to strip.
pub fn strip_reserved(params: &str) -> Option<String> {
    without(params, |k| k.starts_with(RESERVED))
}

/// `params` without the `_meta` members whose keys `drop` picks (and without `_meta` when
/// nothing else was in it). `None` when there was nothing to drop.
pub fn without(params: &str, drop: impl Fn(&str) -> bool) -> Option<String> {
    let meta = object::get(params, "_meta")?;
    let mut dropped = Vec::new();
    let mut others = 0usize;
    object::fields(meta)?.into_iter().for_each(|f| {
        let key = f.key();
        if drop(&key) {
            dropped.push(key.into_owned());
        } else {
            others += 1;
        }
    });
    if dropped.is_empty() {
        return None;
    }
    if others == 0 {
        return object::edit(params, &[("_meta", Edit::Remove)]);
    }
    let edits: Vec<(&str, Edit<'_>)> = dropped.iter().map(|k| (k.as_str(), Edit::Remove)).collect();
    let meta2 = object::edit(meta, &edits)?;
    object::edit(params, &[("_meta", Edit::Set(&meta2))])
}

/// `params` (or `{}`) with the reserved keys a modern upstream requires set in `_meta`:
/// version and capabilities always, client info and log level when given.
pub fn stamp_modern(
    params: Option<&str>,
    version: &str,
    client_capabilities: &str,
    client_info: Option<&str>,
    log_level: Option<&str>,
) -> Option<String> {
    let params = params.unwrap_or("{}");
    let meta = object::get(params, "_meta").unwrap_or("{}");
    let version = object::json_string(version);
    let level = log_level.map(object::json_string);
    let mut edits = vec![
        (PROTOCOL_VERSION, Edit::Set(&version)),
        (CLIENT_CAPABILITIES, Edit::Set(client_capabilities)),
    ];
    if let Some(info) = client_info {
        edits.push((CLIENT_INFO, Edit::Set(info)));
    }
    if let Some(l) = &level {
        edits.push((LOG_LEVEL, Edit::Set(l)));
    }
    let meta2 = object::edit(meta, &edits)?;
    object::edit(params, &[("_meta", Edit::Set(&meta2))])
}

/// `params` (or `{}`) with the gateway's W3C trace context in `_meta` (`traceparent`, and
/// `tracestate` when there is one), replacing what the caller put there: how trace context
/// reaches an upstream without headers (stdio), per the MCP semantic conventions and the
/// 2026-07-28 reserved keys. Every other member and byte stays.
pub fn stamp_trace(
    params: Option<&str>,
    traceparent: &str,
    tracestate: Option<&str>,
) -> Option<String> {
    let params = params.unwrap_or("{}");
    let meta = object::get(params, "_meta").unwrap_or("{}");
    let tp = object::json_string(traceparent);
    let ts = tracestate.map(object::json_string);
    let mut edits = vec![("traceparent", Edit::Set(&tp))];
    if let Some(ts) = &ts {
        edits.push(("tracestate", Edit::Set(ts)));
    }
    let meta2 = object::edit(meta, &edits)?;
    object::edit(params, &[("_meta", Edit::Set(&meta2))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_is_stamped_into_meta_keeping_everything_else() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            stamp_trace(None, tp, None).as_deref(),
            Some(
                r#"{"_meta":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#
            )
        );
        let p = r#"{"name":"t","_meta":{"progressToken":7,"traceparent":"00-ab-cd-01"}}"#;
        assert_eq!(
            stamp_trace(Some(p), tp, Some("v=1")).as_deref(),
            Some(
                r#"{"name":"t","_meta":{"progressToken":7,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"v=1"}}"#
            )
        );
    }

    const P: &str = r#"{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"},"progressToken":7,"traceparent":"00-ab-cd-01"}}"#;

    #[test]
    fn reads_the_reserved_keys() {
        let m = RequestMeta::read(Some(P));
        assert_eq!(m.version.as_deref(), Some("2026-07-28"));
        assert_eq!(m.client_capabilities, Some(r#"{"elicitation":{}}"#));
        assert_eq!(m.client_info, Some(r#"{"name":"c","version":"1"}"#));
        assert!(m.missing().is_empty());
        let none = RequestMeta::read(Some(
            r#"{"_meta":{"io.modelcontextprotocol/clientCapabilities":[]}}"#,
        ));
        assert_eq!(none.missing(), vec![PROTOCOL_VERSION, CLIENT_CAPABILITIES]);
        assert_eq!(RequestMeta::read(None).missing().len(), 2);
    }

    #[test]
    fn drops_picked_meta_keys() {
        let tagged =
            r#"{"uri":"a://1","_meta":{"io.modelcontextprotocol/subscriptionId":4,"x":1}}"#;
        assert_eq!(
            without(tagged, |k| k == SUBSCRIPTION_ID).unwrap(),
            r#"{"uri":"a://1","_meta":{"x":1}}"#
        );
        let only = r#"{"uri":"a://1","_meta":{"io.modelcontextprotocol/subscriptionId":4}}"#;
        assert_eq!(
            without(only, |k| k == SUBSCRIPTION_ID).unwrap(),
            r#"{"uri":"a://1"}"#
        );
        assert_eq!(without(r#"{"uri":"a://1"}"#, |_| true), None);
    }

    #[test]
    fn strips_only_reserved_keys() {
        assert_eq!(
            strip_reserved(P).unwrap(),
            r#"{"name":"t","_meta":{"progressToken":7,"traceparent":"00-ab-cd-01"}}"#
        );
        let only =
            r#"{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#;
        assert_eq!(strip_reserved(only).unwrap(), r#"{"name":"t"}"#);
        assert_eq!(
            strip_reserved(r#"{"name":"t","_meta":{"progressToken":1}}"#),
            None
        );
        assert_eq!(strip_reserved(r#"{"name":"t"}"#), None);
    }

    #[test]
    fn stamps_what_modern_upstreams_require() {
        let out = stamp_modern(
            Some(r#"{"name":"t","_meta":{"progressToken":1}}"#),
            "2026-07-28",
            "{}",
            None,
            Some("info"),
        )
        .unwrap();
        let m = RequestMeta::read(Some(&out));
        assert_eq!(m.version.as_deref(), Some("2026-07-28"));
        assert_eq!(m.log_level.as_deref(), Some("info"));
        assert_eq!(
            object::get(object::get(&out, "_meta").unwrap(), "progressToken"),
            Some("1")
        );
        let bare = stamp_modern(
            None,
            "2026-07-28",
            r#"{"roots":{}}"#,
            Some(r#"{"name":"gw"}"#),
            None,
        )
        .unwrap();
        assert!(RequestMeta::read(Some(&bare)).missing().is_empty());
    }
}
