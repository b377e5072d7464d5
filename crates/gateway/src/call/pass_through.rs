//! Pass-through: a 2026-07-28 caller's call on a 2026-07-28 upstream.
//!
//! The call goes through as it is, except that the upstream's `requestState` never reaches the
//! caller as it is: it is sealed (kind RELAY: the upstream's id and its own state), so any
//! replica with the same keys can open it, and a caller cannot aim one upstream's state at
//! another upstream or at another tool.

use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{ErrorCode, RpcError};
use switchboard_upstream::UpstreamError;

use super::sealed::{Binding, Sealed};
use super::{Bridged, Call, invalid_state, is_input_required, no_keys, now_unix_ms, open_error};
use crate::{Gateway, error};

impl Gateway {
    /// A modern caller's call on a modern upstream: passed through, except that the upstream's
    /// `requestState` never reaches the caller as it is. It is sealed (kind RELAY: the upstream's
    /// index and its own state), so any replica with the same keys can open it, and a caller
    /// cannot aim one upstream's state at another or at another tool.
    pub(crate) async fn pass_through(&self, call: Call<'_>) -> Result<Bridged, RpcError> {
        let binding = Binding {
            principal: call.principal,
            method: call.method,
            target: call.target,
        };
        let opened;
        let params = match call.params.and_then(|p| object::get(p, "requestState")) {
            None | Some("null") => call.params,
            Some(raw) => {
                let token = object::string_value(raw)
                    .ok_or_else(|| error::invalid_params("requestState must be a string"))?;
                let keys = self.state.keys.as_ref().ok_or_else(no_keys)?;
                let inner = match keys
                    .open(&token, &binding, now_unix_ms())
                    .map_err(open_error)?
                    .state
                {
                    Sealed::Relay { upstream, inner } if upstream == call.up.id.as_str() => inner,
                    _ => return Err(invalid_state()),
                };
                let inner = String::from_utf8(inner).map_err(|_| invalid_state())?;
                let p = call.params.unwrap_or("{}");
                opened = object::edit(
                    p,
                    &[("requestState", Edit::Set(&object::json_string(&inner)))],
                );
                opened.as_deref().or(call.params)
            }
        };
        let resp = match call.relay(self, params).await {
            Ok(m) => m,
            Err(UpstreamError::Cancelled) => return Ok(Bridged::Cancelled),
            Err(e) => return Err(error::upstream(call.conn.name(), &e)),
        };
        let Some(result) = resp.result().filter(|r| is_input_required(r)) else {
            return Ok(Bridged::Done(resp));
        };
        let Some(inner) = object::get(result, "requestState").and_then(object::string_value) else {
            return Ok(Bridged::InputRequired(result.to_owned()));
        };
        let ttl = self.config().modern.input_ttl;
        let expires =
            now_unix_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let sealed = Sealed::Relay {
            upstream: call.up.id.to_string(),
            inner: inner.as_bytes().to_vec(),
        };
        let keys = self.state.keys.as_ref().ok_or_else(no_keys)?;
        let token = keys
            .seal(&binding, &self.state.replica, expires, &sealed)
            .map_err(|e| {
                RpcError::new(
                    ErrorCode::INTERNAL_ERROR,
                    format!("could not seal requestState: {e}"),
                )
            })?;
        let shaped = object::edit(
            result,
            &[("requestState", Edit::Set(&object::json_string(&token)))],
        )
        .unwrap_or_else(|| result.to_owned());
        Ok(Bridged::InputRequired(shaped))
    }
}
