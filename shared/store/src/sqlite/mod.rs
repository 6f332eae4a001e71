//! The embedded store: one SQLite file with configs, sync state and a durable FIFO queue.
//!
//! Every record is a JSON column next to the indexed key columns it is looked up by.
//! Several processes may open the same file (the CLI retries failures while `ferry run`
//! runs): the file is in WAL mode with a 5 s busy timeout, and every read-modify-write
//! runs in an `IMMEDIATE` transaction so two writers never interleave.
//!
//! Semantics worth knowing (the port docs are the contract; these are the choices
//! where they leave room):
//! - `put_integration` compares `expected_version` with the stored record's `version`
//!   and stores the record as given: the caller sets the new `version` (normally
//!   `expected + 1`).
//! - `put_watermark`: the store owns the version. The `version` inside the given
//!   [`Watermark`](ferry_domain::Watermark) is ignored; the stored version becomes
//!   `expected + 1` (`1` for the first put) and `get_watermark` returns it, so a
//!   get → put round trip always passes the condition.
//! - `put_link` replaces any link of the same integration that holds either entity
//!   (links are one-to-one).
//! - A linked pair's fingerprints ([`StateKey::Pair`](ferry_domain::ports::StateKey))
//!   are the two entities' rows of `fingerprints`; `put_pair` writes them with the
//!   pair's version in `pair_versions` (no row: version 0).
//! - `put_failure` keeps the identity of an existing failure of the same (integration,
//!   flow, entity): its `id` and the earlier `first_failed_at` survive; everything
//!   else is replaced. A new failure whose `id` already belongs to another entity fails
//!   with `Conflict`.
//! - `delete_failure` and `delete_dead_letter` are idempotent (like DynamoDB's
//!   `DeleteItem`).
//! - Queue (SQS FIFO semantics): per group only the earliest message is deliverable and
//!   only while visible, so a group is blocked while one of its messages is in flight
//!   or released with a delay, and one receive delivers at most one message per group
//!   (stricter than SQS, which may batch several of a group). A receive issues a fresh
//!   receipt; the previous receipt becomes stale and `ack`/`release` with it fail with
//!   `NotFound` without touching the message. A receipt stays valid after its
//!   visibility expired until the message is received again (as in SQS). A head that
//!   was already received `max_receives` times moves to the dead-letter table on the
//!   next receive. `dead_letters` lists deliveries with an empty `receipt`. `depth`
//!   counts every unacked message (visible, in flight, delayed). `receive` has no
//!   batch cap (SQS: 10). Empty group or dedup ids are rejected with `BadMessage`.

mod activity;
mod backfills;
mod collab;
mod commit_links;
mod config;
mod failure_pages;
mod hooks;
mod overview;
mod queue;
mod rate_buckets;
mod reads;
mod schema;
mod state;
#[cfg(test)]
mod tests;

use crate::QueueSettings;
use chrono::{DateTime, SecondsFormat, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, PortError};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite backend of [`ConfigStore`](ferry_domain::ports::ConfigStore),
/// [`StateStore`](ferry_domain::ports::StateStore) and [`Queue`](ferry_domain::ports::Queue).
///
/// Cheap to clone: clones share one connection. Blocking SQLite work runs on tokio's
/// blocking pool, so the async methods need a tokio runtime.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    settings: QueueSettings,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).field("settings", &self.inner.settings).finish()
    }
}

