//! Shell completion for `kubectl mtls <TAB>`: the `kubectl_complete-mtls` helper.
//!
//! kubectl (1.26 and newer) completes a plugin by running `kubectl_complete-<plugin>` from
//! `PATH` with the words typed after the plugin name; the last word is the one being
//! completed (empty after a space). The answer uses cobra's `__complete` protocol: one
//! candidate per line, optionally `candidate<TAB>description`, then a last line
//! `:<directive>` with cobra's `ShellCompDirective` bits ([`directive`]).
//!
//! Everything static (subcommands, flags, value enums) comes from the clap command tree of
//! [`crate::cli`], so completion cannot drift from the CLI. Namespaces are listed from the
//! cluster the typed flags and the kubeconfig select (the same connection logic as every
//! subcommand, [`crate::client::connect`]), within a short time limit; contexts, clusters and
//! users come from the kubeconfig. Any failure just yields no candidates: completion never
//! prints errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};

use crate::client::ConnectOptions;

/// Cobra's `ShellCompDirective` bits, the number on the last line of the answer.
pub mod directive {
    /// Let the shell do its default: add a space, complete file names when there is no candidate.
    pub const DEFAULT: u32 = 0;
    /// An error occurred; the shell ignores the candidates.
    pub const ERROR: u32 = 1;
    /// Do not add a space after the completion.
    pub const NO_SPACE: u32 = 2;
    /// Do not complete file names when there is no candidate.
    pub const NO_FILE_COMP: u32 = 4;
    /// The candidates are file extensions to filter file names by.
    pub const FILTER_FILE_EXT: u32 = 8;
    /// Complete directory names only.
    pub const FILTER_DIRS: u32 = 16;
    /// Keep the candidates in the given order.
    pub const KEEP_ORDER: u32 = 32;
}

/// How long the whole namespace lookup may take: completion must feel instant.
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(2);

/// One completion candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The text the shell inserts.
    pub value: String,
    /// A one-line description shown by shells that support it.
    pub description: Option<String>,
}

impl Candidate {
    fn plain(value: impl Into<String>) -> Candidate {
        Candidate {
            value: value.into(),
            description: None,
        }
    }

    fn described(value: impl Into<String>, description: Option<String>) -> Candidate {
        Candidate {
            value: value.into(),
            description: description.filter(|d| !d.is_empty()),
        }
    }
}

/// The answer to one completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    /// The candidates, already filtered by the typed prefix.
    pub candidates: Vec<Candidate>,
    /// The [`directive`] bits for the shell.
    pub directive: u32,
}

impl Completions {
    /// Renders the answer in cobra's `__complete` format (ends with a newline).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.candidates {
            out.push_str(&one_line(&c.value));
            if let Some(d) = &c.description {
                out.push('\t');
                out.push_str(&one_line(d));
            }
            out.push('\n');
        }
        out.push_str(&format!(":{}\n", self.directive));
        out
    }

    /// The candidate values, without descriptions.
    pub fn values(&self) -> Vec<&str> {
        self.candidates.iter().map(|c| c.value.as_str()).collect()
    }
}

/// Keeps the first line and replaces tabs, which would break the line format.
fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").replace('\t', " ")
}

/// What kind of value an argument takes, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A namespace of the cluster.
    Namespace,
    /// A context of the kubeconfig.
    Context,
    /// A cluster of the kubeconfig.
    Cluster,
    /// A user of the kubeconfig.
    User,
    /// A file name: left to the shell.
    File,
    /// One of the argument's possible values (a clap value enum).
    Choice,
    /// Free text: nothing to suggest.
    Free,
}

/// Argument ids whose values are free text (selectors, names, durations, images ...).
///
/// Every value-taking argument of the CLI must be classified by [`value_kind`]; a unit test
/// fails for an argument that is neither listed here nor recognised, so a new flag is never
/// silently completed with file names.
pub const FREE_TEXT_ARGS: &[&str] = &[
    "request_timeout",
    "prometheus",
    "since",
    "as_user",
    "as_group",
    "verbose",
    "selector",
    "name",
    "ports",
    "revision",
    "field_manager",
    "target",
    "from",
    "image",
    "timeout",
    "start_timeout",
    "certs",
];

