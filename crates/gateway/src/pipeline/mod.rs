//! The path of one client request, stage by stage.
//!
//! [`Gateway::request`] reads top to bottom as the list of stages every request passes, in
//! order, as plain calls (no boxed middleware on the hot path):
//!
//! 1. **admit** — the gateway is not shutting down; upstreams had their first attempt; the
//!    request is registered so `notifications/cancelled` can find it.
//! 2. **authenticate** — who the caller is ([`crate::principal`]).
//! 3. **resolve view** — which [`View`] of the catalog it is served from ([`crate::view`]).
//! 4. **authorize** — whether the principal may do this.
//! 5. **rate-limit** — whether it may do it now.
//! 6. **idempotency** — whether a `tools/call` with an idempotency key was already answered.
//! 7. **route** and 8. **call** — the method's handler in [`methods`] resolves names through the
//!    view and sends what the upstream should get through [`crate::call`], the one way out.
//! 9. **shape for the era** — one response (or none, when the client cancelled): results and
//!    errors as the caller's revision wants them, every error with `data.request_id`.
//! 10. **record** — what happened: an audit record (`switchboard-audit`) for every
//!     `tools/call`, `resources/read` and `prompts/get`, and for every request a stage refused
//!     (the verdict is `deny` exactly when a stage before the method's handler returned an
//!     error, so a later stage's refusals are audited without code of their own).
//!
//! Stages with nothing to decide yet are named no-ops that say which issue fills them
//! (`docs/design/pipeline.md` lists the one file each later capability plugs into).

pub mod methods;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use switchboard_audit::{Event, Verdict, method_name, trace_id};
use switchboard_protocol::error::add_request_id;
use switchboard_protocol::message::encode;
use switchboard_protocol::{Id, Kind, Message, RpcError};
use switchboard_trace::Span;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::catalog::ListKind;
use crate::idempotency::{Decision, Keyed};
use crate::request::{Request, check_idempotency_key};
use crate::view::View;
use crate::{Gateway, error, modern};

/// How long a request waits for upstreams still starting for the first time.
const STARTUP_WAIT: Duration = Duration::from_secs(10);

/// The `_meta` key a `tools/call` may carry its idempotency key in (the `Idempotency-Key`
/// header's equivalent for transports without headers).
pub const IDEMPOTENCY_META_KEY: &str = "io.github.switchboard-mcp/idempotencyKey";

/// The gateway's answer to one request.
#[derive(Debug)]
pub enum Answer {
    /// A complete JSON-RPC response.
    Response(Bytes),
    /// A complete JSON-RPC error response that 2026-07-28 sends with another HTTP status than
    /// 200 (400 or 404); other transports treat it like [`Answer::Response`].
    Status(u16, Bytes),
    /// The client cancelled: per the spec, no response is sent.
    Cancelled,
    /// A complete JSON-RPC response replayed from an earlier call with the same idempotency
    /// key (HTTP adds `Idempotent-Replayed: true`); otherwise like [`Answer::Response`].
    Replayed(Bytes),
}

/// What a method handler produced.
pub(crate) enum Outcome {
    /// A result produced by the gateway itself (raw JSON).
    Local(String),
    /// The upstream's response message, result or error, to relay.
    Upstream(Message),
    /// A stored result (raw JSON) replayed for an idempotency key.
    Replayed(std::sync::Arc<str>),
    Cancelled,
}

/// A request its transport refused before the pipeline (see [`Gateway::audit_refusal`]).
pub struct Refused<'a> {
    pub msg: Option<&'a Message>,
    pub method: &'a str,
    pub error: RpcError,
    pub request_id: &'a str,
    pub client: Option<std::net::SocketAddr>,
    pub http_status: u16,
}

