//! WIQL text and the time-window narrowing that keeps the 20,000-item cap from losing
//! results.

use super::wire::format_time;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ferry_domain::filter_scope::QueryLanguage;
use ferry_domain::ports::QueryFilter;
use ferry_domain::{ErrorCategory, PortError};
use std::collections::BTreeSet;
use std::future::Future;

/// Server cap of one WIQL result (not in the spec; CRIB §3.1).
pub(crate) const WIQL_CAP: usize = 20_000;

/// A WIQL string literal: single quotes doubled.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A field reference `[X]`; reference names are letters, digits, `_` and `.`.
pub(crate) fn field_ref(field: &str) -> Result<String, PortError> {
    let ok = !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(format!("[{field}]"))
    } else {
        Err(PortError::new(
            ErrorCategory::InvalidRequest,
            format!("{field:?} is not an Azure DevOps field reference name"),
        ))
    }
}

fn scope_clause(entity_type: &str) -> String {
    format!("[System.TeamProject] = @project AND [System.WorkItemType] = {}", literal(entity_type))
}

/// Items of the type changed in `[lower, upper)`, oldest first.
pub(crate) fn changed_query(
    entity_type: &str,
    lower: DateTime<Utc>,
    upper: Option<DateTime<Utc>>,
    filter: Option<&QueryFilter>,
) -> Result<String, PortError> {
    let mut q = format!(
        "SELECT [System.Id] FROM WorkItems WHERE {} AND [System.ChangedDate] >= {}",
        scope_clause(entity_type),
        literal(&format_time(lower))
    );
    if let Some(u) = upper {
        q.push_str(&format!(" AND [System.ChangedDate] < {}", literal(&format_time(u))));
    }
    q.push_str(&crate::filter::clause(QueryLanguage::Wiql, filter)?);
    q.push_str(" ORDER BY [System.ChangedDate] ASC");
    Ok(q)
}

pub(crate) fn field_equals_query(entity_type: &str, field: &str, value: &str) -> Result<String, PortError> {
    Ok(format!(
        "SELECT [System.Id] FROM WorkItems WHERE {} AND {} = {} ORDER BY [System.Id] ASC",
        scope_clause(entity_type),
        field_ref(field)?,
        literal(value)
    ))
}

pub(crate) fn newest_query(entity_type: Option<&str>) -> String {
    let scope = match entity_type {
        Some(t) => scope_clause(t),
        None => "[System.TeamProject] = @project".to_string(),
    };
    format!("SELECT [System.Id] FROM WorkItems WHERE {scope} ORDER BY [System.ChangedDate] DESC, [System.Id] DESC")
}

/// What one windowed WIQL returned.
pub(crate) enum Window {
    Ids {
        ids: Vec<u64>,
        /// Server time of the query (`asOf`), a split point for an open window.
        as_of: Option<DateTime<Utc>>,
    },
    /// VS402337: the result would exceed the cap.
    Capped,
}

/// Whether a WIQL error is the size cap (VS402337).
pub(crate) fn is_cap_error(e: &PortError) -> bool {
    e.message.contains("VS402337")
}

