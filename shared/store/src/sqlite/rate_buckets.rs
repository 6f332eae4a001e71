//! The rate-limit governor's buckets (`ferry_domain::rate_limit`): one row per system,
//! read and written in one `IMMEDIATE` transaction, so a `ferry run` and a `ferry
//! preview` on the same file never take the same tokens.

use super::{commit, immediate, Ctx, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{PortResult, RateLimitStore};
use ferry_domain::rate_limit::{self, Bucket, Grant, RateLimit, Take};
use ferry_domain::SystemId;
use rusqlite::{params, OptionalExtension, Transaction};

fn stored(tx: &Transaction<'_>, system: &str, what: &str) -> PortResult<Option<Bucket>> {
    tx.query_row("SELECT tokens, at_ms FROM rate_buckets WHERE system = ?1", params![system], |r| {
        Ok(Bucket { tokens: r.get(0)?, at_ms: r.get(1)? })
    })
    .optional()
    .ctx(|| what.to_string())
}

fn store(tx: &Transaction<'_>, system: &str, b: Bucket, what: &str) -> PortResult<()> {
    tx.execute(
        "INSERT INTO rate_buckets (system, tokens, at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (system) DO UPDATE SET tokens = excluded.tokens, at_ms = excluded.at_ms",
        params![system, b.tokens, b.at_ms],
    )
    .ctx(|| what.to_string())?;
    Ok(())
}

#[async_trait]
impl RateLimitStore for SqliteStore {
    async fn take_tokens(
        &self,
        system: &SystemId,
        limit: &RateLimit,
        want: u32,
        now: DateTime<Utc>,
    ) -> PortResult<Grant> {
        let (system, limit) = (system.to_string(), *limit);
        self.run(move |conn, _| {
            let what = format!("take_tokens {system}");
            let tx = immediate(conn, &what)?;
            let take = rate_limit::take(stored(&tx, &system, &what)?, &limit, want, now.timestamp_millis());
            if let Take::Granted { bucket, .. } = take {
                store(&tx, &system, bucket, &what)?;
                commit(tx, &what)?;
            }
            Ok(take.grant())
        })
        .await
    }

    async fn pause_tokens(&self, system: &SystemId, until: DateTime<Utc>) -> PortResult<()> {
        let system = system.to_string();
        self.run(move |conn, _| {
            let what = format!("pause_tokens {system}");
            let tx = immediate(conn, &what)?;
            if let Some(bucket) = rate_limit::pause(stored(&tx, &system, &what)?, until.timestamp_millis()) {
                store(&tx, &system, bucket, &what)?;
                commit(tx, &what)?;
            }
            Ok(())
        })
        .await
    }
}