/// What every stage after admission knows about the request.
pub(crate) struct Cx<'a> {
    pub req: &'a Request<'a>,
    /// How the request ended, as the metrics count it, when a handler worked it out already.
    pub counted: &'a OnceLock<switchboard_telemetry::Outcome>,
    pub view: Arc<View>,
    /// Fires when the client cancels the request or its session ends.
    pub cancel: CancellationToken,
    /// Where the handler records the upstream the request was routed to; `None` when audit
    /// is off (then nothing is recorded, and nothing cloned).
    pub routed: Option<&'a OnceLock<Arc<str>>>,
    /// The request's SERVER span, when tracing is on: upstream calls are its children.
    pub trace: Option<&'a Span>,
    /// The caller's `tracestate`, passed on to upstreams with the gateway's `traceparent`.
    pub tracestate: Option<&'a str>,
}

impl Cx<'_> {
    pub fn session(&self) -> &Arc<crate::sessions::Session> {
        self.req.session
    }

    pub fn is_modern(&self) -> bool {
        self.req.session.record.revision.is_modern()
    }

    /// Notes the upstream the request goes to, for its audit record.
    #[inline]
    pub fn routed_to(&self, upstream: &crate::upstreams::UpstreamId) {
        if let Some(slot) = self.routed {
            let _ = slot.set(upstream.shared().clone());
        }
    }
}

/// What the record stage needs that only the start of a request knows; built only when audit
/// is on.
struct Trail {
    started: Instant,
    time: SystemTime,
    upstream: OnceLock<Arc<str>>,
    /// The request's trace id when tracing is on (the gateway's span's, so the record and the
    /// exported spans name the same trace even when the caller sent no context).
    trace_id: Option<[u8; 16]>,
}

/// The request's span and the caller's `tracestate`, handed down to the handler's [`Cx`].
struct Trace<'s, 'a> {
    span: Option<&'s mut Span>,
    tracestate: Option<&'a str>,
}

/// A pipeline stage passed, as an event on the request's span (only a recorded span keeps it;
/// a stage that refuses shows as the span's error instead).
#[inline]
fn mark(span: &mut Option<&mut Span>, stage: &str) {
    if let Some(s) = span {
        s.event(stage);
    }
}

/// The `tracing` span every log line of the request is emitted in: its request id, and its
/// trace id (the gateway's span's when tracing is on, else the caller's `traceparent` header's).
///
/// The span is at ERROR level so that whatever `SWITCHBOARD_LOG` lets through (`warn`, or
/// `warn,switchboard_upstream=debug`) is inside it: a span's level only decides whether it exists.
fn log_span(req: &Request<'_>, span: Option<&Span>) -> tracing::Span {
    if !tracing::enabled!(tracing::Level::ERROR) {
        return tracing::Span::none();
    }
    let cx = match span {
        Some(s) => Some(s.context()),
        None => req
            .trace
            .and_then(|t| switchboard_trace::SpanContext::parse(t.traceparent)),
    };
    // Both fields at creation: the formatter renders a span's fields once, not again on `record`.
    let trace_id = cx.map(|c| c.trace_id_hex());
    tracing::error_span!(
        "request",
        request_id = &**req.request_id,
        trace_id = trace_id.as_ref().map(|t| t.as_str())
    )
}

/// The methods audited whatever their verdict (refusals of any method are audited too).
fn audited(method: &str) -> bool {
    matches!(method, "tools/call" | "resources/read" | "prompts/get")
}

impl Gateway {
    /// Handles one request from a client. `req.related` carries the messages that belong to it
    /// (progress, logs, server-to-client requests) to the client's response stream.
    ///
    /// With tracing on, the request has a SERVER span (`crate::spans`) continuing the caller's
    /// trace context; and every log line emitted while serving it carries its `request_id` and
    /// `trace_id` (a `tracing` span around the stages).
    pub async fn request(&self, req: &Request<'_>, msg: &Message) -> Answer {
        let Some(id) = msg.id().cloned() else {
            return Answer::Cancelled;
        };
        let method = msg.method().unwrap_or_default();
        // With tracing off, this `None` is the whole cost of tracing.
        let (mut span, tracestate) = match &self.state.tracer {
            None => (None, None),
            Some(t) => {
                let (parent, state) = crate::spans::caller_context(req, msg);
                let span = crate::spans::server(t, req, msg, method, &id, parent, state);
                (Some(span), parent.and(state))
            }
        };
        let log = log_span(req, span.as_ref());
        let answer = self
            .serve_request(req, msg, id, method, span.as_mut(), tracestate)
            .instrument(log)
            .await;
        if let (Some(t), Some(mut s)) = (&self.state.tracer, span) {
            crate::spans::answer_outcome(&mut s, &answer);
            t.end(s);
        }
        answer
    }

