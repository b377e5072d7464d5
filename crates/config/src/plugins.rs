//! The `plugins:` block: where signed plugins are installed, which keys they must be signed by,
//! and what each plugin's process is given. `SWITCHBOARD_PLUGINS_DISABLED=a,b` adds to
//! `disabled`. Paths resolve against the config file's directory, as `cwd` does. Whether the
//! trust-root files exist and hold keys is checked where they are used (a missing trust root
//! stops plugins from loading, never the gateway from starting).

use std::path::PathBuf;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::model::{PluginSettings, PluginsConfig};
use crate::ordered_map::OrderedMap;
use crate::resolve::Resolver;
use crate::validate;

/// Names of plugins that must not load, comma-separated; added to `plugins.disabled`.
pub const PLUGINS_DISABLED_ENV: &str = "SWITCHBOARD_PLUGINS_DISABLED";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PluginsDoc {
    pub dir: Scalar,
    #[serde(default)]
    pub trust_roots: Vec<Scalar>,
    pub verify: Option<Scalar>,
    pub runtime_install: Option<Scalar>,
    #[serde(default)]
    pub disabled: Vec<Scalar>,
    pub config: Option<OrderedMap<Scalar, PluginEntryDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PluginEntryDoc {
    pub env: Option<OrderedMap<Scalar, Scalar>>,
}

impl Resolver<'_> {
    pub(crate) fn plugins(&self, doc: Option<PluginsDoc>) -> Result<PluginsConfig, ConfigError> {
        let mut cfg = PluginsConfig::default();
        if let Some(doc) = doc {
            cfg.dir = Some(self.path("dir", &doc.dir)?);
            for root in &doc.trust_roots {
                cfg.trust_roots.push(self.path("trust_roots entry", root)?);
            }
            if let Some(v) = &doc.verify {
                cfg.verify = self.boolean("verify", v)?;
            }
            if let Some(v) = &doc.runtime_install {
                cfg.runtime_install = self.boolean("runtime_install", v)?;
            }
            for name in &doc.disabled {
                let name = self.checked(name, |n| validate::check_name("plugin name", n))?;
                cfg.disabled.push(name);
            }
            for (key, entry) in doc.config.unwrap_or_default().0 {
                validate::check_name("plugin name", &key.value).map_err(|m| self.error(&key, m))?;
                let mut env = Vec::new();
                for (k, v) in entry.env.unwrap_or_default().0 {
                    validate::check_env_name(&k.value).map_err(|m| self.error(&k, m))?;
                    let value = self.checked(&v, |v| {
                        validate::check_no_nul(&format!("the value of `{}`", k.value), v)
                    })?;
                    env.push((k.value, value));
                }
                cfg.settings.push(PluginSettings {
                    name: key.value,
                    env,
                });
            }
        }
        if let Some(list) = (self.env)(PLUGINS_DISABLED_ENV) {
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                validate::check_name("plugin name", name).map_err(|m| {
                    ConfigError::whole(self.file, format!("{PLUGINS_DISABLED_ENV}: {m}"))
                })?;
                if !cfg.disabled.iter().any(|d| d == name) {
                    cfg.disabled.push(name.to_owned());
                }
            }
        }
        Ok(cfg)
    }

    /// A path scalar, absolute: relative ones resolve against the config file's directory.
    fn path(&self, what: &str, scalar: &Scalar) -> Result<PathBuf, ConfigError> {
        let text = self.checked(scalar, |p| {
            if p.is_empty() {
                return Err(format!("`{what}` must not be empty"));
            }
            validate::check_no_nul(what, p)
        })?;
        let mut path = self.base_dir.join(&text);
        if path.is_relative() {
            let current = std::env::current_dir().map_err(|e| {
                self.error(
                    scalar,
                    format!("cannot resolve the relative path `{text}`: {e}"),
                )
            })?;
            path = current.join(path);
        }
        Ok(path
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect())
    }
}
