//! `AwsSecrets` against the AWS emulator over HTTP: references to SSM SecureString
//! parameters and Secrets Manager secrets (text and binary) resolve to their values, a
//! rotated value is served from the cache until a refresh asks again, and a missing one
//! fails with an error naming the reference. The parameters and secrets are put there
//! with the real SDK clients. Needs `AWS_ENDPOINT_URL` (`infra/moto.sh start && source
//! infra/.emulator.env`).

use aws_sdk_ssm::types::ParameterType;
use ferry_domain::{ErrorCategory, SecretRef};
use ferry_runtime::aws::{aws_http_client, load_sdk_config, AwsSecrets};
use ferry_runtime::secrets::SecretSource;
use secrecy::ExposeSecret;

struct Emulator {
    ssm: aws_sdk_ssm::Client,
    secrets_manager: aws_sdk_secretsmanager::Client,
    secrets: AwsSecrets,
    /// Unique per test, so runs against a long-lived emulator do not collide.
    stamp: String,
}

async fn emulator() -> Emulator {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        !endpoint.trim().is_empty(),
        "AWS_ENDPOINT_URL is not set: these tests read secrets from the AWS emulator. Start it with \
         `infra/moto.sh start && source infra/.emulator.env`"
    );
    let sdk = load_sdk_config().await.expect("the SDK configuration from the environment");
    let secrets = AwsSecrets::from_conf(&sdk, aws_http_client(&sdk).expect("an HTTP client"));
    let stamp = format!("{}-{}", std::process::id(), now_nanos());
    Emulator {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        secrets_manager: aws_sdk_secretsmanager::Client::new(&sdk),
        secrets,
        stamp,
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

async fn put_parameter(e: &Emulator, name: &str, value: &str) {
    e.ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("PutParameter");
}

#[tokio::test]
async fn an_ssm_secure_string_resolves_and_a_rotation_shows_after_a_refresh() {
    let e = emulator().await;
    let name = format!("/ferry-test/{}/jira-token", e.stamp);
    put_parameter(&e, &name, "token-1").await;
    let reference = SecretRef::Ssm(name.clone());
    assert_eq!(e.secrets.resolve(&reference).await.unwrap().expose_secret(), "token-1");

    put_parameter(&e, &name, "token-2").await;
    assert_eq!(e.secrets.resolve(&reference).await.unwrap().expose_secret(), "token-1", "cached");
    assert_eq!(e.secrets.refresh(&reference).await.unwrap().expose_secret(), "token-2");
    assert_eq!(e.secrets.resolve(&reference).await.unwrap().expose_secret(), "token-2", "the refresh is cached");
}

#[tokio::test]
async fn secrets_manager_text_and_binary_secrets_resolve_to_their_text() {
    let e = emulator().await;
    let text = format!("ferry-test/{}/ado-pat", e.stamp);
    let binary = format!("ferry-test/{}/ado-pat-binary", e.stamp);
    e.secrets_manager.create_secret().name(&text).secret_string("pat-text").send().await.expect("CreateSecret");
    e.secrets_manager
        .create_secret()
        .name(&binary)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new("pat-binary"))
        .send()
        .await
        .expect("CreateSecret");
    for (id, want) in [(text, "pat-text"), (binary, "pat-binary")] {
        let value = e.secrets.resolve(&SecretRef::SecretsManager(id)).await.unwrap();
        assert_eq!(value.expose_secret(), want);
    }
}

#[tokio::test]
async fn a_missing_parameter_or_secret_is_a_configuration_error_naming_the_reference() {
    let e = emulator().await;
    let put = format!("/ferry-test/{}/present", e.stamp);
    put_parameter(&e, &put, "the-value-itself").await;
    for reference in [
        SecretRef::Ssm(format!("/ferry-test/{}/absent", e.stamp)),
        SecretRef::SecretsManager(format!("ferry-test/{}/absent", e.stamp)),
    ] {
        let err = e.secrets.resolve(&reference).await.unwrap_err();
        assert_eq!(err.category, ErrorCategory::Config, "{reference}: {}", err.message);
        assert!(err.message.contains(&reference.to_string()), "{}", err.message);
        assert!(
            err.message.contains("ParameterNotFound") || err.message.contains("ResourceNotFoundException"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("the-value-itself"), "{}", err.message);
    }
}
