//! Reading the cluster: paged lists (metadata-only where that is enough) and partial answers
//! when RBAC forbids part of what a command wants to read.

use std::fmt::Debug;

use kube::api::{Api, DynamicObject, ListParams, ObjectList, PartialObjectMeta};
use kube::core::ApiResource;
use serde::de::DeserializeOwned;

use crate::client::Cluster;
use crate::error::Error;

/// Page size of every list: what kubectl uses by default (`--chunk-size=500`).
pub const PAGE_SIZE: u32 = 500;

/// Something a command could not read, and how that limits its answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// What could not be read (`pods in namespace "shop"`).
    pub what: String,
    /// The server's reason, verbatim.
    pub reason: String,
    /// How that limits the result.
    pub effect: String,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not read {}: {}; {}",
            self.what, self.reason, self.effect
        )
    }
}

/// Records a forbidden read as a [`Gap`] and carries on; any other error stops the command.
pub fn tolerate_forbidden<T>(
    res: Result<T, Error>,
    gaps: &mut Vec<Gap>,
    what: impl Into<String>,
    effect: impl Into<String>,
) -> Result<Option<T>, Error> {
    match res {
        Ok(v) => Ok(Some(v)),
        Err(Error::Forbidden(reason)) => {
            gaps.push(Gap {
                what: what.into(),
                reason,
                effect: effect.into(),
            });
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Lists every object through `api` in pages of [`PAGE_SIZE`], handing each page's items to
/// `each` as they arrive so only what `each` keeps stays in memory. Returns the number of
/// requests made.
pub async fn list_paged<K>(
    cluster: &Cluster,
    api: &Api<K>,
    label_selector: Option<&str>,
    mut each: impl FnMut(K),
) -> Result<usize, Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    paged(
        cluster,
        label_selector,
        |lp| async move { api.list(&lp).await },
        |page: ObjectList<K>| {
            let token = page.metadata.continue_.clone();
            page.items.into_iter().for_each(&mut each);
            token
        },
    )
    .await
}

/// Like [`list_paged`] but asks for metadata only (`PartialObjectMetadataList`): the server
/// sends names, labels, annotations and owners, not specs and statuses.
pub async fn list_metadata_paged<K>(
    cluster: &Cluster,
    api: &Api<K>,
    label_selector: Option<&str>,
    mut each: impl FnMut(PartialObjectMeta<K>),
) -> Result<usize, Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    paged(
        cluster,
        label_selector,
        |lp| async move { api.list_metadata(&lp).await },
        |page: ObjectList<PartialObjectMeta<K>>| {
            let token = page.metadata.continue_.clone();
            page.items.into_iter().for_each(&mut each);
            token
        },
    )
    .await
}

async fn paged<P, F, Fut>(
    cluster: &Cluster,
    label_selector: Option<&str>,
    mut fetch: F,
    mut consume: impl FnMut(P) -> Option<String>,
) -> Result<usize, Error>
where
    F: FnMut(ListParams) -> Fut,
    Fut: std::future::Future<Output = Result<P, kube::Error>>,
{
    let mut lp = ListParams::default().limit(PAGE_SIZE);
    if let Some(sel) = label_selector {
        lp = lp.labels(sel);
    }
    let mut requests = 0;
    loop {
        requests += 1;
        let page = fetch(lp.clone()).await.map_err(|e| cluster.err(e))?;
        match consume(page) {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => return Ok(requests),
        }
    }
}

/// An API handle for a dynamic resource, cluster-wide or in one namespace.
pub fn dynamic_api(cluster: &Cluster, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(cluster.client.clone(), ns, ar),
        None => Api::all_with(cluster.client.clone(), ar),
    }
}

/// An API handle for a typed namespaced resource, cluster-wide or in one namespace.
pub fn typed_api<K>(cluster: &Cluster, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    }
}

/// Describes a namespace scope for messages: `cluster-wide` or `in namespace "x"`.
pub fn scope_words(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("in namespace \"{ns}\""),
        None => "cluster-wide".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_reads_become_gaps_and_other_errors_stop() {
        let mut gaps = Vec::new();
        let r: Result<u8, Error> = Err(Error::Forbidden(
            "pods is forbidden: User \"x\" cannot list".into(),
        ));
        assert_eq!(
            tolerate_forbidden(r, &mut gaps, "pods cluster-wide", "membership unknown").unwrap(),
            None
        );
        assert_eq!(gaps.len(), 1);
        assert!(
            gaps[0]
                .to_string()
                .starts_with("could not read pods cluster-wide: pods is forbidden")
        );
        let r: Result<u8, Error> = Err(Error::Other("boom".into()));
        assert!(tolerate_forbidden(r, &mut gaps, "x", "y").is_err());
        let r: Result<u8, Error> = Ok(3);
        assert_eq!(tolerate_forbidden(r, &mut gaps, "x", "y").unwrap(), Some(3));
        assert_eq!(gaps.len(), 1);
    }

    #[test]
    fn scope_words_name_the_namespace() {
        assert_eq!(scope_words(None), "cluster-wide");
        assert_eq!(scope_words(Some("a")), "in namespace \"a\"");
    }
}
