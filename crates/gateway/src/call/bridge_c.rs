//! Bridge C: a 2026-07-28 caller calling a handshake-era upstream that asks the client things.
//!
//! A handshake-era tool that elicits, samples or lists roots sends real server-to-client requests
//! and waits for the answers inside its call. A 2026-07-28 client takes no such requests: it gets
//! an `input_required` result listing what is asked, and calls again with the answers
//! (`inputResponses`) and the opaque `requestState` it was given. The gateway joins the two:
//!
//! 1. The upstream call runs in a *driver* task of its own, so it can outlive the HTTP request
//!    that started it. Its server-to-client requests are gathered for `modern.gather` (requests a
//!    tool sends together are answered together).
//! 2. Each request gets a key (the fixture-style hint `io.github.switchboard-mcp/inputKey`, else
//!    `sb-N`) and is checked against the capabilities the caller declared. Answers the caller
//!    already sent (`inputResponses` of a first call) are used at once.
//! 3. If anything is left to ask, the call is *parked* (held in this replica, its upstream
//!    requests left out of attribution) and the caller gets `input_required` with a sealed
//!    `requestState` naming the held call and the round. If nothing can be asked because the
//!    caller lacks every needed capability, the call is cancelled upstream and the caller gets
//!    `-32021` naming what it lacks.
//! 4. A retry opens the state (tampered, foreign, expired or replayed states each get their own
//!    error), answers what it can upstream, and either asks again for what is still missing or
//!    waits for the call's next event: its response, or another round of requests.
//! 5. A parked call nobody comes back for is cancelled upstream after `modern.input_ttl`, and its
//!    open requests are answered `-31012`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchboard_protocol::object;
use switchboard_protocol::{ErrorCode, Id, Kind, Message, RpcError};
use switchboard_upstream::{Connection, RequestCtx, UpstreamError, related};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::sealed::{Binding, Sealed};
use super::{Bridged, Call, expired, invalid_state, no_keys, now_unix_ms, open_error, relay, send};
use crate::sessions::ClientCaps;
use crate::upstreams::Upstream;
use crate::{Gateway, error};
use switchboard_protocol::lock;

/// The `_meta` key a handshake-era server may put on a server-to-client request to name the key
/// its answer should have in `inputResponses`.
pub const INPUT_KEY: &str = "io.github.switchboard-mcp/inputKey";
/// Events of one driven call waiting to be taken.
const EVENTS: usize = 64;

/// Something the driven upstream call produced.
enum Event {
    /// A server-to-client request.
    Request(Message),
    /// A notification about the call (progress, a log line).
    Note(Message),
    Done(Result<Message, UpstreamError>),
}

/// One server-to-client request waiting for the caller's answer.
struct Asked {
    key: String,
    upstream_id: Id,
    method: String,
    /// `{"method":…,"params":…}` as it goes into `inputRequests`.
    entry: String,
}

/// A call whose upstream part runs on while its caller decides what to answer.
struct Held {
    handle: [u8; 16],
    state: tokio::sync::Mutex<HeldState>,
}

struct HeldState {
    /// The round the caller's next `requestState` must name.
    round: u32,
    /// Whether the call is waiting for a retry (as opposed to being served by one).
    parked: bool,
    asked: Vec<Asked>,
    /// Where the upstream call's events come from.
    source: Source,
    /// Ends the upstream call.
    stop: CancellationToken,
    conn: Connection,
    /// Cleared while the call is parked: it waits on its caller then, not on the upstream, so
    /// the connection must not take it for the cause of a server-to-client request.
    attributable: Arc<AtomicBool>,
    /// Counts minted keys, across rounds.
    minted: u64,
    /// Set once the call is over (answered, failed, expired): nothing more to hold.
    over: bool,
    /// The connection is this call's own (isolated upstream): it closes when the call ends.
    owns_conn: bool,
}

