//! The outbound policy: which addresses the gateway may connect to, and how its HTTP clients are
//! built so that every outbound connection obeys it (SSRF strict mode).
//!
//! Every outbound URL — Streamable HTTP and legacy SSE upstreams, the SSE `endpoint` an upstream
//! names, and (through [`EgressPolicy::client_builder`]) connectors, JWKS, token endpoints and
//! webhooks — passes two checks:
//!
//! 1. [`EgressPolicy::check_url`] before anything is sent: the scheme is `http` or `https`, the
//!    host is not a cloud-metadata name (`metadata.google.internal`, …), and a literal IP host is
//!    checked like a resolved one. The URL crate has already normalised odd IPv4 spellings
//!    (`0x7f.1`, `2130706433`, `017700000001`) to dotted quads, and IPv4-mapped IPv6
//!    (`[::ffff:127.0.0.1]`) is classified as the IPv4 address it carries.
//! 2. At connect time, every address a host name resolves to is classified ([`classify`]): the
//!    reqwest clients resolve through [`EgressResolver`], and the lean `http://` pool calls
//!    [`EgressPolicy::resolve`]. If **any** address of a name is refused the name is refused, so a
//!    DNS answer that mixes a public and a private address, or a name re-pointed at private space
//!    after the config was checked (DNS rebinding), gets nowhere.
//!
//! Redirects are never followed ([`reqwest::redirect::Policy::none`]): an MCP endpoint has no
//! business redirecting a POST, and a followed redirect would be a second, unchecked URL.
//!
//! What is refused (see [`Rule`]): loopback, RFC 1918 private, link-local, CGNAT (100.64/10),
//! unique-local (fc00::/7), unspecified, multicast, broadcast, documentation, benchmarking and
//! reserved ranges, and IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4)
//! when the embedded address is refused. Three ways let them through: `allow_private` (the
//! config's `allow_private_upstreams`), `allow_loopback` (loopback only: the quick-start default
//! while the gateway itself listens on loopback), and per-upstream CIDRs ([`EgressPolicy::allow_net`]).
//! Cloud-metadata addresses and names ([`Rule::Metadata`]) are refused whatever is allowed.
//!
//! Proxies are used only when configured ([`Proxy`]): the `HTTPS_PROXY` family of variables is
//! read only with [`Proxy::Env`], so an air-gapped gateway never dials anything it was not told
//! to. A configured proxy's own host is exempt from the address rules (the operator named it);
//! through a proxy the target's literal host and name are still checked, but its addresses are
//! resolved by the proxy, not here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused. `Metadata` can never be allowed; every other rule can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A cloud provider's instance-metadata service (credentials live there).
    Metadata,
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and deprecated IPv6 site-local.
    Private,
    LinkLocal,
    /// 100.64.0.0/10, carrier-grade NAT space.
    SharedAddress,
    /// fc00::/7.
    UniqueLocal,
    Unspecified,
    Multicast,
    Broadcast,
    Documentation,
    Benchmarking,
    /// Reserved or special-purpose space (240/4, 192.0.0/24, Teredo, discard-only, …).
    Reserved,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Metadata => "cloud-metadata",
            Rule::Loopback => "loopback",
            Rule::Private => "private",
            Rule::LinkLocal => "link-local",
            Rule::SharedAddress => "shared (CGNAT)",
            Rule::UniqueLocal => "unique-local",
            Rule::Unspecified => "unspecified",
            Rule::Multicast => "multicast",
            Rule::Broadcast => "broadcast",
            Rule::Documentation => "documentation",
            Rule::Benchmarking => "benchmarking",
            Rule::Reserved => "reserved",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cloud-metadata addresses: AWS/GCP/Azure/Oracle IMDS, AWS ECS task and EKS pod-identity
/// endpoints, AWS IMDS over IPv6, Alibaba Cloud, and Azure's platform "wireserver".
const METADATA_ADDRS: [IpAddr; 8] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
];

/// Host names of metadata services (compared without case and without a trailing dot).
const METADATA_NAMES: [&str; 6] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
];

