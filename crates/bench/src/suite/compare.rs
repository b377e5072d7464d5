//! A run against a stored baseline: every gateway metric more than 10% worse is a regression.
//!
//! The floor's metrics (`switchboard-floor` in the gateway's place, [`is_floor_metric`]) are not
//! the gateway's and never count as regressions; they are listed apart when they moved, since a
//! floor that moved says the machine or kernel changed, not the gateway.

use std::collections::BTreeMap;

use super::results::{Better, Metric, is_floor_metric};

/// Worse by more than this fraction is a regression.
pub const THRESHOLD: f64 = 0.10;

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// Signed change in percent (positive: the value went up).
    pub percent: f64,
}

/// Gateway metrics present in both runs that got worse by more than [`THRESHOLD`].
pub fn regressions(
    current: &BTreeMap<String, Metric>,
    baseline: &BTreeMap<String, Metric>,
) -> Vec<Change> {
    changes(current, baseline, |k, now, base| {
        !is_floor_metric(k)
            && match now.better {
                Better::Lower => now.value > base * (1.0 + THRESHOLD),
                Better::Higher => now.value < base * (1.0 - THRESHOLD),
            }
    })
}

/// Floor metrics present in both runs that moved by more than [`THRESHOLD`], either way.
pub fn floor_moves(
    current: &BTreeMap<String, Metric>,
    baseline: &BTreeMap<String, Metric>,
) -> Vec<Change> {
    changes(current, baseline, |k, now, base| {
        is_floor_metric(k) && (now.value - base).abs() > base * THRESHOLD
    })
}

/// How many gateway metrics both runs have (what [`regressions`] looked at).
pub fn compared(current: &BTreeMap<String, Metric>, baseline: &BTreeMap<String, Metric>) -> usize {
    current
        .keys()
        .filter(|k| !is_floor_metric(k) && baseline.contains_key(*k))
        .count()
}

/// Metrics present in both runs (with a positive baseline) for which `pick(key, now, baseline)`.
fn changes(
    current: &BTreeMap<String, Metric>,
    baseline: &BTreeMap<String, Metric>,
    pick: impl Fn(&str, &Metric, f64) -> bool,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, now) in current {
        let Some(base) = baseline.get(k) else {
            continue;
        };
        if base.value <= 0.0 || !pick(k, now, base.value) {
            continue;
        }
        out.push(Change {
            metric: k.clone(),
            baseline: base.value,
            current: now.value,
            percent: ((now.value / base.value - 1.0) * 1000.0).round() / 10.0,
        });
    }
    out
}

/// The regressions as a plain-text table.
pub fn render(changes: &[Change], compared: usize) -> String {
    if changes.is_empty() {
        return format!(
            "no regressions (> {:.0}% worse) among {compared} metrics\n",
            THRESHOLD * 100.0
        );
    }
    let mut s = format!(
        "{} regression(s) (> {:.0}% worse) among {compared} metrics:\n",
        changes.len(),
        THRESHOLD * 100.0
    );
    table(&mut s, changes);
    s
}

/// The floor's moves as a plain-text table; empty when it held.
pub fn render_floor(moves: &[Change]) -> String {
    if moves.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "for reference, the floor (switchboard-floor, not the gateway) moved > {:.0}% on {} \
         metric(s); whatever moved it (the machine, the kernel, noise) moved the gateway's too:\n",
        THRESHOLD * 100.0,
        moves.len()
    );
    table(&mut s, moves);
    s
}

fn table(s: &mut String, changes: &[Change]) {
    let w = changes.iter().map(|c| c.metric.len()).max().unwrap_or(0);
    for c in changes {
        s.push_str(&format!(
            "  {:w$}  {:>12} → {:>12}  ({:+.1}%)\n",
            c.metric, c.baseline, c.current, c.percent
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, f64, Better)]) -> BTreeMap<String, Metric> {
        pairs
            .iter()
            .map(|(k, v, b)| {
                (
                    (*k).to_owned(),
                    Metric {
                        value: *v,
                        better: *b,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn flags_only_real_regressions() {
        let base = m(&[
            ("lat", 1.0, Better::Lower),
            ("tput", 1000.0, Better::Higher),
            ("ok", 1.0, Better::Lower),
            ("gone", 1.0, Better::Lower),
        ]);
        let now = m(&[
            ("lat", 1.2, Better::Lower),
            ("tput", 850.0, Better::Higher),
            ("ok", 1.05, Better::Lower),
            ("new", 9.0, Better::Lower),
        ]);
        let r = regressions(&now, &base);
        let names: Vec<&str> = r.iter().map(|c| c.metric.as_str()).collect();
        assert_eq!(names, ["lat", "tput"]);
        assert_eq!(r[0].percent, 20.0);
        assert_eq!(r[1].percent, -15.0);
        assert!(render(&r, 3).contains("2 regression(s)"));
        assert!(render(&[], 3).starts_with("no regressions"));
    }

    #[test]
    fn a_floor_that_moved_is_no_gateway_regression() {
        let base = m(&[
            (
                "transport.http.c32.gateway.throughput_per_s",
                1000.0,
                Better::Higher,
            ),
            (
                "transport.http-floor.c32.floor.throughput_per_s",
                2000.0,
                Better::Higher,
            ),
            (
                "transport.http-floor.c32.throughput_ratio",
                0.5,
                Better::Higher,
            ),
            ("transport.stdio-floor.c1.floor.p50_ms", 0.1, Better::Lower),
        ]);
        let now = m(&[
            (
                "transport.http.c32.gateway.throughput_per_s",
                980.0,
                Better::Higher,
            ),
            (
                "transport.http-floor.c32.floor.throughput_per_s",
                1500.0,
                Better::Higher,
            ),
            (
                "transport.http-floor.c32.throughput_ratio",
                0.6,
                Better::Higher,
            ),
            (
                "transport.stdio-floor.c1.floor.p50_ms",
                0.105,
                Better::Lower,
            ),
        ]);
        assert!(regressions(&now, &base).is_empty());
        assert_eq!(compared(&now, &base), 1);
        let moves = floor_moves(&now, &base);
        let names: Vec<&str> = moves.iter().map(|c| c.metric.as_str()).collect();
        // Either way: a floor that got faster moved the machine as much as one that got slower.
        assert_eq!(
            names,
            [
                "transport.http-floor.c32.floor.throughput_per_s",
                "transport.http-floor.c32.throughput_ratio"
            ]
        );
        assert!(render_floor(&moves).contains("not the gateway"));
        assert_eq!(render_floor(&[]), "");
    }
}