/// The calls this replica holds.
#[derive(Default)]
pub(crate) struct HeldCalls {
    calls: std::sync::Mutex<HashMap<[u8; 16], Arc<Held>>>,
}

impl Gateway {
    /// Serves one `tools/call`, `prompts/get` or `resources/read` of a modern caller on a
    /// handshake-era upstream.
    pub(crate) async fn bridge(&self, call: Call<'_>) -> Result<Bridged, RpcError> {
        let [responses, state] = call.original.map_or([None, None], |p| {
            object::get_all(p, ["inputResponses", "requestState"])
        });
        let responses = input_responses(responses)?;
        match state {
            None | Some("null") => self.fresh(call, responses).await,
            Some(raw) => {
                let token = object::string_value(raw)
                    .ok_or_else(|| error::invalid_params("requestState must be a string"))?;
                self.resume(call, &token, responses).await
            }
        }
    }

    async fn fresh(
        &self,
        call: Call<'_>,
        responses: HashMap<String, String>,
    ) -> Result<Bridged, RpcError> {
        let stop = CancellationToken::new();
        let owner = call.session.key;
        let attributable = Arc::new(AtomicBool::new(true));
        let source = Source::start(
            call.up.clone(),
            call.conn.clone(),
            call.method.to_owned(),
            call.params.map(str::to_owned),
            call.progress.is_some(),
            owner,
            attributable.clone(),
            self.config().modern.input_ttl + Duration::from_secs(60),
            stop.clone(),
            call.request_id.clone(),
            call.trace.cloned(),
            call.caller_token.and_then(super::bearer_header),
        );
        let held = Arc::new(Held {
            handle: rand::random(),
            state: tokio::sync::Mutex::new(HeldState {
                round: 0,
                parked: false,
                asked: Vec::new(),
                source,
                stop,
                conn: call.conn.clone(),
                attributable,
                minted: 0,
                over: false,
                owns_conn: false,
            }),
        });
        let mut st = held.state.lock().await;
        self.serve(&call, &held, &mut st, responses).await
    }

    async fn resume(
        &self,
        call: Call<'_>,
        token: &str,
        responses: HashMap<String, String>,
    ) -> Result<Bridged, RpcError> {
        let binding = Binding {
            principal: call.principal,
            method: call.method,
            target: call.target,
        };
        let keys = self.state.keys.as_ref().ok_or_else(no_keys)?;
        let opened = keys
            .open(token, &binding, now_unix_ms())
            .map_err(open_error)?;
        let Sealed::Held { handle, round } = opened.state else {
            return Err(invalid_state());
        };
        if opened.replica != self.state.replica {
            return Err(RpcError::new(
                ErrorCode::STATE_ELSEWHERE,
                format!(
                    "requestState is held by replica {}; retry against that replica",
                    opened.replica
                ),
            )
            .with_str("replica", &opened.replica));
        }
        let held = lock(&self.state.held.calls)
            .get(&handle)
            .cloned()
            .ok_or_else(|| expired().with_str("reason", "gone"))?;
        // The first of two racing retries wins the lock; the second then sees a newer round.
        let mut st = held.state.lock().await;
        if st.over {
            return Err(expired().with_str("reason", "gone"));
        }
        if st.round != round || !st.parked {
            return Err(
                error::invalid_params("requestState already used").with_str("reason", "replayed")
            );
        }
        st.parked = false;
        st.attributable.store(true, Ordering::Release);
        // Answer what the retry answers; keys never asked are ignored, as the revision says.
        if let Some(bad) = st
            .asked
            .iter()
            .find(|a| responses.get(&a.key).is_some_and(|r| !fits(&a.method, r)))
        {
            let e = error::invalid_params(format!(
                "inputResponses.{} is not a valid answer to {}",
                bad.key, bad.method
            ));
            self.give_up(&held, &mut st).await;
            return Err(e);
        }
        let mut open = Vec::new();
        for a in std::mem::take(&mut st.asked) {
            match responses.get(&a.key) {
                Some(answer) => {
                    if let Err(e) = st.conn.respond(&a.upstream_id, answer).await {
                        tracing::debug!("answering {} upstream failed: {e}", a.method);
                    }
                }
                None => open.push(a),
            }
        }
        if !open.is_empty() {
            st.asked = open;
            return self.park(&call, &held, &mut st).await;
        }
        self.serve(&call, &held, &mut st, HashMap::new()).await
    }

