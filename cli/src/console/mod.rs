//! `ferry serve`: the web console. Server-rendered HTML (no script, no asset from
//! outside the machine) over the same engine calls as the CLI: the integrations with
//! each direction's lag and throughput, activate / deactivate; the parked failures with
//! Retry / Discard / "left wins" / "right wins"; one entity's timeline; the "new
//! integration" flow (`new_integration`).
//! Who may use it and how its actions are protected: see `auth`.

mod auth;
mod handlers;
mod html;
mod new_integration;
mod new_pages;
mod pages;

use anyhow::{Context, Result};
use auth::Auth;
use ferry_domain::ports::ConnectorFactory;
use ferry_engine::Engine;
use ferry_runtime::commits::CommitRunner;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Any address but a loopback one needs --token-from-env.
    /// Example: --listen 127.0.0.1:8088
    #[arg(long, default_value = "127.0.0.1:8088")]
    listen: SocketAddr,
    /// Read the console's token from this environment variable; every request then
    /// needs it (login form, or `Authorization: Bearer TOKEN`).
    /// Example: --token-from-env FERRY_CONSOLE_TOKEN
    #[arg(long, value_name = "VAR")]
    token_from_env: Option<String>,
}

/// What every handler shares.
pub struct App {
    pub engine: Arc<Engine>,
    /// The systems' connectors (the new-integration flow reads and checks the systems).
    pub connectors: Arc<dyn ConnectorFactory>,
    pub auth: Auth,
    /// Proposals saved by the new-integration flow, for download.
    pub saved: new_integration::Saved,
    /// On the AWS backend the functions record timelines only when asked to.
    pub aws: bool,
    /// Retries the mentions that commit links reported.
    pub commits: CommitRunner,
}

/// Serves the console until Ctrl-C.
pub async fn serve(
    engine: Arc<Engine>,
    connectors: Arc<dyn ConnectorFactory>,
    aws: bool,
    commits: CommitRunner,
    args: ServeArgs,
) -> Result<ExitCode> {
    let token = match &args.token_from_env {
        Some(var) => {
            let t = std::env::var(var).with_context(|| format!("--token-from-env {var}: the variable is not set"))?;
            anyhow::ensure!(!t.trim().is_empty(), "--token-from-env {var}: the variable is empty");
            Some(t)
        }
        None => None,
    };
    auth::bind_policy(&args.listen, token.is_some()).map_err(anyhow::Error::msg)?;
    let app = Arc::new(App { engine, connectors, auth: Auth::new(token), saved: Default::default(), aws, commits });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    eprintln!(
        "ferry: console on http://{local}/{} (Ctrl-C to stop)",
        if app.auth.required() { " (token required)" } else { "" }
    );
    axum::serve(listener, handlers::router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the console")?;
    Ok(ExitCode::SUCCESS)
}
