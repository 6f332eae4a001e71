//! A batch's counts per integration direction, printed as CloudWatch embedded metric
//! format (EMF) records: one JSON line per direction on the function's log stream, which
//! CloudWatch turns into metrics without any API call from the function.
//!
//! Namespace `Ferry`, each metric with the dimensions (Integration, Direction) and once
//! without dimensions (the stack's alarms and dashboard read those):
//! - `Synced`: target entities created or updated;
//! - `Skipped`: changes or commands that needed no write (echo, filtered, unchanged, stale);
//! - `Parked`: events parked as failures (flagged field conflicts included);
//! - `Conflicts`: fields changed on both sides since the pair's last sync: each field the
//!   conflict policy settled, and each `field_conflict` parked for a person;
//! - `Lag` (seconds): for each synced change, the time from its edit in the source to the
//!   write; the record carries the largest of the batch.

use crate::handling::StepOutcome;
use chrono::{DateTime, Utc};
use ferry_engine::{TransformOutcome, WriteOutcome};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The counts of one integration direction within a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub synced: u32,
    pub skipped: u32,
    pub parked: u32,
    pub conflicts: u32,
    /// Largest edit-to-write time of the synced changes, in seconds.
    pub lag_secs: Option<f64>,
}

/// What a message body says about where it belongs: a change event (`snapshot`) or a
/// write command (`source`), both with their integration and flow.
#[derive(Debug, Deserialize)]
struct Header {
    integration: String,
    flow: String,
    snapshot: Option<Edited>,
    source: Option<Edited>,
}

#[derive(Debug, Deserialize)]
struct Edited {
    updated: DateTime<Utc>,
}

/// Counts of one batch, by (integration, flow).
#[derive(Debug, Default)]
pub struct BatchMetrics {
    by_direction: BTreeMap<(String, String), Counts>,
}

impl BatchMetrics {
    /// Counts the outcome of the message `body` at `now`. A body that does not name an
    /// integration and flow (it was refused as a bad message anyway) is not counted.
    pub fn record(&mut self, body: &str, outcome: &StepOutcome, now: DateTime<Utc>) {
        let Ok(header) = serde_json::from_str::<Header>(body) else { return };
        let counts = self.by_direction.entry((header.integration, header.flow)).or_default();
        let edited = header.source.or(header.snapshot).map(|e| e.updated);
        match outcome {
            StepOutcome::Write(WriteOutcome::Updated { conflicts, .. } | WriteOutcome::Unchanged { conflicts, .. }) => {
                counts.conflicts += *conflicts as u32
            }
            StepOutcome::Write(WriteOutcome::Parked { conflict: true, .. }) => counts.conflicts += 1,
            _ => {}
        }
        match outcome {
            StepOutcome::Transform(TransformOutcome::Enqueued { .. }) => {}
            StepOutcome::Transform(TransformOutcome::Skipped { .. })
            | StepOutcome::Write(WriteOutcome::Skipped { .. } | WriteOutcome::Unchanged { .. }) => counts.skipped += 1,
            StepOutcome::Transform(TransformOutcome::Parked { .. })
            | StepOutcome::Write(WriteOutcome::Parked { .. }) => counts.parked += 1,
            StepOutcome::Write(WriteOutcome::Created { .. } | WriteOutcome::Updated { .. }) => {
                counts.synced += 1;
                if let Some(edited) = edited {
                    let lag = (now - edited).num_milliseconds().max(0) as f64 / 1000.0;
                    counts.lag_secs = Some(counts.lag_secs.map_or(lag, |l: f64| l.max(lag)));
                }
            }
        }
    }

    /// The counts so far, by (integration, flow).
    pub fn counts(&self) -> &BTreeMap<(String, String), Counts> {
        &self.by_direction
    }

    /// One EMF record per direction with something to report, stamped `now`.
    pub fn emf_lines(&self, now: DateTime<Utc>) -> Vec<String> {
        self.by_direction
            .iter()
            .filter(|(_, c)| c.synced + c.skipped + c.parked > 0)
            .map(|((integration, flow), c)| emf_record(integration, flow, c, now).to_string())
            .collect()
    }
}

