//! Bridge C over real sockets: a 2026-07-28 client calling tools of a handshake-era upstream (the
//! fixture) that elicit, sample and list roots. The gateway answers `input_required` with a
//! sealed `requestState`, holds the upstream call, and finishes it when the client retries with
//! the answers. Every bad retry gets its own error: tampered, replayed, aimed at another tool,
//! expired, held by another replica, or carrying answers of the wrong shape. And the `Mcp-Param-*`
//! headers of a tool's `x-mcp-header` annotations are checked against the body (step V6).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::modern::{assert_error, call_tool, headers};
use support::{Config, Gateway, Upstream};

const KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

async fn gateway(extra: &str) -> (Gateway, std::path::PathBuf) {
    let c = Config::new();
    let log = c.path("fx.log");
    let c = c.upstream(Upstream::fixture("fx").log(&log)).extra(extra);
    let gw = c.start().await;
    gw.wait_status("the fixture to be up", |st| {
        st["upstreams"][0]["state"] == "ready"
    })
    .await;
    (gw, log)
}

fn all_caps() -> Value {
    json!({"elicitation": {}, "sampling": {}, "roots": {}})
}

/// A retry of `tool` with the answers and the state of the last round.
async fn retry(gw: &Gateway, id: u64, tool: &str, answers: &Value, state: &str) -> support::Reply {
    call_tool(
        gw,
        id,
        tool,
        all_caps(),
        json!({"inputResponses": answers, "requestState": state}),
    )
    .await
}