/// Classifies an argument's values by its id (the clap field name) and possible values.
pub fn value_kind(arg: &Arg) -> ValueKind {
    match arg.get_id().as_str() {
        "namespace" | "namespace_arg" | "namespaces" | "from_namespace" | "istio_namespace"
        | "root_namespace" => ValueKind::Namespace,
        "context" => ValueKind::Context,
        "cluster" => ValueKind::Cluster,
        "user" => ValueKind::User,
        "kubeconfig" | "files" => ValueKind::File,
        _ if !arg.get_possible_values().is_empty() => ValueKind::Choice,
        _ => ValueKind::Free,
    }
}

/// What the word under the cursor asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A subcommand name (the command has subcommands and none was given yet).
    Subcommand,
    /// A flag name (the word starts with `-`).
    FlagName,
    /// The value of the flag with this argument id.
    FlagValue(String),
    /// The positional argument with this id.
    Positional(String),
    /// Nothing can follow (e.g. a second positional where only one is accepted).
    Nothing,
}

/// The words read up to the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The subcommands chosen, outermost first (empty at the top level).
    pub path: Vec<String>,
    /// What is being completed.
    pub target: Target,
    /// The typed part of the value being completed (after `--flag=`, if any).
    pub prefix: String,
    /// Text every candidate must start with to replace the whole word (`-n` in `-nistio`).
    pub insert_prefix: String,
    /// The values given so far, by argument id (flags without value get an empty string).
    pub seen: BTreeMap<String, Vec<String>>,
}

impl Analysis {
    /// The last value given for an argument id.
    pub fn last(&self, id: &str) -> Option<&str> {
        self.seen.get(id).and_then(|v| v.last()).map(String::as_str)
    }
}

/// The CLI's command tree, built so that global flags, `--help` and `--version` are present
/// on every subcommand.
pub fn command_tree() -> Command {
    let mut cmd = crate::cli::command("kubectl mtls");
    cmd.build();
    cmd
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|aliases| aliases.contains(&name))
    })
}

fn find_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| {
        a.get_short() == Some(c)
            || a.get_all_short_aliases()
                .is_some_and(|aliases| aliases.contains(&c))
    })
}

/// Whether the flag takes a value in the next word when none is attached with `=`.
fn value_in_next_word(arg: &Arg) -> bool {
    if !arg.get_action().takes_values() {
        return false;
    }
    let optional = arg.get_num_args().is_some_and(|r| r.min_values() == 0);
    !(optional || arg.is_require_equals_set())
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// Reads the words before the cursor (`words`' last element is the word being completed).
pub fn analyze(root: &Command, words: &[String]) -> Analysis {
    let (current, done) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let mut cmd = root;
    let mut path = Vec::new();
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut positionals = 0usize;
    let mut pending: Option<String> = None;
    let mut only_positionals = false;
    for word in done {
        if let Some(id) = pending.take() {
            seen.entry(id).or_default().push(word.clone());
            continue;
        }
        if !only_positionals && word == "--" {
            only_positionals = true;
            continue;
        }
        if !only_positionals && let Some(long) = word.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if let Some(arg) = find_long(cmd, name) {
                let id = arg.get_id().to_string();
                match value {
                    Some(v) => seen.entry(id).or_default().push(v.to_string()),
                    None if value_in_next_word(arg) => pending = Some(id),
                    None => seen.entry(id).or_default().push(String::new()),
                }
            }
            continue;
        }
        if !only_positionals && word.len() > 1 && word.starts_with('-') {
            // A cluster of short flags; the first one taking a value ends it.
            let shorts = &word[1..];
            for (i, c) in shorts.char_indices() {
                let Some(arg) = find_short(cmd, c) else { break };
                let id = arg.get_id().to_string();
                if takes_value(arg) {
                    let rest = &shorts[i + c.len_utf8()..];
                    let rest = rest.strip_prefix('=').unwrap_or(rest);
                    if !rest.is_empty() || arg.is_require_equals_set() || !value_in_next_word(arg) {
                        seen.entry(id).or_default().push(rest.to_string());
                    } else {
                        pending = Some(id);
                    }
                    break;
                }
                seen.entry(id).or_default().push(String::new());
            }
            continue;
        }
        if path_can_descend(cmd)
            && positionals == 0
            && let Some(sub) = find_subcommand(cmd, word)
        {
            path.push(sub.get_name().to_string());
            cmd = sub;
            continue;
        }
        if let Some(arg) = positional_at(cmd, positionals) {
            seen.entry(arg.get_id().to_string())
                .or_default()
                .push(word.clone());
        }
        positionals += 1;
    }

    let mut analysis = Analysis {
        path,
        target: Target::Nothing,
        prefix: current.to_string(),
        insert_prefix: String::new(),
        seen,
    };
    if let Some(id) = pending {
        analysis.target = Target::FlagValue(id);
        return analysis;
    }
    if !only_positionals && current.starts_with('-') {
        if let Some(long) = current.strip_prefix("--")
            && let Some((name, value)) = long.split_once('=')
        {
            if let Some(arg) = find_long(cmd, name).filter(|a| takes_value(a)) {
                analysis.target = Target::FlagValue(arg.get_id().to_string());
                analysis.prefix = value.to_string();
            }
            return analysis;
        }
        if !current.starts_with("--") && current.len() > 2 {
            // `-n=val`, `-nval` or `-Al`: find the first short flag taking a value.
            let shorts = &current[1..];
            for (i, c) in shorts.char_indices() {
                let Some(arg) = find_short(cmd, c) else { break };
                if takes_value(arg) {
                    let split = 1 + i + c.len_utf8();
                    let rest = &current[split..];
                    analysis.target = Target::FlagValue(arg.get_id().to_string());
                    match rest.strip_prefix('=') {
                        Some(v) => analysis.prefix = v.to_string(),
                        None => {
                            analysis.prefix = rest.to_string();
                            analysis.insert_prefix = current[..split].to_string();
                        }
                    }
                    return analysis;
                }
            }
        }
        analysis.target = Target::FlagName;
        return analysis;
    }
    if !only_positionals && path_can_descend(cmd) && positionals == 0 {
        analysis.target = Target::Subcommand;
        return analysis;
    }
    if let Some(arg) = positional_at(cmd, positionals) {
        analysis.target = Target::Positional(arg.get_id().to_string());
    }
    analysis
}

