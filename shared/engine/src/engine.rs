use crate::cache::{TtlCache, UserCache};
use crate::crash::{CrashInjector, CrashPoint, Crashed};
use crate::error::EngineError;
use crate::missing::MissingFields;
use ferry_domain::ports::{
    CommitLinkStore, ConfigStore, Connector, ConnectorFactory, Queue, ScheduleControl, StateStore,
};
use ferry_domain::{
    ErrorCategory, IntegrationId, IntegrationRecord, PortError, Scope, Side, SystemConfig, SystemId, UserRef,
};
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the pipeline.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Messages per queue send call (SQS takes at most 10 entries per batch).
    pub send_batch: usize,
    /// How long users looked up by e-mail and integration users are cached.
    pub user_cache_ttl: Duration,
    /// The longest a poll may hold its integration direction's lease; a poll's budget
    /// stays within four fifths of it.
    pub poll_lease: Duration,
    /// A poll's time budget when the caller sets none ([`Engine::poll`]; the embedded
    /// runner): it reads no further page that would end after it. The Lambda function
    /// derives its budget from the invocation's deadline instead.
    pub poll_budget: Duration,
    /// Entities a poll lists per page (connectors cap it at their API's limit); each
    /// page is enqueued and saved to the watermark before the next.
    pub poll_page_size: usize,
    /// How long a just-created entity may stay missing from the target's search (index
    /// lag); a retry after an interrupted create waits this long before creating again.
    pub search_settle: Duration,
    /// How long integration and system configs are reused in this process before being
    /// read again (zero: read per message). Apply, activate and deactivate through this
    /// engine drop the cached copies at once; other processes see a change within the TTL.
    pub config_ttl: Duration,
    /// Whether each entity's steps are stored as its timeline (one store write per step:
    /// a few per synced change). The directions' minute buckets (throughput, lag) are
    /// stored either way, at one write per direction per batch.
    pub record_timeline: bool,
    /// How often polls that answer webhook requests go back over the overlap window
    /// (`watermark::new_read`); between rescans they read from the cursor. Zero: every
    /// poll rescans. Scheduled polls always rescan.
    pub rescan_every: Duration,
}

impl EngineSettings {
    /// The settings of the Lambda functions: configs are cached for 30 s, since every
    /// read is a billed DynamoDB request and configs change rarely; no timeline unless
    /// asked for (each step is a billed write).
    pub fn lambda() -> Self {
        Self { config_ttl: Duration::from_secs(30), record_timeline: false, ..Self::default() }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            send_batch: 10,
            user_cache_ttl: Duration::from_secs(600),
            poll_lease: Duration::from_secs(300),
            poll_budget: Duration::from_secs(30),
            poll_page_size: 100,
            search_settle: Duration::from_secs(60),
            config_ttl: Duration::ZERO,
            record_timeline: true,
            rescan_every: Duration::from_secs(30),
        }
    }
}

/// The use cases over one set of ports.
pub struct Engine {
    pub(crate) config: Arc<dyn ConfigStore>,
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) connectors: Arc<dyn ConnectorFactory>,
    pub(crate) settings: EngineSettings,
    pub(crate) users: UserCache,
    pub(crate) integration_users: TtlCache<UserRef>,
    pub(crate) schedules: Option<Arc<dyn ScheduleControl>>,
    /// Where commit integrations are kept (either store); `None`: this engine was built
    /// without them.
    pub(crate) commit_links: Option<Arc<dyn CommitLinkStore>>,
    /// The commit links' schedules (AWS runtime: each invokes the commits function).
    pub(crate) commit_schedules: Option<Arc<dyn ScheduleControl>>,
    pub(crate) crash: Option<Arc<dyn CrashInjector>>,
    pub(crate) missing_fields: MissingFields,
    integrations: TtlCache<IntegrationRecord>,
    /// Every stored integration (one entry), for what crosses integrations.
    all_integrations: TtlCache<Vec<IntegrationRecord>>,
    systems: TtlCache<SystemConfig>,
}

