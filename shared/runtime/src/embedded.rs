//! The embedded runtime: one SQLite file holds everything, one process runs it all.

use crate::connectors::Connectors;
use crate::runner::{Runner, RunnerSettings};
use crate::secrets::SecretSource;
use ferry_connectors::http::HttpOptions;
use ferry_engine::{Engine, EngineSettings};
use ferry_store::sqlite::SqliteStore;
use ferry_store::QueueSettings;
use std::path::Path;
use std::sync::Arc;

pub struct Embedded {
    pub engine: Arc<Engine>,
    pub store: SqliteStore,
    pub connectors: Arc<Connectors>,
}

impl Embedded {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path, secrets: Arc<dyn SecretSource>) -> anyhow::Result<Self> {
        let http = crate::connectors::http_options_from_env()?;
        Self::open_with(path, secrets, http, QueueSettings::default(), EngineSettings::default())
    }

    pub fn open_with(
        path: &Path,
        secrets: Arc<dyn SecretSource>,
        http: HttpOptions,
        queue: QueueSettings,
        settings: EngineSettings,
    ) -> anyhow::Result<Self> {
        let store = SqliteStore::open(path, queue)
            .map_err(|e| anyhow::anyhow!("opening the embedded store {}: {e}", path.display()))?;
        let connectors = Arc::new(Connectors::new(secrets, http));
        let shared = Arc::new(store.clone());
        let engine = Arc::new(Engine::new(shared.clone(), shared.clone(), shared, connectors.clone(), settings));
        Ok(Self { engine, store, connectors })
    }

    pub fn runner(&self, settings: RunnerSettings) -> Runner {
        Runner::new(self.engine.clone(), settings)
    }
}
