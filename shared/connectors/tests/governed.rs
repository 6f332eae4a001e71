//! The HTTP client with a rate-limit governor against the simulators with their limits on:
//! paced below a quota, a burst meets no 429; unpaced, the same burst does; a pause one
//! caller met holds the others; Azure DevOps' headers on a success pause before a 429;
//! Jira's per-issue write limit holds back one issue and not the site, its points quota
//! the whole site until the quota's window ends.
//! The bucket is an in-memory stand-in with the stores' rules (the stores themselves
//! pass the store contract; tests/e2e runs the governor on the real one).

use chrono::{DateTime, Utc};
use ferry_connectors::governor::Governor;
use ferry_connectors::http::{Auth, Http, HttpOptions};
use ferry_domain::ports::{PortResult, RateLimitStore};
use ferry_domain::rate_limit::{self, Bucket, Grant, RateLimit, Take};
use ferry_domain::SystemId;
use ferry_sim::{AdoRateLimit, AdoSeed, AdoSim, JiraIssueWriteLimit, JiraQuota, JiraRateLimit, JiraSeed, JiraSim};
use reqwest::Method;
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct MemoryBuckets(Mutex<Option<Bucket>>);

#[async_trait::async_trait]
impl RateLimitStore for MemoryBuckets {
    async fn take_tokens(&self, _: &SystemId, limit: &RateLimit, want: u32, now: DateTime<Utc>) -> PortResult<Grant> {
        let mut b = self.0.lock().unwrap();
        let t = rate_limit::take(*b, limit, want, now.timestamp_millis());
        if let Take::Granted { bucket, .. } = t {
            *b = Some(bucket);
        }
        Ok(t.grant())
    }
    async fn pause_tokens(&self, _: &SystemId, until: DateTime<Utc>) -> PortResult<()> {
        let mut b = self.0.lock().unwrap();
        if let Some(p) = rate_limit::pause(*b, until.timestamp_millis()) {
            *b = Some(p);
        }
        Ok(())
    }
}

const BOT: &str = "ferry-bot@acme.test";

fn governor(per_second: f64, burst: u32) -> Arc<Governor> {
    let limit = RateLimit { per_second, burst };
    Arc::new(Governor::new(SystemId::parse("sim").unwrap(), limit, Arc::new(MemoryBuckets::default())))
}

fn opts(governor: Option<Arc<Governor>>) -> HttpOptions {
    HttpOptions {
        allow_http_loopback: true,
        backoff_base: Duration::from_millis(10),
        governor,
        ..HttpOptions::default()
    }
}

fn jira_client(sim: &JiraSim, governor: Option<Arc<Governor>>) -> Http {
    let auth = Auth::Basic { username: BOT.into(), password: SecretString::from("jira-bot-token".to_string()) };
    let opts =
        HttpOptions { issue_of_write: Some(ferry_connectors::jira::issue_writes::issue_of_write), ..opts(governor) };
    Http::new("jira sim", &sim.base_url(), auth, opts, |_| None).expect("client")
}

fn ado_client(sim: &AdoSim, governor: Option<Arc<Governor>>) -> Http {
    let auth = Auth::Basic { username: String::new(), password: SecretString::from("ado-bot-pat".to_string()) };
    Http::new("ado sim", &sim.base_url(), auth, opts(governor), |_| None).expect("client")
}

async fn get(http: &Http, path: &str) {
    let resp = http.send(Method::GET, http.url(path).unwrap(), None, None).await.expect("answered in the end");
    assert_eq!(resp.status.as_u16(), 200);
}

fn statuses(requests: Vec<ferry_sim::RequestRecord>) -> (usize, usize) {
    let bot: Vec<u16> = requests.iter().filter(|r| r.user.as_deref() == Some(BOT)).map(|r| r.status).collect();
    (bot.len(), bot.iter().filter(|s| **s == 429).count())
}

