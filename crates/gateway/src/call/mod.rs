//! The one way a client's request reaches an upstream.
//!
//! [`Gateway::forward`] picks how a call is joined across the two eras, and every join reaches
//! the upstream through [`send`], the single place where timeouts, concurrency limits,
//! breakers, metrics, spans and audit wrap a call:
//!
//! - [`relay`]: the plain path — wait for the response while relaying progress, logs and
//!   server-to-client requests back to the caller's stream;
//! - [`bridge_c`]: a 2026-07-28 caller on a handshake-era upstream that asks for input (the
//!   call is held across the caller's rounds of `input_required`);
//! - [`pass_through`]: a 2026-07-28 caller on a 2026-07-28 upstream (its `requestState` sealed);
//! - [`bridge_b`]: a handshake session on a 2026-07-28 upstream that answers `input_required`
//!   (its questions asked as real server-to-client requests).
//!
//! [`sealed`] seals and opens the `requestState` bridge C and pass-through hand out.

pub mod bridge_b;
pub mod bridge_c;
pub mod pass_through;
pub mod relay;
pub mod sealed;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, Message, RpcError};
use switchboard_upstream::{Connection, RequestCtx, TraceHeaders, UpstreamError};
use tokio_util::sync::CancellationToken;

use crate::Related;
use crate::pipeline::{Cx, Outcome};
use crate::sessions::Session;
use crate::upstreams::Upstream;
use crate::{Gateway, error, modern, resilience};
use sealed::OpenError;

/// What happened to a bridged call, for the pipeline.
pub(crate) enum Bridged {
    /// The upstream's response.
    Done(Message),
    /// An `input_required` result (raw JSON).
    InputRequired(String),
    Cancelled,
}

/// One call to bridge, as the pipeline hands it over.
pub(crate) struct Call<'a> {
    pub session: &'a Arc<Session>,
    /// Who the call is for: sealed states are bound to it.
    pub principal: &'a str,
    pub up: &'a Arc<Upstream>,
    /// The connection the call uses (the caller's own for an isolated upstream: a parked call
    /// takes it over, as the caller's one-request session ends without it).
    pub conn: Connection,
    pub method: &'a str,
    /// What goes upstream (renamed, stripped of the era's members).
    pub params: Option<&'a str>,
    /// The caller's own params (for `inputResponses` and `requestState`).
    pub original: Option<&'a str>,
    /// The name (or URI) the caller used: the state is bound to it.
    pub target: &'a str,
    pub progress: Option<&'a str>,
    pub related: &'a Related,
    pub cancel: &'a CancellationToken,
    pub request_id: &'a Arc<str>,
    /// The trace context the upstream gets (the call's CLIENT span), when tracing is on.
    pub trace: Option<&'a TraceHeaders>,
    /// The caller's access token, kept only when some upstream exchanges or forwards it.
    pub caller_token: Option<&'a str>,
}

impl Call<'_> {
    /// Sends this call upstream with `params` on the plain relay (pass-through and each round of
    /// bridge B).
    async fn relay(&self, gw: &Gateway, params: Option<&str>) -> Result<Message, UpstreamError> {
        let fwd = relay::Call {
            method: self.method,
            params,
            progress: self.progress,
            timeout: None,
            cancel: self.cancel.clone(),
            request_id: self.request_id,
            trace: self.trace,
            caller_token: self.caller_token,
        };
        relay::forward(gw, self.up, self.session, &self.conn, fwd, self.related).await
    }
}

/// Sends one client request to an upstream and yields its response. Every client request
/// leaves the gateway here: the plain relay, bridge C's driven call, pass-through and each round
/// of bridge B. (The gateway's own requests — lists, pings, `setLevel`, subscriptions — are not
/// clients' calls and go straight to the connection.)
pub(crate) fn send<'a>(
    up: &'a Upstream,
    conn: &'a Connection,
    method: &'a str,
    params: Option<&'a str>,
    ctx: RequestCtx,
) -> impl Future<Output = Result<Message, UpstreamError>> + 'a {
    up.calls.fetch_add(1, Ordering::Relaxed);
    // In flight until the call's future ends or is dropped (a cancelled call decrements too).
    let inflight = up.metrics.in_flight();
    let mut ctx = ctx;
    // The caller's token (`ctx.authorization`, set only when some upstream asks for it) reaches
    // an upstream only here, and only one whose config asks: as it came (`passthrough`), or
    // exchanged for one of its own (`token_exchange`). Every other upstream never sees it.
    let caller = ctx.authorization.take();
    let forwards = up.cfg.credentials.uses_caller_token();
    async move {
        let _inflight = inflight;
        if !forwards {
            return conn.request(method, params, ctx).await;
        }
        ctx.authorization = Some(caller_authorization(up, caller.as_ref()).await?);
        let answer = conn.request(method, params, ctx).await;
        if let Err(e) = &answer
            && e.refused_credentials()
            && let Some(ex) = up.exchanger.get().and_then(Option::as_ref)
            && let Some(subject) = caller.as_ref().and_then(subject_token)
        {
            // Revoked or rotated early: the caller's next call exchanges again.
            ex.invalidate(subject);
        }
        answer
    }
}

