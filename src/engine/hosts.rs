//! DestinationRule host resolution, as Istio does it.
//!
//! Istio expands a host without a dot to `<host>.<rule namespace>.svc.<domain>` and takes any
//! host with a dot literally (`pilot/pkg/model` `ResolveShortnameToFQDN`): `reviews.prod` does
//! not match the Service `reviews` of `prod`, whose host name is
//! `reviews.prod.svc.cluster.local`. `*` matches every host, `*.suffix` every host ending with
//! `.suffix`.

use std::collections::HashMap;

use crate::model::ServiceInfo;

/// The FQDN Istio gives a Kubernetes Service.
pub fn service_fqdn(svc: &ServiceInfo, domain: &str) -> String {
    format!("{}.{}.svc.{}", svc.name, svc.namespace, domain)
}

/// A DestinationRule host as Istio resolves it.
pub fn resolve_host(host: &str, rule_namespace: &str, domain: &str) -> String {
    if host == "*" || host.contains('.') || host.parse::<std::net::IpAddr>().is_ok() {
        host.to_string()
    } else {
        format!("{host}.{rule_namespace}.svc.{domain}")
    }
}

/// Whether a resolved host (maybe a wildcard) matches a Service FQDN.
pub fn host_matches(resolved: &str, fqdn: &str) -> bool {
    if resolved == "*" {
        return true;
    }
    match resolved.strip_prefix('*') {
        Some(suffix) => fqdn.ends_with(suffix) && fqdn.len() > suffix.len(),
        None => resolved.eq_ignore_ascii_case(fqdn),
    }
}

/// Services indexed by FQDN.
#[derive(Debug)]
pub struct ServiceIndex<'a> {
    domain: &'a str,
    by_fqdn: HashMap<String, usize>,
    services: &'a [ServiceInfo],
}

impl<'a> ServiceIndex<'a> {
    /// Indexes services for a cluster domain.
    pub fn new(services: &'a [ServiceInfo], domain: &'a str) -> Self {
        let by_fqdn = services
            .iter()
            .enumerate()
            .map(|(i, s)| (service_fqdn(s, domain), i))
            .collect();
        ServiceIndex {
            domain,
            by_fqdn,
            services,
        }
    }

    /// The services a DestinationRule host designates.
    pub fn lookup(&self, host: &str, rule_namespace: &str) -> Vec<&'a ServiceInfo> {
        let resolved = resolve_host(host, rule_namespace, self.domain);
        if resolved.starts_with('*') {
            let mut v: Vec<&ServiceInfo> = self
                .services
                .iter()
                .filter(|s| host_matches(&resolved, &service_fqdn(s, self.domain)))
                .collect();
            v.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            v
        } else {
            self.by_fqdn
                .get(&resolved.to_ascii_lowercase())
                .map(|&i| vec![&self.services[i]])
                .unwrap_or_default()
        }
    }

    /// For a host written `name.ns` or `name.ns.svc` (which Istio takes literally and which
    /// therefore designates nothing), the Service the author probably meant.
    pub fn probable_service(&self, host: &str) -> Option<&'a ServiceInfo> {
        let parts: Vec<&str> = host.split('.').collect();
        let (name, ns) = match parts.as_slice() {
            [name, ns] | [name, ns, "svc"] => (*name, *ns),
            _ => return None,
        };
        let fqdn = format!("{name}.{ns}.svc.{}", self.domain);
        self.by_fqdn.get(&fqdn).map(|&i| &self.services[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ns: &str, name: &str) -> ServiceInfo {
        ServiceInfo {
            namespace: ns.into(),
            name: name.into(),
            selector: None,
            ports: vec![],
        }
    }

    #[test]
    fn short_names_are_relative_to_the_rule_namespace() {
        assert_eq!(
            resolve_host("reviews", "prod", "cluster.local"),
            "reviews.prod.svc.cluster.local"
        );
        assert_eq!(resolve_host("reviews.prod", "x", "cluster.local"), "reviews.prod");
        assert_eq!(resolve_host("*", "x", "cluster.local"), "*");
        assert_eq!(resolve_host("10.0.0.1", "x", "cluster.local"), "10.0.0.1");
    }

    #[test]
    fn lookup_fqdn_short_and_wildcards() {
        let services = vec![
            svc("prod", "reviews"),
            svc("prod", "ratings"),
            svc("dev", "reviews"),
        ];
        let idx = ServiceIndex::new(&services, "cluster.local");
        let names = |v: Vec<&ServiceInfo>| {
            v.iter()
                .map(|s| format!("{}/{}", s.namespace, s.name))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(idx.lookup("reviews", "prod")), ["prod/reviews"]);
        assert_eq!(names(idx.lookup("reviews", "dev")), ["dev/reviews"]);
        assert_eq!(
            names(idx.lookup("reviews.prod.svc.cluster.local", "dev")),
            ["prod/reviews"]
        );
        assert_eq!(
            names(idx.lookup("*.prod.svc.cluster.local", "dev")),
            ["prod/ratings", "prod/reviews"]
        );
        assert_eq!(idx.lookup("*", "dev").len(), 3);
        assert!(idx.lookup("reviews.prod", "dev").is_empty());
        assert!(idx.lookup("reviews.prod.svc", "dev").is_empty());
        assert_eq!(
            idx.probable_service("reviews.prod").map(|s| s.name.as_str()),
            Some("reviews")
        );
        assert_eq!(
            idx.probable_service("reviews.prod.svc")
                .map(|s| s.namespace.as_str()),
            Some("prod")
        );
        assert!(idx.probable_service("reviews").is_none());
        assert!(host_matches("*.svc.cluster.local", "a.b.svc.cluster.local"));
        assert!(!host_matches("*.b.svc.cluster.local", "b.svc.cluster.local"));
    }
}
