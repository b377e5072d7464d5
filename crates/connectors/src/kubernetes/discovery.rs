//! Which resources the cluster serves, from API discovery: `/api` and `/api/v1` for the core
//! group, `/apis` and each group's preferred version (`/apis/apps/v1`, …) for the rest,
//! custom resources included. A tool names a kind the way `kubectl` accepts it — `Deployment`,
//! `deployments`, `deploy`, `deployments.apps` — and gets the group, version, plural and scope to
//! build its path from.
//!
//! The map is fetched on first use (nothing at start-up), kept for ten minutes, and fetched again
//! sooner when a kind is not found in it (a CRD installed since). A group whose discovery fails
//! (an aggregated API that is down, as metrics-server often is) is left out and named in the
//! error for a kind that is not found, like `kubectl` does; it does not fail the other groups.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::Deserialize;

use super::client::{ApiClient, ApiError};

const TTL: Duration = Duration::from_secs(600);
/// A miss fetches again only if the map is at least this old.
const MISS_REFRESH: Duration = Duration::from_secs(30);
/// Group documents fetched at once.
const CONCURRENCY: usize = 8;

/// One kind of resource the cluster serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiResource {
    /// Empty for the core group.
    pub(super) group: String,
    pub(super) version: String,
    pub(super) kind: String,
    pub(super) plural: String,
    pub(super) singular: String,
    pub(super) short_names: Vec<String>,
    pub(super) namespaced: bool,
    pub(super) verbs: Vec<String>,
}

impl ApiResource {
    pub(super) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection, in one namespace or (for `None`, or a cluster-scoped kind) all of them.
    pub(super) fn collection_path(&self, namespace: Option<&str>) -> String {
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!(
                "{}/namespaces/{}/{}",
                self.prefix(),
                segment(ns),
                self.plural
            ),
            None => format!("{}/{}", self.prefix(), self.plural),
        }
    }

    pub(super) fn item_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), segment(name))
    }

    /// `deployments.apps`, or `pods` for the core group.
    pub(super) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub(super) fn supports(&self, verb: &str) -> bool {
        self.verbs.is_empty() || self.verbs.iter().any(|v| v == verb)
    }

    fn answers_to(&self, name: &str) -> bool {
        self.kind.eq_ignore_ascii_case(name)
            || self.plural.eq_ignore_ascii_case(name)
            || self.singular.eq_ignore_ascii_case(name)
            || self
                .short_names
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name))
    }
}

/// A path segment from a name: names never hold `/`, and anything outside the unreserved set is
/// percent-encoded so that a name cannot reach another path.
pub(super) fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug)]
pub(super) enum ResolveError {
    Api(ApiError),
    /// No such kind; the message says what was looked for and what was skipped.
    Unknown(String),
}

struct Map {
    at: Instant,
    resources: Arc<Vec<ApiResource>>,
    /// Group versions whose discovery failed, with why.
    failed: Vec<String>,
}

#[derive(Default)]
pub(super) struct Discovery {
    map: futures::lock::Mutex<Option<Map>>,
}