    /// Stages 1–11 of [`Gateway::request`].
    async fn serve_request(
        &self,
        req: &Request<'_>,
        msg: &Message,
        id: Id,
        method: &str,
        mut span: Option<&mut Span>,
        tracestate: Option<&str>,
    ) -> Answer {
        let metrics = self.metrics();
        // A 2026-07-28 caller's one-request session counts as open while its request runs.
        let _modern = req
            .session
            .record
            .revision
            .is_modern()
            .then(|| metrics.modern_session());
        // With audit off this is the whole cost of auditing, with the branch in `audit`.
        let trail = self.state.audit.as_ref().map(|_| Trail {
            started: Instant::now(),
            time: SystemTime::now(),
            upstream: OnceLock::new(),
            trace_id: span.as_ref().map(|s| s.context().trace_id),
        });
        // Whether a `tools/call` handler resolved the name and called the tool.
        let mut called = false;
        let (verdict, answer, counted) = match self.admit(req, &id, method).await {
            Ok(cancel) => {
                mark(&mut span, "admit");
                let counted = OnceLock::new();
                let routed = trail.as_ref().map(|t| &t.upstream);
                let trace = Trace { span, tracestate };
                let (verdict, outcome) = self
                    .decide_and_serve(req, msg, method, cancel, &counted, routed, trace)
                    .await;
                // A `tools/call` handler counted it already (one look at a large result, not
                // two).
                let counted = counted.into_inner();
                called = counted.is_some();
                let counted = counted.unwrap_or_else(|| outcome_of(method, &outcome));
                (verdict, self.shape(req, &id, method, outcome), counted)
            }
            Err(e) => (
                Verdict::Deny,
                Answer::Response(error_response(&id, e, req.request_id)),
                switchboard_telemetry::Outcome::Error,
            ),
        };
        self.record(req, method, counted);
        if method == "tools/call" {
            self.count_usage(req, msg, verdict, &answer, counted, called);
        }
        if let Some(trail) = trail {
            self.audit_record(req, msg, method, trail, verdict, &answer)
                .await;
        }
        answer
    }

    /// Stages 2–8: everything between admission and the answer. The verdict is `deny` when a
    /// stage before the handler refused the request.
    #[allow(clippy::too_many_arguments)]
    async fn decide_and_serve(
        &self,
        req: &Request<'_>,
        msg: &Message,
        method: &str,
        cancel: CancellationToken,
        counted: &OnceLock<switchboard_telemetry::Outcome>,
        routed: Option<&OnceLock<Arc<str>>>,
        mut trace: Trace<'_, '_>,
    ) -> (Verdict, Result<Outcome, RpcError>) {
        let (view, keyed) = match self.decide(req, msg, method, &mut trace.span) {
            Err(refusal) => return (Verdict::Deny, Err(refusal)),
            Ok(decided) => decided,
        };
        // Only a call with an idempotency key asks the store (which may be shared, so this
        // may wait).
        let claim = match keyed {
            None => None,
            Some(keyed) => match keyed.begin(&self.state.idempotency).await {
                Err(refusal) => return (Verdict::Deny, Err(refusal)),
                Ok(Decision::Replay(result)) => {
                    return (Verdict::Allow, Ok(Outcome::Replayed(result)));
                }
                Ok(Decision::Claimed(claim)) => Some(claim),
            },
        };
        let cx = Cx {
            req,
            view,
            cancel,
            counted,
            routed,
            trace: trace.span.as_deref(),
            tracestate: trace.tracestate,
        };
        let out = methods::dispatch(self, &cx, msg, method).await;
        // Only a completed call is stored; dropping the claim otherwise frees the key.
        if let Some(claim) = claim
            && let Some(result) = completed_result(&out)
        {
            claim.complete(result).await;
        }
        (Verdict::Allow, out)
    }