fn path_can_descend(cmd: &Command) -> bool {
    cmd.has_subcommands()
}

fn find_subcommand<'a>(cmd: &'a Command, word: &str) -> Option<&'a Command> {
    cmd.get_subcommands()
        .find(|s| s.get_name() == word || s.get_all_aliases().any(|a| a == word))
}

/// The positional argument that takes the `n`th positional word (0-based).
fn positional_at(cmd: &Command, n: usize) -> Option<&Arg> {
    let mut positionals: Vec<&Arg> = cmd.get_positionals().collect();
    positionals.sort_by_key(|a| a.get_index());
    if let Some(arg) = positionals.get(n) {
        return Some(arg);
    }
    positionals.last().copied().filter(|a| {
        matches!(a.get_action(), ArgAction::Append) || a.get_num_args().is_some_and(|r| r.max_values() > 1)
    })
}

/// Where dynamic values (namespaces, kubeconfig names) come from.
pub trait Source {
    /// The namespaces of the cluster `global` selects, or `None` when they cannot be listed.
    fn namespaces(&self, global: &ConnectOptions) -> Option<Vec<String>>;
    /// The kubeconfig's names of one kind (contexts, clusters or users).
    fn kubeconfig_names(&self, global: &ConnectOptions, kind: ValueKind) -> Option<Vec<String>>;
}

/// The real source: the kubeconfig on disk and the cluster, with [`CLUSTER_TIMEOUT`].
#[derive(Debug, Clone, Copy)]
pub struct LiveSource {
    /// The time limit of the namespace lookup (kubeconfig, credentials, connection, request).
    pub timeout: Duration,
}

impl Default for LiveSource {
    fn default() -> Self {
        LiveSource {
            timeout: CLUSTER_TIMEOUT,
        }
    }
}

impl Source for LiveSource {
    fn namespaces(&self, global: &ConnectOptions) -> Option<Vec<String>> {
        let mut global = global.clone();
        global.request_timeout = Some(self.timeout);
        global.verbose = 0;
        // A hard deadline: kube-rs runs an exec credential plugin synchronously while building
        // the client, which no async timeout can interrupt. The lookup runs on its own thread;
        // when the deadline passes it is abandoned (the process exits right after answering).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("complete-namespaces".into())
            .spawn(move || {
                let _ = tx.send(list_namespaces(&global));
            })
            .ok()?;
        rx.recv_timeout(self.timeout).ok().flatten()
    }