/// Runs `run(lower, upper)` over `[since, ∞)` and splits any window that hits `cap`
/// in halves until every window fits, so no id is lost. Returns the distinct ids.
pub(crate) async fn collect_ids<F, Fut>(
    since: DateTime<Utc>,
    cap: usize,
    mut run: F,
) -> Result<BTreeSet<u64>, PortError>
where
    F: FnMut(DateTime<Utc>, Option<DateTime<Utc>>) -> Fut,
    Fut: Future<Output = Result<Window, PortError>>,
{
    let mut ids = BTreeSet::new();
    let mut windows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = vec![(since, None)];
    while let Some((lower, upper)) = windows.pop() {
        let as_of = match run(lower, upper).await? {
            Window::Ids { ids: found, .. } if found.len() < cap => {
                ids.extend(found);
                continue;
            }
            Window::Ids { as_of, .. } => as_of,
            Window::Capped => None,
        };
        match upper {
            None => {
                // An open window is closed at the server's query time; the rest after it.
                let pivot =
                    as_of.filter(|t| *t > lower).unwrap_or_else(Utc::now).max(lower + ChronoDuration::milliseconds(1));
                windows.push((pivot, None));
                windows.push((lower, Some(pivot)));
            }
            Some(upper) => {
                let span = upper - lower;
                if span <= ChronoDuration::milliseconds(1) {
                    return Err(PortError::new(
                        ErrorCategory::InvalidRequest,
                        format!(
                            "more than {cap} work items changed within one millisecond at {}: the query cannot be narrowed further",
                            format_time(lower)
                        ),
                    ));
                }
                let mid = lower + span / 2;
                windows.push((mid, Some(upper)));
                windows.push((lower, Some(mid)));
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap() + ChronoDuration::seconds(secs)
    }

    #[test]
    fn changed_query_escapes_type_and_appends_filter() {
        let f = QueryFilter { condition: "[System.State] = 'Active'".into(), negate: true };
        let q = changed_query("Bug's", at(0), Some(at(60)), Some(&f)).unwrap();
        assert!(q.contains("[System.WorkItemType] = 'Bug''s'"), "{q}");
        assert!(
            q.contains("[System.ChangedDate] >= '2026-11-26T18:00:00.000Z' AND [System.ChangedDate] < '2026-11-26T18:01:00.000Z'"),
            "{q}"
        );
        assert!(q.contains(" AND NOT ([System.State] = 'Active')"), "{q}");
        assert!(q.ends_with("ORDER BY [System.ChangedDate] ASC"), "{q}");
        let plain = changed_query("Bug", at(0), None, None).unwrap();
        assert!(!plain.contains(" < "), "{plain}");
        assert!(!plain.contains("NOT"), "{plain}");
        let breakout =
            QueryFilter { condition: "[System.Tags] CONTAINS 'x') OR ([System.Id] > 0".into(), negate: false };
        let e = changed_query("Bug", at(0), None, Some(&breakout)).unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config);
        assert!(e.message.contains("closes a parenthesis"), "{e}");
    }

    #[test]
    fn field_references_reject_injection() {
        assert_eq!(field_ref("Custom.JiraKey").unwrap(), "[Custom.JiraKey]");
        assert!(field_ref("A] = 1 OR [B").is_err());
        assert!(field_ref("").is_err());
        let q = field_equals_query("Bug", "Custom.JiraKey", "O'Neil").unwrap();
        assert!(q.contains("[Custom.JiraKey] = 'O''Neil'"), "{q}");
    }

    /// A fake WIQL over items at given seconds, capped like the server.
    async fn fake(
        items: &[(u64, i64)],
        cap: usize,
        error_on_cap: bool,
        lower: DateTime<Utc>,
        upper: Option<DateTime<Utc>>,
    ) -> Result<Window, PortError> {
        let found: Vec<u64> = items
            .iter()
            .filter(|(_, s)| at(*s) >= lower && upper.iter().all(|u| at(*s) < *u))
            .map(|(id, _)| *id)
            .collect();
        if found.len() > cap && error_on_cap {
            return Ok(Window::Capped);
        }
        Ok(Window::Ids { ids: found.into_iter().take(cap).collect(), as_of: Some(at(10_000)) })
    }

    #[tokio::test]
    async fn capped_windows_are_split_until_nothing_is_lost() {
        let items: Vec<(u64, i64)> = (1..=50).map(|i| (i, (i as i64 * 37) % 500)).collect();
        for error_on_cap in [false, true] {
            let mut calls = 0;
            let ids = collect_ids(at(0), 7, |l, u| {
                calls += 1;
                fake(&items, 7, error_on_cap, l, u)
            })
            .await
            .unwrap();
            assert_eq!(ids.len(), 50, "error_on_cap={error_on_cap}");
            assert!(calls > 2);
        }
    }

    #[tokio::test]
    async fn a_window_below_the_cap_is_one_query() {
        let items = [(1, 5), (2, 6)];
        let mut calls = 0;
        let ids = collect_ids(at(0), 7, |l, u| {
            calls += 1;
            fake(&items, 7, false, l, u)
        })
        .await
        .unwrap();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn an_unsplittable_window_is_an_error_not_a_silent_loss() {
        let items: Vec<(u64, i64)> = (1..=10).map(|i| (i, 5)).collect();
        let err = collect_ids(at(0), 3, |l, u| fake(&items, 3, true, l, u)).await.unwrap_err();
        assert_eq!(err.category, ErrorCategory::InvalidRequest);
        assert!(err.message.contains("cannot be narrowed"));
    }
}
