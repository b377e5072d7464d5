//! Publishing what upstreams offer: rebuilding the catalog from every upstream's current lists
//! and telling each session and listen which lists changed.

use std::sync::Arc;

use bytes::Bytes;
use switchboard_protocol::message::encode;

use crate::Gateway;
use crate::catalog::{Catalog, ListKind, Lists, Source};
use crate::view::{View, ViewKey};
use switchboard_protocol::lock;

impl Gateway {
    /// Rebuilds the catalog from every upstream's current lists and tells every session and
    /// listen whose view of it changed which lists did.
    pub(crate) fn rebuild_catalog(&self) {
        let _serial = lock(&self.state.rebuild);
        self.refresh_groups();
        let members = self.state.upstreams.members();
        // A group's members are served only through it.
        let grouped: Vec<&str> = members
            .iter()
            .filter_map(|u| u.group())
            .flat_map(|(names, _)| names.iter().map(String::as_str))
            .collect();
        let lists: Vec<Option<Arc<Lists>>> = members
            .iter()
            .map(|u| {
                if grouped.contains(&u.cfg.name.as_str()) {
                    None
                } else {
                    lock(&u.lists).clone()
                }
            })
            .collect();
        let sources: Vec<Source<'_>> = members
            .iter()
            .zip(&lists)
            .map(|(u, l)| Source {
                id: &u.id,
                prefix: &u.cfg.prefix,
                lists: l.as_deref(),
            })
            .collect();
        let mut new = Catalog::build(
            &sources,
            &self.state.config.namespace_separator,
            self.next_generation(),
        );
        new.policy = Arc::new(crate::policy::Policy::compile(
            members.iter().map(|u| &u.cfg),
            &self.state.config.auth.roles,
        ));
        new.products = self.state.products.load_full();
        let new = Arc::new(new);
        let old = self.state.catalog.swap(new.clone());
        // Reported once, when an item starts being withheld (rebuilds happen often).
        for w in new.withheld.iter().filter(|w| !old.withheld.contains(w)) {
            tracing::warn!(upstream = %w.upstream, item = %w.name, kind = w.kind.key(), "withheld: {}", w.reason);
        }
        // What changed is a matter of each view: worked out once per view in use. A caller's
        // view in each catalog is keyed by what it holds of that catalog's policy.
        let mut changes: Vec<((ViewKey, ViewKey), Vec<&'static str>)> = Vec::new();
        let mut changed_between = |before_key: ViewKey, after_key: ViewKey| -> Vec<&'static str> {
            let pair = (before_key, after_key);
            if let Some((_, c)) = changes.iter().find(|(k, _)| *k == pair) {
                return c.clone();
            }
            let before = View::build(old.clone(), before_key);
            let after = self.state.views.get(&new, after_key);
            let mut sent = Vec::new();
            for kind in ListKind::ALL {
                let n = kind.changed_notification();
                if !sent.contains(&n) && before.differs(&after, kind) {
                    sent.push(n);
                }
            }
            changes.push((pair, sent.clone()));
            sent
        };
        for s in self.state.sessions.snapshot() {
            let p = &s.record.principal;
            let before = s.record.view.with_held(old.policy.held(p));
            let after = s.record.view.with_held(new.policy.held(p));
            for n in changed_between(before, after) {
                s.push(Bytes::from(encode::notification(n, None)));
            }
        }
        let mut changed_in = |key: ViewKey| changed_between(key, key);
        self.state.listeners.list_changed(&mut changed_in);
    }
}
