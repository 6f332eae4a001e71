//! Figures of a run and their printing: per synced change, per second, per million.

use crate::counting::Counts;
use crate::pipeline::Invocations;
use crate::prices::Prices;
use ferry_sim::RequestRecord;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::time::Duration;

/// Requests Ferry (the integration user) sent to the systems, by kind.
#[derive(Debug, Default, Clone)]
pub struct RequestBreakdown {
    pub by_kind: BTreeMap<&'static str, u64>,
    /// The same requests per system: Jira's, then Azure DevOps'.
    pub jira_by_kind: BTreeMap<&'static str, u64>,
    pub ado_by_kind: BTreeMap<&'static str, u64>,
    pub jira_total: u64,
    pub ado_total: u64,
}

/// What a request to a Jira or Azure DevOps simulator was for.
pub fn kind_of(service: &str, r: &RequestRecord) -> &'static str {
    let p = r.path.to_ascii_lowercase();
    let m = r.method.as_str();
    if service == "jira" {
        if p.contains("/user") || p.ends_with("/myself") {
            "user lookup"
        } else if p.ends_with("/search/jql") || p.ends_with("/search") {
            "poll search"
        } else if p.contains("/transitions") {
            if m == "POST" {
                "transition"
            } else {
                "transition read"
            }
        } else if p.contains("/remotelink") {
            "remote link"
        } else if p.ends_with("/issue") && m == "POST" {
            "create"
        } else if p.contains("/issue/") && m == "PUT" {
            "update"
        } else if m == "GET" {
            "entity read"
        } else {
            "other"
        }
    } else if p.ends_with("/wiql") {
        "poll search"
    } else if p.ends_with("/workitemsbatch") {
        // The polls' batch reads, and a write batch's targets read ahead (the same request).
        "poll read"
    } else if p.contains("identit") || p.contains("/graph/") || p.contains("connectiondata") {
        "user lookup"
    } else if p.contains("/workitems/$") && m == "POST" {
        "create"
    } else if p.contains("/workitems/") && m == "PATCH" {
        "update"
    } else if m == "GET" {
        "entity read"
    } else {
        "other"
    }
}

impl RequestBreakdown {
    pub fn of(jira: &[RequestRecord], ado: &[RequestRecord]) -> Self {
        let kinds = |svc: &str, reqs: &[RequestRecord]| {
            let mut by_kind = BTreeMap::new();
            // Jira issues whose last request was a transition: the next read of the
            // issue is the read of the revision the transition made.
            let mut transitioned = HashSet::new();
            for r in reqs {
                let mut kind = kind_of(svc, r);
                if svc == "jira" {
                    match kind {
                        "transition" => {
                            transitioned.insert(r.path.trim_end_matches("/transitions").to_string());
                        }
                        "entity read" if transitioned.remove(&r.path) => kind = "read after transition",
                        _ => {}
                    }
                }
                *by_kind.entry(kind).or_insert(0) += 1;
            }
            by_kind
        };
        let (jira_by_kind, ado_by_kind) = (kinds("jira", jira), kinds("ado", ado));
        let mut by_kind = jira_by_kind.clone();
        for (k, n) in &ado_by_kind {
            *by_kind.entry(k).or_insert(0) += n;
        }
        Self { by_kind, jira_by_kind, ado_by_kind, jira_total: jira.len() as u64, ado_total: ado.len() as u64 }
    }
    pub fn get(&self, k: &str) -> u64 {
        self.by_kind.get(k).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.jira_total + self.ado_total
    }
    /// Requests to Jira but the status's workflow transitions: the reads of the
    /// available transitions, the transitions, and the read of the revision they made.
    pub fn jira_transitions_aside(&self) -> u64 {
        let t = |k: &str| self.jira_by_kind.get(k).copied().unwrap_or(0);
        self.jira_total - t("transition") - t("transition read") - t("read after transition")
    }
    /// Reads of the systems where the changes happen (the polls' searches and batch
    /// reads, and entity reads).
    pub fn source(&self) -> u64 {
        self.get("poll search") + self.get("poll read")
    }
    /// Writes of the changed fields into the target (creates and updates; Azure DevOps
    /// updates include the Hyperlink relation Ferry adds after a create).
    pub fn target_writes(&self) -> u64 {
        self.get("create") + self.get("update")
    }
}

