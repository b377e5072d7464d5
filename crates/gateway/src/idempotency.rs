//! Idempotent writes: a `tools/call` with an idempotency key (the `Idempotency-Key` header, or
//! `_meta` `io.github.switchboard-mcp/idempotencyKey`) is answered at most once per (principal,
//! product, tool, key); a product may require keys or turn them off (`idempotency:`). The result is stored with a SHA-256 of the call's canonical arguments:
//!
//! - the same key with the same arguments replays the stored result without calling the
//!   upstream, marked `_meta["io.github.switchboard-mcp/idempotentReplay"] = true` (and, over
//!   HTTP, the `Idempotent-Replayed: true` header);
//! - the same key with other arguments is a conflict (-31030, HTTP 409,
//!   `data.category` `idempotency_conflict`);
//! - the same key while the first call still runs is `idempotency_in_flight` (-31031, HTTP
//!   409): never a second upstream call.
//!
//! Only completed calls are stored: a result from the upstream (an `isError` result included:
//! the tool ran). A call that failed on the way (timeout, transport error, refusal, cancel)
//! leaves nothing, so the client may retry it. Entries expire after `idempotency.ttl`; at most
//! `idempotency.max_entries` are kept, the oldest going first. One replica keeps its own store;
//! the store is behind [`Store`] so a shared one (Redis) can take its place.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_config::IdempotencyConfig;
use switchboard_protocol::lock;
use switchboard_protocol::{ErrorCode, RpcError};

/// The `_meta` key a replayed result carries.
pub const REPLAY_META_KEY: &str = "io.github.switchboard-mcp/idempotentReplay";

/// A stored call's result is replayed (-) or refused.
pub const CONFLICT: ErrorCode = ErrorCode(-31030);
pub const IN_FLIGHT: ErrorCode = ErrorCode(-31031);
/// A product with `idempotency: required` got a call without a key (HTTP 400).
pub const KEY_REQUIRED: ErrorCode = ErrorCode(-31032);

/// The refusal of a keyless call where the product requires a key.
pub fn key_required(tool: &str) -> RpcError {
    RpcError::new(
        KEY_REQUIRED,
        format!(
            "this product requires an idempotency key for {tool}: send an Idempotency-Key header (or _meta {}) with 1 to 255 printable ASCII characters",
            crate::pipeline::IDEMPOTENCY_META_KEY
        ),
    )
    .with_str("tool", tool)
}

enum State {
    Running,
    Done(Arc<str>),
}

struct Entry {
    args: [u8; 32],
    state: State,
    at: Instant,
}

/// What the idempotency stage decided for one call.
pub(crate) enum Decision {
    /// Call the upstream; store its result through the claim.
    Claimed(Claim),
    /// Answer with this stored result (raw JSON), calling nothing.
    Replay(Arc<str>),
}

/// Where results stored under idempotency keys live.
pub struct Store {
    cfg: IdempotencyConfig,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Arc<str>, Entry>,
    /// Keys in insertion order, for expiry and the size cap.
    order: VecDeque<Arc<str>>,
}

