//! Renders `docs/performance.md` from a run's results.
//!
//! The page is regenerated on every full run; the text between `<!-- notes -->` and
//! `<!-- /notes -->` (profiling findings, written by people) is carried over from the previous
//! page unchanged.

use std::fmt::Write as _;

use super::results::{Comparison, Results, TCP_FLOOR, path_order};
use super::targets::{self, path_name};

pub const NOTES_BEGIN: &str = "<!-- notes -->";
pub const NOTES_END: &str = "<!-- /notes -->";

const DEFAULT_NOTES: &str = "_No profile recorded yet._";

/// The page for `r`, keeping the notes of `previous` (the old page) if it had any.
pub fn render(r: &Results, previous: Option<&str>) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Performance\n");
    let _ = writeln!(
        w,
        "How fast switchboard is, measured by `scripts/bench` (the `crates/bench` crate). Every \
         gateway number stands beside a direct call to the same upstream measured in the same run \
         on the same machine, and the ratio between them is what to read: the absolute numbers \
         depend on the machine, which here runs the load generator, the gateway and the upstream \
         on {} cores at once. Raw numbers: [`bench/latest.json`](bench/latest.json); the baseline \
         that `--compare` reads: [`bench/baseline.json`](bench/baseline.json).\n",
        r.machine.nproc
    );
    if r.tiny {
        let _ = writeln!(
            w,
            "> **Tiny run** (`--tiny`): a few hundred calls per case, to prove the suite works. \
             These numbers are not measurements.\n"
        );
    }
    run_section(w);
    machine_section(w, r);
    targets_section(w, r);
    transport_section(w, r);
    memory_section(w, r);
    startup_section(w, r);
    big_section(w, r);
    catalog_section(w, r);
    isolation_section(w, r);
    let _ = writeln!(w, "## Where the gateway's time goes\n");
    let _ = writeln!(w, "{NOTES_BEGIN}");
    let _ = writeln!(w, "{}", notes(previous).unwrap_or(DEFAULT_NOTES).trim());
    let _ = writeln!(w, "{NOTES_END}\n");
    method_section(w);
    s
}

/// The hand-written notes of an earlier page.
pub fn notes(previous: Option<&str>) -> Option<&str> {
    let p = previous?;
    let start = p.find(NOTES_BEGIN)? + NOTES_BEGIN.len();
    let end = start + p[start..].find(NOTES_END)?;
    Some(&p[start..end])
}

fn run_section(w: &mut String) {
    let _ = writeln!(w, "## Running it\n");
    let _ = writeln!(
        w,
        "```bash\n\
         scripts/bench                                     # full run (a few minutes): rewrites this page and docs/bench/latest.json\n\
         scripts/bench --compare docs/bench/baseline.json  # the same, then prints every metric > 10% worse than the baseline\n\
         scripts/bench --tiny                              # a few hundred calls per case, < 60 s; writes under target/bench/ (CI)\n\
         scripts/bench --only transport,memory             # some cases only; writes under target/bench/\n\
         scripts/bench --render docs/bench/latest.json     # re-render this page from stored numbers, run nothing\n\
         ```\n"
    );
    let _ = writeln!(
        w,
        "The pieces work alone too (all bind or call 127.0.0.1 only):\n\n\
         ```bash\n\
         target/release/switchboard-echo --http 127.0.0.1:0          # prints its URL; --stdio for stdio; --extra-tools N --page-size P\n\
         target/release/switchboard-load --http URL --tool up__echo -c 32 -n 20000 --watch-pid PID\n\
         target/release/switchboard-load --stdio -c 8 -n 20000 -- target/release/switchboard-echo --stdio\n\
         target/release/switchboard-load --http URL --tool up__echo --revision 2026-07-28   # stateless: no initialize, _meta on every request\n\
         target/release/switchboard-floor --http 127.0.0.1:0 --to URL   # the bare-proxy floor in front of URL: prints its own URL\n\
         target/release/switchboard-floor --tcp 127.0.0.1:0 --to URL    # the TCP splice in front of URL (parses nothing)\n\
         target/release/switchboard-load --stdio -c 8 -- target/release/switchboard-floor --stdio -- target/release/switchboard-echo --stdio\n\
         ```\n\n\
         `switchboard-load` prints one JSON object: `mode`, `revision`, `concurrency`, `calls`, `errors`, \
         `duration_s`, `throughput_per_s`, `latency_ms` (`p50`, `p90`, `p99`, `max`, `mean`) and, \
         with `--watch-pid` (or over stdio, for the spawned server), the watched process's CPU per \
         call and resident memory over the measured phase. `--help` lists every flag.\n"
    );
}

