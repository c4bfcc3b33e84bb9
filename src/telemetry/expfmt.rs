//! A small strict parser for the Prometheus text exposition format (version 0.0.4), the format
//! Envoy answers `stats/prometheus` with. Pure: text in, samples out.
//!
//! Accepted: `# HELP` / `# TYPE` / other comment lines, blank lines, and sample lines
//! `name{label="value",...} value [timestamp]`. Label values may contain `\\`, `\"` and `\n`
//! escapes; values are Go floats (`NaN`, `+Inf`, `-Inf` included). Anything else is an error
//! naming the line, never a silently skipped sample.

use std::collections::BTreeMap;
use std::fmt;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, by name.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Why the text could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn is_label_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses a float the way Prometheus does (Go's `ParseFloat` plus `Inf`/`NaN` spellings).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => {
            // Rust accepts "infinity"/"nan" spellings Go does not; those are handled above.
            let lower = s.to_ascii_lowercase();
            if lower.contains("inf") || lower.contains("nan") || s.is_empty() {
                return None;
            }
            s.parse::<f64>().ok()
        }
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }
    fn skip_blanks(&mut self) {
        self.take_while(|c| c == ' ' || c == '\t');
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
}

fn parse_labels(c: &mut Cursor<'_>) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    loop {
        c.skip_blanks();
        match c.peek() {
            Some('}') => {
                c.bump();
                return Ok(labels);
            }
            Some(ch) if is_label_start(ch) => {}
            Some(ch) => return Err(format!("unexpected {ch:?} where a label name should be")),
            None => return Err("unterminated label set".into()),
        }
        let name = c.take_while(is_label_char).to_string();
        c.skip_blanks();
        if c.bump() != Some('=') {
            return Err(format!("expected '=' after label {name}"));
        }
        c.skip_blanks();
        if c.bump() != Some('"') {
            return Err(format!("expected '\"' to open the value of label {name}"));
        }
        let mut value = String::new();
        loop {
            match c.bump() {
                None => return Err(format!("unterminated value of label {name}")),
                Some('"') => break,
                Some('\\') => match c.bump() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    Some(other) => {
                        return Err(format!("invalid escape \\{other} in label {name}"));
                    }
                    None => return Err(format!("unterminated value of label {name}")),
                },
                Some(ch) => value.push(ch),
            }
        }
        if labels.insert(name.clone(), value).is_some() {
            return Err(format!("label {name} appears twice"));
        }
        c.skip_blanks();
        match c.peek() {
            Some(',') => {
                c.bump();
            }
            Some('}') => {}
            Some(ch) => return Err(format!("unexpected {ch:?} after the value of label {name}")),
            None => return Err("unterminated label set".into()),
        }
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let mut c = Cursor { s: line, pos: 0 };
    c.skip_blanks();
    match c.peek() {
        Some(ch) if is_name_start(ch) => {}
        _ => return Err("a sample line must start with a metric name".into()),
    }
    let name = c.take_while(is_name_char).to_string();
    c.skip_blanks();
    let labels = if c.peek() == Some('{') {
        c.bump();
        parse_labels(&mut c)?
    } else {
        BTreeMap::new()
    };
    let rest: Vec<&str> = c.rest().split_ascii_whitespace().collect();
    let value = match rest.as_slice() {
        [v] | [v, _] => parse_value(v).ok_or_else(|| format!("invalid value {v:?}"))?,
        [] => return Err(format!("no value for {name}")),
        _ => return Err(format!("unexpected text after the value of {name}")),
    };
    if let [_, ts] = rest.as_slice()
        && ts.parse::<i64>().is_err()
    {
        return Err(format!("invalid timestamp {ts:?}"));
    }
    Ok(Sample { name, labels, value })
}

/// Parses a whole exposition. Comment lines (`# HELP`, `# TYPE`, any `#` line) are skipped.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        out.push(parse_sample(line).map_err(|message| ParseError { line: i + 1, message })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_envoy_style_istio_counters() {
        let text = "# TYPE istio_requests_total counter\n\
            istio_requests_total{response_code=\"200\",reporter=\"destination\",source_workload=\"sleep\",connection_security_policy=\"none\"} 120\n\
            \n\
            # HELP envoy_server_uptime Uptime\n\
            envoy_server_uptime 3600 1700000000000\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "istio_requests_total");
        assert_eq!(s[0].labels["source_workload"], "sleep");
        assert_eq!(s[0].labels["connection_security_policy"], "none");
        assert_eq!(s[0].value, 120.0);
        assert_eq!(s[1].name, "envoy_server_uptime");
        assert!(s[1].labels.is_empty());
        assert_eq!(s[1].value, 3600.0);
    }

    #[test]
    fn label_escapes_and_spacing() {
        let s = parse("m{ a = \"x\\\"y\\\\z\\n\" , b=\"\",} 1e3\n").unwrap();
        assert_eq!(s[0].labels["a"], "x\"y\\z\n");
        assert_eq!(s[0].labels["b"], "");
        assert_eq!(s[0].value, 1000.0);
    }

    #[test]
    fn special_values() {
        let s = parse("a +Inf\nb -Inf\nc NaN\nd -0.5\n").unwrap();
        assert_eq!(s[0].value, f64::INFINITY);
        assert_eq!(s[1].value, f64::NEG_INFINITY);
        assert!(s[2].value.is_nan());
        assert_eq!(s[3].value, -0.5);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, needle) in [
            ("ok 1\nm{a=\"x\"\n", "unterminated"),
            ("m{a=x} 1\n", "expected '\"'"),
            ("m{a=\"x\",a=\"y\"} 1\n", "twice"),
            ("m{a=\"\\t\"} 1\n", "invalid escape"),
            ("m\n", "no value"),
            ("m one\n", "invalid value"),
            ("m 1 2 3\n", "unexpected text"),
            ("m 1 soon\n", "invalid timestamp"),
            ("{a=\"b\"} 1\n", "metric name"),
            ("m{1a=\"b\"} 1\n", "label name"),
            ("m infinity\n", "invalid value"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
        assert_eq!(parse("ok 1\nbad\n").unwrap_err().line, 2);
    }

    #[test]
    fn round_trips_generated_series() {
        // Property-style: every rendered label set and value parses back to itself.
        let values = [
            "",
            "plain",
            "quote\"in",
            "back\\slash",
            "new\nline",
            "ünïcode",
            "a,b}c",
        ];
        for (i, v) in values.iter().enumerate() {
            for (j, w) in values.iter().enumerate() {
                let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let n = (i * 31 + j) as f64 * 0.25;
                let line = format!("metric_{i}{{x=\"{}\",y=\"{}\"}} {n}\n", esc(v), esc(w));
                let s = parse(&line).unwrap();
                assert_eq!(s[0].name, format!("metric_{i}"));
                assert_eq!(s[0].labels["x"], *v);
                assert_eq!(s[0].labels["y"], *w);
                assert_eq!(s[0].value, n);
            }
        }
    }
}
