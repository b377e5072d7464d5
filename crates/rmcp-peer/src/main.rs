//! `switchboard-rmcp-peer`: a tiny MCP server that speaks only 2026-07-28, built on the official
//! Rust SDK (`rmcp`, pinned). It is the gateway's *independent* modern upstream: the fixture's
//! modern era was written by us from the same reading of the spec as the gateway, so agreeing
//! with it proves little; this peer's wire format, version negotiation and `input_required`
//! encoding are rmcp's.
//!
//! What it does, all over stdio (one JSON-RPC message a line; diagnostics on stderr only):
//!
//! - `server/discover` lists 2026-07-28 alone, so `initialize` is refused by rmcp itself with
//!   -32022 and the process ends (a stock rmcp server does the same). The gateway's `auto` probe
//!   asks `server/discover` first and never gets that far.
//! - One tool, `confirm_action {action}`. The first call answers `input_required`: one form
//!   elicitation `confirm` ("Confirm <action>?", `{ok: boolean}`) and a fresh, random
//!   `requestState`. The retry carrying that state and `confirm = accept {ok: true}` completes
//!   with `confirmed: <action>`; a declined or cancelled `confirm` completes with
//!   `not confirmed: <decline|cancel>`; anything else asks again. A `requestState` this process
//!   never issued is -32602, which is how a test sees that the gateway never leaks its own sealed
//!   token (or a tampered one) to the upstream.
//! - At end of input it exits 0.

use std::borrow::Cow;
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitationSchema, ErrorData, Implementation, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, JsonObject, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer, ServerInitializeError, serve_server};
use rmcp::{ServerHandler, transport::stdio};
use serde_json::{Value, json};

const NAME: &str = "switchboard-rmcp-peer";
const TOOL: &str = "confirm_action";
/// The key of the one input request `confirm_action` makes.
const CONFIRM: &str = "confirm";
const SUPPORTED: &[ProtocolVersion] = &[ProtocolVersion::V_2026_07_28];

/// The server: the `requestState` values it has handed out, and where fresh ones come from.
struct ConfirmPeer {
    issued: Mutex<HashSet<String>>,
    states: StateSource,
}

/// Unguessable `requestState` values without a `rand` dependency: std's `RandomState` is keyed
/// from the OS's randomness once per process, and SipHash keyed that way of a counter is a PRF.
struct StateSource {
    keys: [RandomState; 2],
    counter: AtomicU64,
}

impl StateSource {
    fn new() -> Self {
        Self {
            keys: [RandomState::new(), RandomState::new()],
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let [a, b] = &self.keys;
        format!("rmcp-peer.{:016x}{:016x}", a.hash_one(n), b.hash_one(n))
    }
}

/// What the client answered to the `confirm` elicitation, as far as this tool cares.
#[derive(Debug, PartialEq)]
enum Answer {
    /// `accept` with `content.ok == true`.
    Confirmed,
    /// `decline` or `cancel` (the action is kept for the result text).
    Refused(String),
    /// No answer, or one that does not settle the question (`accept` without `ok: true`).
    Unsettled,
}

fn read_answer(responses: Option<&InputResponses>) -> Answer {
    let Some(answer) = responses.and_then(|r| r.get(CONFIRM)) else {
        return Answer::Unsettled;
    };
    match answer.get("action").and_then(Value::as_str) {
        Some("accept") if answer.pointer("/content/ok") == Some(&Value::Bool(true)) => {
            Answer::Confirmed
        }
        Some(refusal @ ("decline" | "cancel")) => Answer::Refused(refusal.to_owned()),
        _ => Answer::Unsettled,
    }
}

fn confirm_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": { "action": { "type": "string" } },
        "required": ["action"],
    });
    let schema: JsonObject = match schema {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    };
    Tool::new(
        TOOL,
        "Ask the user to confirm an action (through an elicitation), then report the answer.",
        schema,
    )
}

fn text(s: String) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(s)]).into()
}

impl ConfirmPeer {
    fn new() -> Self {
        Self {
            issued: Mutex::new(HashSet::new()),
            states: StateSource::new(),
        }
    }

    fn was_issued(&self, state: &str) -> bool {
        let issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        issued.contains(state)
    }

    fn issue_state(&self) -> String {
        let state = self.states.next();
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        issued.insert(state.clone());
        state
    }

