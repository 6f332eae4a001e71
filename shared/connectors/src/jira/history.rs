//! An issue's history in a revision window, from its changelog. A Jira revision is the
//! issue's `updated` in milliseconds, and every changelog entry's `created` is the
//! `updated` it gave the issue, so the window is a range of entry times.
//!
//! `GET /issue/{id}?expand=changelog` holds the newest entries; while older ones exist
//! and the oldest at hand is still inside the window, they are paged from
//! `/issue/{id}/changelog` (oldest first) backwards.

use super::schema::{FieldMeta, Kind};
use super::snapshot::creator;
use super::wire::{ChangeItem, Changelog, ChangelogPage, Issue, User};
use super::JiraConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, ErrorCategory, FieldKey, FieldValue, HistoryEntry, PortError, UserRef};
use std::collections::HashMap;

/// Entries per page of `/issue/{id}/changelog`.
const CHANGELOG_PAGE: u64 = 100;

impl JiraConnector {
    /// The history of issue `id` in the revision window `(after, through]`; from its
    /// creation when `after` is `None`.
    pub(super) async fn read_history(
        &self,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        let issue = self.issue_with_changelog(id).await?;
        self.history_in(&issue, after, through, fields).await
    }

    /// The entries through `through` back to the last one that sets each of `fields`
    /// (its key as [`entry`] matches it): the issue's newest entries, and older pages only
    /// while a field has none yet.
    pub(super) async fn read_last_changes(
        &self,
        id: &EntityId,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        let issue = self.issue_with_changelog(id).await?;
        let through = revision_millis(through)?;
        let metas = self.field_metas().await?;
        let all_set = |entries: &[Changelog]| {
            fields.iter().all(|f| entries.iter().any(|h| in_window(h, None, through) && sets(h, f)))
        };
        let entries = self.paged_back(&issue, |entries| !all_set(entries)).await?;
        Ok(entries.iter().filter(|h| in_window(h, None, through)).map(|h| entry(h, fields, metas)).collect())
    }

    async fn issue_with_changelog(&self, id: &EntityId) -> PortResult<Issue> {
        let url = self.api(
            &["issue", id.as_str()],
            &[("fields", "created,creator,reporter".into()), ("expand", "changelog".into())],
        )?;
        self.get_json(url, "issue").await
    }

    /// The changelog entries `issue` holds, oldest first, with older pages of
    /// `/issue/{id}/changelog` put before them while `more` says the entries at hand are
    /// not enough.
    async fn paged_back(&self, issue: &Issue, more: impl Fn(&[Changelog]) -> bool) -> PortResult<Vec<Changelog>> {
        let id = EntityId::new(issue.id.0.clone());
        let mut entries = issue.histories("issue changelog")?.to_vec();
        let total = issue.changelog.as_ref().and_then(|c| c.total).unwrap_or(entries.len() as u64);
        entries.sort_by_key(|h| entry_millis(h).unwrap_or(i64::MIN));
        let mut missing = total.saturating_sub(entries.len() as u64);
        while missing > 0 && more(&entries) {
            let start = missing.saturating_sub(CHANGELOG_PAGE);
            let mut older = self.changelog_page(&id, start, missing - start).await?;
            if older.is_empty() {
                break;
            }
            older.append(&mut entries);
            entries = older;
            missing = start;
        }
        Ok(entries)
    }

    /// The history in the window `(after, through]` of an issue read (or returned by an
    /// edit) with its changelog and creator: the entries it holds, and older pages only
    /// while the window reaches past them.
    pub(super) async fn history_in(
        &self,
        issue: &Issue,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        let after = after.map(revision_millis).transpose()?;
        let through = revision_millis(through)?;
        let metas = self.field_metas().await?;
        // Older entries exist and the oldest one at hand is still inside the window.
        let entries =
            self.paged_back(issue, |entries| entries.first().is_none_or(|h| in_window(h, after, through))).await?;
        let mut out = Vec::new();
        if after.is_none() {
            out.push(HistoryEntry { author: creator(issue, "issue")?, created: true, at: None, fields: Vec::new() });
        }
        out.extend(entries.iter().filter(|h| in_window(h, after, through)).map(|h| entry(h, fields, metas)));
        Ok(out)
    }

    async fn changelog_page(&self, id: &EntityId, start: u64, max: u64) -> PortResult<Vec<Changelog>> {
        let url = self.api(
            &["issue", id.as_str(), "changelog"],
            &[("startAt", start.to_string()), ("maxResults", max.to_string())],
        )?;
        let page: ChangelogPage = self.get_json(url, "issue changelog").await?;
        Ok(page.values)
    }
}

/// A revision as milliseconds.
pub(super) fn revision_millis(r: &str) -> PortResult<i64> {
    r.trim().parse::<i64>().map_err(|_| {
        PortError::new(
            ErrorCategory::InvalidRequest,
            format!("{r:?} is not a Jira revision (the issue's updated time in milliseconds)"),
        )
    })
}

/// When a changelog entry was made, in milliseconds; `None` when unreadable.
fn entry_millis(h: &Changelog) -> Option<i64> {
    h.created.map(|t| t.timestamp_millis())
}

