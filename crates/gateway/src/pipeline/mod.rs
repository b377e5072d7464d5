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
use tokio_util::sync::CancellationToken;

use crate::catalog::ListKind;
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
}

/// What a method handler produced.
pub(crate) enum Outcome {
    /// A result produced by the gateway itself (raw JSON).
    Local(String),
    /// The upstream's response message, result or error, to relay.
    Upstream(Message),
    Cancelled,
}

/// What every stage after admission knows about the request.
pub(crate) struct Cx<'a> {
    pub req: &'a Request<'a>,
    pub view: Arc<View>,
    /// Fires when the client cancels the request or its session ends.
    pub cancel: CancellationToken,
    /// Where the handler records the upstream the request was routed to; `None` when audit
    /// is off (then nothing is recorded, and nothing cloned).
    pub routed: Option<&'a OnceLock<Arc<str>>>,
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
}

/// The methods audited whatever their verdict (refusals of any method are audited too).
fn audited(method: &str) -> bool {
    matches!(method, "tools/call" | "resources/read" | "prompts/get")
}

impl Gateway {
    /// Handles one request from a client. `req.related` carries the messages that belong to it
    /// (progress, logs, server-to-client requests) to the client's response stream.
    pub async fn request(&self, req: &Request<'_>, msg: &Message) -> Answer {
        let Some(id) = msg.id().cloned() else {
            return Answer::Cancelled;
        };
        let method = msg.method().unwrap_or_default();
        // With audit off this is the whole cost of auditing, with the branch in `record`.
        let trail = self.state.audit.as_ref().map(|_| Trail {
            started: Instant::now(),
            time: SystemTime::now(),
            upstream: OnceLock::new(),
        });
        let (verdict, answer) = match self.admit(req, &id, method).await {
            Ok(cancel) => {
                let routed = trail.as_ref().map(|t| &t.upstream);
                let (verdict, outcome) = self
                    .decide_and_serve(req, msg, method, cancel, routed)
                    .await;
                (verdict, self.shape(req, &id, method, outcome))
            }
            Err(e) => (
                Verdict::Deny,
                Answer::Response(error_response(&id, e, req.request_id)),
            ),
        };
        if let Some(trail) = trail {
            self.record(req, msg, method, trail, verdict, &answer).await;
        }
        answer
    }

    /// Stages 2–8: everything between admission and the answer. The verdict is `deny` when a
    /// stage before the handler refused the request.
    async fn decide_and_serve(
        &self,
        req: &Request<'_>,
        msg: &Message,
        method: &str,
        cancel: CancellationToken,
        routed: Option<&OnceLock<Arc<str>>>,
    ) -> (Verdict, Result<Outcome, RpcError>) {
        let view = match self.decide(req, msg, method) {
            Ok(view) => view,
            Err(refusal) => return (Verdict::Deny, Err(refusal)),
        };
        let cx = Cx {
            req,
            view,
            cancel,
            routed,
        };
        (
            Verdict::Allow,
            methods::dispatch(self, &cx, msg, method).await,
        )
    }

    /// Stages 2–6: whether the request may go ahead, and from which view. Every error here
    /// is a refusal, audited as `deny` with the error's message as the reason.
    fn decide(
        &self,
        req: &Request<'_>,
        msg: &Message,
        method: &str,
    ) -> Result<Arc<View>, RpcError> {
        self.authenticate_stage(req)?;
        let view = self.view(req.view);
        self.authorize(req, &view, method)?;
        self.rate_limit(req, method)?;
        self.idempotency(req, msg, method)?;
        Ok(view)
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

    /// Stage 4: may this principal do this on this view? (Issue 12: scopes and the one policy
    /// decision; items it may not see are already absent from the view.)
    #[inline]
    fn authorize(&self, _req: &Request<'_>, _view: &View, _method: &str) -> Result<(), RpcError> {
        Ok(())
    }

    /// Stage 5: per-principal and per-tool rate limits (issue 12).
    #[inline]
    fn rate_limit(&self, _req: &Request<'_>, _method: &str) -> Result<(), RpcError> {
        Ok(())
    }

    /// Stage 6: a `tools/call`'s idempotency key, from the `Idempotency-Key` header or its
    /// `_meta`, must be well formed. (Issue 13 stores and replays results under it.)
    fn idempotency(&self, req: &Request<'_>, msg: &Message, method: &str) -> Result<(), RpcError> {
        if method != "tools/call" {
            return Ok(());
        }
        match req.idempotency_key {
            Some(key) => check_idempotency_key(key).map(drop),
            None => match msg
                .param("_meta")
                .and_then(|m| switchboard_protocol::object::get(m, IDEMPOTENCY_META_KEY))
            {
                None => Ok(()),
                Some(raw) => switchboard_protocol::object::string_value(raw)
                    .as_deref()
                    .map(|k| check_idempotency_key(k).map(drop))
                    .unwrap_or_else(|| {
                        Err(error::invalid_params(format!(
                            "_meta {IDEMPOTENCY_META_KEY} must be a string"
                        )))
                    }),
            },
        }
    }

    /// Stage 9: exactly one answer in the caller's era (or none, for a cancelled request).
    fn shape(
        &self,
        req: &Request<'_>,
        id: &Id,
        method: &str,
        outcome: Result<Outcome, RpcError>,
    ) -> Answer {
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
            Err(e) => Answer::Response(error_response(id, e, req.request_id)),
        }
    }

    /// Stage 10: what happened, for audit (and metrics, issue 11). Audited: `tools/call`,
    /// `resources/read`, `prompts/get`, and every refusal. The record is built from what the
    /// request already holds — shared names, the params and answer as `Bytes` slices, two clock
    /// readings — and queued with one `try_send`; the writer thread does the rest.
    async fn record(
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
        let (answer, status) = match answer {
            Answer::Response(b) => (Some(b.clone()), None),
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
            params: msg.params_bytes(),
            answer,
            verdict,
            http_status,
            client: req.client,
            trace_id: req.trace.and_then(|t| trace_id(t.traceparent)),
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
            Err(e) => error(&e.to_json()),
        }
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
