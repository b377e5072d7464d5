//! Each configured upstream at run time: its shared connection, its fetched lists, its health.
//!
//! A supervisor task per upstream connects, fetches the lists (following every `nextCursor`, up to a
//! cap), publishes them to the catalog, and then drains the connection's unclaimed messages until it
//! closes; then it records why, withdraws the upstream's items, and reconnects with backoff. One
//! broken upstream never holds up another: each has its own task, and calls to an upstream that is
//! down fail at once with an error naming it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_config::{Transport, UpstreamConfig};
use switchboard_protocol::object;
use switchboard_protocol::{Kind, Revision};
use switchboard_upstream::http::HttpSpec;
use switchboard_upstream::stdio::StdioSpec;
use switchboard_upstream::{
    Backoff, ConnectOptions, Connection, Era, Replay, RequestCtx, Target, UpstreamError,
    reaper::Reaper,
};

use crate::catalog::{ListKind, Lists};
use crate::hints::Hint;
use crate::level::Level;
use crate::session::lock;

/// Most pages followed per list before the rest is ignored (and logged).
const MAX_PAGES: usize = 100;

/// Where an upstream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Ready,
    Down,
}

impl Health {
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
    pub idx: usize,
    pub cfg: UpstreamConfig,
    pub(crate) conn: Mutex<Option<Connection>>,
    pub(crate) lists: Mutex<Option<Arc<Lists>>>,
    pub(crate) status: Mutex<Status>,
    /// The log level last sent to the shared connection.
    pub(crate) sent_level: Mutex<Option<Level>>,
    /// The era an `era: auto` upstream turned out to speak: later connections skip the probe.
    pub(crate) verdict: Mutex<Option<Era>>,
    /// The `subscriptions/listen` open on a modern upstream's shared connection.
    pub(crate) listen: Mutex<crate::listen::UpstreamListen>,
}

impl Upstream {
    pub(crate) fn new(idx: usize, cfg: UpstreamConfig) -> Upstream {
        Upstream {
            idx,
            cfg,
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
        }
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
        }
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

/// Fetches every list the upstream declared, following cursors.
pub(crate) async fn fetch_lists(conn: &Connection) -> Lists {
    let mut lists = Lists::default();
    for kind in ListKind::ALL {
        match fetch_list(conn, kind).await {
            Ok((items, hint)) => {
                *slot(&mut lists, kind) = items;
                lists.hints[kind.index()] = hint;
            }
            Err(e) => tracing::warn!(
                upstream = conn.name(),
                list = kind.method(),
                "list failed: {e}"
            ),
        }
    }
    lists
}

pub(crate) fn slot(lists: &mut Lists, kind: ListKind) -> &mut Vec<Box<str>> {
    match kind {
        ListKind::Tools => &mut lists.tools,
        ListKind::Prompts => &mut lists.prompts,
        ListKind::Resources => &mut lists.resources,
        ListKind::Templates => &mut lists.templates,
    }
}

/// Fetches one list; an upstream without the capability has an empty list.
pub(crate) async fn fetch_list(
    conn: &Connection,
    kind: ListKind,
) -> Result<(Vec<Box<str>>, Option<Hint>), UpstreamError> {
    if !conn.info().is_some_and(|i| i.has(kind.capability())) {
        return Ok((Vec::new(), None));
    }
    let mut items = Vec::new();
    let mut hint: Option<Hint> = None;
    let mut cursor: Option<String> = None;
    for page in 0.. {
        if page == MAX_PAGES {
            tracing::warn!(
                upstream = conn.name(),
                list = kind.method(),
                "more than {MAX_PAGES} pages; the rest is ignored"
            );
            break;
        }
        let params = cursor.as_ref().map(|c| format!("{{\"cursor\":{c}}}"));
        let resp = conn
            .request(kind.method(), params.as_deref(), RequestCtx::default())
            .await?;
        if resp.kind() != Kind::Result {
            // Resources without templates (or the reverse) answer "method not found": an empty list.
            if kind == ListKind::Templates {
                return Ok((items, hint));
            }
            return Err(UpstreamError::Protocol(format!(
                "{} failed: {}",
                kind.method(),
                resp.error().unwrap_or("")
            )));
        }
        let result = resp.result().unwrap_or("{}");
        // Each page carries a hint (2026-07-28); the list is as cacheable as its least page.
        if conn.is_modern() {
            let page_hint = Hint::from_result(result);
            hint = Some(hint.map_or(page_hint, |h| h.merge(page_hint)));
        }
        let Some(array) = object::get(result, kind.key()) else {
            return Err(UpstreamError::Protocol(format!(
                "{} result lacks {}",
                kind.method(),
                kind.key()
            )));
        };
        let Some(page_items) = object::array_items(array) else {
            return Err(UpstreamError::Protocol(format!(
                "{}.{} is not an array",
                kind.method(),
                kind.key()
            )));
        };
        items.extend(
            page_items
                .into_iter()
                .filter(|i| i.starts_with('{'))
                .map(Box::from),
        );
        match object::get(result, "nextCursor") {
            Some(c) if c.starts_with('"') && Some(c) != cursor.as_deref() => {
                cursor = Some(c.to_owned())
            }
            _ => break,
        }
    }
    Ok((items, hint))
}

/// How long a supervisor waits before reconnecting: 0.5 s doubling to 30 s.
const RECONNECT: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// Delay before reconnect attempt `n` (1-based), jittered so that upstreams that failed together
/// do not all retry together.
pub(crate) fn backoff(n: u32) -> Duration {
    RECONNECT.jittered(n.saturating_sub(1))
}
