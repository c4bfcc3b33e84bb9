//! The krew distribution of kubectl-mtls, checked against krew's own rules.
//!
//! Checked here:
//! - `plugin.yaml` (repository root) and a rendering of the krew-release-bot
//!   template `krew/.krew.yaml`, against the structural validation of krew
//!   (kubernetes-sigs/krew `internal/index/validation`: apiVersion, kind,
//!   plugin name, version, platforms, sha256, bin, files, selectors), the
//!   checks of krew-index's `validate-krew-manifest` (every platform selects a
//!   supported os/arch, no two select the same one, line lengths, a LICENSE
//!   installed) and the release rules of this project (the six platforms, the
//!   archive names, `.exe` on windows, the completion helper, short
//!   description, version equal to Cargo.toml's);
//! - that `plugin.yaml` is exactly the template rendered for this version;
//! - the archives `krew/package.sh` packs (from stand-in binaries), by
//!   replaying krew's `files` operations on them and finding `bin` after;
//! - `krew/render-manifest.sh`, against a Rust rendering that follows the bot.
//!
//! Every violation message quotes the words of the rule it breaks.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The only apiVersion krew accepts (krew `pkg/constants.CurrentAPIVersion`).
const KREW_API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";
/// The plugin name; krew-index stores the manifest as `plugins/mtls.yaml`.
const PLUGIN_NAME: &str = "mtls";
/// The plugin executable, as kubectl looks it up for `kubectl mtls`.
const BIN: &str = "kubectl-mtls";
/// kubectl (1.26+) runs this executable for `kubectl mtls` shell completion.
const COMPLETION_BIN: &str = "kubectl_complete-mtls";
const REPOSITORY: &str = "https://github.com/kubectl-mtls/kubectl-mtls";
/// The six (os, arch) pairs the release ships, in krew's (Go) names.
const RELEASE_PLATFORMS: [(&str, &str); 6] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
    ("windows", "arm64"),
];
/// The pairs validate-krew-manifest knows (its `allPlatforms`).
const KREW_SUPPORTED_PLATFORMS: [(&str, &str); 11] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];
/// Names krew refuses as plugin names (Windows reserved device names).
const WINDOWS_FORBIDDEN: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
    "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];
/// File names validate-krew-manifest accepts as the installed license.
const LICENSE_FILES: [&str; 8] = [
    "license",
    "license.txt",
    "license.md",
    "licenses",
    "licenses.txt",
    "licenses.md",
    "copying",
    "copying.txt",
];
/// The checksum plugin.yaml carries for an archive that does not exist yet
/// (krew/render-manifest.sh --allow-missing). Not all digits: YAML would read
/// that as a number, which krew cannot decode into its sha256 string.
const PLACEHOLDER_SHA256: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_repo_file(rel: &str) -> String {
    let path = repo_root().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The release tag of this crate version: `v` + Cargo.toml's version.
fn release_tag() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

fn parse_yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str::<Value>(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn assert_no_violations(what: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{what} breaks {} rule(s):\n  - {}",
        violations.len(),
        violations.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------
// The krew-release-bot template language.
// ---------------------------------------------------------------------------

/// Renders a krew-release-bot template as the bot does (Go text/template with
/// the bot's two functions): `{{ .TagName }}` is the tag, and
/// `{{ addURIAndSha "URL" .TagName }}` (optionally `| indent N`) becomes
/// `uri: URL` and, on the next line, `    sha256: SHA`, where URL is itself a
/// template of `.TagName` and `.Version` (the tag's version numbers) and SHA is
/// what `sha_for(URL)` returns. Any other action is an error, so a template the
/// bot could render differently is never accepted silently.
fn render_bot_template(
    template: &str,
    tag: &str,
    sha_for: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let (action, after) = split_action(&rest[start + 2..])?;
        out.push_str(&eval_action(action, tag, sha_for)?);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits `action }}rest` at the closing `}}` that is outside a quoted string.
fn split_action(text: &str) -> Result<(&str, &str), String> {
    let bytes = text.as_bytes();
    let mut in_quote = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'}' if !in_quote && bytes.get(i + 1) == Some(&b'}') => return Ok((&text[..i], &text[i + 2..])),
            _ => {}
        }
        i += 1;
    }
    Err(format!(
        "unterminated template action: {{{{{}",
        text.lines().next().unwrap_or("")
    ))
}

fn eval_action(
    action: &str,
    tag: &str,
    sha_for: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let trimmed = action.trim();
    if action.starts_with('-') || action.ends_with('-') {
        return Err(format!(
            "unsupported template action (whitespace trimming): {{{{{action}}}}}"
        ));
    }
    if trimmed == ".TagName" {
        return Ok(tag.to_string());
    }
    let Some(args) = trimmed.strip_prefix("addURIAndSha") else {
        return Err(format!(
            "unsupported template action {{{{{action}}}}}: the bot only provides .TagName and addURIAndSha"
        ));
    };
    let args = args.trim_start();
    let unsupported = || format!("unsupported addURIAndSha call: {{{{{action}}}}}");
    let url_template = args.strip_prefix('"').ok_or_else(unsupported)?;
    let close = url_template.find('"').ok_or_else(unsupported)?;
    let (url_template, after) = (&url_template[..close], url_template[close + 1..].trim());
    let after = after.strip_prefix(".TagName").ok_or_else(unsupported)?.trim();
    let indent = match after {
        "" => None,
        pipe => {
            let n = pipe
                .strip_prefix('|')
                .and_then(|p| p.trim().strip_prefix("indent"))
                .ok_or_else(unsupported)?;
            Some(n.trim().parse::<usize>().map_err(|_| unsupported())?)
        }
    };
    let url = render_url(url_template, tag)?;
    let value = format!("uri: {url}\n    sha256: {}", sha_for(&url)?);
    Ok(match indent {
        None => value,
        // The bot's `indent`: drop the legacy 4-space indent of sha256, then
        // indent every following line by N spaces.
        Some(n) => {
            let pad = " ".repeat(n);
            let v = value.replace("    sha256:", "sha256:");
            format!("{pad}{}", v.replace('\n', &format!("\n{pad}")))
                .trim()
                .to_string()
        }
    })
}

/// The URL argument of addURIAndSha: a template of `.TagName` and `.Version`.
fn render_url(url_template: &str, tag: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = url_template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("unterminated action in {url_template}"))?;
        match rest[start + 2..start + end].trim() {
            ".TagName" => out.push_str(tag),
            ".Version" => out.push_str(&version_of_tag(tag)),
            other => {
                return Err(format!(
                    "unsupported action {{{{{other}}}}} in URL {url_template}"
                ));
            }
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The bot's `extractVersionFromTag`: the first `\d+(\.\d+)+` of the tag.
fn version_of_tag(tag: &str) -> String {
    let b = tag.as_bytes();
    for start in 0..b.len() {
        if !b[start].is_ascii_digit() || (start > 0 && b[start - 1].is_ascii_digit()) {
            continue;
        }
        let mut end = start;
        let mut dots = 0;
        loop {
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
                dots += 1;
                end += 1;
            } else {
                break;
            }
        }
        if dots > 0 {
            return tag[start..end].to_string();
        }
    }
    tag.to_string()
}

// ---------------------------------------------------------------------------
// Manifest rules.
// ---------------------------------------------------------------------------

/// Collects violations, each quoting the rule's words and naming its source.
#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    /// A rule of krew itself (validation, validate-krew-manifest, installer).
    fn krew(&mut self, rule: &str, detail: impl std::fmt::Display) {
        self.0.push(format!("krew rule \"{rule}\": {detail}"));
    }
    /// A rule of this project's release.
    fn release(&mut self, rule: &str, detail: impl std::fmt::Display) {
        self.0.push(format!("release rule \"{rule}\": {detail}"));
    }
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Fields krew's types know (pkg/index/types.go); anything else is ignored by
/// krew, so a misspelt key would silently drop a setting.
fn check_known_fields(v: &Value, at: &str, known: &[&str], out: &mut Violations) {
    if let Some(map) = v.as_object() {
        for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
            out.release(
                "only fields krew knows (pkg/index/types.go), no unknown field",
                format!("unknown field `{at}{key}`"),
            );
        }
    }
}

/// Go's `filepath.Clean` for slash-separated paths.
fn clean_path(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// True when the relative path stays inside the directory it is joined to.
fn stays_inside(p: &str) -> bool {
    let c = clean_path(p);
    !(c.starts_with('/') || c == ".." || c.starts_with("../") || c.contains(':') || c.contains('\\'))
}

/// k8s.io/apimachinery `ParseSemantic` after krew's leading-`v` check.
fn krew_semver_error(version: &str) -> Option<String> {
    let Some(rest) = version.strip_prefix('v') else {
        return Some(format!("version string {version:?} not starting with 'v'"));
    };
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| numeric(p)) {
        return Some(format!("could not parse {version:?} as MAJOR.MINOR.PATCH"));
    }
    if parts.iter().any(|p| p.len() > 1 && p.starts_with('0')) {
        return Some(format!("illegal zero-prefixed version component in {version:?}"));
    }
    if let Some(pre) = pre {
        for id in pre.split('.') {
            if !ident(id) || (numeric(id) && id.len() > 1 && id.starts_with('0')) {
                return Some(format!("illegal pre-release identifier {id:?} in {version:?}"));
            }
        }
    }
    if let Some(build) = build
        && !build.split('.').all(ident)
    {
        return Some(format!("illegal build metadata in {version:?}"));
    }
    None
}

/// Whether a krew platform selector (a metav1.LabelSelector) selects os/arch.
fn selector_matches(selector: &Value, os: &str, arch: &str) -> bool {
    let label = |k: &str| match k {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| {
            m.iter()
                .all(|(k, v)| label(k).is_some_and(|l| v.as_str() == Some(l)))
        });
    let exprs_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let have = get_str(e, "key").and_then(label);
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                match get_str(e, "operator") {
                    Some("In") => have.is_some_and(|h| values.contains(&h)),
                    Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
                    Some("Exists") => have.is_some(),
                    Some("DoesNotExist") => have.is_none(),
                    _ => false,
                }
            })
        });
    labels_ok && exprs_ok
}

