//! Who may see what: the one admission decision behind every list and every call.
//!
//! An upstream's `scopes` are needed to see or call any of its items; its `tool_scopes` add
//! scopes for the tools whose own names match a glob. A caller lacking them does not see those
//! items, and naming one (a call, a read, a completion) is answered exactly as an unknown name
//! is: the decision is made once, when the caller's [`View`](crate::view::View) is built, and
//! every list and every lookup goes through that view, so there is no second check that could
//! disagree with the lists or tell a hidden name from a missing one.
//!
//! What a caller holds of those scopes is a bit set ([`Policy::held`]); it is part of the
//! [`ViewKey`](crate::view::ViewKey), so callers holding the same visibility scopes share one
//! cached view per catalog generation, built once, not per call. The anonymous caller (where the
//! operator allowed one) is not held to scopes and sees everything, as before.
//!
//! Roles (`auth.roles`) with `allow`/`deny` globs narrow it further, over the exposed
//! (namespaced) names of tools and prompts and the URIs of resources: a caller holding such
//! roles sees an item when at least one of them admits it (roles add up). A caller holding no
//! such role, or also a role without globs, is not narrowed. Which of them it holds is more
//! bits of the same key, after the scope bits: a bit is *cleared* for a narrowing role the
//! caller holds, so an unnarrowed caller holding every scope still shares the whole view.
//!
//! Method scopes (`mcp.invoke` to call, …) are checked in the pipeline's `authorize` stage, on a
//! view the caller may list: those refusals are a 403 naming the scope, because the caller can
//! see the tool and only lacks the right to use it.

use std::collections::HashMap;

use switchboard_config::{Role, UpstreamConfig, glob_match};

use crate::catalog::ListKind;
use crate::principal::Principal;

/// Every visibility scope held: the anonymous caller's, and the whole catalog's.
pub const ALL: u64 = u64::MAX;

/// The compiled visibility rules of a config.
#[derive(Debug, Default)]
pub struct Policy {
    /// Every scope some upstream's `scopes` or `tool_scopes` names (at most 64, checked when
    /// the config is loaded); bit `i` of a held set stands for `scopes[i]`.
    scopes: Vec<String>,
    /// By upstream name; an upstream without rules is visible to every caller.
    rules: HashMap<String, Rule>,
    /// The roles with `allow`/`deny`; the one at `j` has bit `scopes.len() + j`.
    narrowing: Vec<Narrowing>,
    /// By role index (`auth.roles` order): whether the role narrows (has globs).
    narrows: Vec<bool>,
}

#[derive(Debug)]
struct Narrowing {
    /// Its index in `auth.roles`.
    role: u16,
    allow: Vec<String>,
    deny: Vec<String>,
}

impl Narrowing {
    fn admits(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|g| glob_match(g, name)))
            && !self.deny.iter().any(|g| glob_match(g, name))
    }
}

#[derive(Debug, Default)]
struct Rule {
    /// Needed for every item.
    all: u64,
    /// Needed, in addition, for the tools whose own names match.
    tools: Vec<(String, u64)>,
}

