//! The failures an overview reads: counts per integration, direction and category, and
//! one page of the list, without decoding every record; and the whole list. A row whose
//! body does not decode is listed from its columns, as an [`UnreadableFailure`].

use super::{decode, to_i64, to_u64, Ctx};
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{
    EntityId, ErrorCategory, FailureCount, FailureRecord, Flow, IntegrationId, ListedFailure, PortError,
    UnreadableFailure,
};
use rusqlite::{params, Connection};

pub(super) fn counts(conn: &Connection) -> PortResult<Vec<FailureCount>> {
    let what = "failure_counts";
    let mut stmt = conn
        .prepare_cached(
            "SELECT integration, flow, category, COUNT(*), MIN(first_failed_at)
             FROM failures GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .ctx(|| what)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .ctx(|| what)?;
    let mut out = Vec::new();
    for row in rows {
        let (integration, flow, category, count, oldest) = row.ctx(|| what)?;
        let bad = |field: &str, value: &str| {
            PortError::store(format!("{what}: corrupt {field} {value:?} in table `failures`"))
        };
        out.push(FailureCount {
            integration: IntegrationId::parse(&integration).map_err(|_| bad("integration", &integration))?,
            flow: Flow::parse(&flow).ok_or_else(|| bad("flow", &flow))?,
            category: serde_json::from_value::<ErrorCategory>(serde_json::Value::String(category.clone()))
                .map_err(|_| bad("category", &category))?,
            count: to_u64(count, what)?,
            oldest: DateTime::parse_from_rfc3339(&oldest)
                .map_err(|_| bad("first_failed_at", &oldest))?
                .with_timezone(&Utc),
        });
    }
    Ok(out)
}

/// Every failure of `integration` (`None`: of all), oldest first.
pub(super) fn listing(conn: &Connection, integration: Option<&str>) -> PortResult<Vec<ListedFailure>> {
    let what = format!("list_failures {}", integration.unwrap_or("(all)"));
    listed(conn, integration, i64::MAX, 0, &what)
}

pub(super) fn page(
    conn: &Connection,
    integration: Option<&str>,
    offset: usize,
    limit: usize,
) -> PortResult<(Vec<ListedFailure>, u64)> {
    let what = format!("failure_page {}", integration.unwrap_or("(all)"));
    let (offset, limit) = (to_i64(offset as u64, &what)?, to_i64(limit as u64, &what)?);
    // `?1 IS NULL`: every integration.
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM failures WHERE ?1 IS NULL OR integration = ?1", params![integration], |r| {
            r.get(0)
        })
        .ctx(|| what.clone())?;
    Ok((listed(conn, integration, limit, offset, &what)?, to_u64(total, &what)?))
}

/// The `limit` failures after the first `offset`, oldest first.
fn listed(
    conn: &Connection,
    integration: Option<&str>,
    limit: i64,
    offset: i64,
    what: &str,
) -> PortResult<Vec<ListedFailure>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, integration, flow, entity, category, first_failed_at, body FROM failures
             WHERE ?1 IS NULL OR integration = ?1
             ORDER BY first_failed_at, id LIMIT ?2 OFFSET ?3",
        )
        .ctx(|| what.to_string())?;
    let rows = stmt
        .query_map(params![integration, limit, offset], |r| {
            Ok(Row {
                id: r.get(0)?,
                integration: r.get(1)?,
                flow: r.get(2)?,
                entity: r.get(3)?,
                category: r.get(4)?,
                first_failed_at: r.get(5)?,
                body: r.get(6)?,
            })
        })
        .ctx(|| what.to_string())?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.ctx(|| what.to_string())?.into_listed());
    }
    Ok(out)
}

/// A row of table `failures`.
struct Row {
    id: String,
    integration: String,
    flow: String,
    entity: String,
    category: String,
    first_failed_at: String,
    body: String,
}

impl Row {
    /// The record in `body`, else what the columns say of it and why it is unreadable.
    fn into_listed(self) -> ListedFailure {
        decode::<FailureRecord>(&self.body, "failures", format!("failure {}", self.id)).map_err(|e| UnreadableFailure {
            integration: IntegrationId::parse(&self.integration).ok(),
            flow: Flow::parse(&self.flow),
            entity: Some(EntityId::new(self.entity)),
            category: serde_json::from_value(serde_json::Value::String(self.category)).ok(),
            first_failed_at: DateTime::parse_from_rfc3339(&self.first_failed_at).ok().map(|t| t.with_timezone(&Utc)),
            reason: e.message,
            id: self.id,
        })
    }
}
