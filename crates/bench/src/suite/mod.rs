//! `switchboard-bench`: the one benchmark command, run by `scripts/bench`.
//!
//! It runs every measurement in turn — [`transport`] (direct vs gateway, HTTP and stdio, four
//! concurrencies, with a bare-proxy floor beside the gateway), [`memory`], [`startup`],
//! [`payload`] (1 MiB result), [`catalog`] (5,000 tools) and [`isolation`] (slow upstream beside
//! a fast one) and [`replay`] (an idempotent replay at c=1) — each starting its own upstreams and gateway ([`process`], [`config`]) and
//! driving `switchboard-load` ([`load`]). The results
//! ([`results`]) are checked against the issue's [`targets`], written as JSON and rendered
//! into `docs/performance.md` ([`markdown`]), and optionally compared with a baseline
//! ([`compare`]). Sizes come from the [`plan`]: full, or tiny for CI.

pub mod catalog;
pub mod compare;
pub mod config;
pub mod isolation;
pub mod jwt;
pub mod load;
pub mod machine;
pub mod markdown;
pub mod memory;
pub mod otlp_sink;
pub mod payload;
pub mod plan;
pub mod process;
pub mod replay;
pub mod results;
pub mod rounds;
pub mod startup;
pub mod targets;
pub mod transport;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use machine::Machine;
use plan::Plan;
use process::Layout;
use results::Results;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Case {
    Transport,
    Memory,
    Startup,
    BigResult,
    Catalog,
    Isolation,
    /// `tools/call` replayed from the idempotency store at c=1.
    HttpReplay,
}

const ALL_CASES: [Case; 7] = [
    Case::Transport,
    Case::Memory,
    Case::Startup,
    Case::BigResult,
    Case::Catalog,
    Case::Isolation,
    Case::HttpReplay,
];