/// The token of a caller's `Authorization: Bearer …` value.
fn subject_token(caller: &reqwest::header::HeaderValue) -> Option<&str> {
    caller.to_str().ok()?.strip_prefix("Bearer ")
}

/// What an upstream that acts for the caller is sent: the caller's own `Authorization`
/// (`passthrough: true`) or the token its token endpoint exchanged it for.
async fn caller_authorization(
    up: &Upstream,
    caller: Option<&reqwest::header::HeaderValue>,
) -> Result<reqwest::header::HeaderValue, UpstreamError> {
    let Some(caller) = caller else {
        return Err(UpstreamError::Unavailable(NO_CALLER_TOKEN.to_owned()));
    };
    match up.exchanger.get().and_then(Option::as_ref) {
        Some(ex) => {
            let subject = subject_token(caller)
                .ok_or_else(|| UpstreamError::Unavailable(NO_CALLER_TOKEN.to_owned()))?;
            ex.authorization(subject)
                .await
                .map_err(UpstreamError::Unavailable)
        }
        None if matches!(
            up.cfg.credentials,
            switchboard_config::Credentials::Passthrough
        ) =>
        {
            Ok(caller.clone())
        }
        // Token exchange configured but no connection made its exchanger yet.
        None => Err(UpstreamError::Unavailable(
            "its token exchange is not set up yet".to_owned(),
        )),
    }
}

