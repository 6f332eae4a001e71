//! The client against a scripted HTTP server on the loopback: what goes on the wire,
//! how answers are read, retried and classified. (Against the emulator: the payload
//! store's tests in aws_contract.rs and the e2e delivery scenarios.)

use super::super::signed::test_server::{header, reply, sdk, server, SECRET};
use super::super::signed::{fresh, Retry, EMPTY_SHA256};
use super::*;
use aws_credential_types::credential_fn::provide_credentials_fn;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_types::origin::Origin;
use aws_types::region::Region;
use aws_types::service_config::LoadServiceConfig;
use aws_types::service_config::ServiceConfigKey;
use ferry_domain::ErrorCategory;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

fn client(sdk: &SdkConfig) -> S3Client {
    S3Client::from_sdk_config(
        sdk,
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
    )
}

#[tokio::test]
async fn a_put_carries_its_body_the_body_hash_and_a_signature_never_the_secret() {
    let (url, answered) = server(vec![reply("200 OK", &[("etag", "\"x\"")], "")]).await;
    let body = br#"{"schema":1,"payload":"long"}"#;
    client(&sdk(&url, 3)).put_object("ferry-payloads", "messages/a$b.json", body, "application/json").await.unwrap();
    let seen = answered.await.unwrap();
    let request = &seen[0];
    assert!(request.starts_with("PUT /ferry-payloads/messages/a%24b.json HTTP/1.1\r\n"), "{request}");
    assert_eq!(header(request, "content-type"), Some("application/json"));
    assert_eq!(header(request, "x-amz-content-sha256"), Some(hex(&Sha256::digest(body)).as_str()));
    assert_eq!(header(request, "x-amz-security-token"), Some("session-token-value"));
    let authorization = header(request, "authorization").unwrap();
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{authorization}");
    assert!(authorization.contains("/eu-west-1/s3/aws4_request"), "{authorization}");
    assert!(
        authorization.contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"),
        "{authorization}"
    );
    assert!(request.ends_with(std::str::from_utf8(body).unwrap()), "{request}");
    assert!(!request.contains(SECRET));
}

#[tokio::test]
async fn a_get_returns_the_object_and_refuses_one_over_the_limit() {
    let chunked = "HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n\
                   8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n";
    let (url, answered) =
        server(vec![reply("200 OK", &[], "hello"), reply("200 OK", &[], "0123456789abcdef"), chunked.to_string()])
            .await;
    let s3 = client(&sdk(&url, 3));
    assert_eq!(s3.get_object("ferry-payloads", "k.json", 10).await.unwrap(), b"hello");
    // Refused on its content-length, and without one as the chunks arrive.
    assert_eq!(s3.get_object("ferry-payloads", "k.json", 10).await, Err(AwsRequestError::TooLarge { limit: 10 }));
    assert_eq!(s3.get_object("ferry-payloads", "k.json", 10).await, Err(AwsRequestError::TooLarge { limit: 10 }));
    let seen = answered.await.unwrap();
    assert!(seen[0].starts_with("GET /ferry-payloads/k.json HTTP/1.1\r\n"), "{}", seen[0]);
    assert_eq!(header(&seen[0], "x-amz-content-sha256"), Some(EMPTY_SHA256));
}

#[tokio::test]
async fn an_error_document_becomes_a_classified_error_without_retries() {
    let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
    let (url, answered) = server(vec![reply("404 Not Found", &[("content-type", "application/xml")], body)]).await;
    let err = client(&sdk(&url, 3)).delete_object("ferry-payloads", "gone.json").await.unwrap_err();
    assert_eq!(err.to_string(), "NoSuchKey (HTTP 404): The specified key does not exist.");
    assert_eq!(err.category(), ErrorCategory::NotFound);
    let seen = answered.await.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("DELETE /ferry-payloads/gone.json HTTP/1.1\r\n"), "{}", seen[0]);
}

#[tokio::test]
async fn transient_failures_are_retried_up_to_the_configured_attempts() {
    let slow_down =
        reply("503 Slow Down", &[], "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>");
    let internal = reply("500 Internal Server Error", &[], "");
    let (url, answered) = server(vec![slow_down.clone(), internal.clone(), reply("200 OK", &[], "done")]).await;
    assert_eq!(client(&sdk(&url, 3)).get_object("b-1", "k", 100).await.unwrap(), b"done");
    assert_eq!(answered.await.unwrap().len(), 3);

    let (url, answered) = server(vec![slow_down, internal]).await;
    let err = client(&sdk(&url, 2)).get_object("b-1", "k", 100).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Server, "the last attempt's error: {err}");
    assert_eq!(answered.await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let err = client(&sdk(&format!("http://{addr}"), 2)).get_object("b-1", "k", 100).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Network, "{err}");
    assert!(matches!(err, AwsRequestError::Dispatch(_)), "{err:?}");
}

