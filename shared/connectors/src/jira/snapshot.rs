//! An issue as Ferry sees it: its snapshot (fields converted by their schema, the
//! revision, who changed it last), and the fields a read asks Jira for.

use super::errors::bad_response;
use super::schema::FieldMeta;
use super::values::to_field_value;
use super::wire::{Issue, User};
use super::JiraConnector;
use crate::adf;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, EntityRef, EntitySnapshot, ErrorCategory, FieldKey, FieldValue, UserRef};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// How an issue was read: the endpoint (for errors) and whether its changelog was
/// asked for (then it decides who changed the issue last, and must be there).
#[derive(Debug, Clone, Copy)]
pub(super) struct Read {
    pub endpoint: &'static str,
    pub changelog: bool,
}

/// Field ids sent to search / get: the requested ones plus what a snapshot needs.
pub(super) fn wire_fields(fields: &[FieldKey]) -> Vec<String> {
    if fields.is_empty() {
        // The port's convention: no field list means every field.
        return vec!["*all".to_string()];
    }
    let mut out: Vec<String> = Vec::new();
    for f in fields.iter().map(FieldKey::as_str).chain(["updated", "created", "creator", "reporter"]) {
        if !out.iter().any(|x| x == f) {
            out.push(f.to_string());
        }
    }
    out
}

impl JiraConnector {
    pub(super) fn snapshot(
        &self,
        issue: &Issue,
        fields: &[FieldKey],
        metas: &HashMap<String, FieldMeta>,
        read: Read,
    ) -> PortResult<EntitySnapshot> {
        let key = issue.key().to_string();
        let updated =
            issue.updated().ok_or_else(|| bad_response("issue", format!("{key} has no readable `updated`")))?;
        if read.changelog {
            issue.histories(read.endpoint)?;
        }
        Ok(EntitySnapshot {
            id: EntityId::new(issue.id.0.clone()),
            url: format!("{}/browse/{key}", self.browse_base),
            revision: updated.timestamp_millis().to_string(),
            changed_by: changed_by(issue, updated, read.endpoint)?,
            fields: field_values(issue, fields, metas)?,
            key,
            updated,
        })
    }

