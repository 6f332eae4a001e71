//! Each linked pair's collaboration record (table `collab`, versioned like the
//! integrations) and the relations waiting for an entity (table `pending_relations`).

use super::config::version_conflict;
use super::{commit, decode, immediate, to_i64, to_u64, Ctx};
use ferry_domain::ports::PortResult;
use ferry_domain::{CollabState, EntityId, PortError};
use rusqlite::{params, Connection, OptionalExtension};

/// Where a pair's record is: integration and left entity, as stored.
pub(super) struct PairKey {
    pub integration: String,
    pub left: String,
}

impl PairKey {
    fn label(&self) -> String {
        format!("{} {}", self.integration, self.left)
    }
}

pub(super) fn get(conn: &Connection, pair: &PairKey) -> PortResult<Option<(CollabState, u64)>> {
    let what = format!("get_collab {}", pair.label());
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT version, body FROM collab WHERE integration = ?1 AND left_id = ?2",
            params![pair.integration, pair.left],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ctx(|| what.clone())?;
    let Some((version, body)) = row else { return Ok(None) };
    let state = decode(&body, "collab", format!("integration {} left entity {}", pair.integration, pair.left))?;
    Ok(Some((state, to_u64(version, &what)?)))
}

/// Writes `body` as the record if the stored version is `expected` (`None`: no record).
pub(super) fn put(conn: &mut Connection, pair: &PairKey, body: &str, expected: Option<u64>) -> PortResult<()> {
    let what = format!("put_collab {}", pair.label());
    let next = match expected {
        None => 1,
        Some(v) => {
            v.checked_add(1).ok_or_else(|| PortError::store(format!("{what}: version {v} cannot be incremented")))?
        }
    };
    let next = to_i64(next, &what)?;
    let tx = immediate(conn, &what)?;
    let stored: Option<i64> = tx
        .query_row(
            "SELECT version FROM collab WHERE integration = ?1 AND left_id = ?2",
            params![pair.integration, pair.left],
            |r| r.get(0),
        )
        .optional()
        .ctx(|| what.clone())?;
    let stored = stored.map(|v| to_u64(v, &what)).transpose()?;
    if stored != expected {
        return Err(version_conflict("collaboration record of", &pair.label(), expected, stored));
    }
    tx.execute(
        "INSERT INTO collab (integration, left_id, version, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (integration, left_id) DO UPDATE SET version = excluded.version, body = excluded.body",
        params![pair.integration, pair.left, next, body],
    )
    .ctx(|| what.clone())?;
    commit(tx, &what)
}

/// Where a pending relation is: integration, side and the entity waited for.
pub(super) struct AwaitedKey {
    pub integration: String,
    pub side: &'static str,
    pub awaited: String,
}

impl AwaitedKey {
    fn label(&self) -> String {
        format!("{} {} {}", self.integration, self.side, self.awaited)
    }
}

pub(super) fn add_pending(conn: &Connection, key: &AwaitedKey, waiting: &str) -> PortResult<()> {
    conn.execute(
        "INSERT INTO pending_relations (integration, side, awaited, waiting) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![key.integration, key.side, key.awaited, waiting],
    )
    .ctx(|| format!("add_pending {} waiting {waiting}", key.label()))?;
    Ok(())
}

pub(super) fn pending(conn: &Connection, key: &AwaitedKey) -> PortResult<Vec<EntityId>> {
    let what = format!("pending {}", key.label());
    let mut stmt = conn
        .prepare(
            "SELECT waiting FROM pending_relations WHERE integration = ?1 AND side = ?2 AND awaited = ?3
             ORDER BY waiting",
        )
        .ctx(|| what.clone())?;
    let rows = stmt
        .query_map(params![key.integration, key.side, key.awaited], |r| r.get::<_, String>(0))
        .ctx(|| what.clone())?;
    let mut out = Vec::new();
    for row in rows {
        out.push(EntityId::new(row.ctx(|| what.clone())?));
    }
    Ok(out)
}

pub(super) fn remove_pending(conn: &Connection, key: &AwaitedKey, waiting: &str) -> PortResult<()> {
    conn.execute(
        "DELETE FROM pending_relations WHERE integration = ?1 AND side = ?2 AND awaited = ?3 AND waiting = ?4",
        params![key.integration, key.side, key.awaited, waiting],
    )
    .ctx(|| format!("remove_pending {} waiting {waiting}", key.label()))?;
    Ok(())
}
