//! Properties of the mapping over generated configurations and snapshots.

use crate::testkit::*;
use crate::{map_change, same_value, Decision, MappingInput, SkipReason, UserDirectory};
use chrono::{DateTime, Utc};
use ferry_domain::{
    Direction, EntitySnapshot, FieldMapping, FieldValue, Fingerprint, Flow, Integration, MappingKind, RemoteRefs,
    Scalar, Side, UnmatchedUser, UserRef, ValueTable,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Field keys from a small alphabet, so mappings collide and snapshots hit them often.
fn arb_key() -> impl Strategy<Value = String> {
    "[a-e]"
}

fn arb_email() -> impl Strategy<Value = String> {
    "[uU][0-3]@x\\.test"
}

fn arb_word() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-c]{0,2}", 1 => arb_email(), 1 => "\\PC{0,12}"]
}

fn arb_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (-5i32..5).prop_map(f64::from),
        2 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-0.0),
    ]
}

fn arb_user() -> impl Strategy<Value = UserRef> {
    ("[a-c]{1,2}", proptest::option::of(arb_email()), proptest::option::of("\\PC{0,8}"))
        .prop_map(|(id, email, display_name)| UserRef { id, email, display_name })
}

fn arb_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        Just(FieldValue::Null),
        arb_word().prop_map(FieldValue::Text),
        arb_word().prop_map(FieldValue::RichText),
        arb_number().prop_map(FieldValue::Number),
        any::<bool>().prop_map(FieldValue::Bool),
        (0i64..4_000_000_000)
            .prop_map(|s| FieldValue::DateTime(DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default())),
        arb_word().prop_map(FieldValue::Option),
        proptest::collection::vec(arb_word(), 0..4).prop_map(FieldValue::List),
        arb_user().prop_map(FieldValue::User),
    ]
}

fn arb_scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        arb_word().prop_map(Scalar::Text),
        arb_number().prop_map(Scalar::Number),
        any::<bool>().prop_map(Scalar::Bool),
    ]
}

fn arb_table() -> impl Strategy<Value = ValueTable> {
    proptest::collection::vec((arb_word(), arb_word()), 0..5)
        .prop_map(|rows| ValueTable { rows, origin: String::new() })
}

fn arb_mapping() -> impl Strategy<Value = FieldMapping> {
    (
        proptest::option::weighted(0.9, arb_key()),
        proptest::option::weighted(0.9, arb_key()),
        prop_oneof![
            3 => Just(Direction::Both),
            1 => Just(Direction::LeftToRight),
            1 => Just(Direction::RightToLeft)
        ],
        prop_oneof![
            Just(MappingKind::Value),
            Just(MappingKind::RichText),
            Just(MappingKind::User),
            Just(MappingKind::Status)
        ],
        proptest::option::of(arb_table()),
        proptest::option::of(arb_scalar()),
        proptest::option::of(arb_scalar()),
        proptest::option::of(arb_scalar()),
        prop_oneof![Just(UnmatchedUser::Default), Just(UnmatchedUser::Skip), Just(UnmatchedUser::Fail)],
    )
        .prop_map(|(left, right, direction, kind, values, default_left, default_right, constant, unmatched)| {
            FieldMapping {
                left: left.map(|k| key(&k)),
                right: right.map(|k| key(&k)),
                direction,
                kind,
                values,
                default_left,
                default_right,
                constant,
                unmatched,
                conflict: Default::default(),
            }
        })
}

