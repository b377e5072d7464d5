//! What an HTTP upstream's connections are built with beyond its URL: the egress policy (SSRF
//! strict mode, its opt-ins, proxy, TLS) from the gateway-wide and per-upstream config, and the
//! credentials the gateway sends it as headers. The one place that turns config into
//! [`EgressPolicy`], so `/status`, `check` and connections agree.
//!
//! Credentials are the upstream's own, from its config. Nothing of a client's request (its
//! `Authorization` header, API key or token) reaches an upstream, with two exceptions an
//! upstream's config must ask for: `credentials: { token_exchange }` (the caller's access token
//! is exchanged, RFC 8693, and only the result goes upstream) and `credentials: { passthrough:
//! true }` (the caller's access token goes upstream as it came). The caller's token is kept for
//! a request only when some upstream asks for it ([`crate::Gateway::forwards_caller_tokens`]),
//! and `crate::call::send` is the one place that decides what of it reaches an upstream.

use switchboard_config::{Config, Credentials, ProxySetting, UpstreamConfig};
use switchboard_upstream::egress::{EgressPolicy, Net, Proxy, Tls};

/// The gateway-wide egress policy: `allow_private_upstreams`, the loopback quick-start rule and
/// `outbound.proxy`. For outbound clients that are not an upstream of their own (connectors,
/// JWKS and token endpoints, webhooks): build with `policy.client_builder()` and check each URL
/// with `policy.check_url`.
pub fn gateway_policy(global: &Config) -> EgressPolicy {
    EgressPolicy::strict()
        .allow_private(global.allow_private_upstreams == Some(true))
        .allow_loopback(global.loopback_upstreams_allowed())
        .proxy(proxy(&global.outbound_proxy))
}

fn proxy(setting: &ProxySetting) -> Proxy {
    match setting {
        ProxySetting::Direct => Proxy::Direct,
        ProxySetting::Env => Proxy::Env,
        ProxySetting::Url(u) => Proxy::Url(u.clone()),
    }
}

/// The egress policy of upstream `up` under the gateway-wide `global` config: the gateway's,
/// plus its own `outbound` (allowed networks, proxy, TLS).
pub fn egress_policy(global: &Config, up: &UpstreamConfig) -> EgressPolicy {
    let tls = &up.outbound.tls;
    let mut policy = gateway_policy(global)
        .proxy(proxy(
            up.outbound.proxy.as_ref().unwrap_or(&global.outbound_proxy),
        ))
        .tls(Tls {
            ca: tls.ca.clone(),
            client_cert: tls.client_cert.clone(),
            client_key: tls.client_key.clone(),
            insecure_skip_verify: tls.insecure_skip_verify,
        })
        .timeouts(up.connect_timeout, up.read_timeout);
    for net in &up.outbound.allow {
        // Validated when the config loaded; a prefix too long for its address cannot occur.
        if let Some(net) = Net::new(net.addr, net.prefix) {
            policy = policy.allow_net(net);
        }
    }
    policy
}

/// The upstream's configured headers plus its `credentials` as an `Authorization` header.
pub fn headers_with_credentials(
    headers: &[(String, String)],
    credentials: &Credentials,
) -> Vec<(String, String)> {
    let mut all = headers.to_vec();
    match credentials {
        // Fetched per request by the upstream's token source, or sent per call on the caller's
        // behalf (`crate::call::send`).
        Credentials::None
        | Credentials::ClientCredentials(_)
        | Credentials::TokenExchange(_)
        | Credentials::Passthrough => {}
        Credentials::Bearer(token) => {
            all.push((
                "Authorization".to_owned(),
                format!("Bearer {}", token.expose()),
            ));
        }
        Credentials::Basic { username, password } => {
            let pair = format!("{username}:{}", password.expose());
            all.push((
                "Authorization".to_owned(),
                format!(
                    "Basic {}",
                    switchboard_protocol::base64::encode(pair.as_bytes())
                ),
            ));
        }
    }
    all
}

/// Logged each time an upstream's supervisor starts (gateway start, reload): settings that
/// weaken outbound safety should never be forgotten in a running config.
pub(crate) fn warn_at_start(up: &UpstreamConfig) {
    if up.outbound.tls.insecure_skip_verify {
        tracing::warn!(
            upstream = %up.name,
            "outbound.tls.insecure_skip_verify is on: this upstream's TLS certificate is not verified, so anyone on the path can impersonate it and read its credentials"
        );
    }
}

/// The token source of an upstream with `credentials: { client_credentials }`.
pub fn token_source(
    global: &Config,
    up: &UpstreamConfig,
) -> Option<std::sync::Arc<switchboard_upstream::oauth::TokenSource>> {
    let Credentials::ClientCredentials(cc) = &up.credentials else {
        return None;
    };
    Some(std::sync::Arc::new(
        switchboard_upstream::oauth::TokenSource::new(
            switchboard_upstream::oauth::ClientCredentials {
                token_url: cc.token_url.clone(),
                client_id: cc.client_id.clone(),
                client_secret: cc.client_secret.expose().to_owned(),
                scopes: cc.scopes.clone(),
                audience: cc.audience.clone(),
            },
            egress_policy(global, up),
        ),
    ))
}

/// The token exchanger of an upstream with `credentials: { token_exchange }`.
pub fn exchanger(
    global: &Config,
    up: &UpstreamConfig,
) -> Option<std::sync::Arc<switchboard_upstream::token_exchange::Exchanger>> {
    let Credentials::TokenExchange(tx) = &up.credentials else {
        return None;
    };
    Some(std::sync::Arc::new(
        switchboard_upstream::token_exchange::Exchanger::new(
            switchboard_upstream::token_exchange::TokenExchange {
                token_url: tx.token_url.clone(),
                client: tx
                    .client_id
                    .clone()
                    .map(|id| (id, tx.client_secret.as_ref().map(|s| s.expose().to_owned()))),
                audience: tx.audience.clone(),
                resource: tx.resource.clone(),
                scopes: tx.scopes.clone(),
            },
            egress_policy(global, up),
        ),
    ))
}