    fn kubeconfig_names(&self, global: &ConnectOptions, kind: ValueKind) -> Option<Vec<String>> {
        let (kc, _) = crate::client::load_kubeconfig(global.kubeconfig.as_deref()).ok()??;
        let names = match kind {
            ValueKind::Context => kc.contexts.into_iter().map(|c| c.name).collect(),
            ValueKind::Cluster => kc.clusters.into_iter().map(|c| c.name).collect(),
            ValueKind::User => kc.auth_infos.into_iter().map(|u| u.name).collect(),
            _ => return None,
        };
        Some(names)
    }
}

/// Lists the namespace names of the cluster `global` selects (one metadata-only list request).
fn list_namespaces(global: &ConnectOptions) -> Option<Vec<String>> {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, ListParams};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let names = runtime.block_on(async {
        let cluster = crate::client::connect(global).await.ok()?;
        let api: Api<Namespace> = Api::all(cluster.client);
        let list = api.list_metadata(&ListParams::default()).await.ok()?;
        Some(
            list.items
                .into_iter()
                .filter_map(|ns| ns.metadata.name)
                .collect::<Vec<_>>(),
        )
    });
    // Do not wait for anything still running on the blocking pool.
    runtime.shutdown_background();
    names
}

/// The connection flags typed so far, as the plugin would read them.
pub fn connect_options(analysis: &Analysis) -> ConnectOptions {
    let non_empty = |id: &str| analysis.last(id).filter(|v| !v.is_empty()).map(str::to_string);
    ConnectOptions {
        kubeconfig: non_empty("kubeconfig").map(PathBuf::from),
        context: non_empty("context"),
        cluster: non_empty("cluster"),
        user: non_empty("user"),
        namespace: non_empty("namespace"),
        as_user: non_empty("as_user"),
        as_group: analysis
            .seen
            .get("as_group")
            .map(|v| v.iter().filter(|g| !g.is_empty()).cloned().collect())
            .unwrap_or_default(),
        insecure_skip_tls_verify: analysis
            .last("insecure_skip_tls_verify")
            .is_some_and(|v| v.is_empty() || v == "true"),
        ..ConnectOptions::default()
    }
}

/// Completes the words typed after `kubectl mtls` (the last one being completed).
pub fn complete(words: &[String], source: &dyn Source) -> Completions {
    let root = command_tree();
    let analysis = analyze(&root, words);
    let mut cmd = &root;
    for name in &analysis.path {
        cmd = cmd
            .find_subcommand(name)
            .expect("analyze returns existing subcommands");
    }
    let no_file = |candidates: Vec<Candidate>| Completions {
        candidates,
        directive: directive::NO_FILE_COMP,
    };
    let prefix = analysis.prefix.as_str();
    match &analysis.target {
        Target::Subcommand => no_file(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name().starts_with(prefix))
                .map(|s| Candidate::described(s.get_name(), s.get_about().map(|a| a.to_string())))
                .collect(),
        ),
        Target::FlagName => no_file(flag_names(cmd, &analysis)),
        Target::FlagValue(id) | Target::Positional(id) => {
            let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == id.as_str()) else {
                return no_file(Vec::new());
            };
            values(arg, &analysis, source)
        }
        Target::Nothing => no_file(Vec::new()),
    }
}

