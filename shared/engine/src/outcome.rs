//! What a handler reports for one message: the outcome of a transform or of a write.

use crate::failures::Parked;
use ferry_mapping::SkipReason;
use serde::{Serialize, Serializer};
use std::fmt;

/// Why a change was not written. Shown (and serialized) by name: `filtered`, `echo`,
/// `unchanged`, `no_mapped_fields`, `stale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The mapping found nothing to write ([`SkipReason`]).
    Mapping(SkipReason),
    /// The snapshot is stale (see `stale.rs`): read before Ferry's latest write to its
    /// entity, or older than a snapshot of it the twin already got.
    Stale,
    /// The source's twin was deleted and the pair dropped (`on_target_deleted`).
    TargetDeleted,
}

impl Skip {
    pub fn as_str(&self) -> &'static str {
        match self {
            Skip::Mapping(reason) => reason.as_str(),
            Skip::Stale => "stale",
            Skip::TargetDeleted => "target_deleted",
        }
    }
}

impl From<SkipReason> for Skip {
    fn from(reason: SkipReason) -> Self {
        Skip::Mapping(reason)
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Skip {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TransformOutcome {
    Enqueued {
        create: bool,
        fields: usize,
    },
    Skipped {
        reason: Skip,
        detail: String,
    },
    /// Parked as a failure record (or behind an existing one).
    Parked {
        failure_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum WriteOutcome {
    Created {
        source: String,
        target: String,
    },
    Updated {
        source: String,
        target: String,
        fields: usize,
        /// Fields changed on both sides that the conflict policy settled.
        conflicts: usize,
    },
    /// The target already held every value (a redelivery, or a person set them).
    Unchanged {
        source: String,
        target: String,
        /// Fields changed on both sides that the conflict policy settled (the target's
        /// value kept).
        conflicts: usize,
    },
    /// Not applied: the command's snapshot is older than what the target already got,
    /// or than Ferry's own latest write to the source.
    Skipped {
        source: String,
        reason: Skip,
        detail: String,
    },
    Parked {
        failure_id: String,
        /// It parked fields changed on both sides that the conflict policy leaves to a
        /// person (a `field_conflict`).
        conflict: bool,
    },
}

impl From<Parked> for TransformOutcome {
    fn from(p: Parked) -> Self {
        TransformOutcome::Parked { failure_id: p.id }
    }
}

impl From<Parked> for WriteOutcome {
    fn from(p: Parked) -> Self {
        WriteOutcome::Parked { failure_id: p.id, conflict: p.conflict }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_shown_and_serialized_by_its_name() {
        let table = [
            (Skip::Mapping(SkipReason::Filtered), "filtered"),
            (Skip::Mapping(SkipReason::Echo), "echo"),
            (Skip::Mapping(SkipReason::Unchanged), "unchanged"),
            (Skip::Mapping(SkipReason::NoMappedFields), "no_mapped_fields"),
            (Skip::Stale, "stale"),
        ];
        for (skip, name) in table {
            assert_eq!(skip.to_string(), name);
            let outcome = TransformOutcome::Skipped { reason: skip, detail: "why".into() };
            let json = serde_json::to_string(&outcome).expect("serializes");
            assert_eq!(json, format!(r#"{{"Skipped":{{"reason":"{name}","detail":"why"}}}}"#));
        }
    }
}
