//! Apply, activate, deactivate: the integration lifecycle (docs/design.md §1, rule 5).

use crate::engine::Engine;
use crate::error::EngineError;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ferry_domain::{
    ErrorCategory, Flow, Integration, IntegrationId, IntegrationRecord, Scope, SystemConfig, Watermark,
};
use serde::Serialize;

/// How far back an empty project starts (docs/design.md §1, rule 5: now − 26 hours).
pub const EMPTY_PROJECT_LOOKBACK_HOURS: i64 = 26;

#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    pub systems_written: Vec<String>,
    pub systems_unchanged: Vec<String>,
    pub integrations_written: Vec<String>,
    pub integrations_unchanged: Vec<String>,
    /// What the stored settings will do that the config may not say (the retries the
    /// queue allows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StartPoint {
    pub flow: Flow,
    pub at: DateTime<Utc>,
    /// Why this start: `override`, `last_updated`, `empty_project`, or `kept`.
    pub reason: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ActivationReport {
    pub integration: String,
    pub starts: Vec<StartPoint>,
}

impl Engine {
    /// Stores systems and integrations. Everything is checked before anything is
    /// written, so a refused apply leaves the store as it was. With
    /// `check_connections`, each new or changed system is contacted first.
    pub async fn apply(
        &self,
        systems: &[SystemConfig],
        integrations: &[Integration],
        check_connections: bool,
        now: DateTime<Utc>,
    ) -> Result<ApplyReport, EngineError> {
        self.forget_configs();
        let stored = self.config.list_integrations().await?;
        let mut report = ApplyReport::default();
        let system_writes = self.systems_to_write(systems, &stored, check_connections, &mut report).await?;
        let integration_writes = self.integrations_to_write(integrations, systems, &stored, &mut report).await?;
        if check_connections {
            for (i, _) in &integration_writes {
                self.check_filters(i, systems).await?;
            }
        }

        for s in system_writes {
            self.config.put_system(s).await?;
            self.forget_configs();
            report.systems_written.push(s.id.to_string());
        }
        for (i, version) in integration_writes {
            let record = IntegrationRecord {
                integration: i.clone(),
                active: false,
                version: version.map_or(1, |v| v + 1),
                updated_at: now,
            };
            self.config.put_integration(&record, version).await?;
            self.forget_configs();
            report.integrations_written.push(i.id.to_string());
        }
        Ok(report)
    }