fn state_of(result: &Value) -> String {
    result["requestState"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestState in {result}"))
        .to_owned()
}

fn wire(log: &std::path::Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

async fn wait_wire(log: &std::path::Path, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !wire(log).contains(what) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never reached the upstream: {}",
            wire(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn elicitation_round_trip_through_input_required() {
    let (gw, log) = gateway("").await;
    let tool = "fx__test_input_required_result_elicitation";
    let r = call_tool(&gw, 1, tool, all_caps(), json!({})).await;
    let res = r.result();
    assert_eq!(res["resultType"], "input_required", "{}", r.text);
    let ask = &res["inputRequests"]["user_name"];
    assert_eq!(ask["method"], "elicitation/create", "{res}");
    assert!(
        ask.get("jsonrpc").is_none() && ask.get("id").is_none(),
        "{ask}"
    );
    // The fixture's key hint was consumed, not passed on.
    assert!(
        !ask.to_string().contains("switchboard-mcp/inputKey"),
        "{ask}"
    );
    assert!(
        res.get("ttlMs").is_none(),
        "no cache hint on input_required"
    );
    let state = state_of(&res);
    assert!(state.starts_with("sb1."), "{state}");
    assert_eq!(gw.status().await["held_calls"], 1);

    let answer = json!({"user_name": {"action": "accept", "content": {"name": "Alice"}}});
    let r = retry(&gw, 2, tool, &answer, &state).await;
    let res = r.result();
    assert_eq!(res["resultType"], "complete", "{}", r.text);
    assert!(r.text.contains("Hello, Alice!"), "{}", r.text);
    assert_eq!(gw.status().await["held_calls"], 0);
    // The upstream got a real answer to its real request, and never saw the era's members.
    let w = wire(&log);
    assert!(w.contains("\"action\":\"accept\""), "{w}");
    assert!(
        !w.contains("requestState") && !w.contains("inputResponses"),
        "{w}"
    );

    // The call is over: its state names nothing any more.
    let r = retry(&gw, 3, tool, &answer, &state).await;
    let e = assert_error(&r, 200, -31020, 3);
    assert_eq!(e["data"]["reason"], "gone");
}

#[tokio::test]
async fn several_requests_and_several_rounds() {
    let (gw, _log) = gateway("").await;
    // Three requests at once, one per kind, in one result.
    let tool = "fx__test_input_required_result_multiple_inputs";
    let r = call_tool(&gw, 1, tool, all_caps(), json!({})).await;
    let res = r.result();
    let asks = res["inputRequests"].as_object().expect("inputRequests");
    let mut methods: Vec<&str> = asks
        .values()
        .map(|a| a["method"].as_str().unwrap())
        .collect();
    methods.sort_unstable();
    assert_eq!(
        methods,
        ["elicitation/create", "roots/list", "sampling/createMessage"],
        "{res}"
    );
    let mut answers = serde_json::Map::new();
    for (k, a) in asks {
        let v = match a["method"].as_str().unwrap() {
            "elicitation/create" => json!({"action": "accept", "content": {"name": "Bo"}}),
            "roots/list" => json!({"roots": [{"uri": "file:///r", "name": "r"}]}),
            _ => {
                json!({"role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m", "stopReason": "endTurn"})
            }
        };
        answers.insert(k.clone(), v);
    }
    let r = call_tool(
        &gw,
        2,
        tool,
        all_caps(),
        json!({"inputResponses": answers, "requestState": state_of(&res)}),
    )
    .await;
    assert_eq!(r.result()["resultType"], "complete", "{}", r.text);

    // Two rounds, each with a new state; the first state cannot be used twice.
    let tool = "fx__test_input_required_result_multi_round";
    let r = call_tool(&gw, 3, tool, all_caps(), json!({})).await;
    let s1 = state_of(&r.result());
    assert!(
        r.result()["inputRequests"]["step1"].is_object(),
        "{}",
        r.text
    );
    let a1 = json!({"step1": {"action": "accept", "content": {"name": "x"}}});
    let r = retry(&gw, 4, tool, &a1, &s1).await;
    let res = r.result();
    assert_eq!(res["resultType"], "input_required", "{}", r.text);
    assert!(res["inputRequests"]["step2"].is_object(), "{res}");
    let s2 = state_of(&res);
    assert_ne!(s1, s2);
    let r = retry(&gw, 5, tool, &a1, &s1).await;
    let e = assert_error(&r, 200, -32602, 5);
    assert_eq!(e["data"]["reason"], "replayed", "{e}");
    let a2 = json!({"step2": {"action": "accept", "content": {"name": "y"}}});
    let r = retry(&gw, 6, tool, &a2, &s2).await;
    assert_eq!(r.result()["resultType"], "complete", "{}", r.text);
}

#[tokio::test]
async fn capabilities_decide_what_is_asked() {
    let (gw, log) = gateway("").await;
    // Only sampling declared: the elicitation is refused upstream, the sampling asked.
    let r = call_tool(
        &gw,
        1,
        "fx__test_input_required_result_capabilities",
        json!({"sampling": {}}),
        json!({}),
    )
    .await;
    let res = r.result();
    assert_eq!(res["resultType"], "input_required", "{}", r.text);
    let methods: Vec<&str> = res["inputRequests"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["sampling/createMessage"], "{res}");

    // Nothing askable: 400 -32021 naming what is missing, and the call ends upstream.
    let r = call_tool(&gw, 2, "fx__test_missing_capability", json!({}), json!({})).await;
    let e = assert_error(&r, 400, -32021, 2);
    assert_eq!(
        e["data"]["requiredCapabilities"],
        json!({"sampling": {}}),
        "{e}"
    );
    wait_wire(&log, "-31010").await;
    wait_wire(&log, "notifications/cancelled").await;
}

#[tokio::test]
async fn answers_sent_up_front_and_bad_answers() {
    let (gw, _log) = gateway("").await;
    let tool = "fx__test_input_required_result_elicitation";
    // Answers on the first call are used when the tool asks; unknown keys are ignored.
    let answers = json!({
        "user_name": {"action": "accept", "content": {"name": "Eve"}},
        "never_asked": {"action": "decline"}
    });
    let r = call_tool(&gw, 1, tool, all_caps(), json!({"inputResponses": answers})).await;
    assert!(r.text.contains("Hello, Eve!"), "{}", r.text);
    // Answers only to questions never asked: the real question is asked.
    let r = call_tool(
        &gw,
        2,
        tool,
        all_caps(),
        json!({"inputResponses": {"wrong_key": {"action": "accept"}}}),
    )
    .await;
    assert_eq!(r.result()["resultType"], "input_required", "{}", r.text);
    // Answers that are not objects, or not answers at all.
    for (id, bad) in [
        (3, json!({"inputResponses": {"user_name": 12345}})),
        (4, json!({"inputResponses": null})),
        (5, json!({"inputResponses": [1]})),
        (
            6,
            json!({"inputResponses": {"user_name": {"action": "maybe"}}}),
        ),
        (7, json!({"requestState": 7})),
    ] {
        let r = call_tool(&gw, id, tool, all_caps(), bad.clone()).await;
        assert_error(&r, 200, -32602, id);
    }
}

#[tokio::test]
async fn bad_states_each_get_their_error() {
    let (gw, _log) = gateway("").await;
    let tool = "fx__test_input_required_result_elicitation";
    let r = call_tool(&gw, 1, tool, all_caps(), json!({})).await;
    let state = state_of(&r.result());
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "A"}}});
    let mut flipped = state.clone().into_bytes();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    for (id, s) in [
        (2, format!("{state}-TAMPERED")),
        (3, String::from_utf8(flipped).unwrap()),
        (4, state[..state.len() - 5].to_owned()),
        (5, "not-a-state".to_owned()),
    ] {
        let r = call_tool(
            &gw,
            id,
            tool,
            all_caps(),
            json!({"inputResponses": answer, "requestState": s}),
        )
        .await;
        let e = assert_error(&r, 200, -32602, id);
        assert_eq!(e["data"]["reason"], "invalid", "{e}");
    }
    // The state is bound to the tool it was given for.
    let other = "fx__test_input_required_result_request_state";
    let r = call_tool(
        &gw,
        6,
        other,
        all_caps(),
        json!({"inputResponses": answer, "requestState": state}),
    )
    .await;
    let e = assert_error(&r, 200, -32602, 6);
    assert_eq!(e["data"]["reason"], "invalid", "{e}");
    // Answers only to questions never asked: ignored, and what is still open is asked again,
    // under a new state (the old one is spent).
    let bogus = json!({"never_asked": {"action": "accept", "content": {}}});
    let r = retry(&gw, 7, tool, &bogus, &state).await;
    let res = r.result();
    assert_eq!(res["resultType"], "input_required", "{}", r.text);
    assert!(res["inputRequests"]["user_name"].is_object(), "{res}");
    let fresh = state_of(&res);
    assert_ne!(fresh, state);
    let r = retry(&gw, 8, tool, &answer, &state).await;
    assert_eq!(
        assert_error(&r, 200, -32602, 8)["data"]["reason"],
        "replayed"
    );
    // None of that disturbed the held call: the right retry still completes it.
    let r = retry(&gw, 9, tool, &answer, &fresh).await;
    assert!(r.text.contains("Hello, A!"), "{}", r.text);
}