/// The flags of `cmd` matching the typed prefix, without those already given (unless
/// repeatable) and those conflicting with given ones.
fn flag_names(cmd: &Command, analysis: &Analysis) -> Vec<Candidate> {
    let given = |a: &Arg| analysis.seen.contains_key(a.get_id().as_str());
    let mut excluded: Vec<String> = Vec::new();
    for arg in cmd.get_arguments().filter(|a| given(a)) {
        if !matches!(arg.get_action(), ArgAction::Append | ArgAction::Count) {
            excluded.push(arg.get_id().to_string());
        }
        if !arg.is_global_set() {
            excluded.extend(
                cmd.get_arg_conflicts_with(arg)
                    .iter()
                    .map(|c| c.get_id().to_string()),
            );
        }
    }
    for arg in cmd.get_arguments().filter(|a| !a.is_global_set() && !given(a)) {
        if cmd.get_arg_conflicts_with(arg).iter().any(|c| given(c)) {
            excluded.push(arg.get_id().to_string());
        }
    }
    for group in cmd.get_groups() {
        let members: Vec<String> = group.get_args().map(|id| id.to_string()).collect();
        if !group.clone().is_multiple() && members.iter().any(|m| analysis.seen.contains_key(m)) {
            excluded.extend(members);
        }
    }

    let prefix = analysis.prefix.as_str();
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        if arg.is_positional() || arg.is_hide_set() || excluded.iter().any(|e| e == arg.get_id().as_str()) {
            continue;
        }
        let help = arg.get_help().map(|h| h.to_string());
        for long in arg.get_long_and_visible_aliases().unwrap_or_default() {
            let name = format!("--{long}");
            if name.starts_with(prefix) {
                out.push(Candidate::described(name, help.clone()));
            }
        }
        let shorts = arg
            .get_short()
            .into_iter()
            .chain(arg.get_visible_short_aliases().unwrap_or_default());
        for short in shorts {
            let name = format!("-{short}");
            if name.starts_with(prefix) {
                out.push(Candidate::described(name, help.clone()));
            }
        }
    }
    out
}

/// The values of `arg` matching the typed prefix.
fn values(arg: &Arg, analysis: &Analysis, source: &dyn Source) -> Completions {
    let prefix = analysis.prefix.as_str();
    let (candidates, directive) = match value_kind(arg) {
        ValueKind::File => (Vec::new(), directive::DEFAULT),
        ValueKind::Free => (Vec::new(), directive::NO_FILE_COMP),
        ValueKind::Choice => (
            arg.get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| Candidate::described(v.get_name(), v.get_help().map(|h| h.to_string())))
                .collect(),
            directive::NO_FILE_COMP,
        ),
        ValueKind::Namespace => {
            let names = source.namespaces(&connect_options(analysis)).unwrap_or_default();
            // A repeatable positional (`status NS...`) is not offered a namespace twice.
            let already: &[String] = if arg.is_positional() {
                analysis
                    .seen
                    .get(arg.get_id().as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default()
            } else {
                &[]
            };
            (
                names
                    .into_iter()
                    .filter(|n| !already.contains(n))
                    .map(Candidate::plain)
                    .collect(),
                directive::NO_FILE_COMP,
            )
        }
        kind @ (ValueKind::Context | ValueKind::Cluster | ValueKind::User) => (
            source
                .kubeconfig_names(&connect_options(analysis), kind)
                .unwrap_or_default()
                .into_iter()
                .map(Candidate::plain)
                .collect(),
            directive::NO_FILE_COMP,
        ),
    };
    let candidates = candidates
        .into_iter()
        .filter(|c| c.value.starts_with(prefix))
        .map(|mut c| {
            c.value.insert_str(0, &analysis.insert_prefix);
            c
        })
        .collect();
    Completions {
        candidates,
        directive,
    }
}

/// The `kubectl_complete-mtls` entry point: answers for the given words, prints, returns 0.
pub fn main_with(args: Vec<String>) -> i32 {
    let words = if args.is_empty() {
        vec![String::new()]
    } else {
        args
    };
    let answer = complete(&words, &LiveSource::default());
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe is not worth a panic message in the middle of a shell prompt.
    let _ = stdout.write_all(answer.render().as_bytes());
    let _ = stdout.flush();
    0
}

