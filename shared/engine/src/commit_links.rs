//! The lifecycle of commit integrations (the SCM class, docs/source-control.md): what
//! `ferry apply` stores of `source_control:` and `commit_links:`, activation and
//! deactivation, and their rows of `ferry status`. Their polls need Git and live in
//! ferry-scm, which records the start point (each branch's newest commit) through the
//! same state store.
//!
//! The rules mirror the work-item integrations' (`lifecycle.rs`): everything is checked
//! before anything is written; an active commit link cannot change, nor the repository
//! an active one reads; ids are unique across both kinds of integrations, since both
//! keep their position under the integration's id in the state store.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::lifecycle::ApplyReport;
use crate::status::{CommitLinkStatus, FlowStatus, IntegrationStatus, ReportedMention};
use chrono::{DateTime, Utc};
use ferry_domain::failure_counts::open_in;
use ferry_domain::{
    CommitIntegration, CommitLinkRecord, ErrorCategory, FailureCount, Integration, IntegrationId, PortError, ScmSystem,
    COMMIT_FLOW,
};

/// What an apply of commit links writes, decided before anything is written.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommitApplyPlan {
    systems: Vec<ScmSystem>,
    /// Each link with the stored version it replaces.
    links: Vec<(CommitIntegration, Option<u64>)>,
    systems_unchanged: Vec<String>,
    links_unchanged: Vec<String>,
}

impl CommitApplyPlan {
    /// The repositories the apply writes (new or changed): the ones `ferry apply` tests.
    pub fn repositories(&self) -> &[ScmSystem] {
        &self.systems
    }
}

/// What is stored, for [`plan_commit_apply`].
pub struct Stored<'a> {
    pub systems: &'a [ScmSystem],
    pub links: &'a [CommitLinkRecord],
    /// Work-item integrations stored or in this apply: their ids are taken.
    pub integrations: &'a [IntegrationId],
}

/// Which repositories and commit links an apply writes (new or changed), or why it
/// must not: an id taken by a work-item integration, an active link that would change,
/// a repository an active link reads that would change, a source never declared.
pub fn plan_commit_apply(
    systems: &[ScmSystem],
    links: &[CommitIntegration],
    stored: &Stored,
) -> Result<CommitApplyPlan, EngineError> {
    let mut plan = CommitApplyPlan::default();
    for s in systems {
        match stored.systems.iter().find(|o| o.id == s.id) {
            Some(old) if old == s => plan.systems_unchanged.push(s.id.to_string()),
            old => {
                let reader = stored.links.iter().find(|r| r.active && r.link.source == s.id);
                if let (Some(_), Some(r)) = (old, reader) {
                    return Err(EngineError::SystemInUse {
                        system: s.id.to_string(),
                        integration: r.link.id.to_string(),
                    });
                }
                plan.systems.push(s.clone());
            }
        }
    }
    for l in links {
        if stored.integrations.contains(&l.id) {
            return Err(EngineError::IdTaken(l.id.to_string()));
        }
        if !systems.iter().chain(stored.systems).any(|s| s.id == l.source) {
            return Err(EngineError::UnknownSystem(l.source.to_string()));
        }
        match stored.links.iter().find(|r| r.link.id == l.id) {
            Some(r) if &r.link == l => plan.links_unchanged.push(l.id.to_string()),
            Some(r) if r.active => return Err(EngineError::ActiveIntegration(l.id.to_string())),
            Some(r) => plan.links.push((l.clone(), Some(r.version))),
            None => plan.links.push((l.clone(), None)),
        }
    }
    Ok(plan)
}

impl Engine {
    /// What an apply of `systems` and `links` (with the work-item `integrations` of the
    /// same apply) writes, checked against the store; nothing is written. Also refuses
    /// a work-item integration whose id a stored commit link has.
    pub async fn plan_commit_links(
        &self,
        systems: &[ScmSystem],
        links: &[CommitIntegration],
        integrations: &[Integration],
    ) -> Result<CommitApplyPlan, EngineError> {
        let Some(store) = &self.commit_links else {
            if systems.is_empty() && links.is_empty() {
                return Ok(CommitApplyPlan::default());
            }
            return Err(no_commit_store());
        };
        let stored_links = store.list_commit_links().await?;
        if let Some(i) = integrations.iter().find(|i| stored_links.iter().any(|r| r.link.id == i.id)) {
            return Err(EngineError::IdTaken(i.id.to_string()));
        }
        let mut taken: Vec<IntegrationId> =
            self.config.list_integrations().await?.into_iter().map(|r| r.integration.id).collect();
        taken.extend(integrations.iter().map(|i| i.id.clone()));
        let stored_systems = store.list_scm_systems().await?;
        plan_commit_apply(
            systems,
            links,
            &Stored { systems: &stored_systems, links: &stored_links, integrations: &taken },
        )
    }

