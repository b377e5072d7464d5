//! The downstream sessions: where they are kept and how one is found.
//!
//! A [`Session`] has two halves: its durable [`SessionRecord`] (what the client negotiated and
//! asked for: revision, capabilities, principal, log level, subscriptions), which a shared store
//! could hold for another replica, and live state that only this process can hold (requests in
//! flight, server-to-client requests waiting, isolated upstream connections, the outbox, the
//! transport's own attachment such as an HTTP event store). Sessions are kept behind the
//! [`SessionStore`] trait; [`InMemory`] is the one implementation today, and a shared store
//! (Redis) is one more.

mod detached;
pub mod lifecycle;
pub mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use switchboard_protocol::lock;

pub use session::{ClientCaps, Session, SessionRecord};

/// Where sessions are kept.
pub trait SessionStore: Send + Sync {
    /// Adds a session unless `max` are kept already; false when full.
    /// Adds `session` unless the store holds `max` sessions, or `per_principal` of its
    /// principal's, already.
    fn insert_within(
        &self,
        session: Arc<Session>,
        max: usize,
        per_principal: usize,
    ) -> Result<(), Full>;
    fn get(&self, id: &str) -> Option<Arc<Session>>;
    fn remove(&self, id: &str) -> Option<Arc<Session>>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Calls `f` for every session (under the store's lock: `f` must not block or re-enter).
    fn for_each(&self, f: &mut dyn FnMut(&Arc<Session>));
    /// Takes every session out (at shutdown).
    fn drain(&self) -> Vec<Arc<Session>>;
}

/// Which limit a new session ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Gateway,
    Principal,
}

/// The sessions of this process, in a map.
#[derive(Default)]
pub struct InMemory {
    map: Mutex<HashMap<Arc<str>, Arc<Session>>>,
}

impl SessionStore for InMemory {
    fn insert_within(
        &self,
        session: Arc<Session>,
        max: usize,
        per_principal: usize,
    ) -> Result<(), Full> {
        let mut map = lock(&self.map);
        if map.len() >= max {
            return Err(Full::Gateway);
        }
        // Counted only when the store could hold that many at all (a scan under the lock, at
        // session creation only). The anonymous caller is everyone without a credential, not
        // one client: only the total bounds it.
        if map.len() >= per_principal && !session.record.principal.is_anonymous() {
            let principal = &session.record.principal;
            let held = map
                .values()
                .filter(|s| s.record.principal == *principal)
                .count();
            if held >= per_principal {
                return Err(Full::Principal);
            }
        }
        map.insert(session.id.clone(), session);
        Ok(())
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.map).get(id).cloned()
    }

    fn remove(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.map).remove(id)
    }

    fn len(&self) -> usize {
        lock(&self.map).len()
    }

    fn for_each(&self, f: &mut dyn FnMut(&Arc<Session>)) {
        lock(&self.map).values().for_each(f);
    }

    fn drain(&self) -> Vec<Arc<Session>> {
        lock(&self.map).drain().map(|(_, s)| s).collect()
    }
}

/// The session registry: the store, and the small numbers that tell sessions apart toward
/// upstreams.
pub struct Sessions {
    store: Box<dyn SessionStore>,
    next_key: AtomicU64,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::new(Box::new(InMemory::default()))
    }
}

impl Sessions {
    pub fn new(store: Box<dyn SessionStore>) -> Sessions {
        Sessions {
            store,
            next_key: AtomicU64::new(1),
        }
    }

    /// A fresh owner key (unique in this process) for a new session or a one-request caller.
    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    pub fn store(&self) -> &dyn SessionStore {
        &*self.store
    }

    /// Every session at this moment (for work that awaits per session).
    pub fn snapshot(&self) -> Vec<Arc<Session>> {
        let mut all = Vec::with_capacity(self.store.len());
        self.store.for_each(&mut |s| all.push(s.clone()));
        all
    }
}
