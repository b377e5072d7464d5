//! A run against a stored baseline: every metric more than 10% worse is a regression.

use std::collections::BTreeMap;

use super::results::{Better, Metric};

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

/// Metrics present in both runs that got worse by more than [`THRESHOLD`].
pub fn regressions(
    current: &BTreeMap<String, Metric>,
    baseline: &BTreeMap<String, Metric>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, now) in current {
        let Some(base) = baseline.get(k) else {
            continue;
        };
        if base.value <= 0.0 {
            continue;
        }
        let worse = match now.better {
            Better::Lower => now.value > base.value * (1.0 + THRESHOLD),
            Better::Higher => now.value < base.value * (1.0 - THRESHOLD),
        };
        if worse {
            out.push(Change {
                metric: k.clone(),
                baseline: base.value,
                current: now.value,
                percent: ((now.value / base.value - 1.0) * 1000.0).round() / 10.0,
            });
        }
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
    let w = changes.iter().map(|c| c.metric.len()).max().unwrap_or(0);
    for c in changes {
        s.push_str(&format!(
            "  {:w$}  {:>12} → {:>12}  ({:+.1}%)\n",
            c.metric, c.baseline, c.current, c.percent
        ));
    }
    s
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
}
