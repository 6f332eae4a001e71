//! What became of a hook's deliveries: per outcome (accepted, or the reason code of a
//! refusal), how many and when the last one came. `ferry status` shows them; an
//! operator sees a hook that stopped delivering, or one that is being probed.

use super::Rejection;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The outcome name of an accepted delivery; refusals are named by [`Rejection::as_str`].
pub const ACCEPTED: &str = "accepted";

/// How many deliveries to one hook ended with one outcome, and when the latest recorded did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookTally {
    /// [`ACCEPTED`] or a [`Rejection`] code.
    pub outcome: String,
    pub count: u64,
    pub last_at: DateTime<Utc>,
}

/// The outcome name of a verdict.
pub fn outcome_name<T>(verdict: &Result<T, Rejection>) -> &'static str {
    match verdict {
        Ok(_) => ACCEPTED,
        Err(r) => r.as_str(),
    }
}