/// The rule that refuses `ip` by default, or `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<Rule> {
    if METADATA_ADDRS.contains(&ip) {
        return Some(Rule::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Rule> {
    if METADATA_ADDRS.contains(&IpAddr::V4(ip)) {
        return Some(Rule::Metadata);
    }
    let [a, b, c, _] = ip.octets();
    let rule = match (a, b, c) {
        _ if ip.is_broadcast() => Rule::Broadcast,
        (0, _, _) => Rule::Unspecified,
        (127, _, _) => Rule::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => Rule::Private,
        (169, 254, _) => Rule::LinkLocal,
        (100, 64..=127, _) => Rule::SharedAddress,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Rule::Documentation,
        (198, 18..=19, _) => Rule::Benchmarking,
        (192, 0, 0) | (192, 88, 99) => Rule::Reserved,
        (224..=239, _, _) => Rule::Multicast,
        (240..=255, _, _) => Rule::Reserved,
        _ => return None,
    };
    Some(rule)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Rule> {
    if METADATA_ADDRS.contains(&IpAddr::V6(ip)) {
        return Some(Rule::Metadata);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        return Some(Rule::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Rule::Loopback);
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated) carry an IPv4 address.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return classify_v4(embedded(s[6], s[7])).or(Some(Rule::Reserved).filter(|_| s[5] == 0));
    }
    // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48): a translator would reach the
    // embedded IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return classify_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some(Rule::Reserved);
    }
    // 6to4 (2002::/16) embeds the IPv4 address of its relay's far side.
    if s[0] == 0x2002 {
        return classify_v4(embedded(s[1], s[2]));
    }
    let rule = match s[0] {
        x if x & 0xfe00 == 0xfc00 => Rule::UniqueLocal,
        x if x & 0xffc0 == 0xfe80 => Rule::LinkLocal,
        x if x & 0xffc0 == 0xfec0 => Rule::Private,
        x if x & 0xff00 == 0xff00 => Rule::Multicast,
        0x2001 if s[1] == 0x0db8 => Rule::Documentation,
        0x3fff if s[1] & 0xf000 == 0 => Rule::Documentation,
        // Teredo hides an IPv4 address (obfuscated) behind a relay.
        0x2001 if s[1] == 0 => Rule::Reserved,
        0x2001 if s[1] == 0x0002 && s[2] == 0 => Rule::Benchmarking,
        0x0100 if s[1..4] == [0; 3] => Rule::Reserved,
        _ => return None,
    };
    Some(rule)
}

/// Whether `host` (a URL host, without brackets) names a metadata service.
pub fn is_metadata_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    METADATA_NAMES.iter().any(|m| m.eq_ignore_ascii_case(host))
}

/// One allowed network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// `None` when `prefix` is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Net> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Net { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which proxy outbound requests go through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// None: connect directly, whatever the environment says (the default).
    #[default]
    Direct,
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY`, read when the client is built.
    Env,
    /// This proxy URL.
    Url(String),
}

/// Outbound TLS for one upstream (https only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM file of CA certificates trusted in addition to the built-in roots.
    pub ca: Option<PathBuf>,
    /// PEM files of a client certificate (chain) and its private key, for mTLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. For tests against self-signed servers only; warned about
    /// at every start by whoever builds the policy.
    pub insecure_skip_verify: bool,
}

/// An outbound URL or address the policy refuses, or a client it cannot build. The message
/// names the host, the address and the rule, and how to allow it when it can be allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("outbound URL `{0}` is refused: only http and https are allowed")]
    Scheme(String),
    #[error("outbound URL `{0}` has no host")]
    NoHost(String),
    #[error("outbound URL is not a valid URL: {0}")]
    BadUrl(String),
    #[error("outbound host `{0}` is a cloud-metadata name: refused always")]
    MetadataName(String),
    #[error(
        "outbound host `{host}` is {addr}, a {rule} address: refused by SSRF strict mode{}",
        hint(*rule)
    )]
    Address {
        host: String,
        addr: IpAddr,
        rule: Rule,
    },
    #[error("outbound host `{host}` did not resolve: {why}")]
    Resolve { host: String, why: String },
    #[error("outbound client: {0}")]
    Client(String),
}

fn hint(rule: Rule) -> &'static str {
    match rule {
        Rule::Metadata => " (cloud-metadata addresses are refused always)",
        _ => {
            " (allow it with `allow_private_upstreams: true` or the upstream's `outbound: { allow: [CIDR] }`)"
        }
    }
}

/// A name lookup: the system resolver, or a fixed table in tests.
type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The outbound rules and settings of one upstream (or connector, or identity provider).
/// Cheap to clone.
#[derive(Clone)]
pub struct EgressPolicy {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    allow_private: bool,
    allow_loopback: bool,
    allow: Vec<Net>,
    proxy: Proxy,
    tls: Tls,
    /// The configured proxy's host, exempt from the address rules.
    proxy_host: Option<String>,
    lookup: Option<Lookup>,
    /// Giving up on opening a connection (TCP, and TLS for reqwest) after this long.
    connect_timeout: Duration,
    /// Giving up on an answer when nothing of it arrives for this long (`None`: no limit but
    /// the caller's own timeout).
    read_timeout: Option<Duration>,
}

/// How long a connection may take to open unless configured (`connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("EgressPolicy")
            .field("allow_private", &i.allow_private)
            .field("allow_loopback", &i.allow_loopback)
            .field("allow", &i.allow)
            .field("proxy", &i.proxy)
            .field("tls", &i.tls)
            .field("connect_timeout", &i.connect_timeout)
            .field("read_timeout", &i.read_timeout)
            .finish()
    }
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy::strict()
    }
}

