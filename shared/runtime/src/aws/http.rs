//! The AWS SDK's HTTP client over reqwest, the client the connectors already use, so the
//! binaries link one HTTP/TLS stack instead of two (the SDK's own hyper client would add
//! h2 and its hyper wrappers next to reqwest's). HTTP/1.1 over rustls (ring); proxies
//! from the standard environment variables, as reqwest reads them.

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The SDK's [`HttpClient`] for every AWS client Ferry builds.
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient::default())
}

/// Connect and read timeouts: the only connector settings the SDK hands over today.
type TimeoutKey = (Option<Duration>, Option<Duration>);

/// Hands out one reqwest client (one connection pool) per distinct timeout settings; the
/// SDK asks for a connector on every request, so they are cached.
#[derive(Debug, Default, Clone)]
pub struct ReqwestHttpClient {
    connectors: Arc<Mutex<HashMap<TimeoutKey, SharedHttpConnector>>>,
}

impl ReqwestHttpClient {
    fn connector_for(&self, key: TimeoutKey) -> SharedHttpConnector {
        let mut connectors = self.connectors.lock().unwrap_or_else(PoisonError::into_inner);
        connectors.entry(key).or_insert_with(|| SharedHttpConnector::new(ReqwestConnector::new(key.0, key.1))).clone()
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        self.connector_for((settings.connect_timeout(), settings.read_timeout()))
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", None))
    }
}

/// One reqwest client with the given timeouts. Building it can only fail if the TLS
/// backend cannot initialise; that failure is reported on every request instead of
/// panicking while the SDK picks a connector.
#[derive(Debug)]
pub struct ReqwestConnector {
    client: Result<reqwest::Client, Arc<reqwest::Error>>,
}

impl ReqwestConnector {
    pub fn new(connect_timeout: Option<Duration>, read_timeout: Option<Duration>) -> Self {
        Self { client: aws_reqwest_client(connect_timeout, read_timeout).map_err(Arc::new) }
    }
}

/// The reqwest client for AWS requests, with the given timeouts: no redirects followed
/// (the SDK and the S3 client handle them themselves, and S3's are errors to report);
/// the operator build also trusts the system's root certificates.
pub fn aws_reqwest_client(
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
) -> reqwest::Result<reqwest::Client> {
    let builder = || {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(t) = connect_timeout {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = read_timeout {
            builder = builder.read_timeout(t);
        }
        builder
    };
    // A system certificate rustls refuses must not take the AWS client down with it.
    #[cfg(feature = "aws-config-chain")]
    {
        with_system_roots(builder()).or_else(|e| {
            tracing::warn!("the system's root certificates cannot be used for AWS ({e}); using the bundled ones");
            builder().build()
        })
    }
    #[cfg(not(feature = "aws-config-chain"))]
    {
        builder().build()
    }
}

/// Operators' machines may reach AWS through a TLS-inspecting proxy whose CA is only in
/// the system store (the SDK's own client trusted that store), so the operator build
/// trusts it next to the bundled Mozilla roots. The functions run on Lambda, where the
/// bundled roots cover every AWS endpoint.
#[cfg(feature = "aws-config-chain")]
fn with_system_roots(mut builder: reqwest::ClientBuilder) -> reqwest::Result<reqwest::Client> {
    static SYSTEM_ROOTS: std::sync::LazyLock<Vec<reqwest::Certificate>> = std::sync::LazyLock::new(|| {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::warn!("some system root certificates could not be read: {:?}", found.errors);
        }
        found.certs.iter().filter_map(|c| reqwest::Certificate::from_der(c).ok()).collect()
    });
    for cert in SYSTEM_ROOTS.iter() {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder.build()
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::other(Box::new(e), None))?;
            let request = to_reqwest(request)?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let mut builder = http::Response::builder().status(response.status()).version(response.version());
            if let Some(headers) = builder.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await.map_err(connector_error)?;
            let response = builder.body(SdkBody::from(body)).map_err(|e| ConnectorError::other(e.into(), None))?;
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// Requests to DynamoDB, SQS, SSM, Secrets Manager, STS and SSO carry in-memory bodies;
/// a streaming body (never built by Ferry) is refused rather than read to the end here.
fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    let bytes = body.bytes().map(<[u8]>::to_vec).ok_or_else(|| {
        ConnectorError::user("the AWS HTTP client sends in-memory request bodies only, and this one is a stream".into())
    })?;
    reqwest::Request::try_from(http::Request::from_parts(parts, bytes)).map_err(|e| ConnectorError::user(e.into()))
}

