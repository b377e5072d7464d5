//! Turns the located [`Document`] into the validated [`Config`].
//!
//! Every scalar goes the same way: expand `${VAR}` (see `expand`), then parse it as the type its
//! key wants (count, duration, boolean, one of a few words, URL, …), then check it against the
//! rules in `validate`. Any failure becomes a [`ConfigError`] at the scalar's own line and
//! column, which serde-saphyr recorded in its `Spanned` wrapper. Relative `cwd` paths resolve
//! against the config file's directory here, so nothing downstream depends on where the
//! gateway was started.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Location;

use crate::document::{
    AuditDoc, AuditFileDoc, CheckpointDoc, Document, HttpDoc, ModernDoc, RemoteDoc, RootDoc,
    Scalar, SessionsDoc, StdioDoc, UpstreamDoc, WebhookDoc,
};
use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::expand::expand;
use crate::federation::UPSTREAMS_ENV;
use crate::listen::check_listen;
use crate::model::{
    AuditConfig, AuditFileConfig, CacheScope, CheckpointConfig, Config,
    DEFAULT_AUDIT_CHECKPOINT_EVERY, DEFAULT_AUDIT_FSYNC, DEFAULT_AUDIT_PATH, DEFAULT_AUDIT_QUEUE,
    DEFAULT_AUDIT_ROTATE_BYTES, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_EVENT_BUFFER, DEFAULT_GATHER,
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TTL, DEFAULT_INPUT_TTL, DEFAULT_KEEPALIVE,
    DEFAULT_LIST_TTL, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HELD,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_ROUNDS, DEFAULT_MAX_SESSIONS,
    DEFAULT_NAMESPACE_SEPARATOR, DEFAULT_PROBE_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT,
    DEFAULT_WEBHOOK_BATCH, DEFAULT_WEBHOOK_DEAD_LETTER, DEFAULT_WEBHOOK_FLUSH,
    DEFAULT_WEBHOOK_QUEUE, DEFAULT_WEBHOOK_RETRIES, DEFAULT_WEBHOOK_TIMEOUT, Era, Fsync,
    HttpConfig, ModernConfig, OnFull, Root, SessionMode, SessionsConfig, StateKey, Transport,
    UpstreamConfig, WebhookConfig,
};
use crate::size::parse_size;
use crate::validate;

/// Where an upstream was declared in the file, for errors that involve two upstreams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpstreamSite {
    /// The upstream's key under `upstreams:`.
    pub name: Location,
    /// Its `prefix:` value, when written.
    pub prefix: Option<Location>,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Checks a built-in connector's settings: `(kind, settings)` → why they are refused.
pub type BuiltinCheck<'a> = &'a dyn Fn(&str, &serde_json::Value) -> Result<(), String>;

/// The transport keys an upstream may have, for error messages.
const TRANSPORTS: &str =
    "`stdio`, `http`, `sse`, `prometheus`, `loki`, `kubernetes` or `management`";

/// The context every scalar is resolved in.
pub(crate) struct Resolver<'a> {
    /// File name for error messages.
    pub file: &'a str,
    pub env: Env<'a>,
    /// Directory relative `cwd`s resolve against; itself relative to the current directory
    /// when not absolute (empty for text that did not come from a file).
    pub base_dir: &'a Path,
    /// Checks each built-in connector's settings.
    pub builtins: BuiltinCheck<'a>,
    /// Expand `${VAR}` (a file); text from a client (`PUT /api/products`) is taken as is.
    pub expand: bool,
}

