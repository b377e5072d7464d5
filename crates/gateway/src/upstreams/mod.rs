//! The upstreams at run time: a live registry keyed by stable ids.
//!
//! Everything that points at an upstream (catalog entries, tasks, isolated connections, sealed
//! `requestState`) holds its [`UpstreamId`], never a position: a registry that gains, loses or
//! replaces members at run time (a hot reload, the admin API) must not make an old pointer land
//! on another upstream. The registry is an `ArcSwap` snapshot, so the request path reads it
//! without a lock; changes copy the small member list and swap it in.
//!
//! Beside the registry live the pieces of an upstream's life: [`upstream`] (one upstream: its
//! config, shared connection, lists, health), [`supervisor`] (connect, list, publish, reconnect
//! with backoff, keep-alive pings, replaying shared state), [`lists`] (fetching an upstream's
//! lists), [`publish`] (rebuilding the catalog), [`messages`] (what to do with an upstream message no request claimed), [`shared`]
//! (the state many clients share on one upstream session: log level and subscriptions) and
//! [`isolated`] (the per-session connections of `session: isolated` upstreams); [`outbound`] turns config
//! into an HTTP upstream's egress policy and credential headers.

pub mod group;
pub mod isolated;
pub mod lists;
pub mod messages;
pub mod outbound;
pub mod publish;
pub mod shared;
pub mod supervisor;
pub mod upstream;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

pub use upstream::{Health, Upstream};

use switchboard_protocol::lock;

/// An upstream's stable identity: its configured name, shared (one allocation per upstream,
/// cloned by reference count). Two ids are equal when the names are.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamId(Arc<str>);

impl UpstreamId {
    pub fn new(name: &str) -> UpstreamId {
        UpstreamId(Arc::from(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, shared (what the audit record takes without copying it).
    pub fn shared(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Display for UpstreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UpstreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Borrow<str> for UpstreamId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// One snapshot of the registry: the members in config order (which decides who keeps a name
/// two upstreams both offer) and an index by id.
#[derive(Default)]
pub struct Members {
    order: Vec<Arc<Upstream>>,
    by_id: HashMap<UpstreamId, usize>,
}

impl Members {
    fn from_order(order: Vec<Arc<Upstream>>) -> Members {
        let by_id = order
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        Members { order, by_id }
    }

    /// The member with this id, if it is (still) registered.
    pub fn get(&self, id: &str) -> Option<&Arc<Upstream>> {
        self.by_id.get(id).map(|&i| &self.order[i])
    }

    /// Every member, in config order.
    pub fn iter(&self) -> std::slice::Iter<'_, Arc<Upstream>> {
        self.order.iter()
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The live set of upstreams.
#[derive(Default)]
pub struct Registry {
    members: ArcSwap<Members>,
    /// Serialises changes, so two concurrent edits cannot lose one another.
    edit: Mutex<()>,
}

impl Registry {
    pub fn new(order: Vec<Arc<Upstream>>) -> Registry {
        Registry {
            members: ArcSwap::from_pointee(Members::from_order(order)),
            edit: Mutex::new(()),
        }
    }

    /// The current members (a snapshot: later changes do not show in it).
    pub fn members(&self) -> Arc<Members> {
        self.members.load_full()
    }

    /// Whether every member had its first connection attempt.
    pub fn all_attempted(&self) -> bool {
        self.members.load().iter().all(|u| u.attempted())
    }

    /// The member with this id, if registered.
    pub fn get(&self, id: &str) -> Option<Arc<Upstream>> {
        self.members.load().get(id).cloned()
    }

    /// Adds `up`, or replaces the member with the same id (keeping its place in the order).
    /// Returns the member it replaced.
    pub fn upsert(&self, up: Arc<Upstream>) -> Option<Arc<Upstream>> {
        let _serial = lock(&self.edit);
        let now = self.members.load();
        let mut order = now.order.clone();
        let old = match now.by_id.get(&up.id) {
            Some(&i) => Some(std::mem::replace(&mut order[i], up)),
            None => {
                order.push(up);
                None
            }
        };
        self.members.store(Arc::new(Members::from_order(order)));
        old
    }

    /// Removes the member with this id; returns it.
    pub fn remove(&self, id: &str) -> Option<Arc<Upstream>> {
        let _serial = lock(&self.edit);
        let now = self.members.load();
        let &i = now.by_id.get(id)?;
        let mut order = now.order.clone();
        let old = order.remove(i);
        self.members.store(Arc::new(Members::from_order(order)));
        Some(old)
    }
}