    /// `GET /issue/{id}` with `fields` and the changelog; `None` when there is no such issue.
    pub(super) async fn read_issue(&self, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        let metas = self.field_metas().await?;
        let url = self.api(
            &["issue", id.as_str()],
            &[("fields", wire_fields(fields).join(",")), ("expand", "changelog".into())],
        )?;
        match self.get_json::<Issue>(url, "issue").await {
            Ok(issue) => {
                let mut snap = self.snapshot(&issue, fields, metas, Read { endpoint: "issue", changelog: true })?;
                self.resolve_media(&issue, &mut snap).await?;
                Ok(Some(snap))
            }
            Err(e) if e.category == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The rich-text values of `snap` whose ADF shows media, rendered again with their
    /// images resolved among the issue's attachments ([`super::media`]): one read of the
    /// attachments and one look-up per attachment not known yet. A snapshot without media
    /// costs no request.
    pub(super) async fn resolve_media(&self, issue: &Issue, snap: &mut EntitySnapshot) -> PortResult<()> {
        let docs: Vec<(FieldKey, &Value)> = snap
            .fields
            .iter()
            .filter(|(_, v)| matches!(v, FieldValue::RichText(_)))
            .filter_map(|(k, _)| issue.fields.get(k.as_str()).map(|raw| (k.clone(), raw)))
            .filter(|(_, raw)| !adf::media_refs(raw).is_empty())
            .collect();
        if docs.is_empty() {
            return Ok(());
        }
        let files = self.issue_files(&snap.id).await?;
        let all: Vec<&Value> = docs.iter().map(|(_, raw)| *raw).collect();
        let media = self.media_for_reading(&files, &all).await?;
        for (key, raw) in docs {
            let html = adf::adf_to_html_with(raw, &media)
                .map_err(|e| bad_response("issue", format!("{} field {key}: {e}", snap.key)))?;
            snap.fields.insert(key, FieldValue::RichText(html));
        }
        Ok(())
    }

    /// Where issue `id` is now (its revision), read after a write.
    pub(super) async fn issue_ref(&self, id: &str) -> PortResult<EntityRef> {
        let url = self.api(&["issue", id], &[("fields", "updated".into())])?;
        let issue: Issue = self.get_json(url, "issue").await?;
        let snap = self.snapshot(&issue, &[], &HashMap::new(), Read { endpoint: "issue", changelog: false })?;
        Ok(EntityRef { id: snap.id, key: snap.key, url: snap.url, revision: snap.revision, updated: snap.updated })
    }
}

/// The requested fields' values. Every field (none requested) is best effort: system
/// fields Ferry does not model (votes, watches, ...) are left out rather than failing
/// the read.
fn field_values(
    issue: &Issue,
    fields: &[FieldKey],
    metas: &HashMap<String, FieldMeta>,
) -> PortResult<BTreeMap<FieldKey, ferry_domain::FieldValue>> {
    let mut values = BTreeMap::new();
    if fields.is_empty() {
        for (name, raw) in &issue.fields {
            let kind = metas.get(name.as_str()).map(|m| m.kind);
            if let Ok(v) = to_field_value(raw, kind) {
                values.insert(FieldKey::new(name.clone()), v);
            }
        }
    }
    for fk in fields {
        // Jira returns every requested field the caller may see, `null` when empty;
        // one it leaves out (no permission, not in the issue's field context) is
        // missing, not empty, and stays out of the snapshot.
        let Some(raw) = issue.fields.get(fk.as_str()) else { continue };
        let kind = metas.get(fk.as_str()).map(|m| m.kind);
        let v =
            to_field_value(raw, kind).map_err(|e| bad_response("issue", format!("{} field {fk}: {e}", issue.key())))?;
        values.insert(fk.clone(), v);
    }
    Ok(values)
}

/// Who made the issue's latest change: the author of the newest changelog history at
/// (or within a second before) `updated`, otherwise the creator or reporter.
pub(super) fn changed_by(issue: &Issue, updated: DateTime<Utc>, endpoint: &str) -> PortResult<Option<UserRef>> {
    let threshold = updated - ChronoDuration::seconds(1);
    let newest = issue
        .changelog
        .iter()
        .flat_map(|c| &c.histories)
        .filter_map(|h| h.created.filter(|c| *c >= threshold).map(|c| (c, h)))
        .max_by_key(|(c, _)| *c)
        .and_then(|(_, h)| h.author.as_ref().and_then(User::to_ref));
    match newest {
        Some(u) => Ok(Some(u)),
        None => creator(issue, endpoint),
    }
}

/// The issue's creator, else its reporter.
pub(super) fn creator(issue: &Issue, endpoint: &str) -> PortResult<Option<UserRef>> {
    for field in ["creator", "reporter"] {
        if let Some(u) = issue.system_field::<User>(field, endpoint)?.and_then(|u| u.to_ref()) {
            return Ok(Some(u));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jira::schema::meta;
    use crate::jira::test_support::connector;
    use ferry_domain::FieldValue;
    use serde_json::{json, Value};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn user(id: &str) -> Value {
        json!({"accountId": id, "displayName": id, "accountType": "atlassian"})
    }

    fn issue(v: Value) -> Issue {
        serde_json::from_value(v).unwrap()
    }

    const SEARCH: Read = Read { endpoint: "search/jql", changelog: true };

    #[test]
    fn changed_by_is_the_newest_history_author_near_updated() {
        let updated = utc("2026-11-26T18:24:50.500Z");
        let cases = [
            (
                "newest history at updated",
                json!({"id": "1", "fields": {"creator": user("c")}, "changelog": {"histories": [
                    {"created": "2026-11-26T19:24:50.000+0100", "author": user("h1")},
                    {"created": "2026-11-26T19:24:50.500+0100", "author": user("h2")},
                    {"created": "2026-11-26T19:00:00.000+0100", "author": user("old")}]}}),
                Some("h2"),
            ),
            (
                "history too old falls back to creator",
                json!({"id": "1", "fields": {"creator": user("c"), "reporter": user("r")}, "changelog": {"histories": [
                    {"created": "2026-11-26T19:20:00.000+0100", "author": user("old")}]}}),
                Some("c"),
            ),
            ("no creator: reporter", json!({"id": "1", "fields": {"reporter": user("r")}}), Some("r")),
            (
                "epoch created",
                json!({"id": "1", "fields": {}, "changelog": {"histories": [{"created": 1795717490500i64, "author": user("e")}]}}),
                Some("e"),
            ),
            ("nothing known", json!({"id": "1", "fields": {}}), None),
        ];
        for (name, i, want) in cases {
            assert_eq!(changed_by(&issue(i), updated, "issue").unwrap().map(|u| u.id).as_deref(), want, "{name}");
        }
        let odd = issue(json!({"id": "1", "key": "APP-1", "fields": {"creator": "someone"}}));
        let e = changed_by(&odd, updated, "issue").unwrap_err();
        assert!(e.message.contains("issue APP-1: `fields.creator`"), "{e}");
    }

    #[test]
    fn wire_fields_add_what_snapshots_need_once() {
        let f = wire_fields(&[FieldKey::new("summary"), FieldKey::new("updated")]);
        assert_eq!(f, vec!["summary", "updated", "created", "creator", "reporter"]);
        assert_eq!(wire_fields(&[]), vec!["*all"]);
    }

    #[test]
    fn snapshot_reads_revision_url_and_fields_from_a_search_hit() {
        let c = connector();
        let metas: HashMap<String, FieldMeta> = [
            meta("summary", json!({"type": "string", "system": "summary"})),
            meta("description", json!({"type": "string", "system": "description"})),
            meta("priority", json!({"type": "priority", "system": "priority"})),
        ]
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
        let hit = issue(json!({
            "id": "10042", "key": "APP-7", "self": "x",
            "fields": {
                "summary": "Main order flow broken",
                "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Order entry fails"}]}]},
                "priority": {"id": "2", "name": "High"},
                "assignee": null,
                "updated": "2026-11-26T19:24:50.123+0100",
                "creator": user("5b1")
            },
            "changelog": {"histories": []}
        }));
        let fields = [
            FieldKey::new("summary"),
            FieldKey::new("description"),
            FieldKey::new("priority"),
            FieldKey::new("labels"),
            FieldKey::new("assignee"),
        ];
        let s = c.snapshot(&hit, &fields, &metas, SEARCH).unwrap();
        assert_eq!(s.id.as_str(), "10042");
        assert_eq!(s.key, "APP-7");
        assert_eq!(s.url, "https://acme.atlassian.net/browse/APP-7");
        assert_eq!(s.updated, utc("2026-11-26T18:24:50.123Z"));
        assert_eq!(s.revision, s.updated.timestamp_millis().to_string());
        assert_eq!(s.changed_by.map(|u| u.id).as_deref(), Some("5b1"));
        assert_eq!(s.fields[&FieldKey::new("description")], FieldValue::RichText("<p>Order entry fails</p>".into()));
        assert_eq!(s.fields[&FieldKey::new("priority")], FieldValue::Option("High".into()));
        assert_eq!(s.fields[&FieldKey::new("assignee")], FieldValue::Null, "an explicit null is empty");
        assert_eq!(s.fields.get(&FieldKey::new("labels")), None, "a field Jira left out is missing, not empty");
        let broken = issue(json!({"id": "1", "key": "APP-1", "fields": {"updated": "never"}}));
        assert_eq!(c.snapshot(&broken, &[], &metas, SEARCH).unwrap_err().category, ErrorCategory::BadResponse);
    }

    #[test]
    fn a_search_hit_without_the_changelog_it_asked_for_is_no_snapshot() {
        // Without it the creator would pass for the last editor, and a person's edit
        // for Ferry's own echo.
        let c = connector();
        let hit = issue(json!({"id": "1", "key": "APP-1", "fields": {"updated": "2026-11-26T19:24:50.123+0100"}}));
        let e = c.snapshot(&hit, &[], &HashMap::new(), SEARCH).unwrap_err();
        assert_eq!(e.category, ErrorCategory::BadResponse);
        assert!(e.message.contains("jira search/jql: issue APP-1 has no `changelog.histories` array"), "{e}");
        let plain = Read { endpoint: "issue", changelog: false };
        assert!(c.snapshot(&hit, &[], &HashMap::new(), plain).is_ok(), "not asked for: not needed");
    }
}
