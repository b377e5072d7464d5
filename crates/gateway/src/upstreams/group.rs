//! Groups: an upstream of kind `group` whose `members` are other upstreams serving the same
//! tools. The group's catalog is what every live member offers (tools and prompts by name,
//! each item as its first member lists it); members are served only through their group. A
//! call to the group goes to one member, picked by the group's strategy, and moves to the next
//! member only when that cannot repeat a side effect: the failure happened before the request
//! reached the member (no connection, breaker open, limit full), or the tool is annotated
//! `readOnlyHint` or `idempotentHint`. Otherwise the member's error is the caller's.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchboard_config::GroupStrategy;
use switchboard_protocol::{ErrorCode, Message, RpcError, object};

use super::Upstream;
use super::upstream::Health;
use crate::catalog::{ListKind, Lists};
use crate::pipeline::{Cx, Outcome};
use crate::{Gateway, error};
use switchboard_protocol::lock;

/// A group's lists, from its members' current ones, and the members that disagree with them.
pub(crate) fn common_lists(members: &[Arc<Upstream>]) -> (Option<Lists>, Vec<String>) {
    let current: Vec<(&Arc<Upstream>, Arc<Lists>)> = members
        .iter()
        .filter_map(|m| lock(&m.lists).clone().map(|l| (m, l)))
        .collect();
    let Some((_, first)) = current.first() else {
        return (None, Vec::new());
    };
    let names = |items: &[Box<str>]| -> BTreeSet<String> {
        items
            .iter()
            .filter_map(|raw| object::get_str(raw, "name").map(|n| n.into_owned()))
            .collect()
    };
    // Each member's names, once.
    let sets: Vec<[BTreeSet<String>; 2]> = current
        .iter()
        .map(|(_, l)| [names(&l.tools), names(&l.prompts)])
        .collect();
    let mut common = sets[0].clone();
    for set in &sets[1..] {
        for (c, s) in common.iter_mut().zip(set) {
            c.retain(|n| s.contains(n));
        }
    }
    let disagree = current
        .iter()
        .zip(&sets)
        .filter(|(_, set)| **set != common)
        .map(|((m, _), _)| m.cfg.name.clone())
        .collect();
    let keep = |items: &[Box<str>], set: &BTreeSet<String>| -> Vec<Box<str>> {
        items
            .iter()
            .filter(|raw| object::get_str(raw, "name").is_some_and(|n| set.contains(n.as_ref())))
            .cloned()
            .collect()
    };
    let lists = Lists {
        tools: keep(&first.tools, &common[0]),
        prompts: keep(&first.prompts, &common[1]),
        hints: [first.hints[0], first.hints[1], None, None],
        ..Lists::default()
    };
    (Some(lists), disagree)
}

/// Whether a failed call to a member can move to the next one.
fn moves_on(e: &RpcError, retry_safe: bool) -> bool {
    match e.code {
        // It never reached the member.
        ErrorCode::OVERLOADED | ErrorCode::CIRCUIT_OPEN | ErrorCode::UPSTREAM_UNAVAILABLE => true,
        // It may have: only a call that cannot repeat a side effect goes again.
        ErrorCode::UPSTREAM_TIMEOUT | ErrorCode::UPSTREAM_CLOSED | ErrorCode::UPSTREAM_PROTOCOL => {
            retry_safe
        }
        _ => false,
    }
}

/// Whether a tool's definition says calling it again repeats no side effect.
fn retry_safe(lists: Option<&Lists>, kind: ListKind, name: &str) -> bool {
    let Some(lists) = lists else { return false };
    let items = match kind {
        ListKind::Tools => &lists.tools,
        _ => return false,
    };
    items
        .iter()
        .find(|raw| object::get_str(raw, "name").is_some_and(|n| n == name))
        .and_then(|raw| object::get(raw, "annotations"))
        .is_some_and(|a| {
            object::get(a, "readOnlyHint") == Some("true")
                || object::get(a, "idempotentHint") == Some("true")
        })
}

impl Gateway {
    /// Refreshes every group's lists and health from its members; called before each catalog
    /// rebuild.
    pub(crate) fn refresh_groups(&self) {
        let registry = self.state.upstreams.members();
        for group in registry.iter() {
            let Some((names, _)) = group.group() else {
                continue;
            };
            let members: Vec<Arc<Upstream>> = names
                .iter()
                .filter_map(|n| registry.get(n).cloned())
                .collect();
            let (lists, disagree) = common_lists(&members);
            let health = if members.iter().any(|m| m.health() == Health::Ready) {
                Health::Ready
            } else if members.iter().any(|m| m.health() == Health::Cold) {
                Health::Cold
            } else {
                Health::Failed
            };
            let why = (health == Health::Failed).then(|| "no member is serving".to_owned());
            group.set_health(health, why);
            *lock(&group.lists) = lists.map(Arc::new);
            *lock(&group.disagreeing) = disagree;
        }
    }

    /// Members of `group` in the order a call tries them.
    fn candidates(
        &self,
        group: &Upstream,
        names: &[String],
        strategy: GroupStrategy,
    ) -> Vec<Arc<Upstream>> {
        let registry = self.state.upstreams.members();
        let mut members: Vec<Arc<Upstream>> = names
            .iter()
            .filter_map(|n| registry.get(n).cloned())
            .collect();
        match strategy {
            GroupStrategy::Failover => {}
            GroupStrategy::RoundRobin => {
                let n = members.len().max(1);
                let start = group.turn.fetch_add(1, Ordering::Relaxed) % n;
                members.rotate_left(start);
            }
            GroupStrategy::LeastInflight => {
                members.sort_by_key(|m| m.active.load(Ordering::Relaxed));
            }
        }
        // Members that are down, starting or losing their connection go last: a call should
        // not wait on a restart while another member serves. (A cold one can start on demand.)
        members.sort_by_key(|m| match m.health() {
            Health::Cold => false,
            Health::Ready | Health::Degraded => m.connection().is_none(),
            Health::Failed | Health::Starting => true,
        });
        members
    }

    /// [`Gateway::forward`] for a group: one member, then the next only when it is safe.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn forward_group(
        &self,
        cx: &Cx<'_>,
        group: &Arc<Upstream>,
        names: &[String],
        strategy: GroupStrategy,
        method: &str,
        params: Option<&str>,
        original: &Message,
        timeout: Option<Duration>,
    ) -> Result<Outcome, RpcError> {
        let kind = match method {
            "tools/call" => ListKind::Tools,
            _ => ListKind::Prompts,
        };
        let name = params
            .and_then(|p| object::get_str(p, "name"))
            .unwrap_or_default();
        let safe = retry_safe(lock(&group.lists).as_deref(), kind, &name);
        let mut last = None;
        for member in self.candidates(group, names, strategy) {
            let out = Box::pin(self.forward(cx, &member, method, params, original, timeout)).await;
            let next = match &out {
                Err(e) => moves_on(e, safe),
                // A transport's failure reported as an error response (an HTTP member's 5xx)
                // reached the member: only a call that is safe to repeat goes on.
                Ok(Outcome::Upstream(m)) => safe && crate::resilience::is_failure_response(m),
                Ok(_) => false,
            };
            if !next {
                return out;
            }
            tracing::info!(
                group = group.name(),
                member = member.name(),
                "group member failed; trying the next"
            );
            last = Some(out);
        }
        last.unwrap_or_else(|| {
            Err(error::upstream_down(
                group.name(),
                Some("no member is serving"),
            ))
        })
    }
}