    /// Stages 2–6: whether the request may go ahead, from which view, and what its idempotency
    /// key decided. Every error here is a refusal, audited as `deny` with the error's message
    /// as the reason.
    fn decide(
        &self,
        req: &Request<'_>,
        msg: &Message,
        method: &str,
        span: &mut Option<&mut Span>,
    ) -> Result<(Arc<View>, Option<Keyed>), RpcError> {
        self.authenticate_stage(req)?;
        mark(span, "authenticate");
        let view = self.caller_view(req.view, req.principal);
        self.authorize(req, &view, method)?;
        mark(span, "authorize");
        self.rate_limit(req, &view, msg, method)?;
        mark(span, "rate_limit");
        let decision = self.idempotency(req, &view, msg, method)?;
        mark(span, "idempotency");
        Ok((view, decision))
    }

    /// Stage 1: a request is taken only while the gateway runs, once upstreams had their first
    /// attempt (bounded), and registered so it can be cancelled.
    async fn admit(
        &self,
        req: &Request<'_>,
        id: &Id,
        method: &str,
    ) -> Result<CancellationToken, RpcError> {
        let session = req.session;
        session.touch();
        if self.is_shutting_down() {
            return Err(error::shutting_down());
        }
        // `audit.on_full: refuse_calls`: a call that could not be recorded is not made.
        if let Some(audit) = &self.state.audit
            && audited(method)
            && audit.refuses_calls()
        {
            return Err(error::audit_backlog());
        }
        // Right after start, upstreams may still be coming up: anything routed through the
        // catalog waits for their first attempt (bounded) instead of seeing a partial catalog.
        if method != "ping" && !self.is_ready() {
            self.wait_ready(STARTUP_WAIT).await;
        }
        // A one-request caller is cancelled by ending it: nothing needs to find the request by
        // id, so it is not registered.
        Ok(if session.record.revision.is_modern() {
            session.closer()
        } else {
            session.begin(id)
        })
    }

    /// Stage 2. The transport established `req.principal` with [`Gateway::authenticate`]; this
    /// is where a per-request credential check goes (issue 12: identity and authorization).
    #[inline]
    fn authenticate_stage(&self, _req: &Request<'_>) -> Result<(), RpcError> {
        Ok(())
    }

    /// Stage 4: may this principal do this? Each method family needs its scope (`mcp.tools.read`
    /// to list tools, `mcp.invoke` to call one, `mcp.prompts.read`, `mcp.resources.read`), and
    /// every request at a product needs the product's `scopes`; a refusal is -31041 (HTTP 403)
    /// naming the scopes it lacks.
    #[inline]
    fn authorize(&self, req: &Request<'_>, view: &View, method: &str) -> Result<(), RpcError> {
        if let Some(p) = view.product()
            && method != "ping"
        {
            check_product_scopes(req.principal, &p.cfg, method)?;
        }
        let needed = match method {
            "tools/list" => "mcp.tools.read",
            "tools/call" => "mcp.invoke",
            "prompts/list" | "prompts/get" | "completion/complete" => "mcp.prompts.read",
            "resources/list"
            | "resources/templates/list"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "subscriptions/listen" => "mcp.resources.read",
            _ => return Ok(()),
        };
        if req.principal.may(needed) {
            Ok(())
        } else {
            Err(error::insufficient_scope(method, &[needed]))
        }
    }