fn machine_section(w: &mut String, r: &Results) {
    let m = &r.machine;
    let _ = writeln!(w, "## Machine\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(w, "| date | {} |", m.date);
    let _ = writeln!(w, "| CPU | {} × {} |", m.nproc, m.cpu);
    let _ = writeln!(w, "| memory | {} GiB |", m.memory_gib);
    let _ = writeln!(w, "| kernel | {} |", m.kernel);
    let _ = writeln!(w, "| rustc | {} |", m.rustc);
    let _ = writeln!(
        w,
        "| switchboard | {} (commit {}) |",
        m.switchboard, m.commit
    );
    let _ = writeln!(w, "| run time | {:.0} s |\n", r.elapsed_s);
}

fn targets_section(w: &mut String, r: &Results) {
    let _ = writeln!(w, "## Targets\n");
    let _ = writeln!(
        w,
        "| target | measured | limit | met | from |\n|---|---:|---:|:---:|---|"
    );
    for t in &r.targets {
        let at_least = t.target.contains("throughput");
        let _ = writeln!(
            w,
            "| {} | {} {} | {} {} {} | {} | {} |",
            t.target,
            num(t.value),
            t.unit,
            if at_least { "≥" } else { "≤" },
            num(t.limit),
            t.unit,
            if t.met { "✅" } else { "❌" },
            t.source
        );
    }
    let _ = writeln!(w);
    let refs = targets::reference(r);
    if refs.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "For reference, not targets: the floor is `switchboard-floor` in the gateway's place, a \
         forwarder that moves bytes and does nothing else, measured in the same rounds (see the \
         next section). Floor vs direct is what any proxy hop costs on this machine; gateway vs \
         floor is what the gateway costs beyond that.\n"
    );
    let _ = writeln!(w, "| for reference | measured | from |\n|---|---:|---|");
    for x in &refs {
        let _ = writeln!(
            w,
            "| {} | {} {} | {} |",
            x.what,
            num(x.value),
            x.unit,
            x.source
        );
    }
    let _ = writeln!(w);
}

fn transport_section(w: &mut String, r: &Results) {
    let _ = writeln!(
        w,
        "## Latency and throughput: direct vs through switchboard\n"
    );
    let first = r.transport.first();
    let floor = r.transport.iter().any(Comparison::is_floor);
    let splice = r.transport.iter().any(|c| c.path == TCP_FLOOR);
    let rounds = first.map_or(1, |c| c.gateway_rounds.len().max(1));
    let size = if r.round_min_ms > 0 {
        format!(
            "{} alternating direct/gateway round(s) per cell, each of at least {} calls and at \
             least {} ms (so the fast paths measure more calls than that), each after {} warm-up \
             calls",
            rounds,
            thousands(least_round_calls(r) as f64),
            r.round_min_ms,
            thousands(first.map_or(0, |c| c.gateway.warmup / rounds as u64) as f64),
        )
    } else {
        format!(
            "{} measured calls per cell, in {} alternating direct/gateway round(s) of {} calls, \
             each after {} warm-up calls",
            thousands(first.map_or(0, |c| c.gateway.calls) as f64),
            rounds,
            thousands(first.map_or(0, |c| c.gateway.calls / rounds as u64) as f64),
            thousands(first.map_or(0, |c| c.gateway.warmup / rounds as u64) as f64),
        )
    };
    let _ = writeln!(
        w,
        "`echo` calls (`{{\"message\":\"hi\"}}`): {size}; each figure is the \
         median round's. Paths: **HTTP** — HTTP client → gateway → HTTP upstream; **HTTP \
         2026-07-28** — the same with a 2026-07-28 client (no session; `_meta` and mirrored \
         headers on every request), against the same direct handshake-era call; **stdio** — \
         stdio client → `switchboard stdio` → stdio upstream; **HTTP→stdio** — HTTP client → \
         gateway → stdio upstream (its direct column is the direct stdio call); **HTTP, features \
         off** and **HTTP, features on** — the HTTP path through gateways with every optional \
         call-path feature off (metrics and the circuit breaker disabled), and on (metrics, global \
         and per-upstream concurrency limits, per-tool timeouts, the breaker judging failure \
         rates, the result limit), at one concurrency: a feature's cost per call is the gap between the two; \
         **audit log on**, **tracing on**, **API key and role policy** and **cached JWT** are features \
         off plus that one feature, measured in the same rounds.{}{} Latencies in \
         ms; *+p50*/*+p99* are gateway minus direct; *CPU/call* is the gateway's{} CPU time (all \
         threads) per call, over all rounds.\n",
        if floor { FLOOR_PATHS } else { "" },
        if splice { TCP_FLOOR_PATH } else { "" },
        if floor { " (or floor's)" } else { "" },
    );
    comparison_table(w, &r.transport, true);
}

