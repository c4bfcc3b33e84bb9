//! Cluster I/O at the edge: kubeconfig loading the way kubectl does it, the kube-rs client
//! with the global flags applied, a verbose request log, and API discovery for Istio kinds.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};

use crate::error::{Error, chain};

/// A connected cluster: the client plus what the user's flags and kubeconfig decided.
#[derive(Clone)]
pub struct Cluster {
    /// The kube-rs client (with impersonation, timeouts and request logging applied).
    pub client: Client,
    /// The namespace in scope: `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// The API server URL, for messages.
    pub server: String,
    /// The kubeconfig user name, for messages.
    pub user: Option<String>,
    /// The context name in use, if any.
    pub context: Option<String>,
}

impl Cluster {
    /// Turns a kube error into a user-facing error that names this cluster.
    pub fn err(&self, e: kube::Error) -> Error {
        Error::from_kube(e, &self.server, self.user.as_deref())
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .field("user", &self.user)
            .field("context", &self.context)
            .finish()
    }
}

/// Where the kubeconfig came from, for messages.
#[derive(Debug, Clone)]
pub enum KubeconfigSource {
    /// `--kubeconfig PATH`.
    Flag(PathBuf),
    /// `$KUBECONFIG` (the files that existed).
    Env(Vec<PathBuf>),
    /// `~/.kube/config`.
    Home(PathBuf),
}

impl std::fmt::Display for KubeconfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeconfigSource::Flag(p) | KubeconfigSource::Home(p) => write!(f, "{}", p.display()),
            KubeconfigSource::Env(ps) => {
                let names: Vec<String> = ps.iter().map(|p| p.display().to_string()).collect();
                write!(f, "$KUBECONFIG ({})", names.join(", "))
            }
        }
    }
}

fn read_kubeconfig_file(path: &Path) -> Result<Kubeconfig, Error> {
    Kubeconfig::read_from(path).map_err(|e| match e {
        kube::config::KubeconfigError::ReadConfig(io, p) => {
            Error::Kubeconfig(format!("cannot read kubeconfig {}: {io}", p.display()))
        }
        other => Error::Kubeconfig(format!(
            "invalid kubeconfig {}: {}",
            path.display(),
            chain(&other)
        )),
    })
}

/// Loads the kubeconfig like kubectl: `--kubeconfig` (one file, must exist), else every
/// existing file listed in `$KUBECONFIG` merged (first one to set a value wins; missing files
/// are skipped as kubectl does), else `~/.kube/config`. `Ok(None)` when there is none at all.
pub fn load_kubeconfig(flag: Option<&Path>) -> Result<Option<(Kubeconfig, KubeconfigSource)>, Error> {
    if let Some(path) = flag {
        let kc = read_kubeconfig_file(path)?;
        return Ok(Some((kc, KubeconfigSource::Flag(path.to_path_buf()))));
    }
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .collect();
        if !paths.is_empty() {
            let mut merged: Option<Kubeconfig> = None;
            for p in &paths {
                let kc = read_kubeconfig_file(p)?;
                merged = Some(match merged {
                    None => kc,
                    Some(m) => m.merge(kc).map_err(|e| {
                        Error::Kubeconfig(format!("cannot merge kubeconfig {}: {}", p.display(), chain(&e)))
                    })?,
                });
            }
            return Ok(merged.map(|kc| (kc, KubeconfigSource::Env(paths))));
        }
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from);
    if let Some(path) = home.map(|h| h.join(".kube").join("config"))
        && path.exists()
    {
        let kc = read_kubeconfig_file(&path)?;
        return Ok(Some((kc, KubeconfigSource::Home(path))));
    }
    Ok(None)
}

/// How to reach the cluster: kubectl's connection flags as plain data, in the spirit of
/// cli-runtime's ConfigFlags. `cmd` builds it from the global flags, the completion helper from
/// the words typed so far; nothing below `cmd` sees clap's structs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `--kubeconfig` (else $KUBECONFIG, else ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `-n`: overrides the context's namespace.
    pub namespace: Option<String>,
    /// `--request-timeout` (`None`: wait forever).
    pub request_timeout: Option<std::time::Duration>,
    /// `--as`.
    pub as_user: Option<String>,
    /// `--as-group`.
    pub as_group: Vec<String>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `-v` level: 0 off, 6 request lines, 7 adds headers.
    pub verbose: u8,
}

