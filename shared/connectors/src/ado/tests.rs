//! Parsing and conversion tests against Microsoft's example payloads (copied into
//! `tests/fixtures/`), plus constructor policy.

use super::snapshot::{read_fields, revision};
use super::wire::*;
use super::*;
use ferry_domain::{FieldType, FieldValue, SecretRef, SystemId};
use serde_json::{json, Value};
use std::collections::HashSet;

/// The response body of a Microsoft `httpExamples` file.
fn example_body(text: &str) -> Value {
    let v: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
    v["responses"]["200"]["body"].clone()
}

fn fields_catalog() -> FieldCatalog {
    let body = example_body(include_str!("../../tests/fixtures/ado_fields.json"));
    let list: ListOf<FieldDef> = serde_json::from_value(body).unwrap();
    FieldCatalog::new(list.value)
}

fn system(base: &str, user: Option<&str>) -> SystemConfig {
    SystemConfig {
        id: SystemId::parse("ado").unwrap(),
        kind: SystemKind::AzureDevops,
        base_url: base.into(),
        identity_url: None,
        auth: AuthConfig::Pat { token: SecretRef::Env("ADO_PAT".into()) },
        integration_user: user.map(str::to_string),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: false,
        webhook: None,
        rate_limit: None,
    }
}

fn connector(base: &str) -> AdoConnector {
    AdoConnector::new(
        &system(base, Some("bot@acme.test")),
        SecretString::from("pat-secret-value"),
        HttpOptions::default(),
    )
    .unwrap()
}

fn keys(names: &[&str]) -> Vec<FieldKey> {
    names.iter().map(|n| FieldKey::new(*n)).collect()
}

#[test]
fn example_work_item_becomes_a_snapshot_with_typed_fields() {
    let body = example_body(include_str!("../../tests/fixtures/ado_workitem_get.json"));
    let item: WorkItem = serde_json::from_value(body).unwrap();
    let c = connector("https://dev.azure.com/fabrikam");
    let requested = keys(&[
        "System.Title",
        "System.AssignedTo",
        "System.Tags",
        "Microsoft.VSTS.Common.Priority",
        "System.Description",
        "System.State",
    ]);
    let on_type: HashSet<String> =
        ["system.title", "system.assignedto", "system.tags", "microsoft.vsts.common.priority", "system.description"]
            .into_iter()
            .map(String::from)
            .collect();
    let s = c.snapshot("Fabrikam-Fiber-Git", &item, &fields_catalog(), &on_type, &requested).unwrap();
    assert_eq!(s.id.as_str(), "12");
    assert_eq!(s.key, "12");
    assert_eq!(s.revision, "3");
    assert_eq!(s.updated, parse_time("2017-10-04T23:32:02.18Z").unwrap());
    assert_eq!(s.url, "https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_workitems/edit/12");
    let by = s.changed_by.unwrap();
    assert_eq!(by.id, "d291b0c4-a05c-4ea6-8df1-4b41d5f39eff");
    assert_eq!(by.email.as_deref(), Some("fabrikamfiber4@hotmail.com"));
    assert_eq!(by.display_name.as_deref(), Some("Jamal Hartnett"));
    let f = |k: &str| s.fields.get(&FieldKey::new(k)).cloned();
    assert_eq!(f("System.Title"), Some(FieldValue::Text("Epic 2".into())));
    assert_eq!(f("System.State"), Some(FieldValue::Text("Active".into())));
    assert_eq!(f("System.Tags"), Some(FieldValue::List(vec!["client".into(), "sample".into(), "teamservices".into()])));
    assert_eq!(f("Microsoft.VSTS.Common.Priority"), Some(FieldValue::Number(2.0)));
    assert!(
        matches!(f("System.AssignedTo"), Some(FieldValue::User(u)) if u.email.as_deref() == Some("fabrikamfiber4@hotmail.com"))
    );
    // Left out of the item while its type has the field: empty (Azure DevOps omits
    // empty fields).
    assert_eq!(f("System.Description"), Some(FieldValue::Null));
    // Not requested: not in the map.
    assert_eq!(f("System.AreaPath"), None);
}