/// The fewest calls any one transport round measured.
fn least_round_calls(r: &Results) -> u64 {
    r.transport
        .iter()
        .flat_map(Comparison::each_round)
        .map(|x| x.calls)
        .min()
        .unwrap_or(0)
}

/// The floor paths, in the paths paragraph of a run that measured them.
const FLOOR_PATHS: &str = " **HTTP floor** and **stdio floor** put `switchboard-floor` in the \
    gateway's place: a forwarder that moves bytes and does nothing else (an HTTP proxy with the \
    gateway's runtime, HTTP library and allocator, or a relay between pipes), measured in the \
    same rounds against the same direct runs, so the gap between it and direct is what any proxy \
    hop costs on this machine, and the gap between it and the gateway is the gateway's own; in \
    its rows the gateway columns are the floor's.";

/// The TCP floor, in the paths paragraph of a run that measured it.
const TCP_FLOOR_PATH: &str = " **TCP floor** is `switchboard-floor --tcp` in front of the HTTP \
    upstream: a splice that copies bytes between each client connection and an upstream \
    connection of its own and parses nothing, the least any proxy hop can cost there.";

fn comparison_table(w: &mut String, rows: &[Comparison], with_c: bool) {
    let _ = writeln!(
        w,
        "| path |{} direct p50 | gateway p50 | +p50 | direct p99 | gateway p99 | +p99 | direct calls/s | gateway calls/s | gateway/direct | CPU/call |",
        if with_c { " c |" } else { "" }
    );
    let _ = writeln!(
        w,
        "|---|{}---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        if with_c { "---:|" } else { "" }
    );
    let mut sorted: Vec<&Comparison> = rows.iter().collect();
    sorted.sort_by_key(|c| (path_order(&c.path), c.concurrency));
    for c in sorted {
        let _ = writeln!(
            w,
            "| {} |{} {:.3} | {:.3} | {:+.3} | {:.3} | {:.3} | {:+.3} | {} | {} | {:.2}× | {} |",
            path_name(&c.path),
            if with_c {
                format!(" {} |", c.concurrency)
            } else {
                String::new()
            },
            c.direct.latency_ms.p50,
            c.gateway.latency_ms.p50,
            c.added_p50_ms(),
            c.direct.latency_ms.p99,
            c.gateway.latency_ms.p99,
            c.added_p99_ms(),
            thousands(c.direct.throughput_per_s),
            thousands(c.gateway.throughput_per_s),
            c.throughput_ratio(),
            c.gateway_cpu_us()
                .map_or("—".into(), |u| format!("{u:.1} µs")),
        );
    }
    let _ = writeln!(w);
}

fn memory_section(w: &mut String, r: &Results) {
    let Some(m) = &r.memory else { return };
    let _ = writeln!(w, "## Memory (gateway `VmRSS`)\n");
    let _ = writeln!(w, "| state | RSS |\n|---|---:|");
    let _ = writeln!(
        w,
        "| idle (ready, one HTTP upstream, nothing served) | {} |",
        mib(m.idle_kib)
    );
    if m.under_load_kib > 0 {
        let _ = writeln!(
            w,
            "| under load (peak during {}) | {} |",
            m.under_load_run,
            mib(m.under_load_kib)
        );
    }
    let _ = writeln!(
        w,
        "| with {} idle sessions | {} (+{}, {} bytes per session) |",
        thousands(m.sessions as f64),
        mib(m.with_sessions_kib),
        mib(m.added_kib),
        thousands(m.per_session_bytes as f64)
    );
    let _ = writeln!(
        w,
        "\nSessions were created at {} per second (`initialize` + `notifications/initialized`, 16 \
         connections, closed afterwards).\n",
        thousands(m.sessions_per_s)
    );
}

