//! Prometheus HTTP API answers (`/api/v1/query`) as data. Pure.
//!
//! An instant query answers `{"status":"success","data":{"resultType":"vector","result":[
//! {"metric":{...},"value":[<time>,"<value>"]}]}}`, or `{"status":"error","errorType":...,
//! "error":...}` (with HTTP 400, 422 or 503). Anything else is an error saying what came back.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: BTreeMap<String, String>,
    value: (serde_json::Value, String),
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSample {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 120 {
        format!("{}...", one_line.chars().take(120).collect::<String>())
    } else {
        one_line
    }
}

/// Reads the answer to an instant query: the HTTP status and the body.
pub fn parse_vector(http_status: u16, body: &[u8]) -> Result<Vec<VectorSample>, String> {
    let env: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            return Err(if (200..300).contains(&http_status) {
                format!(
                    "the answer is not a Prometheus API response ({e}): {}",
                    snippet(body)
                )
            } else {
                format!("HTTP {http_status}: {}", snippet(body))
            });
        }
    };
    if env.status != "success" {
        return Err(format!(
            "query failed (HTTP {http_status}, {}): {}",
            env.error_type.as_deref().unwrap_or("no error type"),
            env.error.as_deref().unwrap_or("no message")
        ));
    }
    if !(200..300).contains(&http_status) {
        return Err(format!("HTTP {http_status} with a success status"));
    }
    let data = env.data.ok_or("a success answer without data")?;
    if data.result_type != "vector" {
        return Err(format!("expected a vector result, got {}", data.result_type));
    }
    let items: Vec<VectorItem> =
        serde_json::from_value(data.result).map_err(|e| format!("malformed vector result: {e}"))?;
    items
        .into_iter()
        .map(|it| {
            let value = super::expfmt::parse_value(&it.value.1)
                .ok_or_else(|| format!("invalid sample value {:?}", it.value.1))?;
            Ok(VectorSample {
                labels: it.metric,
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vector() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"reporter":"destination","source_workload":"sleep"},"value":[1700000000.123,"119.5"]},
            {"metric":{},"value":[1700000000,"0"]}]}}"#;
        let v = parse_vector(200, body).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels["source_workload"], "sleep");
        assert_eq!(v[0].value, 119.5);
        assert!(v[1].labels.is_empty());
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["x"]}"#;
        assert!(parse_vector(200, empty).unwrap().is_empty());
    }

    #[test]
    fn errors_say_what_came_back() {
        let e = parse_vector(
            400,
            br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": parse error"}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("bad_data") && e.contains("parse error") && e.contains("400"),
            "{e}"
        );
        let e = parse_vector(502, b"<html><body>Bad Gateway</body></html>").unwrap_err();
        assert_eq!(e, "HTTP 502: <html><body>Bad Gateway</body></html>");
        let e = parse_vector(200, b"hello").unwrap_err();
        assert!(e.contains("not a Prometheus API response"), "{e}");
        let e = parse_vector(
            200,
            br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
        )
        .unwrap_err();
        assert!(e.contains("matrix"), "{e}");
        let e = parse_vector(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
        )
        .unwrap_err();
        assert!(e.contains("invalid sample value"), "{e}");
        let e = parse_vector(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#,
        )
        .unwrap_err();
        assert!(e.contains("malformed"), "{e}");
    }
}
