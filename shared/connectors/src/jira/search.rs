//! Reads by JQL through `POST /search/jql`, paged by `nextPageToken`: a read of
//! changes, the search for an issue by a field's value, the newest update of a scope,
//! and Jira's own judgement of a criteria filter (`/jql/parse`).

use super::errors::bad_response;
use super::jql;
use super::schema::Kind;
use super::snapshot::{wire_fields, Read};
use super::values::search_key;
use super::wire::{ParsedQueries, SearchPage};
use super::JiraConnector;
use crate::http::HttpResponse;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, PortResult, QueryFilter, ReadToken};
use ferry_domain::{EntityId, EntityRef, EntitySnapshot, ErrorCategory, FieldKey, PortError, Scope};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Issues per page of a search for one issue.
const PAGE_SIZE: u64 = 50;
/// Pages a search for one issue reads at most.
const MAX_MATCH_PAGES: usize = 20;
/// Issues per page of a read of changes: what `search/jql` returns at most when more
/// than ids are asked for.
const CHANGES_PAGE_MAX: usize = 100;
const ENDPOINT: &str = "search/jql";
/// Search hits of a read of changes come with their changelog (who changed them last).
const CHANGES: Read = Read { endpoint: ENDPOINT, changelog: true };

/// Where a read of changes continues.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct JiraPosition {
    /// The JQL `updated >=` literal the read started with.
    pub since: String,
    /// The search's `nextPageToken`.
    pub token: String,
}

/// A `search/jql` request body.
fn search_body(jql: &str, fields: Vec<String>, changelog: bool, max: usize, token: Option<&str>) -> Value {
    let mut body = json!({"jql": jql, "fields": fields, "maxResults": max});
    if changelog {
        body["expand"] = json!("changelog");
    }
    if let Some(t) = token {
        body["nextPageToken"] = json!(t);
    }
    body
}

impl JiraConnector {
    async fn search(&self, body: &Value) -> PortResult<(SearchPage, HttpResponse)> {
        let resp = self.send(Method::POST, self.api(&["search", "jql"], &[])?, Some(body)).await?;
        Ok((super::wire::object(&resp.body, ENDPOINT)?, resp))
    }

    /// One page of a read of changes (see `Connector::changes`).
    pub(super) async fn read_changes(
        &self,
        scope: &Scope,
        query: &ChangeQuery<'_>,
        from: Option<&ReadToken>,
    ) -> PortResult<ChangePage> {
        let (literal, token) = match from {
            None => (jql::jql_since_literal(query.since, &self.time_zone().await?), None),
            Some(t) => {
                let p: JiraPosition = t.decode().ok_or_else(|| {
                    PortError::new(ErrorCategory::InvalidRequest, "the read position is not a Jira search position")
                })?;
                (p.since, Some(p.token))
            }
        };
        let jql = jql::changed_since_jql(&scope.project, &scope.entity_type, &literal, query.filter)?;
        let metas = self.field_metas().await?;
        let max = query.page_size.clamp(1, CHANGES_PAGE_MAX);
        let body = search_body(&jql, wire_fields(query.fields), true, max, token.as_deref());
        let (page, resp) = self.search(&body).await?;
        let mut snapshots: Vec<EntitySnapshot> = Vec::new();
        let mut index: HashMap<EntityId, usize> = HashMap::new();
        for issue in &page.issues {
            let mut snap = self.snapshot(issue, query.fields, metas, CHANGES)?;
            self.resolve_media(issue, &mut snap).await?;
            merge_snapshot(&mut snapshots, &mut index, snap);
        }
        snapshots.sort_by_key(|s| s.updated);
        let through = snapshots.iter().map(|s| s.updated).max();
        let next = next_position(&page, token.as_deref(), literal)?.map(|p| ReadToken::encode(&p));
        Ok(ChangePage { snapshots, unchanged: 0, through, as_of: resp.server_time(), next })
    }

    /// The issue of `scope` whose `field` holds exactly `value`.
    pub(super) async fn search_field(
        &self,
        scope: &Scope,
        field: &FieldKey,
        value: &str,
    ) -> PortResult<Option<EntityRef>> {
        let meta = self.meta(field).await?;
        let text = matches!(meta.kind, Kind::Text | Kind::RichText);
        let jql = jql::field_match_jql(&scope.project, &scope.entity_type, field.as_str(), text, value);
        let fields = [field.clone()];
        let metas = self.field_metas().await?;
        let read = Read { endpoint: ENDPOINT, changelog: false };
        let mut token: Option<String> = None;
        for _ in 0..MAX_MATCH_PAGES {
            let body = search_body(&jql, wire_fields(&fields), false, PAGE_SIZE as usize, token.as_deref());
            let (page, _) = self.search(&body).await?;
            for issue in &page.issues {
                let snap = self.snapshot(issue, &fields, metas, read)?;
                // `~` is a word search: keep only exact matches.
                let hit = snap.fields.get(field).and_then(search_key);
                if hit.as_deref().map(str::trim) == Some(value.trim()) {
                    let EntitySnapshot { id, key, url, revision, updated, .. } = snap;
                    return Ok(Some(EntityRef { id, key, url, revision, updated }));
                }
            }
            match page.next_page_token {
                Some(t) if page.is_last != Some(true) => token = Some(t),
                _ => break,
            }
        }
        Ok(None)
    }

