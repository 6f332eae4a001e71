//! The schema and the decoder agree: every key the generated JSON Schema lists for an
//! object is read by that object's decoder, the decoder reads no key the schema lacks,
//! and every enum-valued key accepts exactly the values the schema lists.
//!
//! The decoder records (test builds only) which objects it decoded and which keys it
//! read; decoders ask for each of their keys whether or not the file gives it, so one
//! sample that reaches every object covers every key.

use crate::format::Object;
use ferry_domain::EnumNames;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
struct Reads {
    objects: BTreeSet<&'static str>,
    keys: BTreeMap<&'static str, BTreeSet<String>>,
    enums: BTreeMap<(String, String), Vec<&'static str>>,
}

thread_local! {
    static READS: RefCell<Reads> = RefCell::default();
}

pub fn decoded(def: &'static Object) {
    READS.with(|r| r.borrow_mut().objects.insert(def.name));
}

pub fn read(def: &'static Object, key: &str, names: Option<EnumNames>) {
    READS.with(|r| {
        let mut r = r.borrow_mut();
        r.keys.entry(def.name).or_default().insert(key.to_string());
        if let Some(names) = names {
            r.enums.insert((def.name.to_string(), key.to_string()), names.names());
        }
    });
}

fn take() -> Reads {
    READS.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

/// An object definition's keys: its properties, or each alternative's for a one-of object.
fn schema_keys(def: &Value) -> Option<BTreeSet<String>> {
    if let Some(props) = def["properties"].as_object() {
        return Some(props.keys().cloned().collect());
    }
    let alternatives = def["oneOf"].as_array()?;
    let mut keys = BTreeSet::new();
    for alt in alternatives {
        keys.extend(alt["properties"].as_object()?.keys().cloned());
    }
    Some(keys)
}

/// The property schema of `key` in an object definition.
fn property<'v>(def: &'v Value, key: &str) -> &'v Value {
    if def["properties"].is_object() {
        return &def["properties"][key];
    }
    def["oneOf"]
        .as_array()
        .and_then(|alts| alts.iter().find(|a| a["properties"].get(key).is_some()))
        .map_or(&Value::Null, |a| &a["properties"][key])
}

/// The values of the enum a property refers to, if it refers to one.
fn enum_values(schema: &Value, prop: &Value) -> Option<Vec<String>> {
    let refs: Vec<&str> = std::iter::once(prop)
        .chain(prop["anyOf"].as_array().into_iter().flatten())
        .chain(prop["allOf"].as_array().into_iter().flatten())
        .filter_map(|p| p["$ref"].as_str())
        .collect();
    refs.iter().find_map(|r| {
        let def = &schema["definitions"][r.strip_prefix("#/definitions/")?];
        let values = def["oneOf"].as_array()?.iter().map(|v| v["const"].as_str().map(str::to_string));
        values.collect::<Option<Vec<String>>>()
    })
}

/// Every object definition of the schema, the root (`File`) included, by name.
fn objects(schema: &Value) -> BTreeMap<String, &Value> {
    let mut out: BTreeMap<String, &Value> = BTreeMap::new();
    out.insert("File".into(), schema);
    for (name, def) in schema["definitions"].as_object().into_iter().flatten() {
        if schema_keys(def).is_some() {
            out.insert(name.clone(), def);
        }
    }
    out
}

