//! The config of what keeps calls to upstreams bounded: the gateway-wide `limits:` block and
//! each upstream's item filters (`tools:`, `prompts:`, `resources:`), per-tool timeouts,
//! `max_concurrency` and `breaker:`. Shapes as written, and how they resolve.

use std::time::Duration;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::model::{
    BreakerConfig, DEFAULT_BREAKER_FAILURES, DEFAULT_BREAKER_OPEN_FOR, DEFAULT_BREAKER_PROBES,
    DEFAULT_BREAKER_WINDOW, DEFAULT_HEALTH_FAILURES, DEFAULT_HEALTH_INTERVAL, DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_WAIT, GroupStrategy, HealthConfig, ItemFilter, LimitsConfig, Rate, Transport,
};
use crate::ordered_map::OrderedMap;
use crate::resolve::Resolver;
use crate::validate;

/// Longest a per-tool timeout may be (a call that long is a hang).
const MAX_TOOL_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsDoc {
    pub max_inflight: Option<Scalar>,
    pub max_queue: Option<Scalar>,
    pub max_wait: Option<Scalar>,
    pub rate: Option<RateDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateDoc {
    pub per_principal: Option<Scalar>,
    pub per_tool: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterDoc {
    #[serde(default)]
    pub allow: Vec<Scalar>,
    #[serde(default)]
    pub deny: Vec<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupDoc {
    #[serde(default)]
    pub members: Vec<Scalar>,
    pub strategy: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthDoc {
    pub interval: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub failures: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakerDoc {
    pub enabled: Option<Scalar>,
    pub consecutive_failures: Option<Scalar>,
    pub failure_rate: Option<Scalar>,
    pub window: Option<Scalar>,
    pub open_for: Option<Scalar>,
    pub half_open_calls: Option<Scalar>,
}

impl Resolver<'_> {
    pub(crate) fn limits(&self, doc: LimitsDoc) -> Result<LimitsConfig, ConfigError> {
        Ok(LimitsConfig {
            max_inflight: doc
                .max_inflight
                .as_ref()
                .map(|s| self.count("max_inflight", s))
                .transpose()?,
            max_queue: match &doc.max_queue {
                // Zero is meaningful here: refuse at once when full, never wait.
                Some(s) if self.text(s)? == "0" => 0,
                other => self.count_or("max_queue", other, DEFAULT_MAX_QUEUE)?,
            },
            max_wait: self.duration_or_zero("max_wait", &doc.max_wait, DEFAULT_MAX_WAIT)?,
            rate_per_principal: match doc.rate.as_ref().and_then(|r| r.per_principal.as_ref()) {
                Some(s) => Some(self.rate("per_principal", s)?),
                None => None,
            },
            rate_per_tool: match doc.rate.as_ref().and_then(|r| r.per_tool.as_ref()) {
                Some(s) => Some(self.rate("per_tool", s)?),
                None => None,
            },
        })
    }

    /// `N/s`, `N/m` or `N/h`: N requests per second, minute or hour (a burst of N).
    pub(crate) fn rate(&self, key: &str, scalar: &Scalar) -> Result<Rate, ConfigError> {
        let text = self.text(scalar)?;
        let parsed = text.split_once('/').and_then(|(n, per)| {
            let n = n.trim().parse::<u32>().ok().filter(|&n| n > 0)?;
            let per = match per.trim() {
                "s" => Duration::from_secs(1),
                "m" => Duration::from_secs(60),
                "h" => Duration::from_secs(3600),
                _ => return None,
            };
            Some(Rate { count: n, per })
        });
        parsed.ok_or_else(|| {
            self.error(
                scalar,
                format!(
                    "`{key}` must be a rate like `50/s`, `600/m` or `1000/h`, got `{}`",
                    text.escape_debug()
                ),
            )
        })
    }

    pub(crate) fn filter(
        &self,
        what: &str,
        doc: Option<FilterDoc>,
    ) -> Result<ItemFilter, ConfigError> {
        let Some(doc) = doc else {
            return Ok(ItemFilter::default());
        };
        Ok(ItemFilter {
            allow: self.plain_list(&format!("an allowed {what} glob"), &doc.allow)?,
            deny: self.plain_list(&format!("a denied {what} glob"), &doc.deny)?,
        })
    }

    pub(crate) fn tool_timeouts(
        &self,
        doc: Option<OrderedMap<Scalar, Scalar>>,
    ) -> Result<Vec<(String, Duration)>, ConfigError> {
        let mut out = Vec::new();
        for (tool, value) in doc.unwrap_or_default().0 {
            let name = self.checked(&tool, |t| validate::check_plain("a tool name", t))?;
            let timeout = self.duration_or("tool_timeouts", &Some(value), Duration::ZERO)?;
            if timeout > MAX_TOOL_TIMEOUT {
                return Err(self.error(&tool, "a tool timeout must not exceed 24h"));
            }
            out.push((name, timeout));
        }
        Ok(out)
    }

    pub(crate) fn group(&self, key: &Scalar, doc: GroupDoc) -> Result<Transport, ConfigError> {
        if doc.members.is_empty() {
            return Err(self.error(key, format!("group `{}` has no members", key.value)));
        }
        let members = doc
            .members
            .iter()
            .map(|m| self.checked(m, |t| validate::check_name("a group member", t)))
            .collect::<Result<Vec<_>, _>>()?;
        let strategy = match &doc.strategy {
            Some(s) => self.word(
                "strategy",
                s,
                &[
                    ("failover", GroupStrategy::Failover),
                    ("round_robin", GroupStrategy::RoundRobin),
                    ("least_inflight", GroupStrategy::LeastInflight),
                ],
            )?,
            None => GroupStrategy::default(),
        };
        Ok(Transport::Group { members, strategy })
    }

    pub(crate) fn health(&self, doc: Option<HealthDoc>) -> Result<HealthConfig, ConfigError> {
        let Some(doc) = doc else {
            return Ok(HealthConfig::default());
        };
        let interval = self.duration_or("interval", &doc.interval, DEFAULT_HEALTH_INTERVAL)?;
        let failures =
            self.count_or("failures", &doc.failures, DEFAULT_HEALTH_FAILURES as usize)?;
        Ok(HealthConfig {
            interval,
            // A check never waits past the next one by default.
            timeout: self.duration_or("timeout", &doc.timeout, interval)?,
            failures: u32::try_from(failures).map_err(|_| {
                self.error(
                    doc.failures.as_ref().expect("given"),
                    "`failures` is too large",
                )
            })?,
        })
    }

    pub(crate) fn breaker(&self, doc: BreakerDoc) -> Result<BreakerConfig, ConfigError> {
        let small = |key: &str, s: &Option<Scalar>, default: u32| -> Result<u32, ConfigError> {
            let n = self.count_or(key, s, default as usize)?;
            u32::try_from(n).map_err(|_| {
                self.error(
                    s.as_ref().expect("only a given value can be too large"),
                    format!("`{key}` is too large"),
                )
            })
        };
        let failure_rate_percent = match &doc.failure_rate {
            None => None,
            Some(s) => {
                let text = self.text(s)?;
                let percent = text
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<u8>().ok())
                    .filter(|p| (1..=100).contains(p));
                Some(percent.ok_or_else(|| {
                    self.error(
                        s,
                        format!(
                            "`failure_rate` must be a percentage from 1% to 100%, got `{}`",
                            text.escape_debug()
                        ),
                    )
                })?)
            }
        };
        Ok(BreakerConfig {
            enabled: match &doc.enabled {
                Some(s) => self.boolean("enabled", s)?,
                None => true,
            },
            consecutive_failures: small(
                "consecutive_failures",
                &doc.consecutive_failures,
                DEFAULT_BREAKER_FAILURES,
            )?,
            failure_rate_percent,
            window: small("window", &doc.window, DEFAULT_BREAKER_WINDOW)?,
            open_for: self.duration_or("open_for", &doc.open_for, DEFAULT_BREAKER_OPEN_FOR)?,
            half_open_calls: small(
                "half_open_calls",
                &doc.half_open_calls,
                DEFAULT_BREAKER_PROBES,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn upstream(extra: &str) -> Result<crate::UpstreamConfig, String> {
        let yaml =
            format!("upstreams:\n  a:\n    http: {{ url: \"http://127.0.0.1:1/mcp\" }}\n{extra}");
        parse(&yaml, "t.yaml", &|_| None)
            .map(|c| c.upstreams[0].clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn filters_timeouts_concurrency_and_breaker() {
        let u = upstream(
            "    tools: { allow: [\"get_*\"], deny: [\"get_secret\"] }\n    tool_timeouts: { slow: 2m }\n    max_concurrency: 4\n    breaker: { consecutive_failures: 3, failure_rate: 50%, window: 10, open_for: 5s }\n",
        )
        .unwrap();
        assert!(u.tools.permits("get_user"));
        assert!(!u.tools.permits("get_secret"));
        assert!(!u.tools.permits("delete_user"));
        assert!(u.prompts.permits("anything"));
        assert_eq!(
            u.tool_timeouts,
            vec![("slow".to_owned(), std::time::Duration::from_secs(120))]
        );
        assert_eq!(u.max_concurrency, Some(4));
        assert_eq!(u.breaker.consecutive_failures, 3);
        assert_eq!(u.breaker.failure_rate_percent, Some(50));
        assert_eq!(u.breaker.window, 10);
    }

    #[test]
    fn bad_values_point_at_their_line() {
        for (extra, want) in [
            (
                "    max_concurrency: 0\n",
                "t.yaml:4:22: `max_concurrency` must be greater than 0",
            ),
            (
                "    breaker: { failure_rate: 150% }\n",
                "failure_rate` must be a percentage",
            ),
            ("    tools: { allow: [\"\"] }\n", "must not be empty"),
            ("    tools: { permit: [x] }\n", "unknown field"),
            (
                "    tool_timeouts: { slow: 0s }\n",
                "must be greater than 0",
            ),
        ] {
            let e = upstream(extra).unwrap_err();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
    }

    #[test]
    fn rates() {
        let c = parse(
            "limits: { rate: { per_principal: 50/s, per_tool: 600/m } }\n",
            "t.yaml",
            &|_| None,
        )
        .unwrap();
        let p = c.limits.rate_per_principal.unwrap();
        assert_eq!((p.count, p.per), (50, std::time::Duration::from_secs(1)));
        assert_eq!(c.limits.rate_per_tool.unwrap().count, 600);
        let e = parse("limits: { rate: { per_tool: fast } }\n", "t.yaml", &|_| {
            None
        })
        .unwrap_err();
        assert!(e.to_string().contains("must be a rate like"), "{e}");
    }

    #[test]
    fn gateway_limits() {
        let c = parse(
            "limits: { max_inflight: 100, max_queue: 0, max_wait: 250ms }\n",
            "t.yaml",
            &|_| None,
        )
        .unwrap();
        assert_eq!(c.limits.max_inflight, Some(100));
        assert_eq!(c.limits.max_queue, 0);
        assert_eq!(c.limits.max_wait, std::time::Duration::from_millis(250));
        let d = parse("{}\n", "t.yaml", &|_| None).unwrap();
        assert_eq!(d.limits, crate::LimitsConfig::default());
    }
}
