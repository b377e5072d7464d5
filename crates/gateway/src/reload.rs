//! Applying a new config to a running gateway: only the upstreams whose config changed are
//! started, restarted or stopped; every other upstream, process, session and in-flight call is
//! left alone, and clients whose view changed get `list_changed` (the registry and catalog
//! rebuild see to that). Products and `/mcp`'s `mode` apply live too. Other settings outside
//! `upstreams` are fixed for the process's life: a reload that changes them says which, and
//! they take effect at the next start.

use std::sync::atomic::Ordering;

use switchboard_config::Config;

use crate::Gateway;

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    /// Top-level settings that differ from the running ones and need a restart.
    pub needs_restart: Vec<&'static str>,
    /// The products (or `/mcp`'s `mode`) changed and were applied.
    pub products: bool,
    /// The new products were refused (two tools under one name); the running ones stay.
    pub products_refused: Option<String>,
}

impl Reloaded {
    /// One line for the log.
    pub fn summary(&self) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let products = match (&self.products_refused, self.products) {
            (Some(why), _) => format!("; products refused: {why}"),
            (None, true) => "; products applied".to_owned(),
            (None, false) => String::new(),
        };
        format!(
            "added: {}; changed: {}; removed: {}; unchanged: {}{products}",
            list(&self.added),
            list(&self.changed),
            list(&self.removed),
            self.unchanged
        )
    }
}

impl Gateway {
    /// Moves the running upstreams to `new`'s. Removals go first (an upstream renamed or
    /// re-prefixed frees its names before another takes them), then replacements, then
    /// additions, each in file order.
    pub async fn reload(&self, new: &Config) -> Reloaded {
        let r = self.apply_collections(new).await;
        // The keys file was read again with the config: its keys apply now.
        if new.auth.keys_file == self.state.config.auth.keys_file {
            self.replace_file_keys(&new.auth.file_keys);
        }
        r
    }

    /// What a reload changes live: upstreams and products (the admin API's changes go this
    /// way too; they leave the keys file's keys alone).
    pub(crate) async fn apply_collections(&self, new: &Config) -> Reloaded {
        // Installed plugins are scanned again, off the async threads (it hashes every plugin
        // file): a plugin installed, removed or changed since the last scan is started, stopped
        // or refused now.
        let scan = new.clone();
        let (plugin_upstreams, plugin_report) =
            match tokio::task::spawn_blocking(move || crate::plugins::load(&scan)).await {
                Ok(scanned) => scanned,
                Err(e) => {
                    tracing::error!("the plugin scan failed ({e}); no plugin loads");
                    Default::default()
                }
            };
        self.state.plugins.set(plugin_report);
        let current = self.state.upstreams.members();
        let mut r = Reloaded::default();
        let mut start = Vec::new();
        let wanted: Vec<&switchboard_config::UpstreamConfig> = new
            .upstreams
            .iter()
            .chain(plugin_upstreams.iter())
            .collect();
        for &cfg in &wanted {
            match current.get(&cfg.name) {
                None => {
                    r.added.push(cfg.name.clone());
                    start.push(cfg);
                }
                Some(up) if up.cfg != *cfg => {
                    r.changed.push(cfg.name.clone());
                    start.push(cfg);
                }
                Some(_) => r.unchanged += 1,
            }
        }
        for up in current.iter() {
            if !wanted.iter().any(|c| c.name == up.cfg.name) {
                r.removed.push(up.cfg.name.clone());
            }
        }
        drop(current);
        for name in &r.removed {
            self.remove_upstream(name).await;
        }
        for cfg in start {
            self.upsert_upstream(cfg.clone()).await;
        }
        // Products (and `/mcp`'s mode) apply live, after the upstreams they select: refused
        // whole, keeping the running ones, when one would expose two tools under one name.
        let running = self.products();
        let same = running.whole_mode == new.mode
            && running.iter().map(|p| &p.cfg).eq(new.products.iter());
        if !same {
            match self.set_products(&new.products, new.mode) {
                Ok(()) => r.products = true,
                Err(why) => {
                    tracing::error!("products not reloaded: {why}");
                    r.products_refused = Some(why);
                }
            }
        }
        r.needs_restart = fixed_settings_changed(&self.state.config, new);
        r
    }

    /// Counts a reload attempt: applied (`true`) or refused because the new config did not load.
    pub fn record_reload(&self, applied: bool) {
        self.state.reloads[usize::from(!applied)].fetch_add(1, Ordering::Relaxed);
        self.state.metrics.config_reload(if applied {
            switchboard_telemetry::Reload::Ok
        } else {
            switchboard_telemetry::Reload::Error
        });
    }

    /// Audits a reload: `Ok(summary)` when applied, `Err(why)` when the new file did not load.
    /// Made on the machine (the file edited, `SIGHUP`), so its principal is `operator`.
    pub async fn audit_reload(&self, result: Result<String, String>) {
        static OPERATOR: std::sync::OnceLock<std::sync::Arc<str>> = std::sync::OnceLock::new();
        let principal = OPERATOR.get_or_init(|| std::sync::Arc::from("operator"));
        let (outcome, detail, reason) = match result {
            Ok(summary) => ("ok", Some(summary), None),
            Err(why) => ("error", None, Some(why)),
        };
        self.audit_admin("config_reload", principal, outcome, detail, reason)
            .await;
    }

    /// Writes a `kind: admin` audit record, when the audit log is on.
    pub(crate) async fn audit_admin(
        &self,
        action: &'static str,
        principal: &std::sync::Arc<str>,
        outcome: &'static str,
        detail: Option<String>,
        reason: Option<String>,
    ) {
        if let Some(audit) = self.audit() {
            audit
                .admin(switchboard_audit::AdminEvent {
                    time: std::time::SystemTime::now(),
                    action,
                    principal: principal.clone(),
                    outcome,
                    detail,
                    reason,
                })
                .await;
        }
    }

    /// Reloads applied and refused so far.
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.state.reloads[0].load(Ordering::Relaxed),
            self.state.reloads[1].load(Ordering::Relaxed),
        )
    }
}

/// The settings outside `upstreams` that differ between `running` and `new`.
fn fixed_settings_changed(running: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("listen", running.listen != new.listen);
    check(
        "namespace_separator",
        running.namespace_separator != new.namespace_separator,
    );
    check("http", running.http != new.http);
    check(
        "allow_private_upstreams",
        running.allow_private_upstreams != new.allow_private_upstreams,
    );
    check("outbound", running.outbound_proxy != new.outbound_proxy);
    check("sessions", running.sessions != new.sessions);
    check("roots", running.roots != new.roots);
    check("modern", running.modern != new.modern);
    check("limits", running.limits != new.limits);
    check("idempotency", running.idempotency != new.idempotency);
    // The keys file's contents change live (`replace_file_keys`); the rest of `auth` does not.
    let fixed_auth = |a: &switchboard_config::AuthConfig| switchboard_config::AuthConfig {
        file_keys: Vec::new(),
        ..a.clone()
    };
    check("auth", fixed_auth(&running.auth) != fixed_auth(&new.auth));
    check("metrics", running.metrics_enabled != new.metrics_enabled);
    // Loading follows the new block at once; runtime install keeps the start settings.
    check(
        "plugins (runtime install)",
        running.plugins.runtime_install != new.plugins.runtime_install
            || running.plugins.trust_roots != new.plugins.trust_roots
            || running.plugins.dir != new.plugins.dir,
    );
    check("telemetry", running.telemetry != new.telemetry);
    check("state_dir", running.state_dir != new.state_dir);
    changed
}
