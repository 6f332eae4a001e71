//! The burst benchmark's figures, side by side per mode, as text or JSON.

use super::{Args, ModeRun, Requests};
use crate::report::{quantile_ms, RequestBreakdown};
use serde_json::{json, Value};
use std::fmt::Write;

/// One row's figure of a mode.
type Cell = Box<dyn Fn(&ModeRun) -> String>;

pub struct Report<'a> {
    pub args: &'a Args,
    pub runs: Vec<ModeRun>,
}

fn entity_reads(k: &RequestBreakdown) -> u64 {
    k.get("entity read") + k.get("read after transition")
}

fn the_rest(k: &RequestBreakdown) -> u64 {
    k.total() - k.source() - k.target_writes() - entity_reads(k)
}

/// Jira's 429s by the limit they named: `reason n, …`, or `none`.
fn reasons(r: &ModeRun) -> String {
    if r.jira_reasons.is_empty() {
        return "none".into();
    }
    r.jira_reasons.iter().map(|(k, n)| format!("{} {n}", k.trim_start_matches("jira-"))).collect::<Vec<_>>().join(", ")
}

/// Requests sent per lease taken: what a lease of tokens yielded.
fn lease_yield(r: &ModeRun) -> Option<f64> {
    (r.leases > 0).then(|| (r.jira.sent + r.ado.sent) as f64 / r.leases as f64)
}

fn requests(r: Requests) -> String {
    format!("{} ({} × 429 = {:.2} %)", r.sent, r.refused, r.rate())
}

impl Report<'_> {
    pub fn to_text(&self) -> String {
        let a = self.args;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nBurst of {} changes (half creates, half updates; both directions), embedded runtime, poll every {}",
            a.changes, a.poll_interval
        );
        let _ = writeln!(
            out,
            "Limits for Ferry's user: Jira {}/s, bucket {}; Azure DevOps {} TSTUs per {} s. Governor on: rate_limit {{ per_second: {}, burst: {} }}\n",
            a.jira_limit.0,
            a.jira_limit.1,
            a.ado_limit.0,
            a.ado_limit.1.as_secs(),
            a.governor.0,
            a.governor.1
        );
        let off = || "off".to_string();
        let _ = writeln!(
            out,
            "Jira's per-issue write limit: {}; its points quota: {}\n",
            a.jira_issue_writes.map_or_else(off, |(n, w)| format!("{n} writes per {} s", w.as_secs())),
            a.jira_quota.map_or_else(off, |(n, w)| format!("{n} points per {} s", w.as_secs())),
        );
        let rows: Vec<(&str, Cell)> = vec![
            ("Jira requests (429s)", Box::new(|r| requests(r.jira))),
            ("Azure DevOps requests (429s)", Box::new(|r| requests(r.ado))),
            ("all requests (429s)", Box::new(|r| requests(r.jira.plus(r.ado)))),
            ("  Jira's 429s by reason", Box::new(reasons)),
            ("  poll searches and batch reads", Box::new(|r| r.kinds.source().to_string())),
            ("  entity reads", Box::new(|r| entity_reads(&r.kinds).to_string())),
            ("  creates and updates", Box::new(|r| r.kinds.target_writes().to_string())),
            ("  transitions, links, user look-ups", Box::new(|r| the_rest(&r.kinds).to_string())),
            ("changes landed", Box::new(|r| format!("{} / {}", r.changes - r.unlanded, r.changes))),
            ("total time (first change made → last landed)", Box::new(|r| format!("{:.1} s", r.total.as_secs_f64()))),
            ("  of which people making the changes", Box::new(|r| format!("{:.1} s", r.making.as_secs_f64()))),
            ("changes / s", Box::new(|r| format!("{:.1}", r.changes_per_second()))),
            (
                "change latency p50 / p99",
                Box::new(|r| {
                    format!(
                        "{:.1} s / {:.1} s",
                        quantile_ms(&r.latencies, 0.5) / 1000.0,
                        quantile_ms(&r.latencies, 0.99) / 1000.0
                    )
                }),
            ),
            ("failures parked", Box::new(|r| r.parked.to_string())),
            ("governor store requests (leases / pauses)", Box::new(|r| format!("{} / {}", r.leases, r.pauses))),
            ("  takes answered \"wait\" (no request)", Box::new(|r| r.lease_waits.to_string())),
            ("requests per lease", Box::new(|r| lease_yield(r).map_or_else(|| "-".into(), |y| format!("{y:.1}")))),
        ];
        let width = rows.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0);
        let _ = write!(out, "{:width$}", "");
        for r in &self.runs {
            let _ = write!(out, " | {:>34}", r.mode.name());
        }
        out.push('\n');
        for (name, cell) in &rows {
            let _ = write!(out, "{name:width$}");
            for r in &self.runs {
                let _ = write!(out, " | {:>34}", cell(r));
            }
            out.push('\n');
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let a = self.args;
        let req = |r: Requests| json!({ "requests": r.sent, "429": r.refused, "429_percent": r.rate() });
        json!({
            "changes": a.changes,
            "poll_interval": a.poll_interval,
            "limits": {
                "jira": { "per_second": a.jira_limit.0, "burst": a.jira_limit.1 },
                "azure_devops": { "tstus": a.ado_limit.0, "window_secs": a.ado_limit.1.as_secs() },
                "jira_issue_writes": a.jira_issue_writes.map(|(n, w)| json!({ "writes": n, "window_secs": w.as_secs() })),
                "jira_quota": a.jira_quota.map(|(n, w)| json!({ "points": n, "window_secs": w.as_secs() })),
            },
            "governor": { "per_second": a.governor.0, "burst": a.governor.1 },
            "modes": self.runs.iter().map(|r| json!({
                "mode": r.mode.name(),
                "jira": req(r.jira),
                "azure_devops": req(r.ado),
                "all": req(r.jira.plus(r.ado)),
                "requests_by_kind": r.kinds.by_kind,
                "landed": r.changes - r.unlanded,
                "total_secs": r.total.as_secs_f64(),
                "making_secs": r.making.as_secs_f64(),
                "changes_per_second": r.changes_per_second(),
                "latency_p50_ms": quantile_ms(&r.latencies, 0.5),
                "latency_p99_ms": quantile_ms(&r.latencies, 0.99),
                "failures_parked": r.parked,
                "governor_leases": r.leases,
                "governor_pauses": r.pauses,
                "governor_lease_waits": r.lease_waits,
                "jira_429_by_reason": r.jira_reasons,
                "requests_per_lease": lease_yield(r),
            })).collect::<Vec<_>>(),
        })
    }
}