/// The figures of a set of synced changes.
#[derive(Default)]
pub struct Bucket {
    /// Write commands that changed the target (creates and updates).
    pub synced: usize,
    /// Of those, the ones written into Jira (the rest went into Azure DevOps).
    pub synced_into_jira: usize,
    pub sync_time: Duration,
    pub latencies: Vec<Duration>,
    pub counts: Counts,
    pub invocations: Invocations,
    pub requests: RequestBreakdown,
}

pub struct Run {
    pub name: &'static str,
    pub changes: usize,
    pub round: usize,
    pub send_batch: usize,
    pub receive_batch: usize,
    pub user_cache_ttl: Duration,
    pub wall: Duration,
    pub unsynced: usize,
    /// Target writes of entities nobody changed in that round (echoes written back).
    pub extra_writes: usize,
    pub all: Bucket,
    /// Only the rounds of updates (every entity already linked): the steady state.
    pub steady: Bucket,
}

/// The `q` quantile (nearest rank) of sorted durations, in ms.
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// Dollars for the counted work, by service.
#[derive(Debug, Clone, Default)]
pub struct Cost {
    pub lambda_requests: f64,
    pub lambda_duration: f64,
    pub sqs: f64,
    pub dynamodb: f64,
    pub scheduler: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.lambda_requests + self.lambda_duration + self.sqs + self.dynamodb + self.scheduler
    }
}

impl Bucket {
    fn synced_f(&self) -> f64 {
        self.synced.max(1) as f64
    }
    pub fn per_change(&self, x: u64) -> f64 {
        x as f64 / self.synced_f()
    }
    /// Requests to Jira per change written into Jira: the writes and reads of those
    /// changes, and Jira's polls (the share of the changes read from it).
    pub fn jira_per_change(&self) -> f64 {
        self.requests.jira_total as f64 / self.synced_into_jira.max(1) as f64
    }
    /// As [`Bucket::jira_per_change`], the status's transitions aside.
    pub fn jira_per_change_transitions_aside(&self) -> f64 {
        self.requests.jira_transitions_aside() as f64 / self.synced_into_jira.max(1) as f64
    }
    /// Requests to Azure DevOps per change written into it (as [`Bucket::jira_per_change`]).
    pub fn ado_per_change(&self) -> f64 {
        self.requests.ado_total as f64 / self.synced.saturating_sub(self.synced_into_jira).max(1) as f64
    }
    pub fn throughput(&self) -> f64 {
        self.synced as f64 / self.sync_time.as_secs_f64().max(1e-9)
    }
    pub fn latency_ms(&self, q: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        quantile_ms(&l, q)
    }
    pub fn cost(&self, p: &Prices, memory_mb: u32) -> Cost {
        let gb = memory_mb as f64 / 1024.0;
        Cost {
            lambda_requests: self.invocations.total() as f64 * p.lambda_request,
            lambda_duration: self.invocations.billed_ms as f64 / 1000.0 * gb * p.lambda_arm64_gb_second,
            sqs: self.counts.sqs_chunks as f64 * p.sqs_fifo_request,
            dynamodb: self.counts.read_units() * p.dynamodb_read_unit
                + self.counts.write_units as f64 * p.dynamodb_write_unit,
            scheduler: self.invocations.poll as f64 * p.scheduler_invocation,
        }
    }
    pub fn per_million(&self, p: &Prices, memory_mb: u32) -> f64 {
        self.cost(p, memory_mb).total() / self.synced_f() * 1e6
    }
    fn mean_invocation_ms(&self) -> f64 {
        self.invocations.handler_time.as_secs_f64() * 1000.0 / self.invocations.total().max(1) as f64
    }

    fn figures(&self, p: &Prices, memory_mb: u32) -> Vec<(&'static str, f64)> {
        vec![
            ("throughput (changes/s)", self.throughput()),
            ("latency p50 (ms)", self.latency_ms(0.5)),
            ("latency p99 (ms)", self.latency_ms(0.99)),
            ("source requests / change", self.per_change(self.requests.source())),
            ("target write commands / change", 1.0),
            ("system write requests / change", self.per_change(self.requests.target_writes())),
            ("Jira transitions / change", self.per_change(self.requests.get("transition"))),
            ("all system requests / change", self.per_change(self.requests.total())),
            ("Jira requests / change into Jira", self.jira_per_change()),
            ("  the same, transitions aside", self.jira_per_change_transitions_aside()),
            ("ADO requests / change into ADO", self.ado_per_change()),
            ("SQS requests / change", self.per_change(self.counts.sqs_requests())),
            ("SQS billed requests / change", self.per_change(self.counts.sqs_chunks)),
            ("DynamoDB requests / change", self.per_change(self.counts.dynamo_requests())),
            ("DynamoDB read units / change", self.counts.read_units() / self.synced_f()),
            ("DynamoDB write units / change", self.per_change(self.counts.write_units)),
            ("Lambda invocations / change", self.per_change(self.invocations.total())),
            ("mean invocation (ms)", self.mean_invocation_ms()),
            ("$ per million changes", self.per_million(p, memory_mb)),
        ]
    }
}

