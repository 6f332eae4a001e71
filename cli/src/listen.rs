//! `ferry run --listen ADDR`: the webhooks of the embedded runtime. `POST
//! /hooks/{system}` takes a Jira admin webhook or an Azure DevOps service hook for the
//! system with that id, judges it ([`ferry_runtime::hooks::receive`]) and, when it is
//! accepted, polls the directions it names at once, beside the polling loop (the poll
//! lease keeps the two from reading one direction together). The payload is never
//! used as data: the poll reads the truth.

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use ferry_domain::webhook::HookRequest;
use ferry_engine::Engine;
use ferry_runtime::SecretSource;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::error;

#[derive(Clone)]
struct Hooks {
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
}

/// Binds `addr`; answers the bound address (port 0 picks a free one) and the server,
/// which runs until dropped.
pub async fn serve(
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
    addr: SocketAddr,
) -> Result<(SocketAddr, impl std::future::Future<Output = Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let app = router(Hooks { engine, secrets });
    let served = async move { axum::serve(listener, app).await.context("serving the webhooks") };
    Ok((local, served))
}

fn router(hooks: Hooks) -> Router {
    Router::new().route("/hooks/:system", post(delivery)).with_state(hooks)
}

async fn delivery(
    State(hooks): State<Hooks>,
    Path(system): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    // A header whose value is not text cannot be a signature or credential Ferry set.
    let headers: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let request = HookRequest { headers: &headers, body: &body };
    let answer = ferry_runtime::hooks::receive(&hooks.engine, &*hooks.secrets, &system, &request, Utc::now()).await;
    for (id, flow) in answer.directions {
        let engine = hooks.engine.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.poll(&id, flow, Utc::now()).await {
                // Polling is the safety net: the direction's next poll reads the change.
                error!(integration = %id, %flow, "requested poll failed: {e}");
            }
        });
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(serde_json::json!({ "outcome": answer.outcome })))
}
