//! Tasks (MCP 2025-11-25): long-running requests a client polls instead of waiting on.
//!
//! An upstream's task id is only unique within that upstream, and a client must never be able to
//! reach another client's task by guessing. So every task created through the gateway gets a
//! gateway id — 128 random bits — bound to the session that created it and mapped to the upstream
//! and the upstream's own id. `tasks/get`, `tasks/result` and `tasks/cancel` resolve the id only
//! for its owner (anyone else gets "unknown task", never "not yours"); `tasks/list` shows a client
//! its own tasks only; status notifications and `related-task` metadata are mapped back on the way
//! to the owner. Upstream ids are only unique within one upstream session (isolated sessions each
//! have their own; a restarted upstream starts counting again), so the table is keyed by the
//! connection as well. Entries live as long as their session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_protocol::object::{self, Edit};

use crate::upstreams::UpstreamId;
use switchboard_protocol::lock;

/// The `_meta` key that ties a message to a task.
pub const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

#[derive(Debug, Clone)]
struct Task {
    session: Arc<str>,
    upstream: UpstreamId,
    /// The serial of the upstream connection that created it.
    conn: u64,
    upstream_id: Box<str>,
}

/// Every task created through the gateway.
#[derive(Debug, Default)]
pub struct Tasks {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<Arc<str>, Task>,
    by_upstream: HashMap<(u64, Box<str>), Arc<str>>,
}

impl Tasks {
    /// Records a task the upstream created for `session`; returns its gateway id (the same id
    /// again if the upstream reports the same task twice).
    pub fn register(
        &self,
        session: &Arc<str>,
        upstream: &UpstreamId,
        conn: u64,
        upstream_id: &str,
    ) -> Arc<str> {
        let mut i = lock(&self.inner);
        if let Some(id) = i.by_upstream.get(&(conn, upstream_id.into())) {
            return id.clone();
        }
        let id = crate::token::random::<16>("sbt-");
        i.by_upstream.insert((conn, upstream_id.into()), id.clone());
        i.by_id.insert(
            id.clone(),
            Task {
                session: session.clone(),
                upstream: upstream.clone(),
                conn,
                upstream_id: upstream_id.into(),
            },
        );
        id
    }

    /// The upstream, connection serial and upstream id of a task, if `session` owns it.
    pub fn resolve(&self, id: &str, session: &str) -> Option<(UpstreamId, u64, Box<str>)> {
        let i = lock(&self.inner);
        let t = i.by_id.get(id)?;
        (&*t.session == session).then(|| (t.upstream.clone(), t.conn, t.upstream_id.clone()))
    }

    /// The gateway id and owning session of a task of connection `conn`.
    pub fn owner(&self, conn: u64, upstream_id: &str) -> Option<(Arc<str>, Arc<str>)> {
        let i = lock(&self.inner);
        let id = i.by_upstream.get(&(conn, upstream_id.into()))?;
        let t = i.by_id.get(id)?;
        Some((id.clone(), t.session.clone()))
    }

    /// The upstreams where `session` has tasks.
    pub fn upstreams_of(&self, session: &str) -> Vec<UpstreamId> {
        let i = lock(&self.inner);
        let mut ups: Vec<UpstreamId> = i
            .by_id
            .values()
            .filter(|t| &*t.session == session)
            .map(|t| t.upstream.clone())
            .collect();
        ups.sort_unstable();
        ups.dedup();
        ups
    }

    /// Drops every task of a session that ended.
    pub fn forget_session(&self, session: &str) {
        let mut i = lock(&self.inner);
        let gone: Vec<Arc<str>> = i
            .by_id
            .iter()
            .filter(|(_, t)| &*t.session == session)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(t) = i.by_id.remove(&id) {
                i.by_upstream.remove(&(t.conn, t.upstream_id));
            }
        }
    }
}

/// A task object (`{"taskId":…,"status":…}`) with its id replaced.
pub fn with_task_id(task: &str, id: &str) -> Option<String> {
    object::edit(task, &[("taskId", Edit::Set(&object::json_string(id)))])
}

/// `params` or a result whose `_meta` names a related task, with that task id mapped by `map`.
/// `None` when there is nothing to map.
pub fn map_related_task(raw: &str, map: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    let meta = object::get(raw, "_meta")?;
    let related = object::get(meta, RELATED_TASK)?;
    let upstream_id = object::get_str(related, "taskId")?;
    let mapped = map(&upstream_id)?;
    let related2 = with_task_id(related, &mapped)?;
    let meta2 = object::edit(meta, &[(RELATED_TASK, Edit::Set(&related2))])?;
    object::edit(raw, &[("_meta", Edit::Set(&meta2))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bound_to_their_session() {
        let t = Tasks::default();
        let a: Arc<str> = "session-a".into();
        let up = UpstreamId::new("time");
        let id = t.register(&a, &up, 9, "up-1");
        assert!(id.starts_with("sbt-") && id.len() == 36);
        assert_eq!(t.register(&a, &up, 9, "up-1"), id);
        assert_eq!(
            t.resolve(&id, "session-a"),
            Some((up.clone(), 9, "up-1".into()))
        );
        assert_eq!(t.resolve(&id, "session-b"), None);
        assert_eq!(t.owner(9, "up-1").map(|o| o.1), Some(a.clone()));
        // The same upstream id from another connection (an isolated session, a restart) is
        // another task, never the first session's.
        let b: Arc<str> = "session-b".into();
        let other = t.register(&b, &up, 10, "up-1");
        assert_ne!(other, id);
        assert_eq!(t.resolve(&other, "session-a"), None);
        assert_eq!(t.owner(10, "up-1").map(|o| o.1), Some(b));
        t.forget_session("session-a");
        assert_eq!(t.resolve(&id, "session-a"), None);
        assert_eq!(t.owner(9, "up-1"), None);
    }

    #[test]
    fn related_task_metadata_is_mapped_in_place() {
        let p = r#"{"message":"m","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"up-1"},"x":1}}"#;
        let out = map_related_task(p, |id| (id == "up-1").then(|| "sbt-x".to_owned())).unwrap();
        assert_eq!(
            out,
            r#"{"message":"m","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"sbt-x"},"x":1}}"#
        );
        assert!(map_related_task(r#"{"a":1}"#, |_| Some("x".into())).is_none());
    }
}
