//! Signed plugins as upstreams.
//!
//! At start and at every reload the plugins directory is scanned (`switchboard_plugins::store`):
//! each installed plugin whose signature verifies against a trust root and whose every file
//! matches its hash becomes a stdio upstream named after it, run from its own directory with an
//! environment holding only `plugins.config.<name>.env`, and with its command's hash checked
//! again before every start (`FileIntegrity`, enforced by the stdio transport). A refused plugin
//! is logged with its reason and listed in `/status`; it never stops the gateway or another
//! plugin. `POST /api/plugins` installs a bundle at run time ([`Gateway::install_plugin`]).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use switchboard_config::{Config, FileIntegrity, PluginsConfig, Transport, UpstreamConfig};
use switchboard_plugins::verify::Signature;
use switchboard_plugins::{Bundle, Installed, Limits, Refusal, TrustRoots, store};
use switchboard_protocol::{lock, object};

use crate::Gateway;
use crate::catalog::ListKind;
use crate::principal::Principal;

/// The switchboard version plugins are checked against (`min_switchboard_version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long a runtime install waits for the new plugin's first start before answering.
const FIRST_START_WAIT: Duration = Duration::from_secs(20);

/// What became of one plugin, for `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginState {
    pub name: String,
    pub version: Option<String>,
    /// `loaded`, `refused` or `disabled`.
    pub state: &'static str,
    pub reason: Option<String>,
}

/// The gateway's plugin bookkeeping.
#[derive(Default)]
pub(crate) struct Plugins {
    report: Mutex<Vec<PluginState>>,
    /// One runtime install at a time.
    installing: tokio::sync::Mutex<()>,
}