#[tokio::test]
async fn held_calls_expire_and_are_cancelled_upstream() {
    let (gw, log) = gateway("modern:\n  input_ttl: 300ms\n").await;
    let tool = "fx__test_input_required_result_elicitation";
    let r = call_tool(&gw, 1, tool, all_caps(), json!({})).await;
    let state = state_of(&r.result());
    tokio::time::sleep(Duration::from_millis(700)).await;
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "A"}}});
    let r = retry(&gw, 2, tool, &answer, &state).await;
    assert_error(&r, 200, -31020, 2);
    wait_wire(&log, "notifications/cancelled").await;
    assert_eq!(gw.status().await["held_calls"], 0);
}

#[tokio::test]
async fn another_replica_names_the_holder() {
    let keys = format!("modern:\n  state_keys: [\"{KEY}\"]\n  replica_id: replica-a\n");
    let (a, _) = gateway(&keys).await;
    let (b, _) = gateway(&keys.replace("replica-a", "replica-b")).await;
    let tool = "fx__test_input_required_result_elicitation";
    let r = call_tool(&a, 1, tool, all_caps(), json!({})).await;
    let state = state_of(&r.result());
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "A"}}});
    let r = call_tool(
        &b,
        2,
        tool,
        all_caps(),
        json!({"inputResponses": answer, "requestState": state}),
    )
    .await;
    let e = assert_error(&r, 200, -31021, 2);
    assert_eq!(e["data"]["replica"], "replica-a", "{e}");
    // The same keys open it where it is held.
    let r = call_tool(
        &a,
        3,
        tool,
        all_caps(),
        json!({"inputResponses": answer, "requestState": state}),
    )
    .await;
    assert!(r.text.contains("Hello, A!"), "{}", r.text);
}

#[tokio::test]
async fn param_headers_must_mirror_the_body() {
    let (gw, _log) = gateway("").await;
    let tool = "fx__test_custom_header";
    let send = |id: u64, header: Option<&'static str>, region: Value| {
        let gw = &gw;
        async move {
            let b = support::modern::body(
                id,
                "tools/call",
                json!({"name": tool, "arguments": {"region": region}}),
                json!({}),
            );
            let mut h = headers("tools/call", Some(tool));
            if let Some(v) = header {
                h.push(("mcp-param-region", v));
            }
            gw.post_raw(b, &h).await
        }
    };
    let r = send(1, Some("Hello"), json!("Hello")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(2, Some("=?base64?SGVsbG8=?="), json!("Hello")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (id, h) in [
        (3, None),
        (4, Some("=?base64?SGVsbG8?=")),
        (5, Some("=?base64?SGVs!!!bG8=?=")),
        (6, Some("Other")),
    ] {
        let r = send(id, h, json!("Hello")).await;
        assert_error(&r, 400, -32020, id);
    }
    // A null value needs no header.
    let r = send(7, None, Value::Null).await;
    assert_ne!(r.status, 400, "{}", r.text);
}

#[tokio::test]
async fn held_calls_are_bounded() {
    let (gw, log) = gateway("modern:\n  max_held: 1\n").await;
    let tool = "fx__test_input_required_result_elicitation";
    let r = call_tool(&gw, 1, tool, all_caps(), json!({})).await;
    let state = state_of(&r.result());
    // A second call that would have to be held is refused, and does not stay open upstream.
    let r = call_tool(&gw, 2, tool, all_caps(), json!({})).await;
    let e = assert_error(&r, 200, -31023, 2);
    assert!(e["message"].as_str().unwrap().contains("max_held"), "{e}");
    wait_wire(&log, "notifications/cancelled").await;
    assert_eq!(gw.status().await["held_calls"], 1);
    // Once the first is answered, there is room again.
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "A"}}});
    let r = retry(&gw, 3, tool, &answer, &state).await;
    assert!(r.text.contains("Hello, A!"), "{}", r.text);
    let r = call_tool(&gw, 4, tool, all_caps(), json!({})).await;
    assert_eq!(r.result()["resultType"], "input_required", "{}", r.text);
}