impl Engine {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        state: Arc<dyn StateStore>,
        queue: Arc<dyn Queue>,
        connectors: Arc<dyn ConnectorFactory>,
        settings: EngineSettings,
    ) -> Self {
        let ttl = settings.user_cache_ttl;
        let settings_ttl = settings.config_ttl;
        Self {
            config,
            state,
            queue,
            connectors,
            settings,
            users: TtlCache::new(ttl),
            integration_users: TtlCache::new(ttl),
            schedules: None,
            commit_links: None,
            commit_schedules: None,
            crash: None,
            missing_fields: MissingFields::default(),
            integrations: TtlCache::new(settings_ttl),
            all_integrations: TtlCache::new(settings_ttl),
            systems: TtlCache::new(settings_ttl),
        }
    }

    /// Schedules to enable on activation and disable on deactivation (AWS runtime).
    pub fn with_schedules(mut self, schedules: Arc<dyn ScheduleControl>) -> Self {
        self.schedules = Some(schedules);
        self
    }

    /// Where commit integrations are kept ([`crate::commit_links`]).
    pub fn with_commit_links(mut self, store: Arc<dyn CommitLinkStore>) -> Self {
        self.commit_links = Some(store);
        self
    }

    /// Schedules of commit links to enable on their activation and disable on their
    /// deactivation (AWS runtime).
    pub fn with_commit_schedules(mut self, schedules: Arc<dyn ScheduleControl>) -> Self {
        self.commit_schedules = Some(schedules);
        self
    }

    /// Fault-injection runs only: handlers may stop at [`CrashPoint`]s.
    pub fn with_crash_injector(mut self, crash: Arc<dyn CrashInjector>) -> Self {
        self.crash = Some(crash);
        self
    }

    /// Passes a step boundary: `Err` when the injector says the handler dies here.
    pub fn crash_point(&self, point: CrashPoint) -> Result<(), Crashed> {
        match &self.crash {
            Some(c) if c.crash_at(point) => {
                tracing::warn!(%point, "injected crash");
                Err(Crashed(point))
            }
            _ => Ok(()),
        }
    }

    pub fn state(&self) -> &Arc<dyn StateStore> {
        &self.state
    }
    pub fn config_store(&self) -> &Arc<dyn ConfigStore> {
        &self.config
    }
    pub fn queue(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    pub(crate) async fn record(&self, id: &IntegrationId) -> Result<IntegrationRecord, EngineError> {
        if let Some(r) = self.integrations.get(id.as_str()) {
            return Ok(r);
        }
        let r =
            self.config.get_integration(id).await?.ok_or_else(|| EngineError::UnknownIntegration(id.to_string()))?;
        self.integrations.put(id.to_string(), r.clone());
        Ok(r)
    }

    /// Every stored integration, active or not.
    pub(crate) async fn all_records(&self) -> Result<Vec<IntegrationRecord>, PortError> {
        if let Some(all) = self.all_integrations.get("") {
            return Ok(all);
        }
        let all = self.config.list_integrations().await?;
        self.all_integrations.put(String::new(), all.clone());
        Ok(all)
    }

    /// Drops the cached configs (after this process changed them).
    pub(crate) fn forget_configs(&self) {
        self.integrations.clear();
        self.all_integrations.clear();
        self.systems.clear();
    }

    pub(crate) async fn connector_for(&self, system: &SystemId) -> Result<Arc<dyn Connector>, PortError> {
        let cfg = match self.systems.get(system.as_str()) {
            Some(c) => c,
            None => {
                let c = self.config.get_system(system).await?.ok_or_else(|| {
                    PortError::new(
                        ErrorCategory::Config,
                        format!("system {system:?} is not configured (apply a config that defines it)"),
                    )
                })?;
                self.systems.put(system.to_string(), c.clone());
                c
            }
        };
        self.connectors.connector(&cfg).await
    }

    pub(crate) async fn side_connector(
        &self,
        record: &IntegrationRecord,
        side: Side,
    ) -> Result<(Arc<dyn Connector>, Scope), PortError> {
        let ep = record.integration.endpoint(side);
        let conn = self.connector_for(&ep.system).await?;
        Ok((conn, Scope { project: ep.project.clone(), entity_type: ep.entity_type.clone() }))
    }

    /// The integration user of a system, cached.
    pub(crate) async fn integration_user(&self, system: &SystemId, conn: &dyn Connector) -> Result<UserRef, PortError> {
        if let Some(u) = self.integration_users.get(system.as_str()) {
            return Ok(u);
        }
        let u = conn.integration_user().await?;
        self.integration_users.put(system.to_string(), u.clone());
        Ok(u)
    }

    /// A target user by e-mail, cached (misses are cached too: a person who has no
    /// account now is looked up again after the TTL).
    pub(crate) async fn user_by_email(
        &self,
        system: &SystemId,
        conn: &dyn Connector,
        email: &str,
    ) -> Result<Option<UserRef>, PortError> {
        let key = format!("{system}\u{0}{}", email.to_ascii_lowercase());
        if let Some(u) = self.users.get(&key) {
            return Ok(u);
        }
        let u = conn.find_user_by_email(email).await?;
        self.users.put(key, u.clone());
        Ok(u)
    }
}
