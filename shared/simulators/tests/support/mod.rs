//! HTTP helpers the collaboration tests share. Every request they send is one the
//! official specs allow: with `FERRY_CONTRACT_DIR` set, these tests' traffic is captured
//! and the contract check (infra/contract) validates it. Requests the specs forbid are
//! tested in the simulators' unit tests, which are never captured.

#![allow(dead_code)]

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use serde_json::Value;
use std::path::Path;

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("body").to_vec();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, headers, bytes, body }
}

/// A client that does not follow redirects (the tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A multipart body with one `file` part per (name, content type, bytes), and its
/// content type.
pub fn multipart(files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "ferry-sim-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, ct, data) in files {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn content_type(r: reqwest::RequestBuilder, ct: &str) -> reqwest::RequestBuilder {
    r.header(CONTENT_TYPE, ct)
}

/// The keys of `theirs` (an official example) missing from `ours`.
pub fn missing_keys(ours: &Value, theirs: &Value, except: &[&str]) -> Vec<String> {
    theirs
        .as_object()
        .map(|o| {
            o.keys().filter(|k| !except.contains(&k.as_str()) && ours.get(k.as_str()).is_none()).cloned().collect()
        })
        .unwrap_or_default()
}

/// An official example under tests/specs.
pub fn spec_file(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()));
    serde_json::from_str(text.trim_start_matches('\u{feff}')).expect("example is JSON")
}

/// The response example of a Jira operation (tests/specs/jira/response-examples.json).
pub fn jira_example(operation: &str) -> Value {
    let all = spec_file("jira/response-examples.json");
    let raw = all["examples"][operation]["example"].as_str().unwrap_or_else(|| panic!("no example for {operation}"));
    serde_json::from_str(raw).expect("the example string is JSON")
}

/// The 2xx response body of a Microsoft httpExample.
pub fn ado_example(rel: &str) -> Value {
    let v = spec_file(&format!("azure-devops/{rel}"));
    let responses = v["responses"].as_object().expect("responses");
    let (_, r) = responses.iter().find(|(s, _)| s.starts_with('2')).expect("a 2xx example");
    r["body"].clone()
}
