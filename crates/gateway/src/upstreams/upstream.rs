//! One configured upstream at run time: its id and config, its shared connection, its fetched
//! lists, its health, and how a new connection to it is opened.
//!
//! Its life (connect, list, publish, reconnect) is [`super::supervisor`]'s; this file holds the
//! state that life leaves behind for everyone else to read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use switchboard_config::{Transport, UpstreamConfig};
use switchboard_protocol::Revision;
use switchboard_upstream::http::HttpSpec;
use switchboard_upstream::stdio::StdioSpec;
use switchboard_upstream::{ConnectOptions, Connection, Era, Replay, Target, reaper::Reaper};
use tokio_util::sync::CancellationToken;

use super::UpstreamId;
use crate::catalog::Lists;
use crate::level::Level;
use switchboard_protocol::lock;

/// Where an upstream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Ready,
    Down,
}

impl Health {
    /// The lifecycle state `switchboard_upstream_state` reports (cold and degraded come with
    /// lazy start and health thresholds).
    pub fn metric_state(self) -> switchboard_telemetry::State {
        match self {
            Health::Starting => switchboard_telemetry::State::Starting,
            Health::Ready => switchboard_telemetry::State::Ready,
            Health::Down => switchboard_telemetry::State::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Ready => "ready",
            Health::Down => "down",
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
    /// Its first connection attempt is over (it came up or failed): readiness waits for this.
    attempted: AtomicBool,
    /// Its metric series (state, restarts, health checks, in-flight calls, tools).
    pub(crate) metrics: switchboard_telemetry::UpstreamMetrics,
}

impl Upstream {
    pub(crate) fn new(
        cfg: UpstreamConfig,
        stop: CancellationToken,
        metrics: switchboard_telemetry::UpstreamMetrics,
    ) -> Upstream {
        Upstream {
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
        }
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

    pub fn health(&self) -> Health {
        lock(&self.status).health
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.status).error.clone()
    }

    pub(crate) fn set_health(&self, health: Health, error: Option<String>) {
        let mut s = lock(&self.status);
        if s.health != health {
            s.since = Instant::now();
        }
        if health == Health::Starting && s.health == Health::Down {
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
        match self.cfg.transport {
            Transport::Stdio { .. } => "stdio",
            Transport::Http { .. } => "http",
            Transport::Sse { .. } => "sse",
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

    /// Options for a new connection declaring `capabilities` (raw JSON); `replay` is what it
    /// tells a re-created upstream session again.
    pub(crate) fn connect_options(
        &self,
        capabilities: String,
        reaper: Option<Reaper>,
        replay: Replay,
    ) -> ConnectOptions {
        let target = match &self.cfg.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => Target::Stdio(StdioSpec {
                command: command.clone(),
                args: args.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
            }),
            Transport::Http { url, headers } => Target::Http(HttpSpec {
                url: url.clone(),
                headers: headers.clone(),
            }),
            Transport::Sse { url, headers } => Target::Sse(HttpSpec {
                url: url.clone(),
                headers: headers.clone(),
            }),
        };
        ConnectOptions {
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
        }
    }
}
