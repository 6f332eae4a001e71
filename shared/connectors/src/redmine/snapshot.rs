//! An issue as Ferry sees it: read with its journals, its snapshot (core fields,
//! custom fields by id or name, users with their e-mails), its revision.

use super::wire::{self, Issue, IssueEnvelope, CORE_FIELDS};
use super::{err, issue_id, RedmineConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, EntityRef, EntitySnapshot, ErrorCategory, FieldKey, FieldValue, Scope};
use std::collections::BTreeMap;

impl RedmineConnector {
    pub(super) async fn read_issue(&self, id: u64) -> PortResult<Option<Issue>> {
        let url = self.url(&format!("issues/{id}.json"), &[("include", "journals,relations")])?;
        match self.get_json::<IssueEnvelope>(url, "Redmine issue").await {
            Ok(e) => Ok(Some(e.issue)),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The issue with what collaboration reads: journals, attachments, relations (the
    /// parent comes with every issue). `None` when it does not exist.
    pub(super) async fn read_collab(&self, id: u64) -> PortResult<Option<Issue>> {
        let url = self.url(&format!("issues/{id}.json"), &[("include", "journals,attachments,relations")])?;
        match self.get_json::<IssueEnvelope>(url, "Redmine issue").await {
            Ok(e) => Ok(Some(e.issue)),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn must_read_collab(&self, id: u64) -> PortResult<Issue> {
        self.read_collab(id)
            .await?
            .ok_or_else(|| err(ErrorCategory::NotFound, format!("{}: Redmine issue {id} not found", self.system)))
    }

    pub(super) async fn must_read(&self, id: u64) -> PortResult<Issue> {
        self.read_issue(id)
            .await?
            .ok_or_else(|| err(ErrorCategory::NotFound, format!("{}: Redmine issue {id} not found", self.system)))
    }

    pub(super) async fn snapshot(&self, issue: &Issue, requested: &[FieldKey]) -> PortResult<EntitySnapshot> {
        let updated = wire::parse_time(&issue.updated_on).ok_or_else(|| {
            err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", issue.id))
        })?;
        let mut fields = BTreeMap::new();
        let keys: Vec<String> = if requested.is_empty() {
            CORE_FIELDS
                .iter()
                .map(|s| s.to_string())
                .chain(issue.custom_fields.iter().map(|c| format!("cf_{}", c.id)))
                .collect()
        } else {
            requested.iter().map(|k| k.as_str().to_string()).collect()
        };
        for key in keys {
            let value = match wire::core_value(issue, &key) {
                Some(v) => v,
                None => {
                    let Some(id) = self.custom_field_id(&key, Some(issue)).await? else { continue };
                    match issue.custom_fields.iter().find(|c| c.id == id) {
                        Some(cv) => wire::custom_value(cv),
                        None => continue,
                    }
                }
            };
            let value = match value {
                FieldValue::User(u) => FieldValue::User(self.with_email(u).await),
                v => v,
            };
            fields.insert(FieldKey::new(key), value);
        }
        let changed_by = match wire::changed_by(issue) {
            Some(n) => Some(self.with_email(wire::user_ref(n, None)).await),
            None => None,
        };
        Ok(EntitySnapshot {
            id: EntityId::new(issue.id.to_string()),
            key: issue.id.to_string(),
            revision: wire::revision(issue),
            updated,
            changed_by,
            url: self.issue_url(issue.id),
            fields,
        })
    }

    pub(super) fn entity_ref(&self, issue: &Issue) -> PortResult<EntityRef> {
        Ok(EntityRef {
            id: EntityId::new(issue.id.to_string()),
            key: issue.id.to_string(),
            url: self.issue_url(issue.id),
            revision: wire::revision(issue),
            updated: wire::parse_time(&issue.updated_on).ok_or_else(|| {
                err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", issue.id))
            })?,
        })
    }

    pub(super) async fn get_issue(
        &self,
        _scope: &Scope,
        id: &EntityId,
        fields: &[FieldKey],
    ) -> PortResult<Option<EntitySnapshot>> {
        let id = issue_id(id)?;
        match self.read_issue(id).await? {
            Some(issue) => self.snapshot(&issue, fields).await.map(Some),
            None => Ok(None),
        }
    }
}