/// Checks that the names the user asked for exist, with kubectl's wording.
fn check_names(kc: &Kubeconfig, g: &ConnectOptions, source: &KubeconfigSource) -> Result<(), Error> {
    let context = g
        .context
        .clone()
        .or_else(|| kc.current_context.clone().filter(|c| !c.is_empty()));
    match &context {
        Some(name) if !kc.contexts.iter().any(|c| &c.name == name) => {
            return Err(Error::Kubeconfig(format!(
                "context \"{name}\" does not exist in {source}"
            )));
        }
        None if g.cluster.is_none() => {
            return Err(Error::Kubeconfig(format!(
                "current-context is not set in {source}; use --context (kubectl config get-contexts lists them)"
            )));
        }
        _ => {}
    }
    if let Some(name) = &g.cluster
        && !kc.clusters.iter().any(|c| &c.name == name)
    {
        return Err(Error::Kubeconfig(format!(
            "cluster \"{name}\" does not exist in {source}"
        )));
    }
    if let Some(name) = &g.user
        && !kc.auth_infos.iter().any(|u| &u.name == name)
    {
        return Err(Error::Kubeconfig(format!(
            "user \"{name}\" does not exist in {source}"
        )));
    }
    Ok(())
}

/// Builds the kube-rs configuration from the kubeconfig and the global flags.
pub async fn config_from_flags(
    g: &ConnectOptions,
) -> Result<(Config, Option<String>, Option<String>), Error> {
    let loaded = load_kubeconfig(g.kubeconfig.as_deref())?;
    let (mut config, context, user) = match loaded {
        Some((kc, source)) => {
            check_names(&kc, g, &source)?;
            let context = g.context.clone().or_else(|| kc.current_context.clone());
            let user = g.user.clone().or_else(|| {
                let ctx = context.as_ref()?;
                kc.contexts
                    .iter()
                    .find(|c| &c.name == ctx)?
                    .context
                    .as_ref()
                    .and_then(|c| c.user.clone())
            });
            let options = KubeConfigOptions {
                context: g.context.clone(),
                cluster: g.cluster.clone(),
                user: g.user.clone(),
            };
            let config = Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| Error::Kubeconfig(format!("invalid kubeconfig {source}: {}", chain(&e))))?;
            (config, context, user)
        }
        None => match Config::incluster() {
            Ok(c) => (c, None, None),
            Err(_) => {
                return Err(Error::Kubeconfig(
                    "no kubeconfig found: set KUBECONFIG, pass --kubeconfig, or create ~/.kube/config".into(),
                ));
            }
        },
    };
    if let Some(ns) = &g.namespace {
        config.default_namespace = ns.clone();
    }
    if let Some(who) = &g.as_user {
        config.auth_info.impersonate = Some(who.clone());
    }
    if !g.as_group.is_empty() {
        if g.as_user.is_none() {
            return Err(Error::Usage(
                "--as-group requires --as (kubectl's rule: a user must be impersonated)".into(),
            ));
        }
        config.auth_info.impersonate_groups = Some(g.as_group.clone());
    }
    if g.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
        config.root_cert = None;
    }
    if let Some(t) = g.request_timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    Ok((config, context, user))
}

/// Connects to the cluster the flags and kubeconfig name. Makes no request.
pub async fn connect(g: &ConnectOptions) -> Result<Cluster, Error> {
    let (config, context, user) = config_from_flags(g).await?;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let namespace = config.default_namespace.clone();
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| Error::Kubeconfig(format!("cannot set up the client: {}", chain(&e))))?;
    let client = builder.with_layer(&LogLayer { level: g.verbose }).build();
    Ok(Cluster {
        client,
        namespace,
        server,
        user,
        context,
    })
}

/// A tower layer that logs each request to stderr when `-v` is given.
#[derive(Debug, Clone, Copy)]
pub struct LogLayer {
    /// 0 off, 6 request lines, 7 adds headers.
    pub level: u8,
}

impl<S> tower::Layer<S> for LogLayer {
    type Service = LogService<S>;
    fn layer(&self, inner: S) -> LogService<S> {
        LogService {
            inner,
            level: self.level,
        }
    }
}

/// The service [`LogLayer`] wraps around the client stack.
#[derive(Debug, Clone)]
pub struct LogService<S> {
    inner: S,
    level: u8,
}

