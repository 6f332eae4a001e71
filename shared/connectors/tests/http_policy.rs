//! Transport policy against real loopback sockets: credentials never follow a redirect
//! to another host, the host allow-list covers redirects, the configured proxy is
//! used, and a request that may have been applied is sent again only when harmless. Each server is a few lines of raw HTTP/1.1 so the tests see exactly what
//! arrived on the wire.

use ferry_connectors::http::{AllowedHosts, Auth, Http, HttpOptions};
use ferry_domain::ErrorCategory;
use reqwest::Method;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server answering every request with `respond(request_head)` and
/// recording each request head (request line and headers, lower-cased names kept as sent).
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(ip: &str, respond: impl Fn(&str) -> String + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let respond = Arc::new(respond);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log.clone();
                let respond = respond.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    log.lock().unwrap().push(head.clone());
                    let _ = sock.write_all(respond(&head).as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Server { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn reply(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{extra_headers}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn redirect_to(location: String) -> impl Fn(&str) -> String + Send + Sync + 'static {
    move |_| reply("302 Found", &format!("location: {location}\r\n"), "")
}

fn ok(_: &str) -> String {
    reply("200 OK", "", "{}")
}

/// The value of header `name` (case-insensitive) in a recorded request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn opts() -> HttpOptions {
    HttpOptions {
        allow_http_loopback: true,
        max_attempts: 3,
        backoff_base: Duration::from_millis(5),
        ..HttpOptions::default()
    }
}

fn basic() -> Auth {
    Auth::Basic { username: "bot@acme.test".into(), password: SecretString::from("pw-redirect-secret".to_string()) }
}

async fn get(http: &Http, path: &str) -> Result<ferry_connectors::http::HttpResponse, ferry_domain::PortError> {
    let url = http.url(path).expect("url");
    http.send(Method::GET, url, None, None).await
}

#[tokio::test]
async fn authorization_is_not_sent_to_another_host_on_redirect() {
    for auth in [basic(), Auth::Bearer(SecretString::from("bearer-redirect-secret".to_string()))] {
        let other = Server::start("127.0.0.2", ok).await;
        let origin = Server::start("127.0.0.1", redirect_to(other.url("/landing"))).await;
        let http = Http::new("jira j1", &origin.url("/"), auth, opts(), |_| None).expect("client");
        let resp = get(&http, "start").await.expect("redirect followed");
        assert_eq!(resp.status.as_u16(), 200);

        let first = origin.requests();
        assert_eq!(first.len(), 1, "{first:?}");
        assert!(header(&first[0], "authorization").is_some(), "the origin gets the credentials: {}", first[0]);
        let second = other.requests();
        assert_eq!(second.len(), 1, "{second:?}");
        assert!(second[0].starts_with("GET /landing "), "{}", second[0]);
        assert_eq!(header(&second[0], "authorization"), None, "credentials leaked to the other host: {}", second[0]);
        assert!(!second[0].contains("secret"), "{}", second[0]);
    }
}

#[tokio::test]
async fn an_api_key_header_never_follows_a_redirect_to_another_host() {
    let key =
        || Auth::Header { name: "X-Redmine-API-Key", key: SecretString::from("apikey-redirect-secret".to_string()) };

    // Another port on the same address is another origin too.
    let other = Server::start("127.0.0.1", ok).await;
    let origin = Server::start("127.0.0.1", redirect_to(other.url("/landing"))).await;
    let http = Http::new("redmine r1", &origin.url("/"), key(), opts(), |_| None).expect("client");
    let err = get(&http, "start").await.expect_err("cross-origin redirect refused");
    assert_eq!(err.category, ErrorCategory::Config, "{err}");
    assert!(err.message.contains("redirect to another host"), "{}", err.message);
    assert!(!err.message.contains("apikey-redirect-secret"), "{}", err.message);
    assert!(other.requests().is_empty(), "the other host was called: {:?}", other.requests());
    assert_eq!(origin.requests().len(), 1, "a refused redirect is not retried");

    // A redirect within the same origin keeps working, key included.
    let same = Server::start("127.0.0.1", |head: &str| {
        if head.starts_with("GET /start ") {
            reply("302 Found", "location: /landing\r\n", "")
        } else {
            ok(head)
        }
    })
    .await;
    let http = Http::new("redmine r1", &same.url("/"), key(), opts(), |_| None).expect("client");
    assert_eq!(get(&http, "start").await.expect("same-origin redirect").status.as_u16(), 200);
    let seen = same.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(header(&seen[1], "x-redmine-api-key"), Some("apikey-redirect-secret"));
}

#[tokio::test]
async fn redirects_to_hosts_outside_the_allow_list_are_refused() {
    let other = Server::start("127.0.0.2", ok).await;
    let origin = Server::start("127.0.0.1", redirect_to(other.url("/landing"))).await;
    let opts = HttpOptions { allowed_hosts: AllowedHosts::parse("127.0.0.1").unwrap(), ..opts() };
    let http = Http::new("jira j1", &origin.url("/"), basic(), opts, |_| None).expect("client");
    let err = get(&http, "start").await.expect_err("redirect refused");
    assert_eq!(err.category, ErrorCategory::Config, "{err}");
    assert!(
        err.message.contains("redirect to host 127.0.0.2 refused: it is not in FERRY_ALLOWED_HOSTS (127.0.0.1)"),
        "{}",
        err.message
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    assert_eq!(origin.requests().len(), 1, "a refused redirect is not retried");
}

#[tokio::test]
async fn redirects_that_downgrade_to_plain_http_are_refused() {
    let origin = Server::start("127.0.0.1", redirect_to("http://jira.example.test/landing".into())).await;
    let http = Http::new("jira j1", &origin.url("/"), basic(), opts(), |_| None).expect("client");
    let err = get(&http, "start").await.expect_err("redirect refused");
    assert_eq!(err.category, ErrorCategory::Config, "{err}");
    assert!(err.message.contains("plain http"), "{}", err.message);
}

#[tokio::test]
async fn plain_requests_go_through_the_configured_proxy() {
    let proxy = Server::start("127.0.0.1", |_: &str| reply("200 OK", "", r#"{"via":"proxy"}"#)).await;
    // Nothing listens at the target: only the proxy can answer.
    let target = "http://127.0.0.1:9/";
    let opts = HttpOptions { proxy: Some(format!("http://{}", proxy.addr)), ..opts() };
    let http = Http::new("jira j1", target, basic(), opts, |_| None).expect("client");
    let resp = get(&http, "rest/api/3/myself").await.expect("answered by the proxy");
    assert_eq!(resp.body, br#"{"via":"proxy"}"#);
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("GET http://127.0.0.1:9/rest/api/3/myself HTTP/1.1"), "{}", seen[0]);
}

#[tokio::test]
async fn https_requests_tunnel_through_the_configured_proxy() {
    // The proxy refuses the tunnel: the connector must have asked it (and nobody else).
    let proxy = Server::start("127.0.0.1", |_: &str| reply("403 Forbidden", "", "")).await;
    let opts = HttpOptions { proxy: Some(format!("http://{}", proxy.addr)), max_attempts: 1, ..opts() };
    let http = Http::new("jira j1", "https://jira.example.test/", basic(), opts, |_| None).expect("client");
    let err = get(&http, "rest/api/3/myself").await.expect_err("the tunnel was refused");
    assert_eq!(err.category, ErrorCategory::Network, "{err}");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("CONNECT jira.example.test:443 HTTP/1.1"), "{}", seen[0]);
    // The credentials travel inside the TLS tunnel, never to the proxy.
    assert_eq!(header(&seen[0], "authorization"), None, "{}", seen[0]);
}

#[tokio::test]
async fn a_retry_after_on_a_successful_response_paces_the_next_request() {
    // Azure DevOps answers 200 with Retry-After while it delays a client: the next
    // request of that client waits that long instead of digging the hole deeper.
    let server = Server::start("127.0.0.1", |_| {
        "HTTP/1.1 200 OK\r\nretry-after: 1\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}".to_string()
    })
    .await;
    let http = Http::new("ado a1", &server.url("/"), basic(), opts(), |_| None).expect("client");
    get(&http, "first").await.expect("first");
    let started = std::time::Instant::now();
    get(&http, "second").await.expect("second");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the second request went out after {:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_request_refused_on_every_attempt_is_known_not_to_have_been_applied() {
    // A create that fails this way created nothing: the engine may create again.
    let refused = Server::start("127.0.0.1", |_| reply("429 Too Many Requests", "retry-after: 0\r\n", "{}")).await;
    let http = Http::new("jira r1", &refused.url("/"), basic(), opts(), |_| None).expect("client");
    let e = get(&http, "issue").await.expect_err("429 three times");
    assert_eq!(e.category, ErrorCategory::RateLimited);
    assert!(e.nothing_applied, "every attempt was answered 429: {e}");
    assert_eq!(refused.requests().len(), 3, "retried up to max_attempts");

    let bad = Server::start("127.0.0.1", |_| reply("400 Bad Request", "", "{}")).await;
    let http = Http::new("jira r2", &bad.url("/"), basic(), opts(), |_| None).expect("client");
    assert!(get(&http, "issue").await.expect_err("400").nothing_applied);

    // Nothing listens on a port just freed: the connection is refused, nothing was sent.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let http = Http::new("jira r3", &format!("http://127.0.0.1:{port}/"), basic(), opts(), |_| None).expect("client");
    let e = get(&http, "issue").await.expect_err("refused");
    assert_eq!(e.category, ErrorCategory::Network);
    assert!(e.nothing_applied, "a refused connection sent nothing: {e}");
}

#[tokio::test]
async fn a_server_error_on_any_attempt_leaves_the_outcome_unknown() {
    // The first attempt fails with a 500 (the server may have applied it), the retries
    // are refused: the request may still have been applied by the first.
    let calls = Arc::new(Mutex::new(0u32));
    let n = calls.clone();
    let server = Server::start("127.0.0.1", move |_| {
        let mut n = n.lock().unwrap();
        *n += 1;
        if *n == 1 {
            reply("502 Bad Gateway", "", "{}")
        } else {
            reply("429 Too Many Requests", "retry-after: 0\r\n", "{}")
        }
    })
    .await;
    let http = Http::new("jira u1", &server.url("/"), basic(), opts(), |_| None).expect("client");
    let e = get(&http, "issue").await.expect_err("502 then 429");
    assert_eq!(e.category, ErrorCategory::RateLimited);
    assert!(!e.nothing_applied, "the 502 leaves the outcome open: {e}");
    assert_eq!(*calls.lock().unwrap(), 3);
}

/// A server whose first answer is a 200 cut off in its body (the connection closes
/// before the promised bytes), and whose later answers are whole.
async fn cut_once() -> Server {
    let calls = Arc::new(Mutex::new(0u32));
    Server::start("127.0.0.1", move |_| {
        let mut n = calls.lock().unwrap();
        *n += 1;
        if *n == 1 {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"id\":"
                .to_string()
        } else {
            reply("200 OK", "", "{}")
        }
    })
    .await
}

#[tokio::test]
async fn a_post_whose_answer_is_cut_off_is_not_sent_again_unless_declared_repeatable() {
    let repeatable = HttpOptions { repeatable: Some(|_, path| path.ends_with("/search")), ..opts() };
    // (behaviour, method, path, sent again)
    let cases = [
        ("a create", Method::POST, "issue", false),
        ("a search the connector declares a read", Method::POST, "search", true),
        ("an edit (PUT is idempotent)", Method::PUT, "issue/1", true),
        ("a PATCH the connector does not declare", Method::PATCH, "issue/1", false),
    ];
    for (behaviour, method, path, again) in cases {
        let server = cut_once().await;
        let http = Http::new("jira c1", &server.url("/"), basic(), repeatable.clone(), |_| None).expect("client");
        let body = serde_json::json!({"fields": {}});
        let got = http.send(method, http.url(path).expect("url"), Some(&body), None).await;
        if again {
            assert!(got.is_ok(), "{behaviour}: {got:?}");
            assert_eq!(server.requests().len(), 2, "{behaviour}: sent again");
        } else {
            let e = got.expect_err(behaviour);
            assert_eq!(e.category, ErrorCategory::Network, "{behaviour}: {e}");
            assert!(!e.nothing_applied, "{behaviour}: the cut answer may follow an applied request: {e}");
            assert_eq!(server.requests().len(), 1, "{behaviour}: sent once");
        }
    }
}

#[tokio::test]
async fn a_put_that_makes_something_new_is_sent_once_but_sent_again_after_a_refusal() {
    let server = cut_once().await;
    let http = Http::new("redmine r1", &server.url("/"), basic(), opts(), |_| None).expect("client");
    let note = serde_json::json!({"issue": {"notes": "Thanks"}});
    let e = http.send_once(Method::PUT, http.url("issues/1.json").expect("url"), Some(&note), None).await;
    let e = e.expect_err("a cut answer");
    assert!(!e.nothing_applied, "{e}");
    assert_eq!(server.requests().len(), 1, "a note whose answer was cut off is sent once");

    let calls = Arc::new(Mutex::new(0u32));
    let refusing = Server::start("127.0.0.1", move |_| {
        let mut n = calls.lock().unwrap();
        *n += 1;
        if *n == 1 {
            reply("429 Too Many Requests", "retry-after: 0\r\n", "{}")
        } else {
            reply("204 No Content", "", "")
        }
    })
    .await;
    let http = Http::new("redmine r2", &refusing.url("/"), basic(), opts(), |_| None).expect("client");
    http.send_once(Method::PUT, http.url("issues/1.json").expect("url"), Some(&note), None).await.expect("sent again");
    assert_eq!(refusing.requests().len(), 2, "a refused note applied nothing: sent again");
}

#[tokio::test]
async fn a_post_refused_with_429_is_sent_again_until_an_attempt_may_have_applied_it() {
    let calls = Arc::new(Mutex::new(0u32));
    let server = Server::start("127.0.0.1", move |_| {
        let mut n = calls.lock().unwrap();
        *n += 1;
        match *n {
            1 => reply("429 Too Many Requests", "retry-after: 0\r\n", "{}"),
            _ => reply("503 Service Unavailable", "", "{}"),
        }
    })
    .await;
    let http = Http::new("jira c2", &server.url("/"), basic(), opts(), |_| None).expect("client");
    let e = http.send(Method::POST, http.url("issue").expect("url"), Some(&serde_json::json!({})), None).await;
    let e = e.expect_err("429 then 503");
    assert_eq!(e.category, ErrorCategory::Network, "{e}");
    assert!(!e.nothing_applied, "{e}");
    assert_eq!(server.requests().len(), 2, "the refusal is sent again, the 503 is not");
}
