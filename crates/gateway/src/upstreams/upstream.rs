//! One configured upstream at run time: its id and config, its shared connection, its fetched
//! lists, its health, and how a new connection to it is opened.
//!
//! Its life (connect, list, publish, reconnect) is [`super::supervisor`]'s; this file holds the
//! state that life leaves behind for everyone else to read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_config::{Transport, UpstreamConfig};
use switchboard_protocol::Revision;
use switchboard_upstream::http::HttpSpec;
use switchboard_upstream::stdio::{Integrity, StdioSpec};
use switchboard_upstream::{ConnectOptions, Connection, Era, Replay, Target, reaper::Reaper};
use tokio_util::sync::CancellationToken;

use super::UpstreamId;
use crate::catalog::Lists;
use crate::level::Level;
use switchboard_protocol::lock;

/// Where an upstream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not running, by design: a `start: lazy` upstream before its first call, or one stopped
    /// by `idle_timeout`. Its catalog is kept; a call starts it.
    Cold,
    Starting,
    Ready,
    /// Connected, but its last health check went unanswered.
    Degraded,
    /// Not connected: it exited, its connection closed, or it failed to start; the supervisor
    /// retries with backoff.
    Failed,
}

impl Health {
    /// The lifecycle state `switchboard_upstream_state` reports.
    pub fn metric_state(self) -> switchboard_telemetry::State {
        match self {
            Health::Cold => switchboard_telemetry::State::Cold,
            Health::Starting => switchboard_telemetry::State::Starting,
            Health::Ready => switchboard_telemetry::State::Ready,
            Health::Degraded => switchboard_telemetry::State::Degraded,
            Health::Failed => switchboard_telemetry::State::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Cold => "cold",
            Health::Starting => "starting",
            Health::Ready => "ready",
            Health::Degraded => "degraded",
            Health::Failed => "failed",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Status {
    pub health: Health,
    pub error: Option<String>,
    pub since: Instant,
    pub restarts: u32,
    pub revision: Option<Revision>,
}

/// One configured upstream.
pub struct Upstream {
    pub id: UpstreamId,
    pub cfg: UpstreamConfig,
    /// Ends this upstream's supervisor (and with it the shared connection): fired when the
    /// upstream is removed or replaced at run time, and when the gateway shuts down.
    pub(crate) stop: CancellationToken,
    pub(crate) conn: Mutex<Option<Connection>>,
    pub(crate) lists: Mutex<Option<Arc<Lists>>>,
    pub(crate) status: Mutex<Status>,
    /// The log level last sent to the shared connection.
    pub(crate) sent_level: Mutex<Option<Level>>,
    /// The era an `era: auto` upstream turned out to speak: later connections skip the probe.
    pub(crate) verdict: Mutex<Option<Era>>,
    /// The `subscriptions/listen` open on a modern upstream's shared connection.
    pub(crate) listen: Mutex<crate::listen::UpstreamListen>,
    /// Clients' requests sent to this upstream, counted where every one of them goes out
    /// ([`crate::call::send`]); shown in `/status`.
    pub(crate) calls: AtomicU64,
    /// Its concurrency limit and circuit breaker ([`crate::resilience`]).
    pub(crate) guard: crate::resilience::Guard,
    /// Counts finished connection attempts (published or failed): calls waiting for a restart
    /// wake on it.
    pub(crate) attempts: tokio::sync::watch::Sender<u64>,
    /// When the supervisor's next attempt is due, while it waits out a backoff.
    pub(crate) next_attempt: Mutex<Option<Instant>>,
    /// Sessions' own connections open (or opening) to it (`session: isolated`).
    pub(crate) isolated: std::sync::atomic::AtomicUsize,
    /// For a group: members whose lists differ from the group's common ones (for `/status`).
    pub(crate) disagreeing: Mutex<Vec<String>>,
    /// For a round-robin group: whose turn it is.
    pub(crate) turn: std::sync::atomic::AtomicUsize,
    /// Starts a cold upstream: notified by a call that needs it.
    pub(crate) wake: tokio::sync::Notify,
    /// Calls waiting for it to (re)start.
    pub(crate) waiting: std::sync::atomic::AtomicUsize,
    /// Client calls in flight to it, and when the last one ended (ms since `born`): what
    /// `idle_timeout` looks at.
    pub(crate) active: std::sync::atomic::AtomicUsize,
    pub(crate) last_used_ms: AtomicU64,
    born: Instant,
    /// Its first connection attempt is over (it came up or failed): readiness waits for this.
    attempted: AtomicBool,
    /// Its metric series (state, restarts, health checks, in-flight calls, tools).
    pub(crate) metrics: switchboard_telemetry::UpstreamMetrics,
    /// Its OAuth token source (`credentials: { client_credentials }`), made on first connect
    /// and shared by every connection, so a token outlives reconnects.
    token: std::sync::OnceLock<Option<Arc<switchboard_upstream::oauth::TokenSource>>>,
    /// Its token exchanger (`credentials: { token_exchange }`), made on first connect and
    /// shared by every connection, so exchanged tokens outlive reconnects.
    pub(crate) exchanger:
        std::sync::OnceLock<Option<Arc<switchboard_upstream::token_exchange::Exchanger>>>,
    /// A built-in connector's server, made once (before its supervisor starts) and shared by
    /// its connections.
    pub(crate) builtin: std::sync::OnceLock<Arc<dyn switchboard_upstream::InProcessServer>>,
    /// Stopped by an operator (the management `stop` tool): no supervisor runs until `start`.
    pub(crate) stopped: AtomicBool,
}

impl Upstream {
    pub(crate) fn new(
        cfg: UpstreamConfig,
        limits: &switchboard_config::LimitsConfig,
        stop: CancellationToken,
        metrics: switchboard_telemetry::UpstreamMetrics,
    ) -> Upstream {
        Upstream {
            guard: crate::resilience::Guard::new(&cfg, limits),
            attempts: tokio::sync::watch::Sender::new(0),
            next_attempt: Mutex::new(None),
            isolated: std::sync::atomic::AtomicUsize::new(0),
            disagreeing: Mutex::new(Vec::new()),
            turn: std::sync::atomic::AtomicUsize::new(0),
            wake: tokio::sync::Notify::new(),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            active: std::sync::atomic::AtomicUsize::new(0),
            last_used_ms: AtomicU64::new(0),
            born: Instant::now(),
            id: UpstreamId::new(&cfg.name),
            cfg,
            stop,
            conn: Mutex::new(None),
            lists: Mutex::new(None),
            status: Mutex::new(Status {
                health: Health::Starting,
                error: None,
                since: Instant::now(),
                restarts: 0,
                revision: None,
            }),
            sent_level: Mutex::new(None),
            verdict: Mutex::new(None),
            listen: Mutex::new(crate::listen::UpstreamListen::default()),
            calls: AtomicU64::new(0),
            attempted: AtomicBool::new(false),
            metrics,
            token: std::sync::OnceLock::new(),
            exchanger: std::sync::OnceLock::new(),
            builtin: std::sync::OnceLock::new(),
            stopped: AtomicBool::new(false),
        }
    }

    /// The timeout for a call of tool `tool` (the upstream's own name): its `tool_timeouts`
    /// entry, else the upstream's `timeout`.
    pub(crate) fn tool_timeout(&self, tool: &str) -> Option<Duration> {
        self.cfg
            .tool_timeouts
            .iter()
            .find(|(t, _)| t == tool)
            .map(|&(_, d)| d)
    }

    /// Whether its first connection attempt is over.
    pub fn attempted(&self) -> bool {
        self.attempted.load(Ordering::Acquire)
    }

    /// Marks the first connection attempt over; true the first time only.
    pub(crate) fn mark_attempted(&self) -> bool {
        !self.attempted.swap(true, Ordering::AcqRel)
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The live shared connection, if any.
    pub fn connection(&self) -> Option<Connection> {
        lock(&self.conn).clone().filter(|c| !c.is_closed())
    }

    /// Waits, at most `limit`, for a restart that is underway or due within `limit` to finish.
    /// True when it brought a connection; false at once when no restart is coming that soon, or
    /// as soon as the attempt fails (its error is then the upstream's last error).
    pub(crate) async fn await_restart(&self, limit: Duration) -> bool {
        // Subscribed before looking, so an attempt that ends in between still wakes us.
        let mut attempts = self.attempts.subscribe();
        let due = match self.health() {
            // `None`: the supervisor is between noticing the failure and scheduling the next
            // attempt, or is making it now; it always makes one (until the upstream is removed).
            Health::Failed => {
                lock(&self.next_attempt).is_none_or(|at| at <= Instant::now() + limit)
            }
            // Cold, starting, or a connection going away (cold or failed) just now.
            Health::Cold | Health::Starting | Health::Ready | Health::Degraded => true,
        };
        // Stopped by an operator: no supervisor runs, so no attempt is coming.
        if !due || self.stop.is_cancelled() || self.stopped.load(Ordering::Acquire) {
            return false;
        }
        // Counted while it waits: a cold upstream starts only for calls that still want it.
        let _waiting = Waiting::new(&self.waiting);
        self.wake.notify_one();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, attempts.changed()).await {
                Ok(Ok(())) => {
                    if self.connection().is_some() {
                        return true;
                    }
                    // The attempt failed: no point waiting for the one after its backoff.
                    if self.health() == Health::Failed {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }

    /// Marks a client call to it as running until the guard drops (for `idle_timeout`).
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.active.fetch_add(1, Ordering::AcqRel);
        Busy(self)
    }

    /// How long since a client call to it last ended (zero while one runs).
    pub(crate) fn idle_for(&self) -> Duration {
        if self.active.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_used_ms.load(Ordering::Acquire));
        self.born.elapsed().saturating_sub(last)
    }

    pub fn health(&self) -> Health {
        lock(&self.status).health
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.status).error.clone()
    }

    /// Moves to `health`; a change of state is logged with its reason.
    pub(crate) fn set_health(&self, health: Health, error: Option<String>) {
        let mut s = lock(&self.status);
        if s.health != health {
            s.since = Instant::now();
            let reason = error.as_deref().unwrap_or("");
            match health {
                Health::Failed | Health::Degraded => tracing::warn!(
                    upstream = self.name(),
                    from = s.health.as_str(),
                    to = health.as_str(),
                    "upstream state: {reason}"
                ),
                _ => tracing::info!(
                    upstream = self.name(),
                    from = s.health.as_str(),
                    to = health.as_str(),
                    "upstream state"
                ),
            }
        }
        if health == Health::Starting && s.health == Health::Failed {
            s.restarts += 1;
            self.metrics.restarted();
        }
        self.metrics.set_state(health.metric_state());
        s.health = health;
        if error.is_some() || health == Health::Ready {
            s.error = error;
        }
    }

    /// The kind of transport, for status pages.
    pub fn kind(&self) -> &'static str {
        match &self.cfg.transport {
            Transport::Stdio { .. } => "stdio",
            Transport::Http { .. } => "http",
            Transport::Sse { .. } => "sse",
            Transport::Group { .. } => "group",
            Transport::Builtin { kind, .. } => match kind.as_str() {
                "prometheus" => "prometheus",
                "loki" => "loki",
                "kubernetes" => "kubernetes",
                "management" => "management",
                _ => "builtin",
            },
        }
    }

    /// Remembers which era a connection to this upstream speaks (the probe's verdict).
    pub(crate) fn record_era(&self, conn: &Connection) {
        *lock(&self.verdict) = Some(if conn.is_modern() {
            Era::Modern
        } else {
            Era::Legacy
        });
    }

    fn token(
        &self,
        global: &switchboard_config::Config,
    ) -> Option<Arc<switchboard_upstream::oauth::TokenSource>> {
        self.token
            .get_or_init(|| super::outbound::token_source(global, &self.cfg))
            .clone()
    }

    /// Options for a new connection declaring `capabilities` (raw JSON); `replay` is what it
    /// tells a re-created upstream session again.
    pub(crate) fn connect_options(
        &self,
        global: &switchboard_config::Config,
        capabilities: String,
        reaper: Option<Reaper>,
        replay: Replay,
    ) -> Option<ConnectOptions> {
        self.exchanger
            .get_or_init(|| super::outbound::exchanger(global, &self.cfg));
        let target = match &self.cfg.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
                env_clear,
                integrity,
            } => Target::Stdio(StdioSpec {
                command: command.clone(),
                args: args.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
                env_clear: *env_clear,
                integrity: integrity.as_ref().map(|i| Integrity {
                    path: i.path.clone(),
                    sha256: i.sha256,
                }),
            }),
            Transport::Http { url, headers } => Target::Http(HttpSpec {
                url: url.clone(),
                headers: super::outbound::headers_with_credentials(headers, &self.cfg.credentials),
                egress: super::outbound::egress_policy(global, &self.cfg),
                token: self.token(global),
            }),
            Transport::Sse { url, headers } => Target::Sse(HttpSpec {
                url: url.clone(),
                headers: super::outbound::headers_with_credentials(headers, &self.cfg.credentials),
                egress: super::outbound::egress_policy(global, &self.cfg),
                token: self.token(global),
            }),
            // Made before its supervisor starts (`Gateway::spawn_supervisor`).
            Transport::Builtin { .. } => Target::InProcess(self.builtin.get()?.clone()),
            // A group is reached through its members.
            Transport::Group { .. } => return None,
        };
        Some(ConnectOptions {
            name: self.cfg.name.as_str().into(),
            target,
            timeout: self.cfg.timeout,
            max_message_bytes: self.cfg.max_message_bytes,
            capabilities,
            client_info: format!(
                "{{\"name\":\"switchboard\",\"version\":\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
            revision: Revision::LATEST,
            reaper,
            standalone_stream: true,
            era: match self.cfg.era {
                switchboard_config::Era::Modern => Era::Modern,
                switchboard_config::Era::Legacy => Era::Legacy,
                switchboard_config::Era::Auto => (*lock(&self.verdict)).unwrap_or(Era::Auto),
            },
            probe_timeout: self.cfg.probe_timeout,
            replay: Some(replay),
        })
    }

    /// Whether it is the `management` connector: calling it needs the `admin` scope.
    pub(crate) fn is_management(&self) -> bool {
        matches!(&self.cfg.transport, Transport::Builtin { kind, .. } if kind == "management")
    }

    /// A group's members and how it picks among them; `None` for an upstream with a transport.
    pub(crate) fn group(&self) -> Option<(&[String], switchboard_config::GroupStrategy)> {
        match &self.cfg.transport {
            Transport::Group { members, strategy } => Some((members, *strategy)),
            _ => None,
        }
    }
}

/// A client call in flight to an upstream; see [`Upstream::busy`].
pub(crate) struct Busy<'a>(&'a Upstream);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let now = u64::try_from(self.0.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_used_ms.store(now, Ordering::Release);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A call waiting in [`Upstream::await_restart`], counted while it waits.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(n: &'a std::sync::atomic::AtomicUsize) -> Waiting<'a> {
        n.fetch_add(1, Ordering::AcqRel);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
