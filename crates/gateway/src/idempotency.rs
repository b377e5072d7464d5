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
//! `idempotency.max_entries` entries and `idempotency.max_bytes` of stored results are kept,
//! the oldest completed going first. One replica keeps its own store ([`MemoryStore`]); stores
//! are behind [`ResultStore`] so a shared one (Redis) can take its place. The stage asks the
//! store only for calls that carry a key.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use switchboard_config::IdempotencyConfig;
use switchboard_protocol::lock;
use switchboard_protocol::{ErrorCode, RpcError};

/// The `_meta` key a replayed result carries.
pub const REPLAY_META_KEY: &str = "io.github.switchboard-mcp/idempotentReplay";

/// A repeat refused: other arguments than the first call's, or the first call still running.
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

/// Where results stored under idempotency keys live. One replica keeps them in its memory
/// ([`MemoryStore`]); a store several replicas share (Redis) implements the same trait. Keys
/// arrive scoped (principal, product, tool, key) and arguments as the SHA-256 of their
/// canonical JSON. Only calls that carry a key reach a store.
pub trait ResultStore: Send + Sync {
    /// Claims `key` for a call with `args`, or answers from what is stored: a result to replay,
    /// or a refusal (other arguments: a conflict; the first call still running: in flight).
    fn begin<'a>(&'a self, key: &'a str, args: [u8; 32]) -> BoxFuture<'a, Result<Begun, RpcError>>;
    /// Stores the result of a completed call that claimed `key`.
    fn complete<'a>(&'a self, key: &'a str, result: &'a str) -> BoxFuture<'a, ()>;
    /// Frees a claimed key whose call did not complete, so the client may retry. Called when a
    /// claim is dropped: it must not wait.
    fn abandon(&self, key: &str);
    /// Results stored now.
    fn stored(&self) -> usize;
}

/// What a store says to a call with a key.
pub enum Begun {
    /// The key is this call's: call the upstream, then complete (or drop) the claim.
    Claimed,
    /// A completed call with this key and these arguments: its result (raw JSON).
    Replay(Arc<str>),
}

/// What the idempotency stage decided for one call.
pub(crate) enum Decision {
    /// Call the upstream; store its result through the claim.
    Claimed(Claim),
    /// Answer with this stored result (raw JSON), calling nothing.
    Replay(Arc<str>),
}

/// A call with a key, before the store is asked: the scoped key and the arguments' hash.
pub(crate) struct Keyed {
    key: Arc<str>,
    args: [u8; 32],
}

impl Keyed {
    /// `key` already scoped to principal, product and tool.
    pub(crate) fn new(key: String, arguments: Option<&str>) -> Keyed {
        Keyed {
            key: key.into(),
            args: args_hash(arguments),
        }
    }

    /// Asks `store`.
    pub(crate) async fn begin(self, store: &Arc<dyn ResultStore>) -> Result<Decision, RpcError> {
        Ok(match store.begin(&self.key, self.args).await? {
            Begun::Replay(result) => Decision::Replay(result),
            Begun::Claimed => Decision::Claimed(Claim {
                store: store.clone(),
                key: Some(self.key),
            }),
        })
    }
}

/// A running call's place under its key: [`Claim::complete`] stores its result; dropping it
/// without a result frees the key for a retry.
pub(crate) struct Claim {
    store: Arc<dyn ResultStore>,
    key: Option<Arc<str>>,
}

impl Claim {
    pub async fn complete(mut self, result: &str) {
        if let Some(key) = self.key.take() {
            self.store.complete(&key, result).await;
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.store.abandon(&key);
        }
    }
}

/// This replica's store: a map bounded in entries and in bytes (keys and stored results),
/// completed results expiring `ttl` after completion, the oldest going first past either cap.
/// Calls still running are never evicted (that could let a repeat reach the upstream twice);
/// when every entry is a running call, a new key is refused as overloaded.
pub struct MemoryStore {
    cfg: IdempotencyConfig,
    inner: Mutex<Inner>,
}

enum State {
    Running,
    Done(Arc<str>),
}

