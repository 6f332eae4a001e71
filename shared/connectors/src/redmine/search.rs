//! Listings of `/issues.json`: a read of changes (paged by position, see `paging`;
//! a negated filter subtracts the matching issues), listings by id, the search for an
//! issue by a custom field's value, the newest update of a scope, and Redmine's own
//! judgement of a filter.

use super::paging;
use super::wire::{self, Issue, IssueList};
use super::{err, RedmineConnector, MAX_PAGES, PAGE};
use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, PortResult, ReadToken};
use ferry_domain::{EntityId, EntityRef, EntitySnapshot, ErrorCategory, FieldKey, Scope};
use reqwest::Method;
use std::collections::BTreeSet;

impl RedmineConnector {
    /// One page of `/issues.json` (offset 0) and the server's clock when it answered.
    pub(super) async fn list_issues(
        &self,
        query: &[(String, String)],
        limit: usize,
    ) -> PortResult<(Vec<Issue>, Option<DateTime<Utc>>)> {
        let mut url = self.url("issues.json", &[])?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("limit", &limit.to_string());
        }
        let resp = self.http.send(Method::GET, url, None, None).await?;
        let page: IssueList = resp.json("Redmine issues")?;
        Ok((page.issues, resp.server_time()))
    }

    /// The listing of a read of changes at `position` (see [`paging`]): the issues the
    /// page takes, each with its `updated_on`, and the page's plan.
    pub(super) async fn list_changes(
        &self,
        base: &[(String, String)],
        position: paging::Position,
        limit: usize,
    ) -> PortResult<(Vec<(u64, DateTime<Utc>)>, paging::Plan, Option<DateTime<Utc>>)> {
        let mut position = position;
        // At most twice: a page that was one second is listed again within that second.
        for _ in 0..2 {
            let mut query = base.to_vec();
            query.extend(paging::listing_conditions(position));
            let (issues, as_of) = self.list_issues(&query, limit).await?;
            let listed = issues
                .iter()
                .map(|i| {
                    wire::parse_time(&i.updated_on).map(|t| (i.id, t)).ok_or_else(|| {
                        err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", i.id))
                    })
                })
                .collect::<PortResult<Vec<_>>>()?;
            let plan = paging::plan(position, &listed, limit);
            match plan.next {
                paging::Next::WithinNow(second) => position = paging::Position::Within { second, after: None },
                _ => {
                    let taken = plan.take.iter().map(|i| listed[*i]).collect();
                    return Ok((taken, plan, as_of));
                }
            }
        }
        Err(err(ErrorCategory::BadResponse, "Redmine listed one second twice as a whole page"))
    }

    /// The ids among `ids` that match the filter conditions `extra` (one listing).
    pub(super) async fn matching(
        &self,
        base: &[(String, String)],
        extra: &[(String, String)],
        ids: &[u64],
    ) -> PortResult<BTreeSet<u64>> {
        let mut query = with_filter(base, extra);
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        query.push(("issue_id".into(), list.join(",")));
        let (issues, _) = self.list_issues(&query, ids.len().max(1)).await?;
        Ok(issues.into_iter().map(|i| i.id).collect())
    }

    /// Issue ids of one listing query, in the server's order (`sort` applies). Offset
    /// paging: only for a sort that edits do not change (`id`); a read of changes pages
    /// by position instead ([`paging`]).
    pub(super) async fn list_ids(&self, query: &[(String, String)]) -> PortResult<Vec<u64>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let mut url = self.url("issues.json", &[])?;
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in query {
                    q.append_pair(k, v);
                }
                q.append_pair("offset", &offset.to_string()).append_pair("limit", &PAGE.to_string());
            }
            let page: IssueList = self.get_json(url, "Redmine issues").await?;
            let n = page.issues.len() as u64;
            for i in page.issues {
                // Offset paging over a changing list can repeat an issue.
                if seen.insert(i.id) {
                    out.push(i.id);
                }
            }
            offset += PAGE;
            if n == 0 || offset >= page.total_count {
                break;
            }
        }
        Ok(out)
    }

    pub(super) async fn scope_query(&self, scope: &Scope) -> PortResult<Vec<(String, String)>> {
        let tracker = self.tracker_id(scope).await?;
        Ok(vec![
            ("project_id".into(), scope.project.clone()),
            ("subproject_id".into(), "!*".into()),
            ("tracker_id".into(), tracker.to_string()),
            ("status_id".into(), "*".into()),
        ])
    }

    pub(super) async fn read_changes(
        &self,
        scope: &Scope,
        query: &ChangeQuery<'_>,
        from: Option<&ReadToken>,
    ) -> PortResult<ChangePage> {
        let extra = query.filter.map(|f| wire::filter_pairs(&f.condition)).transpose()?;
        let negate = query.filter.is_some_and(|f| f.negate);
        let base = self.scope_query(scope).await?;
        let listing = match (&extra, negate) {
            (Some(extra), false) => with_filter(&base, extra),
            _ => base.clone(),
        };
        let position = match from {
            // Second precision: truncate, then one more second, so the bound only widens.
            None => paging::Position::From { second: query.since.trunc_subsecs(0) - ChronoDuration::seconds(1) },
            Some(t) => t
                .decode()
                .ok_or_else(|| err(ErrorCategory::InvalidRequest, "the read position is not a Redmine position"))?,
        };
        let limit = query.page_size.clamp(1, PAGE as usize);
        let (listed, plan, as_of) = self.list_changes(&listing, position, limit).await?;
        let mut unchanged = 0;
        let mut wanted = Vec::with_capacity(listed.len());
        for (id, updated) in listed {
            if query.seen.get(&EntityId::new(id.to_string())).is_some_and(|s| s.covers_listed(updated)) {
                unchanged += 1;
            } else {
                wanted.push(id);
            }
        }
        if let (Some(extra), true) = (&extra, negate) {
            if !wanted.is_empty() {
                let excluded = self.matching(&base, extra, &wanted).await?;
                wanted.retain(|i| !excluded.contains(i));
            }
        }
        let mut snapshots = Vec::with_capacity(wanted.len());
        for id in wanted {
            if let Some(issue) = self.read_issue(id).await? {
                snapshots.push(self.snapshot(&issue, query.fields).await?);
            }
        }
        snapshots.sort_by(|a, b| {
            let n = |s: &EntitySnapshot| s.id.as_str().parse::<u64>().unwrap_or(0);
            a.updated.cmp(&b.updated).then_with(|| n(a).cmp(&n(b)))
        });
        let next = match plan.next {
            paging::Next::At(p) => Some(ReadToken::encode(&p)),
            _ => None,
        };
        Ok(ChangePage { snapshots, unchanged, through: plan.through, as_of, next })
    }

    pub(super) async fn search_field(
        &self,
        scope: &Scope,
        field: &FieldKey,
        value: &str,
    ) -> PortResult<Option<EntityRef>> {
        let cf = self.custom_field_id(field.as_str(), None).await?.ok_or_else(|| {
            err(
                ErrorCategory::Config,
                format!(
                    "{}: find by {:?}: only Redmine custom fields (cf_<id> or name) can be searched",
                    self.system,
                    field.as_str()
                ),
            )
        })?;
        let mut q = self.scope_query(scope).await?;
        q.push((format!("cf_{cf}"), value.to_string()));
        q.push(("sort".into(), "id:asc".into()));
        for id in self.list_ids(&q).await? {
            let Some(issue) = self.read_issue(id).await? else { continue };
            // The server's match can ignore case; the remote id must match exactly.
            let exact = issue
                .custom_fields
                .iter()
                .any(|c| c.id == cf && wire::custom_value(c).key_string().as_deref() == Some(value));
            if exact {
                return self.entity_ref(&issue).map(Some);
            }
        }
        Ok(None)
    }

    pub(super) async fn newest_update(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        let scope_q = self.scope_query(scope).await?;
        let mut url = self.url("issues.json", &[])?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in scope_q {
                q.append_pair(&k, &v);
            }
            q.append_pair("sort", "updated_on:desc,id:desc").append_pair("limit", "1");
        }
        let page: IssueList = self.get_json(url, "Redmine issues").await?;
        match page.issues.first() {
            Some(i) => wire::parse_time(&i.updated_on).map(Some).ok_or_else(|| {
                err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", i.id))
            }),
            None => Ok(None),
        }
    }

    pub(super) async fn check_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        let extra = wire::filter_pairs(condition)?;
        let base = self.scope_query(scope).await?;
        let mut url = self.url("issues.json", &[])?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in base.iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)) {
                q.append_pair(k, v);
            }
            for (k, v) in &extra {
                q.append_pair(k, v);
            }
            q.append_pair("limit", "1");
        }
        match self.get_json::<IssueList>(url, "Redmine issues").await {
            Ok(_) => Ok(()),
            Err(e) if e.category == ErrorCategory::InvalidRequest => Err(err(
                ErrorCategory::Config,
                format!("Redmine refuses the criteria filter {condition:?}: {}", e.message),
            )),
            Err(e) => Err(e),
        }
    }
}

/// A listing query with filter conditions: a condition replaces a scope condition of
/// the same name (`status_id=open` narrows the scope's `status_id=*`).
fn with_filter(base: &[(String, String)], extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> =
        base.iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)).cloned().collect();
    q.extend(extra.iter().cloned());
    q
}
