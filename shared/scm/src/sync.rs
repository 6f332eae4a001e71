//! One poll of a commit integration: fetch the repository, walk the commits between the
//! recorded branch tips and the new ones, and put a link and a comment for each on every
//! work item it names; then record the new tips.
//!
//! Exactly once, across crashes and replays: the tips are recorded only after every new
//! commit was handled, so a poll that stops half-way walks the same commits again, and
//! each write finds what an earlier try made: the link by its global id (Jira) or URL
//! (Azure DevOps), the comment by its origin mark (a Jira comment property) or, where a
//! system keeps no mark, by the commit's full id in a comment of the integration user.
//!
//! A work item that does not exist or cannot be written for a reason a retry will not
//! fix (not found, outside the project, no permission) is recorded as a failure, shown by
//! `ferry status`, and the poll moves on: it is not retried forever. A transient error
//! (network, throttling, server) ends the poll before the tips move.

use crate::git::{CommitInfo, GitRemote, Mirror};
use crate::mentions::KeyPattern;
use crate::render;
use crate::tips::{plan, select, Tips};
use crate::ScmError;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{Connector, StateStore};
use ferry_domain::{
    ChangeEvent, CommentWrite, CommitIntegration, Counter, EntityId, EntitySnapshot, ErrorCategory, FailureRecord,
    Flow, PortError, RemoteLink, ScmSystem, Scope, UserRef, Watermark,
};
use std::path::PathBuf;
use std::sync::Arc;

/// A commit integration's position is stored as the watermark of this flow (source →
/// targets).
pub const COMMIT_FLOW: Flow = Flow::LeftToRight;

/// Why a poll stopped before recording new tips.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Scm(#[from] ScmError),
    #[error("{what}: {error}")]
    Port { what: String, error: PortError },
    #[error("integration {0}: {1}")]
    Config(String, String),
}

/// A target system of the integration with its connector.
pub struct Target {
    pub system: String,
    pub project: String,
    pub pattern: KeyPattern,
    pub connector: Arc<dyn Connector>,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// The first poll recorded the tips and wrote nothing.
    pub activated: bool,
    pub commits: usize,
    pub links: usize,
    pub comments: usize,
    /// Writes found already done by an earlier try.
    pub already_done: usize,
    /// Mentions of work items recorded as failures.
    pub reported: usize,
    /// Branch patterns that matched no branch this time.
    pub unmatched_patterns: Vec<String>,
}

pub struct CommitSync {
    pub integration: CommitIntegration,
    pub system: ScmSystem,
    /// The token, read from where `system.token` says it lives.
    pub token: Option<String>,
    /// The local mirror's directory.
    pub mirror_dir: PathBuf,
    pub targets: Vec<Target>,
    pub state: Arc<dyn StateStore>,
}

impl CommitSync {
    /// One poll (see the module docs).
    pub async fn poll(&self) -> Result<PollReport, SyncError> {
        let id = &self.integration.id;
        let (current, unmatched) = self.fetch_selected().await?;
        let mut report = PollReport { unmatched_patterns: unmatched, ..PollReport::default() };
        let mark = self.state.get_watermark(id, COMMIT_FLOW).await.map_err(|e| port("read the position", e))?;
        let Some((mark, recorded)) = mark.and_then(|m| m.branch_tips.clone().map(|t| (m, t))) else {
            self.record(None, current).await?;
            report.activated = true;
            return Ok(report);
        };
        let walk = plan(&recorded, &current);
        let commits = self.walk(walk.hide, walk.from).await?;
        report.commits = commits.len();
        for commit in &commits {
            for target in &self.targets {
                for item in target.pattern.mentions(&commit.message) {
                    self.handle(commit, target, &item, &mut report).await?;
                }
            }
        }
        self.record(Some(&mark), current).await?;
        Ok(report)
    }

    async fn fetch_selected(&self) -> Result<(Tips, Vec<String>), SyncError> {
        let (dir, remote) =
            (self.mirror_dir.clone(), GitRemote { url: self.system.base_url.clone(), token: self.token.clone() });
        let all = blocking(move || Mirror::open(&dir)?.fetch(&remote)).await?;
        let (selected, unmatched) = select(&self.integration.branches, &all);
        if selected.is_empty() && !all.is_empty() {
            return Err(ScmError::NoBranchMatches {
                url: self.system.base_url.clone(),
                patterns: self.integration.branches.join(", "),
                branches: all.keys().cloned().collect::<Vec<_>>().join(", "),
            }
            .into());
        }
        Ok((selected, unmatched.into_iter().map(str::to_string).collect()))
    }

    async fn walk(&self, hide: Vec<String>, from: Vec<String>) -> Result<Vec<CommitInfo>, SyncError> {
        let dir = self.mirror_dir.clone();
        Ok(blocking(move || Mirror::open(&dir)?.commits_between(&hide, &from)).await?)
    }

    /// Stores `tips` as the position, over `previous` (its version guards a concurrent poll).
    async fn record(&self, previous: Option<&Watermark>, tips: Tips) -> Result<(), SyncError> {
        let now = Utc::now();
        let mut mark = previous.cloned().unwrap_or_else(|| Watermark::starting_at(now));
        mark.branch_tips = Some(tips);
        mark.last_poll = Some(now);
        let expected = previous.map(|m| m.version);
        self.state
            .put_watermark(&self.integration.id, COMMIT_FLOW, &mark, expected)
            .await
            .map_err(|e| port("record the branch tips", e))
    }