fn emf_record(integration: &str, flow: &str, c: &Counts, now: DateTime<Utc>) -> Value {
    let mut metrics = vec![
        json!({"Name": "Synced", "Unit": "Count"}),
        json!({"Name": "Skipped", "Unit": "Count"}),
        json!({"Name": "Parked", "Unit": "Count"}),
        json!({"Name": "Conflicts", "Unit": "Count"}),
    ];
    let mut record = Map::new();
    record.insert("Integration".into(), json!(integration));
    record.insert("Direction".into(), json!(flow));
    record.insert("Synced".into(), json!(c.synced));
    record.insert("Skipped".into(), json!(c.skipped));
    record.insert("Parked".into(), json!(c.parked));
    record.insert("Conflicts".into(), json!(c.conflicts));
    if let Some(lag) = c.lag_secs {
        metrics.push(json!({"Name": "Lag", "Unit": "Seconds"}));
        record.insert("Lag".into(), json!(lag));
    }
    record.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "Ferry",
                "Dimensions": [["Integration", "Direction"], []],
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::Skip;
    use ferry_engine::SkipReason;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("a time")
    }

    fn write(integration: &str, flow: &str, updated: &str) -> String {
        json!({"integration": integration, "flow": flow, "source": {"updated": updated, "more": 1}, "changes": []})
            .to_string()
    }

    fn change(integration: &str, flow: &str) -> String {
        json!({"integration": integration, "flow": flow, "snapshot": {"updated": "2026-12-06T10:00:00Z"}}).to_string()
    }

    #[test]
    fn outcomes_are_counted_per_integration_direction() {
        let now = at("2026-12-06T10:00:30Z");
        let mut m = BatchMetrics::default();
        let created = StepOutcome::Write(WriteOutcome::Created { source: "A-1".into(), target: "7".into() });
        let updated = StepOutcome::Write(WriteOutcome::Updated {
            source: "A-2".into(),
            target: "8".into(),
            fields: 2,
            conflicts: 1,
        });
        let unchanged =
            StepOutcome::Write(WriteOutcome::Unchanged { source: "A-3".into(), target: "9".into(), conflicts: 2 });
        let flagged = StepOutcome::Write(WriteOutcome::Parked { failure_id: "c".into(), conflict: true });
        let failed = StepOutcome::Write(WriteOutcome::Parked { failure_id: "d".into(), conflict: false });
        let echo = StepOutcome::Transform(TransformOutcome::Skipped {
            reason: Skip::Mapping(SkipReason::Echo),
            detail: String::new(),
        });
        let parked = StepOutcome::Transform(TransformOutcome::Parked { failure_id: "f".into() });
        let enqueued = StepOutcome::Transform(TransformOutcome::Enqueued { create: true, fields: 3 });
        let table: [(String, &StepOutcome); 9] = [
            (write("app", "left_to_right", "2026-12-06T10:00:20Z"), &created),
            (write("app", "left_to_right", "2026-12-06T10:00:18Z"), &updated),
            (write("app", "left_to_right", "2026-12-06T09:00:00Z"), &unchanged),
            (change("app", "right_to_left"), &echo),
            (change("app", "right_to_left"), &parked),
            (change("app", "right_to_left"), &enqueued),
            (write("app", "right_to_left", "2026-12-06T10:00:00Z"), &flagged),
            (write("app", "right_to_left", "2026-12-06T10:00:00Z"), &failed),
            ("not json".to_string(), &created),
        ];
        for (body, outcome) in table {
            m.record(&body, outcome, now);
        }
        let counts = m.counts();
        assert_eq!(counts.len(), 2, "{counts:?}");
        let l2r = &counts[&("app".to_string(), "left_to_right".to_string())];
        assert_eq!((l2r.synced, l2r.skipped, l2r.parked), (2, 1, 0));
        assert_eq!(l2r.conflicts, 3, "the fields the policy settled, whether or not a value was sent");
        assert_eq!(l2r.lag_secs, Some(12.0), "the slowest synced change; an unchanged one has no lag");
        let r2l = &counts[&("app".to_string(), "right_to_left".to_string())];
        assert_eq!((r2l.synced, r2l.skipped, r2l.parked, r2l.lag_secs), (0, 1, 3, None));
        assert_eq!(r2l.conflicts, 1, "one flagged field_conflict; another parked failure is none");
    }

    #[test]
    fn a_record_declares_every_metric_it_carries_with_and_without_dimensions() {
        let now = at("2026-12-06T10:00:30Z");
        let mut m = BatchMetrics::default();
        let created = StepOutcome::Write(WriteOutcome::Created { source: "A-1".into(), target: "7".into() });
        m.record(&write("app", "left_to_right", "2026-12-06T10:00:00Z"), &created, now);
        m.record(
            &change("ops", "right_to_left"),
            &StepOutcome::Transform(TransformOutcome::Parked { failure_id: "f".into() }),
            now,
        );
        let lines = m.emf_lines(now);
        assert_eq!(lines.len(), 2);
        for line in &lines {
            let v: Value = serde_json::from_str(line).expect("one JSON object per line");
            let spec = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(v["_aws"]["Timestamp"], json!(now.timestamp_millis()));
            assert_eq!(spec["Namespace"], "Ferry");
            assert_eq!(spec["Dimensions"], json!([["Integration", "Direction"], []]));
            for metric in spec["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("a name");
                assert!(v[name].is_number(), "{name} is declared and must be a member: {line}");
            }
        }
        let first: Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(
            (first["Integration"].as_str(), first["Synced"].as_u64(), first["Lag"].as_f64()),
            (Some("app"), Some(1), Some(30.0))
        );
        let second: Value = serde_json::from_str(&lines[1]).expect("json");
        assert!(second.get("Lag").is_none(), "no synced change, no lag: {second}");
        assert_eq!(second["Parked"], 1);
    }

    #[test]
    fn a_batch_with_nothing_counted_prints_nothing() {
        let mut m = BatchMetrics::default();
        let enqueued = StepOutcome::Transform(TransformOutcome::Enqueued { create: false, fields: 1 });
        m.record(&change("app", "left_to_right"), &enqueued, Utc::now());
        assert!(m.emf_lines(Utc::now()).is_empty());
    }
}