#[tokio::test]
async fn a_redirect_to_the_buckets_region_is_reported_not_followed() {
    let body = "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>";
    let (url, answered) =
        server(vec![reply("301 Moved Permanently", &[("x-amz-bucket-region", "eu-central-1")], body)]).await;
    let err = client(&sdk(&url, 3)).get_object("b-1", "k", 100).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Config);
    assert!(
        err.to_string().contains("PermanentRedirect (HTTP 301)") && err.to_string().contains("eu-central-1"),
        "{err}"
    );
    assert_eq!(answered.await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_region_or_provider_fails_each_request_as_configuration() {
    let no_region = SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("a", SECRET, None, None, "t")))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let err = client(&no_region).get_object("b-1", "k", 1).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Config);
    assert!(err.to_string().contains("AWS_REGION"), "{err}");

    let no_provider = SdkConfig::builder().region(Region::new("us-east-1")).endpoint_url("http://127.0.0.1:9").build();
    let err = client(&no_provider).get_object("b-1", "k", 1).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Config);
    assert!(err.to_string().contains("no credentials provider"), "{err}");
}

#[tokio::test]
async fn credentials_are_loaded_once_and_renewed_before_they_expire() {
    for (lifetime, loads) in [(Duration::from_secs(3600), 1), (Duration::from_secs(60), 2)] {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let provider = provide_credentials_fn(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(Credentials::new("AKID", SECRET, None, Some(SystemTime::now() + lifetime), "test"))
            }
        });
        let (url, answered) = server(vec![reply("204 No Content", &[], ""), reply("204 No Content", &[], "")]).await;
        let config = sdk(&url, 1).into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
        let s3 = client(&config);
        s3.delete_object("b-1", "a").await.unwrap();
        s3.delete_object("b-1", "b").await.unwrap();
        answered.await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), loads, "credentials living {lifetime:?}");
    }
}

#[test]
fn credentials_are_fresh_until_five_minutes_before_expiry() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let table = [
        (None, true),
        (Some(now + Duration::from_secs(3600)), true),
        (Some(now + Duration::from_secs(301)), true),
        (Some(now + Duration::from_secs(300)), false),
        (Some(now), false),
        (Some(now - Duration::from_secs(1)), false),
    ];
    for (expiry, want) in table {
        assert_eq!(fresh(expiry, now), want, "{expiry:?}");
    }
}

#[test]
fn backoff_doubles_from_the_initial_wait_up_to_the_maximum() {
    let retry = Retry { max_attempts: 10, initial: Duration::from_secs(1), max: Duration::from_secs(20) };
    let table =
        [(1, 1.0, 1.0), (2, 1.0, 2.0), (3, 0.5, 2.0), (5, 1.0, 16.0), (6, 1.0, 20.0), (40, 1.0, 20.0), (2, 0.0, 0.0)];
    for (attempt, jitter, secs) in table {
        assert_eq!(retry.backoff(attempt, jitter), Duration::from_secs_f64(secs), "attempt {attempt} jitter {jitter}");
    }
}

/// `AWS_ENDPOINT_URL_<SERVICE>` as a service config (what aws-config and
/// ferry-runtime's Lambda configuration hand the SDK clients).
#[derive(Debug)]
struct ServiceEndpoints(HashMap<String, String>);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        self.0.get(&format!("{}_{}", key.env(), key.service_id().to_ascii_uppercase())).cloned()
    }
}

#[test]
fn the_endpoint_is_chosen_as_the_sdk_clients_choose_it() {
    type Case = (Option<&'static str>, bool, Option<&'static str>, Option<&'static str>);
    let table: [Case; 5] = [
        // general endpoint, set in code, AWS_ENDPOINT_URL_S3, chosen
        (None, false, None, None),
        (Some("http://127.0.0.1:5000"), false, None, Some("http://127.0.0.1:5000")),
        (Some("http://127.0.0.1:5000"), false, Some("http://127.0.0.1:6000"), Some("http://127.0.0.1:6000")),
        (None, false, Some("http://127.0.0.1:6000"), Some("http://127.0.0.1:6000")),
        (Some("http://127.0.0.1:5000"), true, Some("http://127.0.0.1:6000"), Some("http://127.0.0.1:5000")),
    ];
    for (general, in_code, s3, want) in table {
        let mut builder = SdkConfig::builder().region(Region::new("us-east-1"));
        builder.set_endpoint_url(general.map(str::to_string));
        if in_code {
            builder.insert_origin("endpoint_url", Origin::shared_config());
        }
        let services = s3.map(|u| HashMap::from([("AWS_ENDPOINT_URL_S3".to_string(), u.to_string())]));
        let config = builder.service_config(ServiceEndpoints(services.unwrap_or_default())).build();
        assert_eq!(configured_endpoint(&config, "S3").as_deref(), want, "{general:?} {in_code} {s3:?}");
    }
}

#[test]
fn the_debug_view_shows_no_credentials() {
    let text = format!("{:?}", client(&sdk("http://127.0.0.1:5000", 3)));
    assert!(text.contains("127.0.0.1:5000") && !text.contains(SECRET) && !text.contains("session-token"), "{text}");
}