struct Entry {
    args: [u8; 32],
    state: State,
    /// When it completed (running: when it was claimed).
    at: Instant,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Arc<str>, Entry>,
    /// Completed keys, oldest completion first: expiry and eviction take from the front.
    done: VecDeque<Arc<str>>,
    /// Bytes of completed entries (key and result).
    bytes: usize,
}

impl MemoryStore {
    pub fn new(cfg: IdempotencyConfig) -> MemoryStore {
        MemoryStore {
            cfg,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn begin_now(&self, key: &str, args: [u8; 32]) -> Result<Begun, RpcError> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        inner.expire(now, self.cfg.ttl);
        if let Some(e) = inner.map.get(key) {
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
                State::Done(result) => Ok(Begun::Replay(result.clone())),
            };
        }
        while inner.map.len() >= self.cfg.max_entries {
            if !inner.evict_oldest() {
                return Err(crate::error::overloaded(
                    "the idempotency store",
                    "every entry is a call still running",
                    Duration::from_secs(1),
                ));
            }
        }
        inner.map.insert(
            key.into(),
            Entry {
                args,
                state: State::Running,
                at: now,
            },
        );
        Ok(Begun::Claimed)
    }

    fn complete_now(&self, key: &str, result: &str) {
        let mut inner = lock(&self.inner);
        let size = key.len() + result.len();
        let Some((key, _)) = inner.map.get_key_value(key) else {
            return;
        };
        let key = key.clone();
        if size > self.cfg.max_bytes {
            // Larger than the whole store: not kept, so a repeat calls again.
            tracing::warn!(
                bytes = result.len(),
                max_bytes = self.cfg.max_bytes,
                "an idempotent call's result is larger than idempotency.max_bytes; not stored"
            );
            inner.map.remove(&key);
            return;
        }
        while inner.bytes + size > self.cfg.max_bytes && inner.evict_oldest() {}
        if let Some(e) = inner.map.get_mut(&key) {
            e.state = State::Done(result.into());
            e.at = Instant::now();
        }
        inner.bytes += size;
        inner.done.push_back(key);
    }
}

impl Inner {
    /// Removes the completed entry that completed first; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        match self.done.pop_front() {
            Some(key) => {
                self.forget(&key);
                true
            }
            None => false,
        }
    }

    fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some(key) = self.done.front() {
            let expired = self
                .map
                .get(key)
                .is_none_or(|e| now.duration_since(e.at) >= ttl);
            if !expired {
                break;
            }
            let key = self.done.pop_front().expect("front exists");
            self.forget(&key);
        }
    }

    /// Drops a completed entry and its bytes.
    fn forget(&mut self, key: &Arc<str>) {
        if let Some(Entry {
            state: State::Done(result),
            ..
        }) = self.map.remove(key)
        {
            self.bytes -= key.len() + result.len();
        }
    }
}

impl ResultStore for MemoryStore {
    fn begin<'a>(&'a self, key: &'a str, args: [u8; 32]) -> BoxFuture<'a, Result<Begun, RpcError>> {
        Box::pin(std::future::ready(self.begin_now(key, args)))
    }

