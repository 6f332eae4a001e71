//! Entities' steps through Ferry (table `activity`): read per entity (its timeline)
//! and per direction (throughput and lag). Rows older than the retention go when a
//! direction records new ones.

use super::{commit, decode, encode, immediate, sortable_time, Ctx};
use chrono::{DateTime, Duration, Utc};
use ferry_domain::activity::ACTIVITY_RETENTION_DAYS;
use ferry_domain::ports::PortResult;
use ferry_domain::Activity;
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

pub(super) fn of_flow(
    conn: &Connection,
    integration: &str,
    flow: &str,
    since: &DateTime<Utc>,
) -> PortResult<Vec<Activity>> {
    let what = format!("flow_activity {integration} {flow}");
    rows(
        conn,
        "SELECT id, body FROM activity WHERE integration = ?1 AND flow = ?2 AND at >= ?3 ORDER BY at, id",
        params![integration, flow, sortable_time(since)],
        &what,
    )
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
