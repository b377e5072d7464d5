//! `switchboard keys create`: a new API key, printed once, and the config entry that admits it
//! (its salted hash, never the key).

use std::process::ExitCode;

use crate::cli::{KeysArgs, KeysCommand};
use crate::output::{errln, outln};

pub fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        KeysCommand::Create {
            name,
            scopes,
            roles,
            expires,
        } => {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                errln!("switchboard: --name must be letters, digits, `-` and `_`");
                return Ok(ExitCode::from(2));
            }
            if let Some(e) = &expires
                && switchboard_config::parse_time(e).is_none()
            {
                errln!(
                    "switchboard: --expires must be Unix seconds or an RFC 3339 UTC time like 2027-01-31T00:00:00Z"
                );
                return Ok(ExitCode::from(2));
            }
            let (key, hash) = match switchboard_gateway::auth::create_key() {
                Ok(k) => k,
                Err(e) => {
                    errln!("switchboard: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let list = |v: &[String]| -> Vec<String> {
                v.iter()
                    .flat_map(|s| s.split(','))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("{s:?}"))
                    .collect()
            };
            let scopes = list(&scopes);
            let roles = list(&roles);
            outln!("{key}")?;
            errln!(
                "switchboard: the key above is shown once; store it now. Add this entry under auth.api_keys:"
            );
            let expires = expires.map_or(String::new(), |e| format!(", expires: {e:?}"));
            let roles = if roles.is_empty() {
                String::new()
            } else {
                format!(", roles: [{}]", roles.join(", "))
            };
            errln!(
                "  - {{ name: {name}, hash: \"{hash}\", scopes: [{}]{roles}{expires} }}",
                scopes.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
