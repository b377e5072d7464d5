//! The `/status` document: every upstream's health and counts, what the catalog withheld, and
//! the gateway's own numbers (sessions, listens, held calls).

use switchboard_protocol::object;

use crate::Gateway;
use crate::catalog::ListKind;
use switchboard_protocol::lock;

impl Gateway {
    /// The `/status` document: every upstream's health and what the catalog withheld.
    pub fn status_json(&self) -> String {
        let catalog = self.catalog();
        let mut s = String::from("{\"upstreams\":[");
        for (i, up) in self.state.upstreams.members().iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let st = lock(&up.status);
            let count = |k: ListKind| {
                (0..catalog.len(k))
                    .filter(|&p| catalog.entry(k, p).upstream == up.id)
                    .count()
            };
            s.push_str(&format!(
                "{{\"name\":{},\"kind\":\"{}\",\"prefix\":{},\"session\":\"{}\",\"state\":\"{}\",\"since_seconds\":{},\"restarts\":{},\"revision\":{},\"error\":{},\"tools\":{},\"prompts\":{},\"resources\":{},\"resource_templates\":{},\"calls\":{},\"inflight\":{},\"latency\":{}",
                object::json_string(up.name()),
                up.kind(),
                object::json_string(&up.cfg.prefix),
                if up.cfg.session == switchboard_config::SessionMode::Shared { "shared" } else { "isolated" },
                st.health.as_str(),
                st.since.elapsed().as_secs(),
                st.restarts,
                st.revision.map_or("null".to_owned(), |r| format!("\"{r}\"")),
                st.error.as_deref().map_or("null".to_owned(), object::json_string),
                count(ListKind::Tools),
                count(ListKind::Prompts),
                count(ListKind::Resources),
                count(ListKind::Templates),
                up.calls.load(std::sync::atomic::Ordering::Relaxed),
                up.metrics.inflight_now(),
                latency_json(&up.metrics),
            ));
            s.push_str(&resilience_json(up));
            if let Some((members, strategy)) = up.group() {
                let names = |v: &[String]| {
                    v.iter()
                        .map(|n| object::json_string(n))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                s.push_str(&format!(
                    ",\"strategy\":\"{}\",\"members\":[{}],\"disagreeing\":[{}]",
                    match strategy {
                        switchboard_config::GroupStrategy::Failover => "failover",
                        switchboard_config::GroupStrategy::RoundRobin => "round_robin",
                        switchboard_config::GroupStrategy::LeastInflight => "least_inflight",
                    },
                    names(members),
                    names(&lock(&up.disagreeing)),
                ));
            }
            s.push('}');
        }
        s.push_str("],\"withheld\":[");
        for (i, w) in catalog.withheld.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                "{{\"kind\":\"{}\",\"upstream\":{},\"name\":{},\"reason\":{}}}",
                w.kind.key(),
                object::json_string(&w.upstream),
                object::json_string(&w.name),
                object::json_string(&w.reason)
            ));
        }
        s.push_str("],\"plugins\":");
        s.push_str(&self.plugins_json());
        s.push_str(&format!(
            ",\"sessions\":{},\"listens\":{},\"held_calls\":{},\"config_reloads\":{{\"ok\":{},\"error\":{}}}}}",
            self.session_count(),
            self.state.listeners.len(),
            self.held_calls(),
            self.reloads().0,
            self.reloads().1
        ));
        s
    }
}

/// An upstream's limit and breaker, as members of its `/status` object.
fn resilience_json(up: &crate::upstreams::Upstream) -> String {
    let limit = up.guard.limit.as_ref();
    let b = &up.guard.breaker;
    format!(
        ",\"isolated_sessions\":{},\"queued\":{},\"max_concurrency\":{},\"breaker\":{{\"state\":\"{}\",\"opens\":{},\"retry_in_ms\":{}}}",
        up.isolated.load(std::sync::atomic::Ordering::Relaxed),
        limit.map_or(0, |l| l.queued()),
        limit.map_or("null".to_owned(), |l| l.max().to_string()),
        b.state().as_str(),
        b.opens(),
        b.retry_in().as_millis(),
    )
}

/// An upstream's `tools/call` latency over the recent window (`null` with metrics off).
fn latency_json(m: &switchboard_telemetry::UpstreamMetrics) -> String {
    let Some(r) = m.recent_latency() else {
        return "null".to_owned();
    };
    let ms = |s: Option<f64>| s.map_or("null".to_owned(), |s| format!("{:.3}", s * 1000.0));
    format!(
        "{{\"calls\":{},\"p50_ms\":{},\"p99_ms\":{},\"window_seconds\":{}}}",
        r.calls,
        ms(r.p50_seconds),
        ms(r.p99_seconds),
        r.window.as_secs()
    )
}
