//! The hook function on the AWS backend as the e2e worlds run it (tests/e2e's
//! hook_function): a loopback HTTP server stands in for the function URL, turning each
//! request into the function URL event (payload format 2.0) and the real hook handler's
//! response back into HTTP; each request is counted as an invocation with its duration.
//! (Emulators cannot run Lambda code.)

use crate::pipeline::Invocations;
use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use chrono::Utc;
use ferry_engine::Engine;
use ferry_runtime::hooks::PollTrigger;
use ferry_runtime::SecretSource;
use serde_json::{json, Value};
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, task))
}

/// The function URL event of a request, as AWS documents payload format 2.0: lowercase
/// header names, a text body as is and any other base64-encoded.
fn url_event(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), Value::String(v.to_str().ok()?.to_string()))))
        .collect();
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or_default(), "headers": headers,
        "requestContext": {"http": {"method": method.as_str(), "path": uri.path(), "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1"}},
        "body": body, "isBase64Encoded": encoded,
    })
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
    let response = ferry_fn_hook::handle(&hook, url_event(&method, &uri, &headers, &body), Utc::now()).await;
    {
        let mut inv = f.invocations.lock().unwrap_or_else(|p| p.into_inner());
        inv.hook += 1;
        inv.add(started.elapsed());
    }
    let status = response["statusCode"].as_u64().and_then(|s| StatusCode::from_u16(s as u16).ok());
    let body = response["body"].as_str().unwrap_or_default().to_string();
    let ctype = response["headers"]["content-type"].as_str().unwrap_or("text/plain").to_string();
    (status.unwrap_or(StatusCode::BAD_GATEWAY), [(axum::http::header::CONTENT_TYPE, ctype)], body).into_response()
}
