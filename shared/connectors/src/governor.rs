//! The rate-limit governor of one system: every request Ferry's HTTP client sends to the
//! system first takes a token ([`Governor::admit`]), and a response that says "no more
//! until T" pauses the system's bucket ([`Governor::observe`]), so every caller waits, not
//! only the one that met the limit. A 429 of Jira's per-issue write limit holds back only
//! the writes to that issue ([`ferry_domain::limit_meaning`]): they wait, then go spaced
//! out, while the rest of the site goes on.
//!
//! The bucket is the store's ([`RateLimitStore`]), shared by every process of a stack:
//! each Lambda function, or the embedded runner and a `ferry preview` on the same file.
//! A process takes tokens a few at a time ([`RateLimit::lease`]) and spends them from
//! memory, one store request per lease instead of one per HTTP request. The price: a
//! process may hold a few tokens another could have used, and a pause reaches another
//! process at its next lease, at most a lease of requests later.
//!
//! Leased tokens stay usable for [`LEASE_TTL`]. However long that is, the site never
//! sends more than the bucket allows plus one lease per process: every token was taken
//! from the shared bucket once, and a process leases only when it holds none, so the
//! requests sent in any span are those the bucket granted in it, plus at most the lease
//! each process held when the span began (see the test
//! `held_tokens_never_add_more_than_a_lease_per_process_to_what_the_bucket_allows`).
//! The lifetime only bounds how old a token may be when spent.
//!
//! A wait never outlasts its caller: inside a Lambda handler the deadline given with
//! [`within_deadline`] bounds it, and everywhere the call's own longest wait does
//! (`HttpOptions::max_retry_after`). A longer wait fails the request, unsent, as rate
//! limited with the wait as its `Retry-After`: the queue hands the message back after it
//! (`ferry_runtime::settle`), and nothing is lost.

use chrono::Utc;
use ferry_domain::limit_meaning::{meaning, LimitMeaning};
use ferry_domain::ports::RateLimitStore;
use ferry_domain::rate_limit::{Grant, LimitSignal, RateLimit};
use ferry_domain::{ErrorCategory, PortError, SystemConfig, SystemId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long leased tokens stay usable. Long enough that a process that sends a request
/// every second or so, or waits a moment on another system's bucket, still spends its
/// whole lease; it does not change how far the site may exceed its pace (one lease per
/// process, see above).
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// Issues whose writes are spaced are forgotten past this many, oldest pace first.
const MAX_PACED_ISSUES: usize = 1_000;

tokio::task_local! {
    /// When the current handler must be done (a Lambda invocation's deadline, less its margin).
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the time no governor wait inside it may pass (`None`:
/// no deadline, only each call's longest wait).
pub async fn within_deadline<F: std::future::Future>(deadline: Option<Instant>, work: F) -> F::Output {
    match deadline {
        Some(d) => DEADLINE.scope(d, work).await,
        None => work.await,
    }
}

/// What is left before the current deadline, if there is one.
fn time_left(now: Instant) -> Option<Duration> {
    DEADLINE.try_with(|d| d.saturating_duration_since(now)).ok()
}

/// The tokens and the pause this process knows of.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    tokens: u32,
    lapse: Option<Instant>,
    paused_until: Option<Instant>,
}

/// What a request does with what the process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A held token was spent: send.
    Go,
    /// The system paused requests: wait this long.
    Paused(Duration),
    /// Nothing usable is held: lease tokens from the store.
    Lease,
}

impl Held {
    fn step(&mut self, now: Instant) -> Step {
        if let Some(until) = self.paused_until.filter(|u| *u > now) {
            return Step::Paused(until - now);
        }
        if self.tokens > 0 && self.lapse.is_some_and(|l| l > now) {
            self.tokens -= 1;
            return Step::Go;
        }
        Step::Lease
    }

    fn pause(&mut self, until: Instant) {
        self.tokens = 0;
        self.paused_until = Some(self.paused_until.map_or(until, |u| u.max(until)));
    }

    /// A lease of `n` tokens granted at `now`, one of them spent by the request that asked.
    fn leased(&mut self, n: u32, now: Instant) {
        self.tokens = n.saturating_sub(1);
        self.lapse = Some(now + LEASE_TTL);
    }
}

/// The pace of the writes to one issue after the issue's write limit refused one: none
/// before `free_at`, then one at a time at least `gap` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IssuePace {
    free_at: Instant,
    gap: Duration,
}