    /// Takes the driven call's events until it ends or asks the caller something.
    async fn serve(
        &self,
        call: &Call<'_>,
        held: &Arc<Held>,
        st: &mut HeldState,
        pre: HashMap<String, String>,
    ) -> Result<Bridged, RpcError> {
        let gather = self.config().modern.gather;
        let mut missing: Vec<(Id, &'static str)> = Vec::new();
        let timer = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(timer);
        let mut armed = false;
        loop {
            tokio::select! {
                biased;
                ev = st.source.next() => match ev {
                    Some(Event::Note(m)) if m.method() == Some("notifications/cancelled") => {
                        // The upstream withdrew a request: nobody needs to answer it any more.
                        if let Some(id) = m.param("requestId") {
                            let id = id.trim();
                            st.asked.retain(|a| a.upstream_id.as_raw() != id);
                            missing.retain(|(i, _)| i.as_raw() != id);
                        }
                    }
                    Some(Event::Note(m)) => relay::relay_note(call.session, &st.conn, &m, call.progress, call.related),
                    Some(Event::Request(m)) => {
                        if !armed {
                            armed = true;
                            timer.as_mut().reset(tokio::time::Instant::now() + gather);
                        }
                        let Some(up_id) = m.id().cloned() else { continue };
                        let method = m.method().unwrap_or_default().to_owned();
                        if let Err(need) = capable(&call.session.record.caps, &m) {
                            missing.push((up_id, need));
                            continue;
                        }
                        let (key, entry) = input_request(&m, &mut st.minted);
                        if let Some(answer) = pre.get(&key) {
                            if !fits(&method, answer) {
                                self.give_up(held, st).await;
                                return Err(error::invalid_params(format!(
                                    "inputResponses.{key} is not a valid answer to {method}"
                                )));
                            }
                            if let Err(e) = st.conn.respond(&up_id, answer).await {
                                tracing::debug!("answering {method} upstream failed: {e}");
                            }
                            continue;
                        }
                        st.asked.push(Asked { key, upstream_id: up_id, method, entry });
                    }
                    Some(Event::Done(out)) => {
                        self.finish(held, st);
                        return match out {
                            Ok(m) => Ok(Bridged::Done(m)),
                            Err(UpstreamError::Cancelled) => Ok(Bridged::Cancelled),
                            Err(e) => Err(error::upstream(st.conn.name(), &e)),
                        };
                    }
                    None => {
                        self.finish(held, st);
                        return Err(error::upstream(st.conn.name(), &UpstreamError::Closed("the call ended".into())));
                    }
                },
                _ = &mut timer, if armed => {
                    armed = false;
                    timer.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(3600));
                    if !st.asked.is_empty() {
                        refuse(&st.conn, &missing).await;
                        return self.park(call, held, st).await;
                    }
                    if !missing.is_empty() {
                        let need = required_capabilities(&missing);
                        self.give_up(held, st).await;
                        refuse(&st.conn, &missing).await;
                        return Err(RpcError::new(
                            ErrorCode::MISSING_CLIENT_CAPABILITY,
                            format!("the tool needs client capabilities the request did not declare: {need}"),
                        )
                        .with_raw("requiredCapabilities", need));
                    }
                }
                _ = call.cancel.cancelled() => {
                    self.give_up(held, st).await;
                    return Ok(Bridged::Cancelled);
                }
            }
        }
    }