fn startup_section(w: &mut String, r: &Results) {
    let Some(s) = &r.startup else { return };
    let _ = writeln!(w, "## Start-up\n");
    let _ = writeln!(
        w,
        "`switchboard serve` with {} stdio upstreams (`switchboard-echo --stdio`), {} runs. \
         *Accepting*: exec → first valid `initialize` answer on `/mcp` (a client retries connect + \
         POST every 200 µs). *Ready*: exec → `/readyz` 200.\n",
        s.upstreams,
        s.runs.len()
    );
    let _ = writeln!(w, "| | median | max |\n|---|---:|---:|");
    let ready_max = s.runs.iter().map(|r| r.ready_ms).fold(0.0, f64::max);
    let _ = writeln!(
        w,
        "| accepting | {:.1} ms | {:.1} ms |",
        s.accept_ms_median, s.accept_ms_max
    );
    let _ = writeln!(
        w,
        "| ready | {:.1} ms | {:.1} ms |\n",
        s.ready_ms_median, ready_max
    );
}

fn big_section(w: &mut String, r: &Results) {
    if r.big_result.is_empty() {
        return;
    }
    let _ = writeln!(w, "## A 1 MiB tool result\n");
    let first = &r.big_result[0];
    let _ = writeln!(
        w,
        "The `big` tool returning {} bytes of text, c=1, {} calls after {} warm-up.\n",
        thousands(1_048_576.0),
        first.gateway.calls,
        first.gateway.warmup
    );
    comparison_table(w, &r.big_result, false);
}

fn catalog_section(w: &mut String, r: &Results) {
    let Some(c) = &r.catalog else { return };
    let _ = writeln!(
        w,
        "## `tools/list` over a {}-tool catalog\n",
        thousands(c.tools as f64)
    );
    let _ = writeln!(
        w,
        "One HTTP upstream with {} tools, paged {} per page (the gateway pages its own list by 1,000); \
         one call is the whole listing, every page followed, c=1, {} calls. A gateway with this \
         upstream was ready {:.0} ms after exec.\n",
        thousands(c.tools as f64),
        thousands(c.page_size as f64),
        c.comparison.gateway.calls,
        c.gateway_ready_ms
    );
    comparison_table(w, std::slice::from_ref(&c.comparison), false);
}

fn isolation_section(w: &mut String, r: &Results) {
    if r.isolation.is_empty() {
        return;
    }
    let _ = writeln!(w, "## A slow upstream beside a fast one\n");
    let i0 = &r.isolation[0];
    let _ = writeln!(
        w,
        "One gateway, upstreams `fast` and `slow`. `fast__echo` at c={} for {:.0} s alone, then again \
         while another c={} load keeps `slow__slow` ({} ms per call) busy. The fast p99 must not \
         move (target: at most ×1.25 or +0.25 ms).\n",
        i0.alone.concurrency, i0.alone.duration_s, i0.slow.concurrency, i0.slow_ms
    );
    let _ = writeln!(
        w,
        "| upstreams | fast p50 alone | fast p99 alone | fast p50 beside slow | fast p99 beside slow | p99 ratio | fast calls/s alone → beside | slow p50 | held |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|:---:|");
    for i in &r.isolation {
        let _ = writeln!(
            w,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2}× | {} → {} | {:.1} | {} |",
            path_name(&i.upstream),
            i.alone.latency_ms.p50,
            i.alone.latency_ms.p99,
            i.beside_slow.latency_ms.p50,
            i.beside_slow.latency_ms.p99,
            i.p99_ratio(),
            thousands(i.alone.throughput_per_s),
            thousands(i.beside_slow.throughput_per_s),
            i.slow.latency_ms.p50,
            if i.p99_held() { "✅" } else { "❌" }
        );
    }
    let _ = writeln!(w);
}

fn method_section(w: &mut String) {
    let _ = writeln!(
        w,
        "## How it is measured\n\n\
         - **Upstream**: `switchboard-echo`, which answers from borrowed raw JSON without building a \
           tree (HTTP on hyper with a current-thread runtime; stdio on plain threads), so it is \
           not the bottleneck.\n\
         - **Load generator**: `switchboard-load`, a separate process with a current-thread runtime. \
           HTTP: one keep-alive HTTP/1.1 connection (TCP_NODELAY) per client and one MCP session \
           per client, each initialized properly, requests with `Mcp-Session-Id` and \
           `MCP-Protocol-Version: 2025-11-25`, answers read as JSON or SSE. stdio: one child, the \
           C clients' requests multiplexed over its pipes by id. Every response is validated (id, \
           `result`, no `error`, the echoed text), and every latency recorded; percentiles are \
           exact (nearest rank over all samples).\n\
         - **CPU per call**: the sum over the gateway's threads of `/proc/PID/task/*/schedstat` \
           (time on CPU) across the measured phase, divided by its calls. The gateway's own \
           upstream children are separate processes and not counted.\n\
         - **Memory**: `VmRSS` from `/proc/PID/status`, sampled every 20 ms during a run for the \
           peak.\n\
         - **Noise**: everything shares the machine's cores, so throughput at high concurrency is \
           partly a contest for CPU between the load generator, the gateway and the upstream, and \
           a round trip costs 25 or 75 µs depending on whether two processes share a core. \
           Direct and gateway runs alternate over several rounds and the median round is \
           reported. Even so, two full runs of the same code on this machine differ by more than \
           10% on about a quarter of the metrics (mostly p99s and 1 MiB / catalog cases), so \
           `--compare` points at what to re-measure; it is not a gate.\n"
    );
}

fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `12345.6` → `12,346`.
pub fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_notes() {
        let old = format!("# x\n{NOTES_BEGIN}\nhot: serde\n{NOTES_END}\n");
        assert_eq!(notes(Some(&old)).map(str::trim), Some("hot: serde"));
        assert_eq!(notes(Some("no markers")), None);
        assert_eq!(notes(None), None);
    }

    #[test]
    fn floor_rows_follow_their_paths_and_add_reference_lines() {
        let r = super::super::results::fixture::results(&[
            ("http-stdio", 32, 1.0, 1.0),
            ("stdio-floor", 32, 1.0, 1.0),
            ("stdio", 32, 1.0, 1.0),
            ("http-modern", 32, 1.0, 1.0),
            ("http-floor", 32, 1.0, 1.0),
            ("tcp-floor", 32, 1.0, 1.0),
            ("http", 32, 1.0, 1.0),
        ]);
        let page = render(&r, None);
        let rows: Vec<&str> = page
            .lines()
            .filter(|l| {
                l.ends_with(
                    "| 32 | 0.100 | 0.200 | +0.100 | 0.200 | 0.400 | +0.200 | 1 | 1 | 1.00× | — |",
                )
            })
            .filter_map(|l| l.split(" | ").next())
            .collect();
        assert_eq!(
            rows,
            [
                "| HTTP",
                "| HTTP floor (bare proxy)",
                "| TCP floor (splice)",
                "| HTTP 2026-07-28",
                "| stdio",
                "| stdio floor (bare relay)",
                "| HTTP→stdio"
            ]
        );
        assert!(page.contains("| for reference | measured | from |"));
        assert!(page.contains(
            "| HTTP c=32: gateway throughput vs the floor | 1 × | http.c32 / http-floor.c32 |"
        ));
        assert!(
            page.contains(
                "| TCP floor (splice) c=32: throughput vs direct | 1 × | tcp-floor.c32 |"
            )
        );
        assert!(page.contains("**TCP floor**"), "{page}");
    }

    #[test]
    fn rounds_with_a_least_duration_say_so_and_count_the_fewest_calls() {
        use super::super::results::fixture::{report, results};
        let mut r = results(&[("http", 32, 1.0, 1.0), ("stdio", 32, 1.0, 1.0)]);
        let page = render(&r, None);
        assert!(
            page.contains("100 measured calls per cell, in 1 alternating"),
            "{page}"
        );
        // Rounds that went on past their count: the fewest calls any round measured.
        r.round_min_ms = 250;
        let mut fast = report(1.0, 0.1);
        fast.calls = 9_000;
        let mut slow = report(1.0, 0.1);
        slow.calls = 4_200;
        r.transport[1].direct_rounds = vec![fast.clone(), fast.clone()];
        r.transport[1].gateway_rounds = vec![slow, fast];
        let page = render(&r, None);
        assert!(
            page.contains("each of at least 100 calls and at least 250 ms"),
            "{page}"
        );
        r.transport.remove(0);
        let page = render(&r, None);
        assert!(
            page.contains(
                "2 alternating direct/gateway round(s) per cell, each of at least 4,200 calls"
            ),
            "{page}"
        );
    }

    #[test]
    fn a_run_without_a_floor_renders_without_reference_lines() {
        let r = super::super::results::fixture::results(&[("http", 32, 2.0, 1.0)]);
        let page = render(&r, None);
        assert!(page.contains("| HTTP | 32 |"));
        assert!(!page.contains("for reference"));
        assert!(!page.contains("floor (bare"), "{page}");
        assert!(!page.contains("**HTTP floor**"), "{page}");
        assert!(!page.contains("(or floor's)"), "{page}");
        assert!(!page.contains("**TCP floor**"), "{page}");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(num(0.2), "0.2");
        assert_eq!(num(30.0), "30.0");
        assert_eq!(num(1234.0), "1234");
    }
}