impl EgressPolicy {
    /// Everything but public addresses refused; direct connections; built-in TLS roots.
    pub fn strict() -> EgressPolicy {
        EgressPolicy {
            inner: Arc::new(Inner {
                allow_private: false,
                allow_loopback: false,
                allow: Vec::new(),
                proxy: Proxy::Direct,
                tls: Tls::default(),
                proxy_host: None,
                lookup: None,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                read_timeout: None,
            }),
        }
    }

    /// Gives up on opening a connection after `connect`, and on an answer when nothing of it
    /// arrives for `read` (`None`: no limit).
    pub fn timeouts(self, connect: Duration, read: Option<Duration>) -> EgressPolicy {
        self.edit(|i| {
            i.connect_timeout = connect;
            i.read_timeout = read;
        })
    }

    pub fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    pub fn read_timeout(&self) -> Option<Duration> {
        self.inner.read_timeout
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> EgressPolicy {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Every rule but [`Rule::Metadata`] lifted (`allow_private_upstreams: true`).
    pub fn allow_private(self, yes: bool) -> EgressPolicy {
        self.edit(|i| i.allow_private = yes)
    }

    /// [`Rule::Loopback`] lifted (the quick-start default on a loopback listener).
    pub fn allow_loopback(self, yes: bool) -> EgressPolicy {
        self.edit(|i| i.allow_loopback = yes)
    }

    /// Addresses inside `net` allowed (metadata addresses still refused).
    pub fn allow_net(self, net: Net) -> EgressPolicy {
        self.edit(|i| i.allow.push(net))
    }

    pub fn proxy(self, proxy: Proxy) -> EgressPolicy {
        self.edit(|i| i.proxy = proxy)
    }

    pub fn tls(self, tls: Tls) -> EgressPolicy {
        self.edit(|i| i.tls = tls)
    }

    /// Resolves names with `lookup` instead of the system resolver (tests: a name that points at
    /// loopback without touching `/etc/hosts`).
    pub fn with_lookup(
        self,
        lookup: impl Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    ) -> EgressPolicy {
        let lookup = Arc::new(lookup);
        self.edit(|i| {
            i.lookup = Some(Arc::new(move |name: String| {
                let r = lookup(&name);
                Box::pin(async move { r })
            }))
        })
    }

    pub fn tls_settings(&self) -> &Tls {
        &self.inner.tls
    }

    pub fn proxy_setting(&self) -> &Proxy {
        &self.inner.proxy
    }

    /// Checks one address `host` resolved to (or is).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), EgressError> {
        let Some(rule) = classify(ip) else {
            return Ok(());
        };
        let i = &self.inner;
        let allowed = rule != Rule::Metadata
            && (i.allow_private
                || (rule == Rule::Loopback && i.allow_loopback)
                || i.allow.iter().any(|n| n.contains(ip)));
        if allowed {
            return Ok(());
        }
        Err(EgressError::Address {
            host: host.to_owned(),
            addr: ip,
            rule,
        })
    }

    /// The checks that need no DNS: scheme, metadata names, literal IP hosts.
    pub fn check_url(&self, url: &Url) -> Result<(), EgressError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::Scheme(display_url(url)));
        }
        // The URL parser has normalised IPv4 hosts to dotted quads and brackets IPv6 ones.
        match url.host_str() {
            None | Some("") => Err(EgressError::NoHost(display_url(url))),
            Some(host) => match host.trim_start_matches('[').trim_end_matches(']').parse() {
                Ok(ip) => self.check_ip(host, ip),
                Err(_) => self.check_name(host),
            },
        }
    }

    /// [`check_url`](Self::check_url) of URL text.
    pub fn check_url_str(&self, url: &str) -> Result<(), EgressError> {
        let parsed = Url::parse(url).map_err(|e| EgressError::BadUrl(e.to_string()))?;
        self.check_url(&parsed)
    }

    fn check_name(&self, name: &str) -> Result<(), EgressError> {
        if is_metadata_name(name) {
            return Err(EgressError::MetadataName(name.to_owned()));
        }
        // A bracketless IP text (from the pool's host string) is a literal, not a name.
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.check_ip(name, ip);
        }
        Ok(())
    }

    /// Resolves `host` and checks every address: all of them, or an error naming the first one
    /// refused. A literal IP is checked without a lookup.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.check_name(host)?;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let resolve_err = |e: std::io::Error| EgressError::Resolve {
            host: host.to_owned(),
            why: e.to_string(),
        };
        let ips: Vec<IpAddr> = match &self.inner.lookup {
            Some(lookup) => lookup(host.to_owned()).await.map_err(resolve_err)?,
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(resolve_err)?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(EgressError::Resolve {
                host: host.to_owned(),
                why: "no addresses".to_owned(),
            });
        }
        let exempt = self
            .inner
            .proxy_host
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(host));
        if !exempt {
            for ip in &ips {
                self.check_ip(host, *ip)?;
            }
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// A reqwest client builder that obeys this policy: names resolve through
    /// [`EgressResolver`], no redirect is followed, the proxy is only the configured one, and
    /// the TLS settings are applied. Callers add their own timeouts and headers, and must still
    /// call [`check_url`](Self::check_url) on each URL they request (reqwest does not resolve a
    /// literal IP, so only that check sees it).
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, EgressError> {
        crate::http::ensure_crypto_provider();
        let mut policy = self.clone();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.inner.connect_timeout);
        let proxy = match &self.inner.proxy {
            Proxy::Direct => None,
            Proxy::Url(u) => Some((u.clone(), None)),
            Proxy::Env => env_proxy(),
        };
        builder = match proxy {
            None => builder.no_proxy(),
            Some((url, no_proxy)) => {
                let parsed = Url::parse(&url)
                    .map_err(|e| EgressError::Client(format!("bad proxy URL: {e}")))?;
                let host = parsed
                    .host_str()
                    .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned());
                policy = policy.edit(|i| i.proxy_host = host);
                let p = reqwest::Proxy::all(parsed)
                    .map_err(|e| EgressError::Client(format!("bad proxy: {e}")))?
                    .no_proxy(no_proxy.and_then(|n| reqwest::NoProxy::from_string(&n)));
                builder.no_proxy().proxy(p)
            }
        };
        let tls = &self.inner.tls;
        if let Some(ca) = &tls.ca {
            let pem = read(ca, "tls.ca")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| EgressError::Client(format!("tls.ca {}: {e}", ca.display())))?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        match (&tls.client_cert, &tls.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert, "tls.client_cert")?;
                pem.push(b'\n');
                pem.extend(read(key, "tls.client_key")?);
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| EgressError::Client(format!("tls.client_cert/client_key: {e}")))?;
                builder = builder.identity(id);
            }
            (None, None) => {}
            _ => {
                return Err(EgressError::Client(
                    "tls.client_cert and tls.client_key go together".to_owned(),
                ));
            }
        }
        if tls.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(builder.dns_resolver(EgressResolver { policy }))
    }
}