    fn call(&self, request: &CallToolRequestParams) -> Result<CallToolResponse, ErrorData> {
        if request.name != TOOL {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {:?}", request.name),
                None,
            ));
        }
        let action = request
            .arguments
            .as_ref()
            .and_then(|args| args.get("action"))
            .and_then(Value::as_str)
            .ok_or_else(|| ErrorData::invalid_params("`action` (a string) is required", None))?;
        let state_is_ours = match request.request_state.as_deref() {
            None => false,
            Some(state) if self.was_issued(state) => true,
            Some(_) => {
                return Err(ErrorData::invalid_params(
                    "requestState was not issued by this server",
                    None,
                ));
            }
        };
        match read_answer(request.input_responses.as_ref()) {
            Answer::Confirmed if state_is_ours => Ok(text(format!("confirmed: {action}"))),
            Answer::Refused(how) => Ok(text(format!("not confirmed: {how}"))),
            Answer::Confirmed | Answer::Unsettled => self.ask(action),
        }
    }

    /// The `input_required` answer: one form elicitation and a state to bring back.
    fn ask(&self, action: &str) -> Result<CallToolResponse, ErrorData> {
        let requested_schema = ElicitationSchema::builder()
            .required_bool("ok")
            .build()
            .map_err(|why| ErrorData::internal_error(why, None))?;
        let elicit = ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: format!("Confirm {action}?"),
            requested_schema,
        });
        let mut requests = InputRequests::new();
        requests.insert(CONFIRM.to_owned(), InputRequest::Elicitation(elicit));
        Ok(InputRequiredResult::new(Some(requests), Some(self.issue_state())).into())
    }
}

impl ServerHandler for ConfirmPeer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(NAME, env!("CARGO_PKG_VERSION")))
            .with_protocol_version(ProtocolVersion::V_2026_07_28)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![confirm_tool()]))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == TOOL).then(confirm_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(&request)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let peer = Arc::new(ConfirmPeer::new());
    match serve_server(peer, stdio()).await {
        Ok(running) => match running.waiting().await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{NAME}: the service task failed: {e}");
                ExitCode::FAILURE
            }
        },
        // End of input before any request is the ordinary end of a probe that went elsewhere.
        Err(ServerInitializeError::ConnectionClosed(_)) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(args: Value, responses: Option<Value>, state: Option<&str>) -> CallToolRequestParams {
        let mut p = CallToolRequestParams::new(TOOL);
        if let Value::Object(args) = args {
            p = p.with_arguments(args);
        }
        if let Some(responses) = responses {
            p.input_responses = serde_json::from_value(responses).ok();
        }
        p.request_state = state.map(str::to_owned);
        p
    }

    fn input_required(r: CallToolResponse) -> InputRequiredResult {
        match r {
            CallToolResponse::InputRequired(ir) => ir,
            other => panic!("expected input_required, got {other:?}"),
        }
    }

    fn only_text(r: CallToolResponse) -> String {
        let CallToolResponse::Complete(done) = r else {
            panic!("expected a complete result, got {r:?}");
        };
        let wire = serde_json::to_value(&done).unwrap();
        wire["content"][0]["text"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_confirmed_round_trip() {
        let peer = ConfirmPeer::new();
        let first = input_required(
            peer.call(&params(json!({"action": "deploy"}), None, None))
                .unwrap(),
        );
        let wire = serde_json::to_value(&first).unwrap();
        assert_eq!(
            wire["inputRequests"]["confirm"]["method"],
            "elicitation/create"
        );
        assert_eq!(
            wire["inputRequests"]["confirm"]["params"]["message"],
            "Confirm deploy?"
        );
        assert_eq!(
            wire["inputRequests"]["confirm"]["params"]["requestedSchema"]["required"],
            json!(["ok"])
        );
        let state = first.request_state.unwrap();
        let accept = json!({"confirm": {"action": "accept", "content": {"ok": true}}});
        let done = peer
            .call(&params(
                json!({"action": "deploy"}),
                Some(accept),
                Some(&state),
            ))
            .unwrap();
        assert_eq!(only_text(done), "confirmed: deploy");
    }

    #[test]
    fn refusals_unsettled_answers_and_foreign_states() {
        let peer = ConfirmPeer::new();
        let args = json!({"action": "x"});
        let decline = json!({"confirm": {"action": "decline"}});
        let r = peer
            .call(&params(args.clone(), Some(decline), None))
            .unwrap();
        assert_eq!(only_text(r), "not confirmed: decline");
        // Accepted but not with ok: true, or accepted without our state: ask again.
        let lukewarm = json!({"confirm": {"action": "accept", "content": {"ok": false}}});
        input_required(
            peer.call(&params(args.clone(), Some(lukewarm), None))
                .unwrap(),
        );
        let accept = json!({"confirm": {"action": "accept", "content": {"ok": true}}});
        input_required(
            peer.call(&params(args.clone(), Some(accept.clone()), None))
                .unwrap(),
        );
        let err = peer
            .call(&params(args.clone(), Some(accept), Some("forged")))
            .unwrap_err();
        assert_eq!(err.code.0, -32602);
        assert!(peer.call(&params(json!({}), None, None)).is_err());
        assert_ne!(peer.states.next(), peer.states.next());
    }
}