/// krew's line-length check: a line may exceed `max` only if it is one word.
fn long_lines(text: &str, max: usize) -> Vec<String> {
    text.lines()
        .filter(|l| l.chars().count() > max && l.trim().contains(' '))
        .map(|l| format!("{} characters: {l:?}", l.chars().count()))
        .collect()
}

/// krew decodes the manifest into Go structs: a field of type string that
/// YAML reads as a number or a boolean (an all-digit sha256, `version: 1.0`)
/// fails the whole decoding.
fn check_string_fields(v: &Value, at: &str, fields: &[&str], out: &mut Violations) {
    for field in fields {
        match v.get(*field) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => out.krew(
                "cannot unmarshal into Go struct field of type string",
                format!("`{at}{field}` is read by YAML as {other}, not a string (quote it)"),
            ),
        }
    }
}

/// Checks a parsed manifest against krew's rules, as krew-index would see it
/// in `plugins/<file_plugin_name>.yaml`.
fn krew_violations(m: &Value, file_plugin_name: &str) -> Vec<String> {
    let mut out = Violations::default();
    check_known_fields(m, "", &["apiVersion", "kind", "metadata", "spec"], &mut out);
    check_string_fields(m, "", &["apiVersion", "kind"], &mut out);

    // internal/index/validation.ValidatePlugin
    let api_version = get_str(m, "apiVersion").unwrap_or("");
    if api_version != KREW_API_VERSION {
        out.krew(
            "plugin manifest has apiVersion=%q, not supported in this version of krew",
            format!("apiVersion={api_version:?}, expected {KREW_API_VERSION:?}"),
        );
    }
    let kind = get_str(m, "kind").unwrap_or("");
    if kind != "Plugin" {
        out.krew(
            "plugin manifest has kind=%q, but only \"Plugin\" is supported",
            format!("kind={kind:?}"),
        );
    }
    let safe_name = !file_plugin_name.is_empty()
        && file_plugin_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !WINDOWS_FORBIDDEN
            .iter()
            .any(|f| f.eq_ignore_ascii_case(file_plugin_name));
    if !safe_name {
        out.krew(
            "the plugin name %q is not allowed, must match \"^[\\w-]+$\"",
            format!("name {file_plugin_name:?}"),
        );
    }
    let metadata = m.get("metadata").cloned().unwrap_or(Value::Null);
    let name = get_str(&metadata, "name").unwrap_or("");
    if name != file_plugin_name {
        out.krew(
            "plugin should be named %q, not %q",
            format!("expected {file_plugin_name:?}, got {name:?}"),
        );
    }
    let spec = m.get("spec").cloned().unwrap_or(Value::Null);
    check_known_fields(
        &spec,
        "spec.",
        &[
            "version",
            "shortDescription",
            "description",
            "caveats",
            "homepage",
            "platforms",
        ],
        &mut out,
    );
    check_string_fields(
        &spec,
        "spec.",
        &[
            "version",
            "shortDescription",
            "description",
            "caveats",
            "homepage",
        ],
        &mut out,
    );
    let short = get_str(&spec, "shortDescription").unwrap_or("");
    if short.is_empty() {
        out.krew(
            "should have a short description",
            "spec.shortDescription is empty or missing",
        );
    }
    if short.contains(['\r', '\n']) {
        out.krew(
            "should not have line breaks in short description",
            format!("{short:?}"),
        );
    }
    let platforms = spec
        .get("platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if platforms.is_empty() {
        out.krew(
            "should have a platform specified",
            "spec.platforms is empty or missing",
        );
    }
    let version = get_str(&spec, "version").unwrap_or("");
    if version.is_empty() {
        out.krew(
            "should have a version specified",
            "spec.version is empty or missing",
        );
    } else if let Some(err) = krew_semver_error(version) {
        out.krew("failed to parse plugin version", err);
    }

    for (i, p) in platforms.iter().enumerate() {
        let at = format!("spec.platforms[{i}]");
        check_known_fields(
            p,
            &format!("{at}."),
            &["uri", "sha256", "selector", "files", "license", "bin"],
            &mut out,
        );
        check_string_fields(
            p,
            &format!("{at}."),
            &["uri", "sha256", "bin", "license"],
            &mut out,
        );
        for (j, op) in p
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_string_fields(op, &format!("{at}.files[{j}]."), &["from", "to"], &mut out);
        }
        // validatePlatform
        let uri = get_str(p, "uri").unwrap_or("");
        if uri.is_empty() {
            out.krew("`uri` has to be set", &at);
        } else if !uri.starts_with("https://") || !(uri.ends_with(".tar.gz") || uri.ends_with(".zip")) {
            out.krew(
                "uri: an https URL of a .tar.gz or .zip archive (the formats krew unpacks)",
                format!("{at}.uri = {uri:?}"),
            );
        }
        let sha = get_str(p, "sha256").unwrap_or("");
        if sha.is_empty() {
            out.krew("`sha256` sum has to be set", &at);
        } else if !(sha.len() == 64
            && sha
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            out.krew(
                "`sha256` value %s is not valid, must match pattern ^[a-f0-9]{64}$",
                format!("{at}.sha256 = {sha:?}"),
            );
        }
        let bin = get_str(p, "bin").unwrap_or("");
        if bin.is_empty() {
            out.krew("`bin` has to be set", &at);
        } else if !stays_inside(bin) {
            out.krew(
                "the fullPath %q does not extend the sub-fullPath %q",
                format!("{at}.bin = {bin:?} leaves the installation directory"),
            );
        }
        match p.get("files") {
            None | Some(Value::Null) => {}
            Some(Value::Array(ops)) if ops.is_empty() => out.krew(
                "`files` has to be unspecified or non-empty",
                format!("{at}.files = []"),
            ),
            Some(Value::Array(ops)) => {
                for (j, op) in ops.iter().enumerate() {
                    let from = get_str(op, "from").unwrap_or("");
                    let to = get_str(op, "to").unwrap_or("");
                    if from.is_empty() {
                        out.krew("`from` field has to be set", format!("{at}.files[{j}]"));
                    }
                    if to.is_empty() {
                        out.krew("`to` field has to be set", format!("{at}.files[{j}]"));
                    } else if clean_path(to) != to {
                        out.krew(
                            "the provided path is not clean, %q should be %q",
                            format!("{at}.files[{j}].to = {to:?} should be {:?}", clean_path(to)),
                        );
                    } else if !stays_inside(to) {
                        out.krew(
                            "can't move, move target %v is out of bounds",
                            format!("{at}.files[{j}].to = {to:?}"),
                        );
                    }
                    if !from.is_empty() && !stays_inside(from) {
                        out.krew(
                            "can't move, move target %v is out of bounds",
                            format!("{at}.files[{j}].from = {from:?}"),
                        );
                    }
                }
            }
            Some(other) => out.krew("`files` is invalid", format!("{at}.files is {other}")),
        }
        // validateSelector
        match p.get("selector") {
            None | Some(Value::Null) => out.krew("nil selector is not supported", &at),
            Some(sel) => {
                let labels = sel.get("matchLabels");
                let exprs = sel.get("matchExpressions");
                let labels_map = labels.and_then(Value::as_object);
                let exprs_list = exprs.and_then(Value::as_array);
                if labels_map.is_none() && exprs_list.is_none_or(|e| e.is_empty()) {
                    out.krew("empty selector is not supported", &at);
                }
                let keys = labels_map.into_iter().flat_map(|m| m.keys().cloned()).chain(
                    exprs_list
                        .into_iter()
                        .flatten()
                        .filter_map(|e| get_str(e, "key").map(String::from)),
                );
                for key in keys.filter(|k| k != "os" && k != "arch") {
                    out.krew("key %q not supported", format!("{at}.selector key {key:?}"));
                }
                if labels_map.is_some_and(|m| m.is_empty()) {
                    out.krew("`matchLabels` specified but empty", &at);
                }
                if exprs_list.is_some_and(|e| e.is_empty()) {
                    out.krew("`matchExpressions` specified but empty", &at);
                }
                // validate-krew-manifest: every platform is used.
                if !KREW_SUPPORTED_PLATFORMS
                    .iter()
                    .any(|(os, arch)| selector_matches(sel, os, arch))
                {
                    out.krew(
                        "spec.platform[%d]'s selector (%v) doesn't match any supported platforms",
                        format!("{at}.selector = {sel}"),
                    );
                }
            }
        }
    }
    // validate-krew-manifest: no os/arch selected by two platforms.
    for (os, arch) in KREW_SUPPORTED_PLATFORMS {
        let hits: Vec<usize> = platforms
            .iter()
            .enumerate()
            .filter(|(_, p)| p.get("selector").is_some_and(|s| selector_matches(s, os, arch)))
            .map(|(i, _)| i)
            .collect();
        if hits.len() > 1 {
            out.krew(
                "multiple spec.platforms (at indexes %v) have overlapping selectors that select %s",
                format!("indexes {hits:?} select os={os}/arch={arch}"),
            );
        }
    }
    // validate-krew-manifest: line lengths.
    for (field, max) in [("description", 80), ("shortDescription", 70), ("caveats", 80)] {
        for line in long_lines(get_str(&spec, field).unwrap_or(""), max) {
            out.krew(
                &format!("line length in `{field}` exceeds {max} characters"),
                line,
            );
        }
    }
    out.0
}

