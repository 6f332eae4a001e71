//! What `ferry discover` lists: projects (paged by continuation token), work item
//! types with their states, and a type's fields with their allowed values.

use super::wire::{ListOf, ProjectDto, TypeFieldDef, WorkItemTypeDto};
use super::{wire, AdoConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityTypeInfo, FieldInfo, FieldKey, ProjectInfo, Scope};
use reqwest::Method;
use serde_json::Value;

impl AdoConnector {
    pub(super) async fn list_projects(&self) -> PortResult<Vec<ProjectInfo>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        // Paging follows the x-ms-continuationtoken response header.
        for _ in 0..1000 {
            let mut q = vec![("$top", "500")];
            if let Some(t) = &token {
                q.push(("continuationToken", t.as_str()));
            }
            let url = self.org_api(&["_apis", "projects"], &q)?;
            let resp = self.http.send(Method::GET, url, None, None).await?;
            let list: ListOf<ProjectDto> = resp.json("ADO projects")?;
            out.extend(list.value.into_iter().map(|p| ProjectInfo { id: p.id, key: p.name.clone(), name: p.name }));
            token = resp
                .headers
                .get("x-ms-continuationtoken")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .filter(|t| !t.is_empty() && Some(t) != token.as_ref());
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    pub(super) async fn list_entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        let url = self.wit(project, &["workitemtypes"], &[])?;
        let list: ListOf<WorkItemTypeDto> = self.get_json(url, "ADO work item types").await?;
        let mut out = Vec::new();
        for t in list.value.into_iter().filter(|t| !t.is_disabled) {
            let states = match t.states {
                Some(s) if !s.is_empty() => s.into_iter().map(|s| s.name).collect(),
                _ => {
                    let url = self.wit(project, &["workitemtypes", &t.name, "states"], &[])?;
                    let s: ListOf<wire::StateDto> = self.get_json(url, "ADO states").await?;
                    s.value.into_iter().map(|s| s.name).collect()
                }
            };
            out.push(EntityTypeInfo { id: t.name.clone(), name: t.name, states });
        }
        Ok(out)
    }

    pub(super) async fn list_fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        let project = scope.project.as_str();
        let catalog = self.catalog(project).await?;
        let url =
            self.wit(project, &["workitemtypes", &scope.entity_type, "fields"], &[("$expand", "allowedValues")])?;
        let list: ListOf<TypeFieldDef> = self.get_json(url, "ADO type fields").await?;
        Ok(list
            .value
            .into_iter()
            .map(|f| {
                let allowed: Vec<String> = f
                    .allowed_values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                let kind = catalog.kind(&f.reference_name);
                let read_only = catalog.def(&f.reference_name).is_some_and(|d| d.read_only);
                let is_choice = !allowed.is_empty() || catalog.def(&f.reference_name).is_some_and(|d| d.is_picklist);
                let name = if f.name.is_empty() {
                    catalog.def(&f.reference_name).map(|d| d.name.clone()).unwrap_or_default()
                } else {
                    f.name
                };
                FieldInfo {
                    field_type: wire::field_type(&f.reference_name, kind, is_choice),
                    key: FieldKey::new(f.reference_name),
                    name,
                    required: f.always_required,
                    allowed_values: allowed,
                    read_only,
                }
            })
            .collect())
    }
}
