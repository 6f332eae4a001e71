//! An issue's history in a revision window, from its journals: a revision names its
//! newest journal, each journal detail becomes a field with its new value where that
//! value is comparable.

use super::wire::{self, IdName, Issue};
use super::{err, issue_id, RedmineConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, ErrorCategory, FieldKey, FieldValue, HistoryEntry, Scope, UserRef};

impl RedmineConnector {
    /// The caller's key for a journal's field: the requested key that names it (a
    /// custom field may be requested by name), else the journal's own.
    pub(super) async fn requested_key(
        &self,
        name: &str,
        requested: &[FieldKey],
        issue: &Issue,
    ) -> PortResult<FieldKey> {
        for k in requested {
            if k.as_str() == name {
                return Ok(k.clone());
            }
            if let Some(cf) = name.strip_prefix("cf_").and_then(|id| id.parse::<u64>().ok()) {
                if wire::core_value(issue, k.as_str()).is_none()
                    && self.custom_field_id(k.as_str(), Some(issue)).await? == Some(cf)
                {
                    return Ok(k.clone());
                }
            }
        }
        Ok(FieldKey::new(name))
    }

    /// A journal detail's new value in the form Ferry writes, where it says it plainly:
    /// texts, and statuses, priorities and assignees by their ids.
    pub(super) async fn detail_value(&self, key: &str, text: Option<String>) -> PortResult<Option<FieldValue>> {
        let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(Some(FieldValue::Null)) };
        let name_of = |list: &Vec<IdName>| {
            let id = text.parse::<u64>().ok();
            list.iter().find(|n| Some(n.id) == id).map(|n| FieldValue::Option(n.name.clone()))
        };
        Ok(match key {
            "subject" => Some(FieldValue::Text(text)),
            "status" => name_of(self.statuses().await?),
            "priority" => name_of(self.priorities().await?),
            "assigned_to" => Some(FieldValue::User(UserRef { id: text, email: None, display_name: None })),
            k if k.starts_with("cf_") => Some(FieldValue::Text(text)),
            // Description (Redmine's markup, written from HTML) and the rest: no comparable form.
            _ => None,
        })
    }

    pub(super) async fn read_history(
        &self,
        _scope: &Scope,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        let journal = |r: &str| {
            wire::revision_journal(r).ok_or_else(|| {
                err(ErrorCategory::InvalidRequest, format!("{r:?} is not a Redmine revision (updated_on#journal)"))
            })
        };
        let from = after.map(journal).transpose()?;
        let to = journal(through)?;
        let issue = self.must_read(issue_id(id)?).await?;
        let mut out = Vec::new();
        if from.is_none() {
            let author = match &issue.author {
                Some(a) => Some(self.with_email(wire::user_ref(a, None)).await),
                None => None,
            };
            out.push(HistoryEntry { author, created: true, at: None, fields: Vec::new() });
        }
        let mut journals: Vec<&wire::Journal> =
            issue.journals.iter().filter(|j| j.id > from.unwrap_or(0) && j.id <= to).collect();
        journals.sort_by_key(|j| j.id);
        for j in journals {
            let mut changed = Vec::new();
            for d in &j.details {
                let (name, text) = wire::detail_field(d);
                let key = self.requested_key(&name, fields, &issue).await?;
                let value = self.detail_value(&name, text).await?;
                changed.push((key, value));
            }
            let author = match &j.user {
                Some(u) => Some(self.with_email(wire::user_ref(u, None)).await),
                None => None,
            };
            let at = j.created_on.as_deref().and_then(wire::parse_time);
            out.push(HistoryEntry { author, created: false, at, fields: changed });
        }
        Ok(out)
    }
}