    fn complete<'a>(&'a self, key: &'a str, result: &'a str) -> BoxFuture<'a, ()> {
        self.complete_now(key, result);
        Box::pin(std::future::ready(()))
    }

    fn abandon(&self, key: &str) {
        let mut inner = lock(&self.inner);
        if matches!(
            inner.map.get(key),
            Some(Entry {
                state: State::Running,
                ..
            })
        ) {
            inner.map.remove(key);
        }
    }

    fn stored(&self) -> usize {
        lock(&self.inner).done.len()
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

    fn store(max_entries: usize, max_bytes: usize, ttl_ms: u64) -> MemoryStore {
        MemoryStore::new(IdempotencyConfig {
            ttl: Duration::from_millis(ttl_ms),
            max_entries,
            max_bytes,
        })
    }

    fn begin(s: &MemoryStore, key: &str, args: &str) -> Result<Begun, RpcError> {
        s.begin_now(key, args_hash(Some(args)))
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
        let s = store(10, 1 << 20, 60_000);
        assert!(matches!(begin(&s, "k", r#"{"x":1}"#), Ok(Begun::Claimed)));
        let e = begin(&s, "k", r#"{"x":1}"#).err().unwrap();
        assert_eq!(e.code, IN_FLIGHT);
        let e = begin(&s, "k", r#"{"x":2}"#).err().unwrap();
        assert_eq!(e.code, CONFLICT);
        s.complete_now("k", r#"{"content":[]}"#);
        let Ok(Begun::Replay(r)) = begin(&s, "k", r#"{ "x": 1 }"#) else {
            panic!()
        };
        assert_eq!(&*r, r#"{"content":[]}"#);
        // A call that failed frees its key.
        assert!(matches!(begin(&s, "other", "{}"), Ok(Begun::Claimed)));
        s.abandon("other");
        assert!(matches!(begin(&s, "other", "{}"), Ok(Begun::Claimed)));
        // Abandoning a completed key changes nothing.
        s.abandon("k");
        assert!(matches!(begin(&s, "k", r#"{"x":1}"#), Ok(Begun::Replay(_))));
    }

    #[test]
    fn entries_expire_and_the_oldest_go_past_the_entry_cap() {
        let s = store(2, 1 << 20, 30);
        for k in ["a", "b", "c"] {
            assert!(matches!(begin(&s, k, "{}"), Ok(Begun::Claimed)));
            s.complete_now(k, "{}");
        }
        assert_eq!(s.stored(), 2);
        assert!(
            matches!(begin(&s, "c", "{}"), Ok(Begun::Replay(_))),
            "c is kept"
        );
        assert!(
            matches!(begin(&s, "a", "{}"), Ok(Begun::Claimed)),
            "a was evicted"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(begin(&s, "c", "{}"), Ok(Begun::Claimed)),
            "c expired"
        );
    }

    /// Running calls are never evicted: a full store of them refuses a new key rather than let
    /// a repeat of a running call through.
    #[test]
    fn running_calls_are_never_evicted() {
        let s = store(2, 1 << 20, 60_000);
        assert!(matches!(begin(&s, "a", "{}"), Ok(Begun::Claimed)));
        assert!(matches!(begin(&s, "b", "{}"), Ok(Begun::Claimed)));
        let e = begin(&s, "c", "{}").err().unwrap();
        assert_eq!(e.code, switchboard_protocol::ErrorCode::OVERLOADED);
        assert_eq!(begin(&s, "a", "{}").err().unwrap().code, IN_FLIGHT);
        s.complete_now("a", "{}");
        assert!(matches!(begin(&s, "c", "{}"), Ok(Begun::Claimed)), "a goes");
        assert_eq!(begin(&s, "b", "{}").err().unwrap().code, IN_FLIGHT);
    }

    #[test]
    fn stored_bytes_stay_under_the_cap() {
        let result = "x".repeat(100);
        let s = store(1000, 350, 60_000);
        for k in ["k1", "k2", "k3", "k4"] {
            assert!(matches!(begin(&s, k, "{}"), Ok(Begun::Claimed)));
            s.complete_now(k, &result);
        }
        // 102 bytes each: three fit in 350, so the first went.
        assert_eq!(s.stored(), 3);
        assert!(lock(&s.inner).bytes <= 350);
        assert!(matches!(begin(&s, "k4", "{}"), Ok(Begun::Replay(_))));
        assert!(matches!(begin(&s, "k1", "{}"), Ok(Begun::Claimed)));
        // A result larger than the whole store is not kept: a repeat calls again.
        s.complete_now("k1", &"y".repeat(400));
        assert!(matches!(begin(&s, "k1", "{}"), Ok(Begun::Claimed)));
        assert_eq!(s.stored(), 3);
    }

    #[test]
    fn a_replay_is_marked() {
        let m: serde_json::Value =
            serde_json::from_str(&marked(r#"{"content":[],"_meta":{"k":1}}"#)).unwrap();
        assert_eq!(m["_meta"][REPLAY_META_KEY], true);
        assert_eq!(m["_meta"]["k"], 1);
    }
}