    /// When the most recently updated issue of `scope` was updated.
    pub(super) async fn newest_update(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        let jql = jql::newest_first_jql(&scope.project, &scope.entity_type);
        let (page, _) = self.search(&search_body(&jql, vec!["updated".into()], false, 1, None)).await?;
        match page.issues.first() {
            None => Ok(None),
            Some(i) => i.updated().map(Some).ok_or_else(|| bad_response(ENDPOINT, "issue without `updated`")),
        }
    }

    /// Asks Jira to parse the read-of-changes query with `condition` in it.
    pub(super) async fn check_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        let tz = self.time_zone().await?;
        let literal = jql::jql_since_literal(Utc::now(), &tz);
        let filter = QueryFilter { condition: condition.to_string(), negate: false };
        let jql = jql::changed_since_jql(&scope.project, &scope.entity_type, &literal, Some(&filter))?;
        let url = self.api(&["jql", "parse"], &[("validation", "strict".into())])?;
        let parsed: ParsedQueries = self.post_json(url, &json!({ "queries": [jql] }), "jql/parse").await?;
        let errors = parsed.queries.into_iter().next().map(|q| q.errors).unwrap_or_default();
        if errors.is_empty() {
            return Ok(());
        }
        Err(PortError::new(
            ErrorCategory::Config,
            format!("Jira refuses the criteria filter {condition:?}: {}", errors.join("; ")),
        ))
    }
}

/// Where the read continues after `page`: `None` on the last page. A token handed out
/// again is a server going round in circles.
fn next_position(page: &SearchPage, token: Option<&str>, since: String) -> PortResult<Option<JiraPosition>> {
    let next_token = page.next_page_token.as_deref().filter(|t| !t.is_empty());
    let is_last = page.is_last.unwrap_or(next_token.is_none());
    match next_token {
        Some(t) if !is_last => {
            if token == Some(t) {
                return Err(bad_response(ENDPOINT, "page token repeated"));
            }
            Ok(Some(JiraPosition { since, token: t.to_string() }))
        }
        _ => Ok(None),
    }
}

/// Adds a search hit; an issue edited while we page can show up twice (on a later
/// page, with a newer `updated`): keep one entry, the newest.
fn merge_snapshot(out: &mut Vec<EntitySnapshot>, index: &mut HashMap<EntityId, usize>, snap: EntitySnapshot) {
    match index.get(&snap.id) {
        Some(&i) => {
            if snap.updated >= out[i].updated {
                out[i] = snap;
            }
        }
        None => {
            index.insert(snap.id.clone(), out.len());
            out.push(snap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn snap(id: &str, updated: &str) -> EntitySnapshot {
        EntitySnapshot {
            id: EntityId::new(id),
            key: format!("APP-{id}"),
            revision: utc(updated).timestamp_millis().to_string(),
            updated: utc(updated),
            changed_by: None,
            url: String::new(),
            fields: BTreeMap::new(),
        }
    }

    #[test]
    fn an_issue_seen_on_two_pages_is_kept_once_at_its_newest() {
        let mut out = Vec::new();
        let mut index = HashMap::new();
        for s in [
            snap("1", "2026-11-26T10:00:00Z"),
            snap("2", "2026-11-26T10:01:00Z"),
            snap("1", "2026-11-26T10:05:00Z"),
            snap("2", "2026-11-26T09:00:00Z"),
        ] {
            merge_snapshot(&mut out, &mut index, s);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].updated, utc("2026-11-26T10:05:00Z"));
        assert_eq!(out[1].updated, utc("2026-11-26T10:01:00Z"));
    }

    #[test]
    fn a_read_continues_while_jira_hands_out_a_new_token() {
        let page = |token: Option<&str>, is_last: Option<bool>| SearchPage {
            issues: vec![],
            is_last,
            next_page_token: token.map(String::from),
        };
        let next =
            |p: &SearchPage, from: Option<&str>| next_position(p, from, "since".into()).map(|p| p.map(|p| p.token));
        assert_eq!(next(&page(Some("t2"), Some(false)), Some("t1")).unwrap().as_deref(), Some("t2"));
        assert_eq!(next(&page(Some("t2"), None), None).unwrap().as_deref(), Some("t2"), "a token alone: more");
        assert_eq!(next(&page(Some("t2"), Some(true)), None).unwrap(), None, "isLast wins");
        assert_eq!(next(&page(None, Some(false)), None).unwrap(), None, "no token: nothing to continue with");
        assert_eq!(next(&page(Some(""), None), None).unwrap(), None);
        let e = next(&page(Some("t1"), Some(false)), Some("t1")).unwrap_err();
        assert_eq!(e.category, ErrorCategory::BadResponse);
        assert!(e.message.contains("page token repeated"), "{e}");
    }

    #[test]
    fn search_bodies_ask_for_the_changelog_only_when_reading_changes() {
        let b = search_body("q", vec!["summary".into()], true, 100, Some("t"));
        assert_eq!(
            b,
            json!({"jql": "q", "fields": ["summary"], "expand": "changelog", "maxResults": 100, "nextPageToken": "t"})
        );
        assert_eq!(search_body("q", vec![], false, 1, None), json!({"jql": "q", "fields": [], "maxResults": 1}));
    }
}
