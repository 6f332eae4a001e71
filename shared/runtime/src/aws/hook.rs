//! The hook function's composition: only what judging a delivery needs (the config and
//! state tables, the hook secrets in SSM / Secrets Manager) and an asynchronous
//! invocation of the poll function for each direction an accepted delivery names. It
//! connects to no system and sends no message, so the binary links neither the
//! connectors nor SQS.

use super::engine::aws_http_client;
use super::secrets::AwsSecrets;
use crate::hooks::PollTrigger;
use crate::secrets::SecretSource;
use crate::RuntimeError;
use async_trait::async_trait;
use ferry_domain::ports::{Connector, ConnectorFactory, Delivery, OutMessage, PortResult, Queue, QueueName};
use ferry_domain::{ErrorCategory, Flow, IntegrationId, PortError, SystemConfig};
use ferry_engine::{Engine, EngineSettings};
use ferry_store::aws::lambda::LambdaInvoker;
use ferry_store::aws::{AwsNames, DynamoStore};
use std::sync::Arc;
use std::time::Duration;

/// The variable naming the function an accepted delivery invokes (template.yaml sets it
/// for every function).
pub const POLL_FUNCTION_VAR: &str = "FERRY_POLL_FUNCTION_ARN";

/// What the hook function judges deliveries with.
pub struct HookRuntime {
    pub engine: Arc<Engine>,
    pub secrets: Arc<dyn SecretSource>,
    pub trigger: Arc<dyn PollTrigger>,
}

/// Builds the hook function's runtime from the Lambda environment (as
/// [`super::aws_engine`] does, without connectors and queues).
pub async fn aws_hook_runtime() -> Result<HookRuntime, RuntimeError> {
    let sdk = super::load_sdk_config().await?;
    let names = AwsNames::from_env().map_err(RuntimeError::AwsNames)?;
    let function = std::env::var(POLL_FUNCTION_VAR).unwrap_or_default();
    let http = aws_http_client(&sdk)?;
    let invoker = LambdaInvoker::from_sdk_config(&sdk, http.clone(), &function).map_err(RuntimeError::PollFunction)?;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &names));
    let secrets: Arc<dyn SecretSource> = Arc::new(AwsSecrets::from_conf(&sdk, http));
    let engine = Engine::new(store.clone(), store, Arc::new(NoQueue), Arc::new(NoSystems), EngineSettings::lambda());
    Ok(HookRuntime { engine: Arc::new(engine), secrets, trigger: Arc::new(PollFunction(invoker)) })
}

/// Invokes the poll function asynchronously with the Scheduler's input for a direction.
pub struct PollFunction(pub LambdaInvoker);

#[async_trait]
impl PollTrigger for PollFunction {
    async fn poll_soon(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        let input = serde_json::json!({"integration": integration.as_str(), "flow": flow.as_str()});
        self.0.invoke_event(input.to_string().as_bytes()).await.map_err(|e| {
            PortError::new(e.category(), format!("invoking the poll function for {integration} {flow}: {e}"))
        })
    }
}

fn not_here(what: &str) -> PortError {
    PortError::new(ErrorCategory::Config, format!("the hook function {what}: that is the other functions' work"))
}

/// The hook function connects to no system.
struct NoSystems;

#[async_trait]
impl ConnectorFactory for NoSystems {
    async fn connector(&self, _system: &SystemConfig) -> PortResult<Arc<dyn Connector>> {
        Err(not_here("connects to no system"))
    }
}

/// The hook function sends and receives no message.
struct NoQueue;

#[async_trait]
impl Queue for NoQueue {
    async fn send(&self, _queue: QueueName, _messages: &[OutMessage]) -> PortResult<()> {
        Err(not_here("sends no message"))
    }
    async fn redrive(&self, _queue: QueueName) -> PortResult<u64> {
        Err(not_here("redrives no queue"))
    }
    async fn receive(&self, _queue: QueueName, _max: usize, _visibility: Duration) -> PortResult<Vec<Delivery>> {
        Err(not_here("receives no message"))
    }
    async fn ack(&self, _queue: QueueName, _receipt: &str) -> PortResult<()> {
        Err(not_here("receives no message"))
    }
    async fn release(&self, _queue: QueueName, _receipt: &str, _delay: Duration) -> PortResult<()> {
        Err(not_here("receives no message"))
    }
    async fn dead_letters(&self, _queue: QueueName) -> PortResult<Vec<Delivery>> {
        Err(not_here("reads no dead letter"))
    }
    async fn delete_dead_letter(&self, _queue: QueueName, _message_id: &str) -> PortResult<()> {
        Err(not_here("reads no dead letter"))
    }
    async fn depth(&self, _queue: QueueName) -> PortResult<u64> {
        Err(not_here("reads no queue"))
    }
}