#[derive(Debug, Parser)]
#[command(
    name = "switchboard-bench",
    version,
    about = "switchboard's benchmark suite: direct vs through the gateway, CPU, memory, start-up."
)]
pub struct Args {
    /// A few hundred calls per case and small catalogs: proves the suite works (CI), < 60 s.
    #[arg(long)]
    pub tiny: bool,
    /// Where switchboard, switchboard-echo, switchboard-floor and switchboard-load are.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Where latest.json goes (default: docs/bench for a full run, target/bench otherwise).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// The page to regenerate (default: docs/performance.md for a full run, target/bench/performance.md otherwise).
    #[arg(long)]
    pub doc: Option<PathBuf>,
    /// Compare with this stored run and print every metric more than 10% worse.
    #[arg(long, value_name = "BASELINE_JSON")]
    pub compare: Option<PathBuf>,
    /// Exit 1 when --compare finds regressions.
    #[arg(long, requires = "compare")]
    pub fail_on_regression: bool,
    /// Also store this run as baseline.json beside latest.json.
    #[arg(long)]
    pub save_baseline: bool,
    /// Run only these cases (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Case>,
    /// Worker threads of each load generator (1: current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub load_threads: usize,
    /// Run nothing: re-render the page (--doc, default docs/performance.md) from this stored run.
    #[arg(long, value_name = "RESULTS_JSON", conflicts_with_all = ["tiny", "only", "compare"])]
    pub render: Option<PathBuf>,
    /// Scratch directory for configs and logs.
    #[arg(long, default_value = "target/bench/run")]
    pub run_dir: PathBuf,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(stored) = &args.render {
        let text = std::fs::read_to_string(stored)
            .with_context(|| format!("reading {}", stored.display()))?;
        let mut r: Results =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", stored.display()))?;
        // Targets are re-judged, so a change to their wording or limits shows at once.
        r.targets = targets::check(&r);
        let doc = args
            .doc
            .clone()
            .unwrap_or_else(|| PathBuf::from("docs/performance.md"));
        let previous = std::fs::read_to_string(&doc).ok();
        std::fs::write(&doc, markdown::render(&r, previous.as_deref()))
            .with_context(|| format!("writing {}", doc.display()))?;
        eprintln!("rendered {} from {}", doc.display(), stored.display());
        return Ok(ExitCode::SUCCESS);
    }
    let t0 = Instant::now();
    let nofile = crate::rlimit::raise_nofile().context("raising the open-files limit")?;
    let layout = Layout {
        bin_dir: absolute(&args.bin_dir)?,
        run_dir: absolute(&args.run_dir)?,
    };
    for b in [
        "switchboard",
        "switchboard-echo",
        "switchboard-floor",
        "switchboard-load",
    ] {
        if !layout.bin(b).is_file() {
            bail!(
                "{} not found: build with `cargo build --release -p switchboard -p switchboard-bench`",
                layout.bin(b).display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&layout.run_dir);
    std::fs::create_dir_all(&layout.run_dir)?;
    let plan = if args.tiny {
        Plan::tiny(args.load_threads)
    } else {
        Plan::full(args.load_threads)
    };
    let partial = !args.only.is_empty();
    let cases: Vec<Case> = if partial {
        args.only.clone()
    } else {
        ALL_CASES.to_vec()
    };
    let official = !args.tiny && !partial;
    let out_dir = args.out_dir.clone().unwrap_or_else(|| {
        PathBuf::from(if official {
            "docs/bench"
        } else {
            "target/bench"
        })
    });
    let doc = args.doc.clone().unwrap_or_else(|| {
        if official {
            PathBuf::from("docs/performance.md")
        } else {
            out_dir.join("performance.md")
        }
    });
    eprintln!(
        "switchboard-bench: {} run, open-files limit {nofile}, binaries in {}",
        if args.tiny { "tiny" } else { "full" },
        layout.bin_dir.display()
    );

    let mut r = Results::empty(args.tiny, Machine::describe(&layout.gateway()));
    r.round_min_ms = plan.round_min_ms;
    let mut failures = Vec::new();
    for case in cases {
        let tc = Instant::now();
        eprintln!("▶ {case:?}");
        let outcome = match case {
            Case::Transport => transport::run(&layout, &plan).map(|v| r.transport = v),
            Case::Memory => memory::run(&layout, &plan).map(|v| r.memory = Some(v)),
            Case::Startup => startup::run(&layout, &plan).map(|v| r.startup = Some(v)),
            Case::BigResult => payload::run(&layout, &plan).map(|v| r.big_result = v),
            Case::Catalog => catalog::run(&layout, &plan).map(|v| r.catalog = Some(v)),
            Case::Isolation => isolation::run(&layout, &plan).map(|v| r.isolation = v),
            Case::HttpReplay => replay::run(&layout, &plan).map(|v| r.transport.push(v)),
        };
        match outcome {
            Ok(()) => eprintln!("  {case:?} done in {:.1} s", tc.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("  {case:?} FAILED: {e:#}");
                failures.push(format!("{case:?}: {e:#}"));
            }
        }
    }
    attach_load_memory(&mut r);
    r.targets = targets::check(&r);
    r.metrics = r.compute_metrics();
    r.elapsed_s = (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0;

    std::fs::create_dir_all(&out_dir)?;
    let json = serde_json::to_string_pretty(&r)? + "\n";
    let latest = out_dir.join("latest.json");
    std::fs::write(&latest, &json).with_context(|| format!("writing {}", latest.display()))?;
    if args.save_baseline {
        std::fs::write(out_dir.join("baseline.json"), &json)?;
    }
    let previous = std::fs::read_to_string(&doc).ok();
    if let Some(dir) = doc.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&doc, markdown::render(&r, previous.as_deref()))
        .with_context(|| format!("writing {}", doc.display()))?;

    eprintln!("\ntargets:");
    for t in &r.targets {
        eprintln!(
            "  {} {}: {} {} (limit {} {})",
            if t.met { "✅" } else { "❌" },
            t.target,
            t.value,
            t.unit,
            t.limit,
            t.unit
        );
    }
    let refs = targets::reference(&r);
    if !refs.is_empty() {
        eprintln!("for reference (not targets):");
        for x in &refs {
            eprintln!("  {}: {} {} ({})", x.what, x.value, x.unit, x.source);
        }
    }
    eprintln!(
        "\nwrote {} and {} in {:.1} s",
        latest.display(),
        doc.display(),
        r.elapsed_s
    );

    let mut regressed = false;
    if let Some(path) = &args.compare {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let base: Results =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if base.tiny != r.tiny {
            eprintln!(
                "note: comparing a {} run with a {} baseline; expect noise",
                if r.tiny { "tiny" } else { "full" },
                if base.tiny { "tiny" } else { "full" }
            );
        }
        let changes = compare::regressions(&r.metrics, &base.metrics);
        let compared = compare::compared(&r.metrics, &base.metrics);
        println!(
            "compared with {} ({}, commit {}):",
            path.display(),
            base.machine.date,
            base.machine.commit
        );
        print!("{}", compare::render(&changes, compared));
        print!(
            "{}",
            compare::render_floor(&compare::floor_moves(&r.metrics, &base.metrics))
        );
        regressed = !changes.is_empty();
    }
    if !failures.is_empty() {
        eprintln!("\n{} case(s) failed:", failures.len());
        for f in &failures {
            eprintln!("  {f}");
        }
        return Ok(ExitCode::FAILURE);
    }
    if regressed && args.fail_on_regression {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Memory under load: the peak during the HTTP run at the highest concurrency.
fn attach_load_memory(r: &mut Results) {
    let Some(mem) = r.memory.as_mut() else { return };
    let peak = r
        .transport
        .iter()
        .filter(|c| c.path == "http")
        .max_by_key(|c| c.concurrency)
        .and_then(|c| {
            c.gateway
                .server
                .as_ref()
                .map(|s| (c.concurrency, s.rss_kib_max))
        });
    if let Some((c, kib)) = peak {
        mem.under_load_kib = kib;
        mem.under_load_run = format!("HTTP c={c}");
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}
