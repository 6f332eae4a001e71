//! The commits function: EventBridge Scheduler invokes it per commit link with the
//! schedule's input `{"integration": "app-commits"}`; it runs one poll of that link
//! (fetch into the mirror under /tmp, walk from the recorded tips, write the links,
//! comments and transitions, record the new tips), ending before the invocation's
//! deadline (docs/source-control.md, "AWS").
//!
//! The mirror lives in the function's ephemeral storage: a warm execution environment
//! fetches only what is new; a cold one fetches the repository again.

use ferry_domain::IntegrationId;
use ferry_engine::budget_before_deadline;
use ferry_runtime::aws::AwsRuntime;
use ferry_runtime::commits::{CommitError, CommitRunner};
use ferry_scm::PollReport;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// The schedule target's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitsInput {
    pub integration: IntegrationId,
}

/// What one invocation did (the function's response, also logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CommitsSummary {
    pub integration: String,
    /// The link is not active (a tick after its deactivation): nothing was polled.
    pub skipped_inactive: bool,
    /// What the poll did (nothing when skipped).
    #[serde(flatten)]
    pub poll: PollReport,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitsFnError {
    #[error("the commits event must be {{\"integration\": \"<commit link id>\"}}: {0}")]
    BadInput(String),
    #[error("polling commit link {integration}: {source}")]
    Poll {
        integration: String,
        #[source]
        source: CommitError,
    },
}

/// Where the function keeps its mirrors: `ferry-mirrors` in the temporary directory
/// (Lambda's /tmp, the `EphemeralStorage` of template.yaml).
pub fn mirrors_dir() -> PathBuf {
    std::env::temp_dir().join("ferry-mirrors")
}

/// The poller of the function's runtime, with its mirrors under [`mirrors_dir`].
pub fn runner(rt: &AwsRuntime) -> CommitRunner {
    CommitRunner::new(rt.engine.clone(), rt.connectors.clone(), mirrors_dir())
}

/// Polls the commit link named by `event` (the Scheduler input). With a `deadline`
/// (the Lambda context's), no commit is handled after the budget that leaves a reserve
/// before it ([`budget_before_deadline`]): such a poll ends `unfinished`, records how far
/// it got, and the next one goes on from there.
pub async fn handle_until(
    runner: &CommitRunner,
    event: serde_json::Value,
    deadline: Option<SystemTime>,
) -> Result<CommitsSummary, CommitsFnError> {
    let input: CommitsInput = serde_json::from_value(event).map_err(|e| CommitsFnError::BadInput(e.to_string()))?;
    let stop_at = deadline.map(|d| {
        let remaining = d.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
        Instant::now() + budget_before_deadline(remaining)
    });
    let id = input.integration.to_string();
    let polled = runner
        .poll_one(&input.integration, stop_at)
        .await
        .map_err(|source| CommitsFnError::Poll { integration: id.clone(), source })?;
    let summary = match polled {
        None => CommitsSummary { integration: id, skipped_inactive: true, poll: PollReport::default() },
        Some(poll) => CommitsSummary { integration: id, skipped_inactive: false, poll },
    };
    let p = &summary.poll;
    tracing::info!(
        integration = %summary.integration,
        skipped_inactive = summary.skipped_inactive,
        commits = p.commits,
        links = p.links,
        comments = p.comments,
        transitions = p.transitions,
        already_done = p.already_done,
        reported = p.reported,
        busy = p.busy,
        unfinished = p.unfinished,
        "commit poll finished"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_names_one_commit_link_and_nothing_else() {
        let table = [
            (serde_json::json!({"integration": "app-commits"}), Some("app-commits")),
            (serde_json::json!({"integration": "app-commits", "flow": "left_to_right"}), None),
            (serde_json::json!({}), None),
            (serde_json::json!({"integration": "a#b"}), None),
        ];
        for (event, want) in table {
            let got = serde_json::from_value::<CommitsInput>(event.clone()).ok();
            assert_eq!(got.as_ref().map(|i| i.integration.as_str()), want, "{event}");
        }
    }
}