impl Plugins {
    pub(crate) fn new(report: Vec<PluginState>) -> Plugins {
        Plugins {
            report: Mutex::new(report),
            installing: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn set(&self, report: Vec<PluginState>) {
        *lock(&self.report) = report;
    }

    fn put(&self, state: PluginState) {
        let mut report = lock(&self.report);
        report.retain(|p| p.name != state.name);
        report.push(state);
        report.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// The upstreams `config`'s plugins add, and what became of each plugin. Logs every refusal;
/// with `verify` on and no usable trust root, one line says that no plugin loads.
pub(crate) fn load(config: &Config) -> (Vec<UpstreamConfig>, Vec<PluginState>) {
    let cfg = &config.plugins;
    let Some(dir) = &cfg.dir else {
        return (Vec::new(), Vec::new());
    };
    let roots;
    let how = if cfg.verify {
        let (r, problems) = TrustRoots::load(&cfg.trust_roots);
        if r.is_empty() {
            let why = if problems.is_empty() {
                "plugins.trust_roots is empty".to_owned()
            } else {
                problems.join("; ")
            };
            tracing::error!(
                "plugins: no trust root ({why}); with plugins.verify on, no plugin loads"
            );
        } else {
            for p in &problems {
                tracing::warn!("plugins: {p}");
            }
        }
        roots = r;
        Signature::Check(&roots)
    } else {
        tracing::warn!(
            "plugins.verify: false — plugins load without checking who signed them (file hashes are still checked)"
        );
        Signature::Skip
    };
    let no_roots = matches!(how, Signature::Check(r) if r.is_empty());
    let mut upstreams = Vec::new();
    let mut report = Vec::new();
    for scanned in store::scan(dir, how, VERSION) {
        let name = scanned.name;
        let version = scanned.version;
        let (state, reason) = if cfg.disabled.contains(&name) {
            (
                "disabled",
                Some("listed in plugins.disabled or SWITCHBOARD_PLUGINS_DISABLED".to_owned()),
            )
        } else {
            match scanned.outcome {
                Err(refusal) => {
                    if !no_roots {
                        tracing::warn!(plugin = %name, "plugin refused: {refusal}");
                    }
                    ("refused", Some(refusal.to_string()))
                }
                Ok(installed) => match taken(config, &name) {
                    Some(why) => {
                        tracing::warn!(plugin = %name, "plugin refused: {why}");
                        ("refused", Some(why))
                    }
                    None => {
                        tracing::info!(plugin = %name, version = %installed.manifest.version, "plugin verified");
                        upstreams.push(upstream(cfg, &installed));
                        ("loaded", None)
                    }
                },
            }
        };
        report.push(PluginState {
            name,
            version,
            state,
            reason,
        });
    }
    (upstreams, report)
}

/// Why `name` cannot be a plugin's upstream: a configured upstream already has that name or
/// prefix.
fn taken(config: &Config, name: &str) -> Option<String> {
    config
        .upstreams
        .iter()
        .find(|u| u.name == name || u.prefix == name)
        .map(|u| {
            format!(
                "upstream `{}` in the config already uses the name `{name}`",
                u.name
            )
        })
}

/// The stdio upstream that runs an installed plugin.
fn upstream(cfg: &PluginsConfig, p: &Installed) -> UpstreamConfig {
    let env = cfg
        .settings
        .iter()
        .find(|s| s.name == p.manifest.name)
        .map(|s| s.env.clone())
        .unwrap_or_default();
    UpstreamConfig::new(
        p.manifest.name.clone(),
        Transport::Stdio {
            command: p.command.to_string_lossy().into_owned(),
            args: p.manifest.args.clone(),
            env,
            cwd: Some(p.dir.clone()),
            env_clear: true,
            integrity: Some(FileIntegrity {
                path: p.command.clone(),
                sha256: p.command_sha256,
            }),
        },
    )
}

/// Why a runtime install was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// `plugins.runtime_install` is off (or there is no `plugins:` block).
    Off,
    /// The caller may not administer the gateway.
    Forbidden,
    /// The bundle was refused; nothing was written.
    Refused(Refusal),
    /// A configured upstream has the name, or the plugin is disabled.
    Conflict(String),
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::Off => f.write_str(
                "runtime plugin install is off (set plugins.runtime_install: true to allow it)",
            ),
            InstallError::Forbidden => f.write_str(
                "installing a plugin needs the `admin` scope (or an anonymous caller on loopback while no API key is configured)",
            ),
            InstallError::Refused(r) => write!(f, "plugin refused: {r}"),
            InstallError::Conflict(why) => f.write_str(why),
        }
    }
}

/// A runtime install's outcome.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    pub name: String,
    pub version: String,
    /// Tools it serves after its first start.
    pub tools: usize,
    /// Its upstream's state when the answer was made (`ready` normally).
    pub state: &'static str,
    pub error: Option<String>,
}

impl InstalledPlugin {
    pub fn to_json(&self) -> String {
        format!(
            "{{\"name\":{},\"version\":{},\"tools\":{},\"state\":\"{}\",\"error\":{}}}",
            object::json_string(&self.name),
            object::json_string(&self.version),
            self.tools,
            self.state,
            self.error
                .as_deref()
                .map_or("null".to_owned(), object::json_string)
        )
    }
}

impl Gateway {
    /// Whether `principal` may administer the gateway (install plugins): an API key with the
    /// `admin` scope, or the anonymous caller while no API key is configured and anonymous
    /// callers are served only on loopback (the quick start). `auth.anonymous: force` does not
    /// make strangers administrators.
    pub fn may_administer(&self, principal: &Principal) -> bool {
        if *principal == Principal::anonymous() {
            let auth = &self.state.config.auth;
            return auth.api_keys.is_empty()
                && auth.anonymous == switchboard_config::Anonymous::Loopback;
        }
        principal.scopes().iter().any(|s| s == "admin")
    }

    /// Whether `principal` may install a plugin at all: runtime install is on and it may
    /// administer. Asked before a bundle is read, so nobody else makes the gateway buffer one.
    pub fn may_install_plugins(&self, principal: &Principal) -> Result<(), InstallError> {
        let cfg = &self.state.config.plugins;
        if cfg.dir.is_none() || !cfg.runtime_install {
            return Err(InstallError::Off);
        }
        if !self.may_administer(principal) {
            return Err(InstallError::Forbidden);
        }
        Ok(())
    }

    /// The largest bundle `POST /api/plugins` reads.
    pub fn max_bundle_bytes(&self) -> u64 {
        Limits::default().max_bundle_bytes
    }