impl Resolver<'_> {
    /// Resolves the whole document; the sites run parallel to `config.upstreams`.
    pub fn config(&self, doc: Document) -> Result<(Config, Vec<UpstreamSite>), ConfigError> {
        let listen = match &doc.listen {
            Some(s) => self.checked(s, check_listen)?,
            None => DEFAULT_LISTEN.to_owned(),
        };
        let namespace_separator = match &doc.namespace_separator {
            Some(s) => self.checked(s, validate::check_namespace_separator)?,
            None => DEFAULT_NAMESPACE_SEPARATOR.to_owned(),
        };
        let http = match doc.http {
            Some(http) => self.http(http)?,
            None => HttpConfig::default(),
        };
        let allow_private_upstreams = self.allow_private(doc.allow_private_upstreams.as_ref())?;
        let outbound_proxy = self.global_outbound(doc.outbound)?.unwrap_or_default();
        let sessions = match doc.sessions {
            Some(sessions) => self.sessions(sessions)?,
            None => SessionsConfig::default(),
        };
        let roots = doc
            .roots
            .into_iter()
            .map(|root| self.root(root))
            .collect::<Result<_, _>>()?;

        let mut upstreams = Vec::new();
        let mut sites = Vec::new();
        let mut visibility: Vec<String> = Vec::new();
        for (key, upstream) in doc.upstreams.unwrap_or_default().0 {
            let (upstream, site) = self.upstream(&key, upstream)?;
            for s in upstream
                .scopes
                .iter()
                .chain(upstream.tool_scopes.iter().flat_map(|(_, s)| s))
            {
                if !visibility.contains(s) {
                    visibility.push(s.clone());
                }
            }
            if visibility.len() > crate::policy::MAX_VISIBILITY_SCOPES {
                return Err(self.error(
                    &key,
                    format!(
                        "upstreams name more than {} distinct `scopes` and `tool_scopes` together",
                        crate::policy::MAX_VISIBILITY_SCOPES
                    ),
                ));
            }
            upstreams.push(upstream);
            sites.push(site);
        }
        let products = doc
            .products
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|(key, product)| self.product(&key, product))
            .collect::<Result<_, _>>()?;
        let mode = match &doc.mode {
            Some(s) => self.tool_mode(s)?,
            None => crate::model::ToolMode::default(),
        };
        let modern = match doc.modern {
            Some(modern) => self.modern(modern)?,
            None => ModernConfig::default(),
        };
        let limits = match doc.limits {
            Some(limits) => self.limits(limits)?,
            None => crate::model::LimitsConfig::default(),
        };
        let metrics_enabled = match doc.metrics.as_ref().and_then(|m| m.enabled.as_ref()) {
            Some(s) => self.boolean("enabled", s)?,
            None => true,
        };
        let auth = match doc.auth {
            Some(a) => self.auth(a, http.public_url.as_deref())?,
            None => crate::model::AuthConfig::default(),
        };
        // A caller's view key holds a bit per visibility scope and per role with item globs.
        let glob_roles = auth.roles.iter().filter(|r| r.has_globs()).count();
        if visibility.len() + glob_roles > crate::policy::MAX_VISIBILITY_SCOPES {
            return Err(ConfigError::whole(
                self.file,
                format!(
                    "upstreams' distinct `scopes` and `tool_scopes` ({}) and roles with `allow`/`deny` ({glob_roles}) are more than {} together",
                    visibility.len(),
                    crate::policy::MAX_VISIBILITY_SCOPES
                ),
            ));
        }
        let idempotency = match doc.idempotency {
            Some(i) => self.idempotency(i)?,
            None => crate::model::IdempotencyConfig::default(),
        };
        let audit = doc.audit.map(|audit| self.audit(audit)).transpose()?;
        let telemetry = self.telemetry(doc.telemetry)?;

        let plugins = self.plugins(doc.plugins)?;
        let state_dir = doc
            .state_dir
            .as_ref()
            .map(|s| self.absolute("state_dir", s))
            .transpose()?;

        let config = Config {
            listen,
            namespace_separator,
            http,
            allow_private_upstreams,
            outbound_proxy,
            sessions,
            roots,
            upstreams,
            products,
            mode,
            modern,
            limits,
            idempotency,
            auth,
            metrics_enabled,
            audit,
            plugins,
            telemetry,
            state_dir,
        };
        Ok((config, sites))
    }

    fn http(&self, doc: HttpDoc) -> Result<HttpConfig, ConfigError> {
        Ok(HttpConfig {
            allowed_hosts: self.plain_list("allowed_hosts entry", &doc.allowed_hosts)?,
            allowed_origins: self.plain_list("allowed_origins entry", &doc.allowed_origins)?,
            max_body_bytes: self.count_or(
                "max_body_bytes",
                &doc.max_body_bytes,
                DEFAULT_MAX_BODY_BYTES,
            )?,
            max_header_bytes: match &doc.max_header_bytes {
                Some(s) => {
                    let n = self.count("max_header_bytes", s)?;
                    if n < 8192 {
                        return Err(self.error(s, "`max_header_bytes` must be at least 8192"));
                    }
                    n
                }
                None => crate::model::DEFAULT_MAX_HEADER_BYTES,
            },
            header_read_timeout: self.duration_or(
                "header_read_timeout",
                &doc.header_read_timeout,
                DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            body_read_timeout: self.duration_or(
                "body_read_timeout",
                &doc.body_read_timeout,
                DEFAULT_BODY_READ_TIMEOUT,
            )?,
            public_url: match &doc.public_url {
                Some(s) => Some(
                    self.checked(s, validate::check_public_url)?
                        .trim_end_matches('/')
                        .to_owned(),
                ),
                None => None,
            },
            websocket: self.websocket(doc.websocket)?,
            legacy_rest: self.legacy_rest(doc.legacy_rest)?,
        })
    }

    fn sessions(&self, doc: SessionsDoc) -> Result<SessionsConfig, ConfigError> {
        Ok(SessionsConfig {
            idle_ttl: self.duration_or("idle_ttl", &doc.idle_ttl, DEFAULT_IDLE_TTL)?,
            max_sessions: self.count_or("max_sessions", &doc.max_sessions, DEFAULT_MAX_SESSIONS)?,
            max_per_principal: self.count_or(
                "max_per_principal",
                &doc.max_per_principal,
                crate::model::DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
            )?,
            event_buffer: self.count_or("event_buffer", &doc.event_buffer, DEFAULT_EVENT_BUFFER)?,
            keepalive: self.duration_or("keepalive", &doc.keepalive, DEFAULT_KEEPALIVE)?,
        })
    }

    fn modern(&self, doc: ModernDoc) -> Result<ModernConfig, ConfigError> {
        let mut state_keys: Vec<StateKey> = Vec::new();
        for (index, scalar) in doc.state_keys.iter().enumerate() {
            let what = format!("`modern.state_keys[{index}]`");
            let text = self.text(scalar)?;
            let key = validate::parse_state_key(&what, &text).map_err(|m| self.error(scalar, m))?;
            let key = StateKey::new(key);
            if let Some(first) = state_keys.iter().position(|k| *k == key) {
                let at = doc.state_keys[first].referenced;
                return Err(self.error(
                    scalar,
                    format!(
                        "{what} is the same key as `modern.state_keys[{first}]` (at {}:{}); list each key once",
                        at.line(),
                        at.column()
                    ),
                ));
            }
            state_keys.push(key);
        }
        // The round travels sealed as a u32, so that is the bound.
        let max_rounds = match &doc.max_rounds {
            Some(scalar) => {
                let rounds = self.count("max_rounds", scalar)?;
                u32::try_from(rounds).map_err(|_| {
                    self.error(scalar, format!("`max_rounds` is too large: `{rounds}`"))
                })?
            }
            None => DEFAULT_MAX_ROUNDS,
        };
        let list_scope = match &doc.list_scope {
            Some(s) => self.word(
                "list_scope",
                s,
                &[
                    ("public", CacheScope::Public),
                    ("private", CacheScope::Private),
                ],
            )?,
            None => CacheScope::default(),
        };
        Ok(ModernConfig {
            state_keys,
            replica_id: doc
                .replica_id
                .as_ref()
                .map(|s| self.checked(s, validate::check_replica_id))
                .transpose()?,
            input_ttl: self.duration_or("input_ttl", &doc.input_ttl, DEFAULT_INPUT_TTL)?,
            max_rounds,
            max_held: self.count_or("max_held", &doc.max_held, DEFAULT_MAX_HELD)?,
            gather: self.duration_or("gather", &doc.gather, DEFAULT_GATHER)?,
            list_ttl: self.duration_or_zero("list_ttl", &doc.list_ttl, DEFAULT_LIST_TTL)?,
            list_scope,
        })
    }

    fn audit(&self, doc: AuditDoc) -> Result<AuditConfig, ConfigError> {
        let stdout = match &doc.stdout {
            Some(s) => self.boolean("stdout", s)?,
            None => false,
        };
        // The file is the default sink: without `file:` it is used unless stdout alone was asked for.
        let file = match doc.file {
            Some(file) => Some(self.audit_file(file)?),
            None if stdout => None,
            None => Some(AuditFileConfig::new(self.default_path(DEFAULT_AUDIT_PATH)?)),
        };
        let on_full = match &doc.on_full {
            Some(s) => self.word(
                "on_full",
                s,
                &[
                    ("block", OnFull::Block),
                    ("drop_and_count", OnFull::DropAndCount),
                    ("refuse_calls", OnFull::RefuseCalls),
                ],
            )?,
            None => OnFull::default(),
        };
        Ok(AuditConfig {
            file,
            stdout,
            include_arguments: match &doc.include_arguments {
                Some(s) => self.boolean("include_arguments", s)?,
                None => false,
            },
            redact: self.plain_list("redact field", &doc.redact)?,
            on_full,
            queue: self.count_or("queue", &doc.queue, DEFAULT_AUDIT_QUEUE)?,
            checkpoint: doc.checkpoint.map(|c| self.checkpoint(c)).transpose()?,
            webhook: doc.webhook.map(|w| self.webhook(w)).transpose()?,
        })
    }

    fn webhook(&self, doc: WebhookDoc) -> Result<WebhookConfig, ConfigError> {
        let token = match &doc.token {
            Some(s) => Some(self.checked(s, |t| {
                if t.is_empty() {
                    Err("the webhook `token` is empty (an unset environment variable?)".to_owned())
                } else {
                    validate::check_header_value("Authorization", t)
                }
            })?),
            None => None,
        };
        let batch = self.count_or("batch", &doc.batch, DEFAULT_WEBHOOK_BATCH)?;
        let queue = self.count_or("queue", &doc.queue, DEFAULT_WEBHOOK_QUEUE)?;
        let retries = self.count_or("retries", &doc.retries, DEFAULT_WEBHOOK_RETRIES as usize)?;
        Ok(WebhookConfig {
            url: self.checked(&doc.url, validate::check_http_url)?,
            token,
            batch,
            flush: self.duration_or("flush", &doc.flush, DEFAULT_WEBHOOK_FLUSH)?,
            queue,
            retries: u32::try_from(retries).unwrap_or(u32::MAX),
            timeout: self.duration_or("timeout", &doc.timeout, DEFAULT_WEBHOOK_TIMEOUT)?,
            dead_letter: match &doc.dead_letter {
                Some(s) => self.absolute("dead_letter", s)?,
                None => self.default_path(DEFAULT_WEBHOOK_DEAD_LETTER)?,
            },
        })
    }

    fn audit_file(&self, doc: AuditFileDoc) -> Result<AuditFileConfig, ConfigError> {
        let path = match &doc.path {
            Some(s) => self.absolute("path", s)?,
            None => self.default_path(DEFAULT_AUDIT_PATH)?,
        };
        let rotate_bytes = match &doc.rotate_bytes {
            Some(scalar) => {
                let text = self.text(scalar)?;
                match parse_size(&text) {
                    Ok(0) => Err(self.error(scalar, "`rotate_bytes` must be greater than 0")),
                    Ok(n) => Ok(n),
                    Err(m) => Err(self.error(scalar, format!("`rotate_bytes`: {m}"))),
                }?
            }
            None => DEFAULT_AUDIT_ROTATE_BYTES,
        };
        let fsync = match &doc.fsync {
            Some(scalar) => match self.text(scalar)?.as_str() {
                "always" => Fsync::Always,
                "never" => Fsync::Never,
                text => match parse_duration(text) {
                    Ok(d) if !d.is_zero() => Fsync::Every(d),
                    Ok(_) => {
                        return Err(self.error(
                            scalar,
                            "`fsync` must be `always`, `never` or an interval greater than 0",
                        ));
                    }
                    Err(m) => {
                        return Err(self.error(
                            scalar,
                            format!("`fsync` must be `always`, `never` or an interval: {m}"),
                        ));
                    }
                },
            },
            None => Fsync::Every(DEFAULT_AUDIT_FSYNC),
        };
        Ok(AuditFileConfig {
            path,
            rotate_bytes,
            fsync,
        })
    }

    fn checkpoint(&self, doc: CheckpointDoc) -> Result<CheckpointConfig, ConfigError> {
        Ok(CheckpointConfig {
            key: self.absolute("key", &doc.key)?,
            every: self.duration_or("every", &doc.every, DEFAULT_AUDIT_CHECKPOINT_EVERY)?,
        })
    }

    fn root(&self, doc: RootDoc) -> Result<Root, ConfigError> {
        Ok(Root {
            uri: self.checked(&doc.uri, validate::check_root_uri)?,
            name: doc.name.as_ref().map(|s| self.text(s)).transpose()?,
        })
    }

    pub(crate) fn upstream(
        &self,
        key: &Scalar,
        doc: UpstreamDoc,
    ) -> Result<(UpstreamConfig, UpstreamSite), ConfigError> {
        let name = key.value.clone();
        validate::check_name("upstream name", &name).map_err(|m| self.error(key, m))?;

        let given: Vec<&str> = [
            ("stdio", doc.stdio.is_some()),
            ("http", doc.http.is_some()),
            ("sse", doc.sse.is_some()),
            ("prometheus", doc.prometheus.is_some()),
            ("loki", doc.loki.is_some()),
            ("kubernetes", doc.kubernetes.is_some()),
            ("management", doc.management.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, present)| present.then_some(kind))
        .collect();
        let builtin = [
            ("prometheus", doc.prometheus),
            ("loki", doc.loki),
            ("kubernetes", doc.kubernetes),
            ("management", doc.management),
        ]
        .into_iter()
        .find_map(|(kind, settings)| settings.map(|s| (kind, s)));
        let transport = match (doc.stdio, doc.http, doc.sse) {
            (None, None, None) if given.len() == 1 && doc.group.is_none() && builtin.is_some() => {
                let (kind, settings) = builtin.expect("checked");
                self.builtin(key, kind, settings)?
            }
            _ if given.len() > 1 => {
                return Err(self.error(
                    key,
                    format!(
                        "upstream `{name}` has more than one transport (`{}`): give exactly one of {TRANSPORTS}",
                        given.join("` and `")
                    ),
                ));
            }
            (None, None, None) if doc.group.is_some() && given.is_empty() => {
                self.group(key, doc.group.expect("checked"))?
            }
            _ if doc.group.is_some() => {
                return Err(self.error(
                    key,
                    format!("upstream `{name}` is a `group` and has a transport too: a group's members are reached, not the group"),
                ));
            }
            (Some(stdio), None, None) => self.stdio(stdio)?,
            (None, Some(http), None) => {
                let (url, headers) = self.remote(http)?;
                Transport::Http { url, headers }
            }
            (None, None, Some(sse)) => {
                let (url, headers) = self.remote(sse)?;
                Transport::Sse { url, headers }
            }
            (None, None, None) => {
                return Err(self.error(
                    key,
                    format!("upstream `{name}` has no transport: give exactly one of {TRANSPORTS}"),
                ));
            }
            _ => {
                return Err(self.error(
                    key,
                    format!(
                        "upstream `{name}` has more than one transport (`{}`): give exactly one of {TRANSPORTS}",
                        given.join("` and `")
                    ),
                ));
            }
        };

        let prefix = match &doc.prefix {
            Some(s) => self.checked(s, validate::check_prefix)?,
            None => name.clone(),
        };
        let session = match &doc.session {
            Some(s) => self.word(
                "session",
                s,
                &[
                    ("shared", SessionMode::Shared),
                    ("isolated", SessionMode::Isolated),
                ],
            )?,
            None => SessionMode::default(),
        };
        let era = match &doc.era {
            Some(s) => self.word(
                "era",
                s,
                &[
                    ("auto", Era::Auto),
                    ("modern", Era::Modern),
                    ("legacy", Era::Legacy),
                ],
            )?,
            None => Era::default(),
        };
        let remote = match &transport {
            Transport::Http { headers, .. } | Transport::Sse { headers, .. } => Some(headers),
            _ => None,
        };
        if remote.is_none()
            && (doc.outbound.is_some()
                || doc.credentials.is_some()
                || doc.connect_timeout.is_some()
                || doc.read_timeout.is_some())
        {
            return Err(self.error(
                key,
                format!("upstream `{name}`: `outbound`, `credentials`, `connect_timeout` and `read_timeout` apply to `http` and `sse` upstreams only"),
            ));
        }
        let connect_timeout = self.duration_or(
            "connect_timeout",
            &doc.connect_timeout,
            crate::model::DEFAULT_CONNECT_TIMEOUT,
        )?;
        let read_timeout = match &doc.read_timeout {
            Some(_) => Some(self.duration_or("read_timeout", &doc.read_timeout, Duration::ZERO)?),
            None => None,
        };
        let outbound = self.outbound(doc.outbound)?;
        let credentials = self.credentials(doc.credentials)?;
        if credentials.uses_caller_token() && !matches!(transport, Transport::Http { .. }) {
            return Err(self.error(
                key,
                format!("upstream `{name}`: `token_exchange` and `passthrough` apply to `http` upstreams only (each call is its own request there)"),
            ));
        }
        if credentials != crate::model::Credentials::None
            && remote.is_some_and(|h| {
                h.iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            })
        {
            return Err(self.error(
                key,
                format!("upstream `{name}` sets both `credentials` and an `Authorization` header: give one"),
            ));
        }
        let upstream = UpstreamConfig {
            outbound,
            credentials,
            connect_timeout,
            read_timeout,
            timeout: self.duration_or("timeout", &doc.timeout, DEFAULT_UPSTREAM_TIMEOUT)?,
            max_message_bytes: self.count_or(
                "max_message_bytes",
                &doc.max_message_bytes,
                DEFAULT_MAX_MESSAGE_BYTES,
            )?,
            name,
            prefix,
            transport,
            session,
            era,
            probe_timeout: self.duration_or(
                "probe_timeout",
                &doc.probe_timeout,
                DEFAULT_PROBE_TIMEOUT,
            )?,
            tools: self.filter("tool", doc.tools)?,
            prompts: self.filter("prompt", doc.prompts)?,
            resources: self.filter("resource", doc.resources)?,
            tool_timeouts: self.tool_timeouts(doc.tool_timeouts)?,
            scopes: self.scopes("scopes", &doc.scopes)?,
            tool_scopes: self.tool_scopes(doc.tool_scopes)?,
            max_concurrency: doc
                .max_concurrency
                .as_ref()
                .map(|s| self.count("max_concurrency", s))
                .transpose()?,
            health: self.health(doc.health)?,
            start: match &doc.start {
                Some(s) => self.word(
                    "start",
                    s,
                    &[
                        ("eager", crate::model::StartMode::Eager),
                        ("lazy", crate::model::StartMode::Lazy),
                    ],
                )?,
                None => crate::model::StartMode::Eager,
            },
            required: match &doc.required {
                Some(s) => self.boolean("required", s)?,
                None => false,
            },
            max_timeout: match &doc.max_timeout {
                None => None,
                Some(s) => {
                    let max = self.duration_or("max_timeout", &Some(s.clone()), Duration::ZERO)?;
                    let timeout =
                        self.duration_or("timeout", &doc.timeout, DEFAULT_UPSTREAM_TIMEOUT)?;
                    if max <= timeout {
                        return Err(self.error(
                            s,
                            format!("`max_timeout` ({max:?}) must be longer than `timeout` ({timeout:?}): it is how far progress may extend a call"),
                        ));
                    }
                    Some(max)
                }
            },
            idle_timeout: doc
                .idle_timeout
                .as_ref()
                .map(|s| self.duration_or("idle_timeout", &Some(s.clone()), Duration::ZERO))
                .transpose()?,
            max_sessions: match &doc.max_sessions {
                Some(s) if session != SessionMode::Isolated => {
                    return Err(self.error(
                        s,
                        "`max_sessions` caps the upstream sessions of `session: isolated`; this upstream is shared",
                    ));
                }
                Some(s) => Some(self.count("max_sessions", s)?),
                None => None,
            },
            max_result_bytes: doc
                .max_result_bytes
                .as_ref()
                .map(|s| self.count("max_result_bytes", s))
                .transpose()?,
            breaker: match doc.breaker {
                Some(b) => self.breaker(b)?,
                None => crate::model::BreakerConfig::default(),
            },
        };
        let site = UpstreamSite {
            name: key.referenced,
            prefix: doc.prefix.map(|s| s.referenced),
        };
        Ok((upstream, site))
    }

    /// A built-in connector's block: every string `${VAR}`-expanded, then checked by the
    /// loader's `builtins` (the connectors crate, in the binary), which names the field at fault.
    fn builtin(
        &self,
        key: &Scalar,
        kind: &str,
        mut settings: serde_json::Value,
    ) -> Result<Transport, ConfigError> {
        let name = &key.value;
        self.expand_json(&mut settings)
            .map_err(|m| self.error(key, format!("upstream `{name}`: {kind}: {m}")))?;
        (self.builtins)(kind, &settings)
            .map_err(|m| self.error(key, format!("upstream `{name}`: {kind}: {m}")))?;
        Ok(Transport::Builtin {
            kind: kind.to_owned(),
            settings,
        })
    }

    fn expand_json(&self, v: &mut serde_json::Value) -> Result<(), String> {
        match v {
            serde_json::Value::String(s) => {
                *s = expand(s, self.env).map_err(|e| e.to_string())?;
            }
            serde_json::Value::Array(items) => {
                for i in items {
                    self.expand_json(i)?;
                }
            }
            serde_json::Value::Object(map) => {
                for (_, i) in map.iter_mut() {
                    self.expand_json(i)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn stdio(&self, doc: StdioDoc) -> Result<Transport, ConfigError> {
        let command = self.checked(&doc.command, |command| {
            if command.is_empty() {
                return Err("`command` must not be empty".to_owned());
            }
            validate::check_no_nul("`command`", command)
        })?;
        let args = doc
            .args
            .iter()
            .map(|arg| self.checked(arg, |a| validate::check_no_nul("an argument", a)))
            .collect::<Result<_, _>>()?;
        let mut env = Vec::new();
        for (key, value) in doc.env.unwrap_or_default().0 {
            validate::check_env_name(&key.value).map_err(|m| self.error(&key, m))?;
            let value = self.checked(&value, |v| {
                validate::check_no_nul(&format!("the value of `{}`", key.value), v)
            })?;
            env.push((key.value, value));
        }
        let cwd = doc.cwd.as_ref().map(|s| self.cwd(s)).transpose()?;
        Ok(Transport::Stdio {
            command,
            args,
            env,
            cwd,
            env_clear: false,
            integrity: None,
        })
    }

    fn cwd(&self, scalar: &Scalar) -> Result<PathBuf, ConfigError> {
        self.absolute("cwd", scalar)
    }

    /// A path setting made absolute: relative to the config file's directory, and that to the
    /// current directory.
    fn absolute(&self, key: &str, scalar: &Scalar) -> Result<PathBuf, ConfigError> {
        let text = self.checked(scalar, |text| {
            if text.is_empty() {
                return Err(format!("`{key}` must not be empty"));
            }
            validate::check_no_nul(&format!("`{key}`"), text)
        })?;
        self.rooted(&text).map_err(|e| {
            self.error(
                scalar,
                format!("cannot resolve the relative {key} `{text}`: the current directory is unavailable: {e}"),
            )
        })
    }

    /// A default path (no scalar to blame), made absolute like [`absolute`](Self::absolute).
    fn default_path(&self, text: &str) -> Result<PathBuf, ConfigError> {
        self.rooted(text).map_err(|e| {
            ConfigError::whole(
                self.file,
                format!("cannot resolve the default path `{text}`: the current directory is unavailable: {e}"),
            )
        })
    }

    fn rooted(&self, text: &str) -> std::io::Result<PathBuf> {
        let mut path = self.base_dir.join(text);
        if path.is_relative() {
            path = std::env::current_dir()?.join(path);
        }
        // Drop `.` components (`/etc/switchboard/.` → `/etc/switchboard`); `..` stays, since
        // folding it lexically is wrong across symlinks.
        Ok(path
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect())
    }

    fn remote(&self, doc: RemoteDoc) -> Result<(String, Vec<(String, String)>), ConfigError> {
        let url = self.checked(&doc.url, validate::check_http_url)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for (key, value) in doc.headers.unwrap_or_default().0 {
            let name = key.value.clone();
            validate::check_header_name(&name).map_err(|m| self.error(&key, m))?;
            if let Some((first, _)) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                return Err(self.error(
                    &key,
                    format!("header `{name}` is given twice (as `{first}` too); header names ignore case"),
                ));
            }
            let value = self.checked(&value, |v| validate::check_header_value(&name, v))?;
            headers.push((name, value));
        }
        Ok((url, headers))
    }

    // ---- scalars -------------------------------------------------------------------------

    pub(crate) fn error(&self, scalar: &Scalar, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, scalar.referenced, message)
    }

    /// The scalar's text with `${VAR}` expanded.
    pub(crate) fn text(&self, scalar: &Scalar) -> Result<String, ConfigError> {
        if !self.expand {
            return Ok(scalar.value.clone());
        }
        expand(&scalar.value, self.env).map_err(|e| self.error(scalar, e.to_string()))
    }

    /// Expanded text that passed `check`.
    pub(crate) fn checked(
        &self,
        scalar: &Scalar,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<String, ConfigError> {
        let text = self.text(scalar)?;
        check(&text).map_err(|m| self.error(scalar, m))?;
        Ok(text)
    }

    pub(crate) fn plain_list(
        &self,
        what: &str,
        scalars: &[Scalar],
    ) -> Result<Vec<String>, ConfigError> {
        scalars
            .iter()
            .map(|s| self.checked(s, |text| validate::check_plain(what, text)))
            .collect()
    }

    /// A [`count`](Self::count), or `default` when not given.
    pub(crate) fn count_or(
        &self,
        key: &str,
        scalar: &Option<Scalar>,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match scalar {
            Some(scalar) => self.count(key, scalar),
            None => Ok(default),
        }
    }

    /// A whole number greater than zero; `_` may group digits (`4_194_304`).
    pub(crate) fn count(&self, key: &str, scalar: &Scalar) -> Result<usize, ConfigError> {
        let text = self.text(scalar)?;
        let digits = text.replace('_', "");
        let well_formed = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !text.starts_with('_')
            && !text.ends_with('_');
        match digits.parse::<usize>() {
            Ok(n) if well_formed && n > 0 => Ok(n),
            Ok(_) if well_formed => {
                Err(self.error(scalar, format!("`{key}` must be greater than 0")))
            }
            Err(_) if well_formed => {
                Err(self.error(scalar, format!("`{key}` is too large: `{text}`")))
            }
            _ => Err(self.error(
                scalar,
                format!(
                    "`{key}` must be a whole number greater than 0, got `{}`",
                    text.escape_debug()
                ),
            )),
        }
    }

    /// A duration greater than zero (see `duration`).
    pub(crate) fn duration_or(
        &self,
        key: &str,
        scalar: &Option<Scalar>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let duration = self.duration_or_zero(key, scalar, default)?;
        match scalar {
            Some(scalar) if duration.is_zero() => {
                Err(self.error(scalar, format!("`{key}` must be greater than 0")))
            }
            _ => Ok(duration),
        }
    }

    /// A duration that may be zero, for settings where zero means "none" (a cache TTL).
    pub(crate) fn duration_or_zero(
        &self,
        key: &str,
        scalar: &Option<Scalar>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(scalar) = scalar else {
            return Ok(default);
        };
        let text = self.text(scalar)?;
        parse_duration(&text).map_err(|m| self.error(scalar, format!("`{key}`: {m}")))
    }

    /// YAML 1.2 core booleans: `true`/`false`, also capitalised or upper case.
    pub(crate) fn boolean(&self, key: &str, scalar: &Scalar) -> Result<bool, ConfigError> {
        let text = self.text(scalar)?;
        match text.as_str() {
            "true" | "True" | "TRUE" => Ok(true),
            "false" | "False" | "FALSE" => Ok(false),
            _ => Err(self.error(
                scalar,
                format!(
                    "`{key}` must be `true` or `false`, got `{}`",
                    text.escape_debug()
                ),
            )),
        }
    }

    /// One of a fixed set of lower-case words.
    pub(crate) fn word<T: Copy>(
        &self,
        key: &str,
        scalar: &Scalar,
        choices: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let text = self.text(scalar)?;
        if let Some((_, value)) = choices.iter().find(|(word, _)| *word == text) {
            return Ok(*value);
        }
        let words: Vec<String> = choices
            .iter()
            .map(|(word, _)| format!("`{word}`"))
            .collect();
        Err(self.error(
            scalar,
            format!(
                "unknown {key} `{}`: expected one of {}",
                text.escape_debug(),
                words.join(", ")
            ),
        ))
    }
}

/// Every group's members are upstreams of this config that are not groups, and belong to one
/// group only.
pub(crate) fn check_groups(file: &str, upstreams: &[UpstreamConfig]) -> Result<(), ConfigError> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for u in upstreams {
        let Transport::Group { members, .. } = &u.transport else {
            continue;
        };
        for m in members {
            let problem = match upstreams.iter().find(|x| &x.name == m) {
                None => Some("is not an upstream of this config".to_owned()),
                Some(x) if matches!(x.transport, Transport::Group { .. }) => {
                    Some("is a group itself".to_owned())
                }
                Some(_) => owner
                    .insert(m, &u.name)
                    .filter(|other| *other != u.name)
                    .map(|other| format!("is a member of group `{other}` already")),
            };
            if let Some(p) = problem {
                return Err(ConfigError::whole(
                    file,
                    format!("group `{}`: member `{m}` {p}", u.name),
                ));
            }
        }
    }
    Ok(())
}

/// Two upstreams with one prefix would put their tools under the same names; reject it, naming
/// both. Upstreams without a site came from `SWITCHBOARD_UPSTREAMS`.
pub(crate) fn check_unique_prefixes(
    file: &str,
    upstreams: &[UpstreamConfig],
    sites: &[UpstreamSite],
) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, upstream) in upstreams.iter().enumerate() {
        let Some(&first) = seen.get(upstream.prefix.as_str()) else {
            seen.insert(&upstream.prefix, index);
            continue;
        };
        let earlier = &upstreams[first];
        let place = |i: usize| match sites.get(i) {
            Some(site) => format!("at {}:{}", site.name.line(), site.name.column()),
            None => format!("from {UPSTREAMS_ENV}"),
        };
        let prefix = if upstream.prefix.is_empty() {
            "the empty prefix \"\"".to_owned()
        } else {
            format!("the prefix `{}`", upstream.prefix)
        };
        let message = format!(
            "upstreams `{}` ({}) and `{}` ({}) both use {prefix}; give each upstream its own `prefix:`",
            earlier.name,
            place(first),
            upstream.name,
            place(index),
        );
        let location = sites
            .get(index)
            .map(|site| site.prefix.unwrap_or(site.name))
            .or_else(|| {
                sites
                    .get(first)
                    .map(|site| site.prefix.unwrap_or(site.name))
            });
        return Err(match location {
            Some(location) => ConfigError::at(file, location, message),
            None => ConfigError::whole(file, message),
        });
    }
    Ok(())
}
