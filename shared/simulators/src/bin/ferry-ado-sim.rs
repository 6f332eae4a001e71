//! The Azure DevOps simulator as a process of its own, for clients that are not Rust (the
//! official-client check, infra/ado-client/run.sh):
//!
//! ```text
//! FERRY_ADO_SIM_PAT=<token> ferry-ado-sim [--listen 127.0.0.1:PORT]
//! ```
//!
//! It serves the demo organization (docs/demo-data.md; organization `acme`, projects `App` and
//! `Ops`) on the loopback address (port 0 = a free one). With `FERRY_ADO_SIM_PAT` set, the bot
//! user's PAT is that token and its seeded one is revoked, so a caller authenticates the way it
//! would against the service: the simulator's own PAT check, nothing bypassed. The first line
//! on stdout is `{"url": …, "project": …, "user": …}` (never the token); the process serves
//! until SIGINT or SIGTERM.

use ferry_sim::{AdoSeed, AdoSim};
use std::net::SocketAddr;

const PAT_VAR: &str = "FERRY_ADO_SIM_PAT";
const BOT: &str = "ferry-bot@acme.test";

fn listen_address() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address, e.g. 127.0.0.1:8090")?;
                listen = value.parse().map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "-h" | "--help" => {
                println!("usage: {PAT_VAR}=<token> ferry-ado-sim [--listen 127.0.0.1:PORT]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; usage: ferry-ado-sim [--listen 127.0.0.1:PORT]")),
        }
    }
    Ok(listen)
}

async fn run() -> Result<(), String> {
    let listen = listen_address()?;
    let sim = AdoSim::start_on(listen, AdoSeed::demo()).await.map_err(|e| format!("starting on {listen}: {e}"))?;
    match std::env::var(PAT_VAR) {
        Ok(pat) if pat.trim().is_empty() => return Err(format!("{PAT_VAR} is set but empty")),
        Ok(pat) => sim.rotate_pat(BOT, pat.trim()),
        Err(_) => eprintln!("{PAT_VAR} is not set: the demo PATs of docs/demo-data.md authenticate"),
    }
    let ready = serde_json::json!({"url": sim.base_url(), "project": "App", "user": BOT});
    println!("{ready}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("installing the SIGTERM handler: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("ferry-ado-sim: {e}");
        std::process::exit(2);
    }
}
