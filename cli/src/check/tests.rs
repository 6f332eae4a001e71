use super::*;
use ferry_domain::{FieldKey, FieldType};

const CONFIG: &str = "systems:
  - { id: j, kind: jira, base_url: 'https://x.atlassian.net', auth: { kind: basic, username: a@b.c, token: { env: T } } }
  - { id: a, kind: azure_devops, base_url: 'https://dev.azure.com/o', auth: { kind: pat, token: { env: P } }, integration_user: a@b.c }
integrations:
  - id: i
    left: { system: j, project: APP, type: Bug }
    right: { system: a, project: App, type: Bug }
    remote: { left_id_field: customfield_1 }
    fields:
      - { left: summary, right: System.Title }
      - left: priority
        right: Microsoft.VSTS.Common.Priority
        values: { inline: { High: 1, Hihg: 2 } }
      - { left: status, right: System.State, type: status, values: { inline: { To Do: New, Done: Closed } } }
      - { left: created, right: System.CreatedDate }
";

fn integration() -> (Integration, Places) {
    let set = ferry_config::load_str("f.yaml", CONFIG, std::path::Path::new(".")).expect("valid");
    (set.integrations[0].clone(), set.places)
}

fn field(key: &str, allowed: &[&str], read_only: bool) -> FieldInfo {
    FieldInfo {
        key: FieldKey::new(key),
        name: key.to_uppercase(),
        field_type: FieldType::Text,
        required: false,
        allowed_values: allowed.iter().map(|s| s.to_string()).collect(),
        read_only,
    }
}

fn facts(project: &str, ty: &str, states: &[&str], fields: Vec<FieldInfo>) -> SideFacts {
    SideFacts {
        projects: vec![ProjectInfo { id: "1".into(), key: project.into(), name: project.into() }],
        types: Some(vec![EntityTypeInfo {
            id: "10".into(),
            name: ty.into(),
            states: states.iter().map(|s| s.to_string()).collect(),
        }]),
        fields: Some(fields),
        filter_error: None,
    }
}

fn kinds(found: &[RawFinding]) -> Vec<(FindingKind, &str)> {
    found.iter().map(|f| (f.kind, f.key.as_str())).collect()
}

#[test]
fn a_side_whose_fields_values_and_statuses_all_exist_has_no_findings() {
    let (i, _) = integration();
    let right = facts(
        "App",
        "Bug",
        &["New", "Closed"],
        vec![
            field("System.Title", &[], false),
            field("Microsoft.VSTS.Common.Priority", &["1", "2"], false),
            field("System.State", &[], false),
            field("System.CreatedDate", &[], false),
        ],
    );
    assert_eq!(kinds(&side_findings(&i, Side::Right, &right)), vec![]);
}

#[test]
fn each_rule_reports_its_own_kind_at_its_own_key() {
    let (i, _) = integration();
    let left = SideFacts {
        filter_error: Some("bad JQL".into()),
        ..facts(
            "APP",
            "Bug",
            &["To Do", "In Progress"],
            vec![
                field("summary", &[], false),
                field("priority", &["High", "Low"], false),
                field("status", &[], false),
                field("created", &[], true),
            ],
        )
    };
    assert_eq!(
        kinds(&side_findings(&i, Side::Left, &left)),
        vec![
            (FindingKind::ValueNotAllowed, "fields[1].values.inline.Hihg"),
            (FindingKind::UnknownStatus, "fields[2].values.inline.Done"),
            (FindingKind::ReadOnlyField, "fields[3].left"),
            (FindingKind::RemoteIdField, "remote.left_id_field"),
            (FindingKind::Filter, "filters.left_to_right"),
        ]
    );
}

#[test]
fn an_unknown_field_is_reported_and_its_values_are_not_judged() {
    let (i, _) = integration();
    let left = facts("APP", "Bug", &[], vec![field("summary", &[], false), field("customfield_1", &[], false)]);
    let found = side_findings(&i, Side::Left, &left);
    assert_eq!(
        kinds(&found),
        vec![
            (FindingKind::UnknownField, "fields[1].left"),
            (FindingKind::UnknownField, "fields[2].left"),
            (FindingKind::UnknownField, "fields[3].left"),
        ]
    );
}

#[test]
fn a_project_or_type_the_user_does_not_see_stops_the_side_with_one_finding() {
    let (i, _) = integration();
    let hidden = SideFacts { types: None, fields: None, ..facts("OTHER", "Bug", &[], vec![]) };
    assert_eq!(kinds(&side_findings(&i, Side::Left, &hidden)), vec![(FindingKind::Project, "left.project")]);
    let no_type = SideFacts { fields: None, ..facts("APP", "Task", &[], vec![]) };
    assert_eq!(kinds(&side_findings(&i, Side::Left, &no_type)), vec![(FindingKind::EntityType, "left.type")]);
}

#[test]
fn findings_are_placed_at_the_line_that_declared_their_key() {
    let (i, places) = integration();
    let raw = RawFinding::new(FindingKind::ValueNotAllowed, "fields[1].values.inline.Hihg".into(), "m".into(), None);
    let placed = raw.place(&i, &places);
    assert_eq!((placed.file.as_deref(), placed.line), (Some("f.yaml"), Some(13)));
    let csv_like = RawFinding::new(FindingKind::UnknownStatus, "fields[0].values.inline.x".into(), "m".into(), None);
    assert_eq!(csv_like.place(&i, &places).line, Some(10), "falls back to the mapping's line");
    assert!(placed.to_string().starts_with("f.yaml:13:"), "{placed}");
}
