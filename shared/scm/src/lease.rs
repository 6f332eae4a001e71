//! The poll lease of a commit integration while a poll runs: taken for a short time and
//! renewed in the background until the poll ends, so a poll that crashed (a killed
//! `ferry run`, a Lambda stopped at its timeout) frees the integration within
//! [`LEASE_TTL`], while one that fetches a large repository keeps it as long as it works.
//!
//! A renewal that finds the lease lost (the process stalled longer than the lease) is
//! logged and the poll goes on: its writes find what another poll made, and the tips it
//! records are written on the condition that nobody recorded others since it read them.

use ferry_domain::ports::StateStore;
use ferry_domain::{IntegrationId, COMMIT_FLOW};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(60);
/// How often a running poll renews it: three renewals fit in one lease, so one slow
/// store answer does not lose it.
pub const RENEW_EVERY: Duration = Duration::from_secs(20);

/// Renews the lease while it lives; dropping it stops the renewals (the caller releases).
pub struct Renewal {
    task: JoinHandle<()>,
}

impl Renewal {
    /// Renews `owner`'s lease of `integration` for `ttl` every `every`, starting one
    /// `every` from now.
    pub fn start(
        state: Arc<dyn StateStore>,
        integration: IntegrationId,
        owner: String,
        ttl: Duration,
        every: Duration,
    ) -> Self {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                match state.acquire_lease(&integration, COMMIT_FLOW, &owner, ttl).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        integration = %integration,
                        "the poll lease was lost (this poll stalled longer than {} s); another poll may run beside it",
                        ttl.as_secs()
                    ),
                    Err(e) => tracing::warn!(integration = %integration, "renewing the poll lease: {e}"),
                }
            }
        });
        Renewal { task }
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn a_renewed_lease_outlives_its_ttl_and_frees_itself_once_the_renewals_stop() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(&dir.path().join("s.db"), Default::default()).unwrap());
        let id = IntegrationId::parse("app-commits").unwrap();
        let (ttl, every) = (Duration::from_millis(400), Duration::from_millis(100));
        assert!(store.acquire_lease(&id, COMMIT_FLOW, "poll-1", ttl).await.unwrap());
        let renewal = Renewal::start(store.clone(), id.clone(), "poll-1".into(), ttl, every);
        tokio::time::sleep(ttl * 3).await;
        assert!(!store.acquire_lease(&id, COMMIT_FLOW, "poll-2", ttl).await.unwrap(), "renewed past its ttl");
        drop(renewal);
        tokio::time::sleep(ttl + every * 2).await;
        assert!(store.acquire_lease(&id, COMMIT_FLOW, "poll-2", ttl).await.unwrap(), "free once no one renews it");
    }
}
