//! `ConfigStore`: systems and integrations.

use super::{commit, decode, encode, immediate, to_i64, to_u64, Ctx, SqliteStore};
use async_trait::async_trait;
use ferry_domain::ports::{ConfigStore, PortResult};
use ferry_domain::{ErrorCategory, IntegrationId, IntegrationRecord, PortError, SystemConfig, SystemId};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl ConfigStore for SqliteStore {
    async fn put_system(&self, system: &SystemConfig) -> PortResult<()> {
        let id = system.id.to_string();
        let body = encode(system, "put_system")?;
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO systems (id, body) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![id, body],
            )
            .ctx(|| format!("put_system {id}"))?;
            Ok(())
        })
        .await
    }

    async fn get_system(&self, id: &SystemId) -> PortResult<Option<SystemConfig>> {
        let id = id.to_string();
        self.run(move |conn, _| {
            let body: Option<String> = conn
                .query_row("SELECT body FROM systems WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .ctx(|| format!("get_system {id}"))?;
            body.map(|b| decode(&b, "systems", format!("system {id}"))).transpose()
        })
        .await
    }

    async fn list_systems(&self) -> PortResult<Vec<SystemConfig>> {
        self.run(|conn, _| {
            let mut stmt = conn.prepare("SELECT id, body FROM systems ORDER BY id").ctx(|| "list_systems")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).ctx(|| "list_systems")?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body) = row.ctx(|| "list_systems")?;
                out.push(decode(&body, "systems", format!("system {id}"))?);
            }
            Ok(out)
        })
        .await
    }

    async fn get_integration(&self, id: &IntegrationId) -> PortResult<Option<IntegrationRecord>> {
        let id = id.to_string();
        self.run(move |conn, _| {
            let body: Option<String> = conn
                .query_row("SELECT body FROM integrations WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .ctx(|| format!("get_integration {id}"))?;
            body.map(|b| decode(&b, "integrations", format!("integration {id}"))).transpose()
        })
        .await
    }

    async fn list_integrations(&self) -> PortResult<Vec<IntegrationRecord>> {
        self.run(|conn, _| {
            let mut stmt = conn.prepare("SELECT id, body FROM integrations ORDER BY id").ctx(|| "list_integrations")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .ctx(|| "list_integrations")?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body) = row.ctx(|| "list_integrations")?;
                out.push(decode(&body, "integrations", format!("integration {id}"))?);
            }
            Ok(out)
        })
        .await
    }

    /// Stores the record as given (its `version` becomes the stored version) when the
    /// stored version equals `expected_version`.
    async fn put_integration(&self, record: &IntegrationRecord, expected_version: Option<u64>) -> PortResult<()> {
        let id = record.integration.id.to_string();
        let what = format!("put_integration {id}");
        let body = encode(record, &what)?;
        let version = to_i64(record.version, &what)?;
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let stored: Option<i64> = tx
                .query_row("SELECT version FROM integrations WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .ctx(|| what.clone())?;
            let stored = stored.map(|v| to_u64(v, &what)).transpose()?;
            if stored != expected_version {
                return Err(version_conflict("integration", &id, expected_version, stored));
            }
            tx.execute(
                "INSERT INTO integrations (id, version, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body",
                params![id, version, body],
            )
            .ctx(|| what.clone())?;
            commit(tx, &what)
        })
        .await
    }
}

pub(crate) fn version_conflict(what: &str, key: &str, expected: Option<u64>, stored: Option<u64>) -> PortError {
    let show = |v: Option<u64>| match v {
        Some(v) => format!("version {v}"),
        None => "none".to_string(),
    };
    PortError::new(
        ErrorCategory::Conflict,
        format!("{what} {key} was changed concurrently: expected {}, stored {}", show(expected), show(stored)),
    )
}
