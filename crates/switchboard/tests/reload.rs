//! Hot reload through the real binary: the config file is rewritten (the watcher sees it) or
//! the process gets SIGHUP. Only the upstreams whose config changed restart; a call running on
//! another upstream finishes, the client's session survives, clients hear `list_changed`, and a
//! file that does not load leaves the running config serving.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Gateway, PATIENCE, SseStream, Upstream, upstream_in};

fn names(st: &Value) -> Vec<String> {
    st["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect()
}

fn tools(result: &Value) -> Vec<String> {
    let mut v: Vec<String> = result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .filter(|n| n.ends_with("__echo"))
        .collect();
    v.sort();
    v
}

async fn reloads(gw: &Gateway, ok: u64, error: u64) -> Value {
    gw.wait_status("the reload to be counted", |st| {
        st["config_reloads"]["ok"] == ok && st["config_reloads"]["error"] == error
    })
    .await
}

#[tokio::test]
async fn reload_adds_changes_and_removes_only_what_changed() {
    let config = support::Config::new()
        .upstream(Upstream::fixture("keep"))
        .upstream(Upstream::fixture("chg"))
        .upstream(Upstream::fixture("gone"));
    let mut gw = config.start().await;
    gw.wait_status("three upstreams ready", |st| {
        st["upstreams"]
            .as_array()
            .is_some_and(|u| u.iter().all(|u| u["state"] == "ready"))
    })
    .await;
    // The next config: `gone` removed, `chg` changed, `new` added, `keep` as it was.
    let path = gw.config.path("switchboard.yaml");
    gw.config.upstreams.retain(|u| u.name != "gone");
    gw.config.upstreams[1]
        .settings
        .push("timeout: 7s".to_owned());
    gw.config.upstreams.push(Upstream::fixture("new"));
    let next = gw.config.yaml();
    let gw = gw;
    let s = gw.initialize().await;
    let mut stream = SseStream::new(s.get_stream().await);
    let r = s.call_tool("chg__echo", r#"{"message":"before"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "before", "{}", r.text);

    // A call runs on `keep` across the whole reload.
    let running = s.call_tool("keep__slow", r#"{"ms":2500}"#);
    let reload = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&path, &next).unwrap();
        gw.wait_status("the new upstream set, ready", |st| {
            names(st) == ["keep", "chg", "new"]
                && st["upstreams"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|u| u["state"] == "ready")
        })
        .await
    };
    let (r, st) = tokio::join!(running, reload);
    assert_eq!(
        r.result()["content"][0]["text"],
        "Slept for 2500 ms",
        "{}",
        r.text
    );
    assert_eq!(st["config_reloads"]["ok"], 1, "{st}");
    // `keep` is the same upstream (its count of calls goes on); `chg` was restarted.
    assert_eq!(upstream_in(&st, "keep")["calls"], 1, "{st}");
    assert_eq!(upstream_in(&st, "keep")["restarts"], 0, "{st}");
    assert_eq!(upstream_in(&st, "chg")["calls"], 0, "{st}");

    // The session lives on and sees the new catalog.
    let list = s.request("tools/list", None).await.result();
    assert_eq!(tools(&list), ["chg__echo", "keep__echo", "new__echo"]);
    let r = s.call_tool("new__echo", r#"{"message":"added"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "added", "{}", r.text);
    let r = s.call_tool("gone__echo", "{}").await;
    assert_eq!(r.error()["code"], -32602, "{}", r.text);
    stream
        .wait_for(PATIENCE, |m| {
            m["method"] == "notifications/tools/list_changed"
        })
        .await;

    // A file that does not load: logged, counted, and the running config keeps serving.
    std::fs::write(&path, "upstreams:\n  keep:\n    stdoi: {}\n").unwrap();
    let st = reloads(&gw, 1, 1).await;
    assert_eq!(names(&st), ["keep", "chg", "new"]);
    assert!(
        gw.stderr().contains("config reload failed"),
        "{}",
        gw.stderr()
    );
    assert!(
        gw.stderr().contains("unknown field `stdoi`"),
        "{}",
        gw.stderr()
    );
    let r = s.call_tool("keep__echo", r#"{"message":"still"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "still", "{}", r.text);

    // Fixed again, then SIGHUP with nothing changed: two applied reloads, nothing restarted.
    std::fs::write(&path, &next).unwrap();
    reloads(&gw, 2, 1).await;
    gw.signal("HUP");
    let st = reloads(&gw, 3, 1).await;
    assert_eq!(upstream_in(&st, "keep")["calls"], 2, "{st}");
    assert_eq!(upstream_in(&st, "new")["calls"], 1, "{st}");
    assert!(gw.stderr().contains("unchanged: 3"), "{}", gw.stderr());
}

#[tokio::test]
async fn settings_that_cannot_change_live_are_reported() {
    let mut gw = support::Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    gw.config = std::mem::take(&mut gw.config).extra("sessions: { max_sessions: 7 }\n");
    gw.config.write();
    reloads(&gw, 1, 0).await;
    let err = gw.stderr();
    assert!(
        err.contains("only take effect after a restart") && err.contains("sessions"),
        "{err}"
    );
}
