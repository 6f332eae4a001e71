//! The hook function on the AWS backend as the e2e worlds run it (tests/e2e's
//! hook_function): a loopback HTTP server stands in for the function URL, turning each
//! request into the function URL event (payload format 2.0) and the real hook handler's
//! response back into HTTP; each request is counted as an invocation with its duration.
//! (Emulators cannot run Lambda code.)

use crate::pipeline::Invocations;
use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use chrono::Utc;
use ferry_engine::Engine;
use ferry_runtime::hooks::PollTrigger;
use ferry_runtime::SecretSource;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone)]
struct Function {
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
    trigger: Arc<dyn PollTrigger>,
    invocations: Arc<Mutex<Invocations>>,
}

/// Serves the hook function on a loopback port; answers its base URL and the server task.
pub async fn serve(
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
    trigger: Arc<dyn PollTrigger>,
    invocations: Arc<Mutex<Invocations>>,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    let app = axum::Router::new().fallback(invoke).with_state(Function { engine, secrets, trigger, invocations });
    ferry_testsupport::function_url::serve_loopback(app).await
}

async fn invoke(
    State(f): State<Function>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let started = Instant::now();
    let hook = ferry_fn_hook::Hook { engine: &f.engine, secrets: &*f.secrets, trigger: &*f.trigger };
    let response = ferry_fn_hook::handle(
        &hook,
        ferry_testsupport::function_url::url_event(&method, &uri, &headers, &body),
        Utc::now(),
    )
    .await;
    {
        let mut inv = f.invocations.lock().unwrap_or_else(|p| p.into_inner());
        inv.hook += 1;
        inv.add(started.elapsed());
    }
    ferry_testsupport::function_url::http_response(&response)
}
