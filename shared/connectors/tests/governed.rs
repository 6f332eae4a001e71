//! The HTTP client with a rate-limit governor against the simulators with their limits on:
//! paced below a quota, a burst meets no 429; unpaced, the same burst does; a pause one
//! caller met holds the others; Azure DevOps' headers on a success pause before a 429.
//! The bucket is an in-memory stand-in with the stores' rules (the stores themselves
//! pass the store contract; tests/e2e runs the governor on the real one).

use chrono::{DateTime, Utc};
use ferry_connectors::governor::Governor;
use ferry_connectors::http::{Auth, Http, HttpOptions};
use ferry_domain::ports::{PortResult, RateLimitStore};
use ferry_domain::rate_limit::{self, Bucket, Grant, RateLimit, Take};
use ferry_domain::SystemId;
use ferry_sim::{AdoRateLimit, AdoSeed, AdoSim, JiraRateLimit, JiraSeed, JiraSim};
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
    Http::new("jira sim", &sim.base_url(), auth, opts(governor), |_| None).expect("client")
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