/// Timeouts and I/O failures (refused or reset connections, a body cut short) are
/// transient, so the SDK retries them; anything else is reported as it is.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() || has_io_source(&e) {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

fn has_io_source(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = e.source();
    while let Some(e) = next {
        if e.is::<std::io::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn request(uri: &str, body: SdkBody) -> HttpRequest {
        let req = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("x-amz-target", "DynamoDB_20120810.ListTables")
            .header("content-type", "application/x-amz-json-1.0")
            .body(body)
            .unwrap();
        HttpRequest::try_from(req).unwrap()
    }

    /// Reads one request (headers and a content-length body) and returns it as text.
    async fn read_request(sock: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return text;
                }
            }
        }
        String::from_utf8_lossy(&buf).to_string()
    }

    #[tokio::test]
    async fn a_request_and_its_response_cross_unchanged() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let seen = read_request(&mut sock).await;
            let body = r#"{"TableNames":["a"]}"#;
            let reply = format!(
                "HTTP/1.1 400 Bad Request\r\nx-amzn-requestid: r-1\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(reply.as_bytes()).await.unwrap();
            seen
        });
        let connector = ReqwestConnector::new(Some(Duration::from_secs(2)), Some(Duration::from_secs(2)));
        let response =
            connector.call(request(&format!("http://{addr}/path?q=1"), SdkBody::from("{\"Limit\":1}"))).await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(response.headers().get("x-amzn-requestid"), Some("r-1"));
        assert_eq!(response.body().bytes(), Some(&br#"{"TableNames":["a"]}"#[..]));
        let seen = server.await.unwrap();
        assert!(seen.starts_with("POST /path?q=1 HTTP/1.1\r\n"), "{seen}");
        assert!(seen.to_ascii_lowercase().contains("x-amz-target: dynamodb_20120810.listtables"), "{seen}");
        assert!(seen.ends_with("\r\n\r\n{\"Limit\":1}"), "{seen}");
    }

    #[tokio::test]
    async fn redirects_are_handed_back_not_followed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            read_request(&mut sock).await;
            let reply = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{addr}/elsewhere\r\ncontent-length: 0\r\n\r\n"
            );
            sock.write_all(reply.as_bytes()).await.unwrap();
        });
        let response = ReqwestConnector::new(None, None)
            .call(request(&format!("http://{addr}/"), SdkBody::empty()))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 307);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let e = ReqwestConnector::new(Some(Duration::from_secs(2)), None)
            .call(request(&format!("http://{addr}/"), SdkBody::empty()))
            .await
            .unwrap_err();
        assert!(e.is_io(), "{e:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_is_an_io_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            read_request(&mut sock).await;
        });
        let e = ReqwestConnector::new(None, None)
            .call(request(&format!("http://{addr}/"), SdkBody::empty()))
            .await
            .unwrap_err();
        assert!(e.is_io(), "{e:?}");
    }

    #[tokio::test]
    async fn a_silent_server_hits_the_read_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            read_request(&mut sock).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let started = std::time::Instant::now();
        let e = ReqwestConnector::new(None, Some(Duration::from_millis(200)))
            .call(request(&format!("http://{addr}/"), SdkBody::empty()))
            .await
            .unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_streaming_body_is_refused_with_a_clear_error() {
        let e =
            ReqwestConnector::new(None, None).call(request("http://127.0.0.1:9/", SdkBody::taken())).await.unwrap_err();
        assert!(!e.is_io() && !e.is_timeout(), "{e:?}");
        let text = format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e));
        assert!(text.contains("in-memory request bodies only"), "{text}");
    }

    #[test]
    fn connectors_are_shared_per_timeout_setting() {
        let client = ReqwestHttpClient::default();
        let a = (Some(Duration::from_secs(3)), None);
        let b = (Some(Duration::from_secs(3)), Some(Duration::from_secs(1)));
        client.connector_for(a);
        client.connector_for(a);
        assert_eq!(client.connectors.lock().unwrap().len(), 1);
        client.connector_for(b);
        assert_eq!(client.connectors.lock().unwrap().len(), 2);
    }
}