    /// Stage 5: `limits.rate` per principal (every request) and per principal and tool
    /// (`tools/call`), or the caller's role's own `rate` where it sets one; a refusal is -31042
    /// (HTTP 429, `Retry-After`).
    #[inline]
    fn rate_limit(
        &self,
        req: &Request<'_>,
        view: &View,
        msg: &Message,
        method: &str,
    ) -> Result<(), RpcError> {
        let [global_principal, global_tool] = &self.state.rates;
        let (per_principal, per_tool) = match req
            .principal
            .rate_role()
            .and_then(|i| self.state.role_rates.get(usize::from(i)))
        {
            Some([p, t]) => (
                p.as_ref().or(global_principal.as_ref()),
                t.as_ref().or(global_tool.as_ref()),
            ),
            None => (global_principal.as_ref(), global_tool.as_ref()),
        };
        if let Some(l) = per_principal {
            l.check(req.principal.id())
                .map_err(|wait| error::rate_limited(req.principal.id(), None, wait))?;
        }
        if let Some(l) = per_tool
            && method == "tools/call"
        {
            // In search mode, the tool a `call_tool` calls is the one counted.
            let tool = if view.search_mode() {
                methods::called_tool(view, msg).0
            } else {
                msg.param_str("name").unwrap_or_default()
            };
            let key = format!("{}\n{tool}", req.principal.id());
            l.check(&key)
                .map_err(|wait| error::rate_limited(req.principal.id(), Some(&tool), wait))?;
        }
        Ok(())
    }

    /// Stage 6: a `tools/call`'s idempotency key, from the `Idempotency-Key` header or its
    /// `_meta`, must be well formed; a call made with one is answered at most once
    /// ([`crate::idempotency`]).
    ///
    /// Per product (`idempotency:`): `off` ignores keys; `required` refuses a call without one
    /// to a tool the product does not show as `readOnlyHint: true`. Results are stored per
    /// (principal, product, tool as called, key). In search mode, a `call_tool` is keyed and
    /// judged by the tool it calls.
    fn idempotency(
        &self,
        req: &Request<'_>,
        view: &View,
        msg: &Message,
        method: &str,
    ) -> Result<Option<Keyed>, RpcError> {
        use switchboard_config::IdempotencyPolicy;
        if method != "tools/call" {
            return Ok(None);
        }
        let policy = view
            .product()
            .map_or(IdempotencyPolicy::Optional, |p| p.cfg.idempotency);
        if policy == IdempotencyPolicy::Off {
            return Ok(None);
        }
        let from_meta;
        let key = match req.idempotency_key {
            Some(key) => check_idempotency_key(key)?,
            None => match msg
                .param("_meta")
                .and_then(|m| switchboard_protocol::object::get(m, IDEMPOTENCY_META_KEY))
            {
                None if policy == IdempotencyPolicy::Required => {
                    let (tool, _) = methods::called_tool(view, msg);
                    return match view.tool_item(&tool) {
                        // An unknown (or hidden) name is the handler's to answer.
                        Some(item) if !read_only(item) => {
                            Err(crate::idempotency::key_required(&tool))
                        }
                        _ => Ok(None),
                    };
                }
                None => return Ok(None),
                Some(raw) => {
                    from_meta =
                        switchboard_protocol::object::string_value(raw).ok_or_else(|| {
                            error::invalid_params(format!(
                                "_meta {IDEMPOTENCY_META_KEY} must be a string"
                            ))
                        })?;
                    check_idempotency_key(&from_meta)?
                }
            },
        };
        let (tool, arguments) = methods::called_tool(view, msg);
        // Scoped to who calls, where and what: another principal's, another product's or
        // another tool's key is another. `/mcp` is the empty product (no product id is empty).
        let product = view.product().map_or("", |p| &p.id);
        let scoped = format!("{}\n{product}\n{tool}\n{key}", req.principal.id());
        Ok(Some(Keyed::new(scoped, arguments)))
    }

