//! Where the API server is and how to prove who we are: read from a kubeconfig file (the
//! fields `kubectl` writes: server, certificate authority, client certificate and key, token,
//! basic auth, `insecure-skip-tls-verify`, `proxy-url`) or from the pod's service account.
//!
//! `$KUBECONFIG` may list several files separated by `:`; as with `kubectl`, the first file that
//! names a context, cluster or user wins, `current-context` comes from the first file that sets
//! one, files that do not exist are skipped, and relative paths inside a file are relative to
//! that file's directory.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::exec::ExecSpec;
use super::settings::Source;

/// The service account's files in a pod.
pub(super) const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Everything needed to reach one API server.
#[derive(Debug)]
pub(super) struct Endpoint {
    pub(super) server: reqwest::Url,
    /// PEM; when set, the only roots trusted.
    pub(super) ca_pem: Option<Vec<u8>>,
    /// Client certificate chain then key, PEM.
    pub(super) identity_pem: Option<Vec<u8>>,
    pub(super) insecure: bool,
    pub(super) proxy: Option<String>,
    pub(super) credential: Credential,
    /// The namespace a call that names none works in.
    pub(super) namespace: String,
    /// Where it came from, for error messages: `context prod in ~/.kube/config`.
    pub(super) origin: String,
}

#[derive(Debug)]
pub(super) enum Credential {
    None,
    Token(String),
    /// Read again every minute: service account tokens are rotated by the kubelet.
    TokenFile(PathBuf),
    Basic {
        username: String,
        password: String,
    },
    /// A credential plugin run for a token.
    Exec(ExecSpec),
}

#[derive(Debug, Default, Deserialize)]
struct Kubeconfig {
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context", default)]
    item: Option<T>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: Option<String>,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<ExecSpec>,
    auth_provider: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
struct Context {
    cluster: Option<String>,
    user: Option<String>,
    namespace: Option<String>,
}

/// Reads the endpoint the settings name. Touches only local files, never the network.
pub(super) fn load(source: &Source, context: Option<&str>) -> Result<Endpoint, String> {
    match source {
        Source::InCluster => in_cluster(
            Path::new(SERVICE_ACCOUNT_DIR),
            std::env::var("KUBERNETES_SERVICE_HOST").ok(),
            std::env::var("KUBERNETES_SERVICE_PORT").ok(),
        ),
        Source::Kubeconfig(Some(path)) => from_files(&[expand_home(path)], context, true),
        Source::Kubeconfig(None) => match std::env::var_os("KUBECONFIG") {
            Some(list) if !list.is_empty() => {
                let files: Vec<PathBuf> = std::env::split_paths(&list)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect();
                from_files(&files, context, false)
            }
            _ => {
                let home = std::env::var_os("HOME").ok_or(
                    "no `kubeconfig` set, $KUBECONFIG is unset and $HOME is unknown; set `kubeconfig` or `in_cluster: true`",
                )?;
                from_files(&[Path::new(&home).join(".kube/config")], context, true)
            }
        },
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The service account a pod is given: token, CA and namespace files, and the service's address
/// from the environment the kubelet sets.
pub(super) fn in_cluster(
    dir: &Path,
    host: Option<String>,
    port: Option<String>,
) -> Result<Endpoint, String> {
    let host = host.filter(|h| !h.is_empty()).ok_or(
        "in_cluster: KUBERNETES_SERVICE_HOST is not set (is the gateway running in a pod?)",
    )?;
    let port = port
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "443".into());
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let server = reqwest::Url::parse(&format!("https://{authority}")).map_err(|e| {
        format!("in_cluster: KUBERNETES_SERVICE_HOST/PORT make no URL ({authority}): {e}")
    })?;
    let token = dir.join("token");
    if let Err(e) = std::fs::metadata(&token) {
        return Err(format!(
            "in_cluster: cannot read the service account token {}: {e} (is automountServiceAccountToken off?)",
            token.display()
        ));
    }
    let ca_path = dir.join("ca.crt");
    let ca = std::fs::read(&ca_path)
        .map_err(|e| format!("in_cluster: cannot read {}: {e}", ca_path.display()))?;
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    Ok(Endpoint {
        server,
        ca_pem: Some(ca),
        identity_pem: None,
        insecure: false,
        proxy: None,
        credential: Credential::TokenFile(token),
        namespace,
        origin: "the pod's service account".into(),
    })
}

struct Loaded {
    path: PathBuf,
    config: Kubeconfig,
}

/// `required`: the one file named must exist (a `$KUBECONFIG` list may name missing files).
fn from_files(
    paths: &[PathBuf],
    context: Option<&str>,
    required: bool,
) -> Result<Endpoint, String> {
    let mut loaded = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => return Err(format!("cannot read kubeconfig {}: {e}", path.display())),
        };
        let config: Kubeconfig = if text.trim().is_empty() {
            Kubeconfig::default()
        } else {
            serde_saphyr::from_str(&text)
                .map_err(|e| format!("kubeconfig {} is not valid: {e}", path.display()))?
        };
        loaded.push(Loaded {
            path: path.clone(),
            config,
        });
    }
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    if loaded.is_empty() {
        return Err(format!("no kubeconfig found at {shown}"));
    }
    let context_name = match context {
        Some(c) => c.to_owned(),
        None => loaded
            .iter()
            .find_map(|l| l.config.current_context.clone().filter(|c| !c.is_empty()))
            .ok_or_else(|| format!("kubeconfig {shown} sets no current-context; set `context`"))?,
    };
    let (ctx, _) = find(&loaded, |c| &c.contexts, &context_name).ok_or_else(|| {
        let known: Vec<&str> = loaded
            .iter()
            .flat_map(|l| l.config.contexts.iter().map(|c| c.name.as_str()))
            .collect();
        format!(
            "kubeconfig {shown} has no context {context_name:?} (it has: {})",
            known.join(", ")
        )
    })?;
    let origin = format!("context {context_name:?} of {shown}");
    let cluster_name = ctx
        .cluster
        .as_deref()
        .ok_or_else(|| format!("{origin} names no cluster"))?;
    let (cluster, cluster_dir) = find(&loaded, |c| &c.clusters, cluster_name)
        .ok_or_else(|| format!("{origin} names cluster {cluster_name:?}, which is not defined"))?;
    let (user, user_dir) = match ctx.user.as_deref() {
        Some(name) => find(&loaded, |c| &c.users, name)
            .ok_or_else(|| format!("{origin} names user {name:?}, which is not defined"))?,
        None => (&NO_USER, cluster_dir),
    };

