//! What happened to an entity on its way through Ferry: the steps the console shows as
//! its timeline, and, per direction, the throughput and the lag (the age of the oldest
//! change read but not yet written).
//!
//! Steps are statistics, like the counters: the engine records them at the end of a
//! handler batch or poll page, and a failure to record one is logged, never a failed sync.

use crate::ids::{EntityId, IntegrationId};
use crate::model::Flow;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How long a store keeps a step (a store with expiry removes older ones).
pub const ACTIVITY_RETENTION_DAYS: i64 = 30;

/// One step of one change of an entity, in one direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub integration: IntegrationId,
    pub flow: Flow,
    /// The direction's source entity (its id and key).
    pub entity: EntityId,
    pub entity_key: String,
    /// When the step happened.
    pub at: DateTime<Utc>,
    /// When the source change was made (the snapshot's `updated`).
    pub changed: DateTime<Utc>,
    pub kind: ActivityKind,
    /// What the step did, in words (fields written, why skipped, the cause of a failure).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// A poll read the change and queued it.
    Polled,
    /// A poll read the change back as Ferry's own write and dropped it.
    EchoDropped,
    /// The transform mapped the change and queued a write.
    Transformed,
    /// A step decided nothing needs writing (unchanged, stale, filtered).
    Skipped,
    /// The write reached the target.
    Written,
    /// Fields changed on both sides: parked for a person to choose.
    Conflict,
    /// Parked as a failure.
    Failed,
    /// A person queued a parked failure again.
    Retried,
    /// A person dropped a parked failure.
    Discarded,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Polled => "polled",
            ActivityKind::EchoDropped => "echo_dropped",
            ActivityKind::Transformed => "transformed",
            ActivityKind::Skipped => "skipped",
            ActivityKind::Written => "written",
            ActivityKind::Conflict => "conflict",
            ActivityKind::Failed => "failed",
            ActivityKind::Retried => "retried",
            ActivityKind::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<ActivityKind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == s)
    }

    /// Whether the change is still on its way after this step (read or mapped, not yet
    /// written, skipped or parked). A parked change is counted by its failure record.
    pub fn in_flight(self) -> bool {
        matches!(self, ActivityKind::Polled | ActivityKind::Transformed | ActivityKind::Retried)
    }
}

const ALL_KINDS: [ActivityKind; 9] = [
    ActivityKind::Polled,
    ActivityKind::EchoDropped,
    ActivityKind::Transformed,
    ActivityKind::Skipped,
    ActivityKind::Written,
    ActivityKind::Conflict,
    ActivityKind::Failed,
    ActivityKind::Retried,
    ActivityKind::Discarded,
];

/// A direction's pace, from its steps of a recent window (oldest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FlowPace {
    /// Changes written during the hour before `now`.
    pub written_last_hour: u64,
    /// The oldest change in flight (its newest step says it is on its way): when it was
    /// made. `None` when every change read has been written, skipped or parked.
    pub oldest_in_flight: Option<DateTime<Utc>>,
}

/// [`FlowPace`] of one direction's steps (any order).
pub fn flow_pace(steps: &[Activity], now: DateTime<Utc>) -> FlowPace {
    let hour_ago = now - Duration::hours(1);
    let written_last_hour =
        steps.iter().filter(|a| a.kind == ActivityKind::Written && a.at > hour_ago && a.at <= now).count() as u64;
    let mut newest: HashMap<&EntityId, &Activity> = HashMap::new();
    for a in steps {
        let slot = newest.entry(&a.entity).or_insert(a);
        if a.at >= slot.at {
            *slot = a;
        }
    }
    let oldest_in_flight = newest.values().filter(|a| a.kind.in_flight()).map(|a| a.changed).min();
    FlowPace { written_last_hour, oldest_in_flight }
}

/// The lag of a direction: the age of the oldest change not yet written, of those in
/// flight and those parked as failures (`oldest_parked`: the oldest parked change's
/// time). 0 when none is behind.
pub fn lag_secs(pace: &FlowPace, oldest_parked: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    [pace.oldest_in_flight, oldest_parked].into_iter().flatten().min().map_or(0, |t| (now - t).num_seconds().max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).single().expect("valid date") + Duration::minutes(min)
    }

    fn step(entity: &str, kind: ActivityKind, at: i64, changed: i64) -> Activity {
        Activity {
            integration: IntegrationId::parse("app").expect("valid id"),
            flow: Flow::LeftToRight,
            entity: EntityId::new(entity),
            entity_key: entity.to_string(),
            at: t(at),
            changed: t(changed),
            kind,
            detail: String::new(),
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in ALL_KINDS {
            assert_eq!(ActivityKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).expect("encodes"), serde_json::json!(k.as_str()));
        }
        assert_eq!(ActivityKind::parse("nope"), None);
    }

    #[test]
    fn pace_counts_writes_of_the_last_hour_and_finds_the_oldest_change_in_flight() {
        use ActivityKind::*;
        let cases: Vec<(&str, Vec<Activity>, u64, Option<i64>)> = vec![
            ("nothing happened", vec![], 0, None),
            ("written long ago is not this hour", vec![step("a", Written, -61, -62)], 0, None),
            ("written twice this hour", vec![step("a", Written, -10, -12), step("b", Written, -1, -3)], 2, None),
            ("polled, not written yet", vec![step("a", Polled, -5, -7)], 0, Some(-7)),
            (
                "the newest step decides: polled then written is done",
                vec![step("a", Polled, -5, -7), step("a", Transformed, -4, -7), step("a", Written, -3, -7)],
                1,
                None,
            ),
            (
                "a later change of a written entity is in flight again",
                vec![step("a", Written, -9, -10), step("a", Polled, -2, -3)],
                1,
                Some(-3),
            ),
            (
                "the oldest of several in flight",
                vec![step("a", Transformed, -5, -20), step("b", Polled, -1, -2), step("c", Skipped, -1, -30)],
                0,
                Some(-20),
            ),
            ("parked steps are not in flight", vec![step("a", Failed, -1, -40), step("b", Conflict, -1, -41)], 0, None),
            ("echoes are not in flight", vec![step("a", EchoDropped, -1, -2)], 0, None),
        ];
        for (name, steps, written, oldest) in cases {
            let pace = flow_pace(&steps, t(0));
            assert_eq!(pace.written_last_hour, written, "{name}");
            assert_eq!(pace.oldest_in_flight, oldest.map(t), "{name}");
        }
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_change_not_written() {
        let none = FlowPace::default();
        let in_flight = FlowPace { written_last_hour: 0, oldest_in_flight: Some(t(-2)) };
        assert_eq!(lag_secs(&none, None, t(0)), 0, "nothing behind");
        assert_eq!(lag_secs(&in_flight, None, t(0)), 120);
        assert_eq!(lag_secs(&none, Some(t(-30)), t(0)), 1800, "a parked change counts");
        assert_eq!(lag_secs(&in_flight, Some(t(-30)), t(0)), 1800, "the older of both");
        assert_eq!(lag_secs(&none, Some(t(1)), t(0)), 0, "a clock ahead is no negative lag");
    }
}