#[tokio::test]
async fn paced_below_jiras_burst_limit_a_burst_meets_no_429_and_unpaced_it_does() {
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let quota = || JiraRateLimit { per_second: 20.0, burst: 10, users: vec![BOT.into()] };
    sim.set_rate_limit(Some(quota()));
    let unpaced = jira_client(&sim, None);
    for _ in 0..40 {
        get(&unpaced, "rest/api/3/myself").await;
    }
    let (sent, refused) = statuses(sim.requests());
    assert!(refused > 0, "40 requests at once against 10 + 20/s: {refused} of {sent} refused");

    sim.clear_requests();
    sim.set_rate_limit(Some(quota()));
    let paced = jira_client(&sim, Some(governor(18.0, 8)));
    for _ in 0..40 {
        get(&paced, "rest/api/3/myself").await;
    }
    assert_eq!(statuses(sim.requests()), (40, 0), "paced at 18/s with a burst of 8: every request passes first time");
}

#[tokio::test]
async fn a_429_one_caller_met_holds_every_caller_of_the_system_until_its_retry_after() {
    let sim = AdoSim::start(AdoSeed::demo()).await.unwrap();
    let shared = governor(100.0, 100);
    let (a, b) = (ado_client(&sim, Some(shared.clone())), ado_client(&sim, Some(shared)));
    sim.faults().rate_limit_next(1, 2);
    let started = Instant::now();
    let first = async {
        get(&a, "_apis/projects?api-version=7.1").await;
        started.elapsed()
    };
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        get(&b, "_apis/projects?api-version=7.1").await;
        started.elapsed()
    };
    let (first, second) = tokio::join!(first, second);
    assert!(first >= Duration::from_secs(2), "the caller that met the 429 retried after it: {first:?}");
    assert!(second >= Duration::from_millis(1900), "the other caller waited out the same pause: {second:?}");
    assert_eq!(statuses(sim.requests()), (3, 1), "one 429, then both sent once");
}

#[tokio::test]
async fn azure_devops_using_its_last_tstu_pauses_the_governor_before_any_429() {
    let sim = AdoSim::start(AdoSeed::demo()).await.unwrap();
    sim.set_rate_limit(Some(AdoRateLimit { limit: 4, window: Duration::from_secs(2), users: vec![] }));
    let http = ado_client(&sim, Some(governor(1000.0, 1000)));
    let started = Instant::now();
    for _ in 0..8 {
        get(&http, "_apis/projects?api-version=7.1").await;
    }
    assert_eq!(statuses(sim.requests()), (8, 0), "the answer with X-RateLimit-Remaining: 0 and Retry-After paused it");
    assert!(started.elapsed() >= Duration::from_secs(2), "a window's wait: {:?}", started.elapsed());
}

/// Creates an issue in project APP as the bot; its id.
async fn create_issue(http: &Http, summary: &str) -> String {
    let body =
        serde_json::json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": summary}});
    let resp =
        http.send(Method::POST, http.url("rest/api/3/issue").unwrap(), Some(&body), None).await.expect("created");
    resp.json::<serde_json::Value>("create").unwrap()["id"].as_str().unwrap().to_string()
}

async fn edit(http: &Http, id: &str, summary: &str) {
    let body = serde_json::json!({"fields": {"summary": summary}});
    let url = http.url(&format!("rest/api/3/issue/{id}")).unwrap();
    let resp = http.send(Method::PUT, url, Some(&body), None).await.expect("edited in the end");
    assert_eq!(resp.status.as_u16(), 204);
}

/// Ferry's answers from the simulator about `id`'s path: (requests, 429s).
fn statuses_of(requests: &[ferry_sim::RequestRecord], id: &str) -> (usize, usize) {
    let path = format!("/rest/api/3/issue/{id}");
    let of: Vec<u16> = requests.iter().filter(|r| r.path == path && r.method == "PUT").map(|r| r.status).collect();
    (of.len(), of.iter().filter(|s| **s == 429).count())
}