impl Policy {
    pub fn compile<'a>(
        upstreams: impl IntoIterator<Item = &'a UpstreamConfig>,
        roles: &[Role],
    ) -> Policy {
        let mut scopes: Vec<String> = Vec::new();
        let mut bits = |names: &[String]| -> u64 {
            let mut mask = 0u64;
            for s in names {
                let i = match scopes.iter().position(|x| x == s) {
                    Some(i) => i,
                    None => {
                        scopes.push(s.clone());
                        scopes.len() - 1
                    }
                };
                // The loader refuses more than 64; past that a scope could not be told apart.
                if i < 64 {
                    mask |= 1 << i;
                }
            }
            mask
        };
        let mut rules = HashMap::new();
        for u in upstreams {
            if u.scopes.is_empty() && u.tool_scopes.is_empty() {
                continue;
            }
            let rule = Rule {
                all: bits(&u.scopes),
                tools: u
                    .tool_scopes
                    .iter()
                    .map(|(glob, s)| (glob.clone(), bits(s)))
                    .collect(),
            };
            rules.insert(u.name.clone(), rule);
        }
        let mut narrowing = Vec::new();
        for (i, r) in roles.iter().enumerate() {
            // The loader refuses more than 64 scope and narrowing-role bits together.
            if r.has_globs()
                && scopes.len() + narrowing.len() < 64
                && let Ok(role) = u16::try_from(i)
            {
                narrowing.push(Narrowing {
                    role,
                    allow: r.allow.clone(),
                    deny: r.deny.clone(),
                });
            }
        }
        Policy {
            scopes,
            rules,
            narrowing,
            narrows: roles.iter().map(Role::has_globs).collect(),
        }
    }

    /// The visibility scopes `principal` holds, as the bits of its view key.
    pub fn held(&self, principal: &Principal) -> u64 {
        if !principal.is_vouched() {
            return ALL;
        }
        let mut held = 0u64;
        for (i, s) in self.scopes.iter().enumerate().take(64) {
            if principal.may(s) {
                held |= 1 << i;
            }
        }
        // Bits no scope stands for are set, so a caller holding every scope that matters
        // shares its view with the anonymous caller's.
        if self.scopes.len() < 64 {
            held |= ALL << self.scopes.len();
        }
        // Narrowed only by narrowing roles, and only if none of its roles is open.
        let roles = principal.roles();
        let narrowed = !roles.is_empty()
            && roles
                .iter()
                .all(|&r| self.narrows.get(usize::from(r)).copied().unwrap_or(false));
        if narrowed {
            for (j, n) in self.narrowing.iter().enumerate() {
                if roles.contains(&n.role) {
                    held &= !(1u64 << (self.scopes.len() + j));
                }
            }
        }
        held
    }

    /// Whether some role behind `held` admits the item exposed as `name` (a namespaced tool or
    /// prompt name, a resource URI or URI template); true for a caller no role narrows.
    pub fn admits(&self, name: &str, held: u64) -> bool {
        if held == ALL || self.narrowing.is_empty() {
            return true;
        }
        let base = self.scopes.len();
        let mut narrowed = false;
        for (j, n) in self.narrowing.iter().enumerate() {
            if held & (1u64 << (base + j)) == 0 {
                narrowed = true;
                if n.admits(name) {
                    return true;
                }
            }
        }
        !narrowed
    }

    /// Whether any role narrows what its holders see (else [`Policy::admits`] is always true).
    pub fn narrows(&self) -> bool {
        !self.narrowing.is_empty()
    }

    /// Whether a caller holding `held` sees the item `original` (the upstream's own name or
    /// URI) of `upstream`.
    pub fn permits(&self, upstream: &str, kind: ListKind, original: &str, held: u64) -> bool {
        if held == ALL {
            return true;
        }
        let Some(rule) = self.rules.get(upstream) else {
            return true;
        };
        if rule.all & !held != 0 {
            return false;
        }
        kind != ListKind::Tools
            || rule
                .tools
                .iter()
                .all(|(glob, need)| need & !held == 0 || !glob_match(glob, original))
    }

    /// Whether a caller holding `held` may reach `upstream` at all.
    pub fn permits_upstream(&self, upstream: &str, held: u64) -> bool {
        held == ALL || self.rules.get(upstream).is_none_or(|r| r.all & !held == 0)
    }

    /// The scopes behind `held`'s missing bits (for logs and `check`).
    pub fn missing(&self, held: u64) -> Vec<&str> {
        self.scopes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 64 && held & (1 << i) == 0)
            .map(|(_, s)| s.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_config::Transport;

    fn upstream(name: &str, scopes: &[&str], tools: &[(&str, &[&str])]) -> UpstreamConfig {
        let mut u = UpstreamConfig::new(
            name,
            Transport::Stdio {
                command: "x".into(),
                args: Vec::new(),
                env: Vec::new(),
                cwd: None,
                env_clear: false,
                integrity: None,
            },
        );
        u.scopes = scopes.iter().map(|s| s.to_string()).collect();
        u.tool_scopes = tools
            .iter()
            .map(|(g, s)| (g.to_string(), s.iter().map(|s| s.to_string()).collect()))
            .collect();
        u
    }

    #[test]
    fn upstream_and_tool_scopes_decide_visibility() {
        let p = Policy::compile(
            &[
                upstream("fred", &["fred.read"], &[("delete_*", &["fred.write"])]),
                upstream("open", &[], &[]),
            ],
            &[],
        );
        let reader = Principal::key("r", &["fred.read".into()]);
        let writer = Principal::key("w", &["fred.read".into(), "fred.write".into()]);
        let nobody = Principal::key("n", &[]);
        let (r, w, n) = (p.held(&reader), p.held(&writer), p.held(&nobody));
        let sees = |held, up, tool| p.permits(up, ListKind::Tools, tool, held);
        assert!(sees(r, "fred", "get_series") && !sees(r, "fred", "delete_series"));
        assert!(sees(w, "fred", "get_series") && sees(w, "fred", "delete_series"));
        assert!(!sees(n, "fred", "get_series") && sees(n, "open", "anything"));
        assert!(!p.permits("fred", ListKind::Prompts, "p", n));
        assert!(p.permits("fred", ListKind::Prompts, "p", r));
        assert_eq!(w, ALL, "holding every scope that matters is the whole view");
        assert_eq!(p.held(&Principal::anonymous()), ALL);
        assert_eq!(p.missing(n), ["fred.read", "fred.write"]);
    }

    #[test]
    fn narrowing_roles_add_up_and_an_open_role_lifts_them() {
        let role = |name: &str, allow: &[&str], deny: &[&str]| Role {
            name: name.into(),
            scopes: vec!["fred.read".into()],
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            ..Role::default()
        };
        let p = Policy::compile(
            &[upstream("fred", &["fred.read"], &[])],
            &[
                role("getter", &["fred__get_*"], &["*_secret"]),
                role("lister", &["fred__list_*"], &[]),
                role("open", &[], &[]),
            ],
        );
        let holding = |roles: &[u16]| {
            p.held(&Principal::key("k", &["fred.read".into()]).with_roles(roles.to_vec(), None))
        };
        let (g, gl, go) = (holding(&[0]), holding(&[0, 1]), holding(&[0, 2]));
        assert!(p.admits("fred__get_a", g) && !p.admits("fred__list_a", g));
        assert!(!p.admits("fred__get_secret", g), "deny wins over allow");
        assert!(p.admits("fred__get_a", gl) && p.admits("fred__list_a", gl));
        assert!(!p.admits("fred__drop", gl));
        assert_eq!(go, ALL, "an open role lifts the narrowing");
        assert!(p.admits("fred__drop", holding(&[])));
        assert_ne!(g, gl, "different narrowings are different views");
        assert!(p.permits("fred", ListKind::Tools, "get_a", g));
    }
}