    /// Stage 9: exactly one answer in the caller's era (or none, for a cancelled request).
    fn shape(
        &self,
        req: &Request<'_>,
        id: &Id,
        method: &str,
        outcome: Result<Outcome, RpcError>,
    ) -> Answer {
        if let Ok(Outcome::Replayed(result)) = outcome {
            let marked = Outcome::Local(crate::idempotency::marked(&result));
            return match self.shape(req, id, method, Ok(marked)) {
                Answer::Response(b) => Answer::Replayed(b),
                other => other,
            };
        }
        let session = req.session;
        if session.record.revision.is_modern() {
            return self.modern_answer(id, method, outcome, req.request_id);
        }
        session.end(id);
        match outcome {
            Ok(Outcome::Local(result)) => {
                Answer::Response(Bytes::from(encode::result(id, &result)))
            }
            Ok(Outcome::Upstream(resp)) => {
                Answer::Response(relay_response(id, &resp, req.request_id))
            }
            Ok(Outcome::Cancelled) => Answer::Cancelled,
            // Shaped above; answered the same way here rather than by a panic.
            Ok(Outcome::Replayed(r)) => Answer::Replayed(Bytes::from(encode::result(
                id,
                &crate::idempotency::marked(&r),
            ))),
            // Refusals that are HTTP's to make keep their status in every era: 401, 403, 409,
            // 429 and 503.
            Err(e)
                if matches!(error::status_of(e.code), 401 | 403 | 409 | 429 | 503)
                    || e.code == crate::idempotency::KEY_REQUIRED =>
            {
                let status = error::status_of(e.code);
                Answer::Status(status, error_response(id, e, req.request_id))
            }
            Err(e) => Answer::Response(error_response(id, e, req.request_id)),
        }
    }

    /// Stage 10: what happened, for metrics (`switchboard_requests_total`; the method label
    /// from a fixed list, never the raw text).
    #[inline]
    fn record(&self, _req: &Request<'_>, method: &str, outcome: switchboard_telemetry::Outcome) {
        self.metrics()
            .request(switchboard_telemetry::Method::of(method), outcome);
    }

    /// Stage 10, for `tools/call`: usage per (principal, product, tool) (`crate::usage`). A
    /// replay counts as `replayed`, a refusal before the handler as `refused`. The tool is
    /// named only when the caller's view resolves it (`called`: the handler did); anything
    /// else a client sent is counted as `unknown`, so no raw input becomes a key or a label.
    fn count_usage(
        &self,
        req: &Request<'_>,
        msg: &Message,
        verdict: Verdict,
        answer: &Answer,
        counted: switchboard_telemetry::Outcome,
        called: bool,
    ) {
        use crate::usage::CallOutcome;
        let outcome = match (verdict, answer, counted) {
            (_, Answer::Replayed(_), _) => CallOutcome::Replayed,
            (Verdict::Deny, _, _) => CallOutcome::Refused,
            (_, _, switchboard_telemetry::Outcome::Ok) => CallOutcome::Ok,
            _ => CallOutcome::Error,
        };
        let sent = msg
            .params()
            .and_then(|p| switchboard_protocol::object::get_str(p, "name"))
            .unwrap_or_default();
        // The view is looked up only for a call the handler did not reach (a refusal, an error).
        let known = called
            || self
                .caller_view(req.view, req.principal)
                .resolve(crate::catalog::ListKind::Tools, &sent)
                .is_some();
        let tool = if known {
            &*sent
        } else {
            switchboard_telemetry::UNKNOWN
        };
        let products = self.state.products.load();
        let product = products.at(req.view.endpoint()).map_or("", |p| &*p.id);
        self.state
            .usage
            .count(req.principal.id(), product, tool, outcome);
    }

    /// What an audit record reads the name and arguments from: the request's `params`, or, for
    /// a `call_tool` in search mode, the call it makes (`{name, arguments}`, a slice of the same
    /// bytes), so the record names the tool that ran and hashes its arguments.
    fn audited_params(&self, req: &Request<'_>, msg: &Message) -> Option<bytes::Bytes> {
        let params = msg.params_bytes()?;
        if msg.param_str("name").as_deref() != Some(methods::CALL_TOOL)
            || !self.caller_view(req.view, req.principal).search_mode()
        {
            return Some(params);
        }
        let inner = std::str::from_utf8(&params)
            .ok()
            .and_then(|p| switchboard_protocol::object::get(p, "arguments"))
            .filter(|a| a.trim_start().starts_with('{'))
            .map(|a| params.slice_ref(a.as_bytes()));
        Some(inner.unwrap_or(params))
    }

