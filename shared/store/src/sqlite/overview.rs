//! [`StateStore::overview`](ferry_domain::ports::StateStore::overview) on SQLite: one
//! query per table over the integrations given (a JSON array bound as one parameter),
//! all in one read transaction.

use super::state::set_counter;
use super::{decode, sortable_time, to_u64, Ctx};
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{Flow, IntegrationId, PaceBucket, PortError, StateOverview, Watermark};
use rusqlite::{params, Connection, Row};

const WHAT: &str = "overview";
/// The integrations of the JSON array bound as `?1`.
const GIVEN: &str = "integration IN (SELECT value FROM json_each(?1))";

pub(super) fn read(conn: &mut Connection, ids: &str, pace_since: Option<DateTime<Utc>>) -> PortResult<StateOverview> {
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
    if let Some(since) = pace_since {
        // Both flows named, so the primary key (integration, flow, minute) serves the range.
        let sql = format!(
            "SELECT integration, flow, minute, read, written, settled FROM pace WHERE {GIVEN} AND flow IN (?2, ?3) \
             AND minute >= ?4 ORDER BY integration, flow, minute"
        );
        let [a, b] = Flow::BOTH.map(Flow::as_str);
        // Rows come grouped by direction (about 1,440 a day each): each group's key is
        // parsed once, and the group stored whole.
        let mut group: Option<Group> = None;
        for_each(&tx, &sql, params![ids, a, b, sortable_time(&since)], |r| {
            let (i, flow) = (text(r, 0)?, text(r, 1)?);
            if group.as_ref().is_none_or(|((gi, gf), _, _)| gi.as_bytes() != i || gf.as_bytes() != flow) {
                let raw = (String::from_utf8_lossy(i).into_owned(), String::from_utf8_lossy(flow).into_owned());
                if let Some((_, key, buckets)) = group.replace((raw, key(r)?, Vec::new())) {
                    out.pace.insert(key, buckets);
                }
            }
            let minute = minute_of(text(r, 2)?).ok_or_else(|| {
                let shown = String::from_utf8_lossy(text(r, 2).unwrap_or_default()).into_owned();
                PortError::store(format!("{WHAT}: corrupt minute {shown:?} in table `pace`"))
            })?;
            let count = |n| r.get::<_, i64>(n).ctx(what).and_then(|v| to_u64(v, WHAT));
            let bucket = PaceBucket { minute, read: count(3)?, written: count(4)?, settled: count(5)? };
            if let Some((_, _, buckets)) = group.as_mut() {
                buckets.push(bucket);
            }
            Ok(())
        })?;
        if let Some((_, key, buckets)) = group {
            out.pace.insert(key, buckets);
        }
    }
    Ok(out)
}

/// A text column's bytes, without copying them.
fn text<'r>(r: &'r Row<'_>, n: usize) -> PortResult<&'r [u8]> {
    r.get_ref(n).ctx(what)?.as_bytes().map_err(|e| PortError::store(format!("{WHAT}: column {n}: {e}")))
}

/// A minute as [`sortable_time`] writes it (`2026-12-07T03:20:00.000000000Z`), read
/// field by field: a day of buckets for every direction is tens of thousands of rows,
/// and a general RFC 3339 parse was most of the page's time. Anything else goes through
/// the general parse.
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

/// A direction's rows of table `pace`: its raw key, parsed key and buckets.
type Group = ((String, String), (IntegrationId, Flow), Vec<PaceBucket>);

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
