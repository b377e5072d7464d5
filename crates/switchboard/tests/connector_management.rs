//! The `management` built-in connector through the real gateway binary: the gateway's own
//! operations as tools (list, details, health, stop/start/restart, groups, errors, metrics), the
//! `admin` scope that gates them (anonymous callers only on a loopback listener), and a
//! built-in's settings checked when the config loads.

mod support;

use serde_json::Value;
use support::{Config, Session, Upstream, create_key, run_gateway};

fn text(r: &Value) -> &str {
    r["content"][0]["text"].as_str().unwrap_or_default()
}

async fn call(s: &Session<'_>, tool: &str, args: &str) -> Value {
    let r = s.call_tool(tool, args).await;
    assert!(
        r.response().is_some_and(|v| v.get("result").is_some()),
        "{tool} {args}: {}",
        r.text
    );
    r.result()
}

fn ops() -> Upstream {
    Upstream::command("ops", "", &[]).setting("management: {}")
}

#[tokio::test]
async fn management_tools_list_stop_start_and_restart_upstreams() {
    let config = Config::new();
    let wire = config.path("fx.log");
    let gw = config
        .upstream(ops())
        .upstream(Upstream::fixture("fx").log(&wire))
        .upstream(Upstream::fixture("fy"))
        .upstream(Upstream::fixture("fz"))
        .upstream(Upstream::group("both", &["fy", "fz"], "failover"))
        .start()
        .await;
    let s = gw.initialize().await;

    // Its tools, with the right hints, under its prefix.
    let list = s.request("tools/list", None).await.result();
    let tools: Vec<&Value> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("ops__"))
        .collect();
    assert_eq!(tools.len(), 9, "{list}");
    for t in &tools {
        let destructive = matches!(
            t["name"].as_str().unwrap(),
            "ops__start" | "ops__stop" | "ops__restart"
        );
        assert_eq!(t["annotations"]["destructiveHint"], destructive, "{t}");
        assert_eq!(t["annotations"]["readOnlyHint"], !destructive, "{t}");
    }
    // The server behind it introduces itself as switchboard-management.
    let status = gw.status().await;
    let me = status["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "ops")
        .unwrap();
    assert_eq!(me["kind"], "management", "{status}");
    assert_eq!(me["state"], "ready", "{status}");

    // Anonymous on loopback: allowed.
    let r = call(&s, "ops__list_upstreams", "{}").await;
    let ups = r["structuredContent"]["upstreams"].as_array().unwrap();
    assert_eq!(ups.len(), 5, "{r}");
    assert!(text(&r).contains("fx (stdio): ready"), "{}", text(&r));

    let r = call(&s, "ops__upstream_details", r#"{"name":"fx"}"#).await;
    assert_eq!(r["structuredContent"]["upstream"]["state"], "ready", "{r}");
    let r = call(&s, "ops__upstream_details", r#"{"name":"nope"}"#).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("no upstream `nope`"), "{}", text(&r));

    let r = call(&s, "ops__health", "{}").await;
    assert_eq!(r["structuredContent"]["ready"], true, "{r}");

    let r = call(&s, "ops__group_members", r#"{"name":"both"}"#).await;
    assert_eq!(
        r["structuredContent"]["groups"][0]["strategy"], "failover",
        "{r}"
    );
    assert_eq!(
        r["structuredContent"]["groups"][0]["members"][1]["name"], "fz",
        "{r}"
    );
    assert_eq!(
        r["structuredContent"]["groups"][0]["members"][1]["state"], "ready",
        "{r}"
    );

    // Stop: calls to it fail at once, naming the upstream; its error says why.
    let r = s.call_tool("fx__echo", r#"{"message":"a"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "a", "{}", r.text);
    let r = call(&s, "ops__stop", r#"{"name":"fx"}"#).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["state"], "failed", "{r}");
    let r = s.call_tool("fx__echo", r#"{"message":"b"}"#).await;
    let e = r.assert_error(200, -31001);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("stopped by an operator"),
        "{e}"
    );
    let r = call(&s, "ops__recent_errors", "{}").await;
    assert_eq!(r["structuredContent"]["errors"][0]["upstream"], "fx", "{r}");

    // Start: back.
    let r = call(&s, "ops__start", r#"{"name":"fx"}"#).await;
    assert_eq!(r["structuredContent"]["state"], "ready", "{r}");
    let r = s.call_tool("fx__echo", r#"{"message":"c"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "c", "{}", r.text);
    let r = call(&s, "ops__start", r#"{"name":"fx"}"#).await;
    assert_eq!(r["isError"], true, "starting a running upstream: {r}");

    // Restart: a new process, which opens a new session (the fixture's wire log shows another
    // `initialize` or `server/discover`).
    let initializes = || {
        std::fs::read_to_string(&wire)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("\"method\":\"initialize\"")
                    || l.contains("\"method\":\"server/discover\"")
            })
            .count()
    };
    let opened = initializes();
    assert!(opened >= 2, "started, stopped and started: {opened}");
    let r = call(&s, "ops__restart", r#"{"name":"fx"}"#).await;
    assert_eq!(r["structuredContent"]["state"], "ready", "{r}");
    assert!(initializes() > opened);
    let r = s.call_tool("fx__echo", r#"{"message":"d"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "d", "{}", r.text);

    // It will not stop the upstream serving the call, nor a group.
    let r = call(&s, "ops__stop", r#"{"name":"ops"}"#).await;
    assert_eq!(r["isError"], true, "{r}");
    let r = call(&s, "ops__stop", r#"{"name":"both"}"#).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("is a group"), "{}", text(&r));

    let r = call(&s, "ops__metrics_summary", "{}").await;
    assert!(
        r["structuredContent"]["calls"].as_u64().unwrap() >= 3,
        "{r}"
    );
}

#[tokio::test]
async fn management_tools_need_the_admin_scope() {
    let (admin, admin_entry) = create_key("root", "mcp.invoke,mcp.tools.read,admin");
    let (user, user_entry) = create_key("app", "mcp.invoke,mcp.tools.read");
    let gw = Config::new()
        .upstream(ops())
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  anonymous: false\n  api_keys:\n    {admin_entry}\n    {user_entry}\n"
        ))
        .start()
        .await;

    // Without `admin`: 403, -31041, naming the scope; other tools still work for it.
    let s = gw
        .try_initialize(&[("authorization", &format!("Bearer {user}"))])
        .await
        .expect("user session");
    let r = s.call_tool("ops__list_upstreams", "{}").await;
    let e = r.assert_error(403, -31041);
    assert_eq!(
        e["data"]["required_scopes"],
        serde_json::json!(["admin"]),
        "{e}"
    );
    assert_eq!(r.header("x-required-scopes"), Some("admin"));
    let r = s.call_tool("fx__echo", r#"{"message":"ok"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "ok", "{}", r.text);

    // With `admin`: served.
    let s = gw
        .try_initialize(&[("authorization", &format!("Bearer {admin}"))])
        .await
        .expect("admin session");
    let r = s.call_tool("ops__health", "{}").await;
    assert_eq!(r.result()["structuredContent"]["ready"], true, "{}", r.text);
}

#[tokio::test]
async fn anonymous_callers_of_a_public_listener_are_refused_management_tools() {
    // `auth.anonymous: force` serves anonymous callers on a public listener; management stays
    // closed to them.
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = Config::new()
        .listen(format!("0.0.0.0:{port}").parse().unwrap())
        .upstream(ops())
        .upstream(Upstream::fixture("fx"))
        .extra(&format!("auth:\n  anonymous: force\nhttp:\n  allowed_hosts: [\"0.0.0.0:{port}\", \"0.0.0.0\", \"127.0.0.1:{port}\"]\n"))
        .start()
        .await;
    let s = gw.initialize().await;
    let r = s.call_tool("ops__list_upstreams", "{}").await;
    r.assert_error(403, -31041);
    let r = s
        .call_tool("fx__echo", r#"{"message":"still served"}"#)
        .await;
    assert_eq!(
        r.result()["content"][0]["text"],
        "still served",
        "{}",
        r.text
    );
}

#[test]
fn a_built_in_connectors_settings_are_checked_when_the_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "upstreams:\n  prom:\n    prometheus: { url: \"http://127.0.0.1:9090\", timout: 5s }\n",
    )
    .unwrap();
    let (status, _, err) = run_gateway(
        &["check", "--config", bad.to_str().unwrap()],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("upstream `prom`: prometheus: unknown field `timout`"),
        "{err}"
    );
    assert!(err.contains("bad.yaml:2:3"), "{err}");

    std::fs::write(
        &bad,
        "upstreams:\n  logs:\n    loki: { url: \"http://l:3100\", basic_auth: { user: a } }\n",
    )
    .unwrap();
    let (status, _, err) = run_gateway(
        &["check", "--config", bad.to_str().unwrap()],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("unknown field `basic_auth.user`"), "{err}");

    std::fs::write(
        &bad,
        "upstreams:\n  ops:\n    management: {}\n    stdio: { command: x }\n",
    )
    .unwrap();
    let (status, _, err) = run_gateway(
        &["check", "--config", bad.to_str().unwrap()],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("more than one transport"), "{err}");

    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "upstreams:\n  prom:\n    prometheus: { url: \"${PROM_URL:-http://127.0.0.1:9090}\" }\n    tools: { allow: [query] }\n  ops:\n    management:\n").unwrap();
    let (status, out, err) = run_gateway(
        &["check", "--config", good.to_str().unwrap()],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("prometheus (built in) http://127.0.0.1:9090"),
        "{out}"
    );
    assert!(out.contains("management (built in)"), "{out}");
}

#[tokio::test]
async fn upstream_options_apply_to_built_ins() {
    // Tool filters: only what `tools.allow` names is served.
    let gw = Config::new()
        .upstream(
            ops()
                .setting("tools: { allow: [health, list_upstreams] }")
                .setting("prefix: admin"),
        )
        .start()
        .await;
    let s = gw.initialize().await;
    let list = s.request("tools/list", None).await.result();
    let mut names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["admin__health", "admin__list_upstreams"]);
    let r = s.call_tool("admin__stop", r#"{"name":"ops"}"#).await;
    r.assert_error(200, -32602);
}

#[tokio::test]
async fn a_reload_checks_built_in_settings_and_adds_a_built_in_live() {
    let mut gw = Config::new().upstream(ops()).start().await;
    let path = gw.config.path("switchboard.yaml");

    // A misspelt field: the reload is refused, the running config keeps serving.
    gw.config.upstreams.push(
        Upstream::command("prom", "", &[])
            .setting("prometheus: { url: \"http://127.0.0.1:9\", tiemout: 1s }"),
    );
    std::fs::write(&path, gw.config.yaml()).unwrap();
    gw.signal("HUP");
    let st = gw
        .wait_status("the refused reload", |st| {
            st["config_reloads"]["error"] == 1
        })
        .await;
    assert_eq!(st["upstreams"].as_array().unwrap().len(), 1, "{st}");
    assert!(
        gw.stderr().contains("unknown field `tiemout`"),
        "{}",
        gw.stderr()
    );

    // Fixed: the built-in joins the running gateway without a restart.
    gw.config.upstreams[1].settings =
        vec!["prometheus: { url: \"http://127.0.0.1:9\", timeout: 1s }".to_owned()];
    std::fs::write(&path, gw.config.yaml()).unwrap();
    gw.signal("HUP");
    let st = gw
        .wait_status("prom to join", |st| {
            st["upstreams"].as_array().is_some_and(|u| {
                u.iter()
                    .any(|u| u["name"] == "prom" && u["state"] == "ready")
            })
        })
        .await;
    let prom = st["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "prom")
        .unwrap();
    assert_eq!(prom["kind"], "prometheus", "{st}");
    assert_eq!(prom["tools"], 9, "{st}");
}
