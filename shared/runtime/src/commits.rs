//! Commit integrations (feature `scm`: the CLI's and the commits function's, no other
//! Lambda function's): builds each commit link's sync from what `ferry apply` stored (its
//! repository's token and CA read where they live, its targets' connectors, a mirror
//! beside the store or under the function's /tmp), activates links, and polls them: the
//! active ones on their interval next to the embedded work-item runner, or one per
//! invocation of the commits function (docs/source-control.md).

use crate::connectors::Connectors;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ConnectorFactory, PortResult};
use ferry_domain::{CommitLinkRecord, FailureRecord, IntegrationId, PortError, ScmSystem, Side, COMMIT_FLOW};
use ferry_engine::{Engine, EngineError};
use ferry_scm::schedule::due;
use ferry_scm::{CommitSync, GitRemote, KeyPattern, Mirror, PollReport, ScmError, Start, SyncError, Target, Tips};
use secrecy::ExposeSecret;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{error, info};

/// Where the local mirrors of the repositories live: `ferry-mirrors` beside the store.
pub fn mirrors_beside(db: &Path) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("ferry-mirrors")
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("{0}")]
    Port(#[from] PortError),
    #[error("integration {0:?} is not a commit link")]
    NotACommitLink(String),
    #[error("integration {0:?}: another poll holds its lease; try again when it is done")]
    Busy(String),
}

/// Where an activation starts a commit link (`ferry activate`).
#[derive(Debug, Clone, Serialize)]
pub struct CommitActivation {
    pub integration: String,
    /// Each selected branch's newest commit, the start point: later commits are linked.
    pub tips: Tips,
    /// `newest_commits`, `empty_repository` (tips are "0": its first commit is linked),
    /// `kept` (an earlier position), `from_commit` or `since_date` (an override).
    pub reason: &'static str,
}

/// What a retry of a reported mention did.
#[derive(Debug, Clone)]
pub enum Retried {
    /// Written; the failure (as it was) is deleted.
    Written(FailureRecord),
    /// Refused again: the failure as recorded now (its new cause, one more attempt).
    FailedAgain(FailureRecord),
}

/// What one cycle of the commit links did.
#[derive(Debug, Default, Clone)]
pub struct CommitCycle {
    pub polls: Vec<(String, PollReport)>,
    /// `{integration}: {error}` for each poll that failed (its position did not move).
    pub errors: Vec<String>,
}