    /// Stage 11: the audit record, when audit is on. Audited: `tools/call`, `resources/read`,
    /// `prompts/get`, and every refusal. The record is built from what the
    /// request already holds — shared names, the params and answer as `Bytes` slices, two clock
    /// readings — and queued with one `try_send`; the writer thread does the rest.
    async fn audit_record(
        &self,
        req: &Request<'_>,
        msg: &Message,
        method: &str,
        trail: Trail,
        verdict: Verdict,
        answer: &Answer,
    ) {
        let Some(audit) = &self.state.audit else {
            return;
        };
        if verdict == Verdict::Allow && !audited(method) {
            return;
        }
        let replayed = matches!(answer, Answer::Replayed(_));
        let (answer, status) = match answer {
            Answer::Response(b) | Answer::Replayed(b) => (Some(b.clone()), None),
            Answer::Status(s, b) => (Some(b.clone()), Some(*s)),
            Answer::Cancelled => (None, None),
        };
        // Only HTTP knows a client address; there, an answer without its own status is a 200.
        let http_status = status.or_else(|| req.client.and(answer.as_ref()).map(|_| 200));
        let event = Event {
            time: trail.time,
            duration: trail.started.elapsed(),
            request_id: req.request_id.clone(),
            principal: req.principal.shared_id().clone(),
            method: method_name(method),
            upstream: trail.upstream.into_inner(),
            product: self.product_id(req.view.endpoint()),
            params: self.audited_params(req, msg),
            answer,
            verdict,
            http_status,
            client: req.client,
            trace_id: trail
                .trace_id
                .or_else(|| req.trace.and_then(|t| trace_id(t.traceparent))),
            replayed,
        };
        audit.record(event).await;
    }

    /// Audits a request its transport refused before the pipeline saw it (a credential that is
    /// not valid, on any verb): every denial is recorded, this one under the principal
    /// `unauthenticated`. `msg` is the refused message when there was one; `method` names the
    /// request otherwise (`GET /mcp`, `DELETE /mcp`).
    pub async fn audit_refusal(&self, refused: Refused<'_>) {
        let Some(audit) = &self.state.audit else {
            return;
        };
        static UNAUTHENTICATED: OnceLock<Arc<str>> = OnceLock::new();
        let method = refused
            .msg
            .and_then(|m| m.method())
            .unwrap_or(refused.method);
        let event = Event {
            time: SystemTime::now(),
            duration: Duration::ZERO,
            request_id: Arc::from(refused.request_id),
            principal: UNAUTHENTICATED
                .get_or_init(|| Arc::from("unauthenticated"))
                .clone(),
            method: method_name(method),
            upstream: None,
            // Refused before the request reached its endpoint's view.
            product: None,
            params: refused.msg.and_then(|m| m.params_bytes()),
            answer: Some(Bytes::from(encode::error(
                refused.msg.and_then(|m| m.id()),
                &refused
                    .error
                    .with_str("request_id", refused.request_id)
                    .to_json(),
            ))),
            verdict: Verdict::Deny,
            http_status: Some(refused.http_status),
            client: refused.client,
            trace_id: None,
            replayed: false,
        };
        audit.record(event).await;
    }