/// This project's release rules for the manifest of `version` (a tag).
fn release_violations(m: &Value, version: &str) -> Vec<String> {
    let mut out = Violations::default();
    let spec = m.get("spec").cloned().unwrap_or(Value::Null);
    let got_version = get_str(&spec, "version").unwrap_or("");
    if got_version != version {
        out.release(
            "`spec.version` a v-prefixed semver matching Cargo.toml's version",
            format!("spec.version = {got_version:?}, Cargo.toml gives {version:?}"),
        );
    }
    let homepage = get_str(&spec, "homepage").unwrap_or("");
    if homepage != REPOSITORY {
        out.release(
            concat!(
                "`homepage`: the repository URL (krew-release-bot's ownership check: ",
                "\"plugin homepage %s does not have prefix https://github.com/<owner>/\")"
            ),
            format!("homepage = {homepage:?}, expected {REPOSITORY:?}"),
        );
    }
    let short = get_str(&spec, "shortDescription").unwrap_or("");
    if short.chars().count() > 50 {
        out.release(
            "`shortDescription` at most 50 characters",
            format!("{} characters: {short:?}", short.chars().count()),
        );
    }
    if short.to_ascii_lowercase().contains("kubectl") {
        out.release(
            "`shortDescription` without the word \"kubectl\"",
            format!("{short:?}"),
        );
    }
    let description = get_str(&spec, "description").unwrap_or("");
    if description.trim().is_empty() {
        out.release(
            "`description` wrapped at 80 columns without usage examples",
            "description is empty",
        );
    }
    for line in description.lines() {
        if line.chars().count() > 80 {
            out.release(
                "`description` wrapped at 80 columns",
                format!("{} columns: {line:?}", line.chars().count()),
            );
        }
        let lower = line.trim().to_ascii_lowercase();
        let example = lower.starts_with("$ ")
            || lower.starts_with("```")
            || lower.starts_with("usage:")
            || lower.starts_with("example")
            || lower.contains("kubectl mtls")
            || lower.contains("kubectl-mtls ");
        if example {
            out.release("`description` without usage examples", format!("{line:?}"));
        }
    }
    for line in get_str(&spec, "caveats").unwrap_or("").lines() {
        if line.chars().count() > 80 {
            out.release(
                "`caveats` wrapped at 80 columns",
                format!("{} columns: {line:?}", line.chars().count()),
            );
        }
    }

    let platforms = spec
        .get("platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut covered: Vec<(String, String)> = Vec::new();
    for (i, p) in platforms.iter().enumerate() {
        let at = format!("spec.platforms[{i}]");
        let labels = p
            .get("selector")
            .and_then(|s| s.get("matchLabels"))
            .and_then(Value::as_object);
        let only_labels = p
            .get("selector")
            .and_then(Value::as_object)
            .is_some_and(|s| s.keys().all(|k| k == "matchLabels"));
        let os = labels.and_then(|l| l.get("os")).and_then(Value::as_str);
        let arch = labels.and_then(|l| l.get("arch")).and_then(Value::as_str);
        let (Some(os), Some(arch), true, Some(2)) = (os, arch, only_labels, labels.map(|l| l.len())) else {
            out.release(
                "`selector.matchLabels` on `os` and `arch` only",
                format!("{at}.selector = {}", p.get("selector").unwrap_or(&Value::Null)),
            );
            continue;
        };
        covered.push((os.to_string(), arch.to_string()));
        if !RELEASE_PLATFORMS.contains(&(os, arch)) {
            out.release(
                "platforms linux/darwin/windows x amd64/arm64",
                format!("{at} selects os={os}/arch={arch}, not a release platform"),
            );
            continue;
        }
        let windows = os == "windows";
        let exe = if windows { ".exe" } else { "" };
        let ext = if windows { "zip" } else { "tar.gz" };
        let want_uri =
            format!("{REPOSITORY}/releases/download/{version}/kubectl-mtls_{version}_{os}_{arch}.{ext}");
        let uri = get_str(p, "uri").unwrap_or("");
        if uri != want_uri {
            out.release(
                concat!(
                    "Release archive names: `kubectl-mtls_v<version>_<os>_<arch>.tar.gz` (linux/darwin) ",
                    "and `.zip` for windows, as GitHub release assets"
                ),
                format!("{at}.uri = {uri:?}, expected {want_uri:?}"),
            );
        }
        let bin = get_str(p, "bin").unwrap_or("");
        if bin != format!("{BIN}{exe}") {
            out.release(
                "`bin` (`kubectl-mtls` / `kubectl-mtls.exe` on windows)",
                format!("{at} ({os}) has bin = {bin:?}"),
            );
        }
        let froms: Vec<&str> = p
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|op| get_str(op, "from"))
            .collect();
        for needed in [
            format!("{BIN}{exe}"),
            format!("{COMPLETION_BIN}{exe}"),
            "LICENSE".to_string(),
        ] {
            if !froms.contains(&needed.as_str()) {
                out.release(
                    "`files` copying the binary, the completion binary and LICENSE",
                    format!("{at} ({os}/{arch}) has no `from: {needed}`"),
                );
            }
        }
    }
    for (os, arch) in RELEASE_PLATFORMS {
        let n = covered.iter().filter(|(o, a)| o == os && a == arch).count();
        if n != 1 {
            out.release(
                "platforms linux/darwin/windows x amd64/arm64, each covered exactly once",
                format!("os={os}/arch={arch} is covered {n} times"),
            );
        }
    }
    out.0
}

