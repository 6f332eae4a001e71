use anyhow::Result;
use clap::Parser;
use ferry_event_runner::{EventRunner, RunnerOptions};
use ferry_runtime::aws::aws_engine;
use std::time::Duration;

/// Invokes Ferry's real Lambda handlers the way Lambda would, against the AWS (or
/// emulator) resources named by the FERRY_* variables: the poll handler on every
/// enabled rate schedule of FERRY_SCHEDULE_GROUP, the transform and write handlers on
/// SQS batches of the changes and writes queues (deleting only the records the
/// handler did not report failed).
#[derive(Parser, Debug)]
#[command(name = "ferry-event-runner", version)]
struct Args {
    /// Seconds between schedule checks.
    #[arg(long, default_value_t = 5)]
    tick: u64,
    /// Fire every enabled schedule now, drain both queues, then exit.
    #[arg(long)]
    once: bool,
    /// Exit after this many seconds without a message (with --once: how long to wait
    /// for in-flight or delayed messages; default 60).
    #[arg(long)]
    until_idle_secs: Option<u64>,
    /// Long-poll wait of each ReceiveMessage, in seconds (0..=20).
    #[arg(long, default_value_t = 1)]
    wait_secs: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let rt = aws_engine().await?;
    let region = rt.sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let options = RunnerOptions {
        tick: Duration::from_secs(args.tick.max(1)),
        once: args.once,
        until_idle: args.until_idle_secs.map(Duration::from_secs),
        wait: Duration::from_secs(args.wait_secs.min(20)),
        schedule_group: std::env::var("FERRY_SCHEDULE_GROUP").ok().filter(|v| !v.is_empty()),
        poll_function_arn: std::env::var("FERRY_POLL_FUNCTION_ARN").ok().filter(|v| !v.is_empty()),
    };
    let mut runner = EventRunner::new(
        rt.engine.clone(),
        aws_sdk_sqs::Client::new(&rt.sdk),
        aws_sdk_scheduler::Client::new(&rt.sdk),
        region,
        &rt.names.changes_queue_url,
        &rt.names.writes_queue_url,
        options,
    )
    .await?;
    runner
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
