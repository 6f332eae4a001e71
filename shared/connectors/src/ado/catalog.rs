//! What Ferry keeps about a project's fields: the field catalog (types by reference
//! name) and, for a while, which fields each work item type has.

use super::wire::{FieldCatalog, FieldDef, ListOf, TypeFieldDef};
use super::AdoConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::Scope;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a work item type's field list is reused. Within it a field just taken off
/// the type reads as empty rather than missing.
const TYPE_FIELDS_TTL: Duration = Duration::from_secs(60);

/// A work item type's field reference names, lower case.
pub(super) type TypeFields = Arc<HashSet<String>>;

impl AdoConnector {
    pub(super) async fn catalog(&self, project: &str) -> PortResult<Arc<FieldCatalog>> {
        let key = project.to_ascii_lowercase();
        if let Some(c) = self.catalogs.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let url = self.wit(project, &["fields"], &[])?;
        let list: ListOf<FieldDef> = self.get_json(url, "ADO fields").await?;
        let cat = Arc::new(FieldCatalog::new(list.value));
        if let Ok(mut m) = self.catalogs.lock() {
            m.insert(key, cat.clone());
        }
        Ok(cat)
    }

    /// The reference names (lower case) of the fields the scope's work item type has.
    pub(super) async fn type_field_names(&self, scope: &Scope) -> PortResult<TypeFields> {
        let key = format!("{}\0{}", scope.project.to_ascii_lowercase(), scope.entity_type.to_ascii_lowercase());
        if let Some((names, at)) = self.type_fields.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if at.elapsed() < TYPE_FIELDS_TTL {
                return Ok(names);
            }
        }
        let url = self.wit(&scope.project, &["workitemtypes", &scope.entity_type, "fields"], &[])?;
        let list: ListOf<TypeFieldDef> = self.get_json(url, "ADO type fields").await?;
        let names: TypeFields =
            Arc::new(list.value.into_iter().map(|f| f.reference_name.to_ascii_lowercase()).collect());
        if let Ok(mut m) = self.type_fields.lock() {
            m.insert(key, (names.clone(), Instant::now()));
        }
        Ok(names)
    }
}
