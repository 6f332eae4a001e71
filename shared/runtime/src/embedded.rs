//! The embedded runtime: one SQLite file holds everything, one process runs it all.

use crate::connectors::Connectors;
use crate::runner::{Runner, RunnerSettings};
use crate::secrets::SecretSource;
use crate::RuntimeError;
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
    /// Opens (creating if needed) the store at `path`, with the engine settings of
    /// [`engine_settings_from_env`].
    pub fn open(path: &Path, secrets: Arc<dyn SecretSource>) -> Result<Self, RuntimeError> {
        let http = crate::connectors::http_options_from_env()?;
        let settings = engine_settings_from_env(|name| std::env::var(name).ok())?;
        Self::open_with(path, secrets, http, QueueSettings::default(), settings)
    }

    pub fn open_with(
        path: &Path,
        secrets: Arc<dyn SecretSource>,
        http: HttpOptions,
        queue: QueueSettings,
        settings: EngineSettings,
    ) -> Result<Self, RuntimeError> {
        let store = SqliteStore::open(path, queue)
            .map_err(|source| RuntimeError::OpenStore { path: path.to_path_buf(), source })?;
        let shared = Arc::new(store.clone());
        let connectors = Arc::new(Connectors::new(secrets, http).with_governors(shared.clone()));
        let engine = Arc::new(
            Engine::new(shared.clone(), shared.clone(), shared.clone(), connectors.clone(), settings)
                .with_commit_links(shared),
        );
        Ok(Self { engine, store, connectors })
    }

    pub fn runner(&self, settings: RunnerSettings) -> Runner {
        Runner::new(self.engine.clone(), settings)
    }
}

/// The variable holding a poll's time budget on the embedded runtime.
pub const POLL_BUDGET_VAR: &str = "FERRY_POLL_BUDGET";

/// The embedded engine's settings: the defaults, with [`POLL_BUDGET_VAR`] (`45s`, `2m`):
/// how long one poll of a direction reads before it leaves the rest of a backlog to the
/// next poll (default 30 s).
pub fn engine_settings_from_env(var: impl Fn(&str) -> Option<String>) -> Result<EngineSettings, RuntimeError> {
    let mut settings = EngineSettings::default();
    if let Some(text) = var(POLL_BUDGET_VAR).filter(|v| !v.trim().is_empty()) {
        let secs = ferry_config::duration_secs(&text)
            .filter(|s| *s > 0)
            .ok_or_else(|| RuntimeError::NotADuration { var: POLL_BUDGET_VAR, value: text.clone() })?;
        settings.poll_budget = std::time::Duration::from_secs(secs);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_poll_budget_is_read_from_the_environment_with_units() {
        let with = |v: &str| {
            let v = v.to_string();
            engine_settings_from_env(move |n| (n == POLL_BUDGET_VAR).then(|| v.clone()))
        };
        assert_eq!(engine_settings_from_env(|_| None).unwrap().poll_budget, EngineSettings::default().poll_budget);
        assert_eq!(with("45s").unwrap().poll_budget, Duration::from_secs(45));
        assert_eq!(with("2m").unwrap().poll_budget, Duration::from_secs(120));
        assert_eq!(with(" ").unwrap().poll_budget, EngineSettings::default().poll_budget);
        for bad in ["45", "fast", "0s"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains(POLL_BUDGET_VAR) && e.contains("30s"), "{bad}: {e}");
        }
    }
}