    let server_text = cluster
        .server
        .as_deref()
        .ok_or_else(|| format!("cluster {cluster_name:?} ({origin}) has no server"))?;
    let server = reqwest::Url::parse(server_text).map_err(|e| {
        format!("cluster {cluster_name:?} server {server_text:?} is not a URL: {e}")
    })?;
    if !matches!(server.scheme(), "https" | "http") {
        return Err(format!(
            "cluster {cluster_name:?} server {server_text:?} is not http(s)"
        ));
    }
    if cluster.tls_server_name.is_some() {
        return Err(format!(
            "cluster {cluster_name:?} sets tls-server-name, which this connector does not support; point `server` at a name the certificate holds"
        ));
    }
    let ca_pem = material(
        cluster.certificate_authority_data.as_deref(),
        cluster.certificate_authority.as_deref(),
        cluster_dir,
        "certificate-authority",
    )?;
    let cert = material(
        user.client_certificate_data.as_deref(),
        user.client_certificate.as_deref(),
        user_dir,
        "client-certificate",
    )?;
    let key = material(
        user.client_key_data.as_deref(),
        user.client_key.as_deref(),
        user_dir,
        "client-key",
    )?;
    let identity_pem = match (cert, key) {
        (Some(mut cert), Some(key)) => {
            if !cert.ends_with(b"\n") {
                cert.push(b'\n');
            }
            cert.extend_from_slice(&key);
            Some(cert)
        }
        (None, None) => None,
        _ => {
            return Err(format!(
                "{origin}: a client certificate needs both certificate and key"
            ));
        }
    };
    let credential = if let Some(token) = user.token.as_deref().filter(|t| !t.is_empty()) {
        Credential::Token(token.to_owned())
    } else if let Some(file) = user.token_file.as_deref() {
        Credential::TokenFile(relative_to(user_dir, file))
    } else if let (Some(username), Some(password)) = (&user.username, &user.password) {
        Credential::Basic {
            username: username.clone(),
            password: password.clone(),
        }
    } else if let Some(exec) = &user.exec {
        let mut spec = exec.clone();
        spec.dir = user_dir.to_owned();
        Credential::Exec(spec)
    } else if identity_pem.is_none() && user.auth_provider.is_some() {
        return Err(format!(
            "{origin}: the user authenticates with an auth-provider (removed from kubectl in 1.26), which this connector does not run; use an exec plugin, a token or a client certificate"
        ));
    } else {
        Credential::None
    };
    Ok(Endpoint {
        server,
        ca_pem,
        identity_pem,
        insecure: cluster.insecure_skip_tls_verify,
        proxy: cluster.proxy_url.clone(),
        credential,
        namespace: ctx
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into()),
        origin,
    })
}