/// Eight edits of one issue, one after the other as Ferry writes an issue, while eight
/// edits of four other issues go out every 50 ms; the time the other edits took, and
/// the hot issue's (requests, 429s).
async fn hot_issue_among_others(sim: &JiraSim, http: &Http) -> (Duration, (usize, usize)) {
    let hot = create_issue(http, "hot").await;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(create_issue(http, &format!("cold {i}")).await);
    }
    sim.clear_requests();
    sim.set_issue_write_limit(Some(JiraIssueWriteLimit { writes: 3, window: Duration::from_secs(2), users: vec![] }));
    let hot_writes = async {
        for i in 0..8 {
            edit(http, &hot, &format!("hot {i}")).await;
        }
    };
    let other_writes = async {
        let started = Instant::now();
        for i in 0..8 {
            edit(http, &others[i % 4], &format!("cold edit {i}")).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    };
    let ((), others_took) = tokio::join!(hot_writes, other_writes);
    sim.set_issue_write_limit(None);
    let summary = sim.issue_json(&hot).expect("the hot issue")["fields"]["summary"].clone();
    assert_eq!(summary, "hot 7", "every edit of the hot issue landed, the last one last");
    (others_took, statuses_of(&sim.requests(), &hot))
}

#[tokio::test]
async fn a_per_issue_429_holds_back_that_issue_only_and_its_later_writes_go_spaced_out() {
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let (others_took, (sent, refused)) =
        hot_issue_among_others(&sim, &jira_client(&sim, Some(governor(100.0, 100)))).await;
    assert!(others_took < Duration::from_millis(1_500), "the other issues' edits were not held up: {others_took:?}");
    assert!(refused >= 1, "the hot issue met its limit ({sent} sent)");
    assert!(refused <= 2, "then its writes were spaced out, not retried into the limit: {refused} 429s of {sent}");
}

#[tokio::test]
async fn a_spent_points_quota_pauses_every_caller_until_its_window_ends() {
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let shared = governor(100.0, 100);
    let (a, b) = (jira_client(&sim, Some(shared.clone())), jira_client(&sim, Some(shared)));
    // Windows of 3 s aligned to the clock: begin at the start of one.
    let in_window = Utc::now().timestamp_millis() % 3_000;
    tokio::time::sleep(Duration::from_millis((3_000 - in_window) as u64 + 20)).await;
    let window_ends = Instant::now() + Duration::from_millis(2_980);
    // 20 points: ten reads of one object each (2 points) a window.
    sim.set_quota(Some(JiraQuota { points: 20, window: Duration::from_secs(3), users: vec![BOT.into()] }));
    let reads = |http| async move {
        for _ in 0..8 {
            get(http, "rest/api/3/myself").await;
        }
    };
    tokio::join!(reads(&a), reads(&b));
    assert!(Instant::now() >= window_ends, "the last reads waited for the next window");
    let (sent, refused) = statuses(sim.requests());
    assert!(refused <= 1, "both callers waited: at most a request already on its way met the 429: {refused} of {sent}");
    assert_eq!(sent - refused, 16, "every read answered in the end");
}

#[tokio::test]
async fn an_answer_that_spends_the_points_quota_pauses_the_site_before_any_429() {
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let http = jira_client(&sim, Some(governor(100.0, 100)));
    let in_window = Utc::now().timestamp_millis() % 3_000;
    tokio::time::sleep(Duration::from_millis((3_000 - in_window) as u64 + 20)).await;
    let window_ends = Instant::now() + Duration::from_millis(2_980);
    sim.set_quota(Some(JiraQuota { points: 20, window: Duration::from_secs(3), users: vec![BOT.into()] }));
    for _ in 0..16 {
        get(&http, "rest/api/3/myself").await;
    }
    assert!(Instant::now() >= window_ends, "the last reads waited for the next window");
    assert_eq!(statuses(sim.requests()), (16, 0), "the answer with no points left (Beta-RateLimit r=0) paused it");
}
