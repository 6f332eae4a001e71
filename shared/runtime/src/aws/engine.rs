//! Builds the engine over DynamoDB, SQS and EventBridge Scheduler from the
//! environment (once per Lambda cold start).

use super::secrets::AwsSecrets;
use crate::connectors::Connectors;
use crate::secrets::SecretSource;
use crate::RuntimeError;
use aws_types::sdk_config::SdkConfig;
use ferry_domain::ports::Queue;
use ferry_engine::{Engine, EngineSettings};
use ferry_store::aws::s3::S3Client;
use ferry_store::aws::{AwsNames, DynamoStore, PayloadStore, SqsQueue};
use std::sync::Arc;

/// The engine and the adapters behind it.
pub struct AwsRuntime {
    pub engine: Arc<Engine>,
    pub queue: Arc<dyn Queue>,
    pub names: AwsNames,
    /// The SDK configuration the adapters were built from (region, endpoint, credentials).
    pub sdk: SdkConfig,
    /// Whether activation turns EventBridge schedules on and off.
    pub schedules: Option<ScheduleSettings>,
    pub connectors: Arc<Connectors>,
}

/// Where per-integration poll schedules live and what they invoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSettings {
    pub group: String,
    pub poll_function_arn: String,
    pub role_arn: String,
    /// `FERRY_POLL_DLQ_ARN` (optional): where ticks the scheduler could not deliver go.
    pub dead_letter_arn: Option<String>,
    /// `FERRY_COMMITS_FUNCTION_ARN` (optional): what commit links' schedules invoke;
    /// without it, activating a commit link is refused.
    pub commits_function_arn: Option<String>,
}

/// The commits function's ARN, for the commit links' schedules.
pub const COMMITS_FUNCTION_VAR: &str = "FERRY_COMMITS_FUNCTION_ARN";

const SCHEDULE_VARS: [&str; 3] = ["FERRY_SCHEDULE_GROUP", "FERRY_POLL_FUNCTION_ARN", "FERRY_SCHEDULER_ROLE_ARN"];

/// The schedule settings from `FERRY_SCHEDULE_GROUP`, `FERRY_POLL_FUNCTION_ARN` and
/// `FERRY_SCHEDULER_ROLE_ARN`: all three or none (the functions that never activate
/// need none); some but not all is a configuration error naming the missing ones.
/// `FERRY_POLL_DLQ_ARN` and `FERRY_COMMITS_FUNCTION_ARN` are optional and only read with
/// the three.
pub fn schedule_settings(var: impl Fn(&str) -> Option<String>) -> Result<Option<ScheduleSettings>, RuntimeError> {
    let values: Vec<Option<String>> = SCHEDULE_VARS.iter().map(|n| var(n).filter(|v| !v.trim().is_empty())).collect();
    let missing: Vec<&str> = SCHEDULE_VARS.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
    match (missing.len(), values.as_slice()) {
        (0, [Some(group), Some(arn), Some(role)]) => Ok(Some(ScheduleSettings {
            group: group.clone(),
            poll_function_arn: arn.clone(),
            role_arn: role.clone(),
            dead_letter_arn: var("FERRY_POLL_DLQ_ARN").filter(|v| !v.trim().is_empty()),
            commits_function_arn: var(COMMITS_FUNCTION_VAR).filter(|v| !v.trim().is_empty()),
        })),
        (n, _) if n == SCHEDULE_VARS.len() => Ok(None),
        _ => Err(RuntimeError::HalfConfiguredSchedules { missing, all: &SCHEDULE_VARS }),
    }
}

/// [`aws_engine_with`] with the Lambda functions' settings ([`EngineSettings::lambda`]).
pub async fn aws_engine() -> Result<AwsRuntime, RuntimeError> {
    aws_engine_with(EngineSettings::lambda()).await
}

/// Loads the SDK configuration ([`super::load_sdk_config`]: the Lambda environment, or the
/// standard chain with the feature `aws-config-chain`; `AWS_ENDPOINT_URL` for an emulator)
/// and the resource names from `FERRY_*` variables.
pub async fn aws_engine_with(settings: EngineSettings) -> Result<AwsRuntime, RuntimeError> {
    aws_engine_with_secrets(settings, None).await
}

/// As [`aws_engine_with`], with another secret source in front of SSM / Secrets
/// Manager (tests and tools that hold tokens themselves).
pub async fn aws_engine_with_secrets(
    settings: EngineSettings,
    secrets: Option<Arc<dyn SecretSource>>,
) -> Result<AwsRuntime, RuntimeError> {
    let sdk = super::load_sdk_config().await?;
    let names = AwsNames::from_env().map_err(RuntimeError::AwsNames)?;
    aws_runtime(sdk, names, settings, secrets)
}

