//! The latency benchmark's figures, both modes side by side.

use super::ModeRun;
use crate::prices::Prices;
use serde_json::{json, Value};
use std::fmt::Write;

pub struct Report {
    pub backend: &'static str,
    pub rate: f64,
    pub memory_mb: u32,
    pub prices: Prices,
    pub runs: Vec<ModeRun>,
}

impl ModeRun {
    fn label(&self) -> String {
        format!("{} ({})", self.mode.name(), self.poll_interval)
    }

    fn latency_s(&self, q: f64) -> f64 {
        self.bucket.latency_ms(q) / 1000.0
    }

    /// The figures, in print order: (name, value).
    pub fn figures(&self, p: &Prices, memory_mb: u32) -> Vec<(&'static str, f64)> {
        let b = &self.bucket;
        let cost = b.cost(p, memory_mb).total();
        vec![
            ("changes landed", b.synced as f64),
            ("latency p50 (s)", self.latency_s(0.5)),
            ("latency p90 (s)", self.latency_s(0.9)),
            ("latency p99 (s)", self.latency_s(0.99)),
            ("latency max (s)", self.latency_s(1.0)),
            ("system requests / change", b.per_change(b.requests.total())),
            ("  poll requests / change", b.per_change(b.requests.source())),
            ("  writes / change", b.per_change(b.requests.target_writes())),
            ("webhook deliveries / change", b.per_change(self.deliveries as u64)),
            ("polls / change", b.per_change(b.invocations.poll + b.invocations.requested_poll)),
            ("Lambda invocations / change", b.per_change(b.invocations.total())),
            ("SQS requests / change", b.per_change(b.counts.sqs_requests())),
            ("DynamoDB requests / change", b.per_change(b.counts.dynamo_requests())),
            ("$ per million changes", cost / b.synced.max(1) as f64 * 1e6),
        ]
    }
}

impl Report {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nFerry latency benchmark: {} backend, real time, {} changes per mode at {}/s (both directions)",
            self.backend,
            self.runs.first().map_or(0, |r| r.changes),
            self.rate
        );
        let _ = writeln!(
            s,
            "  latency: the simulator answering a person's write -> the simulator answering Ferry's write of it on the other side"
        );
        let _ = writeln!(
            s,
            "  dollars: bench/prices.toml (us-east-1 as known on {}, Lambda arm64 {} MB), Scheduler for scheduled polls only{}",
            self.prices.date,
            self.memory_mb,
            if self.backend == "embedded" {
                ";\n  embedded: queue/store calls priced as the SQS/DynamoDB requests they stand for, a batch as an invocation, \
                 the runner's busy time as duration"
            } else {
                ""
            }
        );
        for r in &self.runs {
            let _ = writeln!(
                s,
                "  {}: {} of {} changes landed, {} webhook deliveries answered, wall {:.1} s",
                r.label(),
                r.bucket.synced,
                r.changes,
                r.deliveries,
                r.wall.as_secs_f64()
            );
        }
        let figs: Vec<_> = self.runs.iter().map(|r| r.figures(&self.prices, self.memory_mb)).collect();
        let first = self.runs.first().map_or("", |r| r.mode.name());
        let ratios: Vec<String> = self.runs.iter().skip(1).map(|r| format!("{}/{first}", r.mode.name())).collect();
        // Each column as wide as its longest heading, two spaces apart.
        let width =
            self.runs.iter().map(|r| r.label().len()).chain(ratios.iter().map(String::len)).max().unwrap_or(0) + 2;
        let _ = write!(s, "\n  {:<30}", "");
        for r in &self.runs {
            let _ = write!(s, "{:>width$}", r.label());
        }
        for r in &ratios {
            let _ = write!(s, "{r:>width$}");
        }
        let _ = writeln!(s);
        if let Some(first) = figs.first() {
            for (i, (name, _)) in first.iter().enumerate() {
                let _ = write!(s, "  {name:<30}");
                for f in &figs {
                    let _ = write!(s, "{:>width$}", fmt(f[i].1));
                }
                for f in figs.iter().skip(1) {
                    let _ = write!(s, "{:>width$}", format!("{:.2}x", f[i].1 / figs[0][i].1));
                }
                let _ = writeln!(s);
            }
        }
        for r in &self.runs {
            let _ = writeln!(s, "\n  {} system requests by kind: {:?}", r.label(), r.bucket.requests.by_kind);
            let i = &r.bucket.invocations;
            let _ = writeln!(
                s,
                "    invocations: scheduled poll {}, requested poll {}, hook {}, transform {}, write {}; billed {} ms",
                i.poll, i.requested_poll, i.hook, i.transform, i.write, i.billed_ms
            );
        }
        s
    }

    pub fn to_json(&self) -> Value {
        let runs: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                let figures: serde_json::Map<String, Value> = r
                    .figures(&self.prices, self.memory_mb)
                    .into_iter()
                    .map(|(k, v)| (k.trim().to_string(), json!(v)))
                    .collect();
                json!({
                    "mode": r.mode.name(), "poll_interval": r.poll_interval, "changes": r.changes,
                    "unlanded": r.unlanded, "wall_secs": r.wall.as_secs_f64(), "deliveries": r.deliveries,
                    "figures": figures, "system_requests": r.bucket.requests.by_kind,
                })
            })
            .collect();
        json!({"backend": self.backend, "rate": self.rate, "memory_mb": self.memory_mb,
            "prices_date": self.prices.date, "runs": runs})
    }
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x.abs() >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// Every change of every mode, one CSV line each.
pub fn changes_csv(runs: &[ModeRun]) -> String {
    let mut s = String::from("mode,direction,kind,made_at_s,latency_s\n");
    for r in runs {
        for (flow, create, at, latency) in &r.each {
            let latency = latency.map(|l| format!("{:.3}", l.as_secs_f64())).unwrap_or_default();
            let kind = if *create { "create" } else { "update" };
            let _ = writeln!(s, "{},{},{kind},{at:.3},{latency}", r.mode.name(), flow.as_str());
        }
    }
    s
}