/// `Bearer <token>`, marked sensitive (never shown by `Debug`), for the caller's token.
pub(crate) fn bearer_header(token: &str) -> Option<reqwest::header::HeaderValue> {
    let mut v = reqwest::header::HeaderValue::from_maybe_shared(bytes::Bytes::from(
        ["Bearer ", token].concat(),
    ))
    .ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Why a call to an upstream that acts for the caller cannot go ahead without its token.
pub(crate) const NO_CALLER_TOKEN: &str = "it acts on the caller's behalf (credentials: token_exchange or passthrough) and needs the caller's OAuth access token; API keys and anonymous callers cannot call it";

impl Gateway {
    /// Sends a request to an upstream and waits for its outcome, relaying everything related;
    /// `timeout` overrides the upstream's default.
    pub(crate) async fn forward(
        &self,
        cx: &Cx<'_>,
        up: &Arc<Upstream>,
        method: &str,
        params: Option<&str>,
        original: &Message,
        timeout: Option<Duration>,
    ) -> Result<Outcome, RpcError> {
        if let Some((members, strategy)) = up.group() {
            return self
                .forward_group(cx, up, members, strategy, method, params, original, timeout)
                .await;
        }
        // One CLIENT span per upstream called (each member a group tries has its own).
        let tracer = self.state.tracer.as_ref();
        let mut span = match (tracer, cx.trace) {
            (Some(t), Some(parent)) => Some(crate::spans::client(t, parent, up, method, params)),
            _ => None,
        };
        let trace = span
            .as_ref()
            .map(|s| crate::spans::headers(s, cx.tracestate));
        let out = self
            .forward_one(cx, up, method, params, original, timeout, trace.as_ref())
            .await;
        if let (Some(t), Some(mut s)) = (tracer, span.take()) {
            crate::spans::call_outcome(&mut s, &out);
            t.end(s);
        }
        out
    }

    /// [`Gateway::forward`] to one upstream (not a group).
    #[allow(clippy::too_many_arguments)]
    async fn forward_one(
        &self,
        cx: &Cx<'_>,
        up: &Arc<Upstream>,
        method: &str,
        params: Option<&str>,
        original: &Message,
        timeout: Option<Duration>,
        trace: Option<&TraceHeaders>,
    ) -> Result<Outcome, RpcError> {
        // Refused before admission: a caller without a token is not the upstream's failure.
        if up.cfg.credentials.uses_caller_token() && cx.req.caller_token.is_none() {
            return Err(error::upstream_down(up.name(), Some(NO_CALLER_TOKEN)));
        }
        let admission = self.admit_call(up).await?;
        let _busy = up.busy();
        // A call that finds no connection never reached the upstream: the supervisor deals with
        // a down upstream, the breaker with a live one that fails.
        let conn = self.connection_for(cx.session(), up).await?;
        let out = self
            .forward_on(cx, up, conn, method, params, original, timeout, trace)
            .await;
        admission.finish(match &out {
            Err(e) => resilience::is_failure(e),
            // A transport's failure can come back as an error response it made itself (an
            // HTTP upstream's 5xx), under the same gateway-owned codes.
            Ok(Outcome::Upstream(m)) => resilience::is_failure_response(m),
            Ok(_) => false,
        });
        up.metrics.set_breaker(match up.guard.breaker.state() {
            resilience::breaker::State::Closed => switchboard_telemetry::Breaker::Closed,
            resilience::breaker::State::Open => switchboard_telemetry::Breaker::Open,
            resilience::breaker::State::HalfOpen => switchboard_telemetry::Breaker::HalfOpen,
        });
        out
    }

    /// [`Gateway::forward`] once admitted and connected.
    #[allow(clippy::too_many_arguments)]
    async fn forward_on(
        &self,
        cx: &Cx<'_>,
        up: &Arc<Upstream>,
        conn: Connection,
        method: &str,
        params: Option<&str>,
        original: &Message,
        timeout: Option<Duration>,
        trace: Option<&TraceHeaders>,
    ) -> Result<Outcome, RpcError> {
        let progress = original.progress_token();
        // Features the upstream's revision lacks are not sent: an older server (or a 2026-07-28
        // one: core tasks are gone there) would not know a task-augmented call and must see a
        // plain one, which then runs synchronously.
        let stripped;
        let params = match params {
            Some(p) if !conn.revision().has_tasks() && object::get(p, "task").is_some() => {
                stripped = object::edit(p, &[("task", Edit::Remove)]);
                stripped.as_deref().or(Some(p))
            }
            other => other,
        };
        // A modern caller's protocol members (`_meta` keys, the answers and state of a retry)
        // mean nothing to a handshake-era upstream.
        let unmeta;
        let modern = cx.is_modern();
        let params = match params {
            Some(p) if modern && !conn.is_modern() => {
                unmeta = modern::strip_for_handshake(p);
                unmeta.as_deref().or(Some(p))
            }
            other => other,
        };
        if let Some(key) = switchboard_protocol::headers::name_param(method)
            && (modern || conn.is_modern())
        {
            let target = original.param_str(key).unwrap_or_default();
            let conn_modern = conn.is_modern();
            let call = Call {
                session: cx.session(),
                principal: cx.req.principal.id(),
                up,
                conn,
                method,
                params,
                original: original.params(),
                target: &target,
                progress,
                related: cx.req.related,
                cancel: &cx.cancel,
                request_id: cx.req.request_id,
                trace,
                caller_token: cx.req.caller_token,
            };
            let bridged = match (modern, conn_modern) {
                (true, false) => self.bridge(call).await?,
                (true, true) => self.pass_through(call).await?,
                _ => self.ask_for_input(call).await?,
            };
            return Ok(match bridged {
                Bridged::Done(m) => Outcome::Upstream(m),
                Bridged::InputRequired(r) => Outcome::Local(r),
                Bridged::Cancelled => Outcome::Cancelled,
            });
        }
        let call = relay::Call {
            method,
            params,
            progress,
            timeout,
            cancel: cx.cancel.clone(),
            request_id: cx.req.request_id,
            trace,
            caller_token: cx.req.caller_token,
        };
        match relay::forward(self, up, cx.session(), &conn, call, cx.req.related).await {
            Ok(m) => Ok(Outcome::Upstream(m)),
            Err(switchboard_upstream::UpstreamError::Cancelled) => Ok(Outcome::Cancelled),
            Err(e) => Err(error::upstream(up.name(), &e)),
        }
    }
}

pub(crate) fn is_input_required(result: &str) -> bool {
    object::get(result, "resultType") == Some("\"input_required\"")
}

fn invalid_state() -> RpcError {
    error::invalid_params("requestState failed verification").with_str("reason", "invalid")
}

/// Why a `requestState` could not be opened, as the caller is told.
fn open_error(e: OpenError) -> RpcError {
    match e {
        OpenError::Invalid => invalid_state(),
        OpenError::Expired { at_unix_ms } => {
            expired().with_raw("expired_at_unix_ms", at_unix_ms.to_string())
        }
    }
}

fn no_keys() -> RpcError {
    RpcError::new(
        ErrorCode::INTERNAL_ERROR,
        "this gateway has no key to open requestState with (its random source failed at start)",
    )
}

fn expired() -> RpcError {
    RpcError::new(
        ErrorCode::STATE_EXPIRED,
        "requestState expired or its call is gone; call again without requestState",
    )
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