    /// Installs a bundle at run time: always verified against the trust roots (whatever
    /// `plugins.verify` says) before anything is written, placed in one step, then started
    /// as an upstream without touching any other.
    pub async fn install_plugin(
        &self,
        principal: &Principal,
        bundle: Bytes,
    ) -> Result<InstalledPlugin, InstallError> {
        let result = self.install_plugin_unaudited(principal, bundle).await;
        let (outcome, detail, reason) = match &result {
            Ok(p) => ("ok", Some(format!("{} {}", p.name, p.version)), None),
            Err(e) => ("error", None, Some(e.to_string())),
        };
        self.audit_admin(
            "plugin_install",
            principal.shared_id(),
            outcome,
            detail,
            reason,
        )
        .await;
        result
    }

    async fn install_plugin_unaudited(
        &self,
        principal: &Principal,
        bundle: Bytes,
    ) -> Result<InstalledPlugin, InstallError> {
        self.may_install_plugins(principal)?;
        let cfg = &self.state.config.plugins;
        let Some(dir) = cfg.dir.clone() else {
            return Err(InstallError::Off);
        };
        let _one = self.state.plugins.installing.lock().await;
        let roots = cfg.trust_roots.clone();
        let disabled = cfg.disabled.clone();
        let config = self.state.config.clone();
        let placed = tokio::task::spawn_blocking(move || {
            let (roots, _) = TrustRoots::load(&roots);
            if roots.is_empty() {
                return Err(InstallError::Refused(Refusal::NoTrustRoot));
            }
            let read = Bundle::read(&bundle, &Limits::default()).map_err(InstallError::Refused)?;
            let verified =
                switchboard_plugins::verify::verify(read, Signature::Check(&roots), VERSION)
                    .map_err(InstallError::Refused)?;
            let name = &verified.manifest.name;
            if disabled.contains(name) {
                return Err(InstallError::Conflict(format!(
                    "plugin `{name}` is disabled (plugins.disabled or SWITCHBOARD_PLUGINS_DISABLED)"
                )));
            }
            if let Some(why) = taken(&config, name) {
                return Err(InstallError::Conflict(why));
            }
            store::install(&dir, &verified).map_err(InstallError::Refused)
        })
        .await
        .map_err(|e| InstallError::Refused(Refusal::Io(format!("install task failed: {e}"))))??;
        let name = placed.manifest.name.clone();
        let version = placed.manifest.version.clone();
        tracing::info!(plugin = %name, %version, "plugin installed at run time");
        self.upsert_upstream(upstream(cfg, &placed)).await;
        self.state.plugins.put(PluginState {
            name: name.clone(),
            version: Some(version.clone()),
            state: "loaded",
            reason: None,
        });
        let Some(up) = self.state.upstreams.get(&name) else {
            return Err(InstallError::Conflict(format!(
                "plugin `{name}` was replaced while it started"
            )));
        };
        let mut attempts = up.attempts.subscribe();
        let _ = tokio::time::timeout(FIRST_START_WAIT, attempts.wait_for(|n| *n > 0)).await;
        let catalog = self.catalog();
        let tools = (0..catalog.len(ListKind::Tools))
            .filter(|&p| catalog.entry(ListKind::Tools, p).upstream == up.id)
            .count();
        Ok(InstalledPlugin {
            name,
            version,
            tools,
            state: up.health().as_str(),
            error: up.last_error(),
        })
    }

    /// The `plugins` member of `/status`: every plugin found, with its state and reason.
    pub(crate) fn plugins_json(&self) -> String {
        let report = lock(&self.state.plugins.report);
        let items: Vec<String> = report
            .iter()
            .map(|p| {
                format!(
                    "{{\"name\":{},\"version\":{},\"state\":\"{}\",\"reason\":{}}}",
                    object::json_string(&p.name),
                    p.version
                        .as_deref()
                        .map_or("null".to_owned(), object::json_string),
                    p.state,
                    p.reason
                        .as_deref()
                        .map_or("null".to_owned(), object::json_string)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }
}