fn all_violations(m: &Value, version: &str) -> Vec<String> {
    let mut v = krew_violations(m, PLUGIN_NAME);
    v.extend(release_violations(m, version));
    v
}

// ---------------------------------------------------------------------------
// Archives and krew's installation of them.
// ---------------------------------------------------------------------------

/// Replays krew's installation (internal/installation: moveToInstallDir, then
/// the `bin` link) on the regular files of an unpacked archive and returns the
/// files of the installation directory.
fn krew_install(archive_files: &BTreeSet<String>, platform: &Value) -> Result<BTreeSet<String>, String> {
    let mut staging = archive_files.clone();
    let mut installed = BTreeSet::new();
    let default_ops = json!([{ "from": "*", "to": "." }]);
    let ops = match platform.get("files") {
        None | Some(Value::Null) => &default_ops,
        Some(ops) => ops,
    };
    for op in ops.as_array().ok_or("`files` is invalid: not a list")? {
        let from = get_str(op, "from").ok_or("`from` field has to be set")?;
        let to = get_str(op, "to").ok_or("`to` field has to be set")?;
        if clean_path(to) != to {
            return Err(format!(
                "the provided path is not clean, {to:?} should be {:?}",
                clean_path(to)
            ));
        }
        if !stays_inside(to) || !stays_inside(from) {
            return Err(format!(
                "can't move, move target {from:?} -> {to:?} is out of bounds"
            ));
        }
        // A `from` naming a file or directory of the archive moves it directly.
        let direct = clean_path(from);
        let under_dir = |f: &String| f.starts_with(&format!("{direct}/"));
        let moves: Vec<(String, String)> = if staging.contains(&direct) {
            let target = if to == "." {
                base_name(&direct).to_string()
            } else {
                to.to_string()
            };
            vec![(direct.clone(), target)]
        } else if staging.iter().any(under_dir) {
            let target = if to == "." {
                base_name(&direct).to_string()
            } else {
                to.to_string()
            };
            staging
                .iter()
                .filter(|f| under_dir(f))
                .map(|f| (f.clone(), format!("{target}{}", &f[direct.len()..])))
                .collect()
        } else {
            // Otherwise `from` is a glob over the archive (filepath.Glob): each
            // match keeps its base name under the `to` directory.
            let mut moves = Vec::new();
            for entry in top_entries(&staging, from.matches('/').count() + 1) {
                if glob_match(from, &entry)? {
                    let target = clean_path(&format!("{to}/{}", base_name(&entry)));
                    for f in staging
                        .iter()
                        .filter(|f| **f == entry || f.starts_with(&format!("{entry}/")))
                    {
                        moves.push((f.clone(), format!("{target}{}", &f[entry.len()..])));
                    }
                }
            }
            if moves.is_empty() {
                return Err(format!(
                    "no files in the plugin archive matched the glob pattern={from}"
                ));
            }
            moves
        };
        for (src, dst) in moves {
            staging.remove(&src);
            installed.insert(clean_path(&dst));
        }
    }
    let bin = get_str(platform, "bin").ok_or("`bin` has to be set")?;
    if !stays_inside(bin) {
        return Err(format!(
            "the fullPath {bin:?} does not extend the sub-fullPath of the installation"
        ));
    }
    if !installed.contains(&clean_path(bin)) {
        return Err(format!(
            "can't create symbolic link, source binary ({bin:?}) cannot be found in extracted archive \
             (installed: {installed:?})"
        ));
    }
    if !installed
        .iter()
        .any(|f| LICENSE_FILES.contains(&base_name(f).to_ascii_lowercase().as_str()))
    {
        return Err(format!(
            "LICENSE (or alike) file is not extracted from the archive as part of installation \
             (installed: {installed:?})"
        ));
    }
    Ok(installed)
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The paths (files and implied directories) with exactly `depth` components.
fn top_entries(files: &BTreeSet<String>, depth: usize) -> BTreeSet<String> {
    files
        .iter()
        .filter_map(|f| {
            let parts: Vec<&str> = f.split('/').collect();
            (parts.len() >= depth).then(|| parts[..depth].join("/"))
        })
        .collect()
}

/// Go's filepath.Match for `*` and `?` (other syntax is refused, not guessed).
fn glob_match(pattern: &str, name: &str) -> Result<bool, String> {
    if pattern.contains(['[', '\\']) {
        return Err(format!(
            "glob pattern {pattern:?} uses syntax this check does not model"
        ));
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (n.first().is_some_and(|c| *c != b'/') && go(p, &n[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    Ok(go(pattern.as_bytes(), name.as_bytes()))
}

/// One member of a release archive.
#[derive(Debug)]
struct Member {
    path: String,
    regular_file: bool,
    /// Unix permission bits when the archive records them.
    mode: Option<u32>,
}

fn read_tar_gz(path: &Path) -> Vec<Member> {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap_or_else(|e| panic!("{} is not a tar.gz archive: {e}", path.display()))
        .map(|entry| {
            let entry = entry.unwrap_or_else(|e| panic!("bad entry in {}: {e}", path.display()));
            let header = entry.header();
            Member {
                path: entry.path().expect("entry path").to_string_lossy().into_owned(),
                regular_file: header.entry_type().is_file(),
                mode: header.mode().ok(),
            }
        })
        .collect()
}

/// Lists a zip archive from its central directory (PKWARE APPNOTE 4.3.12/16).
fn read_zip(path: &Path) -> Vec<Member> {
    let mut data = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let eocd = (0..=data.len().saturating_sub(22))
        .rev()
        .find(|&i| data[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .unwrap_or_else(|| panic!("{} has no zip end-of-central-directory record", path.display()));
    let count = u16_at(eocd + 10);
    let mut at = u32_at(eocd + 16) as usize;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(
            data[at..at + 4],
            [0x50, 0x4b, 0x01, 0x02],
            "bad central directory in {}",
            path.display()
        );
        let made_by_unix = data[at + 5] == 3;
        let (name_len, extra_len, comment_len) = (u16_at(at + 28), u16_at(at + 30), u16_at(at + 32));
        let external = u32_at(at + 38);
        let name = String::from_utf8_lossy(&data[at + 46..at + 46 + name_len]).into_owned();
        members.push(Member {
            regular_file: !name.ends_with('/'),
            mode: made_by_unix.then_some((external >> 16) & 0o7777),
            path: name,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    members
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("kubectl-mtls-{label}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn have_command(name: &str) -> bool {
    Command::new(name).arg("--help").output().is_ok()
}

/// A copy of the files krew/package.sh and krew/render-manifest.sh read, so
/// the scripts run on stand-in binaries without touching the repository.
fn scratch_repo(scratch: &Scratch) -> PathBuf {
    let repo = scratch.0.join("repo");
    fs::create_dir_all(repo.join("krew")).expect("create scratch repo");
    for rel in [
        "Cargo.toml",
        "LICENSE",
        "krew/package.sh",
        "krew/render-manifest.sh",
        "krew/.krew.yaml",
    ] {
        fs::copy(repo_root().join(rel), repo.join(rel)).unwrap_or_else(|e| panic!("copy {rel}: {e}"));
    }
    let readme = repo_root().join("README.md");
    if readme.is_file() {
        fs::copy(&readme, repo.join("README.md")).expect("copy README.md");
    } else {
        eprintln!("note: README.md is not in the repository yet; the layout test packs a stand-in README.md");
        fs::write(
            repo.join("README.md"),
            "stand-in README for the archive layout test\n",
        )
        .expect("README");
    }
    repo
}

/// Stand-in executables for the layout test only: small scripts, NOT the real
/// kubectl-mtls binaries (those come from `cargo build --release`).
fn stand_in_binaries(scratch: &Scratch) -> PathBuf {
    let dir = scratch.0.join("stand-in-bin");
    fs::create_dir_all(&dir).expect("create stand-in dir");
    for name in [BIN, COMPLETION_BIN] {
        for exe in ["", ".exe"] {
            let body = format!("#!/bin/sh\n# stand-in {name}{exe} for the krew archive layout test only\n");
            fs::write(dir.join(format!("{name}{exe}")), body).expect("write stand-in");
        }
    }
    dir
}

fn run_script(script: &Path, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(script)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script.display()))
}

fn target_of(os: &str, arch: &str) -> &'static str {
    match (os, arch) {
        ("linux", "amd64") => "x86_64-unknown-linux-musl",
        ("linux", "arm64") => "aarch64-unknown-linux-musl",
        ("darwin", "amd64") => "x86_64-apple-darwin",
        ("darwin", "arm64") => "aarch64-apple-darwin",
        ("windows", "amd64") => "x86_64-pc-windows-msvc",
        ("windows", "arm64") => "aarch64-pc-windows-msvc",
        other => panic!("no target for {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------

#[test]
fn plugin_yaml_passes_krew_and_release_rules() {
    let manifest = parse_yaml(&read_repo_file("plugin.yaml"), "plugin.yaml");
    assert_no_violations("plugin.yaml", &all_violations(&manifest, &release_tag()));
}

#[test]
fn release_template_renders_to_a_valid_manifest() {
    // The bot downloads each asset for its sha256; here a well-formed stand-in
    // checksum (the sha256 of the URL) takes its place.
    let fake_sha = |uri: &str| Ok(sha256_hex(uri.as_bytes()));
    for tag in [release_tag(), "v1.20.3".to_string(), "v2.0.0-rc.1".to_string()] {
        let rendered = render_bot_template(&read_repo_file("krew/.krew.yaml"), &tag, &fake_sha)
            .unwrap_or_else(|e| panic!("krew/.krew.yaml does not render for {tag}: {e}"));
        let manifest = parse_yaml(&rendered, &format!("krew/.krew.yaml rendered for {tag}"));
        assert_no_violations(
            &format!("krew/.krew.yaml rendered for {tag}"),
            &all_violations(&manifest, &tag),
        );
        let shas: Vec<&str> = manifest["spec"]["platforms"]
            .as_array()
            .expect("platforms")
            .iter()
            .filter_map(|p| get_str(p, "sha256"))
            .collect();
        assert_eq!(
            shas.len(),
            6,
            "every platform of the rendered template carries its own sha256"
        );
    }
}

#[test]
fn plugin_yaml_is_the_template_rendered_for_the_cargo_version() {
    let text = read_repo_file("plugin.yaml");
    let manifest = parse_yaml(&text, "plugin.yaml");
    let platforms = manifest["spec"]["platforms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Reuse plugin.yaml's own checksums: the comparison is about everything else.
    let sha_of = |uri: &str| {
        platforms
            .iter()
            .find(|p| get_str(p, "uri") == Some(uri))
            .and_then(|p| get_str(p, "sha256"))
            .map(String::from)
            .ok_or_else(|| format!("plugin.yaml has no platform with uri {uri}"))
    };
    let rendered = render_bot_template(&read_repo_file("krew/.krew.yaml"), &release_tag(), &sha_of)
        .unwrap_or_else(|e| panic!("rendering krew/.krew.yaml for plugin.yaml: {e}"));
    assert!(
        rendered == text,
        "plugin.yaml must be krew/.krew.yaml rendered for {} (regenerate it with \
         `krew/render-manifest.sh --allow-missing {} <dir with archives>`); first difference at line {}",
        release_tag(),
        release_tag(),
        rendered
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .map_or(0, |i| i + 1)
    );
    let placeholders = platforms
        .iter()
        .filter(|p| get_str(p, "sha256") == Some(PLACEHOLDER_SHA256))
        .count();
    if placeholders > 0 {
        eprintln!(
            "note: plugin.yaml carries the placeholder sha256 for {placeholders} of {} platforms \
             (the {} archives are built by the release workflow)",
            platforms.len(),
            release_tag()
        );
    }
}

/// Breaks a valid manifest in one way at a time: each break must be reported
/// with the words of the rule it breaks, so the checks above cannot pass vacuously.
#[test]
fn rule_checks_catch_each_broken_manifest() {
    let base = parse_yaml(&read_repo_file("plugin.yaml"), "plugin.yaml");
    let version = release_tag();
    assert_no_violations("plugin.yaml", &all_violations(&base, &version));
    type Break = fn(&mut Value);
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "old apiVersion",
            |m| m["apiVersion"] = json!("krew.googlecontainertools.github.com/v1alpha1"),
            "not supported in this version of krew",
        ),
        (
            "wrong kind",
            |m| m["kind"] = json!("Plugins"),
            "but only \"Plugin\" is supported",
        ),
        (
            "other name",
            |m| m["metadata"]["name"] = json!("mtls2"),
            "plugin should be named %q, not %q",
        ),
        (
            "no short description",
            |m| m["spec"]["shortDescription"] = json!(""),
            "should have a short description",
        ),
        (
            "line break in short description",
            |m| m["spec"]["shortDescription"] = json!("Show Istio\nmutual TLS"),
            "should not have line breaks in short description",
        ),
        (
            "no platforms",
            |m| m["spec"]["platforms"] = json!([]),
            "should have a platform specified",
        ),
        (
            "no version",
            |m| m["spec"]["version"] = json!(""),
            "should have a version specified",
        ),
        (
            "version without v",
            |m| m["spec"]["version"] = json!("0.1.0"),
            "not starting with 'v'",
        ),
        (
            "two-part version",
            |m| m["spec"]["version"] = json!("v0.1"),
            "failed to parse plugin version",
        ),
        (
            "zero-prefixed version",
            |m| m["spec"]["version"] = json!("v0.01.0"),
            "failed to parse plugin version",
        ),
        (
            "version not Cargo's",
            |m| m["spec"]["version"] = json!("v9.9.9"),
            "matching Cargo.toml's version",
        ),
        (
            "no uri",
            |m| m["spec"]["platforms"][0]["uri"] = json!(""),
            "`uri` has to be set",
        ),
        (
            "http uri",
            |m| m["spec"]["platforms"][0]["uri"] = json!("http://example.com/a.tar.gz"),
            "an https URL of a .tar.gz or .zip archive",
        ),
        (
            "other archive name",
            |m| {
                m["spec"]["platforms"][0]["uri"] =
                    json!(format!("{REPOSITORY}/releases/download/v0.1.0/mtls-linux.tar.gz"))
            },
            "Release archive names",
        ),
        (
            "no sha256",
            |m| m["spec"]["platforms"][1]["sha256"] = json!(""),
            "`sha256` sum has to be set",
        ),
        (
            "uppercase sha256",
            |m| m["spec"]["platforms"][1]["sha256"] = json!("A".repeat(64)),
            "must match pattern ^[a-f0-9]{64}$",
        ),
        (
            "all-digit sha256",
            |m| m["spec"]["platforms"][1]["sha256"] = json!(0),
            "cannot unmarshal into Go struct field of type string",
        ),
        (
            "short sha256",
            |m| m["spec"]["platforms"][1]["sha256"] = json!("abc"),
            "must match pattern ^[a-f0-9]{64}$",
        ),
        (
            "no bin",
            |m| m["spec"]["platforms"][2]["bin"] = json!(""),
            "`bin` has to be set",
        ),
        (
            "bin outside",
            |m| m["spec"]["platforms"][2]["bin"] = json!("../kubectl-mtls"),
            "does not extend the sub-fullPath",
        ),
        (
            "windows bin without .exe",
            |m| m["spec"]["platforms"][4]["bin"] = json!("kubectl-mtls"),
            "`kubectl-mtls.exe` on windows",
        ),
        (
            "empty files",
            |m| m["spec"]["platforms"][0]["files"] = json!([]),
            "`files` has to be unspecified or non-empty",
        ),
        (
            "file op without to",
            |m| m["spec"]["platforms"][0]["files"][0] = json!({"from": "kubectl-mtls"}),
            "`to` field has to be set",
        ),
        (
            "file op without from",
            |m| m["spec"]["platforms"][0]["files"][0] = json!({"to": "."}),
            "`from` field has to be set",
        ),
        (
            "unclean to",
            |m| m["spec"]["platforms"][0]["files"][0]["to"] = json!("./"),
            "the provided path is not clean",
        ),
        (
            "to outside",
            |m| m["spec"]["platforms"][0]["files"][0]["to"] = json!("../bin"),
            "is out of bounds",
        ),
        (
            "no LICENSE",
            |m| {
                m["spec"]["platforms"][3]["files"]
                    .as_array_mut()
                    .expect("files")
                    .pop();
            },
            "`files` copying the binary, the completion binary and LICENSE",
        ),
        (
            "no completion helper",
            |m| {
                m["spec"]["platforms"][5]["files"]
                    .as_array_mut()
                    .expect("files")
                    .remove(1);
            },
            "the completion binary",
        ),
        (
            "nil selector",
            |m| {
                m["spec"]["platforms"][0]
                    .as_object_mut()
                    .expect("platform")
                    .remove("selector");
            },
            "nil selector is not supported",
        ),
        (
            "empty selector",
            |m| m["spec"]["platforms"][0]["selector"] = json!({}),
            "empty selector is not supported",
        ),
        (
            "empty matchLabels",
            |m| m["spec"]["platforms"][0]["selector"] = json!({"matchLabels": {}}),
            "`matchLabels` specified but empty",
        ),
        (
            "unsupported selector key",
            |m| m["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = json!("debian"),
            "key %q not supported",
        ),
        (
            "unknown os",
            |m| m["spec"]["platforms"][0]["selector"]["matchLabels"]["os"] = json!("plan9"),
            "doesn't match any supported platforms",
        ),
        (
            "overlapping platforms",
            |m| m["spec"]["platforms"][2]["selector"]["matchLabels"]["os"] = json!("linux"),
            "have overlapping selectors",
        ),
        (
            "platform missing",
            |m| {
                m["spec"]["platforms"].as_array_mut().expect("platforms").pop();
            },
            "each covered exactly once",
        ),
        (
            "matchExpressions",
            |m| {
                m["spec"]["platforms"][0]["selector"] = json!({
                    "matchExpressions": [{"key": "os", "operator": "In", "values": ["linux"]}],
                    "matchLabels": {"arch": "amd64"},
                })
            },
            "`selector.matchLabels` on `os` and `arch` only",
        ),
        (
            "short description too long",
            |m| m["spec"]["shortDescription"] = json!("Show, enable and prove Istio mutual TLS in any mesh"),
            "at most 50 characters",
        ),
        (
            "kubectl in short description",
            |m| m["spec"]["shortDescription"] = json!("kubectl view of Istio mTLS"),
            "without the word \"kubectl\"",
        ),
        (
            "long description line",
            |m| m["spec"]["description"] = json!(format!("{}\n", "word ".repeat(20))),
            "line length in `description` exceeds 80 characters",
        ),
        (
            "usage example",
            |m| m["spec"]["description"] = json!("Shows Istio mTLS.\n\n  $ kubectl mtls status -A\n"),
            "without usage examples",
        ),
        (
            "long caveats line",
            |m| m["spec"]["caveats"] = json!(format!("{}\n", "word ".repeat(20))),
            "line length in `caveats` exceeds 80 characters",
        ),
        (
            "other homepage",
            |m| m["spec"]["homepage"] = json!("https://example.com"),
            "`homepage`: the repository URL",
        ),
        (
            "misspelt field",
            |m| m["spec"]["platforms"][0]["shaa256"] = json!("x"),
            "no unknown field",
        ),
    ];
    let mut missed = Vec::new();
    for (what, break_it, rule) in cases {
        let mut m = base.clone();
        break_it(&mut m);
        let found = all_violations(&m, &version);
        if !found.iter().any(|v| v.contains(rule)) {
            missed.push(format!(
                "{what}: expected a violation quoting {rule:?}, got {found:#?}"
            ));
        }
    }
    assert!(missed.is_empty(), "rule checks missed:\n{}", missed.join("\n"));
}

#[test]
fn bot_template_rendering_follows_the_bot() {
    let sha = |uri: &str| Ok(format!("sha-of-{}", base_name(uri)));
    // addURIAndSha writes uri and a 4-space-indented sha256; `indent N`
    // re-indents it (the bot's own test cases).
    let plain = render_bot_template(
        "    {{ addURIAndSha \"https://h/{{ .TagName }}/a_{{ .Version }}.tar.gz\" .TagName }}\n",
        "v1.2.3",
        &sha,
    );
    assert_eq!(
        plain.as_deref(),
        Ok("    uri: https://h/v1.2.3/a_1.2.3.tar.gz\n    sha256: sha-of-a_1.2.3.tar.gz\n")
    );
    let indented = render_bot_template(
        "      {{addURIAndSha \"https://h/x.zip\" .TagName | indent 6 }}",
        "v1.0.0",
        &sha,
    );
    assert_eq!(
        indented.as_deref(),
        Ok("      uri: https://h/x.zip\n      sha256: sha-of-x.zip")
    );
    assert_eq!(
        render_bot_template("version: {{ .TagName }}", "v0.1.0", &sha).as_deref(),
        Ok("version: v0.1.0")
    );
    for bad in [
        "{{ .Version }}",
        "{{ .TagName | upper }}",
        "{{- .TagName }}",
        "{{ addURIAndSha \"u\" }}",
        "{{ .TagName",
    ] {
        assert!(
            render_bot_template(bad, "v1.0.0", &sha).is_err(),
            "{bad:?} must be refused, not guessed"
        );
    }
    assert_eq!(version_of_tag("v0.10.2-rc.1"), "0.10.2");
    assert_eq!(version_of_tag("no-version"), "no-version");
}

#[test]
fn archives_from_package_sh_install_with_the_manifest_files_operations() {
    let scratch = Scratch::new("krew-layout");
    let repo = scratch_repo(&scratch);
    let bins = stand_in_binaries(&scratch);
    let out = scratch.0.join("dist");
    let out_arg = out.to_str().expect("utf-8 temp path");
    let can_zip = have_command("zip") || have_command("7z");
    if !can_zip {
        eprintln!("note: neither zip nor 7z is installed: the windows archives are not packed in this run");
    }
    let tag = release_tag();
    let plugin_yaml = parse_yaml(&read_repo_file("plugin.yaml"), "plugin.yaml");
    let template_render = render_bot_template(&read_repo_file("krew/.krew.yaml"), &tag, &|u: &str| {
        Ok(sha256_hex(u.as_bytes()))
    })
    .expect("template renders");
    let template_manifest = parse_yaml(&template_render, "rendered krew/.krew.yaml");

    let mut packed = 0;
    for (os, arch) in RELEASE_PLATFORMS {
        if os == "windows" && !can_zip {
            continue;
        }
        let target = target_of(os, arch);
        let run = run_script(
            &repo.join("krew/package.sh"),
            &[
                "--target",
                target,
                "--bin-dir",
                bins.to_str().expect("utf-8"),
                "--out",
                out_arg,
                "--version",
                &tag,
            ],
        );
        assert!(
            run.status.success(),
            "krew/package.sh --target {target} failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let exe = if os == "windows" { ".exe" } else { "" };
        let name = format!(
            "kubectl-mtls_{tag}_{os}_{arch}.{}",
            if os == "windows" { "zip" } else { "tar.gz" }
        );
        let archive = out.join(&name);
        let members = if os == "windows" {
            read_zip(&archive)
        } else {
            read_tar_gz(&archive)
        };

        // contents at the archive root: the two executables, LICENSE, README.md
        let paths: BTreeSet<String> = members.iter().map(|m| m.path.clone()).collect();
        let expected: BTreeSet<String> = [
            format!("{BIN}{exe}"),
            format!("{COMPLETION_BIN}{exe}"),
            "LICENSE".into(),
            "README.md".into(),
        ]
        .into();
        assert_eq!(
            paths, expected,
            "release rule \"contents at the archive root\" for {name}"
        );
        for m in &members {
            assert!(m.regular_file, "{name}: {} must be a regular file", m.path);
            if os != "windows" && m.path.starts_with("kubectl") {
                assert!(
                    m.mode.is_some_and(|mode| mode & 0o111 == 0o111),
                    "{name}: {} must be executable",
                    m.path
                );
            }
        }
        // the .sha256 sidecar is `sha256sum` output for the archive
        let bytes = fs::read(&archive).expect("read archive");
        let sidecar = fs::read_to_string(out.join(format!("{name}.sha256"))).expect("read .sha256");
        assert_eq!(
            sidecar,
            format!("{}  {name}\n", sha256_hex(&bytes)),
            "{name}.sha256"
        );

        // krew installs it with the files operations of both manifests
        for (what, manifest) in [
            ("plugin.yaml", &plugin_yaml),
            ("rendered krew/.krew.yaml", &template_manifest),
        ] {
            let platform = manifest["spec"]["platforms"]
                .as_array()
                .expect("platforms")
                .iter()
                .find(|p| p.get("selector").is_some_and(|s| selector_matches(s, os, arch)))
                .unwrap_or_else(|| panic!("{what} has no platform for {os}/{arch}"));
            assert!(
                get_str(platform, "uri").is_some_and(|u| u.ends_with(&format!("/{name}"))),
                "{what}: the {os}/{arch} uri must name {name}"
            );
            let installed = krew_install(&paths, platform)
                .unwrap_or_else(|e| panic!("{what}: krew cannot install {name}: {e}"));
            let want: BTreeSet<String> = [
                format!("{BIN}{exe}"),
                format!("{COMPLETION_BIN}{exe}"),
                "LICENSE".into(),
            ]
            .into();
            assert_eq!(installed, want, "{what}: files installed from {name}");
        }
        packed += 1;
    }
    assert!(packed >= 4, "at least the linux and darwin archives are packed");

    // The archives that are needed but absent make krew fail as it would.
    let linux = &plugin_yaml["spec"]["platforms"][0];
    let only_binary: BTreeSet<String> = [BIN.to_string(), "LICENSE".to_string()].into();
    let err = krew_install(&only_binary, linux).expect_err("archive without the completion helper");
    assert!(
        err.contains("no files in the plugin archive matched the glob pattern"),
        "{err}"
    );
    let no_licence: BTreeSet<String> = [BIN.to_string(), COMPLETION_BIN.to_string()].into();
    let err = krew_install(&no_licence, linux).expect_err("archive without LICENSE");
    assert!(err.contains("no files in the plugin archive matched"), "{err}");
    let mut no_licence_op = linux.clone();
    no_licence_op["files"]
        .as_array_mut()
        .expect("files")
        .retain(|op| op["from"] != "LICENSE");
    let full_archive: BTreeSet<String> =
        [BIN.to_string(), COMPLETION_BIN.to_string(), "LICENSE".to_string()].into();
    let err = krew_install(&full_archive, &no_licence_op).expect_err("files without LICENSE");
    assert!(
        err.contains("LICENSE (or alike) file is not extracted from the archive"),
        "{err}"
    );
    let mut renamed = linux.clone();
    renamed["bin"] = json!("kubectl-mtls-linux");
    let err = krew_install(&full_archive, &renamed).expect_err("bin not in the archive");
    assert!(err.contains("cannot be found in extracted archive"), "{err}");
    let globbed = json!({"bin": "kubectl-mtls", "files": [{"from": "*", "to": "."}]});
    let nested: BTreeSet<String> = ["dist/kubectl-mtls".to_string(), "LICENSE".to_string()].into();
    let err = krew_install(&nested, &globbed).expect_err("bin under a directory");
    assert!(err.contains("cannot be found in extracted archive"), "{err}");
}

#[test]
fn render_manifest_sh_matches_the_bot_rendering() {
    let scratch = Scratch::new("krew-render");
    let repo = scratch_repo(&scratch);
    let bins = stand_in_binaries(&scratch);
    let out = scratch.0.join("dist");
    let out_arg = out.to_str().expect("utf-8 temp path");
    let tag = release_tag();
    let can_zip = have_command("zip") || have_command("7z");
    for (os, arch) in RELEASE_PLATFORMS {
        if os == "windows" && !can_zip {
            continue;
        }
        let run = run_script(
            &repo.join("krew/package.sh"),
            &[
                "--target",
                target_of(os, arch),
                "--bin-dir",
                bins.to_str().expect("utf-8"),
                "--out",
                out_arg,
            ],
        );
        assert!(
            run.status.success(),
            "package.sh: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let sha_from_dir = |uri: &str| match fs::read(out.join(base_name(uri))) {
        Ok(bytes) => Ok(sha256_hex(&bytes)),
        Err(_) => Ok(PLACEHOLDER_SHA256.to_string()),
    };
    let expected =
        render_bot_template(&read_repo_file("krew/.krew.yaml"), &tag, &sha_from_dir).expect("renders");

    let manifest_path = scratch.0.join("plugin.yaml");
    let manifest_arg = manifest_path.to_str().expect("utf-8");
    let mut args = vec!["-o", manifest_arg, tag.as_str(), out_arg];
    if !can_zip {
        args.insert(0, "--allow-missing");
    }
    let run = run_script(&repo.join("krew/render-manifest.sh"), &args);
    assert!(
        run.status.success(),
        "render-manifest.sh: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rendered = fs::read_to_string(&manifest_path).expect("rendered manifest");
    assert_eq!(
        rendered, expected,
        "krew/render-manifest.sh must render exactly what krew-release-bot renders"
    );
    let manifest = parse_yaml(&rendered, "render-manifest.sh output");
    assert_no_violations("render-manifest.sh output", &all_violations(&manifest, &tag));
    if can_zip {
        assert!(
            !rendered.contains(PLACEHOLDER_SHA256),
            "all six archives were there: no placeholder checksum"
        );
    }

    // A missing archive is an error unless --allow-missing is given.
    let empty = scratch.0.join("empty");
    fs::create_dir_all(&empty).expect("empty dir");
    let empty_arg = empty.to_str().expect("utf-8");
    let other = scratch.0.join("other.yaml");
    let other_arg = other.to_str().expect("utf-8");
    let run = run_script(
        &repo.join("krew/render-manifest.sh"),
        &["-o", other_arg, &tag, empty_arg],
    );
    assert!(
        !run.status.success(),
        "render-manifest.sh must fail when archives are missing"
    );
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("archives missing"),
        "message names the missing archives"
    );
    assert!(!other.exists(), "nothing is written when rendering fails");
    let run = run_script(
        &repo.join("krew/render-manifest.sh"),
        &["--allow-missing", "-o", other_arg, &tag, empty_arg],
    );
    assert!(
        run.status.success(),
        "--allow-missing: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        fs::read_to_string(&other)
            .expect("placeholder manifest")
            .matches(PLACEHOLDER_SHA256)
            .count(),
        6,
        "--allow-missing writes the placeholder for each of the six platforms"
    );
    // A version that is not a v-prefixed semver is refused.
    let run = run_script(
        &repo.join("krew/render-manifest.sh"),
        &["--allow-missing", "-o", other_arg, "0.1.0", empty_arg],
    );
    assert!(
        !run.status.success(),
        "render-manifest.sh must refuse version 0.1.0"
    );
    // package.sh refuses a release tag other than Cargo.toml's version.
    let run = run_script(
        &repo.join("krew/package.sh"),
        &[
            "--target",
            "x86_64-unknown-linux-musl",
            "--bin-dir",
            bins.to_str().expect("utf-8"),
            "--out",
            out_arg,
            "--version",
            "v99.0.0",
        ],
    );
    assert!(
        !run.status.success(),
        "package.sh must refuse a tag that is not Cargo.toml's version"
    );
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("does not match Cargo.toml"),
        "package.sh explains the refusal"
    );
}
