//! The JSON Schema (draft-07) of the file format, generated from its declaration in
//! `format.rs`: each object and each named enum becomes a definition.

use crate::format::{Key, Object, Presence, Shape, FILE};
use ferry_domain::EnumNames;
use serde_json::{json, Map, Value};

pub fn json_schema() -> Value {
    let mut definitions = Map::new();
    let mut root = object(&FILE, &mut definitions);
    root["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    root["title"] = json!("Ferry configuration");
    root["definitions"] = Value::Object(definitions);
    root
}

/// `///` comments keep their leading spaces and lines; a description is one line.
fn text(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn object(o: &Object, defs: &mut Map<String, Value>) -> Value {
    if o.one_of {
        let alternatives: Vec<Value> = o
            .keys
            .iter()
            .map(|k| {
                json!({
                    "type": "object",
                    "description": text(k.doc),
                    "properties": { k.name: shape(&k.shape, defs) },
                    "required": [k.name],
                    "additionalProperties": false,
                })
            })
            .collect();
        return json!({ "description": text(o.doc), "oneOf": alternatives });
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut conditions = Vec::new();
    for k in o.keys {
        properties.insert(k.name.to_string(), property(k, defs));
        match k.presence {
            Presence::Optional => {}
            Presence::Required(_) => required.push(k.name),
            Presence::RequiredWith { tag, value, .. } => conditions.push(json!({
                "if": { "properties": { tag: { "const": value } }, "required": [tag] },
                "then": { "required": [k.name] },
                "else": { "not": { "required": [k.name] } },
            })),
        }
    }
    let mut out = json!({
        "type": "object",
        "description": text(o.doc),
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        out["required"] = json!(required);
    }
    if !conditions.is_empty() {
        out["allOf"] = Value::Array(conditions);
    }
    out
}

/// A key's schema with its description; an optional key may also be null (absent).
fn property(k: &Key, defs: &mut Map<String, Value>) -> Value {
    let s = shape(&k.shape, defs);
    let mut out = match k.presence {
        // Keywords beside a `$ref` are ignored in draft-07: the description goes around it.
        Presence::Required(_) if s.get("$ref").is_some() => json!({ "allOf": [s] }),
        Presence::Required(_) => s,
        Presence::Optional | Presence::RequiredWith { .. } => json!({ "anyOf": [s, { "type": "null" }] }),
    };
    out["description"] = json!(text(k.doc));
    out
}

fn shape(s: &Shape, defs: &mut Map<String, Value>) -> Value {
    match s {
        Shape::Text => json!({ "type": "string", "minLength": 1 }),
        Shape::Duration => json!({ "type": "string", "pattern": "^([0-9]+[smh])+$" }),
        Shape::Size => json!({ "type": "string", "pattern": "^[0-9]+ ?([KMG]i?B|B)$" }),
        Shape::DateTime => json!({ "type": "string", "format": "date-time" }),
        Shape::Bool => json!({ "type": "boolean" }),
        Shape::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Shape::Number { above, max } => json!({ "type": "number", "exclusiveMinimum": above, "maximum": max }),
        Shape::Word(word) => json!({ "const": word }),
        Shape::Scalar => json!({ "type": ["string", "number", "boolean"] }),
        Shape::Enum(names) => reference(names.type_name, defs, |_| enumeration(names)),
        Shape::Object(o) => reference(o.name, defs, |defs| object(o, defs)),
        Shape::ListOf(o) => json!({ "type": "array", "items": reference(o.name, defs, |defs| object(o, defs)) }),
        Shape::ScalarMap => {
            json!({ "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } })
        }
        Shape::Either(shapes) => json!({ "anyOf": shapes.iter().map(|s| shape(s, defs)).collect::<Vec<_>>() }),
        Shape::TextList => json!({ "type": "array", "items": { "type": "string", "minLength": 1 }, "minItems": 1 }),
        Shape::EnumList(names) => {
            json!({ "type": "array", "items": reference(names.type_name, defs, |_| enumeration(names)), "minItems": 1 })
        }
    }
}

/// A `$ref` to the definition `name`, made on first use.
fn reference(name: &str, defs: &mut Map<String, Value>, make: impl FnOnce(&mut Map<String, Value>) -> Value) -> Value {
    if !defs.contains_key(name) {
        defs.insert(name.to_string(), Value::Null);
        let def = make(defs);
        defs.insert(name.to_string(), def);
    }
    json!({ "$ref": format!("#/definitions/{name}") })
}

/// A named enum: its values with their descriptions.
fn enumeration(names: &EnumNames) -> Value {
    let values: Vec<Value> =
        names.values.iter().map(|(name, doc)| json!({ "const": name, "description": text(doc) })).collect();
    json!({ "type": "string", "oneOf": values })
}
