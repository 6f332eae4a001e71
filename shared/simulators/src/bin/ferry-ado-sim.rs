//! The Azure DevOps simulator as a process of its own, for clients that are not Rust (the
//! official-client check, infra/ado-client/run.sh):
//!
//! ```text
//! FERRY_ADO_SIM_PAT=<token> ferry-ado-sim [--listen 127.0.0.1:PORT] [--rate-limit TSTUS/WINDOW]
//! ```
//!
//! `--rate-limit 200/300s` turns on the global consumption limit: at most 200 TSTUs (one per
//! request) per user in any sliding 300 s, 429 over it (`ferry_sim::limits`); off by default.
//!
//! It serves the demo organization (docs/demo-data.md; organization `acme`, projects `App` and
//! `Ops`) on the loopback address (port 0 = a free one). With `FERRY_ADO_SIM_PAT` set, the bot
//! user's PAT is that token and its seeded one is revoked, so a caller authenticates the way it
//! would against the service: the simulator's own PAT check, nothing bypassed. The first line
//! on stdout is `{"url": …, "project": …, "user": …}` (never the token); the process serves
//! until SIGINT or SIGTERM.

use ferry_sim::{AdoRateLimit, AdoSeed, AdoSim};
use std::net::SocketAddr;
use std::time::Duration;

const PAT_VAR: &str = "FERRY_ADO_SIM_PAT";
const BOT: &str = "ferry-bot@acme.test";

const USAGE: &str = "usage: ferry-ado-sim [--listen 127.0.0.1:PORT] [--rate-limit TSTUS/WINDOW, e.g. 200/300s]";

/// The command line: where to listen, and the consumption limit if any.
fn arguments() -> Result<(SocketAddr, Option<AdoRateLimit>), String> {
    let mut args = std::env::args().skip(1);
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut limit = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address, e.g. 127.0.0.1:8090")?;
                listen = value.parse().map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "--rate-limit" => {
                let value = args.next().ok_or("--rate-limit needs TSTUS/WINDOW, e.g. 200/300s")?;
                limit = Some(rate_limit(&value).map_err(|e| format!("--rate-limit {value}: {e}"))?);
            }
            "-h" | "--help" => {
                println!("{PAT_VAR}=<token> {USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok((listen, limit))
}

/// `200/300s`: 200 TSTUs per user in any 300 s (`s` or `m`).
fn rate_limit(text: &str) -> Result<AdoRateLimit, String> {
    let (limit, window) = text.split_once('/').ok_or("expected TSTUS/WINDOW, e.g. 200/300s")?;
    let limit: u32 = limit.trim().parse().ok().filter(|n| *n > 0).ok_or("the TSTUs are a whole number above 0")?;
    let window = window.trim();
    let secs = match (window.strip_suffix('s'), window.strip_suffix('m')) {
        (Some(n), _) => n.parse::<u64>().ok(),
        (_, Some(n)) => n.parse::<u64>().ok().map(|m| m * 60),
        _ => None,
    }
    .filter(|s| *s > 0)
    .ok_or("the window is a whole number of seconds or minutes above 0, e.g. 300s or 5m")?;
    Ok(AdoRateLimit { limit, window: Duration::from_secs(secs), users: Vec::new() })
}

async fn run() -> Result<(), String> {
    let (listen, limit) = arguments()?;
    let sim = AdoSim::start_on(listen, AdoSeed::demo()).await.map_err(|e| format!("starting on {listen}: {e}"))?;
    sim.set_rate_limit(limit);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_reads_tstus_per_window_or_says_what_is_wrong() {
        let ok = |t: &str| rate_limit(t).map(|l| (l.limit, l.window.as_secs()));
        assert_eq!(ok("200/300s"), Ok((200, 300)));
        assert_eq!(ok("50/5m"), Ok((50, 300)));
        for (bad, why) in [
            ("200", "TSTUS/WINDOW"),
            ("0/10s", "above 0"),
            ("x/10s", "whole number"),
            ("5/10", "seconds or minutes"),
            ("5/0s", "above 0"),
        ] {
            let e = rate_limit(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
