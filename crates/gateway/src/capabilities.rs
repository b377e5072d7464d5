//! What the gateway says it is and can do, built in one place.
//!
//! The same capabilities object answers `initialize`, `server/discover` and `/api/conformance`,
//! derived from the revisions the gateway serves, so the three can never disagree.

use std::sync::OnceLock;

use switchboard_protocol::Revision;

/// Revisions served to clients, newest first: the modern ones per request, the handshake ones
/// through `initialize`.
pub fn served() -> impl Iterator<Item = Revision> {
    Revision::MODERN
        .into_iter()
        .rev()
        .chain(Revision::SERVED.into_iter().rev())
}

/// The served revisions as a JSON array, newest first (what `server/discover` and `-32022` say).
pub fn supported_versions() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let names: Vec<String> = served().map(|r| format!("\"{r}\"")).collect();
        format!("[{}]", names.join(","))
    })
}

/// The server capabilities a client of `revision` is told about (raw JSON).
pub fn server(revision: Revision) -> &'static str {
    const BASE: &str = r#""tools":{"listChanged":true},"prompts":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},"logging":{},"completions":{}"#;
    // Core tasks exist in 2025-11-25 only; older clients are not told, and 2026-07-28 moved
    // them to an extension this gateway does not offer yet.
    const TASKS: &str = r#","tasks":{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}}"#;
    static WITH_TASKS: OnceLock<String> = OnceLock::new();
    static WITHOUT: OnceLock<String> = OnceLock::new();
    if revision.has_tasks() {
        WITH_TASKS.get_or_init(|| format!("{{{BASE}{TASKS}}}"))
    } else {
        WITHOUT.get_or_init(|| format!("{{{BASE}}}"))
    }
}

/// The gateway's identity as `serverInfo` (raw JSON).
pub fn server_info() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        format!(
            "{{\"name\":\"switchboard\",\"title\":\"switchboard MCP gateway\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// The `/api/conformance` document: served revisions and transports, both directions, and the
/// capabilities.
pub fn conformance_document() -> String {
    let quoted = |rs: &mut dyn Iterator<Item = Revision>| {
        rs.map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(",")
    };
    let mut oldest_first: Vec<Revision> = served().collect();
    oldest_first.reverse();
    let upstream: Vec<Revision> = Revision::ALL.into_iter().chain(Revision::MODERN).collect();
    format!(
        "{{\"server\":{{\"name\":\"switchboard\",\"version\":\"{}\"}},\"revisions\":[{}],\"transports\":[\"streamable-http\",\"stdio\"],\"upstream_revisions\":[{}],\"upstream_transports\":[\"stdio\",\"streamable-http\",\"sse\"],\"capabilities\":{},\"endpoints\":{{\"mcp\":\"/mcp\",\"health\":\"/healthz\",\"ready\":\"/readyz\",\"status\":\"/status\"}}}}",
        env!("CARGO_PKG_VERSION"),
        quoted(&mut oldest_first.into_iter()),
        quoted(&mut upstream.into_iter()),
        server(Revision::V2025_06_18),
    )
}

impl crate::Gateway {
    /// `/api/conformance`: [`conformance_document`] with the published products (id, name,
    /// description and the endpoint each is served at).
    pub fn conformance(&self) -> String {
        use serde_json::{Value, json};
        let Ok(mut doc) = serde_json::from_str::<Value>(&conformance_document()) else {
            return conformance_document();
        };
        let http = &self.config().http;
        if http.websocket.enabled {
            if let Some(t) = doc["transports"].as_array_mut() {
                t.push(json!("websocket"));
            }
            doc["endpoints"]["websocket"] = json!("/mcp/ws");
        }
        if http.legacy_rest.enabled {
            doc["endpoints"]["legacy_rest"] = json!("/v1/mcp");
        }
        doc["products"] = self
            .products()
            .iter()
            .map(|p| &p.cfg)
            .filter(|p| p.status == switchboard_config::ProductStatus::Published)
            .map(|p| {
                json!({
                    "id": p.id,
                    "name": p.name,
                    "description": p.description,
                    "endpoint": format!("/mcp/v/{}", p.id),
                })
            })
            .collect();
        doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_builder_for_every_era() {
        assert_eq!(
            supported_versions(),
            r#"["2026-07-28","2025-11-25","2025-06-18"]"#
        );
        assert!(server(Revision::V2025_11_25).contains("\"tasks\""));
        assert!(!server(Revision::V2025_06_18).contains("\"tasks\""));
        assert!(!server(Revision::V2026_07_28).contains("\"tasks\""));
        let doc: serde_json::Value = serde_json::from_str(&conformance_document()).unwrap();
        assert_eq!(
            doc["revisions"],
            serde_json::json!(["2025-06-18", "2025-11-25", "2026-07-28"])
        );
        assert_eq!(doc["capabilities"]["resources"]["subscribe"], true);
    }
}
