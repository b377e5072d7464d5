//! Roles (`auth.roles`) through the real binary: the plain list form (`reader: [scope, ...]`)
//! and the map form with `allow`/`deny` globs over namespaced names and a `rate` of its own.
//! A narrowed principal lists exactly what it may call; calling (or reading) what it does not
//! see answers exactly as an unknown name does and never reaches the upstream; a role's rate
//! replaces `limits.rate` for its holders, at and past the boundary.

mod support;

use serde_json::Value;
use support::{Config, Gateway, Session, Upstream, create_key, tool_calls_on_wire};

const BASE: &str = "mcp.tools.read";

/// A key holding `roles` (and only `mcp.tools.read` of its own): its secret and config entry.
fn key_with_roles(name: &str, roles: &str) -> (String, String) {
    let (key, entry) = create_key(name, BASE);
    let entry = entry
        .strip_suffix('}')
        .map(|e| format!("{}, roles: [{roles}] }}", e.trim_end()))
        .expect("a flow-mapping entry");
    (key, entry)
}

async fn session<'a>(gw: &'a Gateway, key: &str) -> Session<'a> {
    let bearer = format!("Bearer {key}");
    gw.try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text))
}

async fn names(s: &Session<'_>, method: &str, field: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor
            .as_ref()
            .map(|c| format!(r#"{{"cursor":{}}}"#, support::q(c)));
        let r = s.request(method, params.as_deref()).await;
        let result = r.result();
        for item in result[field]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.text))
        {
            out.push(item[key].as_str().unwrap().to_owned());
        }
        match result["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The whole answer to a request naming `name`, with the JSON-RPC id, the request id and the
/// name itself taken out: what must not differ between a hidden name and an unknown one.
fn shape(status: u16, text: &str, name: &str) -> (u16, String) {
    let mut v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    v["id"] = Value::Null;
    if let Some(data) = v.get_mut("error").and_then(|e| e.get_mut("data")) {
        data["request_id"] = Value::Null;
    }
    (status, v.to_string().replace(name, "<name>"))
}

async fn call_shape(s: &Session<'_>, name: &str) -> (u16, String) {
    let r = s.call_tool(name, "{}").await;
    shape(r.status, &r.text, name)
}

async fn read_shape(s: &Session<'_>, uri: &str) -> (u16, String) {
    let r = s
        .request(
            "resources/read",
            Some(&format!(r#"{{"uri":{}}}"#, support::q(uri))),
        )
        .await;
    shape(r.status, &r.text, uri)
}

#[tokio::test]
async fn role_globs_decide_lists_and_calls_alike() {
    let (plain, e1) = key_with_roles("plain", "reader");
    let (narrow, e2) = key_with_roles("narrow", "echoer");
    let (both, e3) = key_with_roles("both", "echoer, reader");
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(Upstream::fixture("fx").log(&log))
        .upstream(Upstream::fixture("open"))
        .extra(&format!(
            "auth:\n  roles:\n    reader: [mcp.invoke, mcp.prompts.read, mcp.resources.read]\n    echoer: {{ scopes: [mcp.invoke, mcp.prompts.read, mcp.resources.read], allow: [\"fx__echo\", \"open__*\", \"test://static-*\"], deny: [\"open__mirror\", \"*binary\"] }}\n  api_keys:\n    {e1}\n    {e2}\n    {e3}\n"
        ))
        .start()
        .await;

    let s = session(&gw, &plain).await;
    let all = names(&s, "tools/list", "tools", "name").await;
    assert!(
        ["fx__echo", "fx__mirror", "open__echo", "open__mirror"]
            .iter()
            .all(|t| all.iter().any(|a| a == t)),
        "{all:?}"
    );
    // The list form grants its scopes: the plain key may call.
    let r = s.call_tool("fx__mirror", r#"{"a":1}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // An open role lifts the narrowing of the other.
    let s = session(&gw, &both).await;
    assert_eq!(names(&s, "tools/list", "tools", "name").await, all);

    let s = session(&gw, &narrow).await;
    let listed = names(&s, "tools/list", "tools", "name").await;
    let expected: Vec<String> = all
        .iter()
        .filter(|t| *t == "fx__echo" || (t.starts_with("open__") && *t != "open__mirror"))
        .cloned()
        .collect();
    assert_eq!(listed, expected);
    let r = s.call_tool("fx__echo", r#"{"message":"hi"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "hi", "{}", r.text);

    let unknown = call_shape(&s, "fx__no_such_tool").await;
    assert!(unknown.1.contains("-32602"), "{unknown:?}");
    for hidden in all.iter().filter(|t| !listed.contains(t)) {
        assert_eq!(
            call_shape(&s, hidden).await,
            unknown,
            "calling hidden {hidden} must look like calling an unknown tool"
        );
    }
    assert_eq!(
        tool_calls_on_wire(&log, "mirror"),
        1,
        "only the plain key's call"
    );

    let prompts = names(&s, "prompts/list", "prompts", "name").await;
    assert!(
        !prompts.is_empty() && prompts.iter().all(|p| p.starts_with("open__")),
        "{prompts:?}"
    );

    let uris = names(&s, "resources/list", "resources", "uri").await;
    assert!(
        !uris.is_empty()
            && uris
                .iter()
                .all(|u| u.starts_with("test://static-") && !u.ends_with("binary")),
        "{uris:?}"
    );
    let unknown = read_shape(&s, "test://no-such-thing").await;
    assert!(unknown.1.contains("-32002"), "{unknown:?}");
    for hidden in ["test://static-binary", "test://watched-resource"] {
        assert_eq!(read_shape(&s, hidden).await, unknown, "reading {hidden}");
    }
}

/// Calls `fx__echo` until refused (at most `cap` times): how many passed, and the refusal.
async fn calls_until_refused(s: &Session<'_>, cap: usize) -> (usize, support::Reply) {
    for passed in 0..cap {
        let r = s.call_tool("fx__echo", r#"{"message":"x"}"#).await;
        if r.status != 200 {
            return (passed, r);
        }
    }
    panic!("{cap} calls and no refusal");
}

fn assert_rate_limited(r: &support::Reply, per_tool: bool) {
    assert_eq!(r.status, 429, "{}", r.text);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After: {:?}", r.header("retry-after")));
    assert!((1..=60).contains(&retry), "{retry}");
    let e = r.error();
    assert_eq!(e["code"], -31042, "{e}");
    let message = e["message"].as_str().unwrap_or_default();
    assert_eq!(message.contains("calls of fx__echo"), per_tool, "{e}");
}

#[tokio::test]
async fn a_role_rate_replaces_the_global_one_at_and_past_the_boundary() {
    let (plain, e1) = key_with_roles("plain", "reader");
    let (slow, e2) = key_with_roles("slow", "slow");
    let (busy, e3) = key_with_roles("busy", "busy");
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "limits: {{ rate: {{ per_tool: 4/m }} }}\nauth:\n  roles:\n    reader: [mcp.invoke]\n    slow: {{ scopes: [mcp.invoke], rate: {{ per_tool: 2/m }} }}\n    busy: {{ scopes: [mcp.invoke], rate: {{ per_principal: 12/m, per_tool: 100/m }} }}\n  api_keys:\n    {e1}\n    {e2}\n    {e3}\n"
        ))
        .start()
        .await;

    // Per tool: the global 4 a minute, and the `slow` role's own 2. The call at the boundary
    // passes, the next is a 429 with `Retry-After`, and so is every one after it.
    for (key, budget) in [(&plain, 4), (&slow, 2)] {
        let s = session(&gw, key).await;
        let (passed, refused) = calls_until_refused(&s, 10).await;
        assert_eq!(passed, budget, "{}", refused.text);
        assert_rate_limited(&refused, true);
        let again = s.call_tool("fx__echo", r#"{"message":"x"}"#).await;
        assert_rate_limited(&again, true);
    }

    // `busy` lifts the per-tool rate past the global 4 and is held to its own 12 requests a
    // minute instead (the initialize is not counted), by principal: a second session of the
    // same key shares the spent budget.
    let s = session(&gw, &busy).await;
    let (passed, refused) = calls_until_refused(&s, 20).await;
    assert_eq!(passed, 12, "{}", refused.text);
    assert_rate_limited(&refused, false);
    let other = session(&gw, &busy).await;
    let r = other.call_tool("fx__echo", r#"{"message":"x"}"#).await;
    assert_rate_limited(&r, false);
}