static NO_USER: User = User {
    token: None,
    token_file: None,
    client_certificate: None,
    client_certificate_data: None,
    client_key: None,
    client_key_data: None,
    username: None,
    password: None,
    exec: None,
    auth_provider: None,
};

/// The first file's entry of that name, with the directory its relative paths start from.
fn find<'a, T>(
    loaded: &'a [Loaded],
    list: impl Fn(&'a Kubeconfig) -> &'a Vec<Named<T>>,
    name: &str,
) -> Option<(&'a T, &'a Path)> {
    loaded
        .iter()
        .find_map(|l| {
            list(&l.config).iter().find(|n| n.name == name).map(|n| {
                let dir = l.path.parent().unwrap_or(Path::new("."));
                (n.item.as_ref(), dir)
            })
        })
        .and_then(|(item, dir)| item.map(|i| (i, dir)))
}

/// A `-data` field (base64 of PEM) or the file its path names.
fn material(
    data: Option<&str>,
    path: Option<&str>,
    dir: &Path,
    field: &str,
) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map(Some)
            .map_err(|e| format!("kubeconfig {field}-data is not base64: {e}"));
    }
    match path.filter(|p| !p.is_empty()) {
        Some(p) => {
            let full = relative_to(dir, p);
            std::fs::read(&full)
                .map(Some)
                .map_err(|e| format!("kubeconfig {field} {}: {e}", full.display()))
        }
        None => Ok(None),
    }
}

fn relative_to(dir: &Path, path: &str) -> PathBuf {
    let p = expand_home(path);
    if p.is_absolute() { p } else { dir.join(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_cluster_reads_the_service_account() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok").unwrap();
        std::fs::write(dir.path().join("ca.crt"), "PEM").unwrap();
        std::fs::write(dir.path().join("namespace"), "web\n").unwrap();
        let e = in_cluster(dir.path(), Some("10.0.0.1".into()), Some("6443".into())).unwrap();
        assert_eq!(e.server.as_str(), "https://10.0.0.1:6443/");
        assert_eq!(e.namespace, "web");
        assert_eq!(e.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert!(matches!(e.credential, Credential::TokenFile(ref p) if p.ends_with("token")));
        let v6 = in_cluster(dir.path(), Some("fd00::1".into()), None).unwrap();
        assert_eq!(v6.server.as_str(), "https://[fd00::1]/");
    }

    /// `$KUBECONFIG=a:b`: entries are found across files, the first file wins, missing files
    /// are skipped, and relative paths start at the file that holds them.
    #[test]
    fn kubeconfig_lists_merge_like_kubectl() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("token"), "from-b\n").unwrap();
        std::fs::write(
            a.path().join("config"),
            "current-context: one\ncontexts:\n- name: one\n  context: {cluster: c, user: u, namespace: shop}\nclusters:\n- name: c\n  cluster: {server: 'https://first.example:6443'}\n",
        )
        .unwrap();
        std::fs::write(
            b.path().join("config"),
            "current-context: two\nclusters:\n- name: c\n  cluster: {server: 'https://second.example'}\nusers:\n- name: u\n  user: {tokenFile: token}\n",
        )
        .unwrap();
        let files = [
            a.path().join("missing"),
            a.path().join("config"),
            b.path().join("config"),
        ];
        let e = from_files(&files, None, false).unwrap();
        assert_eq!(e.server.as_str(), "https://first.example:6443/");
        assert_eq!(e.namespace, "shop");
        assert!(
            matches!(e.credential, Credential::TokenFile(ref p) if *p == b.path().join("token"))
        );
        assert!(e.origin.contains("\"one\""), "{}", e.origin);
        let err = from_files(&files, Some("two"), false).unwrap_err();
        assert!(
            err.contains("no context \"two\"") && err.contains("one"),
            "{err}"
        );
    }

    #[test]
    fn in_cluster_outside_a_pod_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = in_cluster(dir.path(), None, None).unwrap_err();
        assert!(e.contains("KUBERNETES_SERVICE_HOST"), "{e}");
        let e = in_cluster(dir.path(), Some("10.0.0.1".into()), None).unwrap_err();
        assert!(e.contains("token"), "{e}");
    }
}
