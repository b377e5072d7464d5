//! Bridge B: a handshake session's call on a 2026-07-28 upstream.
//!
//! An `input_required` answer never reaches the client: each input request becomes a real
//! server-to-client request on the call's stream (all at once), and the upstream is asked again
//! with the answers and its own `requestState`, round after round, up to `modern.max_rounds`.
//! The upstream's errors are translated into what a handshake-era client expects.

use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, RpcError};
use switchboard_upstream::UpstreamError;

use super::{Bridged, Call, is_input_required, relay};
use crate::{Gateway, error};

impl Gateway {
    /// Bridge B: a handshake session's call on a modern upstream. An `input_required` answer
    /// never reaches the client: each input request becomes a real server-to-client request on
    /// the call's stream (all at once), and the upstream is asked again with the answers and its
    /// own `requestState`, round after round, up to `modern.max_rounds`.
    pub(crate) async fn ask_for_input(&self, call: Call<'_>) -> Result<Bridged, RpcError> {
        let max = self.config().modern.max_rounds;
        // The caller's params as they are; a retry's own copy only once the upstream asks.
        let mut retry: Option<String> = None;
        for round in 0..=max {
            let params = retry.as_deref().or(call.params);
            let resp = match call.relay(self, params).await {
                Ok(m) => m,
                Err(UpstreamError::Cancelled) => return Ok(Bridged::Cancelled),
                Err(e) => return Err(error::upstream(call.conn.name(), &e)),
            };
            if let Some(e) = resp.error().and_then(|e| handshake_error(call.method, e)) {
                return Err(e);
            }
            let Some(result) = resp.result().filter(|r| is_input_required(r)) else {
                return Ok(Bridged::Done(resp));
            };
            if round == max {
                break;
            }
            let asks: Vec<(String, String, Option<String>)> = object::get(result, "inputRequests")
                .and_then(object::fields)
                .unwrap_or_default()
                .into_iter()
                .map(|f| {
                    let method = object::get_str(f.value, "method")
                        .unwrap_or_default()
                        .into_owned();
                    let params = object::get(f.value, "params").map(str::to_owned);
                    (f.key().into_owned(), method, params)
                })
                .collect();
            let answers =
                futures::future::join_all(asks.iter().map(|(_, m, p)| {
                    relay::ask_client(call.session, m, p.as_deref(), call.related)
                }))
                .await;
            let mut responses = String::from("{");
            for (i, ((key, _, _), answer)) in asks.iter().zip(answers).enumerate() {
                if i > 0 {
                    responses.push(',');
                }
                object::push_json_string(&mut responses, key);
                responses.push(':');
                responses.push_str(&answer?);
            }
            responses.push('}');
            let mut edits = vec![("inputResponses", Edit::Set(&responses))];
            let state = object::get(result, "requestState");
            match state {
                Some(s) => edits.push(("requestState", Edit::Set(s))),
                None => edits.push(("requestState", Edit::Remove)),
            }
            retry = object::edit(params.unwrap_or("{}"), &edits);
        }
        Err(RpcError::new(
            ErrorCode::TOO_MANY_ROUNDS,
            format!("the call asked for input more than {max} times (modern.max_rounds)"),
        ))
    }
}

/// A 2026-07-28 upstream's error made fit for a handshake-era client: "resource not found" is
/// -32002 there; -32021 means the client lacks a capability (-32602 to it, naming what); the
/// header and version errors can only be the gateway's own mistake toward the upstream. `None`:
/// the error means the same in both eras and is relayed as it is.
fn handshake_error(method: &str, raw: &str) -> Option<RpcError> {
    let code = object::get(raw, "code")
        .and_then(|c| c.trim().parse::<i64>().ok())
        .unwrap_or(-32603);
    let message = object::get_str(raw, "message")
        .map(|m| m.into_owned())
        .unwrap_or_default();
    let data = object::get(raw, "data");
    let with_data = |e: RpcError| match data {
        Some(d) if d.starts_with('{') => object::fields(d)
            .unwrap_or_default()
            .into_iter()
            .fold(e, |e, f| e.with_raw(&f.key(), f.value.to_owned())),
        Some(d) => e.with_raw("upstream_data", d.to_owned()),
        None => e,
    };
    Some(match ErrorCode(code) {
        ErrorCode::INVALID_PARAMS
            if method == "resources/read" && data.and_then(|d| object::get(d, "uri")).is_some() =>
        {
            with_data(RpcError::new(ErrorCode::RESOURCE_NOT_FOUND, message))
        }
        ErrorCode::MISSING_CLIENT_CAPABILITY => with_data(RpcError::new(
            ErrorCode::INVALID_PARAMS,
            format!("the client lacks capabilities the upstream requires: {message}"),
        )),
        ErrorCode::HEADER_MISMATCH | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION => {
            tracing::error!(%method, error = %raw, "a 2026-07-28 upstream refused the gateway's request");
            RpcError::new(
                ErrorCode::INTERNAL_ERROR,
                format!("the upstream refused the gateway's request: {message}"),
            )
            .with_raw("upstream_code", code.to_string())
        }
        _ => return None,
    })
}