impl SqliteStore {
    /// Opens (creating the file and its parent directories if needed) and migrates the
    /// store at `path`: WAL journal, 5 s busy timeout, foreign keys on.
    pub fn open(path: &Path, settings: QueueSettings) -> Result<Self, PortError> {
        if settings.max_receives == 0 {
            return Err(PortError::new(ErrorCategory::Config, "queue max_receives must be at least 1"));
        }
        let shown = path.display();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                PortError::store(format!("cannot create the directory of the SQLite store {shown}: {e}")).with_source(e)
            })?;
        }
        let mut conn = Connection::open(path).ctx(|| format!("cannot open the SQLite store {shown}"))?;
        conn.busy_timeout(BUSY_TIMEOUT).ctx(|| format!("cannot set the busy timeout on {shown}"))?;
        let mode = switch_to_wal(&conn).ctx(|| format!("cannot switch {shown} to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(PortError::store(format!("SQLite store {shown} refused WAL mode (journal mode is {mode})")));
        }
        conn.pragma_update(None, "foreign_keys", "ON").ctx(|| format!("cannot enable foreign keys on {shown}"))?;
        // NORMAL is durable across process crashes in WAL mode; only an OS crash can
        // lose the last commits, which at-least-once delivery absorbs.
        conn.pragma_update(None, "synchronous", "NORMAL").ctx(|| format!("cannot set synchronous mode on {shown}"))?;
        schema::migrate(&mut conn).map_err(|e| PortError::store(format!("SQLite store {shown}: {}", e.message)))?;
        Ok(Self { inner: Arc::new(Inner { conn: Mutex::new(conn), settings, path: path.to_path_buf() }) })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn settings(&self) -> QueueSettings {
        self.inner.settings
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &QueueSettings) -> PortResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction open (rusqlite
            // rolls back on drop), so a poisoned lock is safe to reuse.
            let mut conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn, &inner.settings).map_err(|mut e| {
                if e.category == ErrorCategory::Store {
                    e.message = format!("SQLite store {}: {}", inner.path.display(), e.message);
                }
                e
            })
        })
        .await
        .map_err(|e| PortError::store(format!("SQLite store task failed: {e}")))?
    }
}

/// Sets the WAL journal and returns the journal mode the file ended in. SQLite answers
/// the switch with a plain BUSY, without calling the busy handler, while another
/// connection is opening the same fresh file; the switch is retried until the busy
/// timeout, as any other locked statement would wait.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Adds "what failed" to a rusqlite error.
pub(crate) trait Ctx<T> {
    fn ctx<S: Display>(self, what: impl FnOnce() -> S) -> PortResult<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx<S: Display>(self, what: impl FnOnce() -> S) -> PortResult<T> {
        self.map_err(|e| PortError::store(format!("{}: {e}", what())).with_source(e))
    }
}

/// Starts a write transaction that takes the write lock up front, so a
/// read-modify-write never fails half-way on a lock upgrade.
pub(crate) fn immediate<'c>(conn: &'c mut Connection, what: &str) -> PortResult<Transaction<'c>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(|| format!("{what}: cannot begin a write transaction"))
}

pub(crate) fn commit(tx: Transaction<'_>, what: &str) -> PortResult<()> {
    tx.commit().ctx(|| format!("{what}: commit failed"))
}

pub(crate) fn encode<T: Serialize>(value: &T, what: &str) -> PortResult<String> {
    serde_json::to_string(value)
        .map_err(|e| PortError::store(format!("{what}: cannot encode the record as JSON: {e}")).with_source(e))
}

pub(crate) fn decode<T: DeserializeOwned>(json: &str, table: &str, key: impl Display) -> PortResult<T> {
    serde_json::from_str(json)
        .map_err(|e| PortError::store(format!("corrupt JSON in table `{table}` for {key}: {e}")).with_source(e))
}

pub(crate) fn to_i64(value: u64, what: &str) -> PortResult<i64> {
    i64::try_from(value).map_err(|_| PortError::store(format!("{what}: {value} is too large for the store")))
}

pub(crate) fn to_u64(value: i64, what: &str) -> PortResult<u64> {
    u64::try_from(value).map_err(|_| PortError::store(format!("{what}: stored value {value} is negative")))
}

/// Microseconds since the Unix epoch, UTC: the queue's clock.
pub(crate) fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A fixed-width UTC timestamp (nanoseconds, `Z`) that sorts like the instant.
pub(crate) fn sortable_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}
