//! What Ferry reads once about a Redmine and keeps: statuses, priorities, trackers,
//! the custom-field catalog (administrators only), and projects with their trackers.

use super::wire::{
    self, CustomFieldDef, CustomFieldList, IdName, Issue, PriorityList, ProjectEnvelope, StatusList, TrackerList,
};
use super::{enc, err, RedmineConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, FieldValue, PortError, Scope};
use std::sync::Arc;

impl RedmineConnector {
    pub(super) async fn statuses(&self) -> PortResult<&Vec<IdName>> {
        self.statuses
            .get_or_try_init(|| async {
                let l: StatusList = self.get_json(self.url("issue_statuses.json", &[])?, "Redmine statuses").await?;
                Ok(l.issue_statuses)
            })
            .await
    }

    pub(super) async fn priorities(&self) -> PortResult<&Vec<IdName>> {
        self.priorities
            .get_or_try_init(|| async {
                let url = self.url("enumerations/issue_priorities.json", &[])?;
                let l: PriorityList = self.get_json(url, "Redmine priorities").await?;
                Ok(l.issue_priorities)
            })
            .await
    }

    pub(super) async fn all_trackers(&self) -> PortResult<&Vec<IdName>> {
        self.trackers
            .get_or_try_init(|| async {
                let l: TrackerList = self.get_json(self.url("trackers.json", &[])?, "Redmine trackers").await?;
                Ok(l.trackers)
            })
            .await
    }

    pub(super) async fn custom_fields(&self) -> PortResult<Option<&Vec<CustomFieldDef>>> {
        let r = self
            .custom_fields
            .get_or_try_init(|| async {
                let url = self.url("custom_fields.json", &[])?;
                match self.get_json::<CustomFieldList>(url, "Redmine custom fields").await {
                    Ok(l) => Ok(Some(l.custom_fields.into_iter().filter(|f| f.customized_type == "issue").collect())),
                    // Only administrators may list custom fields.
                    Err(e) if matches!(e.category, ErrorCategory::Permission | ErrorCategory::Auth) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(r.as_ref())
    }

    pub(super) async fn project(&self, project: &str) -> PortResult<Arc<wire::ProjectDto>> {
        let key = project.to_ascii_lowercase();
        if let Some(p) = self.projects.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let url = self.url(&format!("projects/{}.json", enc(project)), &[("include", "trackers")])?;
        let p: ProjectEnvelope = self.get_json(url, "Redmine project").await.map_err(|e| {
            if e.category == ErrorCategory::NotFound {
                err(ErrorCategory::Config, format!("{}: Redmine project {project:?} not found", self.system))
            } else {
                e
            }
        })?;
        let p = Arc::new(p.project);
        if let Ok(mut m) = self.projects.lock() {
            m.insert(key, p.clone());
        }
        Ok(p)
    }

    /// The tracker id of `scope` (a tracker of the project, by name or id).
    pub(super) async fn tracker_id(&self, scope: &Scope) -> PortResult<u64> {
        let p = self.project(&scope.project).await?;
        wire::lookup_id(&p.trackers, "tracker in this project", &FieldValue::Text(scope.entity_type.clone()))
            .map_err(|e| PortError { category: ErrorCategory::Config, ..e })
    }

    /// Custom field id by `cf_<id>` or by name (from the catalog, else the issue's own values).
    pub(super) async fn custom_field_id(&self, key: &str, issue: Option<&Issue>) -> PortResult<Option<u64>> {
        if let Some(id) = wire::custom_field_id(key) {
            return Ok(Some(id));
        }
        if let Some(i) = issue {
            if let Some(cv) = i.custom_fields.iter().find(|c| c.name.eq_ignore_ascii_case(key)) {
                return Ok(Some(cv.id));
            }
        }
        Ok(self
            .custom_fields()
            .await?
            .and_then(|defs| defs.iter().find(|d| d.name.eq_ignore_ascii_case(key)))
            .map(|d| d.id))
    }
}
