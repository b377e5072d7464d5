//! `${VAR}` expansion inside one scalar's text.
//!
//! Expansion runs on scalar values *after* YAML parsing, so a variable's value is only ever
//! text: `TOKEN="x\n  evil: y"` yields a string containing a newline, never a new key. The forms
//! are the shell's:
//!
//! - `${VAR}` — the variable's value; unset is an error naming it.
//! - `${VAR:-default}` — the default when the variable is unset *or empty*. The default may itself
//!   contain `$$` and `${…}` (e.g. `${A:-${B:-x}}`); it is only evaluated when used.
//! - `$$` — a literal `$`.
//! - a `$` followed by anything else stays literal (`$HOME`, `a$`), so prices and regexes survive.
//!
//! Names are `[A-Za-z_][A-Za-z0-9_]*`. An unterminated `${`, an empty or invalid name is an
//! error rather than literal text, because a half-written reference is almost always a typo.

/// Why a scalar could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExpandError {
    #[error(
        "environment variable `{name}` is not set (referenced as `${{{name}}}`; write `${{{name}:-default}}` to give a default)"
    )]
    Missing { name: String },
    #[error("{0}")]
    Malformed(String),
}

/// Expands every reference in `text`, looking variables up with `env`.
pub(crate) fn expand(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut expander = Expander { text, pos: 0, env };
    expander.sequence(Until::End, true)
}

/// Where a run of text stops: at the end of the scalar, or at the `}` closing a default.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    End,
    CloseBrace,
}

struct Expander<'a> {
    text: &'a str,
    /// Byte offset of the next unread character; always on a char boundary.
    pos: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Expander<'_> {
    /// Reads literal text and references up to `until`. With `evaluate` false the text is only
    /// checked for syntax (an unused default must be well-formed, but its variables need not be set).
    fn sequence(&mut self, until: Until, evaluate: bool) -> Result<String, ExpandError> {
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(c) = rest.chars().next() else {
                return match until {
                    Until::End => Ok(out),
                    Until::CloseBrace => Err(ExpandError::Malformed(
                        "unterminated `${`: the default value is missing its closing `}`"
                            .to_owned(),
                    )),
                };
            };
            if until == Until::CloseBrace && c == '}' {
                self.pos += 1;
                return Ok(out);
            }
            if rest.starts_with("$$") {
                self.pos += 2;
                out.push('$');
            } else if rest.starts_with("${") {
                self.pos += 2;
                let value = self.reference(evaluate)?;
                out.push_str(&value);
            } else {
                self.pos += c.len_utf8();
                out.push(c);
            }
        }
    }

    /// Reads `NAME}` or `NAME:-default}` after a `${` and returns the value it stands for.
    fn reference(&mut self, evaluate: bool) -> Result<String, ExpandError> {
        let rest = &self.text[self.pos..];
        let name_len = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        let name = &rest[..name_len];
        let after = &rest[name_len..];
        self.pos += name_len;

        let default = if after.starts_with('}') {
            self.pos += 1;
            None
        } else if after.starts_with(":-") {
            if name.is_empty() {
                return Err(empty_name());
            }
            self.pos += 2;
            Some(self.pos)
        } else if after.is_empty() {
            return Err(ExpandError::Malformed(format!(
                "unterminated `${{{name}`: missing the closing `}}`"
            )));
        } else {
            let bad = after.chars().next().unwrap_or('}').escape_debug();
            return Err(ExpandError::Malformed(if name.is_empty() {
                format!("invalid character `{bad}` at the start of a variable name in `${{…}}`")
            } else {
                format!(
                    "invalid character `{bad}` in `${{{name}…}}`: a variable name is letters, digits and `_`, followed by `}}` or `:-default}}`"
                )
            }));
        };
        if name.is_empty() {
            return Err(empty_name());
        }
        let name = name.to_owned();

        let value = if evaluate { (self.env)(&name) } else { None };
        match (value, default) {
            (Some(value), None) => Ok(value),
            (Some(value), Some(_)) if !value.is_empty() => {
                // The default is not used, but it must still be well-formed.
                self.sequence(Until::CloseBrace, false)?;
                Ok(value)
            }
            (_, Some(_)) => self.sequence(Until::CloseBrace, evaluate),
            (None, None) if evaluate => Err(ExpandError::Missing { name }),
            (None, None) => Ok(String::new()),
        }
    }
}

