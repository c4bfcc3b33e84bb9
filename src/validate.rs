//! Input checks made before any request (pure): names must be what the API server accepts, so a
//! bad value is one `error:` line with exit 2, never part of a request path.

use crate::error::Error;

fn is_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A namespace given with `flag` (`-n`, `--from-namespace`, `--istio-namespace`): a DNS-1123
/// label of at most 63 characters.
pub fn namespace(flag: &str, value: &str) -> Result<(), Error> {
    if is_label(value, 63) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "invalid namespace name {value:?} for {flag}: a namespace name is at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
    )))
}

/// An Istio revision (`--revision`): it names the ConfigMap `istio-REV`, so a DNS-1123 label
/// short enough for that name.
pub fn revision(value: &str) -> Result<(), Error> {
    if is_label(value, 63 - "istio-".len()) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "invalid revision {value:?} for --revision: a revision is lower-case letters, digits and '-' (it names the ConfigMap istio-REVISION)"
    )))
}

/// An object name (`what` says which: pod, deployment, service): a DNS-1123 subdomain.
pub fn object_name(what: &str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty() && value.len() <= 253 && value.split('.').all(|l| is_label(l, 63));
    if ok {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "invalid {what} name {value:?}: a name is lower-case letters, digits, '-' and '.', at most 253 characters"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_and_bad_names_are_usage_errors() {
        for bad in [
            "x/../istioinaction",
            "",
            "Istio",
            "-a",
            "a-",
            "a b",
            "a.b",
            &"a".repeat(64),
        ] {
            let e = namespace("-n", bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("for -n"), "{e}");
        }
        assert!(namespace("-n", "istioinaction").is_ok());
        assert!(revision("1-24-0").is_ok());
        assert!(revision("canary/../x").is_err());
        assert!(revision(&"a".repeat(58)).is_err());
        assert!(object_name("pod", "web-api-7d9f8b6c5d-x2k4p").is_ok());
        assert!(object_name("pod", "a.b.c").is_ok());
        assert!(object_name("pod", "../etc").is_err());
        assert!(object_name("pod", "Web").is_err());
    }
}
