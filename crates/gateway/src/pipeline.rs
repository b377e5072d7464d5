//! The path of one client request, top to bottom.
//!
//! `Gateway::request` is the whole story: register the request (so it can be cancelled), dispatch
//! on its method, route named items through the catalog (never by splitting names), forward to the
//! owning upstream through [`relay`](crate::relay), and turn the outcome into exactly one response
//! — or none, when the client cancelled. Every error response carries the request id in
//! `error.data.request_id`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::error::add_request_id;
use switchboard_protocol::message::encode;
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, Id, Kind, Message, RpcError};
use tokio_util::sync::CancellationToken;

use crate::Related;
use crate::catalog::ListKind;
use crate::level::Level;
use crate::session::{Session, lock};
use crate::upstream::Upstream;
use crate::{Gateway, error, modern, mrtr, relay, set_member, tasks};

/// Items per page of a list served to clients.
const PAGE_SIZE: usize = 1000;
/// How long a list request waits for upstreams still starting for the first time.
const STARTUP_WAIT: Duration = Duration::from_secs(10);
/// How long `tasks/result` may block waiting for a task to finish.
const TASK_RESULT_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Most pages of an upstream's `tasks/list` followed.
const MAX_TASK_PAGES: usize = 20;

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

enum Outcome {
    /// A result produced by the gateway itself (raw JSON).
    Local(String),
    /// The upstream's response message, result or error, to relay.
    Upstream(Message),
    Cancelled,
}

