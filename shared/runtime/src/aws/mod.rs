//! The AWS runtime's composition root: secrets from SSM / Secrets Manager and the
//! engine over DynamoDB, SQS and (feature `schedules`) EventBridge Scheduler. Every
//! endpoint comes from the standard SDK configuration, so `AWS_ENDPOINT_URL` points it
//! at an emulator.

mod engine;
mod hook;
pub mod http;
pub mod metrics;
mod sdk_config;
mod secrets;
pub mod sqs_batch;

pub use engine::{
    aws_engine, aws_engine_with, aws_engine_with_secrets, aws_http_client, aws_runtime, payload_store,
    schedule_settings, AwsRuntime, ScheduleSettings, COMMITS_FUNCTION_VAR, RECORD_TIMELINE_VAR,
};
pub use hook::{aws_hook_runtime, HookRuntime, PollFunction, POLL_FUNCTION_VAR};
pub use sdk_config::{load_sdk_config, sdk_config_from_env, SdkEnvError};
pub use secrets::AwsSecrets;
pub use sqs_batch::{handle_sqs_batch, receive_count, BatchSettings, Step};
