//! What Ferry reads once about a Jira site and keeps: the integration user's profile
//! (its time zone reads JQL dates), the field catalog, each project's issue types and
//! the statuses of each issue type.

use super::schema::FieldMeta;
use super::wire::{FieldDef, IssueType, IssueTypePage, TypeStatuses, User};
use super::{lock, JiraConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, FieldKey, PortError, Scope};
use jiff::tz::TimeZone;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::OnceCell;

/// Upper bound on pages of one listing, against a server that never ends.
pub(super) const MAX_PAGES: usize = 10_000;

#[derive(Default)]
pub(super) struct Catalog {
    myself: OnceCell<User>,
    fields: OnceCell<HashMap<String, FieldMeta>>,
    issue_types: Mutex<HashMap<String, Vec<IssueType>>>,
    /// Per project key: its issue types' statuses.
    statuses: Mutex<HashMap<String, Vec<TypeStatuses>>>,
}

impl JiraConnector {
    pub(super) async fn myself(&self) -> PortResult<&User> {
        self.catalog
            .myself
            .get_or_try_init(|| async { self.get_json(self.api(&["myself"], &[])?, "myself").await })
            .await
    }

    /// The integration user's profile zone: Jira reads JQL date literals in it.
    pub(super) async fn time_zone(&self) -> PortResult<TimeZone> {
        let name = self.myself().await?.time_zone.as_deref().unwrap_or("UTC");
        Ok(TimeZone::get(name).unwrap_or_else(|_| {
            tracing::warn!(time_zone = name, "unknown Jira profile time zone; using UTC");
            TimeZone::UTC
        }))
    }

    /// Every field of the site by id (`/field`).
    pub(super) async fn field_metas(&self) -> PortResult<&HashMap<String, FieldMeta>> {
        self.catalog
            .fields
            .get_or_try_init(|| async {
                let defs: Vec<FieldDef> = self.get_json_list(self.api(&["field"], &[])?, "field").await?;
                Ok(defs.iter().filter_map(FieldMeta::of).map(|m| (m.id.clone(), m)).collect())
            })
            .await
    }

    pub(super) async fn meta(&self, field: &FieldKey) -> PortResult<FieldMeta> {
        self.field_metas().await?.get(field.as_str()).cloned().ok_or_else(|| {
            PortError::new(
                ErrorCategory::Config,
                format!("Jira has no field {field:?} (see `ferry discover` for field keys)"),
            )
        })
    }

    /// The issue types a project can create (createmeta, paged).
    pub(super) async fn issue_types(&self, project: &str) -> PortResult<Vec<IssueType>> {
        if let Some(t) = lock(&self.catalog.issue_types).get(project) {
            return Ok(t.clone());
        }
        const ENDPOINT: &str = "createmeta issuetypes";
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let url = self.api(
                &["issue", "createmeta", project, "issuetypes"],
                &[("startAt", out.len().to_string()), ("maxResults", "200".into())],
            )?;
            let page: IssueTypePage = self.get_json(url, ENDPOINT).await?;
            let total = page.total;
            let items = page.items(ENDPOINT)?;
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() as u64 >= total {
                break;
            }
        }
        lock(&self.catalog.issue_types).insert(project.to_string(), out.clone());
        Ok(out)
    }

    /// The id of `scope`'s issue type (given by name or id).
    pub(super) async fn issue_type_id(&self, scope: &Scope) -> PortResult<String> {
        let types = self.issue_types(&scope.project).await?;
        types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&scope.entity_type) || t.id.0 == scope.entity_type)
            .map(|t| t.id.0.clone())
            .ok_or_else(|| {
                PortError::new(
                    ErrorCategory::Config,
                    format!(
                        "Jira project {} has no issue type {:?} (known: {})",
                        scope.project,
                        scope.entity_type,
                        types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }

    /// Statuses per issue type of a project (`/project/{key}/statuses`).
    pub(super) async fn project_statuses(&self, project: &str) -> PortResult<Vec<TypeStatuses>> {
        if let Some(s) = lock(&self.catalog.statuses).get(project) {
            return Ok(s.clone());
        }
        let url = self.api(&["project", project, "statuses"], &[])?;
        let out: Vec<TypeStatuses> = self.get_json_list(url, "project statuses").await?;
        lock(&self.catalog.statuses).insert(project.to_string(), out.clone());
        Ok(out)
    }
}