fn arb_integration() -> impl Strategy<Value = Integration> {
    (
        proptest::collection::vec(arb_mapping(), 1..7),
        proptest::option::of(arb_key()),
        proptest::option::of(arb_key()),
        proptest::collection::vec((arb_email(), arb_email()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(fields, left_id, right_id, user_rows, stop)| {
            let mut i = integration(fields);
            i.remote = RemoteRefs {
                left_id_field: left_id.map(|k| key(&k)),
                right_id_field: right_id.map(|k| key(&k)),
                ..Default::default()
            };
            i.users.rows = user_rows;
            if stop {
                i.filter_exit = ferry_domain::FilterExit::StopSyncing;
            }
            i
        })
}

fn arb_fields() -> impl Strategy<Value = BTreeMap<String, FieldValue>> {
    proptest::collection::btree_map(arb_key(), arb_value(), 0..6)
}

fn arb_snapshot() -> impl Strategy<Value = EntitySnapshot> {
    (arb_fields(), "\\PC{0,6}", "[0-9]{1,2}", proptest::option::of(arb_user())).prop_map(
        |(fields, k, revision, changed_by)| {
            let mut s = snapshot(vec![]);
            s.fields = fields.into_iter().map(|(k, v)| (key(&k), v)).collect();
            s.key = k;
            s.revision = revision;
            s.changed_by = changed_by;
            s
        },
    )
}

fn arb_directory() -> impl Strategy<Value = UserDirectory> {
    proptest::collection::vec((arb_email(), arb_user()), 0..4).prop_map(|rows| rows.into_iter().collect())
}

fn arb_flow() -> impl Strategy<Value = Flow> {
    prop_oneof![Just(Flow::LeftToRight), Just(Flow::RightToLeft)]
}

fn fp_of(side: Side, values: BTreeMap<String, FieldValue>, revision: Option<String>) -> Fingerprint {
    let mut fp = fingerprint(side, values);
    fp.written_revision = revision;
    fp
}

fn input<'a>(
    integration: &'a Integration,
    flow: Flow,
    source: &'a EntitySnapshot,
    users: &'a UserDirectory,
    target_fingerprint: Option<&'a Fingerprint>,
    linked: bool,
) -> MappingInput<'a> {
    MappingInput {
        integration,
        flow,
        source,
        users,
        source_integration_user: None,
        source_fingerprint: None,
        target_fingerprint,
        linked,
        matches_filter: true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) l -> r -> l returns l when the right column is unique.
    #[test]
    fn a_both_ways_value_map_round_trips(
        by_right in proptest::collection::btree_map("[a-z]{1,3}", "[A-Z]{1,3}", 1..8),
        pick in any::<prop::sample::Index>(),
        kind in prop_oneof![Just(MappingKind::Value), Just(MappingKind::Status)],
        as_text in any::<bool>(),
    ) {
        let rows: Vec<(String, String)> = by_right.into_iter().map(|(r, l)| (l, r)).collect();
        let left = rows[pick.index(rows.len())].0.clone();
        let i = integration(vec![FieldMapping {
            kind,
            values: Some(ValueTable { rows, origin: "inline".into() }),
            ..fm("priority", "Priority")
        }]);
        let users = UserDirectory::new();
        let source_value = if as_text { FieldValue::Text(left.clone()) } else { FieldValue::Option(left.clone()) };
        let src = snapshot(vec![("priority", source_value)]);
        let out = map_change(&input(&i, Flow::LeftToRight, &src, &users, None, false));
        let right = expect_write(&out).mapped.get("Priority").cloned();
        prop_assert!(right.is_some(), "{:?}", out);
        let back_src = snapshot(vec![("Priority", right.unwrap_or(FieldValue::Null))]);
        let back = map_change(&input(&i, Flow::RightToLeft, &back_src, &users, None, false));
        let back = expect_write(&back);
        prop_assert_eq!(back.mapped.get("priority"), Some(&FieldValue::Option(left)));
    }

    /// (b) Mapping the same change again over the fingerprint of the first write writes nothing.
    #[test]
    fn mapping_the_same_change_twice_writes_once(
        i in arb_integration(),
        src in arb_snapshot(),
        users in arb_directory(),
        flow in arb_flow(),
        prior in proptest::option::of(arb_fields()),
        linked in any::<bool>(),
    ) {
        let prior_fp = prior.map(|v| fp_of(flow.target(), v, None));
        let first = map_change(&input(&i, flow, &src, &users, prior_fp.as_ref(), linked));
        if let Decision::Write { mapped, .. } = &first.decision {
            // The fingerprint stores the mapped values by field name.
            let values = mapped.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            let fp = fp_of(flow.target(), values, None);
            let second = map_change(&input(&i, flow, &src, &users, Some(&fp), true));
            prop_assert!(
                matches!(second.decision, Decision::Skip { reason: SkipReason::Unchanged, .. }),
                "first {:?}\nsecond {:?}", first, second
            );
        }
    }

    /// (c) A default never replaces a real source value that maps.
    #[test]
    fn defaults_never_overwrite_a_real_value(
        v in arb_value().prop_filter("a real value", |v| !v.is_null()),
        default in arb_scalar(),
        with_table in any::<bool>(),
        prior in proptest::option::of(arb_fields()),
        linked in any::<bool>(),
    ) {
        let (values, want) = if with_table {
            let k = v.key_string().unwrap_or_default();
            let t = ValueTable { rows: vec![(k, "mapped".into()), ("zz".into(), "0".into())], origin: String::new() };
            let want = if matches!(v, FieldValue::List(_)) { None } else { Some(FieldValue::Option("mapped".into())) };
            (Some(t), want)
        } else {
            (None, Some(v.clone()))
        };
        // Lists with a table map element-wise; that path is covered by the table tests.
        prop_assume!(want.is_some());
        let i = integration(vec![FieldMapping { values, default_right: Some(default), ..fm("f", "g") }]);
        let src = snapshot(vec![("f", v)]);
        let users = UserDirectory::new();
        let prior_fp = prior.map(|p| fp_of(Side::Right, p, None));
        let out = map_change(&input(&i, Flow::LeftToRight, &src, &users, prior_fp.as_ref(), linked));
        let mapped = match &out.decision {
            Decision::Write { mapped, .. } => mapped.get("g").cloned(),
            Decision::Skip { reason: SkipReason::Unchanged, .. } => want.clone(),
            other => { prop_assert!(false, "unexpected {:?}", other); None }
        };
        let (mapped, want) = (mapped.unwrap_or(FieldValue::Null), want.unwrap_or(FieldValue::Null));
        prop_assert!(same_value(&mapped, &want), "mapped {:?}, want {:?}", mapped, want);
    }

    /// (d) Never panics, and a write is internally consistent.
    #[test]
    fn map_change_never_panics_and_writes_consistently(
        i in arb_integration(),
        src in arb_snapshot(),
        users in arb_directory(),
        flow in arb_flow(),
        integration_user in proptest::option::of(arb_user()),
        source_fp in proptest::option::of((arb_fields(), proptest::option::of("[0-9]{1,2}"))),
        target_fp in proptest::option::of(arb_fields()),
        linked in any::<bool>(),
        matches_filter in any::<bool>(),
    ) {
        let source_fp = source_fp.map(|(v, rev)| fp_of(flow.source(), v, rev));
        let target_fp = target_fp.map(|v| fp_of(flow.target(), v, None));
        let out = map_change(&MappingInput {
            integration: &i,
            flow,
            source: &src,
            users: &users,
            source_integration_user: integration_user.as_ref(),
            source_fingerprint: source_fp.as_ref(),
            target_fingerprint: target_fp.as_ref(),
            linked,
            matches_filter,
        });
        let _ = crate::needed_target_emails(&i, flow, &src);
        let _ = crate::source_fields(&i, flow);
        match &out.decision {
            Decision::Write { create, changes, mapped } => {
                prop_assert_eq!(*create, !linked);
                for c in changes {
                    let m = mapped.get(c.field.as_str());
                    prop_assert!(m.is_some_and(|m| same_value(m, &c.value)), "{:?} not in {:?}", c, mapped);
                    if *create { prop_assert!(!c.value.is_null()); }
                }
                if !*create { prop_assert!(!changes.is_empty()); }
            }
            Decision::Skip { reason: SkipReason::Unchanged, .. } => prop_assert!(linked),
            Decision::Skip { reason: SkipReason::Filtered, .. } => prop_assert!(!matches_filter),
            Decision::Skip { .. } => {}
            Decision::Fail { category, message } => {
                prop_assert!(matches!(category, ferry_domain::ErrorCategory::MappingValueMissing | ferry_domain::ErrorCategory::UserNotFound));
                prop_assert!(!message.is_empty());
            }
        }
    }
}
