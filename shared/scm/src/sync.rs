//! One poll of a commit integration: fetch the repository, walk the commits between the
//! recorded branch tips and the new ones, and put a link and a comment for each on every
//! work item it names; then record the new tips.
//!
//! Exactly once, across crashes and replays: the tips are recorded only after every new
//! commit was handled. On the way the poll records a checkpoint (the tips it walks to and
//! the last commit it handled, [`crate::checkpoint`]) every few commits, when it reaches
//! its stop time and before it ends on an error; the next poll goes on after that commit.
//! The commits after the checkpoint may have been written in part, so each write finds
//! what an earlier try made: the link by its global id (Jira) or URL
//! (Azure DevOps), the comment by its origin mark (a Jira comment property) or, where a
//! system keeps no mark, by the commit's full id in a comment of the integration user.
//!
//! A work item that does not exist or cannot be written for a reason a retry will not
//! fix (not found, outside the project, no permission) is recorded as a failure, shown by
//! `ferry status`, and the poll moves on: it is not retried forever. A transient error
//! (network, throttling, server) ends the poll before the tips move.
//!
//! A transition keyword before an item's key (`Fixes APP-12`, [`crate::keywords`]) moves
//! the item to its status on the commit's first handling only: the transition comes
//! before the comment, and a commit whose comment is already on the item is not moved
//! again, so a replayed poll never undoes what a person did after it (reopening the item).
//! Only a crash between the transition and the comment makes the replay move it again
//! (to the same status, a no-op unless someone changed it in between).
//!
//! One poll of an integration at a time: a poll holds the integration's poll lease (the
//! same lease as a work-item direction's, renewed while the poll runs: [`crate::lease`]),
//! and a second one steps aside (`busy`).

use crate::checkpoint::{self, Resume};
use crate::git::{CommitInfo, GitRemote, Mirror};
use crate::keywords::{moved_to, status_field, type_field};
use crate::lease::{Renewal, LEASE_TTL, RENEW_EVERY};
use crate::mentions::KeyPattern;
use crate::render;
use crate::start::{after_commit, position_at, Start};
use crate::tips::{plan, select, Tips};
use crate::ScmError;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{Connector, StateStore};
use ferry_domain::{
    ChangeEvent, CommentWrite, CommitIntegration, Counter, EntityId, EntitySnapshot, ErrorCategory, FailureRecord,
    FieldChange, FieldKey, FieldValue, PortError, RemoteLink, ScmSystem, Scope, UserRef, WalkCheckpoint, Watermark,
};
use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use ferry_domain::COMMIT_FLOW;

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
    /// (keyword, status) of the integration's transitions for this system, in config order.
    pub transitions: Vec<(String, String)>,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    /// The first poll recorded the tips and wrote nothing.
    pub activated: bool,
    /// New commits walked (after the checkpoint an earlier poll left, if any).
    pub commits: usize,
    pub links: usize,
    pub comments: usize,
    /// Work items moved to a status by a keyword (`Fixes APP-12`).
    pub transitions: usize,
    /// Writes found already done by an earlier try.
    pub already_done: usize,
    /// Mentions of work items (and transitions) recorded as failures.
    pub reported: usize,
    /// Branch patterns that matched no branch this time.
    pub unmatched_patterns: Vec<String>,
    /// Another poll of the integration held its lease: this one did nothing.
    pub busy: bool,
    /// The poll reached its stop time ([`CommitSync::poll_until`]) before handling every
    /// new commit: the tips did not move; the next poll goes on after the last commit
    /// this one handled (its checkpoint).
    pub unfinished: bool,
}

/// Where an activation starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// Each selected branch's newest commit; empty for an empty repository ("0").
    pub tips: Tips,
    /// An earlier activation's (or poll's) position was kept.
    pub kept: bool,
}