impl IssuePace {
    /// A write to the issue at `now`: `None` when it may go (its slot taken), else how
    /// long until it may.
    fn take_slot(&mut self, now: Instant) -> Option<Duration> {
        if self.free_at > now {
            return Some(self.free_at - now);
        }
        self.free_at = now + self.gap;
        None
    }

    /// No write came for a whole gap after the last slot: the issue's window has room again.
    fn is_over(&self, now: Instant) -> bool {
        now >= self.free_at + self.gap
    }
}

/// One system's governor; shared by every connector of the system in the process.
pub struct Governor {
    system: SystemId,
    limit: RateLimit,
    store: Arc<dyn RateLimitStore>,
    held: Mutex<Held>,
    /// One lease request at a time from this process; the others spend what it brings.
    leasing: tokio::sync::Mutex<()>,
    /// The issues whose writes are spaced out, by the id or key in their path.
    issues: Mutex<HashMap<String, IssuePace>>,
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governor").field("system", &self.system).field("limit", &self.limit).finish()
    }
}

impl Governor {
    pub fn new(system: SystemId, limit: RateLimit, store: Arc<dyn RateLimitStore>) -> Self {
        Self {
            system,
            limit,
            store,
            held: Mutex::new(Held::default()),
            leasing: tokio::sync::Mutex::new(()),
            issues: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn issues(&self) -> std::sync::MutexGuard<'_, HashMap<String, IssuePace>> {
        self.issues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a token for one request to the system, waiting for it up to `max_wait` (and
    /// never past the deadline of [`within_deadline`]); a write to an issue (`issue`)
    /// whose writes are spaced out first waits for its slot. A longer wait is a
    /// `RateLimited` error, nothing sent, with the wait as its `Retry-After`. A store that
    /// fails is logged and the request goes out: the governor spares the system, it never
    /// stops Ferry.
    pub async fn admit(&self, what: &str, issue: Option<&str>, max_wait: Duration) -> Result<(), PortError> {
        let started = Instant::now();
        loop {
            let wait = match self.issue_slot(issue, Instant::now()) {
                Some(d) => d,
                None => {
                    let step = self.held().step(Instant::now());
                    match step {
                        Step::Go => return Ok(()),
                        Step::Paused(d) => d,
                        Step::Lease => match self.lease().await {
                            Some(d) => d,
                            None => return Ok(()),
                        },
                    }
                }
            };
            let now = Instant::now();
            let allowed = max_wait.saturating_sub(now - started).min(time_left(now).unwrap_or(Duration::MAX));
            if wait > allowed {
                return Err(PortError::new(
                    ErrorCategory::RateLimited,
                    format!(
                        "{what}: not sent: the rate limit of {} allows the next request in {} ms, \
                         later than this call may wait",
                        self.system,
                        wait.as_millis()
                    ),
                )
                .with_retry_after(Some(wait))
                .with_nothing_applied(true));
            }
            tracing::debug!(system = %self.system, wait_ms = wait.as_millis() as u64, "rate limit: waiting for a token");
            tokio::time::sleep(wait).await;
        }
    }

    /// The slot of a write to `issue` at `now`: `None` when it may go (no pace, or a slot
    /// taken), else how long until its slot. A pace no write used for a gap is dropped.
    fn issue_slot(&self, issue: Option<&str>, now: Instant) -> Option<Duration> {
        let issue = issue?;
        let mut issues = self.issues();
        let pace = issues.get_mut(issue)?;
        if pace.is_over(now) {
            issues.remove(issue);
            return None;
        }
        pace.take_slot(now)
    }

    /// Spaces the writes to `issue` out: none before `until`, then one every `gap`.
    fn pace_issue(&self, issue: &str, until: Instant, gap: Duration) {
        let mut issues = self.issues();
        if issues.len() >= MAX_PACED_ISSUES && !issues.contains_key(issue) {
            let now = Instant::now();
            issues.retain(|_, p| !p.is_over(now));
            if issues.len() >= MAX_PACED_ISSUES {
                if let Some(oldest) = issues.iter().min_by_key(|(_, p)| p.free_at).map(|(k, _)| k.clone()) {
                    issues.remove(&oldest);
                }
            }
        }
        let pace = issues.entry(issue.to_string()).or_insert(IssuePace { free_at: until, gap });
        pace.free_at = pace.free_at.max(until);
        pace.gap = pace.gap.max(gap);
    }

    /// Leases tokens from the store; `None` when one was spent for this request (or the
    /// store failed), else how long until the bucket has one.
    async fn lease(&self) -> Option<Duration> {
        let _one = self.leasing.lock().await;
        // Another request of this process may have leased while this one queued.
        let step = self.held().step(Instant::now());
        match step {
            Step::Go => return None,
            Step::Paused(d) => return Some(d),
            Step::Lease => {}
        }
        match self.store.take_tokens(&self.system, &self.limit, self.limit.lease(), Utc::now()).await {
            Ok(Grant::Tokens(n)) => {
                self.held().leased(n, Instant::now());
                None
            }
            Ok(Grant::Wait(d)) => Some(d),
            Err(e) => {
                tracing::warn!(system = %self.system, "rate limit: the shared bucket is not answering, sending unpaced: {e}");
                None
            }
        }
    }

    /// Reads what the answer to a request (a write to `issue`, if any) says about the
    /// limit ([`meaning`]): a pause of the site holds every caller here at once and, through
    /// the shared bucket, in the other processes; a delay of one issue spaces out this
    /// process's writes to it. Answers whether the request's retry waits in [`Governor::admit`]
    /// (else the caller waits as it would without a governor).
    pub async fn observe(&self, signal: &LimitSignal, issue: Option<&str>) -> bool {
        let now = Utc::now();
        let later = |until: chrono::DateTime<Utc>| Instant::now() + (until - now).to_std().unwrap_or_default();
        match meaning(signal, issue.is_some(), now) {
            LimitMeaning::Nothing | LimitMeaning::RetryThis(_) => false,
            LimitMeaning::DelayIssue { until, gap } => {
                let issue = issue.unwrap_or_default();
                tracing::info!(system = %self.system, issue, pause_ms = (until - now).num_milliseconds(), gap_ms = gap.as_millis() as u64, "rate limit: the issue's writes are limited; spacing them out");
                self.pace_issue(issue, later(until), gap);
                true
            }
            LimitMeaning::PauseSite(until) => {
                self.held().pause(later(until));
                tracing::info!(system = %self.system, status = signal.status, pause_ms = (until - now).num_milliseconds(), "rate limit: the system asked for a pause");
                if let Err(e) = self.store.pause_tokens(&self.system, until).await {
                    tracing::warn!(system = %self.system, "rate limit: the pause is not shared with other processes: {e}");
                }
                true
            }
        }
    }
}

/// The governors of a process, one per system, over one store's buckets.
pub struct Governors {
    store: Arc<dyn RateLimitStore>,
    by_system: Mutex<HashMap<SystemId, Arc<Governor>>>,
}

impl Governors {
    pub fn new(store: Arc<dyn RateLimitStore>) -> Self {
        Self { store, by_system: Mutex::new(HashMap::new()) }
    }

    /// The governor of `system`, `None` when it is not paced ([`SystemConfig::rate_limit`]).
    /// Every connector of the system gets the same one while its pace stays the same.
    pub fn of(&self, system: &SystemConfig) -> Option<Arc<Governor>> {
        let limit = system.rate_limit()?;
        let mut by_system = self.by_system.lock().unwrap_or_else(|p| p.into_inner());
        match by_system.get(&system.id) {
            Some(g) if g.limit == limit => Some(g.clone()),
            _ => {
                let g = Arc::new(Governor::new(system.id.clone(), limit, self.store.clone()));
                by_system.insert(system.id.clone(), g.clone());
                Some(g)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::ports::PortResult;

    #[test]
    fn a_request_spends_a_held_token_waits_out_a_pause_or_asks_for_a_lease() {
        let t = Instant::now();
        let ms = |n| Duration::from_millis(n);
        let held = |tokens, lapse: Option<u64>, paused: Option<u64>| Held {
            tokens,
            lapse: lapse.map(|m| t + ms(m)),
            paused_until: paused.map(|m| t + ms(m)),
        };
        // (behaviour, held, step, held after)
        let table = [
            ("a held token is spent", held(3, Some(500), None), Step::Go, held(2, Some(500), None)),
            ("nothing held: lease", held(0, Some(500), None), Step::Lease, held(0, Some(500), None)),
            ("lapsed tokens are not spent", held(3, Some(0), None), Step::Lease, held(3, Some(0), None)),
            ("never leased", held(0, None, None), Step::Lease, held(0, None, None)),
            (
                "a pause comes first",
                held(3, Some(500), Some(200)),
                Step::Paused(ms(200)),
                held(3, Some(500), Some(200)),
            ),
            ("a pause over is nothing", held(1, Some(500), Some(0)), Step::Go, held(0, Some(500), Some(0))),
        ];
        for (behaviour, mut h, step, after) in table {
            assert_eq!(h.step(t), step, "{behaviour}");
            assert_eq!(h, after, "{behaviour}: held after");
        }
        let mut h = held(4, Some(500), Some(100));
        h.pause(t + ms(50));
        assert_eq!(h, held(0, Some(500), Some(100)), "a shorter pause keeps the longer one, and drops the tokens");
        h.pause(t + ms(900));
        assert_eq!(h.paused_until, Some(t + ms(900)), "a longer one replaces it");
    }

    #[test]
    fn a_paced_issue_lets_one_write_through_a_gap_and_is_forgotten_after_a_quiet_gap() {
        let t = Instant::now();
        let ms = |n| Duration::from_millis(n);
        let mut pace = IssuePace { free_at: t + ms(1_000), gap: ms(400) };
        // (behaviour, at ms, wait, free at ms after)
        let table = [
            ("before the delay ends a write waits", 200, Some(ms(800)), 1_000),
            ("at its end one goes", 1_000, None, 1_400),
            ("the next one waits a gap", 1_000, Some(ms(400)), 1_400),
            ("and then goes", 1_450, None, 1_850),
        ];
        for (behaviour, at, wait, free_at) in table {
            assert_eq!(pace.take_slot(t + ms(at)), wait, "{behaviour}");
            assert_eq!(pace.free_at, t + ms(free_at), "{behaviour}: free at");
        }
        assert!(!pace.is_over(t + ms(2_000)), "within a gap of the last slot");
        assert!(pace.is_over(t + ms(2_250)), "a whole gap without a write");
    }

    #[test]
    fn held_tokens_never_add_more_than_a_lease_per_process_to_what_the_bucket_allows() {
        // Three processes draw from one bucket (2/s, burst 8, leases of 2), each asking
        // in runs with quiet spells of up to 4.5 s (a fixed pseudo-random schedule), so
        // that tokens are held across a refill of the bucket and spent on top of it. In
        // every span of the run, the requests sent are at most the burst, plus the pace
        // over the span, plus a lease per process; and the lease term is needed.
        let limit = RateLimit { per_second: 2.0, burst: 8 };
        let (lease, processes) = (limit.lease(), 3usize);
        let t0 = Instant::now();
        let mut bucket = None;
        let mut held = vec![Held::default(); processes];
        let mut at = vec![0i64; processes];
        let mut sent: Vec<i64> = Vec::new();
        let mut seed = 0x5eed_u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..1_500 {
            let p = next(processes as u64) as usize;
            at[p] += if next(10) < 7 { next(50) } else { 1_000 + next(3_500) } as i64;
            let now_ms = at[p];
            let now = t0 + Duration::from_millis(now_ms as u64);
            match held[p].step(now) {
                Step::Go => sent.push(now_ms),
                Step::Paused(_) => unreachable!("nothing pauses here"),
                Step::Lease => {
                    if let ferry_domain::rate_limit::Take::Granted { tokens, bucket: b } =
                        ferry_domain::rate_limit::take(bucket, &limit, lease, now_ms)
                    {
                        bucket = Some(b);
                        held[p].leased(tokens, now);
                        sent.push(now_ms);
                    }
                }
            }
        }
        sent.sort_unstable();
        assert!(sent.len() > 300, "the schedule sends: {}", sent.len());
        let mut most_over = 0.0f64;
        for (i, &from) in sent.iter().enumerate() {
            for (j, &to) in sent.iter().enumerate().skip(i) {
                let in_span = (j - i + 1) as f64;
                let bucket_allows = f64::from(limit.burst) + limit.per_second * (to - from) as f64 / 1000.0;
                most_over = most_over.max(in_span - bucket_allows);
                let allowed = bucket_allows + f64::from(lease) * processes as f64;
                assert!(in_span <= allowed + 1e-9, "{in_span} sent from {from} to {to} ms, over {allowed}");
            }
        }
        assert!(most_over > 0.0, "held tokens were spent on top of a full bucket: {most_over}");
    }

    #[tokio::test]
    async fn the_unused_part_of_a_lease_is_spent_seconds_later() {
        let (g, store) = governor(RateLimit { per_second: 0.1, burst: 20 });
        g.admit("GET /x", None, Duration::ZERO).await.expect("a lease of 5");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        for _ in 0..4 {
            g.admit("GET /x", None, Duration::ZERO).await.expect("the rest of the lease, 1.5 s on");
        }
        assert_eq!(*store.takes.lock().unwrap(), 1, "five requests, one lease");
    }

    #[tokio::test]
    async fn a_per_issue_429_holds_back_that_issues_writes_and_nothing_else() {
        let (g, store) = governor(RateLimit { per_second: 100.0, burst: 100 });
        let per_issue = LimitSignal {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
            remaining: Some(0),
            reason: Some(ferry_domain::limit_meaning::LimitReason::PerIssueWrite),
            limit: Some(4),
            ..Default::default()
        };
        assert!(g.observe(&per_issue, Some("10001")).await, "the write's retry waits in admit");
        assert!(store.pauses.lock().unwrap().is_empty(), "the site is not paused");
        g.admit("PUT /issue/10002", Some("10002"), Duration::ZERO).await.expect("another issue goes on");
        g.admit("GET /issue/10001", None, Duration::ZERO).await.expect("a read of the same issue too");
        let e = g.admit("PUT /issue/10001", Some("10001"), Duration::from_millis(100)).await.expect_err("held back");
        assert_eq!(e.category, ErrorCategory::RateLimited);
        let wait = e.retry_after.expect("handed back with the wait");
        assert!(wait > Duration::from_millis(1_800) && wait <= Duration::from_secs(2), "{wait:?}");
        let started = Instant::now();
        g.admit("PUT /issue/10001", Some("10001"), Duration::from_secs(5)).await.expect("waits in place");
        g.admit("PUT /issue/10001", Some("10001"), Duration::from_secs(5)).await.expect("and the next a gap later");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(2_300), "2 s, then a gap of 2 s / 4 writes: {took:?}");
        let quota = LimitSignal {
            reason: Some(ferry_domain::limit_meaning::LimitReason::TenantQuota),
            retry_after: Some(Duration::from_secs(30)),
            ..per_issue
        };
        assert!(g.observe(&quota, Some("10001")).await);
        assert_eq!(store.pauses.lock().unwrap().len(), 1, "the quota pauses the whole site");
        let e = g.admit("GET /x", None, Duration::ZERO).await.expect_err("every request waits");
        assert!(e.retry_after.unwrap() > Duration::from_secs(29));
    }

    /// A bucket in memory with the store's rules, counting the requests it gets.
    #[derive(Default)]
    struct Buckets {
        bucket: Mutex<Option<ferry_domain::rate_limit::Bucket>>,
        takes: Mutex<u32>,
        pauses: Mutex<Vec<chrono::DateTime<Utc>>>,
    }

    #[async_trait::async_trait]
    impl RateLimitStore for Buckets {
        async fn take_tokens(
            &self,
            _: &SystemId,
            limit: &RateLimit,
            want: u32,
            now: chrono::DateTime<Utc>,
        ) -> PortResult<Grant> {
            *self.takes.lock().unwrap() += 1;
            let mut b = self.bucket.lock().unwrap();
            let t = ferry_domain::rate_limit::take(*b, limit, want, now.timestamp_millis());
            if let ferry_domain::rate_limit::Take::Granted { bucket, .. } = t {
                *b = Some(bucket);
            }
            Ok(t.grant())
        }
        async fn pause_tokens(&self, _: &SystemId, until: chrono::DateTime<Utc>) -> PortResult<()> {
            self.pauses.lock().unwrap().push(until);
            let mut b = self.bucket.lock().unwrap();
            if let Some(p) = ferry_domain::rate_limit::pause(*b, until.timestamp_millis()) {
                *b = Some(p);
            }
            Ok(())
        }
    }

    fn governor(limit: RateLimit) -> (Governor, Arc<Buckets>) {
        let store = Arc::new(Buckets::default());
        (Governor::new(SystemId::parse("jira").unwrap(), limit, store.clone()), store)
    }

    #[tokio::test]
    async fn tokens_are_leased_a_few_at_a_time_and_spent_from_memory() {
        let (g, store) = governor(RateLimit { per_second: 1.0, burst: 20 });
        for _ in 0..20 {
            g.admit("GET /x", None, Duration::ZERO).await.expect("within the burst");
        }
        assert_eq!(*store.takes.lock().unwrap(), 4, "20 requests, leases of 5");
        let e = g.admit("GET /x", None, Duration::from_millis(50)).await.expect_err("the burst is spent");
        assert_eq!(e.category, ErrorCategory::RateLimited);
        assert!(e.nothing_applied, "not sent");
        let wait = e.retry_after.expect("the wait is the Retry-After");
        assert!(wait > Duration::from_millis(4_900) && wait <= Duration::from_secs(5), "a lease of 5 at 1/s: {wait:?}");
        assert!(e.message.contains("GET /x") && e.message.contains("rate limit of jira"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_request_waits_for_the_next_token_when_it_may() {
        let (g, _) = governor(RateLimit { per_second: 20.0, burst: 1 });
        let started = Instant::now();
        for _ in 0..4 {
            g.admit("GET /x", None, Duration::from_secs(1)).await.expect("waits");
        }
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(140), "three refills at 20/s: {took:?}");
    }

    #[tokio::test]
    async fn a_pause_holds_every_caller_and_is_shared_through_the_store() {
        let (g, store) = governor(RateLimit { per_second: 100.0, burst: 100 });
        g.admit("GET /x", None, Duration::ZERO).await.expect("a token");
        let throttled = LimitSignal { status: 429, retry_after: Some(Duration::from_secs(30)), ..Default::default() };
        assert!(g.observe(&throttled, None).await);
        assert_eq!(store.pauses.lock().unwrap().len(), 1, "the pause is written for the other processes");
        let e = g.admit("GET /y", None, Duration::from_secs(5)).await.expect_err("paused beyond the wait allowed");
        let wait = e.retry_after.expect("retry after");
        assert!(wait > Duration::from_secs(29), "the held tokens are dropped too: {wait:?}");
        assert!(
            !g.observe(&LimitSignal { status: 200, ..Default::default() }, None).await,
            "a plain answer pauses nothing"
        );
    }

    #[tokio::test]
    async fn no_wait_passes_the_handlers_deadline() {
        let (g, _) = governor(RateLimit { per_second: 1.0, burst: 1 });
        g.admit("GET /x", None, Duration::ZERO).await.expect("the one token");
        let deadline = Some(Instant::now() + Duration::from_millis(300));
        let e =
            within_deadline(deadline, g.admit("GET /x", None, Duration::from_secs(20))).await.expect_err("too late");
        assert_eq!(e.category, ErrorCategory::RateLimited, "handed back to the queue, not waited for");
        let started = Instant::now();
        g.admit("GET /x", None, Duration::from_secs(20)).await.expect("without a deadline it waits");
        assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
    }

    #[test]
    fn a_system_keeps_its_governor_while_its_pace_stays_the_same() {
        let governors = Governors::new(Arc::new(Buckets::default()));
        let mut system: SystemConfig = serde_json::from_value(serde_json::json!({
            "id": "jira", "kind": "jira", "base_url": "https://acme.atlassian.net",
            "auth": { "kind": "basic", "username": "bot@acme.test", "token": { "env": "T" } }
        }))
        .unwrap();
        let a = governors.of(&system).expect("Jira Cloud is paced by default");
        assert_eq!(a.limit(), RateLimit::default_for(ferry_domain::SystemKind::Jira).unwrap());
        assert!(Arc::ptr_eq(&a, &governors.of(&system).unwrap()), "the same one for every connector");
        system.rate_limit = Some(ferry_domain::RateLimitSetting::Limit(RateLimit { per_second: 3.0, burst: 6 }));
        let b = governors.of(&system).unwrap();
        assert_eq!(b.limit().per_second, 3.0, "a changed pace: a new governor");
        system.rate_limit = Some(ferry_domain::RateLimitSetting::Off);
        assert!(governors.of(&system).is_none());
    }
}
