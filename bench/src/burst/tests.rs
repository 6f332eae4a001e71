use super::*;

fn args(changes: usize) -> Args {
    Args {
        changes,
        jira_limit: (20.0, 25),
        ado_limit: (80, Duration::from_secs(3)),
        jira_issue_writes: None,
        jira_quota: None,
        governor: (15.0, 20),
        poll_interval: "10s".into(),
        overlap: "120s".into(),
        json: false,
    }
}

#[test]
fn both_systems_get_the_modes_rate_limit() {
    let dir = dir_with_sheets().unwrap();
    let load = |mode| {
        let text = config_text("burst-t", &args(4), mode)
            .replace("@JIRA_URL@", "http://127.0.0.1:1")
            .replace("@ADO_URL@", "http://127.0.0.1:2/acme");
        write_and_load(&dir.path().join("ferry.yaml"), &text).unwrap()
    };
    let on = load(Mode::On);
    let pace = ferry_domain::RateLimit { per_second: 15.0, burst: 20 };
    assert!(on.systems.iter().all(|s| s.rate_limit() == Some(pace)), "both paced");
    assert_eq!(on.integrations[0].poll_interval_secs, 10);
    let off = load(Mode::Off);
    assert!(off.systems.iter().all(|s| s.rate_limit == Some(ferry_domain::RateLimitSetting::Off)));
}

#[test]
fn limits_and_paces_read_from_the_command_line_or_say_what_is_wrong() {
    assert_eq!(parse_pace("40/80"), Ok((40.0, 80)));
    assert_eq!(parse_pace("0.5/1"), Ok((0.5, 1)));
    assert_eq!(parse_window("400/10s"), Ok((400, Duration::from_secs(10))));
    assert_eq!(parse_window("200/5m"), Ok((200, Duration::from_secs(300))));
    for bad in ["40", "0/5", "40/0", "x/5"] {
        assert!(parse_pace(bad).is_err(), "{bad}");
    }
    for bad in ["400", "0/10s", "400/10", "400/0s"] {
        assert!(parse_window(bad).is_err(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_burst_lands_every_change_without_a_429() {
    let run = run_mode(&args(8), Mode::On).await.unwrap();
    assert_eq!(run.unlanded, 0, "every change lands");
    assert_eq!(run.parked, 0);
    assert!(run.jira.sent > 0 && run.ado.sent > 0);
    assert_eq!((run.jira.refused, run.ado.refused), (0, 0), "paced below both limits: {:?} {:?}", run.jira, run.ado);
    assert!(run.leases > 0, "the governor took its tokens from the store");
    let sent = (run.jira.sent + run.ado.sent) as u64;
    assert!(run.leases * 2 <= sent, "leases of 5, not one per request: {} for {sent}", run.leases);
}