/// [`main_with`] on the process arguments (without the program name).
pub fn main() -> i32 {
    main_with(std::env::args().skip(1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source with fixed answers that records the connection flags it was asked with.
    struct Fake {
        namespaces: Option<Vec<String>>,
        asked: std::cell::RefCell<Vec<ConnectOptions>>,
    }

    impl Fake {
        fn new(namespaces: &[&str]) -> Fake {
            Fake {
                namespaces: Some(namespaces.iter().map(|s| s.to_string()).collect()),
                asked: Default::default(),
            }
        }
    }

    impl Source for Fake {
        fn namespaces(&self, global: &ConnectOptions) -> Option<Vec<String>> {
            self.asked.borrow_mut().push(global.clone());
            self.namespaces.clone()
        }
        fn kubeconfig_names(&self, global: &ConnectOptions, kind: ValueKind) -> Option<Vec<String>> {
            self.asked.borrow_mut().push(global.clone());
            let names: &[&str] = match kind {
                ValueKind::Context => &["lab", "prod", "staging"],
                ValueKind::Cluster => &["lab-cluster"],
                ValueKind::User => &["admin", "viewer"],
                _ => &[],
            };
            Some(names.iter().map(|s| s.to_string()).collect())
        }
    }

    fn words(line: &str) -> Vec<String> {
        // A trailing space means the next (empty) word is being completed.
        let mut w: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if line.is_empty() || line.ends_with(' ') {
            w.push(String::new());
        }
        w
    }

    fn run(line: &str) -> Completions {
        complete(
            &words(line),
            &Fake::new(&["default", "istio-system", "istioinaction"]),
        )
    }

    #[test]
    fn top_level_offers_every_subcommand_with_its_summary() {
        let c = run("");
        let root = command_tree();
        let expected: Vec<&str> = root.get_subcommands().map(|s| s.get_name()).collect();
        assert_eq!(c.values(), expected);
        assert!(expected.contains(&"completion"));
        assert_eq!(c.directive, directive::NO_FILE_COMP);
        assert!(c.render().contains("status\tShow the effective mTLS mode"));
        assert_eq!(run("st").values(), ["status"]);
    }

    #[test]
    fn flags_of_a_subcommand_include_the_global_ones() {
        let c = run("status --");
        let v = c.values();
        for f in [
            "--all-namespaces",
            "--output",
            "--require",
            "--context",
            "--namespace",
            "--help",
        ] {
            assert!(v.contains(&f), "{f} missing from {v:?}");
        }
        assert!(!v.contains(&"--strict"), "enable's flags are not status's");
        assert_eq!(run("status --req").values(), ["--require", "--request-timeout"]);
        let shorts = run("status -")
            .values()
            .into_iter()
            .filter(|f| !f.starts_with("--"))
            .count();
        assert!(shorts >= 4, "short flags -A -l -o -n -v -h are offered");
    }

    #[test]
    fn given_flags_and_their_conflicts_are_not_offered_again() {
        let v = run("enable --strict --").values().join(" ");
        assert!(!v.contains("--strict") && !v.contains("--permissive") && !v.contains("--unset"));
        assert!(v.contains("--dry-run"));
        // repeatable flags stay
        assert!(run("enable --port 80=STRICT --").values().contains(&"--port"));
        // --certs conflicts with --from
        assert!(!run("probe --certs deploy/web --").values().contains(&"--from"));
        assert!(!run("probe --from web --").values().contains(&"--certs"));
        // and the namespace positional of enable conflicts with --mesh
        assert!(!run("enable istioinaction --").values().contains(&"--mesh"));
    }

    #[test]
    fn value_enums_complete_in_every_flag_form() {
        assert_eq!(
            run("status --output ").values(),
            ["table", "wide", "json", "yaml"]
        );
        assert_eq!(run("status -o ").values(), ["table", "wide", "json", "yaml"]);
        assert_eq!(run("status -o=j").values(), ["json"]);
        assert_eq!(run("status --output=y").values(), ["yaml"]);
        assert_eq!(run("status -oj").values(), ["-ojson"]);
        assert_eq!(
            run("status --require ").values(),
            ["strict", "permissive", "disable"]
        );
        assert_eq!(
            run("enable --strict --dry-run=").values(),
            ["client", "server", "none"]
        );
        assert_eq!(run("probe -o ").values(), ["table", "json"]);
        assert_eq!(run("status --color ").values(), ["auto", "always", "never"]);
        assert_eq!(run("completion ").values(), ["bash", "zsh", "fish", "powershell"]);
        let c = run("status --require s");
        assert_eq!(c.render(), "strict\tOnly mutual TLS is accepted\n:4\n");
    }

    #[test]
    fn optional_values_do_not_swallow_the_next_word() {
        // --dry-run has an optional value given with `=`: the next word is a namespace
        let c = run("enable --strict --dry-run ist");
        assert_eq!(c.values(), ["istio-system", "istioinaction"]);
        let c = run("status -v ist");
        assert_eq!(c.values(), ["istio-system", "istioinaction"]);
    }

    #[test]
    fn namespaces_complete_for_positionals_and_namespace_flags() {
        assert_eq!(run("status ist").values(), ["istio-system", "istioinaction"]);
        assert_eq!(run("status default ").values(), ["istio-system", "istioinaction"]);
        assert_eq!(run("enable --strict d").values(), ["default"]);
        assert_eq!(run("diff --permissive ").values().len(), 3);
        assert_eq!(run("status -n istioi").values(), ["istioinaction"]);
        assert_eq!(run("status --namespace=istio-").values(), ["istio-system"]);
        assert_eq!(run("status -nistio-").values(), ["-nistio-system"]);
        assert_eq!(run("status --istio-namespace ").values().len(), 3);
        assert_eq!(run("probe web --from-namespace i").values().len(), 2);
        assert_eq!(run("-n ").values().len(), 3, "global flags before the subcommand");
        // enable takes one namespace only
        assert!(run("enable --strict default ").values().is_empty());
    }

    #[test]
    fn namespace_lookup_uses_the_typed_connection_flags() {
        let fake = Fake::new(&["a"]);
        let w = words("--kubeconfig /k --context prod status --user=admin --as bob --as-group g -n ");
        let c = complete(&w, &fake);
        assert_eq!(c.values(), ["a"]);
        let asked = fake.asked.borrow();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].kubeconfig.as_deref(), Some(std::path::Path::new("/k")));
        assert_eq!(asked[0].context.as_deref(), Some("prod"));
        assert_eq!(asked[0].user.as_deref(), Some("admin"));
        assert_eq!(asked[0].as_user.as_deref(), Some("bob"));
        assert_eq!(asked[0].as_group, ["g"]);
    }

    #[test]
    fn a_failed_lookup_answers_only_the_directive() {
        let fake = Fake {
            namespaces: None,
            asked: Default::default(),
        };
        let c = complete(&words("status "), &fake);
        assert_eq!(c.render(), ":4\n");
    }

    #[test]
    fn kubeconfig_names_complete_context_cluster_and_user() {
        assert_eq!(run("status --context ").values(), ["lab", "prod", "staging"]);
        assert_eq!(run("--context=p").values(), ["prod"]);
        assert_eq!(run("diff --cluster ").values(), ["lab-cluster"]);
        assert_eq!(run("probe --user v").values(), ["viewer"]);
    }

    #[test]
    fn files_are_left_to_the_shell_and_free_text_gets_nothing() {
        let c = run("status --kubeconfig ");
        assert_eq!((c.candidates.len(), c.directive), (0, directive::DEFAULT));
        let c = run("diff -f ");
        assert_eq!((c.candidates.len(), c.directive), (0, directive::DEFAULT));
        let c = run("status -l ");
        assert_eq!((c.candidates.len(), c.directive), (0, directive::NO_FILE_COMP));
        let c = run("probe ");
        assert_eq!((c.candidates.len(), c.directive), (0, directive::NO_FILE_COMP));
    }

    #[test]
    fn after_double_dash_words_are_positional() {
        assert_eq!(run("status -- -").values(), Vec::<&str>::new());
        assert_eq!(run("status -- i").values(), ["istio-system", "istioinaction"]);
    }

    #[test]
    fn descriptions_stay_on_one_line() {
        let c = Completions {
            candidates: vec![Candidate::described("a", Some("x\ty\nsecond".into()))],
            directive: 6,
        };
        assert_eq!(c.render(), "a\tx y\n:6\n");
    }

    /// Every value-taking argument is classified, so a new flag gets a deliberate completion.
    #[test]
    fn every_value_argument_is_classified() {
        fn walk(cmd: &Command, unclassified: &mut Vec<String>) {
            for arg in cmd.get_arguments().filter(|a| takes_value(a)) {
                let id = arg.get_id().as_str();
                if value_kind(arg) == ValueKind::Free && !FREE_TEXT_ARGS.contains(&id) {
                    unclassified.push(format!("{} {id}", cmd.get_name()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, unclassified);
            }
        }
        let mut unclassified = Vec::new();
        walk(&command_tree(), &mut unclassified);
        assert!(
            unclassified.is_empty(),
            "classify these in complete::value_kind or FREE_TEXT_ARGS: {unclassified:?}"
        );
    }
}
