//! [`StateStore::overview`](ferry_domain::ports::StateStore::overview) on SQLite: one
//! query per table over the integrations given (a JSON array bound as one parameter),
//! all in one read transaction.

use super::state::set_counter;
use super::{decode, sortable_time, to_u64, Ctx};
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{Flow, FlowPace, IntegrationId, PaceWindow, PortError, StateOverview, Watermark};
use rusqlite::{params, Connection, Row};

const WHAT: &str = "overview";
/// The integrations of the JSON array bound as `?1`.
const GIVEN: &str = "integration IN (SELECT value FROM json_each(?1))";

pub(super) fn read(conn: &mut Connection, ids: &str, pace: Option<PaceWindow>) -> PortResult<StateOverview> {
    let tx = conn.transaction().ctx(|| WHAT.to_string())?;
    let mut out = StateOverview::default();
    for_each(
        &tx,
        &format!("SELECT integration, flow, version, body FROM watermarks WHERE {GIVEN}"),
        params![ids],
        |r| {
            let (i, flow) = key(r)?;
            let mut wm: Watermark =
                decode(&r.get::<_, String>(3).ctx(what)?, "watermarks", format!("integration {i} flow {flow}"))?;
            wm.version = to_u64(r.get(2).ctx(what)?, WHAT)?;
            out.watermarks.insert((i, flow), wm);
            Ok(())
        },
    )?;
    for_each(
        &tx,
        &format!("SELECT integration, flow, counter, value FROM counters WHERE {GIVEN}"),
        params![ids],
        |r| {
            let (i, flow) = key(r)?;
            let counts = out.counts.entry((i, flow)).or_default();
            set_counter(counts, &r.get::<_, String>(2).ctx(what)?, to_u64(r.get(3).ctx(what)?, WHAT)?, WHAT)
        },
    )?;
    for_each(
        &tx,
        &format!("SELECT integration, COUNT(*) FROM links WHERE {GIVEN} GROUP BY integration"),
        params![ids],
        |r| {
            out.links.insert(integration(r)?, to_u64(r.get(1).ctx(what)?, WHAT)?);
            Ok(())
        },
    )?;
    if let Some(window) = pace {
        read_pace(&tx, ids, window, &mut out)?;
    }
    Ok(out)
}

/// Each direction's pace, added up by SQLite where the buckets are: a day of minute
/// buckets for every direction is tens of thousands of rows, and handing each over to be
/// decoded and summed here was most of the console's integrations page. This is
/// [`flow_pace`](ferry_domain::activity::flow_pace) in SQL (`sortable_time` text sorts
/// as the times do): one pass adds up each direction's changes written in the hour
/// before `now`, read and settled; only a direction with changes in flight (more read
/// than settled) has its buckets read, oldest first, up to the one where the changes
/// read so far first outnumber all those settled.
const PACE_SUMS: &str = "
    SELECT integration, flow, SUM(CASE WHEN minute >= ?5 AND minute <= ?6 THEN written ELSE 0 END),
           SUM(read), SUM(settled)
    FROM pace WHERE integration IN (SELECT value FROM json_each(?1)) AND flow IN (?2, ?3) AND minute >= ?4
    GROUP BY integration, flow";
const PACE_READS: &str =
    "SELECT minute, read FROM pace WHERE integration = ?1 AND flow = ?2 AND minute >= ?3 ORDER BY minute";

fn read_pace(tx: &Connection, ids: &str, w: PaceWindow, out: &mut StateOverview) -> PortResult<()> {
    let [a, b] = Flow::BOTH.map(Flow::as_str);
    let hour_ago = sortable_time(&(w.now - chrono::Duration::hours(1)));
    let (since, now) = (sortable_time(&w.since), sortable_time(&w.now));
    let mut in_flight = Vec::new();
    for_each(tx, PACE_SUMS, params![ids, a, b, since, hour_ago, now], |r| {
        let count = |n| r.get::<_, i64>(n).ctx(what).and_then(|v| to_u64(v, WHAT));
        let key = key(r)?;
        let (read, settled) = (count(3)?, count(4)?);
        if read > settled {
            in_flight.push((key.clone(), settled));
        }
        out.pace.insert(key, FlowPace { written_last_hour: count(2)?, oldest_in_flight: None });
        Ok(())
    })?;
    for ((integration, flow), settled) in in_flight {
        let oldest = oldest_in_flight(tx, &integration, flow, &since, settled)?;
        if let Some(pace) = out.pace.get_mut(&(integration, flow)) {
            pace.oldest_in_flight = oldest;
        }
    }
    Ok(())
}

