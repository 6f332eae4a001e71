//! JQL: literals, field clause names, the query of a read of changes, and the date
//! literal a watermark becomes (minute precision, in the searcher's profile zone).

use chrono::{DateTime, Utc};
use ferry_domain::filter_scope::QueryLanguage;
use ferry_domain::ports::QueryFilter;
use ferry_domain::PortError;
use jiff::tz::{AmbiguousOffset, TimeZone as Zone};

/// A JQL string literal: `"…"` with `"` and `\` escaped.
pub fn jql_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JQL clause name of a field: `cf[10050]` for custom fields, the id otherwise.
pub fn jql_field(key: &str) -> String {
    match key.strip_prefix("customfield_") {
        Some(n) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => format!("cf[{n}]"),
        _ => key.to_string(),
    }
}

pub fn changed_since_jql(
    project: &str,
    issue_type: &str,
    since_literal: &str,
    filter: Option<&QueryFilter>,
) -> Result<String, PortError> {
    let mut jql = format!(
        "project = {} AND issuetype = {} AND updated >= {}",
        jql_str(project),
        jql_str(issue_type),
        jql_str(since_literal)
    );
    jql.push_str(&crate::filter::clause(QueryLanguage::Jql, filter)?);
    jql.push_str(" ORDER BY updated ASC, key ASC");
    Ok(jql)
}

/// The issues of a scope whose `field` holds `value`: `~` (a word search) for text,
/// `=` otherwise; the caller keeps only exact matches.
pub fn field_match_jql(project: &str, issue_type: &str, field: &str, text: bool, value: &str) -> String {
    let op = if text { "~" } else { "=" };
    format!(
        "project = {} AND issuetype = {} AND {} {op} {} ORDER BY key ASC",
        jql_str(project),
        jql_str(issue_type),
        jql_field(field),
        jql_str(value)
    )
}

/// The issues of a scope, the most recently updated first.
pub fn newest_first_jql(project: &str, issue_type: &str) -> String {
    format!("project = {} AND issuetype = {} ORDER BY updated DESC", jql_str(project), jql_str(issue_type))
}

/// The JQL date literal (`yyyy/MM/dd HH:mm`, read in the searcher's profile zone) for
/// `since`, floored to the minute. If the local minute is ambiguous or skipped (DST),
/// it steps back an hour at a time so the window never narrows.
pub fn jql_since_literal(since: DateTime<Utc>, tz: &Zone) -> String {
    let since_s = since.timestamp();
    let not_after = |offset: jiff::tz::Offset, local: jiff::civil::DateTime| {
        offset.to_timestamp(local).is_ok_and(|t| t.as_second() <= since_s)
    };
    let mut at = since_s;
    for _ in 0..4 {
        let Some(local) = local_minute(at, tz) else { break };
        let ok = match tz.to_ambiguous_timestamp(local).offset() {
            AmbiguousOffset::Unambiguous { offset } => not_after(offset, local),
            AmbiguousOffset::Fold { before, after } => not_after(before, local) && not_after(after, local),
            AmbiguousOffset::Gap { .. } => false,
        };
        if ok {
            return jql_minute(local);
        }
        at -= 3600;
    }
    match local_minute(at, tz) {
        Some(local) => jql_minute(local),
        // Outside jiff's years -9999..=9999: no real watermark is.
        None => since.format("%Y/%m/%d %H:%M").to_string(),
    }
}

/// The civil minute (seconds dropped) of a UTC second in `tz`.
fn local_minute(secs: i64, tz: &Zone) -> Option<jiff::civil::DateTime> {
    let local = tz.to_datetime(jiff::Timestamp::from_second(secs).ok()?);
    local.with().second(0).subsec_nanosecond(0).build().ok()
}

fn jql_minute(d: jiff::civil::DateTime) -> String {
    format!("{:04}/{:02}/{:02} {:02}:{:02}", d.year(), d.month(), d.day(), d.hour(), d.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::ErrorCategory;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn jql_since_is_local_to_the_user_and_floored_to_the_minute() {
        let berlin = Zone::get("Europe/Berlin").unwrap();
        let ny = Zone::get("America/New_York").unwrap();
        let cases = [
            ("2026-11-26T18:24:50.9Z", &berlin, "2026/11/26 19:24"),
            ("2026-11-26T18:24:00Z", &berlin, "2026/11/26 19:24"),
            ("2026-07-01T00:00:59Z", &berlin, "2026/07/01 02:00"),
            ("2026-11-26T03:10:00Z", &ny, "2026/11/25 22:10"),
            ("2026-11-26T23:59:59Z", &Zone::UTC, "2026/11/26 23:59"),
            // 02:30 local on 2026-10-25 exists twice in Berlin: step back an hour so
            // the later reading cannot narrow the window.
            ("2026-10-25T00:30:30Z", &berlin, "2026/10/25 01:30"),
            ("2026-10-25T01:30:30Z", &berlin, "2026/10/25 02:30"),
        ];
        for (since, tz, want) in cases {
            assert_eq!(jql_since_literal(utc(since), tz), want, "{since} in {tz:?}");
        }
    }

    #[test]
    fn changed_since_jql_quotes_and_applies_filters() {
        let filter = |c: &str, negate: bool| QueryFilter { condition: c.into(), negate };
        assert_eq!(
            changed_since_jql("APP", "Bug", "2026/11/26 19:24", None).unwrap(),
            "project = \"APP\" AND issuetype = \"Bug\" AND updated >= \"2026/11/26 19:24\" ORDER BY updated ASC, key ASC"
        );
        assert_eq!(
            changed_since_jql("A\"B", "Bug", "x", Some(&filter("labels = sync", true))).unwrap(),
            "project = \"A\\\"B\" AND issuetype = \"Bug\" AND updated >= \"x\" AND NOT (labels = sync) ORDER BY updated ASC, key ASC"
        );
        assert!(changed_since_jql("A", "B", "x", Some(&filter("priority = High", false)))
            .unwrap()
            .contains(" AND (priority = High) "));
        let e =
            changed_since_jql("APP", "Bug", "x", Some(&filter("labels = sync) OR (project = HR", false))).unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config);
        assert!(e.message.contains("closes a parenthesis"), "{e}");
        assert_eq!(jql_field("customfield_10050"), "cf[10050]");
        assert_eq!(jql_field("summary"), "summary");
    }

    #[test]
    fn field_match_searches_words_in_text_and_values_elsewhere() {
        assert_eq!(
            field_match_jql("APP", "Bug", "customfield_10050", true, "acme/App/42"),
            "project = \"APP\" AND issuetype = \"Bug\" AND cf[10050] ~ \"acme/App/42\" ORDER BY key ASC"
        );
        assert_eq!(
            field_match_jql("APP", "Bug", "priority", false, "High"),
            "project = \"APP\" AND issuetype = \"Bug\" AND priority = \"High\" ORDER BY key ASC"
        );
        assert_eq!(newest_first_jql("APP", "Bug"), "project = \"APP\" AND issuetype = \"Bug\" ORDER BY updated DESC");
    }
}
