use super::*;

fn args(changes: usize, rate: f64, poll_interval: &str) -> Args {
    Args {
        changes,
        rate,
        backend: BackendKind::Embedded,
        hooks_poll_interval: "300s".into(),
        poll_interval: poll_interval.into(),
        overlap: "120s".into(),
        cost: crate::prices::CostArgs { memory_mb: 256, prices: PathBuf::from("unused") },
        json: false,
        modes: vec![Mode::Hooks],
        changes_csv: None,
    }
}

#[test]
fn with_hooks_both_systems_get_a_webhook_block_and_the_relaxed_interval() {
    let dir = dir_with_sheets().unwrap();
    let text = config_text("latency-t", "300s", "120s", true)
        .replace("@JIRA_URL@", "http://127.0.0.1:1")
        .replace("@ADO_URL@", "http://127.0.0.1:2/acme");
    let set = write_and_load(&dir.path().join("ferry.yaml"), &text).unwrap();
    assert!(set.systems.iter().all(|s| s.webhook.is_some()), "both systems have webhook:");
    assert_eq!(set.integrations[0].poll_interval_secs, 300);
    let plain = config_text("latency-t", "60s", "120s", false)
        .replace("@JIRA_URL@", "http://127.0.0.1:1")
        .replace("@ADO_URL@", "http://127.0.0.1:2/acme");
    let set = write_and_load(&dir.path().join("ferry.yaml"), &plain).unwrap();
    assert!(set.systems.iter().all(|s| s.webhook.is_none()));
    assert_eq!(set.integrations[0].poll_interval_secs, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hooks_changes_land_in_seconds_although_polling_waits_five_minutes() {
    let run = run_mode(&args(6, 6.0, "10s"), Mode::Hooks).await.unwrap();
    assert_eq!(run.unlanded, 0, "every change lands through its webhook");
    assert!(run.deliveries >= 6, "one delivery per change at least: {}", run.deliveries);
    // The 300 s safety-net poll cannot have landed them: only the first poll ran.
    assert!(run.bucket.latency_ms(1.0) < 30_000.0, "max {} ms", run.bucket.latency_ms(1.0));
    assert!(run.bucket.invocations.requested_poll > 0);
    assert_eq!(run.bucket.latencies.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_alone_lands_every_change_within_its_interval_and_gets_no_webhooks() {
    let run = run_mode(&args(6, 6.0, "10s"), Mode::Polling).await.unwrap();
    assert_eq!(run.unlanded, 0);
    assert_eq!(run.deliveries, 0, "no webhooks registered");
    assert_eq!(run.bucket.invocations.requested_poll, 0);
    assert!(run.bucket.invocations.poll >= 2, "scheduled polls of both directions");
    assert!(run.bucket.requests.total() > 0 && run.bucket.requests.source() > 0);
}