    /// Writes what [`Engine::plan_commit_links`] decided; new and changed links are
    /// stored inactive, as work-item integrations are.
    pub async fn write_commit_links(
        &self,
        plan: CommitApplyPlan,
        now: DateTime<Utc>,
        report: &mut ApplyReport,
    ) -> Result<(), EngineError> {
        report.systems_unchanged.extend(plan.systems_unchanged);
        report.integrations_unchanged.extend(plan.links_unchanged);
        if plan.systems.is_empty() && plan.links.is_empty() {
            return Ok(());
        }
        let store = self.commit_links.as_ref().ok_or_else(no_commit_store)?;
        for s in plan.systems {
            store.put_scm_system(&s).await?;
            report.systems_written.push(s.id.to_string());
        }
        for (link, version) in plan.links {
            let id = link.id.to_string();
            let record =
                CommitLinkRecord { link, active: false, version: version.map_or(1, |v| v + 1), updated_at: now };
            store.put_commit_link(&record, version).await?;
            report.integrations_written.push(id);
        }
        Ok(())
    }

    /// The stored commit link `id`; `None` when there is none (or no store of them).
    pub async fn commit_link(&self, id: &IntegrationId) -> Result<Option<CommitLinkRecord>, EngineError> {
        match &self.commit_links {
            Some(store) => Ok(store.get_commit_link(id).await?),
            None => Ok(None),
        }
    }

    /// Every stored commit link, active or not.
    pub async fn commit_links(&self) -> Result<Vec<CommitLinkRecord>, EngineError> {
        match &self.commit_links {
            Some(store) => Ok(store.list_commit_links().await?),
            None => Ok(Vec::new()),
        }
    }

    /// The repository a commit link reads.
    pub async fn scm_system(&self, link: &CommitIntegration) -> Result<ScmSystem, EngineError> {
        let store = self.commit_links.as_ref().ok_or_else(no_commit_store)?;
        store.get_scm_system(&link.source).await?.ok_or_else(|| EngineError::UnknownSystem(link.source.to_string()))
    }

    /// Marks commit link `id` active or not; answers whether that changed it. Its start
    /// point is recorded by its first poll (ferry-scm's activation) before it is marked.
    /// Where commit links have schedules (AWS), its schedule is enabled (every
    /// `poll_interval`) or disabled first, also when the mark is there already (a
    /// schedule lost or changed by hand comes back).
    pub async fn set_commit_link_active(
        &self,
        id: &IntegrationId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        let store = self.commit_links.as_ref().ok_or_else(no_commit_store)?;
        let record = store.get_commit_link(id).await?.ok_or_else(|| EngineError::UnknownIntegration(id.to_string()))?;
        if let Some(schedules) = &self.commit_schedules {
            match active {
                true => {
                    let every = std::time::Duration::from_secs(record.link.poll_interval_secs);
                    schedules.enable(id, COMMIT_FLOW, every).await?
                }
                false => schedules.disable(id, COMMIT_FLOW).await?,
            }
        }
        if record.active == active {
            return Ok(false);
        }
        let next = CommitLinkRecord { active, version: record.version + 1, updated_at: now, ..record.clone() };
        store.put_commit_link(&next, Some(record.version)).await?;
        Ok(true)
    }

    /// The `ferry status` rows of the commit links: position (branch tips), last poll,
    /// counts, and the mentions reported as failures.
    pub(crate) async fn commit_link_status(
        &self,
        failures: &[FailureCount],
        now: DateTime<Utc>,
    ) -> Result<Vec<IntegrationStatus>, EngineError> {
        let mut out = Vec::new();
        for record in self.commit_links().await? {
            let link = &record.link;
            let flow = COMMIT_FLOW;
            let mark = self.state.get_watermark(&link.id, flow).await?;
            let counts = self.state.counts(&link.id, flow).await?;
            let open = open_in(failures, &link.id, flow).0 as usize;
            let reported = match open {
                0 => Vec::new(),
                _ => self
                    .state
                    .list_failures(Some(&link.id))
                    .await?
                    .into_iter()
                    .map(|f| ReportedMention { failure: f.id, category: f.category, cause: f.cause })
                    .collect(),
            };
            let last_poll = mark.as_ref().and_then(|m| m.last_poll);
            let targets: Vec<String> = link.targets.iter().map(|t| format!("{}/{}", t.system, t.project)).collect();
            out.push(IntegrationStatus {
                integration: link.id.to_string(),
                active: record.active,
                version: record.version,
                poll_interval_secs: link.poll_interval_secs,
                left: link.source.to_string(),
                right: targets.join(", "),
                links: 0,
                flows: vec![FlowStatus {
                    flow,
                    start: mark.as_ref().map(|m| m.floor),
                    watermark: None,
                    last_poll,
                    lag_secs: last_poll.map(|t| (now - t).num_seconds().max(0)),
                    counts,
                    open_failures: open,
                    conflicts: 0,
                    targets_deleted: 0,
                }],
                commits: Some(CommitLinkStatus {
                    branches: link.branches.clone(),
                    tips: mark.as_ref().and_then(|m| m.branch_tips.clone()),
                    walk: mark.and_then(|m| m.walk),
                    reported,
                }),
            });
        }
        Ok(out)
    }
}

