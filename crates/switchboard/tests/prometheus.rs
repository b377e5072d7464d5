//! A real Prometheus (the Debian `prometheus` package; `.ci/run` installs it) scrapes the
//! gateway's `/metrics`, and a series is read back through Prometheus's own HTTP API: the
//! exposition is what a real scraper accepts, not only what our parser reads.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Config, Upstream};

#[tokio::test]
async fn prometheus_scrapes_the_gateway_and_reads_a_series_back() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let s = gw.initialize().await;
    for i in 0..5 {
        let r = s
            .call_tool("fx__echo", &format!(r#"{{"message":"{i}"}}"#))
            .await;
        assert_eq!(
            r.result()["content"][0]["text"],
            i.to_string(),
            "{}",
            r.text
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\nscrape_configs:\n  - job_name: switchboard\n    static_configs:\n      - targets: [\"{}\"]\n",
            gw.addr
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the prometheus binary (Debian package `prometheus`; .ci/run installs it)");
    let _prometheus = support::Killed(child);

    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=switchboard_tool_calls_total%7Bupstream%3D%22fx%22%2Ctool%3D%22echo%22%2Coutcome%3D%22ok%22%7D"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    loop {
        if let Ok(r) = gw.client.get(&query).send().await
            && let Ok(text) = r.text().await
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            last = v.to_string();
            if let Some(sample) = v["data"]["result"].as_array().and_then(|a| a.first()) {
                assert_eq!(sample["value"][1], "5", "{v}");
                assert_eq!(sample["metric"]["job"], "switchboard");
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never returned the series: {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
