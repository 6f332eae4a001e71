//! What a handler reports for one message: the outcome of a transform or of a write.

use crate::failures::Parked;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TransformOutcome {
    Enqueued {
        create: bool,
        fields: usize,
    },
    Skipped {
        reason: String,
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
    },
    /// The target already held every value (a redelivery, or a person set them).
    Unchanged {
        source: String,
        target: String,
    },
    /// Not applied: the command's snapshot is older than what the target already got,
    /// or than Ferry's own latest write to the source.
    Skipped {
        source: String,
        reason: String,
        detail: String,
    },
    Parked {
        failure_id: String,
    },
}

impl From<Parked> for TransformOutcome {
    fn from(p: Parked) -> Self {
        TransformOutcome::Parked { failure_id: p.0 }
    }
}

impl From<Parked> for WriteOutcome {
    fn from(p: Parked) -> Self {
        WriteOutcome::Parked { failure_id: p.0 }
    }
}