impl Store {
    pub fn new(cfg: IdempotencyConfig) -> Store {
        Store {
            cfg,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Looks up `key` (already scoped to principal, product and tool) for a call with
    /// `arguments`.
    pub(crate) fn begin(
        self: &Arc<Self>,
        key: String,
        arguments: Option<&str>,
    ) -> Result<Decision, RpcError> {
        let args = args_hash(arguments);
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        self.expire(&mut inner, now);
        let key: Arc<str> = key.into();
        if let Some(e) = inner.map.get(&key) {
            if e.args != args {
                return Err(RpcError::new(
                    CONFLICT,
                    "this idempotency key was used with other arguments; use a new key for a new call",
                ));
            }
            return match &e.state {
                State::Running => Err(RpcError::new(
                    IN_FLIGHT,
                    "a call with this idempotency key is still running; retry after it completes",
                )),
                State::Done(result) => Ok(Decision::Replay(result.clone())),
            };
        }
        while inner.map.len() >= self.cfg.max_entries {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
        inner.map.insert(
            key.clone(),
            Entry {
                args,
                state: State::Running,
                at: now,
            },
        );
        inner.order.push_back(key.clone());
        Ok(Decision::Claimed(Claim {
            store: self.clone(),
            key: Some(key),
        }))
    }

    fn expire(&self, inner: &mut Inner, now: Instant) {
        while let Some(k) = inner.order.front() {
            let expired = match inner.map.get(k) {
                Some(e) => matches!(e.state, State::Done(_)) && now - e.at >= self.cfg.ttl,
                None => true,
            };
            if !expired {
                break;
            }
            let k = inner.order.pop_front().expect("front exists");
            inner.map.remove(&k);
        }
    }

    /// Results stored now (completed calls, running ones excluded).
    pub fn len(&self) -> usize {
        lock(&self.inner)
            .map
            .values()
            .filter(|e| matches!(e.state, State::Done(_)))
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long a stored result is kept.
    pub fn ttl(&self) -> Duration {
        self.cfg.ttl
    }
}

/// A running call's place under its key: [`Claim::complete`] stores its result; dropping it
/// without a result frees the key for a retry.
pub(crate) struct Claim {
    store: Arc<Store>,
    key: Option<Arc<str>>,
}

impl Claim {
    pub fn complete(mut self, result: &str) {
        let Some(key) = self.key.take() else { return };
        let mut inner = lock(&self.store.inner);
        if let Some(e) = inner.map.get_mut(&key) {
            e.state = State::Done(result.into());
            e.at = Instant::now();
        }
        // Its expiry counts from now: move it to the back of the order.
        if let Some(i) = inner.order.iter().position(|k| *k == key) {
            inner.order.remove(i);
        }
        inner.order.push_back(key);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut inner = lock(&self.store.inner);
            inner.map.remove(&key);
            if let Some(i) = inner.order.iter().position(|k| *k == key) {
                inner.order.remove(i);
            }
        }
    }
}

/// SHA-256 of the arguments in canonical form (object keys sorted, no insignificant space);
/// absent arguments hash as `{}`.
fn args_hash(arguments: Option<&str>) -> [u8; 32] {
    let canonical = arguments
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
        .map_or_else(|| "{}".to_owned(), |v| v.to_string());
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The stored result with the replay marker in its `_meta`.
pub(crate) fn marked(result: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(result) {
        Ok(serde_json::Value::Object(mut r)) => {
            let meta = r
                .entry("_meta")
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(m) = meta.as_object_mut() {
                m.insert(REPLAY_META_KEY.to_owned(), serde_json::Value::Bool(true));
            }
            serde_json::Value::Object(r).to_string()
        }
        _ => result.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max: usize, ttl_ms: u64) -> Arc<Store> {
        Arc::new(Store::new(IdempotencyConfig {
            ttl: Duration::from_millis(ttl_ms),
            max_entries: max,
        }))
    }

    #[test]
    fn canonical_arguments_hash_alike() {
        assert_eq!(
            args_hash(Some(r#"{"b":1,"a":[1,2]}"#)),
            args_hash(Some(r#"{ "a": [1, 2], "b": 1 }"#))
        );
        assert_ne!(args_hash(Some(r#"{"a":1}"#)), args_hash(Some(r#"{"a":2}"#)));
        assert_eq!(args_hash(None), args_hash(Some("{}")));
    }

    #[test]
    fn replay_conflict_in_flight_and_retry_after_failure() {
        let s = store(10, 60_000);
        let Ok(Decision::Claimed(c)) = s.begin("k".into(), Some(r#"{"x":1}"#)) else {
            panic!()
        };
        let e = s.begin("k".into(), Some(r#"{"x":1}"#)).err().unwrap();
        assert_eq!(e.code, IN_FLIGHT);
        let e = s.begin("k".into(), Some(r#"{"x":2}"#)).err().unwrap();
        assert_eq!(e.code, CONFLICT);
        c.complete(r#"{"content":[]}"#);
        let Ok(Decision::Replay(r)) = s.begin("k".into(), Some(r#"{ "x": 1 }"#)) else {
            panic!()
        };
        assert_eq!(&*r, r#"{"content":[]}"#);
        // A call that failed frees its key.
        let Ok(Decision::Claimed(c)) = s.begin("other".into(), None) else {
            panic!()
        };
        drop(c);
        assert!(matches!(
            s.begin("other".into(), None),
            Ok(Decision::Claimed(_))
        ));
    }

    #[test]
    fn entries_expire_and_the_oldest_go_past_the_cap() {
        let s = store(2, 30);
        for k in ["a", "b", "c"] {
            let Ok(Decision::Claimed(c)) = s.begin(k.into(), None) else {
                panic!()
            };
            c.complete("{}");
        }
        assert_eq!(s.len(), 2);
        assert!(
            matches!(s.begin("a".into(), None), Ok(Decision::Claimed(_))),
            "a was evicted"
        );
        assert!(
            matches!(s.begin("c".into(), None), Ok(Decision::Replay(_))),
            "c is kept"
        );
        let s = store(10, 30);
        let Ok(Decision::Claimed(c)) = s.begin("x".into(), None) else {
            panic!()
        };
        c.complete("{}");
        assert!(matches!(s.begin("x".into(), None), Ok(Decision::Replay(_))));
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(s.begin("x".into(), None), Ok(Decision::Claimed(_))),
            "x expired"
        );
    }

    #[test]
    fn a_replay_is_marked() {
        let m: serde_json::Value =
            serde_json::from_str(&marked(r#"{"content":[],"_meta":{"k":1}}"#)).unwrap();
        assert_eq!(m["_meta"][REPLAY_META_KEY], true);
        assert_eq!(m["_meta"]["k"], 1);
    }
}
