//! The hook function on the AWS backend as the e2e worlds run it: a loopback HTTP
//! server stands in for the function URL, turning each request into the function URL
//! event (payload format 2.0) and the real hook handler's response back into HTTP; the
//! poll function the handler invokes is the real poll handler, run in a task of its own
//! as Lambda runs an asynchronous invocation. (Emulators cannot run Lambda code.)

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use chrono::Utc;
use ferry_domain::ports::PortResult;
use ferry_domain::{Flow, IntegrationId};
use ferry_engine::Engine;
use ferry_runtime::hooks::PollTrigger;
use ferry_runtime::SecretSource;
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
struct Function {
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
    trigger: Arc<PollHandler>,
}

/// Runs the poll handler for a direction without the caller waiting for it.
struct PollHandler {
    engine: Arc<Engine>,
}

#[async_trait::async_trait]
impl PollTrigger for PollHandler {
    async fn poll_soon(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        let engine = self.engine.clone();
        let input = json!({"integration": integration.as_str(), "flow": flow.as_str()});
        tokio::spawn(async move {
            if let Err(e) = ferry_fn_poll::handle(&engine, input, Utc::now()).await {
                eprintln!("the invoked poll failed: {e}");
            }
        });
        Ok(())
    }
}

/// Serves the hook function on a loopback port; answers its base URL and the server
/// task (abort it to stop).
pub async fn serve(
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    let trigger = Arc::new(PollHandler { engine: engine.clone() });
    let app = axum::Router::new().fallback(invoke).with_state(Function { engine, secrets, trigger });
    ferry_testsupport::function_url::serve_loopback(app).await
}

async fn invoke(
    State(f): State<Function>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let hook = ferry_fn_hook::Hook { engine: &f.engine, secrets: &*f.secrets, trigger: &*f.trigger };
    let response = ferry_fn_hook::handle(
        &hook,
        ferry_testsupport::function_url::url_event(&method, &uri, &headers, &body),
        Utc::now(),
    )
    .await;
    ferry_testsupport::function_url::http_response(&response)
}