/// The runtime over the resources `names` gives (the environment's, or another set of
/// queues and tables of the same shape), with the SDK configuration `sdk`.
pub fn aws_runtime(
    sdk: SdkConfig,
    names: AwsNames,
    settings: EngineSettings,
    secrets: Option<Arc<dyn SecretSource>>,
) -> Result<AwsRuntime, RuntimeError> {
    let mut settings = settings;
    if let Some(on) = record_timeline_from_env(|n| std::env::var(n).ok())? {
        settings.record_timeline = on;
    }
    // Still parsed without the feature: a half-configured template fails every cold start.
    let schedules = schedule_settings(|n| std::env::var(n).ok())?;
    // Without the feature nothing turns schedules on or off, so say none are controlled.
    #[cfg(not(feature = "schedules"))]
    let schedules = schedules.and(None);

    let http = aws_http_client(&sdk)?;
    let payloads = PayloadStore::new(S3Client::from_sdk_config(&sdk, http.clone()), &names.payload_bucket);
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &names).with_payloads(payloads.clone()));
    let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names).with_payloads(payloads));
    let secrets = secrets.unwrap_or_else(|| Arc::new(AwsSecrets::from_conf(&sdk, http)));
    let connectors =
        Arc::new(Connectors::new(secrets, crate::connectors::http_options_from_env()?).with_governors(store.clone()));
    let engine = Engine::new(store.clone(), store.clone(), queue.clone(), connectors.clone(), settings);
    // Commit links are kept where they are used: the CLI (`schedules`: it applies and
    // activates them) and the commits function (`scm`). The other functions link no
    // DynamoDB commit-link code (it would take the write function over its size bar).
    #[cfg(any(feature = "scm", feature = "schedules"))]
    let engine = engine.with_commit_links(store.clone());
    #[cfg(not(any(feature = "scm", feature = "schedules")))]
    drop(store);
    #[cfg(feature = "schedules")]
    let engine = match &schedules {
        Some(s) => {
            let client = aws_sdk_scheduler::Client::new(&sdk);
            let polls = ferry_store::aws::SchedulerControl::new(
                client.clone(),
                s.group.clone(),
                s.poll_function_arn.clone(),
                s.role_arn.clone(),
            )
            .with_dead_letter_queue(s.dead_letter_arn.clone());
            let engine = engine.with_schedules(Arc::new(polls));
            match &s.commits_function_arn {
                Some(arn) => engine.with_commit_schedules(Arc::new(
                    ferry_store::aws::SchedulerControl::for_commit_links(
                        client,
                        s.group.clone(),
                        arn.clone(),
                        s.role_arn.clone(),
                    )
                    .with_dead_letter_queue(s.dead_letter_arn.clone()),
                )),
                None => engine,
            }
        }
        None => engine,
    };
    Ok(AwsRuntime { engine: Arc::new(engine), queue, names, sdk, schedules, connectors })
}

/// Turns each entity's timeline on or off (`on` / `off`; unset: the settings given).
/// Off by default on AWS: each step is a billed DynamoDB write (see the README's console
/// section for the cost per million changes).
pub const RECORD_TIMELINE_VAR: &str = "FERRY_RECORD_TIMELINE";

fn record_timeline_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<bool>, RuntimeError> {
    match var(RECORD_TIMELINE_VAR).as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(RuntimeError::NotASwitch { var: RECORD_TIMELINE_VAR, value: other.to_string() }),
    }
}

/// The payload bucket's store: an S3 client configured from `sdk` like the SDK
/// clients (region, credentials, `AWS_ENDPOINT_URL[_S3]`, retries, timeouts), over
/// the same reqwest stack. Addressed path-style when an endpoint is configured (an
/// emulator or an S3-compatible store), virtual-hosted as AWS prefers otherwise.
pub fn payload_store(sdk: &SdkConfig, bucket: &str) -> Result<PayloadStore, RuntimeError> {
    Ok(PayloadStore::new(S3Client::from_sdk_config(sdk, aws_http_client(sdk)?), bucket))
}

/// The reqwest client of Ferry's own AWS clients (S3, SSM, Secrets Manager), with the
/// connect and read timeouts of `sdk`.
pub fn aws_http_client(sdk: &SdkConfig) -> Result<reqwest::Client, RuntimeError> {
    let timeouts = sdk.timeout_config();
    super::http::aws_reqwest_client(timeouts.and_then(|t| t.connect_timeout()), timeouts.and_then(|t| t.read_timeout()))
        .map_err(RuntimeError::AwsHttpClient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_timeline_switch_is_on_off_or_unset_and_nothing_else() {
        let read = |v: &str| record_timeline_from_env(env(&[(RECORD_TIMELINE_VAR, v)]));
        assert_eq!(read("on").ok(), Some(Some(true)));
        assert_eq!(read(" off ").ok(), Some(Some(false)));
        assert_eq!(read("").ok(), Some(None));
        assert_eq!(record_timeline_from_env(env(&[])).ok(), Some(None));
        let e = read("yes").expect_err("refused");
        assert!(e.to_string().contains("FERRY_RECORD_TIMELINE") && e.to_string().contains("yes"), "{e}");
    }

    #[test]
    fn no_schedule_variables_means_no_schedule_control() {
        assert_eq!(schedule_settings(env(&[])).unwrap(), None);
    }

    #[test]
    fn all_schedule_variables_build_the_settings() {
        let s = schedule_settings(env(&[
            ("FERRY_SCHEDULE_GROUP", "ferry-polls"),
            ("FERRY_POLL_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:ferry-poll"),
            ("FERRY_SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/ferry-scheduler"),
            ("FERRY_POLL_DLQ_ARN", "arn:aws:sqs:us-east-1:123456789012:ferry-poll-dlq"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.group, "ferry-polls");
        assert_eq!(s.dead_letter_arn.as_deref(), Some("arn:aws:sqs:us-east-1:123456789012:ferry-poll-dlq"));
        assert_eq!(s.commits_function_arn, None, "optional");
        assert!(s.poll_function_arn.ends_with("function:ferry-poll"));
        assert!(s.role_arn.ends_with("role/ferry-scheduler"));
    }

    #[test]
    fn half_configured_schedules_name_the_missing_variables() {
        let e = schedule_settings(env(&[("FERRY_SCHEDULE_GROUP", "ferry-polls"), ("FERRY_POLL_FUNCTION_ARN", " ")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("FERRY_POLL_FUNCTION_ARN") && e.contains("FERRY_SCHEDULER_ROLE_ARN"), "{e}");
        assert!(!e.starts_with("FERRY_SCHEDULE_GROUP"), "{e}");
    }
}