pub struct CommitSync {
    pub integration: CommitIntegration,
    pub system: ScmSystem,
    /// The token, read from where `system.token` says it lives.
    pub token: Option<String>,
    /// The CA certificates (PEM) of `system.ca_cert`, read from where it lives.
    pub ca_pem: Option<String>,
    /// The local mirror's directory.
    pub mirror_dir: PathBuf,
    pub targets: Vec<Target>,
    pub state: Arc<dyn StateStore>,
}

impl CommitSync {
    /// One poll (see the module docs).
    pub async fn poll(&self) -> Result<PollReport, SyncError> {
        self.poll_until(None).await
    }

    /// As [`CommitSync::poll`], handling no commit after `stop_at` (a Lambda invocation's
    /// deadline less a reserve): a poll that reaches it ends `unfinished`, without
    /// recording the tips. A fetch under way is not cut short.
    pub async fn poll_until(&self, stop_at: Option<Instant>) -> Result<PollReport, SyncError> {
        let polled = self.leased(self.poll_leased(stop_at)).await?;
        Ok(polled.unwrap_or(PollReport { busy: true, ..PollReport::default() }))
    }

    /// Records the start point ([`Start`]): by default each selected branch's newest
    /// commit, or none for an empty repository, unless a position is recorded already
    /// (kept); an override replaces a recorded position. `busy` (`None`) when a poll
    /// holds the lease.
    pub async fn activate(&self, start: &Start) -> Result<Option<Activation>, SyncError> {
        self.leased(async {
            let (current, _) = self.fetch_selected().await?;
            let recorded = self.position().await?;
            if let (Start::Newest, Some((_, tips))) = (start, &recorded) {
                return Ok(Activation { tips: tips.clone(), kept: true });
            }
            let tips = self.start_tips(&current, start).await?;
            self.record(recorded.as_ref().map(|(mark, _)| mark), tips.clone()).await?;
            Ok(Activation { tips, kept: false })
        })
        .await
    }

    /// The position `start` gives the selected branches at their `current` tips.
    async fn start_tips(&self, current: &Tips, start: &Start) -> Result<Tips, SyncError> {
        let dir = self.mirror_dir.clone();
        let current = current.clone();
        let start = start.clone();
        let tips = blocking(move || {
            let mirror = Mirror::open(&dir)?;
            match start {
                Start::Newest => Ok(current),
                Start::Commit(id) => Ok(after_commit(&current, &mirror.resolve_commit(&id)?)),
                Start::Since(date) => {
                    let mut tips = Tips::new();
                    for (branch, tip) in &current {
                        let line = mirror.first_parent_line(tip, date.timestamp())?;
                        if let Some(sha) = position_at(&line, date) {
                            tips.insert(branch.clone(), sha.to_string());
                        }
                    }
                    Ok(tips)
                }
            }
        })
        .await?;
        Ok(tips)
    }

    /// Runs `work` holding the integration's poll lease, renewed while it runs; `None`
    /// (nothing run) while another holds it.
    async fn leased<T>(&self, work: impl Future<Output = Result<T, SyncError>>) -> Result<Option<T>, SyncError> {
        let Some(owner) = self.lease().await? else { return Ok(None) };
        let renewal = self.renewal(&owner);
        let result = work.await;
        drop(renewal);
        self.release(&owner).await;
        result.map(Some)
    }

