//! One admission decision for lists and calls: principals holding different scopes over a
//! catalog of several upstreams (`scopes` per upstream, `tool_scopes` per tool glob). Each sees
//! exactly what it may call; calling what it does not see is answered exactly like calling a
//! name that does not exist, and never reaches the upstream.

mod support;

use support::create_key;

use serde_json::Value;
use support::{Config, Gateway, Session, Upstream, tool_calls_on_wire};

async fn session<'a>(gw: &'a Gateway, key: &str) -> Session<'a> {
    let bearer = format!("Bearer {key}");
    gw.try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text))
}

/// Every name of a list (following `nextCursor`).
async fn names(s: &Session<'_>, method: &str, field: &str) -> Vec<String> {
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
            out.push(item["name"].as_str().unwrap().to_owned());
        }
        match result["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// What calling `name` answers, with the name itself taken out (so a hidden tool's answer and
/// an unknown one's can be compared).
async fn call_shape(s: &Session<'_>, name: &str) -> (u16, Value) {
    let r = s.call_tool(name, "{}").await;
    let mut e = r.response().unwrap_or(Value::Null);
    e["id"] = Value::Null;
    if let Some(err) = e.get_mut("error") {
        err["data"]["request_id"] = Value::Null;
        let msg = err["message"]
            .as_str()
            .unwrap_or_default()
            .replace(name, "<name>");
        err["message"] = Value::from(msg);
        if err["data"]["name"] == name {
            err["data"]["name"] = Value::from("<name>");
        }
    }
    (r.status, e)
}

#[tokio::test]
async fn each_principal_sees_exactly_what_it_may_call() {
    let base = "mcp.tools.read,mcp.invoke,mcp.prompts.read,mcp.resources.read";
    let (outsider, e1) = create_key("outsider", base);
    let (reader, e2) = create_key("reader", &format!("{base},fx.read"));
    let (tester, e3) = create_key("tester", &format!("{base},fx.read,fx.test"));
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(
            Upstream::fixture("fx")
                .log(&log)
                .setting("scopes: [fx.read]")
                .setting("tool_scopes: { \"test_*\": fx.test }"),
        )
        .upstream(Upstream::fixture("open"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {e1}\n    {e2}\n    {e3}\n"
        ))
        .start()
        .await;

    let all = names(&session(&gw, &tester).await, "tools/list", "tools").await;
    assert!(all.iter().any(|t| t == "fx__test_simple_text"), "{all:?}");
    assert!(all.iter().any(|t| t == "fx__echo") && all.iter().any(|t| t == "open__echo"));

    for (who, key) in [
        ("outsider", &outsider),
        ("reader", &reader),
        ("tester", &tester),
    ] {
        let s = session(&gw, key).await;
        let listed = names(&s, "tools/list", "tools").await;
        let expected: Vec<&String> = all
            .iter()
            .filter(|t| match who {
                "outsider" => !t.starts_with("fx__"),
                "reader" => !t.starts_with("fx__test_"),
                _ => true,
            })
            .collect();
        assert_eq!(listed.iter().collect::<Vec<_>>(), expected, "{who} lists");

        let unknown = call_shape(&s, "fx__no_such_tool").await;
        assert_eq!(unknown.1["error"]["code"], -32602, "{unknown:?}");
        for hidden in all.iter().filter(|t| !listed.contains(t)) {
            assert_eq!(
                call_shape(&s, hidden).await,
                unknown,
                "{who} calling hidden {hidden} must look like calling an unknown tool"
            );
        }
        for visible in ["open__echo", "fx__echo"] {
            if listed.iter().any(|t| t == visible) {
                let r = s.call_tool(visible, r#"{"message":"hi"}"#).await;
                assert_eq!(r.result()["content"][0]["text"], "hi", "{who}: {}", r.text);
            }
        }

        // Prompts follow the upstream's scopes too.
        let prompts = names(&s, "prompts/list", "prompts").await;
        assert_eq!(
            prompts.iter().any(|p| p.starts_with("fx__")),
            who != "outsider",
            "{who}: {prompts:?}"
        );
    }
    // The hidden calls never reached the upstream: the tester's list was taken, no test_* called.
    assert_eq!(tool_calls_on_wire(&log, "test_simple_text"), 0);
}
