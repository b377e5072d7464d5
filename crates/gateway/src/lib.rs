//! The transport-independent core of switchboard.
//!
//! [`Gateway`] is a handle on the gateway's state: the upstream [`upstreams::Registry`], the
//! merged [`catalog::Catalog`] and the [`view::View`]s of it, the downstream
//! [`sessions::Sessions`], and what requests in flight share (tasks, listens, held calls, the
//! sealing keys). Transports (HTTP, stdio) hand it a [`request::Request`] and a parsed message;
//! the gateway answers with bytes. It never sees a socket or a header. The path of one request
//! is [`pipeline`], stage by stage; every request to an upstream goes out through [`call`].

pub mod admin;
pub mod auth;
pub mod call;
pub mod capabilities;
pub mod catalog;
pub mod error;
pub mod hints;
pub mod idempotency;
pub mod jwt;
pub mod level;
pub mod listen;
pub mod modern;
mod operations;
pub mod pipeline;
pub mod plugins;
pub mod policy;
pub mod principal;
pub mod products;
pub mod reload;
pub mod request;
pub mod resilience;
pub mod sessions;
mod spans;
mod status;
pub mod tasks;
pub mod token;
pub mod upstreams;
pub mod usage;
pub mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use switchboard_config::Config;
use switchboard_protocol::object::{self, Edit};
use switchboard_upstream::reaper::Reaper;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::sessions::Sessions;
use crate::upstreams::{Registry, Upstream};
use crate::view::{View, ViewKey, Views};

pub use call::relay::Related;
pub use pipeline::Answer;
pub use sessions::lifecycle::SessionRefused;
pub use switchboard_upstream::related;

/// The gateway. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    state: Arc<State>,
}

struct State {
    config: Config,
    upstreams: Registry,
    catalog: ArcSwap<Catalog>,
    /// Counts catalog rebuilds (each catalog carries its number; views key on it).
    generation: AtomicU64,
    views: Views,
    /// The products served at `/mcp/v/<id>` (replaced whole by a reload or the admin API),
    /// shared with every catalog built after.
    products: ArcSwap<products::Products>,
    /// Each product id's endpoint, for the life of the process.
    product_slots: products::Slots,
    /// The admin API's state: the file's config, the overlay, the state file.
    admin: admin::Admin,
    /// `tools/call`s per (principal, product, tool) and outcome (`/api/usage`).
    usage: usage::Usage,
    /// Serialises catalog rebuilds so list_changed notifications follow the order of changes.
    rebuild: std::sync::Mutex<()>,
    sessions: Sessions,
    reaper: Option<Reaper>,
    /// Bumped whenever an upstream finishes its first connection attempt (readiness waits on it).
    started: watch::Sender<u64>,
    /// Latched once every upstream configured at start had its first attempt: an upstream added
    /// at run time does not make a serving gateway unready.
    ready: AtomicBool,
    shutdown: CancellationToken,
    tasks: tasks::Tasks,
    /// Open `subscriptions/listen` requests of modern callers.
    listeners: listen::Listeners,
    /// Calls of modern callers held for their retry (bridge C).
    held: call::bridge_c::HeldCalls,
    /// Seals and opens `requestState`; `None` only if the system's random source failed.
    keys: Option<call::sealed::Keys>,
    /// This replica's name, sealed into the state of the calls it holds.
    replica: String,
    /// `limits.max_inflight` over every client call, when set.
    global_limit: Option<resilience::limit::Limit>,
    /// Config reloads applied and refused, for `/status` and metrics.
    reloads: [AtomicU64; 2],
    /// Results of `tools/call`s made with an idempotency key.
    idempotency: Arc<dyn idempotency::ResultStore>,
    /// Who may call.
    auth: auth::Auth,
    /// `limits.rate`: per principal, and per principal and tool.
    rates: [Option<resilience::rate::Limiter>; 2],
    /// Each role's own `rate` (by `auth.roles` index), for the principals it is the
    /// [`principal::Principal::rate_role`] of; `None` where the role keeps `limits.rate`.
    role_rates: Vec<[Option<resilience::rate::Limiter>; 2]>,
    /// Some upstream exchanges or forwards the caller's token (`credentials: { token_exchange }`
    /// or `{ passthrough: true }`): only then does a transport keep it for a request.
    forwards_caller_tokens: bool,
    /// The metric families and their handles (`/metrics`; `docs/metrics.md`).
    metrics: switchboard_telemetry::Metrics,
    /// The audit log, when configured (the binary starts it; see `pipeline/mod.rs` `record`).
    audit: Option<switchboard_audit::Audit>,
    /// What became of each plugin; one runtime install at a time.
    plugins: plugins::Plugins,
    /// Tracing export, when `telemetry:` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) asks for it; `None`
    /// is the whole cost of tracing when it is off (`spans.rs`).
    tracer: Option<switchboard_trace::Tracer>,
}

impl Gateway {
    /// Builds the gateway; nothing is started until [`Gateway::start`].
    pub fn new(config: Config, reaper: Option<Reaper>) -> Gateway {
        Gateway::with_audit(config, reaper, None)
    }