pub struct CommitRunner {
    engine: Arc<Engine>,
    connectors: Arc<Connectors>,
    mirrors: PathBuf,
    /// When each link's last poll started, successful or not ([`due`]).
    attempts: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl CommitRunner {
    pub fn new(engine: Arc<Engine>, connectors: Arc<Connectors>, mirrors: PathBuf) -> Self {
        Self { engine, connectors, mirrors, attempts: Mutex::new(HashMap::new()) }
    }

    /// The sync of a stored commit link.
    pub async fn sync_for(&self, record: &CommitLinkRecord) -> Result<CommitSync, CommitError> {
        let link = &record.link;
        let system = self.engine.scm_system(link).await?;
        let GitRemote { token, ca_pem, .. } = remote(&self.connectors, &system).await?;
        let mut targets = Vec::new();
        for t in &link.targets {
            let config = self.engine.config_store().get_system(&t.system).await?;
            let config = config.ok_or_else(|| EngineError::UnknownSystem(t.system.to_string()))?;
            targets.push(Target {
                system: t.system.to_string(),
                project: t.project.clone(),
                pattern: KeyPattern::new(&t.key_pattern)
                    .map_err(|e| SyncError::Config(link.id.to_string(), format!("key pattern of {}: {e}", t.system)))?,
                connector: self.connectors.connector(&config).await?,
                transitions: link.transitions_for(&t.system),
            });
        }
        Ok(CommitSync {
            integration: link.clone(),
            mirror_dir: self.mirrors.join(system.id.as_str()),
            system,
            token,
            ca_pem,
            targets,
            state: self.engine.state().clone(),
        })
    }

    /// Retries failure `failure_id` when a commit link reported it (`ferry failures retry`,
    /// the console's Retry): writes what could not be written then, with the link's current
    /// targets and transitions. `None` for any other failure, and for one that cannot be
    /// read: the engine's retry takes those (and says why one cannot be read). A mention
    /// has no sides for a `winner` to choose.
    pub async fn retry(&self, failure_id: &str, winner: Option<Side>) -> Result<Option<Retried>, CommitError> {
        let state = self.engine.state();
        let Ok(Some(failure)) = state.get_failure(failure_id).await else { return Ok(None) };
        let Some(record) = self.engine.commit_link(&failure.integration).await? else { return Ok(None) };
        if winner.is_some() {
            let why = "a mention a commit link reported has no sides for a winner to choose".to_string();
            return Err(SyncError::Config(record.link.id.to_string(), why).into());
        }
        if self.sync_for(&record).await?.retry_reported(&failure).await? {
            return Ok(Some(Retried::Written(failure)));
        }
        Ok(Some(Retried::FailedAgain(state.get_failure(failure_id).await?.unwrap_or(failure))))
    }

    /// Activates commit link `id`: records where it starts ([`Start`]: by default each
    /// selected branch's newest commit, none for an empty repository, unless a position
    /// is kept), then marks it active.
    pub async fn activate(
        &self,
        id: &IntegrationId,
        start: &Start,
        now: DateTime<Utc>,
    ) -> Result<CommitActivation, CommitError> {
        let record = self.record(id).await?;
        let sync = self.sync_for(&record).await?;
        let activation = sync.activate(start).await?.ok_or_else(|| CommitError::Busy(id.to_string()))?;
        self.engine.set_commit_link_active(id, true, now).await?;
        let reason = match (start, activation.kept, activation.tips.is_empty()) {
            (_, true, _) => "kept",
            (Start::Newest, false, true) => "empty_repository",
            (start, false, _) => start.reason(),
        };
        Ok(CommitActivation { integration: id.to_string(), tips: activation.tips, reason })
    }

    /// Deactivates commit link `id` (its position is kept); answers whether it was active.
    pub async fn deactivate(&self, id: &IntegrationId, now: DateTime<Utc>) -> Result<bool, CommitError> {
        self.record(id).await?;
        Ok(self.engine.set_commit_link_active(id, false, now).await?)
    }

    /// One poll of commit link `id`, handling no commit after `stop_at` (an invocation
    /// of the commits function, which its schedule makes); `None` when the link is not
    /// active (a tick after its deactivation): nothing is polled.
    pub async fn poll_one(
        &self,
        id: &IntegrationId,
        stop_at: Option<Instant>,
    ) -> Result<Option<PollReport>, CommitError> {
        let record = self.record(id).await?;
        if !record.active {
            return Ok(None);
        }
        Ok(Some(self.sync_for(&record).await?.poll_until(stop_at).await?))
    }

    async fn record(&self, id: &IntegrationId) -> Result<CommitLinkRecord, CommitError> {
        self.engine.commit_link(id).await?.ok_or_else(|| CommitError::NotACommitLink(id.to_string()))
    }

    /// Polls the active commit links that are due (all of them with `force`), only the
    /// named ones when `only` is not empty. One link's failure never stops the others.
    pub async fn cycle(&self, now: DateTime<Utc>, force: bool, only: &[IntegrationId]) -> CommitCycle {
        let mut cycle = CommitCycle::default();
        let records = match self.engine.commit_links().await {
            Ok(r) => r,
            Err(e) => {
                cycle.errors.push(format!("listing commit links: {e}"));
                return cycle;
            }
        };
        for record in records.into_iter().filter(|r| r.active && (only.is_empty() || only.contains(&r.link.id))) {
            let id = record.link.id.to_string();
            if !force {
                match self.is_due(&record, now).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        cycle.errors.push(format!("{id}: {e}"));
                        continue;
                    }
                }
            }
            if let Ok(mut attempts) = self.attempts.lock() {
                attempts.insert(id.clone(), now);
            }
            let polled = async { Ok::<_, CommitError>(self.sync_for(&record).await?.poll().await?) }.await;
            match polled {
                Ok(report) => cycle.polls.push((id, report)),
                Err(e) => {
                    error!(integration = %id, "commit poll failed: {e}");
                    cycle.errors.push(format!("{id}: {e}"));
                }
            }
        }
        cycle
    }

    async fn is_due(&self, record: &CommitLinkRecord, now: DateTime<Utc>) -> PortResult<bool> {
        let mark = self.engine.state().get_watermark(&record.link.id, COMMIT_FLOW).await?;
        let attempt = self.attempts.lock().ok().and_then(|a| a.get(record.link.id.as_str()).copied());
        Ok(due(mark.and_then(|m| m.last_poll), attempt, record.link.poll_interval_secs, now))
    }

    /// Runs until `stop` resolves: polls the commit links that are due, then sleeps a
    /// second (as the work-item runner does).
    pub async fn run_until<F: std::future::Future<Output = ()>>(&self, only: &[IntegrationId], stop: F) {
        tokio::pin!(stop);
        loop {
            let cycle = self.cycle(Utc::now(), false, only).await;
            for (id, r) in &cycle.polls {
                if r.commits > 0 || r.activated {
                    info!(
                        integration = %id,
                        commits = r.commits,
                        links = r.links,
                        comments = r.comments,
                        transitions = r.transitions,
                        reported = r.reported,
                        "commits synced"
                    );
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// How Ferry reaches `system`: its URL, its token and CA certificates read where they live.
async fn remote(connectors: &Connectors, system: &ScmSystem) -> Result<GitRemote, PortError> {
    let token = match &system.token {
        Some(r) => Some(connectors.secrets().resolve(r).await?.expose_secret().to_string()),
        None => None,
    };
    let ca_pem = match &system.ca_cert {
        Some(ca) => Some(pem_text(system, connectors.ca_pem(system.id.as_str(), ca).await?)?),
        None => None,
    };
    Ok(GitRemote { url: system.base_url.clone(), token, ca_pem })
}

/// The connection test of a repository `ferry apply` stores: lists its branches with
/// the system's token and CA, fetching nothing ([`ferry_scm::Mirror::probe`]).
pub async fn probe(connectors: &Connectors, system: &ScmSystem) -> Result<Tips, CommitError> {
    let remote = remote(connectors, system).await?;
    let url = remote.url.clone();
    let listed = tokio::task::spawn_blocking(move || Mirror::probe(&remote))
        .await
        .unwrap_or_else(|e| Err(ScmError::Remote { url, cause: format!("the Git task stopped: {e}") }));
    Ok(listed.map_err(SyncError::from)?)
}

fn pem_text(system: &ScmSystem, pem: Vec<u8>) -> Result<String, PortError> {
    String::from_utf8(pem).map_err(|_| {
        PortError::new(
            ferry_domain::ErrorCategory::Config,
            format!("system {}: the CA certificate is not PEM text", system.id),
        )
    })
}
