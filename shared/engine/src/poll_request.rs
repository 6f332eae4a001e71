//! Coalesced polls: a webhook asks for a poll of one integration direction; requests
//! made while a poll of it runs are answered by that poll once more, never by a second
//! poll at the same time, and never lost.
//!
//! The rule, with the store's poll request and poll lease:
//! - a requester records the request, then tries the lease; busy means the holder
//!   will see the request;
//! - the holder takes (clears) the request before it reads, so whatever a request
//!   was made for changed before the read began;
//! - after releasing the lease, the holder looks for a request made during its read
//!   and, if there is one, takes the lease again and polls once more.
//!
//! A request made after the holder's last look found the lease released, so its own
//! requester takes the lease. The reruns are bounded ([`MAX_ROUNDS`], the poll's time
//! budget): a request still open then waits for the next poll of the direction, which
//! the schedule runs anyway.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::poll::PollReport;
use chrono::{DateTime, Utc};
use ferry_domain::{Flow, IntegrationId};
use std::time::Duration;

/// Polls one invocation runs at most: the first and the reruns for requests.
pub(crate) const MAX_ROUNDS: usize = 4;

/// Whether a poll that just finished `rounds` rounds, having used `spent` of `budget`,
/// polls once more: only for a request made during its read, only while its read is
/// complete (a read the budget cut short is continued by the next poll anyway), and
/// within the rounds and the budget.
pub(crate) fn poll_again(requested: bool, last: &PollReport, rounds: usize, spent: Duration, budget: Duration) -> bool {
    requested && !last.more && !last.skipped_inactive && rounds < MAX_ROUNDS && spent < budget
}

/// Adds a rerun's counts to the report of the rounds before it.
pub(crate) fn merge(total: &mut PollReport, round: PollReport) {
    total.fetched += round.fetched;
    total.enqueued += round.enqueued;
    total.duplicates += round.duplicates;
    total.echoes += round.echoes;
    total.before_start += round.before_start;
    total.pages += round.pages;
    total.more = round.more;
    total.skipped_inactive = round.skipped_inactive;
    total.rounds += 1;
}

impl Engine {
    /// Polls one direction now, as a webhook asks: records the request, then polls
    /// unless another poll holds the direction (`busy`), which then polls once more.
    pub async fn request_poll(
        &self,
        id: &IntegrationId,
        flow: Flow,
        now: DateTime<Utc>,
    ) -> Result<PollReport, EngineError> {
        self.state.request_poll(id, flow).await?;
        self.poll(id, flow, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_runs_again_only_for_a_request_made_during_a_complete_read() {
        let s = Duration::from_secs;
        let done = PollReport::default();
        let cut = PollReport { more: true, ..PollReport::default() };
        let inactive = PollReport { skipped_inactive: true, ..PollReport::default() };
        let cases = [
            ("requested during the read", true, &done, 1, s(1), s(30), true),
            ("nothing requested", false, &done, 1, s(1), s(30), false),
            ("read cut short by the budget", true, &cut, 1, s(1), s(30), false),
            ("integration inactive", true, &inactive, 1, s(1), s(30), false),
            ("last round", true, &done, MAX_ROUNDS, s(1), s(30), false),
            ("one round before the last", true, &done, MAX_ROUNDS - 1, s(1), s(30), true),
            ("budget spent", true, &done, 1, s(30), s(30), false),
        ];
        for (name, requested, last, rounds, spent, budget, expected) in cases {
            assert_eq!(poll_again(requested, last, rounds, spent, budget), expected, "{name}");
        }
    }
}