/// The URL without credentials, query or fragment: what messages, logs and `/status` show of
/// an outbound URL (either part may carry a secret).
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// [`display_url`] of URL text, which stays as written when there is nothing to hide; text
/// that does not parse shows as `<unparsable URL>`.
pub fn display_url_str(url: &str) -> String {
    match Url::parse(url) {
        Ok(u)
            if u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            url.to_owned()
        }
        Ok(u) => display_url(&u),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, EgressError> {
    std::fs::read(path)
        .map_err(|e| EgressError::Client(format!("cannot read {what} {}: {e}", path.display())))
}

/// The proxy the environment names, and its `NO_PROXY` list.
fn env_proxy() -> Option<(String, Option<String>)> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
    };
    let url = var(&[
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ])?;
    Some((url, var(&["NO_PROXY", "no_proxy"])))
}

/// The DNS resolver every policy-built reqwest client uses: resolves, then refuses the name if
/// any of its addresses is refused.
pub struct EgressResolver {
    policy: EgressPolicy,
}

impl Resolve for EgressResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn url_rule(u: &str) -> Result<(), EgressError> {
        EgressPolicy::strict().check_url(&Url::parse(u).unwrap())
    }

    #[test]
    fn classifies_the_named_ranges() {
        let cases = [
            ("169.254.169.254", Some(Rule::Metadata)),
            ("169.254.170.2", Some(Rule::Metadata)),
            ("100.100.100.200", Some(Rule::Metadata)),
            ("fd00:ec2::254", Some(Rule::Metadata)),
            ("::ffff:169.254.169.254", Some(Rule::Metadata)),
            ("127.0.0.1", Some(Rule::Loopback)),
            ("127.255.0.9", Some(Rule::Loopback)),
            ("::1", Some(Rule::Loopback)),
            ("::ffff:127.0.0.1", Some(Rule::Loopback)),
            ("10.1.2.3", Some(Rule::Private)),
            ("172.16.0.1", Some(Rule::Private)),
            ("172.31.255.255", Some(Rule::Private)),
            ("192.168.1.1", Some(Rule::Private)),
            ("169.254.1.1", Some(Rule::LinkLocal)),
            ("fe80::1", Some(Rule::LinkLocal)),
            ("100.64.0.1", Some(Rule::SharedAddress)),
            ("100.127.255.255", Some(Rule::SharedAddress)),
            ("fc00::1", Some(Rule::UniqueLocal)),
            ("fd12:3456::1", Some(Rule::UniqueLocal)),
            ("0.0.0.0", Some(Rule::Unspecified)),
            ("::", Some(Rule::Unspecified)),
            ("224.0.0.1", Some(Rule::Multicast)),
            ("ff02::1", Some(Rule::Multicast)),
            ("255.255.255.255", Some(Rule::Broadcast)),
            ("192.0.2.1", Some(Rule::Documentation)),
            ("2001:db8::1", Some(Rule::Documentation)),
            ("198.18.0.1", Some(Rule::Benchmarking)),
            ("240.0.0.1", Some(Rule::Reserved)),
            ("64:ff9b::a9fe:a9fe", Some(Rule::Metadata)),
            ("64:ff9b::7f00:1", Some(Rule::Loopback)),
            ("2002:7f00:1::", Some(Rule::Loopback)),
            ("2001::1", Some(Rule::Reserved)),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
            ("64:ff9b::808:808", None),
        ];
        for (addr, want) in cases {
            assert_eq!(classify(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn odd_ipv4_spellings_are_normalised_by_the_url_parser_then_refused() {
        for u in [
            "http://0x7f.1/mcp",
            "http://2130706433/mcp",
            "http://017700000001/mcp",
            "http://127.1/mcp",
            "http://[::ffff:127.0.0.1]/mcp",
            "http://[::ffff:7f00:1]/mcp",
        ] {
            let err = url_rule(u).unwrap_err();
            assert!(
                matches!(
                    err,
                    EgressError::Address {
                        rule: Rule::Loopback,
                        ..
                    }
                ),
                "{u}: {err}"
            );
        }
        assert!(matches!(
            url_rule("http://0xa9.0xfe.0xa9.0xfe/").unwrap_err(),
            EgressError::Address {
                rule: Rule::Metadata,
                ..
            }
        ));
    }

    #[test]
    fn schemes_and_metadata_names() {
        assert!(matches!(
            url_rule("file:///etc/passwd"),
            Err(EgressError::Scheme(_))
        ));
        assert!(matches!(
            url_rule("gopher://x/"),
            Err(EgressError::Scheme(_))
        ));
        for u in [
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "http://metadata/",
        ] {
            let open = EgressPolicy::strict().allow_private(true);
            assert!(
                matches!(
                    open.check_url(&Url::parse(u).unwrap()),
                    Err(EgressError::MetadataName(_))
                ),
                "{u}"
            );
        }
        assert_eq!(url_rule("https://mcp.example.com/mcp"), Ok(()));
        assert_eq!(url_rule("http://8.8.8.8/"), Ok(()));
    }

    #[test]
    fn opt_ins_lift_what_they_name_and_never_metadata() {
        let private = EgressPolicy::strict().allow_private(true);
        assert_eq!(private.check_ip("h", ip("10.0.0.1")), Ok(()));
        assert_eq!(private.check_ip("h", ip("127.0.0.1")), Ok(()));
        assert!(private.check_ip("h", ip("169.254.169.254")).is_err());
        assert!(private.check_ip("h", ip("fd00:ec2::254")).is_err());
        assert!(private.check_ip("h", ip("100.100.100.200")).is_err());

        let loopback = EgressPolicy::strict().allow_loopback(true);
        assert_eq!(loopback.check_ip("h", ip("127.0.0.1")), Ok(()));
        assert_eq!(loopback.check_ip("h", ip("::ffff:127.0.0.1")), Ok(()));
        assert!(loopback.check_ip("h", ip("10.0.0.1")).is_err());

        let net = EgressPolicy::strict()
            .allow_net(Net::new(ip("10.1.0.0"), 16).unwrap())
            .allow_net(Net::new(ip("169.254.0.0"), 16).unwrap());
        assert_eq!(net.check_ip("h", ip("10.1.200.3")), Ok(()));
        assert!(net.check_ip("h", ip("10.2.0.1")).is_err());
        assert_eq!(net.check_ip("h", ip("::ffff:10.1.0.7")), Ok(()));
        assert!(net.check_ip("h", ip("169.254.169.254")).is_err());
    }

    #[test]
    fn refusals_name_host_address_and_rule() {
        let err = EgressPolicy::strict()
            .check_ip("api.internal", ip("10.0.0.5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.internal"), "{err}");
        assert!(err.contains("10.0.0.5"), "{err}");
        assert!(err.contains("private"), "{err}");
        assert!(err.contains("allow_private_upstreams"), "{err}");
        let err = EgressPolicy::strict()
            .allow_private(true)
            .check_ip("h", ip("169.254.169.254"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cloud-metadata"), "{err}");
        assert!(!err.contains("allow_private_upstreams"), "{err}");
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is() {
        let policy = EgressPolicy::strict().with_lookup(|name| match name {
            "mixed.test" => Ok(vec![
                "8.8.8.8".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
            ]),
            "public.test" => Ok(vec!["8.8.8.8".parse().unwrap()]),
            _ => Err(std::io::Error::other("no such name")),
        });
        assert!(matches!(
            policy.resolve("mixed.test", 80).await,
            Err(EgressError::Address {
                rule: Rule::Private,
                ..
            })
        ));
        assert_eq!(
            policy.resolve("public.test", 80).await.unwrap(),
            vec!["8.8.8.8:80".parse().unwrap()]
        );
        assert!(matches!(
            policy.resolve("nowhere.test", 80).await,
            Err(EgressError::Resolve { .. })
        ));
        assert!(policy.resolve("[::ffff:10.0.0.1]", 80).await.is_err());
    }

    fn v4() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    proptest! {
        #[test]
        fn mapped_and_nat64_forms_classify_as_their_ipv4(a in v4()) {
            let direct = classify(IpAddr::V4(a));
            prop_assert_eq!(classify(IpAddr::V6(a.to_ipv6_mapped())), direct);
            let [w, x, y, z] = a.octets();
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([w, x]), u16::from_be_bytes([y, z]));
            prop_assert_eq!(classify(IpAddr::V6(nat64)), direct);
        }

        #[test]
        fn every_address_in_a_refused_range_is_refused(low in any::<u32>()) {
            for (base, bits, rule) in [
                (Ipv4Addr::new(10, 0, 0, 0), 8, Rule::Private),
                (Ipv4Addr::new(127, 0, 0, 0), 8, Rule::Loopback),
                (Ipv4Addr::new(192, 168, 0, 0), 16, Rule::Private),
                (Ipv4Addr::new(100, 64, 0, 0), 10, Rule::SharedAddress),
            ] {
                let a = Ipv4Addr::from(u32::from(base) | (low >> bits));
                let got = classify(IpAddr::V4(a));
                prop_assert!(got == Some(rule) || got == Some(Rule::Metadata), "{} {:?}", a, got);
                prop_assert!(EgressPolicy::strict().check_ip("h", IpAddr::V4(a)).is_err());
            }
        }

        #[test]
        fn ipv4_url_spellings_agree_with_dotted_quads(a in v4()) {
            let dotted = Url::parse(&format!("http://{a}/")).unwrap();
            let decimal = Url::parse(&format!("http://{}/", u32::from(a))).unwrap();
            let hex = Url::parse(&format!("http://0x{:x}/", u32::from(a))).unwrap();
            let p = EgressPolicy::strict();
            prop_assert_eq!(p.check_url(&dotted).is_ok(), p.check_url(&decimal).is_ok());
            prop_assert_eq!(p.check_url(&dotted).is_ok(), p.check_url(&hex).is_ok());
            prop_assert_eq!(p.check_url(&dotted).is_ok(), classify(IpAddr::V4(a)).is_none());
        }
    }
}