#[test]
fn example_batch_response_parses_count_value_wrapper() {
    let body = example_body(include_str!("../../tests/fixtures/ado_workitems_batch.json"));
    let list: ListOf<Option<WorkItem>> = serde_json::from_value(body).unwrap();
    let items: Vec<WorkItem> = list.value.into_iter().flatten().collect();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![297, 299, 300]);
    assert_eq!(revision(&items[1]), 7);
    let cat = fields_catalog();
    let key = "Microsoft.VSTS.Scheduling.RemainingWork";
    let v = read_value(key, cat.kind(key), &items[1].fields[key]);
    assert_eq!(v, Some(FieldValue::Number(4.0)));
    // The example selected no ChangedDate: a snapshot needs it and says so.
    let err =
        connector("https://dev.azure.com/fabrikam").snapshot("P", &items[0], &cat, &HashSet::new(), &[]).unwrap_err();
    assert_eq!(err.category, ErrorCategory::BadResponse);
}

#[test]
fn batch_with_omitted_items_skips_the_nulls() {
    let list: ListOf<Option<WorkItem>> =
        serde_json::from_value(json!({"count": 2, "value": [null, {"id": 5, "rev": 2}]})).unwrap();
    let items: Vec<WorkItem> = list.value.into_iter().flatten().collect();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id, 5);
}

#[test]
fn example_flat_wiql_result_yields_ids_in_order() {
    let body = example_body(include_str!("../../tests/fixtures/ado_wiql_flat.json"));
    let r: WiqlResult = serde_json::from_value(body).unwrap();
    let ids: Vec<u64> = r.work_items.iter().map(|w| w.id).collect();
    assert_eq!(&ids[..4], &[300, 299, 298, 17]);
    assert_eq!(r.as_of.as_deref().and_then(parse_time), parse_time("2014-12-29T20:49:34.617Z"));
}

#[test]
fn example_identity_matches_mail_case_insensitively() {
    let body = example_body(include_str!("../../tests/fixtures/ado_identities_by_email.json"));
    let list: ListOf<Identity> = serde_json::from_value(body).unwrap();
    let id = &list.value[0];
    assert!(id.is_user());
    assert!(id.matches_email("JTSENG@vscsi.us"));
    assert!(!id.matches_email("jtseng@vscsi"));
    let u = id.to_user();
    assert_eq!(u.id, "81fa6389-0872-6fdd-a451-7ba7880f566a");
    assert_eq!(u.email.as_deref(), Some("jtseng@vscsi.us"));
    assert_eq!(u.display_name.as_deref(), Some("Jia-hao Tseng"));
}

#[test]
fn identity_fields_accept_refs_and_legacy_strings() {
    let legacy = identity_ref(&json!("Jamal Hartnett <fabrikamfiber4@hotmail.com>")).unwrap();
    assert_eq!(legacy.email.as_deref(), Some("fabrikamfiber4@hotmail.com"));
    assert_eq!(legacy.display_name.as_deref(), Some("Jamal Hartnett"));
    assert_eq!(identity_ref(&json!("")), None);
    assert_eq!(identity_ref(&json!(42)), None);
}

#[test]
fn reads_convert_by_field_type() {
    let cat = fields_catalog();
    let cases: Vec<(&str, Value, Option<FieldValue>)> = vec![
        ("System.Description", json!("<p>x</p>"), Some(FieldValue::RichText("<p>x</p>".into()))),
        ("System.History", json!("<b>h</b>"), Some(FieldValue::RichText("<b>h</b>".into()))),
        ("System.Title", json!("T"), Some(FieldValue::Text("T".into()))),
        ("System.Tags", json!("a; b;;c "), Some(FieldValue::List(vec!["a".into(), "b".into(), "c".into()]))),
        ("Microsoft.VSTS.Common.Priority", json!(3), Some(FieldValue::Number(3.0))),
        ("Microsoft.VSTS.Common.Priority", json!("4"), Some(FieldValue::Number(4.0))),
        (
            "System.ChangedDate",
            json!("2026-11-26T18:00:00Z"),
            Some(FieldValue::DateTime(parse_time("2026-11-26T18:00:00Z").unwrap())),
        ),
        ("System.Title", Value::Null, None),
        ("Custom.Unknown", json!(true), Some(FieldValue::Bool(true))),
        ("Custom.Unknown", json!(1.5), Some(FieldValue::Number(1.5))),
    ];
    for (field, wire, want) in cases {
        assert_eq!(read_value(field, cat.kind(field), &wire), want, "{field} {wire}");
    }
}

