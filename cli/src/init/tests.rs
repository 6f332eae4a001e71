use super::*;
use ferry_domain::{FieldKey, FieldType};

fn field(key: &str, name: &str, ty: FieldType, allowed: &[&str]) -> FieldInfo {
    FieldInfo {
        key: FieldKey::new(key),
        name: name.into(),
        field_type: ty,
        required: false,
        allowed_values: allowed.iter().map(|s| s.to_string()).collect(),
        read_only: false,
    }
}

fn user(id: &str, email: &str) -> UserRef {
    UserRef { id: id.into(), email: Some(email.into()), display_name: Some(id.into()) }
}

fn sides() -> (SideFacts, SideFacts) {
    let left = SideFacts {
        system: "jira".into(),
        project: "APP".into(),
        entity_type: "Bug".into(),
        states: vec!["To Do".into(), "In Progress".into(), "Done".into()],
        fields: vec![
            field("summary", "Summary", FieldType::Text, &[]),
            field("priority", "Priority", FieldType::Option, &["High", "Medium", "Highest"]),
            field("status", "Status", FieldType::Option, &[]),
            field("customfield_1", "Team", FieldType::Option, &["Red"]),
        ],
        users: vec![user("alice", "alice@acme.test"), user("dave", "dave@acme.test")],
    };
    let right = SideFacts {
        system: "ado".into(),
        project: "App".into(),
        entity_type: "Bug".into(),
        states: vec!["New".into(), "In Progress".into(), "Done".into()],
        fields: vec![
            field("System.Title", "Title", FieldType::Text, &[]),
            field("Microsoft.VSTS.Common.Priority", "Priority", FieldType::Option, &["high", "medium", "1"]),
            field("System.State", "State", FieldType::Option, &[]),
            field("Custom.Team", "Team", FieldType::Option, &["Blue"]),
            FieldInfo { required: true, ..field("Custom.Risk", "Risk", FieldType::Text, &[]) },
        ],
        users: vec![user("a1", "ALICE@acme.test"), user("e1", "erin@acme.test")],
    };
    (left, right)
}

#[test]
fn a_proposal_maps_what_matches_and_marks_every_gap_in_the_files_and_the_list() {
    let (left, right) = sides();
    let p = propose("app-bugs", &left, &right, "app-bugs-status.csv");
    let kinds: Vec<(&str, Option<&str>)> = p.gaps.iter().map(|g| (g.kind, g.field.as_deref())).collect();
    assert_eq!(
        kinds,
        [
            ("values", Some("priority")),
            ("status", Some("status")),
            ("values", Some("customfield_1")),
            ("users", None),
            ("required", Some("Custom.Risk")),
            ("remote_id", None),
        ]
    );
    let y = &p.yaml;
    assert!(y.contains(r#"inline: { "High": "high", "Medium": "medium" }"#), "{y}");
    assert!(y.contains("# GAP: left values without a match: Highest"), "{y}");
    assert!(y.contains(r#"csv: { file: "app-bugs-status.csv", left_column: left, right_column: right }"#), "{y}");
    // Team has no value in common: its mapping waits, commented out, so the file stays valid.
    assert!(y.contains("      # - left: \"customfield_1\"\n      #   right: \"Custom.Team\"\n"), "{y}");
    assert!(y.contains("# GAP: left user without a match: dave <dave@acme.test>"), "{y}");
    assert!(y.contains("# GAP: required on create in the right system, nothing fills it: Custom.Risk (Risk)"), "{y}");
    assert_eq!(
        p.status_csv.as_deref(),
        Some("left,right,left_gap,right_gap\nIn Progress,In Progress,,\nDone,Done,,\n,,To Do,\n,,,New\n")
    );
}
