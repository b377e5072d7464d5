//! Exec credential plugins (`users[].user.exec` in a kubeconfig: `aws eks get-token`,
//! `gke-gcloud-auth-plugin`, `kubelogin`, …), run the way client-go runs them: the command with
//! its args, the gateway's environment plus the plugin's `env`, `KUBERNETES_EXEC_INFO` describing
//! the request, no terminal. Its stdout is an `ExecCredential` whose `status.token` becomes the
//! bearer token, kept until a minute before its `expirationTimestamp` (or, without one, until
//! the API server refuses it with 401). Client certificates from a plugin are not supported.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde_json::json;

use super::render;

/// How long a plugin may take (cloud CLIs can be slow on their first run).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// A token is renewed this long before it expires.
const EARLY: i64 = 60;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExecSpec {
    pub(super) command: String,
    #[serde(default)]
    pub(super) args: Vec<String>,
    #[serde(default)]
    pub(super) env: Option<Vec<EnvVar>>,
    #[serde(default)]
    pub(super) api_version: Option<String>,
    #[serde(default)]
    pub(super) interactive_mode: Option<String>,
    /// Set by the kubeconfig loader: where a relative command path starts.
    #[serde(skip)]
    pub(super) dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct EnvVar {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct ExecCredential {
    status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    token: Option<String>,
    expiration_timestamp: Option<String>,
}

/// A plugin and the token it last gave.
pub(super) struct Plugin {
    spec: ExecSpec,
    cached: futures::lock::Mutex<Option<(Option<i64>, HeaderValue)>>,
}

impl Plugin {
    pub(super) fn new(spec: ExecSpec) -> Result<Plugin, String> {
        if spec.interactive_mode.as_deref() == Some("Always") {
            return Err(format!(
                "the exec credential plugin {:?} needs a terminal (interactiveMode: Always), which a gateway does not have",
                spec.command
            ));
        }
        Ok(Plugin {
            spec,
            cached: futures::lock::Mutex::new(None),
        })
    }

    /// The `Authorization` value, running the plugin when there is no valid token.
    pub(super) async fn header(&self) -> Result<HeaderValue, String> {
        let mut cached = self.cached.lock().await;
        if let Some((expiry, header)) = cached.as_ref()
            && expiry.is_none_or(|at| render::now() < at - EARLY)
        {
            return Ok(header.clone());
        }
        let (expiry, header) = self.run().await?;
        *cached = Some((expiry, header.clone()));
        Ok(header)
    }

    /// Forgets the token (the API server refused it), so the next call runs the plugin again.
    pub(super) async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn run(&self) -> Result<(Option<i64>, HeaderValue), String> {
        let spec = &self.spec;
        let api_version = spec
            .api_version
            .clone()
            .unwrap_or_else(|| "client.authentication.k8s.io/v1".into());
        let command = if spec.command.contains('/') && !PathBuf::from(&spec.command).is_absolute() {
            spec.dir.join(&spec.command)
        } else {
            PathBuf::from(&spec.command)
        };
        let info = json!({"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": false}});
        let mut cmd = tokio::process::Command::new(&command);
        cmd.args(&spec.args)
            .env("KUBERNETES_EXEC_INFO", info.to_string())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for var in spec.env.iter().flatten() {
            cmd.env(&var.name, &var.value);
        }
        let name = command.display();
        let output = match tokio::time::timeout(RUN_TIMEOUT, cmd.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(format!("cannot run the exec credential plugin {name}: {e}")),
            Err(_) => {
                return Err(format!(
                    "the exec credential plugin {name} did not finish within {}s",
                    RUN_TIMEOUT.as_secs()
                ));
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr: String = stderr.trim().chars().take(500).collect();
            return Err(format!(
                "the exec credential plugin {name} failed ({}): {stderr}",
                output.status
            ));
        }
        let credential: ExecCredential = serde_json::from_slice(&output.stdout).map_err(|e| {
            format!("the exec credential plugin {name} did not print an ExecCredential: {e}")
        })?;
        let status = credential.status.unwrap_or(Status {
            token: None,
            expiration_timestamp: None,
        });
        let token = status.token.filter(|t| !t.is_empty()).ok_or_else(|| {
            format!("the exec credential plugin {name} gave no token (client certificates from a plugin are not supported)")
        })?;
        let expiry = status
            .expiration_timestamp
            .as_deref()
            .and_then(render::parse_time);
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            format!("the exec credential plugin {name} gave a token a header cannot carry")
        })?;
        header.set_sensitive(true);
        Ok((expiry, header))
    }
}
