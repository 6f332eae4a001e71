//! Malformed, truncated and rejecting responses from Jira and Azure DevOps, served raw
//! by a loopback server: each gives a clear error naming the request, in a category
//! that decides retry (network) or park (bad response, invalid request), and never a
//! panic or an empty result.

use ferry_connectors::ado::AdoConnector;
use ferry_connectors::http::HttpOptions;
use ferry_connectors::jira::JiraConnector;
use ferry_domain::ports::Connector;
use ferry_domain::{
    AuthConfig, EntityId, ErrorCategory, FieldChange, FieldKey, FieldValue, PortError, Scope, SecretRef, SystemConfig,
    SystemId, SystemKind,
};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A raw HTTP/1.1 response: the bytes go out exactly as given, then the connection closes.
fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn ok_json(body: &str) -> Vec<u8> {
    response("200 OK", "application/json", body)
}

/// Requests seen, as `METHOD /path`.
type Hits = Arc<Mutex<Vec<String>>>;

/// Serves canned responses chosen by the first route whose `METHOD /path-prefix` starts
/// the request line; anything else gets a 404.
async fn serve(routes: Vec<(&'static str, Vec<u8>)>) -> (String, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits: Hits = Arc::default();
    let seen = hits.clone();
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let routes = routes.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let mut parts = head.split_whitespace();
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let line = format!("{method} {}", target.split('?').next().unwrap_or(""));
                seen.lock().unwrap().push(line.clone());
                let reply = routes
                    .iter()
                    .find(|(prefix, _)| line.starts_with(prefix))
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| response("404 Not Found", "application/json", r#"{"message":"no route"}"#));
                let _ = sock.write_all(&reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (base, hits)
}

fn count(hits: &Hits, prefix: &str) -> usize {
    hits.lock().unwrap().iter().filter(|h| h.starts_with(prefix)).count()
}

fn opts() -> HttpOptions {
    HttpOptions {
        allow_http_loopback: true,
        max_attempts: 2,
        backoff_base: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    }
}

fn system(kind: SystemKind, base_url: String, auth: AuthConfig) -> SystemConfig {
    SystemConfig {
        id: SystemId::parse("t").unwrap(),
        kind,
        base_url,
        identity_url: None,
        auth,
        integration_user: Some("bot@acme.test".into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    }
}

const SECRET: &str = "s3cret-token-value";

fn jira(base: &str) -> JiraConnector {
    let auth = AuthConfig::Basic { username: "bot@acme.test".into(), token: SecretRef::Env("T".into()) };
    JiraConnector::new(&system(SystemKind::Jira, base.to_string(), auth), SecretString::from(SECRET), opts()).unwrap()
}

fn ado(base: &str) -> AdoConnector {
    let auth = AuthConfig::Pat { token: SecretRef::Env("P".into()) };
    AdoConnector::new(&system(SystemKind::AzureDevops, format!("{base}/org"), auth), SecretString::from(SECRET), opts())
        .unwrap()
}

fn scope() -> Scope {
    Scope { project: "APP".into(), entity_type: "Bug".into() }
}

/// The checks every error here must pass, returning it for the specific ones.
fn clear(r: Result<impl std::fmt::Debug, PortError>, category: ErrorCategory, names: &[&str]) -> PortError {
    let e = r.expect_err("a bad response must be an error");
    assert_eq!(e.category, category, "{e}");
    for n in names {
        assert!(e.message.contains(n), "{n:?} missing from: {e}");
    }
    assert!(!e.message.contains(SECRET), "secret in: {e}");
    e
}

const JIRA_FIELDS: &str = r#"[
  {"id": "summary", "name": "Summary", "schema": {"type": "string", "system": "summary"}},
  {"id": "customfield_10050", "name": "Root cause", "schema": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}}
]"#;

#[tokio::test]
async fn jira_malformed_bodies_are_bad_responses_not_empty_lists() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated JSON", ok_json(r#"{"values": [{"id": "1", "key": "AP"#), "not the expected JSON"),
        (
            "HTML login page",
            response("200 OK", "text/html", "<html><body>Log in</body></html>"),
            "not the expected JSON",
        ),
        ("empty body", ok_json(""), "not the expected JSON"),
        (
            "values not an array",
            ok_json(r#"{"values": "APP", "isLast": true}"#),
            "at `values`: invalid type: string \"APP\", expected a sequence",
        ),
        ("an array instead of a page", ok_json("[]"), "expected an object, found an array"),
    ];
    for (name, body, says) in cases {
        let (base, hits) = serve(vec![("GET /rest/api/3/project/search", body)]).await;
        let e = clear(jira(&base).projects().await, ErrorCategory::BadResponse, &["project/search", says]);
        assert!(!e.is_retryable(), "{name}: {e}");
        assert_eq!(count(&hits, "GET"), 1, "{name}: a bad response is not retried");
    }
    // Control: a well-formed empty page is no error.
    let (base, _) = serve(vec![("GET /rest/api/3/project/search", ok_json(r#"{"values": [], "isLast": true}"#))]).await;
    assert!(jira(&base).projects().await.unwrap().is_empty());
}

#[tokio::test]
async fn jira_search_without_an_issues_array_is_an_error_not_no_match() {
    // Read as "no match", it would make the engine create a duplicate.
    let (base, _) = serve(vec![
        ("GET /rest/api/3/field", ok_json(JIRA_FIELDS)),
        ("POST /rest/api/3/search/jql", ok_json(r#"{"isLast": true}"#)),
    ])
    .await;
    let c = jira(&base);
    clear(
        c.find_by_field(&scope(), &FieldKey::new("customfield_10050"), "ADO-7").await,
        ErrorCategory::BadResponse,
        &["search/jql", "missing field `issues`"],
    );
    clear(c.last_updated(&scope()).await, ErrorCategory::BadResponse, &["search/jql", "missing field `issues`"]);
}

#[tokio::test]
async fn jira_user_search_with_a_malformed_body_is_an_error_not_user_not_found() {
    let (base, _) = serve(vec![("GET /rest/api/3/user/search", ok_json(r#"{"errorMessages": []}"#))]).await;
    clear(
        jira(&base).find_user_by_email("alice@acme.test").await,
        ErrorCategory::BadResponse,
        &["user/search", "expected an array"],
    );
}

#[tokio::test]
async fn jira_body_cut_short_is_a_network_error_retried_a_bounded_number_of_times() {
    // Content-Length promises more than arrives before the connection closes.
    let cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"accountId\": \"5b1"
        .to_vec();
    let (base, hits) = serve(vec![("GET /rest/api/3/myself", cut)]).await;
    let e = clear(jira(&base).integration_user().await, ErrorCategory::Network, &["GET /rest/api/3/myself"]);
    assert!(e.is_retryable(), "{e}");
    assert_eq!(count(&hits, "GET /rest/api/3/myself"), 2, "max_attempts bounds the retries");
}

#[tokio::test]
async fn jira_400_surfaces_the_field_message_and_is_not_retried() {
    let rejected = response(
        "400 Bad Request",
        "application/json",
        r#"{"errorMessages": [], "errors": {"customfield_10050": "The entered text is too long. It exceeds the allowed limit of 255 characters."}}"#,
    );
    let (base, hits) =
        serve(vec![("GET /rest/api/3/field", ok_json(JIRA_FIELDS)), ("PUT /rest/api/3/issue/10001", rejected)]).await;
    let change = FieldChange { field: FieldKey::new("customfield_10050"), value: FieldValue::Text("x".repeat(300)) };
    let e = clear(
        jira(&base).update(&scope(), &EntityId::new("10001"), &[change], None, &[]).await,
        ErrorCategory::InvalidRequest,
        &[
            "HTTP 400",
            "customfield_10050: The entered text is too long. It exceeds the allowed limit of 255 characters.",
        ],
    );
    assert!(!e.is_retryable());
    assert_eq!(count(&hits, "PUT"), 1);
}

#[tokio::test]
async fn jira_oversized_summary_fails_before_anything_is_sent() {
    let (base, hits) = serve(vec![("GET /rest/api/3/field", ok_json(JIRA_FIELDS))]).await;
    let change = FieldChange { field: FieldKey::new("summary"), value: FieldValue::Text("s".repeat(256)) };
    clear(
        jira(&base).update(&scope(), &EntityId::new("10001"), &[change], None, &[]).await,
        ErrorCategory::InvalidRequest,
        &["field summary (Summary)", "256 characters", "at most 255"],
    );
    assert_eq!(count(&hits, "PUT"), 0, "nothing is written, nothing truncated");
}

const ADO_FIELDS: &str = r#"{"count": 2, "value": [
  {"referenceName": "System.Title", "name": "Title", "type": "string"},
  {"referenceName": "System.Description", "name": "Description", "type": "html"}
]}"#;

#[tokio::test]
async fn ado_malformed_bodies_are_bad_responses() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated JSON", ok_json(r#"{"count": 1, "value": [{"id": "p1", "na"#)),
        ("value not a list", ok_json(r#"{"count": 1, "value": "App"}"#)),
        ("HTML", response("200 OK", "text/html", "<html>Sign in</html>")),
        ("empty body", ok_json("")),
    ];
    for (name, body) in cases {
        let (base, hits) = serve(vec![("GET /org/_apis/projects", body)]).await;
        let e =
            clear(ado(&base).projects().await, ErrorCategory::BadResponse, &["ADO projects", "not the expected JSON"]);
        assert!(!e.is_retryable(), "{name}: {e}");
        assert_eq!(count(&hits, "GET"), 1, "{name}");
    }
}

#[tokio::test]
async fn ado_400_surfaces_the_server_message_and_is_not_retried() {
    let rejected = response(
        "400 Bad Request",
        "application/json",
        r#"{"$id": "1", "message": "TF401320: Rule Error for field Description. Error code: InvalidTooLong.", "typeKey": "RuleValidationException", "errorCode": 0}"#,
    );
    let (base, hits) = serve(vec![
        ("GET /org/App/_apis/wit/fields", ok_json(ADO_FIELDS)),
        ("PATCH /org/App/_apis/wit/workitems/7", rejected),
    ])
    .await;
    let scope = Scope { project: "App".into(), entity_type: "Bug".into() };
    let change = FieldChange {
        field: FieldKey::new("System.Description"),
        value: FieldValue::RichText(format!("<p>{}</p>", "d".repeat(40_000))),
    };
    let e = clear(
        ado(&base).update(&scope, &EntityId::new("7"), &[change], None, &[]).await,
        ErrorCategory::InvalidRequest,
        &["HTTP 400", "TF401320: Rule Error for field Description. Error code: InvalidTooLong."],
    );
    assert!(!e.is_retryable());
    assert_eq!(count(&hits, "PATCH"), 1);
}

#[tokio::test]
async fn ado_oversized_title_fails_before_anything_is_sent() {
    let (base, hits) = serve(vec![("GET /org/App/_apis/wit/fields", ok_json(ADO_FIELDS))]).await;
    let scope = Scope { project: "App".into(), entity_type: "Bug".into() };
    let change = FieldChange { field: FieldKey::new("System.Title"), value: FieldValue::Text("t".repeat(256)) };
    clear(
        ado(&base).update(&scope, &EntityId::new("7"), &[change], None, &[]).await,
        ErrorCategory::InvalidRequest,
        &["field System.Title", "256 characters", "at most 255"],
    );
    assert_eq!(count(&hits, "PATCH"), 0);
}

#[tokio::test]
async fn ado_wiql_without_work_items_is_an_error_not_no_match() {
    // Read as "no match", it would make the engine create a duplicate.
    let (base, _) = serve(vec![(
        "POST /org/App/_apis/wit/wiql",
        ok_json(r#"{"queryType": "flat", "asOf": "2026-11-26T10:00:00Z"}"#),
    )])
    .await;
    let scope = Scope { project: "App".into(), entity_type: "Bug".into() };
    clear(
        ado(&base).find_by_field(&scope, &FieldKey::new("Custom.JiraKey"), "APP-1").await,
        ErrorCategory::BadResponse,
        &["ADO WIQL", "missing field `workItems`"],
    );
    // A list without `value` is no empty list either.
    let (base, _) = serve(vec![("GET /org/_apis/projects", ok_json(r#"{"count": 0}"#))]).await;
    clear(ado(&base).projects().await, ErrorCategory::BadResponse, &["ADO projects", "missing field `value`"]);
}

#[tokio::test]
async fn an_oversized_response_is_refused_not_read_into_memory() {
    // Declared bigger than the cap: refused before the body is read.
    let declared = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{",
        ferry_connectors::http::MAX_RESPONSE_BYTES + 1
    )
    .into_bytes();
    // Undeclared (chunk after chunk until the connection closes): refused at the cap.
    let mut streamed = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[\"".to_vec();
    streamed.extend(std::iter::repeat_n(b'x', ferry_connectors::http::MAX_RESPONSE_BYTES + 10));
    for reply in [declared, streamed] {
        let (base, hits) = serve(vec![("GET /rest/api/3/myself", reply)]).await;
        let e = clear(
            jira(&base).integration_user().await,
            ErrorCategory::BadResponse,
            &["GET /rest/api/3/myself", "32 MB"],
        );
        assert!(!e.is_retryable(), "{e}");
        assert_eq!(count(&hits, "GET /rest/api/3/myself"), 1, "not retried");
    }
}
