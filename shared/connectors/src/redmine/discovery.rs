//! What `ferry discover` lists: projects, trackers with the statuses, and a tracker's
//! fields (core fields, then custom fields from the catalog or, for a key that may not
//! read it, from the newest issue).

use super::wire::{CustomFieldDef, IdName, IssueList, ProjectList};
use super::{RedmineConnector, MAX_PAGES, PAGE};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityTypeInfo, FieldInfo, FieldKey, FieldType, ProjectInfo, Scope};

impl RedmineConnector {
    pub(super) async fn list_projects(&self) -> PortResult<Vec<ProjectInfo>> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.url("projects.json", &[("offset", &offset.to_string()), ("limit", &PAGE.to_string())])?;
            let page: ProjectList = self.get_json(url, "Redmine projects").await?;
            let n = page.projects.len() as u64;
            out.extend(page.projects.into_iter().map(|p| ProjectInfo {
                id: p.id.to_string(),
                key: p.identifier,
                name: p.name,
            }));
            offset += PAGE;
            if n == 0 || offset >= page.total_count {
                break;
            }
        }
        Ok(out)
    }

    pub(super) async fn list_entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        let p = self.project(project).await?;
        let states: Vec<String> = self.statuses().await?.iter().map(|s| s.name.clone()).collect();
        Ok(p.trackers
            .iter()
            .map(|t| EntityTypeInfo { id: t.id.to_string(), name: t.name.clone(), states: states.clone() })
            .collect())
    }

    pub(super) async fn list_fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        let tracker = self.tracker_id(scope).await?;
        let project = self.project(&scope.project).await?;
        let names = |l: &[IdName]| l.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        let mut out = vec![
            info("subject", "Subject", FieldType::Text, true, vec![]),
            info("description", "Description", FieldType::Text, false, vec![]),
            info("status", "Status", FieldType::Option, true, names(self.statuses().await?)),
            info("priority", "Priority", FieldType::Option, true, names(self.priorities().await?)),
            info("tracker", "Tracker", FieldType::Option, true, names(&project.trackers)),
            info("assigned_to", "Assignee", FieldType::User, false, vec![]),
            info("author", "Author", FieldType::User, false, vec![]),
            info("start_date", "Start date", FieldType::DateTime, false, vec![]),
            info("due_date", "Due date", FieldType::DateTime, false, vec![]),
            info("done_ratio", "% Done", FieldType::Number, false, vec![]),
            info("estimated_hours", "Estimated time", FieldType::Number, false, vec![]),
            info("notes", "Notes (comment, write-only)", FieldType::Text, false, vec![]),
        ];
        match self.custom_fields().await? {
            Some(defs) => out.extend(
                defs.iter()
                    .filter(|d| d.trackers.is_empty() || d.trackers.iter().any(|t| t.id == tracker))
                    .map(catalog_field),
            ),
            None => out.extend(self.fields_of_newest_issue(scope).await?),
        }
        Ok(out)
    }

    /// Without the catalog (not an administrator): the custom fields the newest issue
    /// carries, as text.
    async fn fields_of_newest_issue(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        let q = self.scope_query(scope).await?;
        let mut url = self.url("issues.json", &[])?;
        {
            let mut qp = url.query_pairs_mut();
            for (k, v) in &q {
                qp.append_pair(k, v);
            }
            qp.append_pair("sort", "updated_on:desc").append_pair("limit", "1");
        }
        let page: IssueList = self.get_json(url, "Redmine issues").await?;
        Ok(page
            .issues
            .iter()
            .flat_map(|i| i.custom_fields.iter())
            .map(|c| info(&format!("cf_{}", c.id), &c.name, FieldType::Text, false, vec![]))
            .collect())
    }
}

fn info(key: &str, name: &str, field_type: FieldType, required: bool, allowed: Vec<String>) -> FieldInfo {
    // Author is set by Redmine from the API key's user.
    let read_only = key == "author";
    FieldInfo { key: FieldKey::new(key), name: name.into(), field_type, required, allowed_values: allowed, read_only }
}

/// A custom field of the catalog, typed by its format.
fn catalog_field(d: &CustomFieldDef) -> FieldInfo {
    let ty = match d.field_format.as_str() {
        _ if d.multiple => FieldType::List,
        "int" | "float" => FieldType::Number,
        "bool" => FieldType::Bool,
        "date" => FieldType::DateTime,
        "list" | "enumeration" | "version" => FieldType::Option,
        "user" => FieldType::User,
        "string" | "text" | "link" => FieldType::Text,
        _ => FieldType::Other,
    };
    let allowed = d.possible_values.iter().map(|v| v.value.clone()).collect();
    info(&format!("cf_{}", d.id), &d.name, ty, d.is_required, allowed)
}