#[derive(Deserialize)]
struct ApiVersions {
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct ApiGroupList {
    #[serde(default)]
    groups: Vec<ApiGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    #[serde(default)]
    versions: Vec<GroupVersion>,
    preferred_version: Option<GroupVersion>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct GroupVersion {
    group_version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiResourceList {
    group_version: String,
    #[serde(default)]
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    name: String,
    #[serde(default)]
    singular_name: String,
    #[serde(default)]
    namespaced: bool,
    kind: String,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    short_names: Vec<String>,
}

impl Discovery {
    /// The resource `kind` names (`Pod`, `pods`, `po`, `deployments.apps`), optionally pinned to
    /// an `api_version` (`apps/v1`, `v1`).
    pub(super) async fn resolve(
        &self,
        api: &ApiClient,
        kind: &str,
        api_version: Option<&str>,
    ) -> Result<ApiResource, ResolveError> {
        let kind = kind.trim();
        // `deployments.apps` names the group after the first dot; kinds themselves hold none.
        let (name, group) = match kind.split_once('.') {
            Some((name, group)) => (name, Some(group)),
            None => (kind, None),
        };
        let (pinned_group, pinned_version) = match api_version {
            Some(av) => match av.split_once('/') {
                Some((g, v)) => (Some(g), Some(v)),
                None => (Some(""), Some(av)),
            },
            None => (None, None),
        };
        if let (Some(g), Some(p)) = (group, pinned_group)
            && g != p
        {
            return Err(ResolveError::Unknown(format!(
                "kind {kind:?} names group {g:?} but api_version {:?} names {p:?}",
                api_version.unwrap_or_default()
            )));
        }
        let group = group.or(pinned_group);
        let mut guard = self.map.lock().await;
        for attempt in 0..2 {
            let age = guard.as_ref().map(|m| m.at.elapsed());
            // First look: fetch when there is no map or it has expired. After a miss: fetch
            // again unless the map is fresh (a kind just missing is not worth a fetch per call).
            let refresh = match age {
                None => true,
                Some(age) if attempt == 0 => age > TTL,
                Some(age) => age > MISS_REFRESH,
            };
            if attempt == 1 && !refresh {
                break;
            }
            if refresh {
                *guard = Some(fetch(api).await.map_err(ResolveError::Api)?);
            }
            let Some(map) = guard.as_ref() else { break };
            let found = map.resources.iter().find(|r| {
                group.is_none_or(|g| r.group.eq_ignore_ascii_case(g)) && r.answers_to(name)
            });
            if let Some(found) = found {
                let mut found = found.clone();
                if let Some(v) = pinned_version {
                    found.version = v.to_owned();
                }
                return Ok(found);
            }
        }
        let skipped = match guard.as_ref() {
            Some(m) if !m.failed.is_empty() => {
                format!(
                    "; discovery failed for {}, whose kinds are missing",
                    m.failed.join(", ")
                )
            }
            _ => String::new(),
        };
        let wanted = match group {
            Some(g) if !g.is_empty() => format!("{name:?} in group {g:?}"),
            Some(_) => format!("{name:?} in the core group"),
            None => format!("{name:?}"),
        };
        Err(ResolveError::Unknown(format!(
            "the cluster serves no resource kind {wanted} (matched against kind, plural, singular and short names, as in Pod, pods, pod, po; a group may follow: deployments.apps){skipped}"
        )))
    }
}

async fn fetch(api: &ApiClient) -> Result<Map, ApiError> {
    let mut resources = Vec::new();
    let mut failed = Vec::new();
    let core: ApiVersions = decode("/api", api.get_json("/api", &[]).await?)?;
    // The core group is `v1` and nothing else; take the first listed like kubectl.
    if let Some(version) = core.versions.first() {
        let path = format!("/api/{version}");
        let list: ApiResourceList = decode(&path, api.get_json(&path, &[]).await?)?;
        add(&mut resources, "", &list);
    }
    let groups: ApiGroupList = decode("/apis", api.get_json("/apis", &[]).await?)?;
    let wanted: Vec<String> = groups
        .groups
        .iter()
        .filter_map(|g| {
            g.preferred_version
                .clone()
                .or_else(|| g.versions.first().cloned())
        })
        .map(|v| v.group_version)
        .collect();
    let lists: Vec<(String, Result<ApiResourceList, ApiError>)> = futures::stream::iter(wanted)
        .map(|gv| async move {
            let path = format!("/apis/{gv}");
            let list = match api.get_json(&path, &[]).await {
                Ok(v) => decode(&path, v),
                Err(e) => Err(e),
            };
            (gv, list)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    for (gv, list) in lists {
        match list {
            Ok(list) => {
                let group = list
                    .group_version
                    .split_once('/')
                    .map(|(g, _)| g)
                    .unwrap_or_default();
                add(&mut resources, group, &list);
            }
            Err(e) => failed.push(format!("{gv} ({e})")),
        }
    }
    Ok(Map {
        at: Instant::now(),
        resources: Arc::new(resources),
        failed,
    })
}

fn decode<T: serde::de::DeserializeOwned>(path: &str, v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::Invalid(format!("{path} is not a discovery document: {e}")))
}

fn add(out: &mut Vec<ApiResource>, group: &str, list: &ApiResourceList) {
    let version = list.group_version.rsplit('/').next().unwrap_or_default();
    for r in &list.resources {
        // `pods/log`, `deployments/scale`: subresources, reached through their parent.
        if r.name.contains('/') {
            continue;
        }
        let singular = if r.singular_name.is_empty() {
            r.kind.to_ascii_lowercase()
        } else {
            r.singular_name.clone()
        };
        out.push(ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: r.kind.clone(),
            plural: r.name.clone(),
            singular,
            short_names: r.short_names.clone(),
            namespaced: r.namespaced,
            verbs: r.verbs.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_escape_the_path() {
        assert_eq!(segment("web-1"), "web-1");
        assert_eq!(segment("system:node:a"), "system:node:a");
        assert_eq!(segment("../secrets"), "..%2Fsecrets");
        assert_eq!(segment("a b?c"), "a%20b%3Fc");
    }
}
