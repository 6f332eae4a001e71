//! Malformed and cut answers to the Jira connector's collaboration requests, served raw by
//! a loopback server: each is a clear error naming the request, never a panic, an empty
//! list or a short file taken for a whole one.

use async_trait::async_trait;
use ferry_connectors::http::HttpOptions;
use ferry_connectors::jira::JiraConnector;
use ferry_domain::ports::Connector;
use ferry_domain::{
    Attachment, AuthConfig, ByteSink, ByteSource, CommentWrite, EntityId, ErrorCategory, PortError, Scope, SecretRef,
    SystemConfig, SystemId, SystemKind,
};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len())
        .into_bytes();
    out.extend_from_slice(body);
    out
}

fn json(body: &str) -> Vec<u8> {
    response("200 OK", "Content-Type: application/json\r\n", body.as_bytes())
}

/// Answers each request with the first route whose `METHOD /path` prefix starts its
/// request line (404 otherwise), after reading the request whole.
async fn serve(routes: Vec<(&'static str, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
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
                let reply = routes
                    .iter()
                    .find(|(prefix, _)| line.starts_with(prefix))
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| response("404 Not Found", "", b""));
                let _ = sock.write_all(&reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    base
}

fn jira(base: &str) -> JiraConnector {
    let system = SystemConfig {
        id: SystemId::parse("j1").unwrap(),
        kind: SystemKind::Jira,
        base_url: base.into(),
        identity_url: None,
        auth: AuthConfig::Basic { username: "bot@x.test".into(), token: SecretRef::Env("T".into()) },
        integration_user: None,
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    };
    let opts = HttpOptions { max_attempts: 2, backoff_base: Duration::from_millis(5), ..HttpOptions::default() };
    JiraConnector::new(&system, SecretString::from("t"), opts).unwrap()
}

fn scope() -> Scope {
    Scope { project: "APP".into(), entity_type: "Bug".into() }
}

fn issue() -> EntityId {
    EntityId::new("10000")
}

const ISSUE: &str = r#"{"id":"10000","key":"APP-1","fields":{"attachment":[]}}"#;

fn expect(r: Result<impl std::fmt::Debug, PortError>, category: ErrorCategory, names: &[&str]) {
    let e = r.expect_err("an error");
    assert_eq!(e.category, category, "{e}");
    for n in names {
        assert!(e.message.contains(n), "{n:?} not in {:?}", e.message);
    }
}

#[tokio::test]
async fn a_comment_page_without_its_comments_is_an_error_not_no_comments() {
    let base = serve(vec![
        ("GET /rest/api/3/issue/10000/comment", json(r#"{"startAt":0,"maxResults":100,"total":3}"#)),
        ("GET /rest/api/3/issue/10000", json(ISSUE)),
    ])
    .await;
    expect(
        jira(&base).comments(&scope(), &issue()).await,
        ErrorCategory::BadResponse,
        &["issue/10000/comment", "comments"],
    );
}

#[tokio::test]
async fn a_comment_whose_body_is_not_adf_is_an_error_naming_it() {
    let page = r#"{"startAt":0,"maxResults":100,"total":1,"comments":[
        {"id":"77","body":"plain","created":"2026-11-26T19:24:50.123+0100","updated":"2026-11-26T19:24:50.123+0100","properties":[]}]}"#;
    let base =
        serve(vec![("GET /rest/api/3/issue/10000/comment", json(page)), ("GET /rest/api/3/issue/10000", json(ISSUE))])
            .await;
    expect(jira(&base).comments(&scope(), &issue()).await, ErrorCategory::BadResponse, &["APP-1", "comment 77"]);
}

#[tokio::test]
async fn a_page_that_ends_the_list_early_is_an_error() {
    let page = r#"{"startAt":0,"maxResults":100,"total":5,"comments":[]}"#;
    let base =
        serve(vec![("GET /rest/api/3/issue/10000/comment", json(page)), ("GET /rest/api/3/issue/10000", json(ISSUE))])
            .await;
    expect(jira(&base).comments(&scope(), &issue()).await, ErrorCategory::BadResponse, &["0 of 5 comments"]);
}

#[derive(Default)]
struct Sink(Vec<u8>);

#[async_trait]
impl ByteSink for Sink {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.0.extend_from_slice(chunk);
        Ok(())
    }
}

fn attachment(size: u64) -> Attachment {
    Attachment {
        id: "10100".into(),
        name: "a.bin".into(),
        size,
        mime_type: None,
        author: None,
        created: chrono::Utc::now(),
        url: String::new(),
    }
}

#[tokio::test]
async fn a_download_cut_short_is_a_network_error_and_a_longer_one_a_bad_response() {
    // The server promises 100 bytes and closes after 10.
    let mut cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n".to_vec();
    cut.extend_from_slice(&[7u8; 10]);
    let base = serve(vec![("GET /rest/api/3/attachment/content/10100", cut)]).await;
    let mut sink = Sink::default();
    let r = jira(&base).download(&scope(), &issue(), &attachment(100), &mut sink).await;
    expect(r, ErrorCategory::Network, &["attachment/content/10100"]);

    let whole = response("200 OK", "", &[1u8; 60]);
    let base = serve(vec![("GET /rest/api/3/attachment/content/10100", whole)]).await;
    let r = jira(&base).download(&scope(), &issue(), &attachment(50), &mut Sink::default()).await;
    expect(r, ErrorCategory::BadResponse, &["a.bin", "50"]);
    let r = jira(&base).download(&scope(), &issue(), &attachment(70), &mut Sink::default()).await;
    expect(r, ErrorCategory::Network, &["after 60 of 70 bytes"]);
}

struct Once(Option<Vec<u8>>);

#[async_trait]
impl ByteSource for Once {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        Ok(self.0.take())
    }
}

#[tokio::test]
async fn an_upload_answered_without_one_attachment_is_an_error_that_says_it_may_be_stored() {
    let base = serve(vec![("POST /rest/api/3/issue/10000/attachments", json("[]"))]).await;
    let r = jira(&base).upload(&scope(), &issue(), "a.txt", 3, &mut Once(Some(b"abc".to_vec()))).await;
    let e = r.expect_err("an error");
    assert_eq!(e.category, ErrorCategory::BadResponse, "{e}");
    assert!(e.message.contains("0 attachments"), "{}", e.message);
    assert!(!e.nothing_applied, "the file may have been stored");
}

#[tokio::test]
async fn an_image_whose_redirect_names_no_media_file_is_an_error_without_the_token() {
    let issue_with_file = r#"{"id":"10000","key":"APP-1","fields":{"attachment":[
        {"id":"10100","filename":"a.png","size":3,"created":"2026-11-26T19:24:50.123+0100"}]}}"#;
    let redirect = response("303 See Other", "Location: https://media.test/elsewhere/abc?token=SECRET\r\n", b"");
    let base = serve(vec![
        ("GET /rest/api/3/attachment/content/10100", redirect),
        ("GET /rest/api/3/issue/10000", json(issue_with_file)),
    ])
    .await;
    let w =
        CommentWrite { body: r#"<p><img src="ferry-attachment:10100" alt="a.png"></p>"#.into(), origin: "o".into() };
    let e = jira(&base).add_comment(&scope(), &issue(), &w).await.expect_err("an error");
    assert_eq!(e.category, ErrorCategory::BadResponse, "{e}");
    assert!(e.message.contains("attachment/content/10100") && e.message.contains("/elsewhere/abc"), "{}", e.message);
    assert!(!e.message.contains("SECRET"), "{}", e.message);
}
