//! Cache hints (`ttlMs`, `cacheScope`) on the results 2026-07-28 lets clients cache.
//!
//! A merged list is only as cacheable as its least cacheable contributor: its `ttlMs` is the
//! smallest any contributing upstream allows, and it is `private` as soon as one contributor's
//! answer depends on who asked. Handshake-era upstreams say nothing about caching, so they
//! contribute a configured default (by default "do not cache": 0 ms, private).

use std::fmt::Write;

/// Who may reuse a cached answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Any client may reuse it.
    Public,
    /// Only the client (principal) that asked may reuse it.
    Private,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Private => "private",
        }
    }

    /// A scope as a modern server sent it; anything unknown or missing is the careful choice.
    pub fn parse(s: Option<&str>) -> Scope {
        match s {
            Some("public") => Scope::Public,
            _ => Scope::Private,
        }
    }
}

/// A cache hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub ttl_ms: u64,
    pub scope: Scope,
}

impl Hint {
    /// The hint of a list nobody contributes to: empty, and the same for everyone.
    pub const EMPTY: Hint = Hint {
        ttl_ms: 0,
        scope: Scope::Public,
    };

    /// The stricter of two hints: the shorter lifetime and the narrower scope.
    pub fn merge(self, other: Hint) -> Hint {
        Hint {
            ttl_ms: self.ttl_ms.min(other.ttl_ms),
            scope: self.scope.max(other.scope),
        }
    }

    /// The hint a 2026-07-28 result carries: a missing or negative `ttlMs` counts as 0, a
    /// missing or unknown `cacheScope` as private.
    pub fn from_result(result: &str) -> Hint {
        let [ttl, scope] = switchboard_protocol::object::get_all(result, ["ttlMs", "cacheScope"]);
        let ttl_ms = ttl
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0)
            .map_or(0, |t| t.min(u64::MAX as f64) as u64);
        let scope = scope.and_then(switchboard_protocol::object::string_value);
        Hint {
            ttl_ms,
            scope: Scope::parse(scope.as_deref()),
        }
    }

    /// Merges every hint; [`Hint::EMPTY`] when there is none.
    pub fn merge_all(hints: impl IntoIterator<Item = Hint>) -> Hint {
        hints.into_iter().reduce(Hint::merge).unwrap_or(Hint::EMPTY)
    }

    /// Appends `"ttlMs":N,"cacheScope":"…"` (no surrounding comma or braces).
    pub fn write_members(self, out: &mut String) {
        let _ = write!(
            out,
            "\"ttlMs\":{},\"cacheScope\":\"{}\"",
            self.ttl_ms,
            self.scope.as_str()
        );
    }

    /// The raw JSON values of `ttlMs` and `cacheScope`, for `object::edit`.
    pub fn values(self) -> (String, &'static str) {
        let scope = match self.scope {
            Scope::Public => "\"public\"",
            Scope::Private => "\"private\"",
        };
        (self.ttl_ms.to_string(), scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn h(ttl_ms: u64, scope: Scope) -> Hint {
        Hint { ttl_ms, scope }
    }

    #[test]
    fn merging_keeps_the_strictest() {
        let a = h(300_000, Scope::Public);
        let b = h(60_000, Scope::Public);
        let c = h(600_000, Scope::Private);
        assert_eq!(a.merge(b), h(60_000, Scope::Public));
        assert_eq!(a.merge(c), h(300_000, Scope::Private));
        assert_eq!(Hint::merge_all([a, b, c]), h(60_000, Scope::Private));
        assert_eq!(Hint::merge_all([]), Hint::EMPTY);
        assert_eq!(Hint::merge_all([a]), a);
    }

    #[test]
    fn reads_a_results_hint() {
        assert_eq!(
            Hint::from_result(r#"{"tools":[],"ttlMs":5000,"cacheScope":"public"}"#),
            h(5000, Scope::Public)
        );
        assert_eq!(Hint::from_result(r#"{"ttlMs":-3}"#), h(0, Scope::Private));
        assert_eq!(Hint::from_result("{}"), h(0, Scope::Private));
    }

    #[test]
    fn unknown_scopes_are_private() {
        assert_eq!(Scope::parse(Some("public")), Scope::Public);
        assert_eq!(Scope::parse(Some("private")), Scope::Private);
        assert_eq!(Scope::parse(Some("shared")), Scope::Private);
        assert_eq!(Scope::parse(None), Scope::Private);
    }

    #[test]
    fn renders_members() {
        let mut s = String::new();
        h(5, Scope::Private).write_members(&mut s);
        assert_eq!(s, r#""ttlMs":5,"cacheScope":"private""#);
        assert_eq!(h(7, Scope::Public).values(), ("7".into(), "\"public\""));
    }
}
