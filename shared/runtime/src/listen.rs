//! `ferry run --listen ADDR`: the webhooks of the embedded runtime. `POST
//! /hooks/{system}` takes a Jira admin webhook or an Azure DevOps service hook for the
//! system with that id, judges it ([`crate::hooks::receive`]) and, when it is accepted,
//! has the directions it names polled at once through a [`PollTrigger`] (the runtime's
//! own: [`SpawnedPoll`]), beside the polling loop (the poll lease keeps the two from
//! reading one direction together). The payload is never used as data: the poll reads
//! the truth.

use crate::hooks::PollTrigger;
use crate::secrets::SecretSource;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use ferry_domain::ports::PortResult;
use ferry_domain::webhook::HookRequest;
use ferry_domain::{Flow, IntegrationId};
use ferry_engine::Engine;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::error;

#[derive(Clone)]
struct Hooks {
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
    trigger: Arc<dyn PollTrigger>,
}

/// The embedded runtime's trigger: polls the direction in a task of its own.
pub struct SpawnedPoll {
    pub engine: Arc<Engine>,
}

#[async_trait::async_trait]
impl PollTrigger for SpawnedPoll {
    async fn poll_soon(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        let (engine, id) = (self.engine.clone(), integration.clone());
        tokio::spawn(async move {
            if let Err(e) = engine.poll(&id, flow, Utc::now()).await {
                // Polling is the safety net: the direction's next poll reads the change.
                error!(integration = %id, %flow, "requested poll failed: {e}");
            }
        });
        Ok(())
    }
}

/// Binds `addr`; answers the bound address (port 0 picks a free one) and the server,
/// which runs until dropped.
pub async fn serve(
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
    trigger: Arc<dyn PollTrigger>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(Hooks { engine, secrets, trigger });
    let served = async move { axum::serve(listener, app).await };
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
    let answer = crate::hooks::receive(&hooks.engine, &*hooks.secrets, &system, &request, Utc::now()).await;
    for (id, flow) in &answer.directions {
        if let Err(e) = hooks.trigger.poll_soon(id, *flow).await {
            // The request is recorded: the direction's next scheduled poll takes it.
            error!(hook = system, integration = %id, %flow, "requested poll not started: {e}");
        }
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(serde_json::json!({ "outcome": answer.outcome })))
}
