//! Jira's timestamps: reading every form the wire carries, writing the one Jira takes.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::Value;

/// Parses a Jira timestamp: `2026-11-26T19:24:50.123+0100` (offset without a colon),
/// RFC 3339, or an epoch number (seconds or milliseconds; the bulk changelog example).
pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_time_str(s),
        Value::Number(n) => n.as_i64().and_then(epoch).or_else(|| n.as_f64().and_then(|f| epoch(f as i64))),
        _ => None,
    }
}

pub fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    if let Ok(n) = s.parse::<i64>() {
        return epoch(n);
    }
    None
}

/// Epoch seconds or milliseconds (values beyond year 5138 in seconds are read as ms).
fn epoch(n: i64) -> Option<DateTime<Utc>> {
    if n.abs() >= 100_000_000_000 {
        Utc.timestamp_millis_opt(n).single()
    } else {
        Utc.timestamp_opt(n, 0).single()
    }
}

/// A date-only value (`2026-11-26`) as midnight UTC.
pub fn parse_date_str(s: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| Utc.from_utc_datetime(&n))
}

/// The wire form Jira accepts for datetime fields.
pub fn format_time(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timestamps_parse_in_every_wire_form() {
        let cases: Vec<(Value, Option<&str>)> = vec![
            (json!("2026-11-26T19:24:50.123+0100"), Some("2026-11-26T18:24:50.123Z")),
            (json!("2023-06-24T19:24:50.000+0000"), Some("2023-06-24T19:24:50Z")),
            (json!("2026-11-26T19:24:50+0100"), Some("2026-11-26T18:24:50Z")),
            (json!("2026-11-26T19:24:50.5+01:00"), Some("2026-11-26T18:24:50.5Z")),
            (json!("2026-11-26T18:24:50Z"), Some("2026-11-26T18:24:50Z")),
            (json!(1492070429), Some("2017-04-13T08:00:29Z")),
            (json!(1492070429123i64), Some("2017-04-13T08:00:29.123Z")),
            (json!("1492070429123"), Some("2017-04-13T08:00:29.123Z")),
            (json!("yesterday"), None),
            (json!(null), None),
            (json!({"a": 1}), None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_time(&input), want.map(utc), "{input}");
        }
    }
}