/// The first minute from `since` on where the changes read so far outnumber `settled`.
fn oldest_in_flight(
    tx: &Connection,
    integration: &IntegrationId,
    flow: Flow,
    since: &str,
    settled: u64,
) -> PortResult<Option<DateTime<Utc>>> {
    let mut stmt = tx.prepare_cached(PACE_READS).ctx(what)?;
    let mut rows = stmt.query(params![integration.as_str(), flow.as_str(), since]).ctx(what)?;
    let mut read = 0u64;
    while let Some(r) = rows.next().ctx(what)? {
        read += to_u64(r.get(1).ctx(what)?, WHAT)?;
        if read > settled {
            let m: String = r.get(0).ctx(what)?;
            let minute = minute_of(m.as_bytes());
            return minute
                .map(Some)
                .ok_or_else(|| PortError::store(format!("{WHAT}: corrupt minute {m:?} in table `pace`")));
        }
    }
    Ok(None)
}

/// A minute as [`sortable_time`] writes it (`2026-12-07T03:20:00.000000000Z`), read
/// field by field; anything else goes through the general RFC 3339 parse.
fn minute_of(s: &[u8]) -> Option<DateTime<Utc>> {
    let num = |from: usize, to: usize| -> Option<u32> {
        s.get(from..to)?.iter().try_fold(0u32, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
    };
    let fixed = s.len() == 30 && &s[4..5] == b"-" && &s[10..11] == b"T" && &s[19..] == b".000000000Z";
    if fixed && &s[7..8] == b"-" && &s[13..14] == b":" && &s[16..17] == b":" {
        let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
        return Some(date.and_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?.and_utc());
    }
    let s = std::str::from_utf8(s).ok()?;
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn what() -> String {
    WHAT.to_string()
}

/// Runs `sql` and hands each row to `each`.
fn for_each(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut each: impl FnMut(&Row<'_>) -> PortResult<()>,
) -> PortResult<()> {
    let mut stmt = conn.prepare_cached(sql).ctx(what)?;
    let mut rows = stmt.query(params).ctx(what)?;
    while let Some(row) = rows.next().ctx(what)? {
        each(row)?;
    }
    Ok(())
}

fn integration(r: &Row<'_>) -> PortResult<IntegrationId> {
    let id: String = r.get(0).ctx(what)?;
    IntegrationId::parse(&id).map_err(|e| PortError::store(format!("{WHAT}: corrupt integration id {id:?}: {e}")))
}

/// The row's integration and flow (its first two columns).
fn key(r: &Row<'_>) -> PortResult<(IntegrationId, Flow)> {
    let flow: String = r.get(1).ctx(what)?;
    let flow = Flow::parse(&flow).ok_or_else(|| PortError::store(format!("{WHAT}: corrupt flow {flow:?}")))?;
    Ok((integration(r)?, flow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::PaceBucket;

    #[test]
    fn minutes_read_back_as_they_were_written() {
        let t = Utc::now();
        let minute = PaceBucket::at(t).minute;
        assert_eq!(minute_of(sortable_time(&minute).as_bytes()), Some(minute));
        let odd = t + chrono::Duration::nanoseconds(7);
        assert_eq!(minute_of(sortable_time(&odd).as_bytes()), Some(odd), "any RFC 3339 time still reads");
        assert_eq!(minute_of(b"2026-02-30T00:00:00.000000000Z"), None, "no such day");
        assert_eq!(minute_of(b"2026-12-07T0x:00:00.000000000Z"), None);
        assert_eq!(minute_of(b"yesterday"), None);
    }
}
