//! The sync-state records read by key ([`StateKey`]): one function per kind, all run
//! inside the one read transaction of a `get_many`.

use super::{decode, to_u64, Ctx};
use ferry_domain::ports::{PortResult, StateKey, StateRecord};
use ferry_domain::{EntityId, FailureRecord, Fingerprint, Flow, IntegrationId, Link, PairFingerprints, Side};
use rusqlite::{params, Connection, OptionalExtension};

/// The record of `key`, `None` when it has none.
pub(super) fn read(conn: &Connection, key: &StateKey) -> PortResult<Option<StateRecord>> {
    Ok(match key {
        StateKey::Link(i, side, e) => link(conn, i, *side, e)?.map(StateRecord::Link),
        StateKey::Fingerprint(i, side, e) => fingerprint(conn, i, *side, e)?.map(StateRecord::Fingerprint),
        StateKey::Failure(i, flow, e) => failure(conn, i, *flow, e)?.map(|f| StateRecord::Failure(Box::new(f))),
        StateKey::OpenFailures(i, flow) => Some(StateRecord::OpenFailures(open_failures(conn, i, *flow)?)),
        StateKey::Pair(i, left) => pair(conn, i, left)?.map(|p| StateRecord::Pair(Box::new(p))),
    })
}

fn link(conn: &Connection, integration: &IntegrationId, side: Side, entity: &EntityId) -> PortResult<Option<Link>> {
    let sql = match side {
        Side::Left => "SELECT body FROM links WHERE integration = ?1 AND left_id = ?2",
        Side::Right => "SELECT body FROM links WHERE integration = ?1 AND right_id = ?2",
    };
    let body: Option<String> = conn
        .query_row(sql, params![integration.as_str(), entity.as_str()], |r| r.get(0))
        .optional()
        .ctx(|| format!("read link {integration} {} {entity}", side.as_str()))?;
    body.map(|b| decode(&b, "links", format!("integration {integration} {} entity {entity}", side.as_str())))
        .transpose()
}

fn fingerprint(
    conn: &Connection,
    integration: &IntegrationId,
    side: Side,
    entity: &EntityId,
) -> PortResult<Option<Fingerprint>> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM fingerprints WHERE integration = ?1 AND side = ?2 AND entity = ?3",
            params![integration.as_str(), side.as_str(), entity.as_str()],
            |r| r.get(0),
        )
        .optional()
        .ctx(|| format!("read fingerprint {integration} {} {entity}", side.as_str()))?;
    body.map(|b| decode(&b, "fingerprints", format!("integration {integration} {} entity {entity}", side.as_str())))
        .transpose()
}

fn failure(
    conn: &Connection,
    integration: &IntegrationId,
    flow: Flow,
    entity: &EntityId,
) -> PortResult<Option<FailureRecord>> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT id, body FROM failures WHERE integration = ?1 AND flow = ?2 AND entity = ?3",
            params![integration.as_str(), flow.as_str(), entity.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ctx(|| format!("read failure {integration} {flow} {entity}"))?;
    row.map(|(id, b)| decode(&b, "failures", format!("failure {id}"))).transpose()
}

/// A count over the failures table (its integration index).
fn open_failures(conn: &Connection, integration: &IntegrationId, flow: Flow) -> PortResult<u64> {
    let what = format!("count open failures {integration} {flow}");
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM failures WHERE integration = ?1 AND flow = ?2",
            params![integration.as_str(), flow.as_str()],
            |r| r.get(0),
        )
        .ctx(|| what.clone())?;
    to_u64(n, &what)
}

/// A pair's fingerprints are the two entities' rows, its version is in `pair_versions`
/// (none: 0, a pair linked a moment ago whose record `put_pair` has not written yet).
fn pair(conn: &Connection, integration: &IntegrationId, left: &EntityId) -> PortResult<Option<PairFingerprints>> {
    let what = format!("read pair {integration} {left}");
    let Some(l) = link(conn, integration, Side::Left, left)? else { return Ok(None) };
    let version: Option<i64> = conn
        .query_row(
            "SELECT version FROM pair_versions WHERE integration = ?1 AND left_id = ?2",
            params![integration.as_str(), left.as_str()],
            |r| r.get(0),
        )
        .optional()
        .ctx(|| what.clone())?;
    Ok(Some(PairFingerprints {
        left: fingerprint(conn, integration, Side::Left, left)?,
        right: fingerprint(conn, integration, Side::Right, &l.right.id)?,
        version: version.map(|v| to_u64(v, &what)).transpose()?.unwrap_or(0),
    }))
}