/// Whether entry `h` is inside the window `(after, through]`. An entry whose time is
/// unreadable counts as inside: it may be someone else's change.
fn in_window(h: &Changelog, after: Option<i64>, through: i64) -> bool {
    entry_millis(h).is_none_or(|t| after.is_none_or(|a| t > a) && t <= through)
}

/// Whether entry `h` sets `field` (under the key [`entry`] would give it).
fn sets(h: &Changelog, field: &FieldKey) -> bool {
    h.items.iter().any(|item| field.as_str().eq_ignore_ascii_case(item.id()))
}

/// One changelog entry as a history entry: each item's field under the requested key
/// that names it, with its new value where the changelog gives it comparably.
fn entry(h: &Changelog, requested: &[FieldKey], metas: &HashMap<String, FieldMeta>) -> HistoryEntry {
    let fields = h
        .items
        .iter()
        .map(|item| {
            let id = item.id();
            let key = requested
                .iter()
                .find(|k| k.as_str().eq_ignore_ascii_case(id))
                .cloned()
                .unwrap_or_else(|| FieldKey::new(id));
            (key, new_value(item, metas.get(id).map(|m| m.kind)))
        })
        .collect();
    HistoryEntry { author: h.author.as_ref().and_then(User::to_ref), created: false, at: h.created, fields }
}

/// A changelog item's new value in the form Ferry writes, for the kinds whose
/// `to` / `toString` say it unambiguously; `None` otherwise (rich text, lists, dates).
fn new_value(item: &ChangeItem, kind: Option<Kind>) -> Option<FieldValue> {
    let to_text = item.to_text.as_deref();
    let to = item.to.as_deref();
    let empty = to_text.is_none_or(str::is_empty) && to.is_none_or(str::is_empty);
    match kind? {
        _ if empty => Some(FieldValue::Null),
        Kind::Text => to_text.map(|s| FieldValue::Text(s.to_string())),
        Kind::Number => to_text.and_then(|s| s.trim().parse::<f64>().ok()).map(FieldValue::Number),
        Kind::Named | Kind::OptionValue => to_text.map(|s| FieldValue::Option(s.to_string())),
        Kind::User => to.map(|id| FieldValue::User(UserRef { id: id.to_string(), email: None, display_name: None })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn metas() -> HashMap<String, FieldMeta> {
        [("summary", Kind::Text), ("priority", Kind::Named), ("assignee", Kind::User), ("description", Kind::RichText)]
            .into_iter()
            .map(|(id, kind)| (id.to_string(), FieldMeta { id: id.into(), name: id.into(), kind }))
            .collect()
    }

    fn changelog(v: Value) -> Changelog {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn changelog_items_become_fields_with_comparable_values() {
        let h = changelog(json!({
            "id": "10001", "created": "2026-11-26T19:24:50.123+0100",
            "author": {"accountId": "acc-1", "emailAddress": "alice@acme.test"},
            "items": [
                {"field": "summary", "fieldId": "summary", "toString": "New title"},
                {"field": "priority", "fieldId": "priority", "to": "2", "toString": "High"},
                {"field": "assignee", "fieldId": "assignee", "to": "acc-2", "toString": "Bob"},
                {"field": "description", "fieldId": "description", "toString": "text"},
                {"field": "Story Points", "fieldId": "customfield_10052", "toString": "5"},
                {"field": "assignee", "fieldId": "assignee", "to": null, "toString": null}
            ]
        }));
        let requested = [FieldKey::new("customfield_10052")];
        let e = entry(&h, &requested, &metas());
        assert_eq!(e.author.map(|a| a.id), Some("acc-1".to_string()));
        assert!(!e.created);
        let user = |id: &str| FieldValue::User(UserRef { id: id.into(), email: None, display_name: None });
        assert_eq!(
            e.fields,
            vec![
                (FieldKey::new("summary"), Some(FieldValue::Text("New title".into()))),
                (FieldKey::new("priority"), Some(FieldValue::Option("High".into()))),
                (FieldKey::new("assignee"), Some(user("acc-2"))),
                (FieldKey::new("description"), None),
                (FieldKey::new("customfield_10052"), None),
                (FieldKey::new("assignee"), Some(FieldValue::Null)),
            ]
        );
    }

    #[test]
    fn the_window_is_exclusive_below_and_inclusive_above() {
        let at = |ms: i64| {
            let t = chrono::DateTime::from_timestamp_millis(ms).expect("time");
            changelog(json!({"created": super::super::time::format_time(&t)}))
        };
        let base = 1_795_000_000_000;
        assert!(!in_window(&at(base), Some(base), base + 10));
        assert!(in_window(&at(base + 1), Some(base), base + 10));
        assert!(in_window(&at(base + 10), Some(base), base + 10));
        assert!(!in_window(&at(base + 11), Some(base), base + 10));
        assert!(in_window(&at(base), None, base + 10), "from the creation");
        assert!(in_window(&changelog(json!({"created": "soon"})), Some(base), base + 10), "unreadable: counted");
        assert_eq!(revision_millis(" 1795000000123 ").ok(), Some(1_795_000_000_123));
        assert!(revision_millis("12#3").is_err());
    }
}
