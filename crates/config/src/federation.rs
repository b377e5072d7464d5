//! The federation shortcut: `SWITCHBOARD_UPSTREAMS=name=url,name2=url2` adds `http` upstreams.
//!
//! It lets a deployment (a container, a Helm chart) federate remote MCP servers without writing
//! a config file. Each entry becomes an `http` upstream with every setting at its default,
//! appended after the file's upstreams in the variable's order. When
//! `SWITCHBOARD_UPSTREAM_TOKEN_<NAME>` is set and non-empty it is sent as
//! `Authorization: Bearer <token>`, where `<NAME>` is the upstream name upper-cased with every
//! other character that is not a letter or digit replaced by `_` (`my-api` →
//! `SWITCHBOARD_UPSTREAM_TOKEN_MY_API`).
//!
//! Entries are separated by `,`, surrounding spaces are ignored, and an empty entry (a
//! trailing comma) is skipped. A malformed entry, or a name the file already uses, is an error:
//! silently dropping an upstream would be a failure nobody sees.

use crate::error::ConfigError;
use crate::model::{Config, Transport, UpstreamConfig};
use crate::resolve::UpstreamSite;
use crate::validate;

/// The environment variable holding `name=url` pairs.
pub const UPSTREAMS_ENV: &str = "SWITCHBOARD_UPSTREAMS";
/// Prefix of the per-upstream bearer token variables.
pub const TOKEN_ENV_PREFIX: &str = "SWITCHBOARD_UPSTREAM_TOKEN_";

/// The variable that holds the bearer token for the federated upstream `name`.
pub fn token_env_name(name: &str) -> String {
    let suffix: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{TOKEN_ENV_PREFIX}{suffix}")
}

/// Appends the upstreams named in `SWITCHBOARD_UPSTREAMS`. `sites` are the file's upstreams'
/// locations, parallel to the first `sites.len()` entries of `config.upstreams`.
pub(crate) fn append(
    config: &mut Config,
    sites: &[UpstreamSite],
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let Some(list) = env(UPSTREAMS_ENV) else {
        return Ok(());
    };
    let bad = |message: String| ConfigError::whole(file, format!("{UPSTREAMS_ENV}: {message}"));
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, url)) = entry.split_once('=') else {
            return Err(bad(format!(
                "entry `{}` has no `=`; expected NAME=URL",
                entry.escape_debug()
            )));
        };
        let (name, url) = (name.trim(), url.trim());
        if name.is_empty() {
            return Err(bad(format!(
                "entry `{}` has an empty name; expected NAME=URL",
                entry.escape_debug()
            )));
        }
        validate::check_name("upstream name", name).map_err(bad)?;
        validate::check_http_url(url).map_err(|m| bad(format!("upstream `{name}`: {m}")))?;

        if let Some(index) = config.upstreams.iter().position(|u| u.name == name) {
            let message = format!(
                "upstream `{name}` is defined both here and in {UPSTREAMS_ENV}; give it once"
            );
            return Err(match sites.get(index) {
                Some(site) => ConfigError::at(file, site.name, message),
                None => bad(format!("names upstream `{name}` twice")),
            });
        }

        let mut headers = Vec::new();
        if let Some(token) = env(&token_env_name(name)).filter(|t| !t.is_empty()) {
            let value = format!("Bearer {token}");
            validate::check_header_value("Authorization", &value)
                .map_err(|m| ConfigError::whole(file, format!("{}: {m}", token_env_name(name))))?;
            headers.push(("Authorization".to_owned(), value));
        }
        config.upstreams.push(UpstreamConfig::new(
            name,
            Transport::Http {
                url: url.to_owned(),
                headers,
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        assert_eq!(
            token_env_name("my-api"),
            "SWITCHBOARD_UPSTREAM_TOKEN_MY_API"
        );
        assert_eq!(token_env_name("fred"), "SWITCHBOARD_UPSTREAM_TOKEN_FRED");
        assert_eq!(
            token_env_name("a_b-c9"),
            "SWITCHBOARD_UPSTREAM_TOKEN_A_B_C9"
        );
    }
}