    /// The answer to a modern caller: results shaped for the era, errors renumbered and given
    /// their HTTP status.
    fn modern_answer(
        &self,
        id: &Id,
        method: &str,
        outcome: Result<Outcome, RpcError>,
        request_id: &str,
    ) -> Answer {
        let hint = match method {
            "tools/list" => Some(self.list_hint(ListKind::Tools)),
            "prompts/list" => Some(self.list_hint(ListKind::Prompts)),
            "resources/list" => Some(self.list_hint(ListKind::Resources)),
            "resources/templates/list" => Some(self.list_hint(ListKind::Templates)),
            // A modern upstream's own hint on a read wins; a handshake one gives none.
            "resources/read" => Some(self.legacy_hint()),
            _ => None,
        };
        let result = |raw: &str| {
            let shaped = modern::shape_result(raw, hint);
            let raw = shaped.as_deref().unwrap_or(raw);
            Answer::Response(Bytes::from(encode::result(id, raw)))
        };
        let error = |raw: &str| {
            let (remapped, status) = modern::shape_error(raw);
            let raw = remapped.as_deref().unwrap_or(raw);
            let with_id = add_request_id(raw, request_id);
            let body = Bytes::from(encode::error(Some(id), with_id.as_deref().unwrap_or(raw)));
            match status {
                200 => Answer::Response(body),
                s => Answer::Status(s, body),
            }
        };
        match outcome {
            Ok(Outcome::Local(r)) => result(&r),
            Ok(Outcome::Upstream(resp)) => match (resp.kind(), resp.result()) {
                (Kind::Result, Some(r)) => result(r),
                _ => error(resp.error().unwrap_or(error::INTERNAL_ERROR_JSON)),
            },
            Ok(Outcome::Cancelled) => Answer::Cancelled,
            Ok(Outcome::Replayed(r)) => result(&r),
            Err(e) => error(&e.to_json()),
        }
    }
}

/// Whether a tool item says it changes nothing (`annotations.readOnlyHint: true`).
fn read_only(item: &str) -> bool {
    switchboard_protocol::object::get(item, "annotations")
        .is_some_and(|a| switchboard_protocol::object::is_true(a, "readOnlyHint"))
}

/// Every request at a product needs the product's `scopes` (a caller lacking one is refused as
/// for a method scope: -31041, HTTP 403, naming what it lacks).
pub(crate) fn check_product_scopes(
    principal: &crate::principal::Principal,
    product: &switchboard_config::ProductConfig,
    method: &str,
) -> Result<(), RpcError> {
    if product.scopes.iter().all(|s| principal.may(s)) {
        return Ok(());
    }
    let missing: Vec<&str> = product
        .scopes
        .iter()
        .filter(|s| !principal.may(s))
        .map(String::as_str)
        .collect();
    Err(error::insufficient_scope(method, &missing))
}

/// The result a call completed with, if it did: the upstream's result (an `isError` one
/// included) or one the gateway made from it; not an error, a cancel, or `input_required`.
fn completed_result(out: &Result<Outcome, RpcError>) -> Option<&str> {
    match out {
        Ok(Outcome::Upstream(m)) if m.kind() == Kind::Result => m.result(),
        Ok(Outcome::Local(r)) if !crate::call::is_input_required(r) => Some(r),
        _ => None,
    }
}

/// How a request ended, as the metrics count it: `tool_error` is a `tools/call` result with
/// `isError: true` (only then is the result scanned).
pub(crate) fn outcome_of(
    method: &str,
    outcome: &Result<Outcome, RpcError>,
) -> switchboard_telemetry::Outcome {
    use switchboard_telemetry::Outcome as O;
    match outcome {
        Err(_) => O::Error,
        Ok(Outcome::Local(_) | Outcome::Replayed(_)) => O::Ok,
        Ok(Outcome::Cancelled) => O::Cancelled,
        Ok(Outcome::Upstream(m)) => match (m.kind(), m.result()) {
            (Kind::Result, Some(r)) => {
                if method == "tools/call" && switchboard_protocol::object::is_true(r, "isError") {
                    O::ToolError
                } else {
                    O::Ok
                }
            }
            _ => O::Error,
        },
    }
}

/// The upstream's response under the client's id; errors gain `data.request_id`.
fn relay_response(id: &Id, resp: &Message, request_id: &str) -> Bytes {
    match resp.kind() {
        Kind::Result => Bytes::from(encode::result(id, resp.result().unwrap_or("null"))),
        _ => {
            let raw = resp.error().unwrap_or(error::INTERNAL_ERROR_JSON);
            let with_id = add_request_id(raw, request_id);
            Bytes::from(encode::error(Some(id), with_id.as_deref().unwrap_or(raw)))
        }
    }
}

/// A gateway-made error response with `data.request_id`.
pub fn error_response(id: &Id, e: RpcError, request_id: &str) -> Bytes {
    Bytes::from(encode::error(
        Some(id),
        &e.with_str("request_id", request_id).to_json(),
    ))
}
