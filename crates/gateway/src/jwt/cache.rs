//! Verified tokens, remembered by the SHA-256 of the token until the earlier of its `exp` and
//! the cache TTL, so a client that sends the same token on every call pays one hash and one map
//! probe instead of a signature check. Bounded: a full shard first drops what has expired, then
//! an arbitrary eighth of itself (a flood of distinct valid tokens costs verifications, never
//! memory).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use switchboard_protocol::lock;

use crate::principal::Principal;

const SHARDS: usize = 16;

/// Token digest → who it vouched for, and until when.
type Shard = Mutex<HashMap<[u8; 32], (Principal, Instant)>>;

pub(crate) struct TokenCache {
    shards: [Shard; SHARDS],
    per_shard: usize,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> TokenCache {
        TokenCache {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    pub(crate) fn digest(token: &str) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    fn shard(&self, key: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    pub(crate) fn get(&self, key: &[u8; 32], now: Instant) -> Option<Principal> {
        let mut shard = lock(self.shard(key));
        match shard.get(key) {
            Some((p, until)) if now < *until => Some(p.clone()),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, key: [u8; 32], principal: Principal, until: Instant, now: Instant) {
        if until <= now {
            return;
        }
        let mut shard = lock(self.shard(&key));
        if shard.len() >= self.per_shard {
            shard.retain(|_, (_, u)| *u > now);
        }
        if shard.len() >= self.per_shard {
            let drop: Vec<[u8; 32]> = shard
                .keys()
                .take(self.per_shard.div_ceil(8))
                .copied()
                .collect();
            for k in drop {
                shard.remove(&k);
            }
        }
        shard.insert(key, (principal, until));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_the_size_stays_bounded() {
        let c = TokenCache::new(64);
        let now = Instant::now();
        let p = Principal::anonymous();
        let k = TokenCache::digest("a");
        c.insert(k, p.clone(), now + Duration::from_secs(1), now);
        assert!(c.get(&k, now).is_some());
        assert!(c.get(&k, now + Duration::from_secs(2)).is_none());
        for i in 0..10_000 {
            c.insert(
                TokenCache::digest(&i.to_string()),
                p.clone(),
                now + Duration::from_secs(60),
                now,
            );
        }
        assert!(c.len() <= 64, "{}", c.len());
        // Already expired: not stored.
        c.insert(k, p, now, now);
        assert!(c.get(&k, now).is_none());
    }
}
