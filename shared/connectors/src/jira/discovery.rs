//! What `ferry discover` lists: projects, their issue types with statuses, and the
//! fields of an issue type (the create screen's, then every other field, which still
//! syncs).

use super::catalog::MAX_PAGES;
use super::schema::FieldMeta;
use super::wire::{Allowed, FieldDef, FieldPage, ProjectPage, TypeStatuses};
use super::JiraConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityTypeInfo, FieldInfo, FieldKey, FieldType, ProjectInfo, Scope};
use std::collections::HashMap;

impl JiraConnector {
    pub(super) async fn list_projects(&self) -> PortResult<Vec<ProjectInfo>> {
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let url = self.api(
                &["project", "search"],
                &[("startAt", out.len().to_string()), ("maxResults", "50".into()), ("orderBy", "key".into())],
            )?;
            let page: ProjectPage = self.get_json(url, "project/search").await?;
            let n = page.values.len();
            out.extend(page.values.into_iter().map(|p| ProjectInfo {
                name: p.name.unwrap_or_else(|| p.key.clone()),
                id: p.id.0,
                key: p.key,
            }));
            if n == 0 || page.is_last.unwrap_or(true) {
                break;
            }
        }
        Ok(out)
    }

    pub(super) async fn list_entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        let types = self.issue_types(project).await?;
        let statuses = self.project_statuses(project).await.unwrap_or_default();
        Ok(types
            .into_iter()
            .map(|t| EntityTypeInfo { states: status_names(&statuses, &t.name), id: t.id.0, name: t.name })
            .collect())
    }

    pub(super) async fn list_fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        let type_id = self.issue_type_id(scope).await?;
        let metas = self.field_metas().await?;
        let on_screen = self.create_screen(&scope.project, &type_id).await?;
        let mut out: Vec<FieldInfo> = on_screen.iter().filter_map(|f| screen_field(f, metas)).collect();
        // Fields not on the create screen (status, resolution, created, ...) still sync.
        let statuses = self.project_statuses(&scope.project).await.unwrap_or_default();
        let mut rest: Vec<&FieldMeta> =
            metas.values().filter(|m| !out.iter().any(|f| f.key.as_str() == m.id)).collect();
        rest.sort_by(|a, b| a.id.cmp(&b.id));
        out.extend(rest.into_iter().map(|m| other_field(m, &statuses, &scope.entity_type)));
        Ok(out)
    }

    /// The create screen's fields of an issue type (createmeta, paged).
    async fn create_screen(&self, project: &str, type_id: &str) -> PortResult<Vec<FieldDef>> {
        const ENDPOINT: &str = "createmeta fields";
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let url = self.api(
                &["issue", "createmeta", project, "issuetypes", type_id],
                &[("startAt", out.len().to_string()), ("maxResults", "200".into())],
            )?;
            let page: FieldPage = self.get_json(url, ENDPOINT).await?;
            let total = page.total;
            let items = page.items(ENDPOINT)?;
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() as u64 >= total {
                break;
            }
        }
        Ok(out)
    }
}

/// The names of the statuses of issue type `type_name`.
fn status_names(types: &[TypeStatuses], type_name: &str) -> Vec<String> {
    types
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(type_name))
        .map(|t| t.statuses.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default()
}

/// A create screen field, described by the site's catalog where it knows the field.
fn screen_field(f: &FieldDef, metas: &HashMap<String, FieldMeta>) -> Option<FieldInfo> {
    let local = FieldMeta::of(f)?;
    let meta = metas.get(&local.id).cloned().unwrap_or(local);
    let allowed = f
        .allowed_values
        .iter()
        .filter_map(Allowed::choice)
        .filter_map(|c| c.name.clone().or_else(|| c.value.clone()).or_else(|| c.key.clone()))
        .collect();
    Some(FieldInfo {
        key: FieldKey::new(meta.id.clone()),
        name: meta.name.clone(),
        field_type: meta.field_type(),
        required: f.required,
        allowed_values: allowed,
        read_only: false,
    })
}

/// A field off the create screen: never required; the status lists its statuses.
fn other_field(m: &FieldMeta, statuses: &[TypeStatuses], type_name: &str) -> FieldInfo {
    let is_status = m.id == "status";
    FieldInfo {
        key: FieldKey::new(m.id.clone()),
        name: m.name.clone(),
        field_type: if is_status { FieldType::Option } else { m.field_type() },
        required: false,
        allowed_values: if is_status { status_names(statuses, type_name) } else { Vec::new() },
        // Off the create screen, only the status is written (by a transition).
        read_only: !is_status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jira::schema::meta;
    use serde_json::json;

    #[test]
    fn screen_fields_take_the_catalog_type_and_every_allowed_label() {
        let metas: HashMap<String, FieldMeta> =
            [("priority".to_string(), meta("priority", json!({"type": "priority"})))].into();
        let f: FieldDef = serde_json::from_value(json!({
            "fieldId": "priority", "key": "priority", "name": "Priority", "required": true,
            "allowedValues": [{"id": "1", "name": "High"}, {"value": "Major"}, {"key": "K"}, {"id": "9"}, "plain"]
        }))
        .unwrap();
        let info = screen_field(&f, &metas).unwrap();
        assert_eq!(info.field_type, FieldType::Option);
        assert!(info.required);
        assert_eq!(info.allowed_values, vec!["High", "Major", "K"]);
        assert!(screen_field(&FieldDef::default(), &metas).is_none(), "an entry naming no field");
    }

    #[test]
    fn the_status_field_lists_the_statuses_of_the_type() {
        let statuses: Vec<TypeStatuses> = serde_json::from_value(json!([
            {"name": "Bug", "statuses": [{"name": "To Do"}, {"name": "Done"}]}
        ]))
        .unwrap();
        let status = other_field(&meta("status", json!({"type": "status"})), &statuses, "bug");
        assert_eq!(
            (status.field_type, status.allowed_values),
            (FieldType::Option, vec!["To Do".into(), "Done".into()])
        );
        let created = other_field(&meta("created", json!({"type": "datetime"})), &statuses, "bug");
        assert_eq!((created.field_type, created.required, created.read_only), (FieldType::DateTime, false, true));
        assert!(!status.read_only, "the status moves by transitions");
    }
}
