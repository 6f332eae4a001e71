//! Fixtures of the engine's unit tests.

use chrono::{DateTime, Utc};
use ferry_domain::{
    Direction, Endpoint, EntityId, EntitySnapshot, FieldKey, FieldMapping, FieldValue, Flow, Integration,
    IntegrationId, MappingKind, RemoteRefs, SystemId, WriteCommand, MESSAGE_SCHEMA,
};
use std::collections::BTreeMap;

pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000 + secs, 0).expect("in range")
}

pub(crate) fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

pub(crate) fn rich(s: &str) -> FieldValue {
    FieldValue::RichText(s.into())
}

/// A mapping of `left` and `right` both ways.
pub(crate) fn both(left: &str, right: &str, kind: MappingKind) -> FieldMapping {
    FieldMapping {
        left: Some(FieldKey::new(left)),
        right: Some(FieldKey::new(right)),
        direction: Direction::Both,
        kind,
        values: None,
        default_left: None,
        default_right: None,
        constant: None,
        unmatched: Default::default(),
        conflict: Default::default(),
    }
}

/// Jira (left) and Azure DevOps (right): summary, priority and a rich-text description,
/// both ways; remote ids on both sides.
pub(crate) fn integration() -> Integration {
    let ep =
        |s: &str| Endpoint { system: SystemId::parse(s).expect("id"), project: "P".into(), entity_type: "Bug".into() };
    Integration {
        id: IntegrationId::parse("i").expect("id"),
        left: ep("jira"),
        right: ep("ado"),
        poll_interval_secs: 60,
        overlap_secs: 120,
        start_time: None,
        filter_left_to_right: None,
        filter_right_to_left: None,
        filter_exit: Default::default(),
        remote: RemoteRefs {
            left_id_field: Some(FieldKey::new("customfield_10050")),
            right_id_field: Some(FieldKey::new("Custom.JiraKey")),
            ..Default::default()
        },
        fields: vec![
            both("summary", "System.Title", MappingKind::Value),
            both("priority", "Priority", MappingKind::Value),
            both("description", "System.Description", MappingKind::RichText),
        ],
        users: Default::default(),
        max_attempts: 5,
        collaboration: Default::default(),
    }
}

/// An entity whose id and key are `id`, at revision 1.
pub(crate) fn snapshot(id: &str, fields: &[(&str, FieldValue)]) -> EntitySnapshot {
    EntitySnapshot {
        id: EntityId::new(id),
        key: id.into(),
        revision: "1".into(),
        updated: at(0),
        changed_by: None,
        url: String::new(),
        fields: fields.iter().map(|(k, v)| (FieldKey::new(*k), v.clone())).collect(),
    }
}

/// A write command of `flow` from `source`: `changes` sent, `mapped` the values meant.
pub(crate) fn command(flow: Flow, source: EntitySnapshot, mapped: &[(&str, FieldValue)]) -> WriteCommand {
    let mapped: BTreeMap<FieldKey, FieldValue> = mapped.iter().map(|(k, v)| (FieldKey::new(*k), v.clone())).collect();
    WriteCommand {
        schema: MESSAGE_SCHEMA,
        integration: IntegrationId::parse("i").expect("id"),
        flow,
        source,
        target: None,
        changes: Vec::new(),
        mapped,
        replay: None,
        winner: None,
        collab_only: false,
    }
}
