//! WIQL text. Reads of changes page by position with `$top` (see [`Start`]), so no
//! result comes near the server's 20,000-item cap (not in the spec; docs/system-apis.md §3.1).

use super::wire::format_time;
use chrono::{DateTime, Utc};
use ferry_domain::filter_scope::QueryLanguage;
use ferry_domain::ports::QueryFilter;
use ferry_domain::{ErrorCategory, PortError};

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

/// Where a page of a read of changes starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Items changed at or after this instant.
    Since(DateTime<Utc>),
    /// Items after this position in the read's order (changed date, then id).
    After(DateTime<Utc>, u64),
}

/// Items of the type from `start` on, ordered by changed date, then id.
pub(crate) fn changed_query(
    entity_type: &str,
    start: Start,
    filter: Option<&QueryFilter>,
) -> Result<String, PortError> {
    let start = match start {
        Start::Since(t) => format!("[System.ChangedDate] >= {}", literal(&format_time(t))),
        Start::After(t, id) => {
            let t = literal(&format_time(t));
            format!("([System.ChangedDate] > {t} OR ([System.ChangedDate] = {t} AND [System.Id] > {id}))")
        }
    };
    let mut q = format!("SELECT [System.Id] FROM WorkItems WHERE {} AND {start}", scope_clause(entity_type));
    q.push_str(&crate::filter::clause(QueryLanguage::Wiql, filter)?);
    q.push_str(" ORDER BY [System.ChangedDate] ASC, [System.Id] ASC");
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration as ChronoDuration, TimeZone};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap() + ChronoDuration::seconds(secs)
    }

    #[test]
    fn changed_query_escapes_type_and_appends_filter() {
        let f = QueryFilter { condition: "[System.State] = 'Active'".into(), negate: true };
        let q = changed_query("Bug's", Start::Since(at(0)), Some(&f)).unwrap();
        assert!(q.contains("[System.WorkItemType] = 'Bug''s'"), "{q}");
        assert!(q.contains(" AND [System.ChangedDate] >= '2026-11-26T18:00:00.000Z'"), "{q}");
        assert!(q.contains(" AND NOT ([System.State] = 'Active')"), "{q}");
        assert!(q.ends_with("ORDER BY [System.ChangedDate] ASC, [System.Id] ASC"), "{q}");
        let plain = changed_query("Bug", Start::Since(at(0)), None).unwrap();
        assert!(!plain.contains("NOT"), "{plain}");
    }

    #[test]
    fn a_page_after_a_position_continues_past_its_id_within_its_instant() {
        let q = changed_query("Bug", Start::After(at(60), 42), None).unwrap();
        assert!(
            q.contains(
                " AND ([System.ChangedDate] > '2026-11-26T18:01:00.000Z' OR ([System.ChangedDate] = '2026-11-26T18:01:00.000Z' AND [System.Id] > 42))"
            ),
            "{q}"
        );
    }

    #[test]
    fn field_references_reject_injection() {
        assert_eq!(field_ref("Custom.JiraKey").unwrap(), "[Custom.JiraKey]");
        assert!(field_ref("A] = 1 OR [B").is_err());
        assert!(field_ref("").is_err());
        let q = field_equals_query("Bug", "Custom.JiraKey", "O'Neil").unwrap();
        assert!(q.contains("[Custom.JiraKey] = 'O''Neil'"), "{q}");
    }
}