pub struct Report {
    pub backend: &'static str,
    pub memory_mb: u32,
    pub prices: Prices,
    pub runs: Vec<Run>,
}

impl Report {
    fn table(&self, s: &mut String, title: &str, pick: fn(&Run) -> &Bucket) {
        let figs: Vec<Vec<(&str, f64)>> =
            self.runs.iter().map(|r| pick(r).figures(&self.prices, self.memory_mb)).collect();
        let _ = write!(s, "\n  {title:<34}");
        for r in &self.runs {
            let _ = write!(s, "{:>12}", r.name);
        }
        if self.runs.len() == 2 {
            let _ = write!(s, "{:>13}", "naive/tuned");
        }
        let _ = writeln!(s);
        if let Some(first) = figs.first() {
            for (i, (name, _)) in first.iter().enumerate() {
                let _ = write!(s, "  {name:<34}");
                for f in &figs {
                    let _ = write!(s, "{:>12}", fmt(f[i].1));
                }
                if figs.len() == 2 {
                    let _ = write!(s, "{:>13}", format!("{:.2}x", figs[1][i].1 / figs[0][i].1));
                }
                let _ = writeln!(s);
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\nFerry benchmark: {} backend", self.backend);
        if self.backend == "embedded" {
            let _ = writeln!(
                s,
                "  SQS / DynamoDB figures count the embedded queue and store calls, each as the AWS request it stands for;\n  \
                 Lambda figures count handler calls (a poll, a batch) as invocations. Dollars price them as on AWS."
            );
        } else {
            let _ = writeln!(
                s,
                "  SQS / DynamoDB requests counted on the wire by an SDK interceptor (incl. the event source's receives/deletes);\n  \
                 Lambda invocations are the handler calls the benchmark made as Lambda would; durations are this machine's."
            );
        }
        let _ = writeln!(
            s,
            "  prices: bench/prices.toml, us-east-1 as known on {} (Lambda arm64 {} MB)",
            self.prices.date, self.memory_mb
        );
        for r in &self.runs {
            let _ = writeln!(
                s,
                "  {}: {} changes in rounds of {}, send batch {}, receive batch {}, user cache {} s; {} target writes ({} of entities nobody changed in that round), {} changes not synced in their round, wall {:.1} s (sync {:.1} s)",
                r.name,
                r.changes,
                r.round,
                r.send_batch,
                r.receive_batch,
                r.user_cache_ttl.as_secs(),
                r.all.synced,
                r.extra_writes,
                r.unsynced,
                r.wall.as_secs_f64(),
                r.all.sync_time.as_secs_f64()
            );
        }
        self.table(&mut s, "all changes (creates + updates)", |r| &r.all);
        self.table(&mut s, "steady state (update rounds only)", |r| &r.steady);
        for r in &self.runs {
            for (label, b) in [("all", &r.all), ("steady", &r.steady)] {
                let c = b.cost(&self.prices, self.memory_mb);
                let m = 1e6 / b.synced.max(1) as f64;
                let _ = writeln!(
                    s,
                    "\n  {} ({label}) $/million: Lambda requests {:.4}, Lambda duration {:.4} ({:.1} billed ms/change at {} MB), SQS {:.4}, DynamoDB {:.4}, Scheduler {:.4}",
                    r.name,
                    c.lambda_requests * m,
                    c.lambda_duration * m,
                    b.per_change(b.invocations.billed_ms),
                    self.memory_mb,
                    c.sqs * m,
                    c.dynamodb * m,
                    c.scheduler * m
                );
                let _ = writeln!(s, "    system requests by kind: {:?}", b.requests.by_kind);
                let _ = writeln!(
                    s,
                    "    Jira requests by kind ({} changes into Jira): {:?}",
                    b.synced_into_jira, b.requests.jira_by_kind
                );
                let _ = writeln!(
                    s,
                    "    ADO requests by kind ({} changes into ADO): {:?}",
                    b.synced - b.synced_into_jira,
                    b.requests.ado_by_kind
                );
                let _ = writeln!(s, "    queue/store operations: {:?}", b.counts.ops);
            }
        }
        s
    }

    pub fn to_json(&self) -> Value {
        let bucket = |b: &Bucket| {
            let figures: serde_json::Map<String, Value> =
                b.figures(&self.prices, self.memory_mb).into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            json!({
                "synced": b.synced,
                "synced_into_jira": b.synced_into_jira,
                "sync_secs": b.sync_time.as_secs_f64(),
                "figures": figures,
                "system_requests": b.requests.by_kind,
                "jira_requests": b.requests.jira_by_kind,
                "ado_requests": b.requests.ado_by_kind,
                "queue_store_operations": b.counts.ops,
                "invocations": {"poll": b.invocations.poll, "transform": b.invocations.transform, "write": b.invocations.write, "billed_ms": b.invocations.billed_ms},
            })
        };
        let runs: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "changes": r.changes,
                    "round": r.round,
                    "send_batch": r.send_batch,
                    "receive_batch": r.receive_batch,
                    "user_cache_ttl_secs": r.user_cache_ttl.as_secs(),
                    "unsynced": r.unsynced,
                    "extra_writes": r.extra_writes,
                    "wall_secs": r.wall.as_secs_f64(),
                    "all": bucket(&r.all),
                    "steady": bucket(&r.steady),
                })
            })
            .collect();
        json!({
            "backend": self.backend,
            "memory_mb": self.memory_mb,
            "prices_date": self.prices.date,
            "runs": runs,
        })
    }
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> RequestRecord {
        RequestRecord {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            status: 200,
            user: None,
            limit_reason: None,
        }
    }

    #[test]
    fn requests_are_classified_by_what_they_do() {
        let cases = [
            ("jira", "POST", "/rest/api/3/search/jql", "poll search"),
            ("jira", "POST", "/rest/api/3/issue", "create"),
            ("jira", "PUT", "/rest/api/3/issue/APP-1", "update"),
            ("jira", "POST", "/rest/api/3/issue/APP-1/transitions", "transition"),
            ("jira", "GET", "/rest/api/3/issue/APP-1/transitions", "transition read"),
            ("jira", "POST", "/rest/api/3/issue/APP-1/remotelink", "remote link"),
            ("jira", "GET", "/rest/api/3/user/search", "user lookup"),
            ("ado", "POST", "/acme/App/_apis/wit/wiql", "poll search"),
            ("ado", "POST", "/acme/_apis/wit/workitemsbatch", "poll read"),
            ("ado", "POST", "/acme/App/_apis/wit/workitems/$Bug", "create"),
            ("ado", "PATCH", "/acme/_apis/wit/workitems/7", "update"),
            ("ado", "GET", "/acme/_apis/wit/workitems/7", "entity read"),
        ];
        for (svc, m, p, want) in cases {
            assert_eq!(kind_of(svc, &req(m, p)), want, "{svc} {m} {p}");
        }
    }

    #[test]
    fn the_read_after_a_transition_is_counted_with_the_transitions_and_each_system_apart() {
        let jira = [
            req("GET", "/rest/api/3/issue/APP-1"),
            req("PUT", "/rest/api/3/issue/APP-1"),
            req("GET", "/rest/api/3/issue/APP-1/transitions"),
            req("POST", "/rest/api/3/issue/APP-1/transitions"),
            req("GET", "/rest/api/3/issue/APP-1"),
            // The next write of the same issue reads it as any other.
            req("GET", "/rest/api/3/issue/APP-1"),
            req("PUT", "/rest/api/3/issue/APP-1"),
        ];
        let ado = [req("GET", "/acme/_apis/wit/workitems/7"), req("PATCH", "/acme/_apis/wit/workitems/7")];
        let b = RequestBreakdown::of(&jira, &ado);
        assert_eq!(b.jira_by_kind.get("read after transition"), Some(&1));
        assert_eq!(b.jira_by_kind.get("entity read"), Some(&2));
        assert_eq!(b.jira_transitions_aside(), 4, "two reads and two edits");
        assert_eq!((b.jira_total, b.ado_total, b.get("update")), (7, 2, 3));
        let bucket = Bucket { synced: 3, synced_into_jira: 2, requests: b, ..Bucket::default() };
        assert_eq!(bucket.jira_per_change(), 3.5);
        assert_eq!(bucket.jira_per_change_transitions_aside(), 2.0);
        assert_eq!(bucket.ado_per_change(), 2.0);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&d, 0.5), 50.0);
        assert_eq!(quantile_ms(&d, 0.99), 99.0);
        assert!(quantile_ms(&[], 0.5).is_nan());
    }
}