#[test]
fn writes_coerce_to_the_target_field_type() {
    let cat = fields_catalog();
    let bob = UserRef { id: "g".into(), email: Some("bob@acme.test".into()), display_name: Some("Bob Smith".into()) };
    let nameless = UserRef { id: "g".into(), email: None, display_name: Some("Bob Smith".into()) };
    let t = parse_time("2026-11-26T18:00:00.5+01:00").unwrap();
    let cases: Vec<(&str, FieldValue, Value)> = vec![
        ("Microsoft.VSTS.Common.Priority", FieldValue::Option("2".into()), json!(2)),
        ("Microsoft.VSTS.Common.Priority", FieldValue::Text(" 3 ".into()), json!(3)),
        ("Microsoft.VSTS.Common.Priority", FieldValue::Number(1.0), json!(1)),
        ("Microsoft.VSTS.Scheduling.RemainingWork", FieldValue::Text("2.5".into()), json!(2.5)),
        ("System.AssignedTo", FieldValue::User(bob), json!("bob@acme.test")),
        ("System.AssignedTo", FieldValue::User(nameless), json!("Bob Smith")),
        ("System.Description", FieldValue::RichText("<p>a</p>".into()), json!("<p>a</p>")),
        ("System.Description", FieldValue::Text("a < b & c".into()), json!("a &lt; b &amp; c")),
        ("System.Title", FieldValue::RichText("<p>Fish &amp; chips</p>".into()), json!("Fish & chips")),
        // Rich text into a plain-text field reads as the page shows it (the html module's rules).
        (
            "System.Title",
            FieldValue::RichText("<p>Caf&eacute;\n  &lt;menu&gt;</p><style>p{}</style><p>open&nbsp;late</p>".into()),
            json!("Café <menu>\nopen\u{a0}late"),
        ),
        ("System.Tags", FieldValue::List(vec!["a".into(), "b".into()]), json!("a; b")),
        ("System.ChangedDate", FieldValue::DateTime(t), json!("2026-11-26T17:00:00.500Z")),
        ("System.Title", FieldValue::Number(2.0), json!("2")),
    ];
    for (field, value, want) in cases {
        let got = write_value(field, cat.kind(field), &value).unwrap();
        assert_eq!(got, want, "{field} {value:?}");
    }
}

#[test]
fn writes_that_cannot_be_coerced_are_invalid_requests() {
    let cat = fields_catalog();
    let cases: Vec<(&str, FieldValue)> = vec![
        ("Microsoft.VSTS.Common.Priority", FieldValue::Option("High".into())),
        ("Microsoft.VSTS.Common.Priority", FieldValue::Number(2.5)),
        ("System.AssignedTo", FieldValue::Number(1.0)),
        ("System.AssignedTo", FieldValue::User(UserRef { id: "x".into(), email: None, display_name: None })),
        ("System.ChangedDate", FieldValue::Text("yesterday".into())),
    ];
    for (field, value) in cases {
        let err = write_value(field, cat.kind(field), &value).unwrap_err();
        assert_eq!(err.category, ErrorCategory::InvalidRequest, "{field}");
        assert!(err.message.contains(field), "{}", err.message);
    }
}

#[test]
fn discovery_types_follow_the_field_catalog() {
    let cat = fields_catalog();
    let t = |f: &str, allowed: bool| field_type(f, cat.kind(f), allowed);
    assert_eq!(t("System.Tags", false), FieldType::List);
    assert_eq!(t("System.AssignedTo", false), FieldType::User);
    assert_eq!(t("System.State", true), FieldType::Option);
    assert_eq!(t("System.Title", false), FieldType::Text);
    assert_eq!(t("System.Description", false), FieldType::RichText);
    assert_eq!(t("Microsoft.VSTS.Common.Priority", true), FieldType::Number);
    assert_eq!(t("Custom.Nope", false), FieldType::Other);
}

