//! The JSON client against a scripted HTTP server on the loopback: what goes on the
//! wire and how answers are read and classified. (Against the emulator's SSM and
//! Secrets Manager: ferry-runtime's secret tests.)

use super::*;
use crate::aws::signed::test_server::{header, reply, sdk, server, SECRET};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use ferry_domain::ErrorCategory;
use serde_json::{json, Value};
use std::collections::HashMap;

fn client(service: JsonService, sdk: &SdkConfig) -> AwsJsonClient {
    AwsJsonClient::from_sdk_config(service, sdk, reqwest::Client::new())
}

#[tokio::test]
async fn a_call_posts_its_target_and_json_input_signed_for_the_service_and_reads_the_output() {
    let output = r#"{"Parameter":{"Name":"/ferry/token","Type":"SecureString","Value":"tok"}}"#;
    let (url, answered) =
        server(vec![reply("200 OK", &[("content-type", "application/x-amz-json-1.1")], output)]).await;
    let input = json!({"Name": "/ferry/token", "WithDecryption": true});
    let got: Value = client(SSM, &sdk(&url, 3)).call("GetParameter", &input, 1 << 20).await.unwrap();
    assert_eq!(got["Parameter"]["Value"], "tok");
    let seen = answered.await.unwrap();
    let request = &seen[0];
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    assert_eq!(header(request, "x-amz-target"), Some("AmazonSSM.GetParameter"));
    assert_eq!(header(request, "content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(header(request, "x-amz-security-token"), Some("session-token-value"));
    assert_eq!(header(request, "x-amz-content-sha256"), None, "only S3 sends the body's hash");
    let authorization = header(request, "authorization").unwrap();
    assert!(authorization.contains("/eu-west-1/ssm/aws4_request"), "{authorization}");
    assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"));
    let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body, input);
    assert!(!request.contains(SECRET));
}

#[tokio::test]
async fn secrets_manager_calls_are_signed_and_targeted_for_secrets_manager() {
    let (url, answered) = server(vec![reply("200 OK", &[], r#"{"SecretString":"pat"}"#)]).await;
    let got: Value =
        client(SECRETS_MANAGER, &sdk(&url, 3)).call("GetSecretValue", &json!({"SecretId": "x"}), 1024).await.unwrap();
    assert_eq!(got["SecretString"], "pat");
    let request = &answered.await.unwrap()[0];
    assert_eq!(header(request, "x-amz-target"), Some("secretsmanager.GetSecretValue"));
    assert!(header(request, "authorization").unwrap().contains("/eu-west-1/secretsmanager/aws4_request"));
}

#[tokio::test]
async fn error_documents_become_classified_errors_and_only_transient_ones_are_retried() {
    let not_found = reply(
        "400 Bad Request",
        &[],
        r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"Parameter /ferry/x not found."}"#,
    );
    let (url, answered) = server(vec![not_found]).await;
    let err = client(SSM, &sdk(&url, 3)).call::<_, Value>("GetParameter", &json!({}), 1024).await.unwrap_err();
    assert_eq!(err.to_string(), "ParameterNotFound (HTTP 400): Parameter /ferry/x not found.");
    assert_eq!(err.category(), ErrorCategory::InvalidRequest);
    assert_eq!(answered.await.unwrap().len(), 1, "not retried");

    let throttled = reply(
        "400 Bad Request",
        &[("x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/coral/")],
        r#"{"Message":"Rate exceeded"}"#,
    );
    let (url, answered) = server(vec![throttled.clone(), throttled, reply("200 OK", &[], "{}")]).await;
    let got: Value = client(SSM, &sdk(&url, 3)).call("GetParameter", &json!({}), 1024).await.unwrap();
    assert_eq!(got, json!({}));
    assert_eq!(answered.await.unwrap().len(), 3, "retried twice");

    let (url, _) = server(vec![reply("503 Service Unavailable", &[], "<html>busy</html>")]).await;
    let err = client(SSM, &sdk(&url, 1)).call::<_, Value>("GetParameter", &json!({}), 1024).await.unwrap_err();
    assert_eq!(err.to_string(), "unknown error (HTTP 503): no message");
    assert_eq!(err.category(), ErrorCategory::Server);
}

#[tokio::test]
async fn an_output_that_is_not_json_or_too_long_is_refused() {
    let (url, _) = server(vec![reply("200 OK", &[], "not json"), reply("200 OK", &[], &"x".repeat(100))]).await;
    let ssm = client(SSM, &sdk(&url, 1));
    let err = ssm.call::<_, Value>("GetParameter", &json!({}), 1024).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::BadResponse, "{err}");
    let err = ssm.call::<_, Value>("GetParameter", &json!({}), 10).await.unwrap_err();
    assert_eq!(err, AwsRequestError::TooLarge { limit: 10 });
}

#[test]
fn aws_endpoints_follow_the_service_region_and_partition() {
    let table = [
        // service, region, FIPS, dual stack, URL
        (SSM, "eu-west-1", false, false, "https://ssm.eu-west-1.amazonaws.com/"),
        (SECRETS_MANAGER, "us-east-1", false, false, "https://secretsmanager.us-east-1.amazonaws.com/"),
        (SSM, "cn-north-1", false, false, "https://ssm.cn-north-1.amazonaws.com.cn/"),
        (SSM, "us-gov-west-1", true, false, "https://ssm-fips.us-gov-west-1.amazonaws.com/"),
        (SECRETS_MANAGER, "us-east-2", false, true, "https://secretsmanager.us-east-2.api.aws/"),
        (SSM, "us-east-2", true, true, "https://ssm-fips.us-east-2.api.aws/"),
        (SSM, "cn-northwest-1", false, true, "https://ssm.cn-northwest-1.api.amazonwebservices.com.cn/"),
    ];
    for (service, region, fips, dual_stack, want) in table {
        let endpoint = Endpoint::resolve(service, Some(region), None, fips, dual_stack).expect(want);
        assert_eq!((endpoint.url.as_str(), endpoint.region.as_str()), (want, region));
    }
}

#[test]
fn a_configured_endpoint_is_used_as_given_and_an_unusable_one_is_named() {
    for (configured, want) in [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000/"),
        ("https://ssm.example:8443/base", "https://ssm.example:8443/base/"),
    ] {
        let endpoint = Endpoint::resolve(SSM, Some("us-east-1"), Some(configured), true, true).unwrap();
        assert_eq!(endpoint.url, want);
    }
    for bad in ["127.0.0.1:5000", "ftp://host", "http://user:pw@host", "http://host/?x=1"] {
        let err = Endpoint::resolve(SECRETS_MANAGER, Some("us-east-1"), Some(bad), false, false).unwrap_err();
        assert!(err.contains("AWS_ENDPOINT_URL[_SECRETS_MANAGER]") && err.contains(bad), "{err}");
    }
    let err = Endpoint::resolve(SSM, None, None, false, false).unwrap_err();
    assert!(err.contains("AWS_REGION"), "{err}");
}

/// `AWS_ENDPOINT_URL_<SERVICE>` as a service config, keyed as aws-config and
/// ferry-runtime's Lambda configuration key it.
#[derive(Debug)]
struct ServiceEndpoints(HashMap<String, String>);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        self.0.get(&format!("{}_{service}", key.env())).cloned()
    }
}

#[tokio::test]
async fn the_service_endpoint_setting_wins_over_the_general_one() {
    let (own, answered) = server(vec![reply("200 OK", &[], "{}"), reply("200 OK", &[], "{}")]).await;
    let services = HashMap::from([
        ("AWS_ENDPOINT_URL_SSM".to_string(), own.clone()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER".to_string(), own),
    ]);
    // The general endpoint is a closed port: only the service settings can answer.
    let config = sdk("http://127.0.0.1:9", 1).into_builder().service_config(ServiceEndpoints(services)).build();
    let _: Value = client(SSM, &config).call("GetParameter", &json!({}), 1024).await.unwrap();
    let _: Value = client(SECRETS_MANAGER, &config).call("GetSecretValue", &json!({}), 1024).await.unwrap();
    assert_eq!(answered.await.unwrap().len(), 2);
}
