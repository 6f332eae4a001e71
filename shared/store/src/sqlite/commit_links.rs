//! `CommitLinkStore`: source-control systems and commit integrations.

use super::config::version_conflict;
use super::{commit, decode, encode, immediate, to_i64, to_u64, Ctx, SqliteStore};
use async_trait::async_trait;
use ferry_domain::ports::{CommitLinkStore, PortResult};
use ferry_domain::{CommitLinkRecord, IntegrationId, ScmSystem, SystemId};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl CommitLinkStore for SqliteStore {
    async fn put_scm_system(&self, system: &ScmSystem) -> PortResult<()> {
        let id = system.id.to_string();
        let body = encode(system, "put_scm_system")?;
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO scm_systems (id, body) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![id, body],
            )
            .ctx(|| format!("put_scm_system {id}"))?;
            Ok(())
        })
        .await
    }

    async fn get_scm_system(&self, id: &SystemId) -> PortResult<Option<ScmSystem>> {
        let id = id.to_string();
        self.run(move |conn, _| {
            let body: Option<String> = conn
                .query_row("SELECT body FROM scm_systems WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .ctx(|| format!("get_scm_system {id}"))?;
            body.map(|b| decode(&b, "scm_systems", format!("system {id}"))).transpose()
        })
        .await
    }

    async fn list_scm_systems(&self) -> PortResult<Vec<ScmSystem>> {
        self.run(|conn, _| list(conn, "scm_systems", "system")).await
    }

    async fn get_commit_link(&self, id: &IntegrationId) -> PortResult<Option<CommitLinkRecord>> {
        let id = id.to_string();
        self.run(move |conn, _| {
            let body: Option<String> = conn
                .query_row("SELECT body FROM commit_links WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .ctx(|| format!("get_commit_link {id}"))?;
            body.map(|b| decode(&b, "commit_links", format!("commit link {id}"))).transpose()
        })
        .await
    }

    async fn list_commit_links(&self) -> PortResult<Vec<CommitLinkRecord>> {
        self.run(|conn, _| list(conn, "commit_links", "commit link")).await
    }

    /// Stores the record as given (its `version` becomes the stored version) when the
    /// stored version equals `expected_version`.
    async fn put_commit_link(&self, record: &CommitLinkRecord, expected_version: Option<u64>) -> PortResult<()> {
        let id = record.link.id.to_string();
        let what = format!("put_commit_link {id}");
        let body = encode(record, &what)?;
        let version = to_i64(record.version, &what)?;
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let stored: Option<i64> = tx
                .query_row("SELECT version FROM commit_links WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .ctx(|| what.clone())?;
            let stored = stored.map(|v| to_u64(v, &what)).transpose()?;
            if stored != expected_version {
                return Err(version_conflict("commit link", &id, expected_version, stored));
            }
            tx.execute(
                "INSERT INTO commit_links (id, version, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body",
                params![id, version, body],
            )
            .ctx(|| what.clone())?;
            commit(tx, &what)
        })
        .await
    }
}

/// Every record of `table` (`id`, JSON `body`), by id.
fn list<T: serde::de::DeserializeOwned>(
    conn: &mut rusqlite::Connection,
    table: &str,
    what: &str,
) -> PortResult<Vec<T>> {
    let op = format!("list {table}");
    let mut stmt = conn.prepare(&format!("SELECT id, body FROM {table} ORDER BY id")).ctx(|| op.clone())?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).ctx(|| op.clone())?;
    let mut out = Vec::new();
    for row in rows {
        let (id, body) = row.ctx(|| op.clone())?;
        out.push(decode(&body, table, format!("{what} {id}"))?);
    }
    Ok(out)
}
