//! A runtime that cannot start says why and keeps the cause as the error's source. This
//! binary has one test: it owns the process environment.

use ferry_domain::{ErrorCategory, PortError};
use ferry_engine::EngineSettings;
use ferry_runtime::RuntimeError;

const STACK_VARS: [&str; 7] = [
    "FERRY_CONFIG_TABLE",
    "FERRY_STATE_TABLE",
    "FERRY_CHANGES_QUEUE_URL",
    "FERRY_WRITES_QUEUE_URL",
    "FERRY_CHANGES_DLQ_URL",
    "FERRY_WRITES_DLQ_URL",
    "FERRY_PAYLOAD_BUCKET",
];

#[tokio::test]
async fn a_missing_stack_setting_is_reported_with_the_port_error_as_its_cause() {
    for (name, value) in [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(name, value);
    }
    for name in STACK_VARS {
        std::env::remove_var(name);
    }

    let Err(e) = ferry_runtime::aws::aws_engine_with(EngineSettings::default()).await else {
        panic!("the runtime started without its stack's settings");
    };

    assert!(matches!(e, RuntimeError::AwsNames(_)), "{e:?}");
    let cause = std::error::Error::source(&e).and_then(|c| c.downcast_ref::<PortError>()).expect("a PortError cause");
    assert_eq!(cause.category, ErrorCategory::Config);
    assert!(cause.message.contains("FERRY_CONFIG_TABLE"), "{}", cause.message);
    let report = format!("{e:?}");
    assert!(
        report
            .starts_with("reading the FERRY_* settings\n  caused by: config: environment variable FERRY_CONFIG_TABLE"),
        "{report}"
    );
}