#[test]
fn error_text_reads_the_ado_message() {
    let body = br#"{"$id":"1","innerException":null,"message":"TF51535: Cannot find field Custom.Nope.","typeKey":"WorkItemTrackingFieldDefinitionNotFoundException","errorCode":0}"#;
    assert_eq!(error_text(body).as_deref(), Some("TF51535: Cannot find field Custom.Nope."));
    assert_eq!(error_text(b"<html>oops</html>"), None);
    assert_eq!(error_text(br#"{"message":""}"#), None);
}

#[test]
fn unknown_identity_errors_become_user_not_found() {
    let e = PortError::new(
        ErrorCategory::InvalidRequest,
        "HTTP 400: The identity value 'x@y' for field 'Assigned To' is an unknown identity.",
    );
    assert_eq!(refine(e).category, ErrorCategory::UserNotFound);
    let other = PortError::new(ErrorCategory::InvalidRequest, "TF51535: Cannot find field");
    assert_eq!(refine(other).category, ErrorCategory::InvalidRequest);
}

#[test]
fn read_fields_always_include_revision_and_changed_by_once() {
    let f = read_fields(&keys(&["System.Title", "Custom.JiraKey", "system.rev"]));
    assert_eq!(f.iter().filter(|x| x.eq_ignore_ascii_case("System.Rev")).count(), 1);
    assert!(f.contains(&"System.ChangedBy".to_string()));
    assert!(f.contains(&"Custom.JiraKey".to_string()));
}

#[test]
fn constructor_derives_organization_and_identity_host() {
    let c = connector("https://dev.azure.com/acme");
    assert_eq!(c.identity_base.as_str(), "https://vssps.dev.azure.com/acme/");
    let url = c.wit("My Project", &["workitems", "$Bug"], &[]).unwrap();
    assert_eq!(url.as_str(), "https://dev.azure.com/acme/My%20Project/_apis/wit/workitems/$Bug?api-version=7.1");
    assert_eq!(c.entity_url("My Project", 7), "https://dev.azure.com/acme/My%20Project/_workitems/edit/7");
    let other = connector("https://ado.example.com/tfs/acme/");
    assert_eq!(other.identity_base.as_str(), "https://ado.example.com/tfs/acme/");
    let mut explicit = system("https://dev.azure.com/acme", Some("bot@acme.test"));
    explicit.identity_url = Some("https://ids.example.com/acme".into());
    let c = AdoConnector::new(&explicit, SecretString::from("p"), HttpOptions::default()).unwrap();
    assert_eq!(c.identity_base.as_str(), "https://ids.example.com/acme/");
}

#[test]
fn constructor_rejects_bad_configuration_without_leaking_the_pat() {
    let pat = "pat-secret-value";
    let cases = [
        system("https://dev.azure.com/acme", None),
        system("https://dev.azure.com/acme", Some("  ")),
        system("https://dev.azure.com", Some("bot@acme.test")),
        system("http://dev.azure.com/acme", Some("bot@acme.test")),
    ];
    for sys in cases {
        let err = AdoConnector::new(&sys, SecretString::from(pat), HttpOptions::default()).unwrap_err();
        assert_eq!(err.category, ErrorCategory::Config, "{}", err.message);
        assert!(!err.message.contains(pat));
    }
}

#[test]
fn debug_output_does_not_show_the_pat() {
    let c = connector("https://dev.azure.com/acme");
    assert!(!format!("{c:?}").contains("pat-secret-value"));
}

#[test]
fn oversized_string_field_is_a_permanent_error_naming_the_field() {
    let def = |kind: &str, is_identity: bool| FieldDef {
        reference_name: "System.Title".into(),
        name: "Title".into(),
        kind: Some(kind.into()),
        is_identity,
        is_picklist: false,
        read_only: false,
    };
    let fits = json!("é".repeat(MAX_STRING_CHARS));
    let over = json!("x".repeat(MAX_STRING_CHARS + 1));
    assert!(check_length("System.Title", Some(&def("string", false)), &fits).is_ok());
    let e = check_length("System.Title", Some(&def("string", false)), &over).unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest);
    assert!(!e.is_retryable());
    assert_eq!(
        e.message,
        "field System.Title: the value has 256 characters; Azure DevOps accepts at most 255 in a string field, and Ferry does not truncate"
    );
    assert!(check_length("X", Some(&def("picklistString", false)), &over).is_err());
    // Long-text fields and identities are not limited here; unknown fields are the server's call.
    for (kind, identity) in [("html", false), ("plainText", false), ("string", true)] {
        assert!(check_length("X", Some(&def(kind, identity)), &over).is_ok(), "{kind}");
    }
    assert!(check_length("X", None, &over).is_ok());
}
