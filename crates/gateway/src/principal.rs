//! Who is calling.
//!
//! Every request is served for a [`Principal`]: sessions belong to the one that opened them, the
//! sealed `requestState` is bound to it, and (later) policy, rate limits, idempotency and audit
//! key on it. The one function that decides who a caller is, [`Gateway::authenticate`], asks
//! [`crate::auth`].

use std::sync::{Arc, OnceLock};

use switchboard_protocol::RpcError;

use crate::Gateway;

/// A caller's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    id: Arc<str>,
    scopes: Arc<[String]>,
    /// Vouched for by a credential (scopes apply); the anonymous caller is not.
    vouched: bool,
    /// The configured roles (`auth.roles`) it holds, as indices in config order.
    roles: Arc<[u16]>,
    /// The role whose rate limits apply to it instead of `limits.rate` (the most generous of
    /// its roles that set one).
    rate_role: Option<u16>,
}

impl Principal {
    /// The caller nobody vouched for.
    pub fn anonymous() -> Principal {
        static ANONYMOUS: OnceLock<Principal> = OnceLock::new();
        ANONYMOUS
            .get_or_init(|| Principal {
                id: Arc::from("anonymous"),
                scopes: Arc::from(Vec::new()),
                vouched: false,
                roles: Arc::from(Vec::new()),
                rate_role: None,
            })
            .clone()
    }

    /// The holder of the API key named `name`: `key:<name>`.
    pub fn key(name: &str, scopes: &[String]) -> Principal {
        Principal::vouched(format!("key:{name}"), scopes.to_vec())
    }

    /// A caller a credential vouched for (`key:<name>`, `jwt:<iss>#<sub>`), held to `scopes`.
    pub fn vouched(id: String, scopes: Vec<String>) -> Principal {
        Principal {
            id: Arc::from(id),
            scopes: Arc::from(scopes),
            vouched: true,
            roles: Arc::from(Vec::new()),
            rate_role: None,
        }
    }

    /// The same caller, holding the roles at `roles` (indices into `auth.roles`), rate limited
    /// as `rate_role` says.
    pub fn with_roles(mut self, roles: Vec<u16>, rate_role: Option<u16>) -> Principal {
        self.roles = Arc::from(roles);
        self.rate_role = rate_role;
        self
    }

    /// The configured roles it holds (indices into `auth.roles`).
    pub fn roles(&self) -> &[u16] {
        &self.roles
    }

    /// The role whose `rate` replaces `limits.rate` for it.
    pub fn rate_role(&self) -> Option<u16> {
        self.rate_role
    }

    /// Whether it may do what `scope` grants. The anonymous caller (allowed only where the
    /// operator allowed it: loopback or `force`) is not held to scopes.
    pub fn may(&self, scope: &str) -> bool {
        !self.vouched || self.scopes.iter().any(|s| s == scope)
    }

    /// Whether a credential vouched for it (the anonymous caller is not held to scopes).
    pub fn is_vouched(&self) -> bool {
        self.vouched
    }

    /// Whether nobody vouched for it (no credential; allowed by `auth.anonymous`).
    pub fn is_anonymous(&self) -> bool {
        !self.vouched
    }

    /// What it was granted (a key's `scopes`).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The principal's stable name: `anonymous`, `key:<name>`, or `jwt:<iss>#<sub>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name, shared (what the audit record takes without copying it).
    pub fn shared_id(&self) -> &Arc<str> {
        &self.id
    }

    /// Whether `other` is the same caller (whatever scopes each credential carried): what
    /// owning a session means.
    pub fn same_as(&self, other: &Principal) -> bool {
        self.id == other.id
    }
}

/// What a transport saw of a caller's credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header (HTTP), if any.
    pub authorization: Option<&'a str>,
}

impl Gateway {
    /// Decides who a caller is, or refuses it (-31040, HTTP 401). Asynchronous only for a JWT
    /// whose signing keys are not fetched yet; an API key or a cached token never waits.
    pub async fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, RpcError> {
        self.state.auth.authenticate(credentials).await
    }

    /// Replaces the keys of `auth.keys_file` (the file changed): revoked keys stop working at
    /// once, new ones start.
    pub fn replace_file_keys(&self, keys: &[switchboard_config::ApiKey]) {
        self.state.auth.replace_file_keys(keys);
    }

    /// The issuer of accepted JWTs, when `auth.jwt` is configured (RFC 9728 metadata names it).
    pub fn jwt_issuer(&self) -> Option<&str> {
        self.state.auth.jwt_issuer()
    }
}
