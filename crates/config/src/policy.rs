//! An upstream's visibility scopes: `scopes` (needed to see or call any of its items) and
//! `tool_scopes` (more scopes for the tools whose own names match a glob).

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::ordered_map::OrderedMap;
use crate::resolve::Resolver;
use crate::validate;

/// The most distinct scopes all upstreams' `scopes` and `tool_scopes` may name together (a
/// caller's view is keyed by which of them it holds, as bits of a `u64`).
pub const MAX_VISIBILITY_SCOPES: usize = 64;

/// `tool_scopes`: glob → scopes, in file order.
pub(crate) type ToolScopesDoc = OrderedMap<Scalar, ScopesDoc>;

/// One scope, or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ScopesDoc {
    One(Scalar),
    Many(Vec<Scalar>),
}

impl Resolver<'_> {
    pub(crate) fn scopes(&self, what: &str, doc: &[Scalar]) -> Result<Vec<String>, ConfigError> {
        doc.iter()
            .map(|s| self.checked(s, |t| check_scope(what, t)))
            .collect()
    }

    pub(crate) fn tool_scopes(
        &self,
        doc: Option<ToolScopesDoc>,
    ) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
        let mut out = Vec::new();
        for (glob, scopes) in doc.unwrap_or_default().0 {
            let glob = self.checked(&glob, |g| validate::check_plain("a tool glob", g))?;
            let scopes = match scopes {
                ScopesDoc::One(s) => self.scopes("tool_scopes", std::slice::from_ref(&s))?,
                ScopesDoc::Many(v) => self.scopes("tool_scopes", &v)?,
            };
            out.push((glob, scopes));
        }
        Ok(out)
    }
}

/// A scope: printable ASCII without spaces, quotes or backslashes (RFC 6749 `scope-token`).
pub(crate) fn check_scope(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("a scope in `{what}` is empty"));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| !(c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c)))
    {
        return Err(format!(
            "scope {s:?} in `{what}` has {c:?}: scopes are printable ASCII without spaces, quotes or backslashes"
        ));
    }
    Ok(())
}