fn no_commit_store() -> EngineError {
    EngineError::Port(PortError::new(
        ErrorCategory::Config,
        "this engine keeps no commit links (source_control:, commit_links:): it was built without a \
         CommitLinkStore (docs/source-control.md)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::{CommitTarget, OnCommit, ScmKind, SystemId};

    fn repo(id: &str, url: &str) -> ScmSystem {
        ScmSystem {
            id: SystemId::parse(id).unwrap(),
            kind: ScmKind::Git,
            base_url: url.into(),
            token: None,
            web_url: None,
            allow_http_loopback: false,
            ca_cert: None,
        }
    }

    fn link(id: &str, source: &str, branch: &str) -> CommitIntegration {
        CommitIntegration {
            id: IntegrationId::parse(id).unwrap(),
            source: SystemId::parse(source).unwrap(),
            branches: vec![branch.into()],
            targets: vec![CommitTarget {
                system: SystemId::parse("jira").unwrap(),
                project: "APP".into(),
                key_pattern: "APP-\\d+".into(),
            }],
            on_commit: vec![OnCommit::Comment],
            poll_interval_secs: 60,
            transitions: Vec::new(),
        }
    }

    fn stored(l: CommitIntegration, active: bool) -> CommitLinkRecord {
        CommitLinkRecord { link: l, active, version: 3, updated_at: DateTime::UNIX_EPOCH }
    }

    #[test]
    fn an_apply_writes_what_is_new_or_changed_and_keeps_versions() {
        let systems = [repo("r", "https://g/a.git"), repo("s", "https://g/b.git")];
        let links = [link("a", "r", "main"), link("b", "s", "main"), link("c", "r", "main")];
        let stored_systems = [repo("r", "https://g/a.git")];
        let stored_links = [stored(link("a", "r", "main"), true), stored(link("b", "s", "dev"), false)];
        let plan = plan_commit_apply(
            &systems,
            &links,
            &Stored { systems: &stored_systems, links: &stored_links, integrations: &[] },
        )
        .unwrap();
        assert_eq!(plan.systems_unchanged, vec!["r"]);
        assert_eq!(plan.systems, vec![systems[1].clone()]);
        assert_eq!(plan.links_unchanged, vec!["a"], "an active link that does not change is fine");
        assert_eq!(plan.links, vec![(links[1].clone(), Some(3)), (links[2].clone(), None)]);
    }

    #[test]
    fn an_apply_that_would_change_what_an_active_link_uses_or_reuse_an_id_is_refused() {
        let active = [stored(link("a", "r", "main"), true)];
        let old_repo = [repo("r", "https://g/a.git")];
        let none = Stored { systems: &old_repo, links: &active, integrations: &[] };
        let cases: Vec<(Vec<ScmSystem>, Vec<CommitIntegration>, &Stored, &str)> = vec![
            (vec![], vec![link("a", "r", "dev")], &none, "integration \"a\" is active"),
            (vec![repo("r", "https://g/moved.git")], vec![], &none, "system \"r\" is used by active integration \"a\""),
            (vec![], vec![link("x", "nowhere", "main")], &none, "system \"nowhere\" does not exist"),
        ];
        for (systems, links, stored, expected) in cases {
            let e = plan_commit_apply(&systems, &links, stored).unwrap_err().to_string();
            assert!(e.contains(expected), "{expected}: {e}");
        }
        let alm = [IntegrationId::parse("app-bugs").unwrap()];
        let taken = Stored { systems: &old_repo, links: &[], integrations: &alm };
        let e = plan_commit_apply(&[], &[link("app-bugs", "r", "main")], &taken).unwrap_err().to_string();
        assert!(e.contains("\"app-bugs\" is already a work-item integration"), "{e}");
    }
}
