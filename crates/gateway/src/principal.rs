//! Who is calling.
//!
//! Every request is served for a [`Principal`]: sessions belong to the one that opened them, the
//! sealed `requestState` is bound to it, and (later) policy, rate limits, idempotency and audit
//! key on it. Until authentication exists every caller is [`Principal::anonymous`]; the one
//! function that decides who a caller is, [`Gateway::authenticate`], is where it will be built.

use std::sync::{Arc, OnceLock};

use switchboard_protocol::RpcError;

use crate::Gateway;

/// A caller's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    id: Arc<str>,
}

impl Principal {
    /// The caller nobody vouched for.
    pub fn anonymous() -> Principal {
        static ANONYMOUS: OnceLock<Arc<str>> = OnceLock::new();
        Principal {
            id: ANONYMOUS.get_or_init(|| Arc::from("anonymous")).clone(),
        }
    }

    /// The principal's stable name (`anonymous`, a key's name, a token's subject).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name, shared (what the audit record takes without copying it).
    pub fn shared_id(&self) -> &Arc<str> {
        &self.id
    }
}

/// What a transport saw of a caller's credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header (HTTP), if any.
    pub authorization: Option<&'a str>,
}

impl Gateway {
    /// Decides who a caller is. Until authentication is configured (issue 12), everyone is
    /// anonymous and nothing is refused.
    pub fn authenticate(&self, _credentials: Credentials<'_>) -> Result<Principal, RpcError> {
        Ok(Principal::anonymous())
    }
}