    /// Holds the call for the caller's retry and tells it what to answer.
    async fn park(
        &self,
        call: &Call<'_>,
        held: &Arc<Held>,
        st: &mut HeldState,
    ) -> Result<Bridged, RpcError> {
        let held_max = self.config().modern.max_held;
        if st.round == 0 && self.held_calls() >= held_max {
            // Held calls keep upstream calls open: a flood of callers that never come back must
            // not pile them up without bound.
            self.give_up(held, st).await;
            return Err(RpcError::new(
                ErrorCode::TOO_MANY_HELD,
                format!(
                    "the gateway already holds {held_max} calls waiting for input (modern.max_held); try again later"
                ),
            ));
        }
        let max = self.config().modern.max_rounds;
        if st.round >= max {
            self.give_up(held, st).await;
            return Err(RpcError::new(
                ErrorCode::TOO_MANY_ROUNDS,
                format!("the call asked for input more than {max} times (modern.max_rounds)"),
            ));
        }
        st.round += 1;
        st.parked = true;
        st.attributable.store(false, Ordering::Release);
        // The call must outlive this request now: it goes on in a task of its own.
        st.source.detach();
        if call.up.cfg.session == switchboard_config::SessionMode::Isolated && !st.owns_conn {
            call.session.isolated.lock().await.remove(&call.up.id);
            st.owns_conn = true;
        }
        let ttl = self.config().modern.input_ttl;
        let expires =
            now_unix_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let binding = Binding {
            principal: call.principal,
            method: call.method,
            target: call.target,
        };
        let sealed = Sealed::Held {
            handle: held.handle,
            round: st.round,
        };
        let sealing = match self.state.keys.as_ref() {
            Some(k) => k
                .seal(&binding, &self.state.replica, expires, &sealed)
                .map_err(|e| e.to_string()),
            None => Err("no sealing key".to_owned()),
        };
        let token = match sealing {
            Ok(t) => t,
            Err(e) => {
                self.give_up(held, st).await;
                return Err(RpcError::new(
                    ErrorCode::INTERNAL_ERROR,
                    format!("could not seal requestState: {e}"),
                ));
            }
        };
        lock(&self.state.held.calls).insert(held.handle, held.clone());
        let gw = self.clone();
        let h = held.clone();
        let round = st.round;
        // In the span of the request that parked it: its log lines carry that request's id.
        tokio::spawn(
            async move {
                tokio::time::sleep(ttl).await;
                let mut st = h.state.lock().await;
                if st.parked && st.round == round && !st.over {
                    tracing::debug!(
                        upstream = st.conn.name(),
                        "held call expired; cancelled upstream"
                    );
                    gw.give_up(&h, &mut st).await;
                }
            }
            .in_current_span(),
        );
        let mut s = String::with_capacity(256);
        s.push_str("{\"resultType\":\"input_required\",\"inputRequests\":{");
        for (i, a) in st.asked.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            object::push_json_string(&mut s, &a.key);
            s.push(':');
            s.push_str(&a.entry);
        }
        s.push_str("},\"requestState\":");
        object::push_json_string(&mut s, &token);
        s.push('}');
        Ok(Bridged::InputRequired(s))
    }

    /// Ends a held call for good: cancelled upstream, its open requests answered.
    async fn give_up(&self, held: &Arc<Held>, st: &mut HeldState) {
        st.stop.cancel();
        // The upstream hears of the cancellation before the answers to its open requests (the
        // driver sends it, then ends), so it never takes those answers for a reason to go on.
        if !st.over {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(ev) = st.source.next().await {
                    if matches!(ev, Event::Done(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        let e = RpcError::new(
            ErrorCode::CLIENT_TIMEOUT,
            "the client did not answer; the call was ended",
        );
        for a in std::mem::take(&mut st.asked) {
            let _ = st.conn.respond_error(&a.upstream_id, &e).await;
        }
        self.finish(held, st);
    }

    fn finish(&self, held: &Arc<Held>, st: &mut HeldState) {
        if st.owns_conn && !st.over {
            let conn = st.conn.clone();
            tokio::spawn(async move { conn.close().await });
        }
        st.over = true;
        st.parked = false;
        // Only `park` clears the flag and registers the call, and it counts a round first: a
        // call that never asked anything (the common case) skips the registry's lock.
        if st.round > 0 {
            st.attributable.store(true, Ordering::Release);
            lock(&self.state.held.calls).remove(&held.handle);
        }
    }

    /// How many calls this replica holds for callers' retries.
    pub(crate) fn held_calls(&self) -> usize {
        lock(&self.state.held.calls).len()
    }
}

/// The upstream call of a held call, and where its events come from.
///
/// A call starts out polled right where its request is served (`Inline`): most calls never ask
/// anything and finish there, with no task hop. Only when it is parked does it move into a task
/// of its own (`Driven`), which turns what it produces into events for whichever retry comes.
enum Source {
    Inline {
        call: Pin<Box<dyn Future<Output = Result<Message, UpstreamError>> + Send>>,
        related: related::Receiver<Message>,
        /// The call's outcome, held back until what it sent before it has been taken.
        done: Option<Result<Message, UpstreamError>>,
    },
    Driven(mpsc::Receiver<Event>),
}

impl Source {
    #[allow(clippy::too_many_arguments)]
    fn start(
        up: Arc<Upstream>,
        conn: Connection,
        method: String,
        params: Option<String>,
        progress: bool,
        owner: u64,
        attributable: Arc<AtomicBool>,
        timeout: Duration,
        stop: CancellationToken,
        request_id: Arc<str>,
        trace: Option<switchboard_upstream::TraceHeaders>,
        authorization: Option<reqwest::header::HeaderValue>,
    ) -> Source {
        let (tx, related) = related::channel(EVENTS);
        let ctx = RequestCtx {
            timeout: Some(timeout),
            max_timeout: None,
            cancel: Some(stop),
            related: Some(tx),
            owner,
            attributable: Some(attributable),
            rewrite_progress: progress,
            request_id: Some(request_id),
            authorization,
            modern: None,
            trace,
        };
        let call = Box::pin(async move { send(&up, &conn, &method, params.as_deref(), ctx).await });
        Source::Inline {
            call,
            related,
            done: None,
        }
    }

    /// The next event; `None` once there will be none. Cancel-safe: nothing is lost if the
    /// future is dropped before it finishes.
    async fn next(&mut self) -> Option<Event> {
        match self {
            Source::Driven(events) => events.recv().await,
            Source::Inline {
                call,
                related,
                done,
            } => {
                if done.is_none() {
                    tokio::select! {
                        biased;
                        m = related.recv() => {
                            if let Some(m) = m {
                                return Some(event(m));
                            }
                            *done = Some(call.as_mut().await);
                        }
                        out = call.as_mut() => *done = Some(out),
                    }
                }
                // Whatever the call sent just before its answer still goes first.
                match related.try_recv() {
                    Some(m) => Some(event(m)),
                    None => done.take().map(Event::Done),
                }
            }
        }
    }

    /// Moves an inline call into a task of its own, so it goes on after this request ends.
    fn detach(&mut self) {
        if !matches!(self, Source::Inline { .. }) {
            return;
        }
        let (tx, events) = mpsc::channel(EVENTS);
        let mut inline = std::mem::replace(self, Source::Driven(events));
        tokio::spawn(
            async move {
                while let Some(ev) = inline.next().await {
                    let last = matches!(ev, Event::Done(_));
                    if tx.send(ev).await.is_err() || last {
                        break;
                    }
                }
            }
            .in_current_span(),
        );
    }
}

fn event(m: Message) -> Event {
    if m.kind() == Kind::Request {
        Event::Request(m)
    } else {
        Event::Note(m)
    }
}

/// `inputResponses` of the caller's params (raw): absent, or an object whose values are objects.
fn input_responses(raw: Option<&str>) -> Result<HashMap<String, String>, RpcError> {
    let Some(raw) = raw else {
        return Ok(HashMap::new());
    };
    let bad = || error::invalid_params("inputResponses must be an object whose values are objects");
    let fields = object::fields(raw)
        .filter(|_| raw.starts_with('{'))
        .ok_or_else(bad)?;
    let mut out = HashMap::with_capacity(fields.len());
    for f in fields {
        if !f.value.starts_with('{') {
            return Err(bad());
        }
        out.insert(f.key().into_owned(), f.value.to_owned());
    }
    Ok(out)
}

/// Whether the caller declared what this server-to-client request needs; if not, the capability
/// it lacks (as a `ClientCapabilities` member).
fn capable(caps: &ClientCaps, m: &Message) -> Result<(), &'static str> {
    match m.method().unwrap_or_default() {
        "sampling/createMessage" => {
            let tools = m.param("tools").is_some() || m.param("toolChoice").is_some();
            match (caps.sampling, tools, caps.sampling_tools) {
                (false, false, _) => Err(r#""sampling":{}"#),
                (_, true, false) => Err(r#""sampling":{"tools":{}}"#),
                _ => Ok(()),
            }
        }
        "elicitation/create" => {
            if m.param_str("mode").as_deref() == Some("url") {
                caps.elicitation_url
                    .then_some(())
                    .ok_or(r#""elicitation":{"url":{}}"#)
            } else {
                caps.elicitation_form
                    .then_some(())
                    .ok_or(r#""elicitation":{}"#)
            }
        }
        "roots/list" => caps.roots.then_some(()).ok_or(r#""roots":{}"#),
        _ => Err(""),
    }
}

/// The union of what is missing, as a `ClientCapabilities` object.
fn required_capabilities(missing: &[(Id, &'static str)]) -> String {
    let mut parts: Vec<&str> = missing
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| !c.is_empty())
        .collect();
    parts.sort_unstable();
    parts.dedup();
    format!("{{{}}}", parts.join(","))
}

/// Answers requests the caller cannot take: upstream, at once.
async fn refuse(conn: &Connection, missing: &[(Id, &'static str)]) {
    for (id, need) in missing {
        let e = RpcError::new(
            ErrorCode::CLIENT_LACKS_CAPABILITY,
            if need.is_empty() {
                "this request cannot be relayed to a 2026-07-28 client".to_owned()
            } else {
                format!("the client did not declare {{{need}}}")
            },
        );
        let _ = conn.respond_error(id, &e).await;
    }
}

/// The key and the `inputRequests` entry for one server-to-client request.
fn input_request(m: &Message, minted: &mut u64) -> (String, String) {
    let params = m.params().unwrap_or("{}");
    let hint = object::get(params, "_meta")
        .and_then(|mt| object::get_str(mt, INPUT_KEY))
        .map(|k| k.into_owned());
    let cleaned = hint
        .as_ref()
        .and_then(|_| switchboard_protocol::meta::without(params, |k| k == INPUT_KEY));
    let key = hint.unwrap_or_else(|| {
        *minted += 1;
        format!("sb-{minted}")
    });
    let mut entry = String::from("{\"method\":");
    object::push_json_string(&mut entry, m.method().unwrap_or_default());
    entry.push_str(",\"params\":");
    entry.push_str(cleaned.as_deref().unwrap_or(params));
    entry.push('}');
    (key, entry)
}

/// Whether an answer has the shape of a result of `method`.
fn fits(method: &str, answer: &str) -> bool {
    match method {
        "elicitation/create" => matches!(
            object::get_str(answer, "action").as_deref(),
            Some("accept" | "decline" | "cancel")
        ),
        "sampling/createMessage" => ["role", "content", "model"]
            .iter()
            .all(|k| object::get(answer, k).is_some()),
        "roots/list" => object::get(answer, "roots").is_some_and(|r| r.starts_with('[')),
        _ => false,
    }
}
