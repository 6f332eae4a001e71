//! What shape a Jira field's values have, from its schema (`/field`, createmeta,
//! transition screens), and the neutral type discovery reports for it.

use super::wire::{FieldDef, Schema};
use ferry_domain::FieldType;

/// How a field's values are shaped, from its `/field` schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ADF document (description, environment, textarea custom fields).
    RichText,
    Text,
    Number,
    DateTime,
    Date,
    /// A look-up addressed by `name` (priority, status, resolution, issuetype, ...).
    Named,
    /// A custom select addressed by `value`.
    OptionValue,
    User,
    Project,
    StringArray,
    /// Array of options / components / versions.
    NamedArray,
    OptionArray,
    UserArray,
    Bool,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    pub id: String,
    pub name: String,
    pub kind: Kind,
}

impl FieldMeta {
    /// A field definition's id, name and kind; `None` for an entry that names no field.
    pub fn of(def: &FieldDef) -> Option<FieldMeta> {
        let id = def.id()?.to_string();
        let name = def.name.clone().unwrap_or_else(|| id.clone());
        Some(FieldMeta { kind: kind_of(&id, def.schema.as_ref()), id, name })
    }

    pub fn field_type(&self) -> FieldType {
        match self.kind {
            Kind::RichText => FieldType::RichText,
            Kind::Text => FieldType::Text,
            Kind::Number => FieldType::Number,
            Kind::DateTime | Kind::Date => FieldType::DateTime,
            Kind::Named | Kind::OptionValue | Kind::Project => FieldType::Option,
            Kind::User => FieldType::User,
            Kind::StringArray | Kind::NamedArray | Kind::OptionArray | Kind::UserArray => FieldType::List,
            Kind::Bool => FieldType::Bool,
            Kind::Other => FieldType::Other,
        }
    }
}

/// The kind of field `id` with `schema` (none: read by the value's own shape).
pub fn kind_of(id: &str, schema: Option<&Schema>) -> Kind {
    let s = |f: fn(&Schema) -> &Option<String>| schema.and_then(|x| f(x).as_deref()).unwrap_or("");
    let (ty, system, custom, items) = (s(|x| &x.kind), s(|x| &x.system), s(|x| &x.custom), s(|x| &x.items));
    if ty == "doc"
        || matches!(system, "description" | "environment")
        || matches!(id, "description" | "environment")
        || custom.ends_with(":textarea")
    {
        return Kind::RichText;
    }
    match ty {
        "string" => Kind::Text,
        "number" => Kind::Number,
        "datetime" => Kind::DateTime,
        "date" => Kind::Date,
        "boolean" => Kind::Bool,
        "user" => Kind::User,
        "project" => Kind::Project,
        "option" | "option-with-child" => Kind::OptionValue,
        "priority" | "status" | "resolution" | "issuetype" | "securitylevel" | "version" | "component" => Kind::Named,
        "array" => match items {
            "string" => Kind::StringArray,
            "option" => Kind::OptionArray,
            "user" => Kind::UserArray,
            "component" | "version" => Kind::NamedArray,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// A field's metadata from its `/field` entry as JSON (tests).
#[cfg(test)]
pub fn meta(id: &str, schema: serde_json::Value) -> FieldMeta {
    let def: FieldDef = serde_json::from_value(serde_json::json!({"id": id, "name": id, "schema": schema})).unwrap();
    FieldMeta::of(&def).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_classify_into_kinds() {
        let cases = [
            (json!({"type": "string", "system": "description"}), "description", Kind::RichText),
            (
                json!({"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textarea", "customId": 1}),
                "customfield_1",
                Kind::RichText,
            ),
            (
                json!({"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}),
                "customfield_2",
                Kind::Text,
            ),
            (json!({"type": "number"}), "customfield_3", Kind::Number),
            (json!({"type": "option"}), "customfield_4", Kind::OptionValue),
            (json!({"type": "priority", "system": "priority"}), "priority", Kind::Named),
            (json!({"type": "user"}), "assignee", Kind::User),
            (json!({"type": "array", "items": "string", "system": "labels"}), "labels", Kind::StringArray),
            (json!({"type": "datetime"}), "updated", Kind::DateTime),
            (json!({"type": "date"}), "duedate", Kind::Date),
            (json!({"type": "any"}), "x", Kind::Other),
            (json!(null), "environment", Kind::RichText),
            (json!(null), "x", Kind::Other),
        ];
        for (schema, id, want) in cases {
            assert_eq!(meta(id, schema.clone()).kind, want, "{schema}");
        }
    }

    #[test]
    fn a_createmeta_entry_is_named_by_field_id_or_key() {
        let def: FieldDef = serde_json::from_value(json!({"fieldId": "customfield_1", "key": "k"})).unwrap();
        let m = FieldMeta::of(&def).unwrap();
        assert_eq!((m.id.as_str(), m.name.as_str(), m.kind), ("customfield_1", "customfield_1", Kind::Other));
        assert!(FieldMeta::of(&FieldDef::default()).is_none());
    }
}
