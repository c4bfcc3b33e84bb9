//! Command-line spellings kubectl accepts that clap does not parse by itself.

use std::ffi::OsString;

/// kubectl's verbosity spellings: `-v 6`, `-v=6`, `-v6`, `--v 6`, `--v=6` all set level 6.
/// clap takes an optional value only with `=`, so `-v 6` and `-v6` are rewritten to `-v=6`
/// before parsing. A word after `-v` that is not a number stays a separate argument (`-v
/// istioinaction` is `-v` and a namespace); nothing after `--` is touched.
pub fn kubectl_verbosity(args: Vec<OsString>) -> Vec<OsString> {
    let level = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    while let Some(arg) = iter.next() {
        let Some(word) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if word == "--" {
            out.push(arg);
            out.extend(iter);
            break;
        }
        if let Some(n) = word.strip_prefix("-v").filter(|n| level(n)) {
            out.push(format!("-v={n}").into());
            continue;
        }
        if matches!(word, "-v" | "--v" | "--verbose")
            && let Some(next) = iter.peek().and_then(|n| n.to_str())
            && level(next)
        {
            let n = next.to_string();
            iter.next();
            out.push(format!("{word}={n}").into());
            continue;
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        kubectl_verbosity(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn every_kubectl_spelling_becomes_one_with_equals() {
        assert_eq!(norm(&["k", "status", "-v", "6"]), ["k", "status", "-v=6"]);
        assert_eq!(norm(&["k", "status", "-v6"]), ["k", "status", "-v=6"]);
        assert_eq!(norm(&["k", "status", "-v=7"]), ["k", "status", "-v=7"]);
        assert_eq!(norm(&["k", "status", "--v", "8"]), ["k", "status", "--v=8"]);
        assert_eq!(norm(&["k", "-v", "10", "status"]), ["k", "-v=10", "status"]);
    }

    #[test]
    fn other_words_stay_apart() {
        assert_eq!(
            norm(&["k", "status", "-v", "istioinaction"]),
            ["k", "status", "-v", "istioinaction"]
        );
        assert_eq!(norm(&["k", "status", "-v"]), ["k", "status", "-v"]);
        assert_eq!(
            norm(&["k", "probe", "x", "--", "-v", "6"]),
            ["k", "probe", "x", "--", "-v", "6"]
        );
        assert_eq!(norm(&["k", "status", "-vx"]), ["k", "status", "-vx"]);
    }
}