    async fn lease(&self) -> Result<Option<String>, SyncError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let id = &self.integration.id;
        let held = self.state.acquire_lease(id, COMMIT_FLOW, &owner, LEASE_TTL).await;
        Ok(held.map_err(|e| port("take the poll lease", e))?.then_some(owner))
    }

    /// Keeps `owner`'s lease while the poll runs ([`crate::lease`]).
    fn renewal(&self, owner: &str) -> Renewal {
        Renewal::start(self.state.clone(), self.integration.id.clone(), owner.to_string(), LEASE_TTL, RENEW_EVERY)
    }

    async fn release(&self, owner: &str) {
        if let Err(e) = self.state.release_lease(&self.integration.id, COMMIT_FLOW, owner).await {
            tracing::warn!(integration = %self.integration.id, "releasing the poll lease: {e}");
        }
    }

    /// The recorded position, with its watermark.
    async fn position(&self) -> Result<Option<(Watermark, Tips)>, SyncError> {
        let mark = self
            .state
            .get_watermark(&self.integration.id, COMMIT_FLOW)
            .await
            .map_err(|e| port("read the position", e))?;
        Ok(mark.and_then(|m| m.branch_tips.clone().map(|t| (m, t))))
    }

    async fn poll_leased(&self, stop_at: Option<Instant>) -> Result<PollReport, SyncError> {
        let (current, unmatched) = self.fetch_selected().await?;
        let mut report = PollReport { unmatched_patterns: unmatched, ..PollReport::default() };
        let Some((mut mark, mut recorded)) = self.position().await? else {
            self.record(None, current).await?;
            report.activated = true;
            return Ok(report);
        };
        // A walk an earlier poll stopped in goes on to its goal first, then a walk to the
        // tips fetched now, in the same poll.
        loop {
            let held = self.held(&recorded, mark.walk.as_ref()).await?;
            let resume = checkpoint::resume(&recorded, &current, mark.walk.as_ref(), |sha| held.contains(sha));
            let walk = plan(&recorded, &resume.goal);
            let commits = self.walk(walk.hide, walk.from).await?;
            let shas: Vec<&str> = commits.iter().map(|c| c.sha.as_str()).collect();
            let start = checkpoint::start_index(&shas, resume.after.as_deref());
            report.commits += commits.len() - start;
            let mut progress = Progress::new(&resume);
            for commit in &commits[start..] {
                if stop_at.is_some_and(|t| Instant::now() >= t) {
                    self.checkpoint(&mut mark, &mut progress).await?;
                    report.unfinished = true;
                    return Ok(report);
                }
                if let Err(e) = self.handle_commit(commit, &mut report).await {
                    // What was handled before stays handled; the error is what the poll says.
                    if let Err(c) = self.checkpoint(&mut mark, &mut progress).await {
                        tracing::warn!(integration = %self.integration.id, error = %c, "the walk's checkpoint was not recorded");
                    }
                    return Err(e);
                }
                progress.handled(&commit.sha);
                if checkpoint::due(progress.unrecorded, progress.recorded_at.elapsed()) {
                    self.checkpoint(&mut mark, &mut progress).await?;
                }
            }
            let done = resume.goal == current;
            mark = self.record(Some(&mark), resume.goal.clone()).await?;
            if done {
                return Ok(report);
            }
            recorded = resume.goal;
        }
    }

    /// Every work item `commit` names, in every target.
    async fn handle_commit(&self, commit: &CommitInfo, report: &mut PollReport) -> Result<(), SyncError> {
        for target in &self.targets {
            for (item, starts) in target.pattern.mentions_at(&commit.message) {
                let status = moved_to(&commit.message, &starts, &target.transitions);
                self.handle(commit, target, &item, status, report).await?;
            }
        }
        Ok(())
    }

    /// The tips of `checkpoint` and the `recorded` ones that the mirror holds.
    async fn held(&self, recorded: &Tips, checkpoint: Option<&WalkCheckpoint>) -> Result<HashSet<String>, SyncError> {
        let Some(c) = checkpoint else { return Ok(HashSet::new()) };
        let shas: Vec<String> = c.to.values().chain(recorded.values()).cloned().collect();
        let dir = self.mirror_dir.clone();
        Ok(blocking(move || {
            let mirror = Mirror::open(&dir)?;
            Ok(shas.into_iter().filter(|sha| mirror.has_commit(sha)).collect())
        })
        .await?)
    }

    /// Records how far the walk got, when a commit was handled since the last record.
    async fn checkpoint(&self, mark: &mut Watermark, progress: &mut Progress) -> Result<(), SyncError> {
        let Some(after) = progress.last.clone().filter(|_| progress.unrecorded > 0) else {
            return Ok(());
        };
        let mut next = mark.clone();
        next.walk = Some(WalkCheckpoint { to: progress.goal.clone(), after, handled: progress.handled });
        self.state
            .put_watermark(&self.integration.id, COMMIT_FLOW, &next, Some(mark.version))
            .await
            .map_err(|e| port("record how far the walk got", e))?;
        next.version += 1;
        *mark = next;
        progress.unrecorded = 0;
        progress.recorded_at = Instant::now();
        Ok(())
    }

    /// Writes what the reported mention `failure` (of this integration) could not: the
    /// commit's link and comment on the item, or, for a reported transition, the
    /// transition. Holds the integration's poll lease as a poll does. Answers whether it
    /// is written now: then the failure is deleted; else it is recorded again with the
    /// new cause and one more attempt.
    pub async fn retry_reported(&self, failure: &FailureRecord) -> Result<bool, SyncError> {
        self.leased(self.retry_leased(failure)).await?.ok_or_else(|| {
            SyncError::Config(
                self.integration.id.to_string(),
                "a poll of it is under way; retry when it is done".into(),
            )
        })
    }

    async fn retry_leased(&self, failure: &FailureRecord) -> Result<bool, SyncError> {
        let sha = &failure.input.snapshot.revision;
        let commit = match self.commit(sha).await? {
            Some(c) => c,
            None => {
                self.fetch_selected().await?;
                self.commit(sha).await?.ok_or_else(|| {
                    SyncError::Config(
                        self.integration.id.to_string(),
                        format!("commit {sha} is not in the repository any more; discard the failure"),
                    )
                })?
            }
        };
        let mut report = PollReport::default();
        for target in &self.targets {
            for (item, starts) in target.pattern.mentions_at(&commit.message) {
                let status = moved_to(&commit.message, &starts, &target.transitions);
                let entity = failure.entity.as_str();
                if entity == mention_id(sha, &target.system, &item, "") {
                    self.handle(&commit, target, &item, status, &mut report).await?;
                } else if entity == mention_id(sha, &target.system, &item, "transition") {
                    self.retry_transition(&commit, target, &item, status, &mut report).await?;
                } else {
                    continue;
                }
                let written = report.reported == 0;
                if written {
                    self.state.delete_failure(&failure.id).await.map_err(|e| port("delete the failure", e))?;
                }
                return Ok(written);
            }
        }
        Err(SyncError::Config(
            self.integration.id.to_string(),
            format!(
                "commit {} names no such item under the link's targets any more ({}); discard the failure",
                render::short(sha),
                failure.entity_key
            ),
        ))
    }

    /// The transition of a reported one: the comment went on the item then.
    async fn retry_transition(
        &self,
        commit: &CommitInfo,
        target: &Target,
        item: &str,
        status: Option<&str>,
        report: &mut PollReport,
    ) -> Result<(), SyncError> {
        let scope = Scope { project: target.project.clone(), entity_type: String::new() };
        let c = target.connector.as_ref();
        let moved = async {
            let Some(status) = status else {
                return Err(PortError::new(
                    ErrorCategory::Config,
                    format!("the link moves {item} to no status for this commit's keyword any more"),
                ));
            };
            match c.get(&scope, &EntityId::new(item), &[]).await? {
                Some(snapshot) => self.transition(c, &scope, &snapshot, status).await,
                None => Err(missing(target, item)),
            }
        };
        match moved.await {
            Ok(moved) => {
                report.transitions += usize::from(moved);
                Ok(())
            }
            Err(e) if transition_failure(e.category) || e.category == ErrorCategory::Config => {
                report.reported += 1;
                self.report_failure(commit, target, item, "transition", e).await
            }
            Err(e) => Err(port(&format!("{} {item}", target.system), e)),
        }
    }

    /// Commit `sha` from the mirror; `None` when the mirror does not hold it.
    async fn commit(&self, sha: &str) -> Result<Option<CommitInfo>, SyncError> {
        let (dir, sha) = (self.mirror_dir.clone(), sha.to_string());
        Ok(blocking(move || Mirror::open(&dir)?.commit(&sha)).await?)
    }

    async fn fetch_selected(&self) -> Result<(Tips, Vec<String>), SyncError> {
        let remote =
            GitRemote { url: self.system.base_url.clone(), token: self.token.clone(), ca_pem: self.ca_pem.clone() };
        let dir = self.mirror_dir.clone();
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

    /// Stores `tips` as the position, over `previous` (its version guards a concurrent
    /// poll), with no walk under way; answers the watermark stored.
    async fn record(&self, previous: Option<&Watermark>, tips: Tips) -> Result<Watermark, SyncError> {
        let now = Utc::now();
        let mut mark = previous.cloned().unwrap_or_else(|| Watermark::starting_at(now));
        mark.branch_tips = Some(tips);
        mark.walk = None;
        mark.last_poll = Some(now);
        let expected = previous.map(|m| m.version);
        self.state
            .put_watermark(&self.integration.id, COMMIT_FLOW, &mark, expected)
            .await
            .map_err(|e| port("record the branch tips", e))?;
        mark.version = expected.map_or(1, |v| v + 1);
        Ok(mark)
    }

    async fn handle(
        &self,
        commit: &CommitInfo,
        target: &Target,
        item: &str,
        status: Option<&str>,
        report: &mut PollReport,
    ) -> Result<(), SyncError> {
        match self.write(commit, target, item, status, report).await {
            Ok(stuck) => {
                if let Some(e) = stuck {
                    report.reported += 1;
                    self.report_failure(commit, target, item, "transition", e).await?;
                }
                self.state
                    .incr_counter(&self.integration.id, COMMIT_FLOW, Counter::Synced, 1)
                    .await
                    .map_err(|e| port("count", e))
            }
            Err(e) if !item_failure(e.category) => Err(port(&format!("{} {item}", target.system), e)),
            Err(e) => {
                report.reported += 1;
                self.report_failure(commit, target, item, "", e).await
            }
        }
    }

    /// The link, the transition and the comment of `commit` on `item`, each unless an
    /// earlier try made it; the transition only with the comment (its first handling).
    /// Answers the error of a transition that cannot be made for a reason of the item (to
    /// be reported; the comment was written).
    async fn write(
        &self,
        commit: &CommitInfo,
        target: &Target,
        item: &str,
        status: Option<&str>,
        report: &mut PollReport,
    ) -> Result<Option<PortError>, PortError> {
        let scope = Scope { project: target.project.clone(), entity_type: String::new() };
        let c = &target.connector;
        let Some(snapshot) = c.get(&scope, &EntityId::new(item), &[]).await? else {
            return Err(missing(target, item));
        };
        let url = self.system.commit_url(&commit.sha);
        let mut stuck = None;
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
                if let Some(status) = status {
                    match self.transition(c.as_ref(), &scope, &snapshot, status).await {
                        Ok(true) => report.transitions += 1,
                        Ok(false) => {}
                        Err(e) if transition_failure(e.category) => stuck = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                let body = render::comment_html(self.system.id.as_str(), commit, url.as_deref());
                c.add_comment(&scope, &snapshot.id, &CommentWrite { body, origin }).await?;
                report.comments += 1;
            }
        }
        Ok(stuck)
    }

    /// Moves `item` to `status` (Jira through its workflow's transitions, Azure DevOps by
    /// its State); `false` when it is there already.
    async fn transition(
        &self,
        c: &dyn Connector,
        scope: &Scope,
        item: &EntitySnapshot,
        status: &str,
    ) -> Result<bool, PortError> {
        let Some(field) = status_field(c.kind()) else {
            return Err(PortError::new(
                ErrorCategory::Config,
                format!("Ferry moves {} items by no status field", c.kind().as_str()),
            ));
        };
        let field = FieldKey::new(field);
        let text = |key: &FieldKey| match item.fields.get(key) {
            Some(FieldValue::Text(s) | FieldValue::Option(s)) => Some(s.clone()),
            _ => None,
        };
        if text(&field).is_some_and(|s| s.eq_ignore_ascii_case(status)) {
            return Ok(false);
        }
        let entity_type = type_field(c.kind()).and_then(|f| text(&FieldKey::new(f))).unwrap_or_default();
        let scope = Scope { entity_type, ..scope.clone() };
        let change = FieldChange { field: field.clone(), value: FieldValue::Option(status.to_string()) };
        c.update(&scope, &item.id, &[change], None, &[field])
            .await
            .map_err(|e| PortError { message: format!("moving {} to {status:?}: {}", item.key, e.message), ..e })?;
        Ok(true)
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
        step: &str,
        error: PortError,
    ) -> Result<(), SyncError> {
        let now = Utc::now();
        let when = DateTime::from_timestamp(commit.author_time, 0).unwrap_or(now);
        let mention = mention_id(&commit.sha, &target.system, item, step);
        let snapshot = EntitySnapshot {
            id: EntityId::new(&mention),
            key: format!("{} {item}", render::short(&commit.sha)),
            revision: commit.sha.clone(),
            updated: when,
            changed_by: None,
            url: self.system.commit_url(&commit.sha).unwrap_or_default(),
            fields: Default::default(),
        };
        let id = format!("{}:commit:{mention}", self.integration.id);
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
        let earlier = self.state.get_failure(&id).await.map_err(|e| port("read a failure", e))?;
        let failure = match &earlier {
            Some(e) => FailureRecord { attempts: e.attempts + 1, first_failed_at: e.first_failed_at, ..failure },
            None => failure,
        };
        self.state.put_failure(&failure).await.map_err(|e| port("record a failure", e))?;
        if earlier.is_none() {
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

/// Whether a transition failed for a reason of its item (its workflow has no way to the
/// status, a screen wants a value, the status is not allowed): recorded, and the
/// comment still goes on the item.
fn transition_failure(category: ErrorCategory) -> bool {
    item_failure(category)
        || matches!(category, ErrorCategory::TransitionNotReachable | ErrorCategory::RequiredFieldMissing)
}

/// A mentioned work item that `target` does not have.
fn missing(target: &Target, item: &str) -> PortError {
    PortError::new(
        ErrorCategory::NotFound,
        format!("work item {item} does not exist in {} project {}", target.system, target.project),
    )
}

/// The entity of the failure that records a mention of `item` by commit `sha` in
/// `system` (`step`: "" for the link and comment, `transition` for a keyword's move):
/// one failure per commit, item and step, since the store keeps one per entity.
fn mention_id(sha: &str, system: &str, item: &str, step: &str) -> String {
    match step {
        "" => format!("{sha}:{system}:{item}"),
        step => format!("{sha}:{system}:{item}:{step}"),
    }
}

/// A poll's way through one walk, since its last checkpoint.
struct Progress {
    goal: Tips,
    /// Commits of the walk handled, by earlier polls and this one.
    handled: u64,
    /// The last commit handled.
    last: Option<String>,
    /// Commits handled since the last record, and when that was.
    unrecorded: u64,
    recorded_at: Instant,
}

impl Progress {
    fn new(resume: &Resume) -> Self {
        Progress {
            goal: resume.goal.clone(),
            handled: resume.handled,
            last: resume.after.clone(),
            unrecorded: 0,
            recorded_at: Instant::now(),
        }
    }

    fn handled(&mut self, sha: &str) {
        self.handled += 1;
        self.unrecorded += 1;
        self.last = Some(sha.to_string());
    }
}

fn port(what: &str, error: PortError) -> SyncError {
    SyncError::Port { what: what.to_string(), error }
}

/// Runs gitoxide's blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ScmError> + Send + 'static) -> Result<T, ScmError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ScmError::Walk(format!("the Git task stopped: {e}")))?
}
