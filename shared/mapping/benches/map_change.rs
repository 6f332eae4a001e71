//! Throughput of `map_change` on a typical Jira Bug -> ADO Bug update (7 mappings, a value
//! table, a status table, a user, rich text, a constant and the remote id).
//!
//! `cargo bench -p ferry-mapping --bench map_change` prints entities/s on one core
//! (criterion's `thrpt`); `cargo test -p ferry-mapping --benches` runs each once.

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_domain::{
    Direction, Endpoint, EntityId, EntitySnapshot, FieldKey, FieldMapping, FieldValue, Fingerprint, Flow, Integration,
    IntegrationId, MappingKind, RemoteRefs, Scalar, Side, SystemId, UnmatchedUser, UserRef, ValueTable,
};
use ferry_mapping::{map_change, Decision, MappingInput, UserDirectory};
use std::hint::black_box;

fn key(s: &str) -> FieldKey {
    FieldKey::new(s)
}

fn pair(left: &str, right: &str) -> FieldMapping {
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

fn table(rows: &[(&str, &str)]) -> Option<ValueTable> {
    Some(ValueTable {
        rows: rows.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect(),
        origin: "inline".into(),
    })
}

fn fixture() -> Result<(Integration, EntitySnapshot, UserDirectory), Box<dyn std::error::Error>> {
    let integration = Integration {
        id: IntegrationId::parse("app-bugs")?,
        left: Endpoint { system: SystemId::parse("jira")?, project: "APP".into(), entity_type: "Bug".into() },
        right: Endpoint { system: SystemId::parse("ado")?, project: "App".into(), entity_type: "Bug".into() },
        poll_interval_secs: 60,
        overlap_secs: 120,
        start_time: None,
        filter_left_to_right: None,
        filter_right_to_left: None,
        filter_exit: Default::default(),
        remote: RemoteRefs { right_id_field: Some(key("Custom.JiraKey")), ..Default::default() },
        fields: vec![
            pair("summary", "System.Title"),
            FieldMapping { kind: MappingKind::RichText, ..pair("description", "System.Description") },
            FieldMapping {
                values: table(&[("Highest", "1"), ("High", "2"), ("Medium", "3"), ("Low", "4")]),
                default_right: Some(Scalar::Number(3.0)),
                ..pair("priority", "Microsoft.VSTS.Common.Priority")
            },
            FieldMapping {
                kind: MappingKind::Status,
                values: table(&[("To Do", "New"), ("In Progress", "Active"), ("Done", "Closed")]),
                ..pair("status", "System.State")
            },
            FieldMapping { kind: MappingKind::User, ..pair("assignee", "System.AssignedTo") },
            pair("labels", "System.Tags"),
            FieldMapping { left: None, constant: Some(Scalar::Text("Jira".into())), ..pair("unused", "Custom.Origin") },
        ],
        users: Default::default(),
        max_attempts: 5,
        collaboration: Default::default(),
    };
    let mut users = UserDirectory::new();
    users.insert(
        "erin@acme.test",
        UserRef { id: "vsid-1".into(), email: Some("erin@acme.test".into()), display_name: Some("Erin".into()) },
    );
    let source = EntitySnapshot {
        id: EntityId::new("10001"),
        key: "APP-1".into(),
        revision: "1767225600000".into(),
        updated: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default(),
        changed_by: None,
        url: String::new(),
        fields: [
            ("summary", FieldValue::Text("Login fails on Safari".into())),
            ("description", FieldValue::Text("Steps:\n1. open\n2. click".into())),
            ("priority", FieldValue::Option("High".into())),
            ("status", FieldValue::Option("In Progress".into())),
            (
                "assignee",
                FieldValue::User(UserRef {
                    id: "acc-1".into(),
                    email: Some("Erin@acme.test".into()),
                    display_name: Some("Erin".into()),
                }),
            ),
            ("labels", FieldValue::List(vec!["ui".into(), "safari".into()])),
        ]
        .into_iter()
        .map(|(k, v)| (key(k), v))
        .collect(),
    };
    Ok((integration, source, users))
}

fn bench(c: &mut Criterion) {
    let (integration, source, users) = match fixture() {
        Ok(f) => f,
        Err(e) => panic!("benchmark fixture: {e}"),
    };
    let input = |fp: Option<&'_ Fingerprint>, linked: bool| {
        map_change(&MappingInput {
            integration: &integration,
            flow: Flow::LeftToRight,
            source: &source,
            users: &users,
            source_integration_user: None,
            source_fingerprint: None,
            target_fingerprint: fp,
            linked,
            matches_filter: true,
        })
    };
    let Decision::Write { mut mapped, .. } = input(None, false).decision else {
        panic!("the fixture's create did not map to a write");
    };
    // The previous write had another title: each update maps every field, writes one.
    mapped.insert(FieldKey::new("System.Title"), FieldValue::Text("old title".into()));
    let fingerprint = Fingerprint {
        integration: integration.id.clone(),
        side: Side::Right,
        entity: EntityId::new("42"),
        values: mapped.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        written_revision: None,
        written_updated: None,
        updated_at: Utc::now(),
        applied_source_updated: None,
        create_started: None,
        twin_deleted: None,
    };
    // The measured call must do the real work: one changed field to write.
    match input(Some(&fingerprint), true).decision {
        Decision::Write { changes, .. } if changes.len() == 1 => {}
        other => panic!("expected a one-field write, got {other:?}"),
    }

    let mut group = c.benchmark_group("mapping");
    group.throughput(Throughput::Elements(1));
    group.bench_function("map_change update (entities/s on one core)", |b| {
        b.iter(|| black_box(input(black_box(Some(&fingerprint)), true)))
    });
    group.bench_function("map_change create (entities/s on one core)", |b| {
        b.iter(|| black_box(input(black_box(None), false)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
