//! What happened to an entity on its way through Ferry: the steps the console shows as
//! its timeline, and, per direction, minute buckets of changes read, written and settled
//! that give the throughput and the lag (the age of the oldest change read but not yet
//! written).
//!
//! Steps and buckets are statistics, like the counters: the engine records them at the
//! end of a handler batch or poll page, and a failure to record them is logged, never a
//! failed sync. Buckets cost one store write per direction per batch; a step costs one
//! write each, so the timeline can be turned off (`EngineSettings::record_timeline`).

use crate::ids::{EntityId, IntegrationId};
use crate::model::Flow;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long a store keeps a step (a store with expiry removes older ones).
pub const ACTIVITY_RETENTION_DAYS: i64 = 30;
/// How long a store keeps a minute bucket.
pub const PACE_RETENTION_HOURS: i64 = 25;

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

/// One minute of a direction's pace: changes read (queued by a poll or a retry),
/// written, and settled (written, skipped or parked). A store adds these up per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PaceBucket {
    /// The minute's start (seconds and below are zero).
    pub minute: DateTime<Utc>,
    pub read: u64,
    pub written: u64,
    pub settled: u64,
}

impl PaceBucket {
    /// The empty bucket of the minute `at` falls in.
    pub fn at(at: DateTime<Utc>) -> PaceBucket {
        let minute = DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0).unwrap_or(at);
        PaceBucket { minute, ..PaceBucket::default() }
    }
    /// Adds what a step means for the pace ([`ActivityKind`]).
    pub fn count(&mut self, kind: ActivityKind) {
        match kind {
            ActivityKind::Polled | ActivityKind::Retried => self.read += 1,
            ActivityKind::Written => {
                self.written += 1;
                self.settled += 1;
            }
            ActivityKind::Skipped | ActivityKind::Failed | ActivityKind::Conflict => self.settled += 1,
            ActivityKind::EchoDropped | ActivityKind::Transformed | ActivityKind::Discarded => {}
        }
    }
    pub fn is_empty(&self) -> bool {
        self.read == 0 && self.written == 0 && self.settled == 0
    }
}

/// A direction's pace, from its minute buckets of a recent window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FlowPace {
    /// Changes written during the hour before `now`.
    pub written_last_hour: u64,
    /// When the oldest change still in flight was read: changes are settled about in the
    /// order they are read (FIFO queues), so it is the minute where the changes read so
    /// far first outnumber all those settled. `None` when every change read in the
    /// window is settled.
    pub oldest_in_flight: Option<DateTime<Utc>>,
}

/// The buckets a [`FlowPace`] is worked out of: those of the minutes from `since` on,
/// with the last hour counted back from `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaceWindow {
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// [`FlowPace`] of one direction's buckets (any order).
pub fn flow_pace(buckets: &[PaceBucket], now: DateTime<Utc>) -> FlowPace {
    let hour_ago = now - Duration::hours(1);
    let written_last_hour = buckets.iter().filter(|b| b.minute >= hour_ago && b.minute <= now).map(|b| b.written).sum();
    let settled: u64 = buckets.iter().map(|b| b.settled).sum();
    let mut sorted: Vec<&PaceBucket> = buckets.iter().collect();
    sorted.sort_by_key(|b| b.minute);
    let mut read = 0u64;
    let oldest_in_flight = sorted.into_iter().find_map(|b| {
        read += b.read;
        (read > settled).then_some(b.minute)
    });
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

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in ALL_KINDS {
            assert_eq!(ActivityKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).expect("encodes"), serde_json::json!(k.as_str()));
        }
        assert_eq!(ActivityKind::parse("nope"), None);
    }

    fn bucket(min: i64, read: u64, written: u64, settled: u64) -> PaceBucket {
        PaceBucket { minute: t(min), read, written, settled }
    }

    #[test]
    fn steps_count_as_read_written_or_settled() {
        use ActivityKind::*;
        let mut b = PaceBucket::at(t(0) + Duration::seconds(42));
        assert_eq!(b.minute, t(0), "the minute's start");
        assert!(b.is_empty());
        for k in [Polled, Retried, EchoDropped, Transformed, Written, Skipped, Failed, Conflict, Discarded] {
            b.count(k);
        }
        assert_eq!((b.read, b.written, b.settled), (2, 1, 4));
    }

    #[test]
    fn pace_counts_writes_of_the_last_hour_and_finds_the_oldest_change_in_flight() {
        let cases: Vec<(&str, Vec<PaceBucket>, u64, Option<i64>)> = vec![
            ("nothing happened", vec![], 0, None),
            ("written long ago is not this hour", vec![bucket(-61, 1, 1, 1)], 0, None),
            ("written in two minutes of this hour", vec![bucket(-10, 1, 1, 1), bucket(-1, 2, 2, 2)], 3, None),
            ("read, not settled yet", vec![bucket(-5, 1, 0, 0)], 0, Some(-5)),
            ("settled later than read is settled", vec![bucket(-5, 3, 0, 0), bucket(-4, 0, 2, 3)], 2, None),
            (
                "the first minute whose reads outnumber all settled",
                vec![bucket(-9, 2, 0, 0), bucket(-7, 2, 0, 0), bucket(-3, 1, 3, 3)],
                3,
                Some(-7),
            ),
            ("any order", vec![bucket(-3, 1, 0, 1), bucket(-20, 1, 0, 0)], 0, Some(-3)),
            ("more settled than read (a redelivery) is not negative", vec![bucket(-2, 1, 2, 2)], 2, None),
        ];
        for (name, buckets, written, oldest) in cases {
            let pace = flow_pace(&buckets, t(0));
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