impl Gateway {
    /// Handles one request from a client. `related` carries the messages that belong to it
    /// (progress, logs, server-to-client requests) to the client's response stream.
    pub async fn request(
        &self,
        session: &Arc<Session>,
        msg: &Message,
        related: &Related,
        request_id: &Arc<str>,
    ) -> Answer {
        let Some(id) = msg.id().cloned() else {
            return Answer::Cancelled;
        };
        session.touch();
        if self.is_shutting_down() {
            return Answer::Response(error_response(&id, error::shutting_down(), request_id));
        }
        // Right after start, upstreams may still be coming up: anything routed through the
        // catalog waits for their first attempt (bounded) instead of seeing a partial catalog.
        if !self.is_ready() && msg.method() != Some("ping") {
            self.wait_ready(STARTUP_WAIT).await;
        }
        let modern = session.revision.is_modern();
        // A one-request caller is cancelled by ending it: nothing needs to find the request by
        // id, so it is not registered.
        let cancel = if modern {
            session.closer()
        } else {
            session.begin(&id)
        };
        let cx = Cx {
            session,
            related,
            request_id,
            cancel: &cancel,
        };
        let method = msg.method().unwrap_or_default();
        let outcome = match method {
            m if modern && modern::removed(m) => Err(error::method_not_found(m)),
            // Core tasks are gone from 2026-07-28; its tasks extension is not offered here.
            m if modern && m.starts_with("tasks/") => Err(RpcError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "Method not found: {m} (2026-07-28 moved tasks to the io.modelcontextprotocol/tasks extension, which this gateway does not offer yet)"
                ),
            )),
            "server/discover" if modern => Ok(Outcome::Local(self.discover_result())),
            "ping" => Ok(Outcome::Local("{}".into())),
            "initialize" => Err(RpcError::new(
                ErrorCode::INVALID_REQUEST,
                "the session is already initialized",
            )),
            "tools/list" => self.list(ListKind::Tools, msg, modern).await,
            "prompts/list" => self.list(ListKind::Prompts, msg, modern).await,
            "resources/list" => self.list(ListKind::Resources, msg, modern).await,
            "resources/templates/list" => self.list(ListKind::Templates, msg, modern).await,
            "tools/call" => self.call_named(&cx, ListKind::Tools, msg).await,
            "prompts/get" => self.call_named(&cx, ListKind::Prompts, msg).await,
            "resources/read" => self.read_resource(&cx, msg).await,
            "resources/subscribe" => self.subscribe(&cx, msg, true).await,
            "resources/unsubscribe" => self.subscribe(&cx, msg, false).await,
            "completion/complete" => self.complete(&cx, msg).await,
            "logging/setLevel" => self.set_level(session, msg).await,
            "tasks/get" | "tasks/cancel" | "tasks/result" if session.revision.has_tasks() => {
                self.task_call(&cx, msg).await
            }
            "tasks/list" if session.revision.has_tasks() => self.task_list(&cx).await,
            other => Err(error::method_not_found(other)),
        };
        if modern {
            return self.modern_answer(&id, method, outcome, request_id);
        }
        session.end(&id);
        match outcome {
            Ok(Outcome::Local(result)) => {
                Answer::Response(Bytes::from(encode::result(&id, &result)))
            }
            Ok(Outcome::Upstream(resp)) => Answer::Response(relay_response(&id, &resp, request_id)),
            Ok(Outcome::Cancelled) => Answer::Cancelled,
            Err(e) => Answer::Response(error_response(&id, e, request_id)),
        }
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
                _ => error(
                    resp.error()
                        .unwrap_or("{\"code\":-32603,\"message\":\"internal error\"}"),
                ),
            },
            Ok(Outcome::Cancelled) => Answer::Cancelled,
            Err(e) => error(&e.to_json()),
        }
    }

    /// A page of a merged list, with an opaque cursor for the next.
    async fn list(&self, kind: ListKind, msg: &Message, modern: bool) -> Result<Outcome, RpcError> {
        let offset = match msg.param("cursor") {
            None | Some("null") => 0,
            Some(raw) => object::string_value(raw)
                .as_deref()
                .and_then(decode_cursor)
                .ok_or_else(|| error::invalid_params("Invalid cursor"))?,
        };
        let catalog = self.catalog();
        let mut items = catalog.items(kind);
        // Tools whose header annotations are invalid cannot be called right by a 2026-07-28
        // client, so it does not see them.
        if modern && kind == ListKind::Tools && catalog.hides_from_modern() {
            items.retain(|raw| {
                !object::get_str(raw, "name").is_some_and(|n| catalog.hidden_from_modern(&n))
            });
        }
        let total = items.len();
        if offset > total {
            return Err(error::invalid_params("Invalid cursor"));
        }
        let end = (offset + PAGE_SIZE).min(total);
        let mut s = String::with_capacity(
            64 + items[offset..end]
                .iter()
                .map(|i| i.len() + 1)
                .sum::<usize>(),
        );
        s.push_str("{\"");
        s.push_str(kind.key());
        s.push_str("\":[");
        for (i, item) in items[offset..end].iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(item);
        }
        s.push(']');
        if end < total {
            s.push_str(",\"nextCursor\":\"");
            s.push_str(&encode_cursor(end));
            s.push('"');
        }
        s.push('}');
        Ok(Outcome::Local(s))
    }

    /// `tools/call` and `prompts/get`: route by exposed name, forward with the upstream's name.
    async fn call_named(
        &self,
        cx: &Cx<'_>,
        kind: ListKind,
        msg: &Message,
    ) -> Result<Outcome, RpcError> {
        let params = msg
            .params()
            .filter(|p| p.starts_with('{'))
            .ok_or_else(|| error::invalid_params("params must be an object"))?;
        // One pass over params for both members this needs.
        let [name, task] = object::get_all(params, ["name", "task"]);
        let name = name
            .and_then(object::string_value)
            .ok_or_else(|| error::invalid_params("params.name must be a string"))?;
        let catalog = self.catalog();
        let found = match kind {
            ListKind::Tools
                if cx.session.revision.is_modern() && catalog.hidden_from_modern(&name) =>
            {
                None
            }
            ListKind::Tools => catalog.tool(&name),
            _ => catalog.prompt(&name),
        };
        let Some(entry) = found else {
            // A down upstream's items are withdrawn from the catalog; a name under its prefix
            // still deserves an answer that says the upstream is down, not that nothing exists.
            if let Some(up) = self.down_owner_of(&name) {
                return Err(error::upstream_down(up.name(), up.last_error().as_deref()));
            }
            return Err(match kind {
                ListKind::Tools => error::unknown_tool(&name),
                _ => error::unknown_prompt(&name),
            });
        };
        let up = self.upstreams()[entry.upstream].clone();
        let forwarded;
        let params = if *entry.original == *name {
            params
        } else {
            forwarded = set_member(params, "name", &object::json_string(&entry.original))
                .ok_or_else(|| error::invalid_params("params is not a valid object"))?;
            &forwarded
        };
        let method = msg.method().unwrap_or_default();
        let out = self
            .forward(cx, &up, method, Some(params), msg, None)
            .await?;
        if kind == ListKind::Tools && task.is_some() {
            return Ok(self.adopt_task(cx, &up, out).await);
        }
        Ok(out)
    }

    /// A task-augmented call answered with `CreateTaskResult`: the task gets a gateway id bound to
    /// this session, and the client sees only that id.
    async fn adopt_task(&self, cx: &Cx<'_>, up: &Arc<Upstream>, out: Outcome) -> Outcome {
        let Outcome::Upstream(resp) = &out else {
            return out;
        };
        let Some(result) = resp.result() else {
            return out;
        };
        let Some(task) = object::get(result, "task") else {
            return out;
        };
        let Some(upstream_id) = object::get_str(task, "taskId") else {
            return out;
        };
        // The connection that made it (the one this call used): task ids are its own.
        let Ok(conn) = self.connection_for(cx.session, up).await else {
            return out;
        };
        let id = self
            .state
            .tasks
            .register(&cx.session.id, up.idx, conn.serial(), &upstream_id);
        match tasks::with_task_id(task, &id).and_then(|t| set_member(result, "task", &t)) {
            Some(r) => Outcome::Local(r),
            None => out,
        }
    }

    /// `tasks/get`, `tasks/result`, `tasks/cancel`: resolve the gateway id for its owner only, ask
    /// the upstream under its own id, and map ids in the answer back.
    async fn task_call(&self, cx: &Cx<'_>, msg: &Message) -> Result<Outcome, RpcError> {
        let method = msg.method().unwrap_or_default();
        let params = msg
            .params()
            .filter(|p| p.starts_with('{'))
            .ok_or_else(|| error::invalid_params("params must be an object"))?;
        let id = object::get_str(params, "taskId")
            .ok_or_else(|| error::invalid_params("params.taskId must be a string"))?;
        let (upstream, serial, upstream_id) = self
            .state
            .tasks
            .resolve(&id, &cx.session.id)
            .ok_or_else(|| error::unknown_task(&id))?;
        let up = self.upstreams()[upstream].clone();
        // A task lives in the upstream session that created it; if that ended, so did the task.
        if self.connection_for(cx.session, &up).await?.serial() != serial {
            return Err(error::unknown_task(&id));
        }
        let p2 = set_member(params, "taskId", &object::json_string(&upstream_id))
            .ok_or_else(|| error::invalid_params("params is not an object"))?;
        // tasks/result blocks until the task ends: that is not a stalled upstream.
        let timeout = (method == "tasks/result").then_some(TASK_RESULT_WAIT);
        let out = self
            .forward(cx, &up, method, Some(&p2), msg, timeout)
            .await?;
        let Outcome::Upstream(resp) = &out else {
            return Ok(out);
        };
        let Some(result) = resp.result() else {
            return Ok(out);
        };
        let mapped = if method == "tasks/result" {
            tasks::map_related_task(result, |_| Some(id.to_string()))
        } else {
            tasks::with_task_id(result, &id)
        };
        Ok(mapped.map_or(out, Outcome::Local))
    }

    /// `tasks/list`: this session's tasks only, gathered from every upstream that holds one.
    async fn task_list(&self, cx: &Cx<'_>) -> Result<Outcome, RpcError> {
        let mut items = Vec::new();
        for upstream in self.state.tasks.upstreams_of(&cx.session.id) {
            let up = self.upstreams()[upstream].clone();
            let Ok(conn) = self.connection_for(cx.session, &up).await else {
                continue;
            };
            let mut cursor: Option<String> = None;
            for _ in 0..MAX_TASK_PAGES {
                let params = cursor.as_ref().map(|c| format!("{{\"cursor\":{c}}}"));
                let Ok(resp) = conn
                    .request("tasks/list", params.as_deref(), Default::default())
                    .await
                else {
                    break;
                };
                let Some(result) = resp.result() else { break };
                for t in object::get(result, "tasks")
                    .and_then(object::array_items)
                    .unwrap_or_default()
                {
                    let Some(uid) = object::get_str(t, "taskId") else {
                        continue;
                    };
                    if let Some((id, owner)) = self.state.tasks.owner(conn.serial(), &uid)
                        && owner == cx.session.id
                        && let Some(t2) = tasks::with_task_id(t, &id)
                    {
                        items.push(t2);
                    }
                }
                match object::get(result, "nextCursor") {
                    Some(c) if c.starts_with('"') => cursor = Some(c.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(Outcome::Local(format!(
            "{{\"tasks\":[{}]}}",
            items.join(",")
        )))
    }

    /// The upstream without a live connection whose prefix `name` carries, if any.
    fn down_owner_of(&self, name: &str) -> Option<&Arc<Upstream>> {
        let sep = &self.config().namespace_separator;
        self.upstreams().iter().find(|u| {
            !u.cfg.prefix.is_empty()
                && name
                    .strip_prefix(u.cfg.prefix.as_str())
                    .is_some_and(|rest| rest.starts_with(sep.as_str()))
                && u.connection().is_none()
        })
    }

    async fn read_resource(&self, cx: &Cx<'_>, msg: &Message) -> Result<Outcome, RpcError> {
        let uri = msg
            .param_str("uri")
            .ok_or_else(|| error::invalid_params("params.uri must be a string"))?;
        let up = self
            .resource_owner(&uri)
            .ok_or_else(|| error::resource_not_found(&uri))?;
        self.forward(cx, &up, "resources/read", msg.params(), msg, None)
            .await
    }

    /// The upstream serving `uri`: from the catalog's tables, else the only upstream with resources.
    pub(crate) fn resource_owner(&self, uri: &str) -> Option<Arc<Upstream>> {
        if let Some(i) = self.catalog().resource_upstream(uri) {
            return Some(self.upstreams()[i].clone());
        }
        let mut with_resources = self.upstreams().iter().filter(|u| {
            u.connection()
                .and_then(|c| c.info().map(|i| i.has("resources")))
                .unwrap_or(false)
        });
        match (with_resources.next(), with_resources.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }

    /// Subscriptions are reference-counted on shared upstream sessions: the upstream hears one
    /// subscribe per URI however many clients hold it.
    async fn subscribe(&self, cx: &Cx<'_>, msg: &Message, on: bool) -> Result<Outcome, RpcError> {
        let uri = msg
            .param_str("uri")
            .ok_or_else(|| error::invalid_params("params.uri must be a string"))?
            .into_owned();
        let up = self
            .resource_owner(&uri)
            .ok_or_else(|| error::resource_not_found(&uri))?;
        let conn = self.connection_for(cx.session, &up).await?;
        if !conn
            .info()
            .is_some_and(|i| i.has_flag("resources", "subscribe"))
        {
            return Err(RpcError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "upstream {} does not support resource subscriptions",
                    up.name()
                ),
            )
            .with_str("upstream", up.name()));
        }
        let method = if on {
            "resources/subscribe"
        } else {
            "resources/unsubscribe"
        };
        if up.cfg.session == switchboard_config::SessionMode::Isolated {
            let out = self
                .forward(cx, &up, method, msg.params(), msg, None)
                .await?;
            let mut subs = lock(&cx.session.subscriptions);
            if on {
                subs.insert(uri)
            } else {
                subs.remove(&uri)
            };
            return Ok(out);
        }
        let held = lock(&cx.session.subscriptions).contains(&uri);
        if on == held {
            return Ok(Outcome::Local("{}".into()));
        }
        if conn.is_modern() {
            // 2026-07-28 has no resources/subscribe: the upstream's listen carries the URI.
            if on {
                lock(&cx.session.subscriptions).insert(uri);
                self.sync_upstream_listen(&up);
            } else {
                lock(&cx.session.subscriptions).remove(&uri);
                self.release_subscription(&uri).await;
            }
            return Ok(Outcome::Local("{}".into()));
        }
        if !on {
            lock(&cx.session.subscriptions).remove(&uri);
            self.release_subscription(&uri).await;
            return Ok(Outcome::Local("{}".into()));
        }
        if self.subscription_holders(&uri) == 0 {
            let out = self
                .forward(cx, &up, method, msg.params(), msg, None)
                .await?;
            let subscribed = matches!(&out, Outcome::Upstream(m) if m.kind() == Kind::Result);
            if !subscribed {
                return Ok(out);
            }
        }
        lock(&cx.session.subscriptions).insert(uri);
        Ok(Outcome::Local("{}".into()))
    }

    /// `completion/complete`: the `ref` names a prompt (namespaced) or a resource (by URI).
    async fn complete(&self, cx: &Cx<'_>, msg: &Message) -> Result<Outcome, RpcError> {
        let params = msg
            .params()
            .filter(|p| p.starts_with('{'))
            .ok_or_else(|| error::invalid_params("params must be an object"))?;
        let reference = object::get(params, "ref")
            .ok_or_else(|| error::invalid_params("params.ref is required"))?;
        let ty = object::get_str(reference, "type").unwrap_or_default();
        match ty.as_ref() {
            "ref/prompt" => {
                let name = object::get_str(reference, "name")
                    .ok_or_else(|| error::invalid_params("ref.name is required"))?;
                let catalog = self.catalog();
                let entry = catalog
                    .prompt(&name)
                    .ok_or_else(|| error::unknown_prompt(&name))?;
                let up = self.upstreams()[entry.upstream].clone();
                let r2 = object::edit(
                    reference,
                    &[("name", Edit::Set(&object::json_string(&entry.original)))],
                )
                .ok_or_else(|| error::invalid_params("ref is not an object"))?;
                let p2 = set_member(params, "ref", &r2)
                    .ok_or_else(|| error::invalid_params("params is not an object"))?;
                self.forward(cx, &up, "completion/complete", Some(&p2), msg, None)
                    .await
            }
            "ref/resource" => {
                let uri = object::get_str(reference, "uri")
                    .ok_or_else(|| error::invalid_params("ref.uri is required"))?;
                let up = self
                    .resource_owner(&uri)
                    .ok_or_else(|| error::resource_not_found(&uri))?;
                self.forward(cx, &up, "completion/complete", Some(params), msg, None)
                    .await
            }
            other => Err(error::invalid_params(format!("unknown ref.type {other:?}"))),
        }
    }

    async fn set_level(&self, session: &Arc<Session>, msg: &Message) -> Result<Outcome, RpcError> {
        let level = msg
            .param_str("level")
            .and_then(|l| Level::parse(&l))
            .ok_or_else(|| error::invalid_params("params.level must be one of debug, info, notice, warning, error, critical, alert, emergency"))?;
        session.set_level(level);
        // All upstreams at once: one slow upstream must not hold up the client's answer for
        // longer than its own timeout, nor the others at all.
        let shared =
            futures::future::join_all(self.upstreams().iter().map(|up| self.sync_level(up)));
        let isolated: Vec<_> = session.isolated.lock().await.values().cloned().collect();
        let p = format!("{{\"level\":\"{}\"}}", level.as_str());
        let own = futures::future::join_all(
            isolated
                .iter()
                .filter(|c| !c.is_modern() && c.info().is_some_and(|i| i.has("logging")))
                .map(|c| c.request("logging/setLevel", Some(&p), Default::default())),
        );
        futures::future::join(shared, own).await;
        Ok(Outcome::Local("{}".into()))
    }

    /// Sends a request to an upstream and waits for its outcome, relaying everything related;
    /// `timeout` overrides the upstream's default.
    async fn forward(
        &self,
        cx: &Cx<'_>,
        up: &Arc<Upstream>,
        method: &str,
        params: Option<&str>,
        original: &Message,
        timeout: Option<Duration>,
    ) -> Result<Outcome, RpcError> {
        let conn = self.connection_for(cx.session, up).await?;
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
        let modern = cx.session.revision.is_modern();
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
            let call = mrtr::Call {
                session: cx.session,
                conn,
                isolated: (up.cfg.session == switchboard_config::SessionMode::Isolated)
                    .then_some(up.idx),
                method,
                params,
                original: original.params(),
                target: &target,
                progress,
                related: cx.related,
                cancel: cx.cancel,
                request_id: cx.request_id,
            };
            let bridged = match (modern, conn_modern) {
                (true, false) => self.bridge(call).await?,
                (true, true) => self.pass_through(call, up.idx).await?,
                _ => self.ask_for_input(call).await?,
            };
            return Ok(match bridged {
                mrtr::Bridged::Done(m) => Outcome::Upstream(m),
                mrtr::Bridged::InputRequired(r) => Outcome::Local(r),
                mrtr::Bridged::Cancelled => Outcome::Cancelled,
            });
        }
        let call = relay::Call {
            method,
            params,
            progress,
            timeout,
            cancel: cx.cancel.clone(),
            request_id: cx.request_id,
        };
        match relay::forward(self, cx.session, &conn, call, cx.related).await {
            Ok(m) => Ok(Outcome::Upstream(m)),
            Err(switchboard_upstream::UpstreamError::Cancelled) => Ok(Outcome::Cancelled),
            Err(e) => Err(error::upstream(up.name(), &e)),
        }
    }
}

/// What every stage of one request needs to know about it.
struct Cx<'a> {
    session: &'a Arc<Session>,
    related: &'a Related,
    request_id: &'a Arc<str>,
    cancel: &'a CancellationToken,
}

/// The upstream's response under the client's id; errors gain `data.request_id`.
fn relay_response(id: &Id, resp: &Message, request_id: &str) -> Bytes {
    match resp.kind() {
        Kind::Result => Bytes::from(encode::result(id, resp.result().unwrap_or("null"))),
        _ => {
            let raw = resp
                .error()
                .unwrap_or("{\"code\":-32603,\"message\":\"internal error\"}");
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

fn encode_cursor(offset: usize) -> String {
    format!("sb1.{offset:x}")
}

fn decode_cursor(c: &str) -> Option<usize> {
    usize::from_str_radix(c.strip_prefix("sb1.")?, 16).ok()
}