    async fn handle(
        &self,
        commit: &CommitInfo,
        target: &Target,
        item: &str,
        report: &mut PollReport,
    ) -> Result<(), SyncError> {
        match self.write(commit, target, item, report).await {
            Ok(()) => self
                .state
                .incr_counter(&self.integration.id, COMMIT_FLOW, Counter::Synced, 1)
                .await
                .map_err(|e| port("count", e)),
            Err(e) if !item_failure(e.category) => Err(port(&format!("{} {item}", target.system), e)),
            Err(e) => {
                report.reported += 1;
                self.report_failure(commit, target, item, e).await
            }
        }
    }

    /// The link and the comment of `commit` on `item`, each unless an earlier try made it.
    async fn write(
        &self,
        commit: &CommitInfo,
        target: &Target,
        item: &str,
        report: &mut PollReport,
    ) -> Result<(), PortError> {
        let scope = Scope { project: target.project.clone(), entity_type: String::new() };
        let c = &target.connector;
        let Some(snapshot) = c.get(&scope, &EntityId::new(item), &[]).await? else {
            return Err(PortError::new(
                ErrorCategory::NotFound,
                format!("work item {item} does not exist in {} project {}", target.system, target.project),
            ));
        };
        let url = self.system.commit_url(&commit.sha);
        if self.integration.links() {
            if let Some(url) = &url {
                let link = RemoteLink {
                    global_id: render::link_global_id(&self.integration.id, &commit.sha),
                    url: url.clone(),
                    title: render::link_title(commit),
                };
                c.upsert_remote_link(&scope, &snapshot.id, &link).await?;
                report.links += 1;
            }
        }
        if self.integration.comments() {
            let origin = render::comment_origin(&self.integration.id, &commit.sha);
            if self.commented(c.as_ref(), &scope, &snapshot.id, &origin, &commit.sha).await? {
                report.already_done += 1;
            } else {
                let body = render::comment_html(self.system.id.as_str(), commit, url.as_deref());
                c.add_comment(&scope, &snapshot.id, &CommentWrite { body, origin }).await?;
                report.comments += 1;
            }
        }
        Ok(())
    }

    /// Whether an earlier try left the comment: one carrying `origin`, or, where the
    /// system keeps no mark, one of the integration user with the commit's full id.
    async fn commented(
        &self,
        c: &dyn Connector,
        scope: &Scope,
        item: &EntityId,
        origin: &str,
        sha: &str,
    ) -> Result<bool, PortError> {
        let existing = c.comments(scope, item).await?;
        if existing.iter().any(|k| k.origin.as_deref() == Some(origin)) {
            return Ok(true);
        }
        let candidates: Vec<_> = existing.iter().filter(|k| k.origin.is_none() && k.body.contains(sha)).collect();
        if candidates.is_empty() {
            return Ok(false);
        }
        let me: UserRef = c.integration_user().await?;
        Ok(candidates.iter().any(|k| k.author.as_ref().is_some_and(|a| a.id == me.id)))
    }

    /// Records that `commit` could not be put on `item`: one failure per commit and item
    /// (a replay overwrites it, never adds another).
    async fn report_failure(
        &self,
        commit: &CommitInfo,
        target: &Target,
        item: &str,
        error: PortError,
    ) -> Result<(), SyncError> {
        let now = Utc::now();
        let when = DateTime::from_timestamp(commit.author_time, 0).unwrap_or(now);
        let snapshot = EntitySnapshot {
            id: EntityId::new(&commit.sha),
            key: render::short(&commit.sha).to_string(),
            revision: commit.sha.clone(),
            updated: when,
            changed_by: None,
            url: self.system.commit_url(&commit.sha).unwrap_or_default(),
            fields: Default::default(),
        };
        let id = format!("{}:commit:{}:{}:{item}", self.integration.id, commit.sha, target.system);
        let failure = FailureRecord {
            id: id.clone(),
            integration: self.integration.id.clone(),
            flow: COMMIT_FLOW,
            entity: snapshot.id.clone(),
            entity_key: snapshot.key.clone(),
            category: error.category,
            cause: format!("commit {} names {item}: {}", render::short(&commit.sha), error.message),
            input: ChangeEvent {
                schema: 1,
                integration: self.integration.id.clone(),
                flow: COMMIT_FLOW,
                snapshot,
                matches_filter: true,
                polled_at: now,
                replay: None,
                winner: None,
            },
            mapping_output: None,
            attempts: 1,
            first_failed_at: now,
            last_failed_at: now,
        };
        let fresh = self.state.get_failure(&id).await.map_err(|e| port("read a failure", e))?.is_none();
        self.state.put_failure(&failure).await.map_err(|e| port("record a failure", e))?;
        if fresh {
            self.state
                .incr_counter(&self.integration.id, COMMIT_FLOW, Counter::Failed, 1)
                .await
                .map_err(|e| port("count", e))?;
        }
        Ok(())
    }
}

/// Whether an error is about one work item (recorded, and the poll goes on) rather than
/// the target system as a whole (the poll stops and the next one tries again: a wrong
/// token or an outage must not lose commits).
fn item_failure(category: ErrorCategory) -> bool {
    matches!(category, ErrorCategory::NotFound | ErrorCategory::Permission | ErrorCategory::InvalidRequest)
}

fn port(what: &str, error: PortError) -> SyncError {
    SyncError::Port { what: what.to_string(), error }
}

/// Runs gitoxide's blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ScmError> + Send + 'static) -> Result<T, ScmError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ScmError::Walk(format!("the Git task stopped: {e}")))?
}
