//! Builders shared by the table and property tests.

use crate::{map_change, Decision, MappingInput, MappingOutput, SkipReason, UserDirectory};
use chrono::{TimeZone, Utc};
use ferry_domain::{
    Direction, Endpoint, EntityId, EntitySnapshot, ErrorCategory, FieldKey, FieldMapping, FieldValue, Fingerprint,
    Flow, Integration, IntegrationId, MappingKind, Scalar, Side, SystemId, UnmatchedUser, UserRef, ValueTable,
};
use std::collections::BTreeMap;

pub fn key(s: &str) -> FieldKey {
    FieldKey::new(s)
}

pub fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

pub fn opt(s: &str) -> FieldValue {
    FieldValue::Option(s.into())
}

pub fn user(id: &str, email: Option<&str>, name: Option<&str>) -> UserRef {
    UserRef { id: id.into(), email: email.map(Into::into), display_name: name.map(Into::into) }
}

/// A both-ways value mapping `left <-> right`.
pub fn fm(left: &str, right: &str) -> FieldMapping {
    FieldMapping {
        left: Some(key(left)),
        right: Some(key(right)),
        direction: Direction::Both,
        kind: MappingKind::Value,
        values: None,
        default_left: None,
        default_right: None,
        constant: None,
        unmatched: UnmatchedUser::Default,
        conflict: Default::default(),
    }
}

pub fn table(rows: &[(&str, &str)]) -> ValueTable {
    ValueTable {
        rows: rows.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect(),
        origin: "priorities.xlsx#Priority".into(),
    }
}

pub fn stext(s: &str) -> Scalar {
    Scalar::Text(s.into())
}

pub fn integration(fields: Vec<FieldMapping>) -> Integration {
    let sys = |s: &str| SystemId::parse(s).expect("valid system id");
    Integration {
        id: IntegrationId::parse("app-bugs").expect("valid integration id"),
        left: Endpoint { system: sys("jira"), project: "APP".into(), entity_type: "Bug".into() },
        right: Endpoint { system: sys("ado"), project: "App".into(), entity_type: "Bug".into() },
        poll_interval_secs: 60,
        overlap_secs: 120,
        start_time: None,
        filter_left_to_right: None,
        filter_right_to_left: None,
        filter_exit: Default::default(),
        remote: Default::default(),
        fields,
        users: Default::default(),
        max_attempts: 5,
        collaboration: Default::default(),
    }
}

pub fn snapshot(fields: Vec<(&str, FieldValue)>) -> EntitySnapshot {
    EntitySnapshot {
        id: EntityId::new("10001"),
        key: "APP-1".into(),
        revision: "7".into(),
        updated: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        changed_by: Some(user("person-1", Some("pat@acme.test"), Some("Pat"))),
        url: "https://acme.atlassian.net/browse/APP-1".into(),
        fields: fields.into_iter().map(|(k, v)| (key(k), v)).collect(),
    }
}

pub fn fingerprint(side: Side, values: BTreeMap<String, FieldValue>) -> Fingerprint {
    Fingerprint {
        integration: IntegrationId::parse("app-bugs").expect("valid integration id"),
        side,
        entity: EntityId::new("42"),
        values,
        written_revision: Some("3".into()),
        written_updated: None,
        updated_at: Utc.with_ymd_and_hms(2026, 3, 1, 11, 0, 0).unwrap(),
        applied_source_updated: None,
        create_started: None,
        twin_deleted: None,
    }
}

pub fn values(pairs: Vec<(&str, FieldValue)>) -> BTreeMap<String, FieldValue> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One call of [`map_change`] with owned inputs; defaults to a create, left to right.
pub struct Case {
    pub integration: Integration,
    pub flow: Flow,
    pub source: EntitySnapshot,
    pub users: UserDirectory,
    pub integration_user: Option<UserRef>,
    pub source_fingerprint: Option<Fingerprint>,
    pub target_fingerprint: Option<Fingerprint>,
    pub linked: bool,
    pub matches_filter: bool,
}

impl Case {
    pub fn new(integration: Integration, source: EntitySnapshot) -> Self {
        Case {
            integration,
            flow: Flow::LeftToRight,
            source,
            users: UserDirectory::new(),
            integration_user: None,
            source_fingerprint: None,
            target_fingerprint: None,
            linked: false,
            matches_filter: true,
        }
    }

    /// Linked, with Ferry's last write to the target holding `prior`.
    pub fn update(mut self, prior: Vec<(&str, FieldValue)>) -> Self {
        self.linked = true;
        self.target_fingerprint = Some(fingerprint(self.flow.target(), values(prior)));
        self
    }

    pub fn flow(mut self, flow: Flow) -> Self {
        self.flow = flow;
        self
    }

    pub fn with_user(mut self, email: &str, u: UserRef) -> Self {
        self.users.insert(email, u);
        self
    }

    pub fn run(&self) -> MappingOutput {
        map_change(&MappingInput {
            integration: &self.integration,
            flow: self.flow,
            source: &self.source,
            users: &self.users,
            source_integration_user: self.integration_user.as_ref(),
            source_fingerprint: self.source_fingerprint.as_ref(),
            target_fingerprint: self.target_fingerprint.as_ref(),
            linked: self.linked,
            matches_filter: self.matches_filter,
        })
    }
}

pub struct Written {
    pub create: bool,
    pub changes: Vec<(String, FieldValue)>,
    pub mapped: BTreeMap<FieldKey, FieldValue>,
}

impl Written {
    pub fn change(&self, field: &str) -> Option<&FieldValue> {
        self.changes.iter().find(|(f, _)| f == field).map(|(_, v)| v)
    }
    pub fn changed_fields(&self) -> Vec<&str> {
        self.changes.iter().map(|(f, _)| f.as_str()).collect()
    }
}

#[track_caller]
pub fn expect_write(out: &MappingOutput) -> Written {
    match &out.decision {
        Decision::Write { create, changes, mapped } => Written {
            create: *create,
            changes: changes.iter().map(|c| (c.field.as_str().to_string(), c.value.clone())).collect(),
            mapped: mapped.clone(),
        },
        other => panic!("expected a write, got {other:?} (notes {:?})", out.notes),
    }
}

#[track_caller]
pub fn expect_skip(out: &MappingOutput) -> (SkipReason, String) {
    match &out.decision {
        Decision::Skip { reason, detail } => (*reason, detail.clone()),
        other => panic!("expected a skip, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_fail(out: &MappingOutput) -> (ErrorCategory, String) {
    match &out.decision {
        Decision::Fail { category, message } => (*category, message.clone()),
        other => panic!("expected a failure, got {other:?}"),
    }
}
