//! Function footprint: each function binary's size, and — run under a local Lambda
//! Runtime API that serves it one event — the time from process start until it asks
//! for its first event (init done) and until it answered that event, and its peak
//! resident memory (`VmHWM`, read while it waits for its second event).

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

#[derive(clap::Args)]
pub struct Args {
    /// Where `cargo lambda build --release` put the functions (`<dir>/<name>/bootstrap`).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/lambda"))]
    lambda_dir: PathBuf,
    /// Starts per function; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const FUNCTIONS: [&str; 3] = ["ferry-poll", "ferry-transform", "ferry-write"];

/// The one event each function gets: an empty SQS batch for the queue consumers; for
/// poll an integration that does not exist (it answers with an error after its first
/// store requests: against the emulator when `AWS_ENDPOINT_URL` is set, else against a
/// closed local port that refuses at once).
fn event_for(function: &str) -> &'static str {
    match function {
        "ferry-poll" => r#"{"integration":"footprint-none","flow":"left_to_right"}"#,
        _ => r#"{"Records":[]}"#,
    }
}

#[derive(Debug, Default, Clone)]
struct Timeline {
    first_next: Option<Instant>,
    answered: Option<Instant>,
    answer_kind: Option<&'static str>,
}

pub async fn run(args: Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    println!(
        "{:<18}{:>12}{:>16}{:>18}{:>14}  first answer",
        "function", "size (MB)", "init (ms)", "first event (ms)", "peak RSS (MB)"
    );
    for f in FUNCTIONS {
        let bin = args.lambda_dir.join(f).join("bootstrap");
        let size = std::fs::metadata(&bin)
            .with_context(|| format!("{}: build the functions first (`cargo lambda build --release`)", bin.display()))?
            .len();
        let mut init = Vec::new();
        let mut first = Vec::new();
        let mut rss = Vec::new();
        let mut kind = "";
        for _ in 0..args.runs {
            let m = measure(&bin, event_for(f)).await.with_context(|| format!("running {}", bin.display()))?;
            init.push(m.0);
            first.push(m.1);
            rss.push(m.2);
            kind = m.3;
        }
        println!(
            "{:<18}{:>12.2}{:>16.1}{:>18.1}{:>14.1}  {kind}",
            f,
            size as f64 / 1e6,
            median(&mut init),
            median(&mut first),
            median(&mut rss)
        );
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// (ms to the first `/next`, ms to the answer, peak RSS MB, answer kind)
async fn measure(bin: &Path, event: &'static str) -> Result<(f64, f64, f64, &'static str)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?;
    // A port nothing listens on: the AWS SDK's requests fail at once.
    let dead = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let served = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = {
        let timeline = timeline.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                let timeline = timeline.clone();
                let served = served.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, event, timeline, served).await;
                });
            }
        })
    };
    let mut cmd = tokio::process::Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "footprint")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "footprint")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "footprint")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "footprint")
        .env("AWS_SECRET_ACCESS_KEY", "footprint")
        .env("AWS_ENDPOINT_URL", format!("http://{dead}"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("FERRY_CONFIG_TABLE", "ferry-config")
        .env("FERRY_STATE_TABLE", "ferry-state")
        .env("FERRY_CHANGES_QUEUE_URL", format!("http://{dead}/000000000000/changes.fifo"))
        .env("FERRY_WRITES_QUEUE_URL", format!("http://{dead}/000000000000/writes.fifo"))
        .env("FERRY_CHANGES_DLQ_URL", format!("http://{dead}/000000000000/changes-dlq.fifo"))
        .env("FERRY_WRITES_DLQ_URL", format!("http://{dead}/000000000000/writes-dlq.fifo"))
        .env("FERRY_PAYLOAD_BUCKET", "ferry-payloads")
        .env("FERRY_LOG", "error")
        // Without an emulator the one store request fails at once, without retries.
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // With an emulator configured (`source infra/.emulator.env`), the function talks to it.
    if std::env::var("AWS_ENDPOINT_URL").is_ok() {
        for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("FERRY_")) {
            if k != "FERRY_LOG" && k != "AWS_LAMBDA_RUNTIME_API" {
                cmd.env(k, v);
            }
        }
        cmd.env_remove("AWS_MAX_ATTEMPTS");
    }
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id().ok_or_else(|| anyhow!("the function exited at once"))?;
    let deadline = start + Duration::from_secs(20);
    let t = loop {
        let t = timeline.lock().await.clone();
        if t.answered.is_some() {
            break t;
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            server.abort();
            bail!("no answer to the first event within 20 s");
        }
        if let Ok(Some(status)) = child.try_wait() {
            server.abort();
            bail!("the function exited ({status}) before answering its first event");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    // The function now waits for its second event: its peak memory is final.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rss_kb = peak_rss_kb(pid).unwrap_or(0);
    let _ = child.kill().await;
    server.abort();
    let ms = |i: Option<Instant>| i.map_or(f64::NAN, |i| (i - start).as_secs_f64() * 1000.0);
    Ok((ms(t.first_next), ms(t.answered), rss_kb as f64 / 1024.0, t.answer_kind.unwrap_or("?")))
}

/// `VmHWM` of a process, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Serves Runtime API requests on one connection: the first `/next` gets the event,
/// later ones are held open (the function waits there, as between invocations).
async fn serve(
    sock: TcpStream,
    event: &'static str,
    timeline: Arc<Mutex<Timeline>>,
    served: Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    let mut reader = BufReader::new(sock);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).await? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await?;
        let now = Instant::now();
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            {
                let mut t = timeline.lock().await;
                t.first_next.get_or_insert(now);
            }
            if served.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // Hold the second request: the measurement ends before it matters.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return Ok(());
            }
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: footprint-1\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:footprint\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\ncontent-length: {}\r\n\r\n{event}",
                event.len()
            )
        } else {
            let kind = if path.ends_with("/response") {
                Some("response")
            } else if path.ends_with("/error") {
                Some("error")
            } else {
                None
            };
            if let Some(k) = kind {
                let mut t = timeline.lock().await;
                if t.answered.is_none() {
                    t.answered = Some(now);
                    t.answer_kind = Some(if path.contains("/init/") { "init error" } else { k });
                }
            }
            "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}\n"
                .to_string()
        };
        reader.get_mut().write_all(reply.as_bytes()).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_is_read_from_vm_hwm() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    4242 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(4242));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