    /// The systems an apply writes (new or changed); the unchanged ones go to the
    /// report. A system an active integration uses cannot change, and with
    /// `check_connections` each one written is contacted first.
    async fn systems_to_write<'a>(
        &self,
        systems: &'a [SystemConfig],
        stored: &[IntegrationRecord],
        check_connections: bool,
        report: &mut ApplyReport,
    ) -> Result<Vec<&'a SystemConfig>, EngineError> {
        let active_user = |system: &SystemConfig| {
            stored
                .iter()
                .find(|r| {
                    r.active && (r.integration.left.system == system.id || r.integration.right.system == system.id)
                })
                .map(|r| r.integration.id.to_string())
        };
        let mut writes = Vec::new();
        for s in systems {
            match self.config.get_system(&s.id).await? {
                Some(old) if &old == s => report.systems_unchanged.push(s.id.to_string()),
                old => {
                    if old.is_some() {
                        if let Some(integration) = active_user(s) {
                            return Err(EngineError::SystemInUse { system: s.id.to_string(), integration });
                        }
                    }
                    if check_connections {
                        let conn = self.connectors.connector(s).await?;
                        conn.integration_user().await.map_err(|e| {
                            ferry_domain::PortError::new(
                                e.category,
                                format!("testing system {:?}: {}", s.id.as_str(), e.message),
                            )
                        })?;
                    }
                    writes.push(s);
                }
            }
        }
        Ok(writes)
    }

    /// The integrations an apply writes, each with the stored version it replaces; the
    /// unchanged ones go to the report. Every system they name must exist (in this
    /// apply or the store), and an active integration cannot change.
    async fn integrations_to_write<'a>(
        &self,
        integrations: &'a [Integration],
        systems: &[SystemConfig],
        stored: &[IntegrationRecord],
        report: &mut ApplyReport,
    ) -> Result<Vec<(&'a Integration, Option<u64>)>, EngineError> {
        let mut writes = Vec::new();
        for i in integrations {
            report.notes.extend(crate::attempts::attempts_note(
                i.id.as_str(),
                i.max_attempts,
                self.queue.max_receives(),
            ));
            for ep in [&i.left, &i.right] {
                let known =
                    systems.iter().any(|s| s.id == ep.system) || self.config.get_system(&ep.system).await?.is_some();
                if !known {
                    return Err(EngineError::UnknownSystem(ep.system.to_string()));
                }
            }
            match stored.iter().find(|r| r.integration.id == i.id) {
                Some(r) if &r.integration == i => report.integrations_unchanged.push(i.id.to_string()),
                Some(r) if r.active => return Err(EngineError::ActiveIntegration(i.id.to_string())),
                Some(r) => writes.push((i, Some(r.version))),
                None => writes.push((i, None)),
            }
        }
        Ok(writes)
    }

    /// Asks each filtered direction's source system whether its poll query, with the
    /// filter, is valid: a typo surfaces at apply rather than as failing polls.
    async fn check_filters(&self, i: &Integration, systems: &[SystemConfig]) -> Result<(), EngineError> {
        for flow in Flow::BOTH {
            let Some(condition) = i.filter(flow) else { continue };
            let ep = i.endpoint(flow.source());
            let system = match systems.iter().find(|s| s.id == ep.system) {
                Some(s) => s.clone(),
                None => self
                    .config
                    .get_system(&ep.system)
                    .await?
                    .ok_or_else(|| EngineError::UnknownSystem(ep.system.to_string()))?,
            };
            let scope = Scope { project: ep.project.clone(), entity_type: ep.entity_type.clone() };
            let conn = self.connectors.connector(&system).await?;
            conn.validate_filter(&scope, condition).await.map_err(|e| match e.category {
                ErrorCategory::Config | ErrorCategory::InvalidRequest => {
                    EngineError::InvalidFilter { integration: i.id.to_string(), flow, message: e.message }
                }
                _ => EngineError::Port(e),
            })?;
        }
        Ok(())
    }

    /// Activates an integration. Each direction without a watermark gets its start
    /// polling time: the override if configured, else the last updated time in the
    /// source project, else (empty project) now − 26 h. Existing watermarks are kept.
    pub async fn activate(&self, id: &IntegrationId, now: DateTime<Utc>) -> Result<ActivationReport, EngineError> {
        self.activate_from(id, now, None).await
    }

    /// Activation whose directions start polling at `since` when given (a backfill,
    /// `ferry activate --since`: the entities changed since then are synced, after
    /// [`Engine::record_pairs`] linked those that mirror each other already). A given
    /// `since` replaces a kept watermark, so a backfill interrupted after activation
    /// runs again from the same point.
    pub async fn activate_from(
        &self,
        id: &IntegrationId,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Result<ActivationReport, EngineError> {
        self.activate_at(id, now, since, true).await
    }

    /// [`Engine::activate_from`]; with `replace_kept` false a kept watermark stays even
    /// when `since` is given, which then starts only the directions without one (a
    /// resumed backfill: what its polls read already is not read again).
    pub(crate) async fn activate_at(
        &self,
        id: &IntegrationId,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
        replace_kept: bool,
    ) -> Result<ActivationReport, EngineError> {
        self.forget_configs();
        let record = self.record(id).await?;
        let mut starts = Vec::new();
        for flow in record.integration.flows() {
            let kept = self.state.get_watermark(id, flow).await?;
            if let Some(w) = kept.as_ref().filter(|_| since.is_none() || !replace_kept) {
                starts.push(StartPoint { flow, at: w.floor, reason: "kept" });
                continue;
            }
            let (at, reason) = match (since, record.integration.start_time) {
                (Some(t), _) => (t, "since"),
                (None, Some(t)) => (t, "override"),
                (None, None) => {
                    let (conn, scope) = self.side_connector(&record, flow.source()).await?;
                    match conn.last_updated(&scope).await? {
                        Some(t) => (t, "last_updated"),
                        None => (now - ChronoDuration::hours(EMPTY_PROJECT_LOOKBACK_HOURS), "empty_project"),
                    }
                }
            };
            // A kept watermark is replaced (`since`) on the condition of its version.
            let w = Watermark::starting_at(at);
            self.state.put_watermark(id, flow, &w, kept.as_ref().map(|k| k.version)).await?;
            starts.push(StartPoint { flow, at, reason });
        }
        if let Some(schedules) = &self.schedules {
            let every = std::time::Duration::from_secs(record.integration.poll_interval_secs);
            for flow in record.integration.flows() {
                schedules.enable(id, flow, every).await?;
            }
        }
        if !record.active {
            let mut next = record.clone();
            next.active = true;
            next.version += 1;
            next.updated_at = now;
            self.config.put_integration(&next, Some(record.version)).await?;
            self.forget_configs();
        }
        Ok(ActivationReport { integration: id.to_string(), starts })
    }

    pub async fn deactivate(&self, id: &IntegrationId, now: DateTime<Utc>) -> Result<bool, EngineError> {
        self.forget_configs();
        let record = self.record(id).await?;
        if let Some(schedules) = &self.schedules {
            for flow in record.integration.flows() {
                schedules.disable(id, flow).await?;
            }
        }
        if !record.active {
            return Ok(false);
        }
        let mut next = record.clone();
        next.active = false;
        next.version += 1;
        next.updated_at = now;
        self.config.put_integration(&next, Some(record.version)).await?;
        self.forget_configs();
        Ok(true)
    }
}
