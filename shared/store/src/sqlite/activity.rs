//! Entities' steps through Ferry (table `activity`, read per entity: its timeline) and
//! each direction's minute buckets (table `pace`: its throughput and lag). Rows older than
//! the retention go when a direction records new ones.

use super::{commit, decode, encode, immediate, sortable_time, to_i64, to_u64, Ctx};
use chrono::{DateTime, Duration, Utc};
use ferry_domain::activity::{ACTIVITY_RETENTION_DAYS, PACE_RETENTION_HOURS};
use ferry_domain::ports::PortResult;
use ferry_domain::PortError;
use ferry_domain::{Activity, PaceBucket};
use rusqlite::{params, Connection};

pub(super) fn record(conn: &mut Connection, steps: &[Activity]) -> PortResult<()> {
    let what = format!("record_activity ({} steps)", steps.len());
    let tx = immediate(conn, &what)?;
    {
        let mut insert = tx
            .prepare_cached("INSERT INTO activity (integration, flow, entity, at, body) VALUES (?1, ?2, ?3, ?4, ?5)")
            .ctx(|| what.clone())?;
        for step in steps {
            let body = encode(step, &what)?;
            let (i, flow, e) = (step.integration.to_string(), step.flow.as_str(), step.entity.to_string());
            insert.execute(params![i, flow, e, sortable_time(&step.at), body]).ctx(|| what.clone())?;
        }
        let mut expire = tx
            .prepare_cached("DELETE FROM activity WHERE integration = ?1 AND flow = ?2 AND at < ?3")
            .ctx(|| what.clone())?;
        let cutoff = sortable_time(&(Utc::now() - Duration::days(ACTIVITY_RETENTION_DAYS)));
        let mut flows: Vec<(String, &str)> =
            steps.iter().map(|s| (s.integration.to_string(), s.flow.as_str())).collect();
        flows.sort();
        flows.dedup();
        for (i, flow) in flows {
            expire.execute(params![i, flow, cutoff]).ctx(|| what.clone())?;
        }
    }
    commit(tx, &what)
}

pub(super) fn of_entity(
    conn: &Connection,
    integration: &str,
    flow: &str,
    entity: &str,
    limit: usize,
) -> PortResult<Vec<Activity>> {
    let what = format!("entity_activity {integration} {flow} {entity}");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut out = rows(
        conn,
        "SELECT id, body FROM activity WHERE integration = ?1 AND flow = ?2 AND entity = ?3
         ORDER BY at DESC, id DESC LIMIT ?4",
        params![integration, flow, entity, limit],
        &what,
    )?;
    out.reverse();
    Ok(out)
}

pub(super) fn add_pace(conn: &mut Connection, integration: &str, flow: &str, b: &PaceBucket) -> PortResult<()> {
    let what = format!("add_pace {integration} {flow}");
    let n = |v: u64| to_i64(v, &what);
    let tx = immediate(conn, &what)?;
    tx.execute(
        "INSERT INTO pace (integration, flow, minute, read, written, settled) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (integration, flow, minute) DO UPDATE SET read = read + excluded.read,
         written = written + excluded.written, settled = settled + excluded.settled",
        params![integration, flow, sortable_time(&b.minute), n(b.read)?, n(b.written)?, n(b.settled)?],
    )
    .ctx(|| what.clone())?;
    let cutoff = sortable_time(&(Utc::now() - Duration::hours(PACE_RETENTION_HOURS)));
    tx.execute(
        "DELETE FROM pace WHERE integration = ?1 AND flow = ?2 AND minute < ?3",
        params![integration, flow, cutoff],
    )
    .ctx(|| what.clone())?;
    commit(tx, &what)
}

pub(super) fn pace_since(
    conn: &Connection,
    integration: &str,
    flow: &str,
    since: &DateTime<Utc>,
) -> PortResult<Vec<PaceBucket>> {
    let what = format!("pace_since {integration} {flow}");
    let mut stmt = conn
        .prepare_cached(
            "SELECT minute, read, written, settled FROM pace WHERE integration = ?1 AND flow = ?2 AND minute >= ?3
             ORDER BY minute",
        )
        .ctx(|| what.clone())?;
    let rows = stmt
        .query_map(params![integration, flow, sortable_time(since)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })
        .ctx(|| what.clone())?;
    let mut out = Vec::new();
    for row in rows {
        let (minute, read, written, settled) = row.ctx(|| what.clone())?;
        let minute = DateTime::parse_from_rfc3339(&minute)
            .map_err(|e| PortError::store(format!("{what}: corrupt minute {minute:?} in table `pace`: {e}")))?
            .with_timezone(&Utc);
        out.push(PaceBucket {
            minute,
            read: to_u64(read, &what)?,
            written: to_u64(written, &what)?,
            settled: to_u64(settled, &what)?,
        });
    }
    Ok(out)
}

fn rows(conn: &Connection, sql: &str, p: impl rusqlite::Params, what: &str) -> PortResult<Vec<Activity>> {
    let mut stmt = conn.prepare_cached(sql).ctx(|| what.to_string())?;
    let rows = stmt.query_map(p, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).ctx(|| what.to_string())?;
    let mut out = Vec::new();
    for row in rows {
        let (id, body) = row.ctx(|| what.to_string())?;
        out.push(decode(&body, "activity", format!("row {id}"))?);
    }
    Ok(out)
}