/// The differences between the schema and what the decoder read, one line each.
fn disagreements(schema: &Value, reads: &Reads) -> Vec<String> {
    let mut out = Vec::new();
    let objects = objects(schema);
    for (name, def) in &objects {
        if !reads.objects.contains(name.as_str()) {
            out.push(format!("{name}: the sample never reaches this object; add it to the sample"));
            continue;
        }
        let listed = schema_keys(def).unwrap_or_default();
        let read: BTreeSet<String> = reads.keys.get(name.as_str()).cloned().unwrap_or_default();
        for key in listed.difference(&read) {
            out.push(format!("{name}.{key}: in the schema, never read by the decoder"));
        }
        for key in read.difference(&listed) {
            out.push(format!("{name}.{key}: read by the decoder, not in the schema"));
        }
        for key in &listed {
            let in_schema = enum_values(schema, property(def, key));
            let in_decoder = reads.enums.get(&(name.clone(), key.clone()));
            let in_decoder = in_decoder.map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            if in_schema != in_decoder {
                out.push(format!("{name}.{key}: the schema's values {in_schema:?}, the decoder's {in_decoder:?}"));
            }
        }
    }
    for name in &reads.objects {
        if !objects.contains_key(*name) {
            out.push(format!("{name}: decoded, but the schema has no such object"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn examples_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
    }

    /// What the example file leaves out, so that the sample reaches every object.
    const EXTRA: &str = "\
systems:
  - id: redmine
    kind: redmine
    base_url: https://redmine.acme.test
    auth: { kind: api_key, token: { secrets_manager: ferry/redmine } }
    integration_user: bot@acme.test
    ca_cert: { ssm: /ferry/ca }
integrations:
  - id: filtered
    left: { system: jira-cloud, project: APP, type: Story }
    right: { system: redmine, project: app, type: Feature }
    filters: { left_to_right: 'labels = sync', on_exit: stop_syncing }
    comments: { direction: both }
    attachments: { direction: left_to_right, max_size: 5MB }
    hierarchy: { direction: both }
    links:
      - { left: Blocks, right: blocks }
    on_target_deleted: park
    fields:
      - { left: summary, right: subject }
";

    #[test]
    fn the_schema_and_the_decoder_agree_on_every_key_and_enum_value() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.yaml");
        std::fs::write(&extra, EXTRA).unwrap();
        take();
        crate::load_files(&[examples_dir().join("ferry.yaml"), extra]).unwrap_or_else(|e| panic!("{e}"));
        let problems = disagreements(&crate::json_schema(), &take());
        assert!(problems.is_empty(), "the schema and the decoder disagree:\n{}", problems.join("\n"));
    }

    /// A YAML tree as JSON (scalars as they resolve), to walk beside the schema.
    fn to_json(node: &crate::yaml::Node) -> Value {
        use crate::yaml::{Kind, Value as Y};
        match &node.kind {
            Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .filter_map(|(k, v)| match k.scalar() {
                        Some(Y::Str(k)) => Some((k.to_string(), to_json(v))),
                        _ => None,
                    })
                    .collect(),
            ),
            Kind::Scalar { .. } => match node.scalar() {
                Some(Y::Null) | None => Value::Null,
                Some(Y::Bool(b)) => Value::Bool(b),
                Some(Y::Int(i)) => Value::from(i),
                Some(Y::Float(f)) => Value::from(f),
                Some(Y::Str(s)) => Value::String(s.to_string()),
            },
        }
    }

    /// Keys the schema requires that `value` lacks, as paths. Follows `$ref`, `allOf`,
    /// `anyOf`/`oneOf` (the alternatives of the value's JSON type; for a one-of object,
    /// the alternative whose key is given), `properties` and `items`.
    fn missing_required(schema: &Value, sub: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
        if let Some(r) = sub["$ref"].as_str().and_then(|r| r.strip_prefix("#/definitions/")) {
            return missing_required(schema, &schema["definitions"][r], value, path, out);
        }
        for part in sub["allOf"].as_array().into_iter().flatten().filter(|p| p.get("if").is_none()) {
            missing_required(schema, part, value, path, out);
        }
        let alternatives = sub["anyOf"].as_array().into_iter().chain(sub["oneOf"].as_array()).flatten();
        for alt in alternatives {
            let fits = match value {
                Value::Object(map) => match alt["properties"].as_object() {
                    Some(props) if alt["required"].is_array() && sub.get("oneOf").is_some() => {
                        props.keys().any(|k| map.contains_key(k))
                    }
                    _ => alt["$ref"].is_string() || alt["type"] == "object" || alt["allOf"].is_array(),
                },
                Value::Array(_) => alt["type"] == "array",
                _ => false,
            };
            if fits {
                missing_required(schema, alt, value, path, out);
            }
        }
        if let Value::Object(map) = value {
            for key in sub["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if map.get(key).is_none_or(Value::is_null) {
                    out.push(format!("{path}.{key}"));
                }
            }
            for (key, v) in map {
                if let Some(prop) = sub["properties"].get(key) {
                    missing_required(schema, prop, v, &format!("{path}.{key}"), out);
                }
            }
        }
        if let (Value::Array(items), Some(item)) = (value, sub.get("items")) {
            for (i, v) in items.iter().enumerate() {
                missing_required(schema, item, v, &format!("{path}[{i}]"), out);
            }
        }
    }

    #[test]
    fn the_schema_requires_no_key_that_a_loadable_file_leaves_out() {
        let schema = crate::json_schema();
        for (name, text) in [
            ("ferry.yaml", std::fs::read_to_string(examples_dir().join("ferry.yaml")).unwrap()),
            ("extra.yaml", EXTRA.to_string()),
        ] {
            let doc = to_json(&crate::yaml::parse(&text).unwrap().unwrap());
            let mut out = Vec::new();
            missing_required(&schema, &schema, &doc, "", &mut out);
            assert!(out.is_empty(), "{name}: the schema requires {out:?}, which the loader does not");
        }
        // The walk does find a missing required key.
        let mut out = Vec::new();
        let doc = serde_json::json!({ "integrations": [ { "left": {}, "fields": [] } ] });
        missing_required(&schema, &schema, &doc, "", &mut out);
        assert!(out.iter().any(|p| p.ends_with("integrations[0].id")), "{out:?}");
        assert!(out.iter().any(|p| p.ends_with("integrations[0].left.system")), "{out:?}");
    }

    #[test]
    fn a_disagreement_is_found_in_each_direction() {
        let schema = serde_json::json!({
            "properties": { "a": { "$ref": "#/definitions/E" }, "b": { "type": "string" } },
            "definitions": { "E": { "type": "string", "oneOf": [ { "const": "x" }, { "const": "y" } ] } }
        });
        let mut reads = Reads::default();
        reads.objects.insert("File");
        reads.keys.insert("File", ["a".to_string(), "c".to_string()].into());
        reads.enums.insert(("File".into(), "a".into()), vec!["x"]);
        assert_eq!(
            disagreements(&schema, &reads),
            vec![
                "File.b: in the schema, never read by the decoder",
                "File.c: read by the decoder, not in the schema",
                "File.a: the schema's values Some([\"x\", \"y\"]), the decoder's Some([\"x\"])",
            ]
        );
    }
}
