//! The failures an overview reads: counts per integration, direction and category, and
//! one page of the list, without decoding every record.

use super::{decode, to_i64, to_u64, Ctx};
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, FailureCount, FailureRecord, Flow, IntegrationId, PortError};
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

pub(super) fn page(
    conn: &Connection,
    integration: Option<&str>,
    offset: usize,
    limit: usize,
) -> PortResult<(Vec<FailureRecord>, u64)> {
    let what = format!("failure_page {}", integration.unwrap_or("(all)"));
    let (offset, limit) = (to_i64(offset as u64, &what)?, to_i64(limit as u64, &what)?);
    // `?1 IS NULL`: every integration.
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM failures WHERE ?1 IS NULL OR integration = ?1", params![integration], |r| {
            r.get(0)
        })
        .ctx(|| what.clone())?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, body FROM failures WHERE ?1 IS NULL OR integration = ?1
             ORDER BY first_failed_at, id LIMIT ?2 OFFSET ?3",
        )
        .ctx(|| what.clone())?;
    let rows = stmt
        .query_map(params![integration, limit, offset], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .ctx(|| what.clone())?;
    let mut out = Vec::new();
    for row in rows {
        let (id, body) = row.ctx(|| what.clone())?;
        out.push(decode(&body, "failures", format!("key {id}"))?);
    }
    Ok((out, to_u64(total, &what)?))
}