    /// Builds the gateway recording to `audit` (started from `config.audit` by the binary, so
    /// that a log that cannot be opened stops it before it serves).
    pub fn with_audit(
        config: Config,
        reaper: Option<Reaper>,
        audit: Option<switchboard_audit::Audit>,
    ) -> Gateway {
        let configured: Vec<[u8; 32]> = config
            .modern
            .state_keys
            .iter()
            .map(|k| *k.bytes())
            .collect();
        let keys = match call::sealed::Keys::new(&configured) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(
                    "no key to seal requestState with ({e}); input_required results are unavailable"
                );
                None
            }
        };
        let replica = config
            .modern
            .replica_id
            .clone()
            .unwrap_or_else(|| token::random::<8>("").to_string());
        let shutdown = CancellationToken::new();
        let global_limit = resilience::global_limit(&config.limits);
        let idempotency: Arc<dyn idempotency::ResultStore> =
            Arc::new(idempotency::MemoryStore::new(config.idempotency.clone()));
        let auth = auth::Auth::new(&config.auth, upstreams::outbound::gateway_policy(&config));
        let rates = [
            config
                .limits
                .rate_per_principal
                .map(resilience::rate::Limiter::new),
            config
                .limits
                .rate_per_tool
                .map(resilience::rate::Limiter::new),
        ];
        let forwards_caller_tokens = config
            .upstreams
            .iter()
            .any(|u| u.credentials.uses_caller_token());
        let role_rates = config
            .auth
            .roles
            .iter()
            .map(|r| {
                [
                    r.rate_per_principal.map(resilience::rate::Limiter::new),
                    r.rate_per_tool.map(resilience::rate::Limiter::new),
                ]
            })
            .collect();
        let metrics = if config.metrics_enabled {
            switchboard_telemetry::Metrics::new()
        } else {
            switchboard_telemetry::Metrics::disabled()
        };
        // Verified plugins run as upstreams after the configured ones.
        let (plugin_upstreams, plugin_report) = plugins::load(&config);
        let tracer =
            config
                .telemetry
                .as_ref()
                .and_then(|t| match switchboard_trace::Tracer::start(t) {
                    Ok(tracer) => {
                        tracing::info!(
                            endpoint = %t.otlp.endpoint,
                            ratio = t.sampling.ratio,
                            "trace export on"
                        );
                        Some(tracer)
                    }
                    Err(e) => {
                        tracing::error!("trace export cannot start ({e}); serving without it");
                        None
                    }
                });
        let upstreams = config
            .upstreams
            .iter()
            .chain(plugin_upstreams.iter())
            .map(|u| {
                Arc::new(Upstream::new(
                    u.clone(),
                    &config.limits,
                    shutdown.child_token(),
                    metrics.upstream(&u.name),
                ))
            })
            .collect();
        let gw = Gateway {
            state: Arc::new(State {
                config,
                upstreams: Registry::new(upstreams),
                catalog: ArcSwap::from_pointee(Catalog::default()),
                generation: AtomicU64::new(0),
                views: Views::default(),
                products: ArcSwap::from_pointee(products::Products::default()),
                product_slots: products::Slots::default(),
                admin: admin::Admin::default(),
                usage: usage::Usage::new(usage::MAX_KEYS, &metrics),
                rebuild: std::sync::Mutex::new(()),
                sessions: Sessions::default(),
                reaper,
                started: watch::Sender::new(0),
                ready: AtomicBool::new(false),
                shutdown,
                tasks: tasks::Tasks::default(),
                listeners: listen::Listeners::default(),
                held: call::bridge_c::HeldCalls::default(),
                keys,
                replica,
                global_limit,
                reloads: [AtomicU64::new(0), AtomicU64::new(0)],
                idempotency,
                auth,
                rates,
                role_rates,
                forwards_caller_tokens,
                metrics,
                audit,
                plugins: plugins::Plugins::new(plugin_report),
                tracer,
            }),
        };
        let products = gw.compile_products(&gw.state.config.products, gw.state.config.mode);
        gw.state.products.store(Arc::new(products));
        gw
    }

    /// Starts every upstream's supervisor and the session sweeper. Returns at once: upstreams
    /// come up in the background and never hold back the caller.
    pub fn start(&self) {
        for up in self.state.upstreams.members().iter() {
            self.spawn_supervisor(up.clone());
        }
        let gw = self.clone();
        tokio::spawn(async move { gw.sweep_sessions().await });
    }

    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// True when `requestState` is sealed with a key made up for this process (no
    /// `modern.state_keys`): a retry after a restart or on another replica cannot open it. Whether
    /// that deserves a warning depends on how the gateway is run, so the binary decides.
    pub fn seals_with_ephemeral_key(&self) -> bool {
        self.state
            .keys
            .as_ref()
            .is_some_and(call::sealed::Keys::is_ephemeral)
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &switchboard_telemetry::Metrics {
        &self.state.metrics
    }

    /// The `/metrics` text in `format` (`None` when metrics are off). Numbers kept elsewhere
    /// (open sessions) are read into their gauges first.
    pub fn metrics_text(&self, format: switchboard_telemetry::Format) -> Option<String> {
        let m = &self.state.metrics;
        m.set_sessions(switchboard_telemetry::Era::Handshake, self.session_count());
        if let Some(w) = self
            .audit()
            .and_then(switchboard_audit::Audit::webhook_stats)
        {
            m.set_audit_webhook(switchboard_telemetry::AuditWebhook {
                queued: w.queued,
                sent: w.sent,
                retried: w.retried,
                dead_lettered: w.dead_lettered,
                dropped: w.dropped,
            });
        }
        m.encode(format)
    }

    /// The audit log, when configured.
    pub fn audit(&self) -> Option<&switchboard_audit::Audit> {
        self.state.audit.as_ref()
    }

    /// The live upstream registry.
    pub fn upstreams(&self) -> &Registry {
        &self.state.upstreams
    }

    /// The current catalog snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.state.catalog.load_full()
    }

    /// The view `key` of the current catalog (cached until the catalog changes).
    pub fn view(&self, key: ViewKey) -> Arc<View> {
        self.state.views.get(&self.state.catalog.load(), key)
    }

    /// The view `key` narrowed to what `principal` may see (its visibility scopes, held as bits
    /// of the current catalog's policy: worked out per request, so a reload that changes the
    /// rules applies at once).
    pub fn caller_view(&self, key: ViewKey, principal: &principal::Principal) -> Arc<View> {
        let catalog = self.state.catalog.load();
        let key = key.with_held(catalog.policy.held(principal));
        self.state.views.get(&catalog, key)
    }

    /// Whether a transport should keep the caller's access token for a request
    /// ([`request::Request::with_caller_token`]): only when some upstream exchanges or forwards
    /// it, so a gateway without such upstreams never holds a caller's token past
    /// authentication.
    pub fn forwards_caller_tokens(&self) -> bool {
        self.state.forwards_caller_tokens
    }

    /// The key of `principal`'s view in the current catalog (for what outlives one request: a
    /// listen).
    pub fn caller_key(&self, key: ViewKey, principal: &principal::Principal) -> ViewKey {
        key.with_held(self.state.catalog.load().policy.held(principal))
    }

    /// True once every upstream has had its first connection attempt (successful or not).
    pub fn is_ready(&self) -> bool {
        if self.state.ready.load(Ordering::Acquire) {
            return true;
        }
        let ready = self.state.upstreams.all_attempted();
        if ready {
            self.state.ready.store(true, Ordering::Release);
        }
        ready
    }

    /// Whether `/readyz` should say ready: every upstream had its first attempt, the gateway is
    /// not shutting down, and every `required: true` upstream is serving (ready, degraded, or
    /// cold and able to start on demand). `Err` says what is missing.
    pub fn readiness(&self) -> Result<(), String> {
        if self.is_shutting_down() {
            return Err("shutting down".to_owned());
        }
        if !self.is_ready() {
            return Err("starting".to_owned());
        }
        for up in self.state.upstreams.members().iter() {
            if !up.cfg.required {
                continue;
            }
            use upstreams::upstream::Health;
            let health = up.health();
            if !matches!(health, Health::Ready | Health::Degraded | Health::Cold) {
                return Err(format!(
                    "required upstream {} is {}",
                    up.name(),
                    health.as_str()
                ));
            }
        }
        Ok(())
    }

    /// Waits (up to `limit`) until every upstream has had its first connection attempt.
    pub async fn wait_ready(&self, limit: Duration) {
        let mut rx = self.state.started.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|_| self.is_ready())).await;
    }

    /// Stops taking work: upstreams are closed and sessions ended.
    pub async fn shutdown(&self) {
        self.state.shutdown.cancel();
        let sessions = self.state.sessions.store().drain();
        let conns: Vec<_> = self
            .state
            .upstreams
            .members()
            .iter()
            .filter_map(|u| switchboard_protocol::lock(&u.conn).take())
            .collect();
        // Every upstream stops at once: shutdown takes one grace period, not one per session.
        futures::future::join(
            futures::future::join_all(sessions.iter().map(|s| self.end_session(s))),
            futures::future::join_all(conns.iter().map(|c| c.close())),
        )
        .await;
        // Last: every request has had its answer, so every record is queued.
        if let Some(audit) = &self.state.audit {
            audit.close().await;
        }
        if let Some(tracer) = &self.state.tracer {
            tracer.flush(std::time::Duration::from_secs(5)).await;
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.state.shutdown.is_cancelled()
    }

    /// The next catalog generation number.
    fn next_generation(&self) -> u64 {
        self.state.generation.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Rewrites a member of a raw params object, for the pipeline's name rewrites.
pub(crate) fn set_member(params: &str, key: &str, raw: &str) -> Option<String> {
    object::edit(params, &[(key, Edit::Set(raw))])
}