fn empty_name() -> ExpandError {
    ExpandError::Malformed("empty variable name in `${}`".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".to_owned()),
            "EMPTY" => Some(String::new()),
            "TOKEN" => Some("s3cr$t".to_owned()),
            "NL" => Some("x\n  evil: y".to_owned()),
            _ => None,
        }
    }

    fn ok(text: &str) -> String {
        match expand(text, &env) {
            Ok(s) => s,
            Err(e) => panic!("{text:?} failed: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match expand(text, &env) {
            Ok(s) => panic!("{text:?} expanded to {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(ok("hello"), "hello");
        assert_eq!(ok(""), "");
        assert_eq!(ok("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn variables_expand() {
        assert_eq!(ok("${HOME}"), "/home/me");
        assert_eq!(ok("dir=${HOME}/x"), "dir=/home/me/x");
        assert_eq!(ok("Bearer ${TOKEN}"), "Bearer s3cr$t");
        assert_eq!(ok("${HOME}${HOME}"), "/home/me/home/me");
    }

    #[test]
    fn values_are_not_rescanned() {
        // TOKEN's value contains `$`; it is not expanded again.
        assert_eq!(ok("${TOKEN}"), "s3cr$t");
        assert_eq!(ok("${NL}"), "x\n  evil: y");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(ok("${NOPE:-fallback}"), "fallback");
        assert_eq!(ok("${EMPTY:-fallback}"), "fallback");
        assert_eq!(ok("${HOME:-fallback}"), "/home/me");
        assert_eq!(ok("${NOPE:-}"), "");
        assert_eq!(ok("${NOPE:-a b:c}"), "a b:c");
        assert_eq!(ok("${NOPE:-${HOME}/x}"), "/home/me/x");
        assert_eq!(ok("${NOPE:-${ALSO_NOPE:-deep}}"), "deep");
        assert_eq!(ok("${NOPE:-$$}"), "$");
    }

    #[test]
    fn unused_defaults_need_not_resolve() {
        assert_eq!(ok("${HOME:-${NOPE}}"), "/home/me");
    }

    #[test]
    fn dollar_escapes_and_lone_dollars() {
        assert_eq!(ok("$$"), "$");
        assert_eq!(ok("$${HOME}"), "${HOME}");
        assert_eq!(ok("cost: 5$"), "cost: 5$");
        assert_eq!(ok("$HOME"), "$HOME");
        assert_eq!(ok("^a$|b$"), "^a$|b$");
        assert_eq!(ok("$$$$"), "$$");
        assert_eq!(ok("$$$"), "$$");
    }

    #[test]
    fn empty_variable_counts_as_set_without_default() {
        assert_eq!(ok("[${EMPTY}]"), "[]");
    }

    #[test]
    fn missing_variable_names_it() {
        let message = err("Bearer ${REMOTE_TOKEN}");
        assert!(message.contains("`REMOTE_TOKEN` is not set"), "{message}");
        assert_eq!(
            expand("${A}", &env),
            Err(ExpandError::Missing {
                name: "A".to_owned()
            })
        );
        assert!(err("${NOPE:-${INNER}}").contains("`INNER`"));
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(err("${").contains("unterminated"));
        assert!(err("${HOME").contains("unterminated"));
        assert!(err("${HOME:-x").contains("unterminated"));
        assert!(err("${}").contains("empty variable name"));
        assert!(err("${:-x}").contains("empty variable name"));
        assert!(err("${A B}").contains("invalid character ` `"));
        assert!(err("${A-b}").contains("invalid character `-`"));
        assert!(err("${1A}").contains("invalid character `1`"));
        assert!(err("${-x}").contains("invalid character `-`"));
        // Malformed even inside an unused default.
        assert!(err("${HOME:-${}}").contains("empty variable name"));
    }
}