/// Renders a header value for the log, hiding credentials.
pub fn redact_header(name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower == "authorization" || lower == "proxy-authorization" {
        match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} <masked>"),
            None => "<masked>".to_string(),
        }
    } else if lower.contains("token") || lower.contains("cookie") {
        "<masked>".to_string()
    } else {
        value.to_string()
    }
}

impl<S, ReqB, ResB> tower::Service<http::Request<ReqB>> for LogService<S>
where
    S: tower::Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        let level = self.level;
        let line = format!("{} {}", req.method(), req.uri());
        if level >= 7 {
            for (name, value) in req.headers() {
                let v = value.to_str().unwrap_or("<binary>");
                eprintln!("I request header {}: {}", name, redact_header(name.as_str(), v));
            }
        }
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            if level >= 6 {
                let ms = start.elapsed().as_millis();
                match &res {
                    Ok(r) => {
                        eprintln!("I {line} {} in {ms} milliseconds", r.status());
                        if level >= 7 {
                            for (name, value) in r.headers() {
                                let v = value.to_str().unwrap_or("<binary>");
                                eprintln!("I response header {}: {}", name, redact_header(name.as_str(), v));
                            }
                        }
                    }
                    Err(e) => eprintln!("I {line} failed in {ms} milliseconds: {e}"),
                }
            }
            res
        })
    }
}

/// The Istio APIs this cluster serves, found by discovery.
#[derive(Debug, Clone, Default)]
pub struct IstioApis {
    /// PeerAuthentication at the preferred served version (v1, else v1beta1).
    pub peer_authentication: Option<ApiResource>,
    /// DestinationRule at the preferred served version (v1, v1beta1, v1alpha3).
    pub destination_rule: Option<ApiResource>,
}

/// Picks the first version in `preference` that `served` lists.
pub fn pick_version<'a>(served: &[String], preference: &[&'a str]) -> Option<&'a str> {
    preference.iter().copied().find(|v| served.iter().any(|s| s == v))
}

/// Asks the server which Istio versions it serves: one request for the group list, then one
/// per chosen group-version to confirm the resource is there.
pub async fn discover_istio(cluster: &Cluster) -> Result<IstioApis, Error> {
    let groups = cluster
        .client
        .list_api_groups()
        .await
        .map_err(|e| cluster.err(e))?;
    let mut apis = IstioApis::default();
    for group in &groups.groups {
        let served: Vec<String> = group.versions.iter().map(|v| v.version.clone()).collect();
        let (kind, plural, preference): (&str, &str, &[&str]) = match group.name.as_str() {
            "security.istio.io" => ("PeerAuthentication", "peerauthentications", &["v1", "v1beta1"]),
            "networking.istio.io" => (
                "DestinationRule",
                "destinationrules",
                &["v1", "v1beta1", "v1alpha3"],
            ),
            _ => continue,
        };
        // Try the preferred versions in order; a version may be served without the kind.
        for version in preference.iter().filter(|v| served.iter().any(|s| s == *v)) {
            let gv = format!("{}/{}", group.name, version);
            let resources = match cluster.client.list_api_group_resources(&gv).await {
                Ok(r) => r,
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(cluster.err(e)),
            };
            if resources.resources.iter().any(|r| r.name == plural) {
                let gvk = GroupVersionKind::gvk(&group.name, version, kind);
                let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
                if kind == "PeerAuthentication" {
                    apis.peer_authentication = Some(ar);
                } else {
                    apis.destination_rule = Some(ar);
                }
                break;
            }
        }
    }
    Ok(apis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_log() {
        assert_eq!(
            redact_header("Authorization", "Bearer abc.def"),
            "Bearer <masked>"
        );
        assert_eq!(redact_header("authorization", "abc"), "<masked>");
        assert_eq!(redact_header("X-Auth-Token", "abc"), "<masked>");
        assert_eq!(redact_header("Accept", "application/json"), "application/json");
    }

    #[test]
    fn versions_are_picked_by_preference() {
        let served = vec!["v1beta1".to_string(), "v1".to_string()];
        assert_eq!(pick_version(&served, &["v1", "v1beta1"]), Some("v1"));
        let served = vec!["v1beta1".to_string()];
        assert_eq!(pick_version(&served, &["v1", "v1beta1"]), Some("v1beta1"));
        assert_eq!(pick_version(&[], &["v1"]), None);
    }
}
