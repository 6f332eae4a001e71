use super::*;
use ferry_domain::{
    AuthConfig, Direction, FilterExit, Flow, MappingKind, Scalar, SecretRef, SystemKind, UnmatchedUser,
};
use std::path::PathBuf;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A valid file; the error cases below each change one thing in it.
const BASE: &str = "\
systems:
  - id: jira
    kind: jira
    base_url: https://acme.atlassian.net
    auth: { kind: basic, username: bot@acme.test, token: { env: JIRA_TOKEN } }
  - id: ado
    kind: azure_devops
    base_url: https://dev.azure.com/acme
    auth: { kind: pat, token: { ssm: /ferry/ado } }
    integration_user: bot@acme.test
integrations:
  - id: bugs
    left: { system: jira, project: APP, type: Bug }
    right: { system: ado, project: App, type: Bug }
    poll_interval: 30s
    start_time: 2026-01-01T00:00:00Z
    fields:
      - { left: summary, right: System.Title }
      - left: priority
        right: Microsoft.VSTS.Common.Priority
        direction: both
        values: { inline: { High: 2, Medium: 3 } }
      - { left: status, right: System.State, type: status, values: { csv: { file: status.csv, left_column: jira, right_column: ado } } }
      - { left: assignee, right: System.AssignedTo, type: user, unmatched: skip }
";

fn load(text: &str) -> Result<ConfigSet, ConfigErrors> {
    load_str("t.yaml", text, &examples_dir())
}

/// `text` fails to load with an error containing `fragment`, at `line` and key `path`;
/// all the errors and that one, for further checks.
fn assert_error_at(what: &str, text: &str, line: usize, path: &str, fragment: &str) -> (ConfigErrors, ConfigError) {
    let errs = match load(text) {
        Ok(_) => panic!("{what}: loaded without errors"),
        Err(e) => e,
    };
    let found = errs
        .0
        .iter()
        .find(|e| e.message.contains(fragment))
        .cloned()
        .unwrap_or_else(|| panic!("{what}: no error containing {fragment:?} in:\n{errs}"));
    assert_eq!(found.line, Some(line), "{what}: {found}");
    assert_eq!(found.path, path, "{what}: {found}");
    (errs, found)
}

fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE does not contain {from:?}");
    BASE.replacen(from, to, 1)
}

fn append(line: &str) -> String {
    format!("{BASE}{line}\n")
}

#[test]
fn base_config_is_valid() {
    let set = load(BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.systems.len(), 2);
    let i = &set.integrations[0];
    assert_eq!(i.poll_interval_secs, 30);
    assert_eq!(i.overlap_secs, 120);
    assert_eq!(i.max_attempts, 5);
    assert_eq!(i.fields.len(), 4);
    assert!(i.remote.left_link && i.remote.right_link);
}

#[test]
fn each_error_kind_is_reported_at_its_line_and_key_path() {
    // (what, text, line, path, message fragment)
    let cases: Vec<(&str, String, usize, &str, &str)> = vec![
        (
            "unknown key",
            edit("        direction: both", "        directon: both"),
            21,
            "integrations[0].fields[1].directon",
            "unknown key \"directon\"",
        ),
        (
            "wrong type",
            edit("poll_interval: 30s", "poll_interval: [30s]"),
            15,
            "integrations[0].poll_interval",
            "expected a duration",
        ),
        (
            "wrong type: mapping expected",
            edit("    left: { system: jira, project: APP, type: Bug }", "    left: jira"),
            13,
            "integrations[0].left",
            "expected a mapping, found a string",
        ),
        (
            "bad direction",
            edit("direction: both", "direction: sideways"),
            21,
            "integrations[0].fields[1].direction",
            "unknown direction \"sideways\"",
        ),
        (
            "bad system kind",
            edit("kind: azure_devops", "kind: azure"),
            7,
            "systems[1].kind",
            "unknown system kind \"azure\"",
        ),
        (
            "unknown system",
            edit("system: ado, project", "system: adoo, project"),
            14,
            "integrations[0].right.system",
            "unknown system \"adoo\"",
        ),
        (
            "duplicate system id",
            edit("  - id: ado", "  - id: jira"),
            6,
            "systems[1].id",
            "duplicate system id \"jira\"",
        ),
        (
            "missing column",
            edit("left_column: jira", "left_column: jiraa"),
            23,
            "integrations[0].fields[2].values.csv.left_column",
            "status.csv has no column \"jiraa\"",
        ),
        (
            "missing sheet",
            edit(
                "csv: { file: status.csv, left_column: jira, right_column: ado }",
                "sheet: { file: severity.xlsx, sheet: Sev, left_column: Jira, right_column: ADO }",
            ),
            23,
            "integrations[0].fields[2].values.sheet.sheet",
            "severity.xlsx has no sheet \"Sev\"",
        ),
        (
            "missing file",
            edit("file: status.csv", "file: nope.csv"),
            23,
            "integrations[0].fields[2].values.csv.file",
            "file \"nope.csv\" not found",
        ),
        (
            "inline secret",
            edit("token: { env: JIRA_TOKEN }", "token: s3cr3t-value"),
            5,
            "systems[0].auth.token",
            "a secret is given inline",
        ),
        (
            "none source without a constant",
            append("      - { left: none, right: Custom.Origin }"),
            25,
            "integrations[0].fields[4].value",
            "needs value:",
        ),
        (
            "bad unmatched policy",
            edit("unmatched: skip", "unmatched: maybe"),
            24,
            "integrations[0].fields[3].unmatched",
            "unknown unmatched policy \"maybe\"",
        ),
        (
            "bad conflict policy",
            edit("{ left: summary, right: System.Title }", "{ left: summary, right: System.Title, conflict: newest }"),
            18,
            "integrations[0].fields[0].conflict",
            "unknown conflict policy \"newest\"",
        ),
        (
            "conflict on a one-way mapping",
            edit(
                "{ left: summary, right: System.Title }",
                "{ left: summary, right: System.Title, direction: left_to_right, conflict: flag }",
            ),
            18,
            "integrations[0].fields[0].conflict",
            "both-way mappings only",
        ),
        (
            "unmatched on a non-user mapping",
            edit("type: user, unmatched: skip", "unmatched: skip"),
            24,
            "integrations[0].fields[3].unmatched",
            "user mappings only",
        ),
        (
            "http without allow_http_loopback",
            edit("base_url: https://dev.azure.com/acme", "base_url: http://127.0.0.1:8080/acme"),
            8,
            "systems[1].base_url",
            "plain http is refused",
        ),
        (
            "http to a remote host even with allow_http_loopback",
            edit(
                "    base_url: https://dev.azure.com/acme",
                "    base_url: http://dev.azure.com/acme\n    allow_http_loopback: true",
            ),
            8,
            "systems[1].base_url",
            "plain http is refused",
        ),
        (
            "start_time not RFC 3339",
            edit("start_time: 2026-01-01T00:00:00Z", "start_time: 2026-01-01"),
            16,
            "integrations[0].start_time",
            "not an RFC 3339 time",
        ),
        (
            "duplicate target field in one direction",
            append("      - { left: title, right: System.Title }"),
            25,
            "integrations[0].fields[4].right",
            "System.Title is already mapped left_to_right by fields[0] (line 18)",
        ),
        (
            "value map without rows",
            edit("{ inline: { High: 2, Medium: 3 } }", "{ inline: {} }"),
            22,
            "integrations[0].fields[1].values.inline",
            "the inline table has no rows",
        ),
        (
            "missing required key",
            edit("    integration_user: bot@acme.test\n", ""),
            6,
            "systems[1].integration_user",
            "required for azure_devops",
        ),
        (
            "duplicate key",
            edit("    kind: jira\n", "    kind: jira\n    kind: jira\n"),
            4,
            "systems[0].kind",
            "duplicate key \"kind\"",
        ),
        (
            "poll interval below the minimum",
            edit("poll_interval: 30s", "poll_interval: 5s"),
            15,
            "integrations[0].poll_interval",
            "5s is out of range",
        ),
        (
            "bare number as a duration",
            edit("poll_interval: 30s", "poll_interval: 30"),
            15,
            "integrations[0].poll_interval",
            "expected a duration, found 30",
        ),
        (
            "max_attempts of the wrong type",
            edit("poll_interval: 30s", "poll_interval: 30s\n    max_attempts: five"),
            16,
            "integrations[0].max_attempts",
            "expected a whole number from 1 to 100",
        ),
        (
            "default for a side the direction never writes",
            edit("direction: both", "direction: left_to_right\n        default: { left: Medium }"),
            22,
            "integrations[0].fields[1].default.left",
            "default.left is never used",
        ),
        (
            "value without a none side",
            append("      - { left: labels, right: System.Tags, value: x }"),
            25,
            "integrations[0].fields[4].value",
            "only for a mapping whose left or right is none",
        ),
        (
            "none source with a contrary direction",
            append("      - { left: none, right: Custom.Origin, value: Jira, direction: both }"),
            25,
            "integrations[0].fields[4].direction",
            "can only be left_to_right",
        ),
        (
            "invalid id characters",
            edit("  - id: bugs", "  - id: app bugs"),
            12,
            "integrations[0].id",
            "invalid IntegrationId",
        ),
        (
            "values on a user mapping",
            edit("type: user, unmatched: skip", "type: user, values: { inline: { a: b } }"),
            24,
            "integrations[0].fields[3].values",
            "a user mapping takes no value table",
        ),
        (
            "pat auth on jira",
            edit("auth: { kind: basic, username: bot@acme.test,", "auth: { kind: pat,"),
            5,
            "systems[0].auth.kind",
            "does not take a personal access token",
        ),
        (
            "proxy with credentials",
            edit(
                "    integration_user: bot@acme.test\n",
                "    integration_user: bot@acme.test\n    proxy: http://u:hunter2@proxy:3128\n",
            ),
            11,
            "systems[1].proxy",
            "holds credentials",
        ),
        (
            "no fields",
            format!("{}    fields: []\n", BASE.split("    fields:\n").next().unwrap_or_default()),
            17,
            "integrations[0].fields",
            "at least one field mapping",
        ),
        ("top level not a mapping", "- a\n- b\n".to_string(), 1, "", "expected a mapping, found a list"),
        ("unknown top-level key", format!("sytems: []\n{BASE}"), 1, "sytems", "unknown key \"sytems\""),
    ];
    for (what, text, line, path, fragment) in cases {
        let (errs, found) = assert_error_at(what, &text, line, path, fragment);
        assert_eq!(found.file, "t.yaml", "{what}");
        assert!(!errs.to_string().contains("s3cr3t"), "{what}: secret leaked");
        assert!(!errs.to_string().contains("hunter2"), "{what}: secret leaked");
    }
}

#[test]
fn missing_keys_are_reported_at_their_object_with_hints_from_the_format() {
    let text = edit("    kind: jira\n", "").replacen("{ system: ado, project: App, type: Bug }", "{ system: ado }", 1);
    let errs = load(&text).unwrap_err();
    let at =
        |path: &str| errs.0.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("no error at {path}:\n{errs}"));
    let kind = at("systems[0].kind");
    assert_eq!((kind.line, kind.message.as_str()), (Some(2), "missing key \"kind\""));
    // An enum key's hint lists the values its domain enum declares.
    assert_eq!(kind.hint.as_deref(), Some("use jira, azure_devops or redmine"));
    let project = at("integrations[0].right.project");
    assert_eq!(project.line, Some(13));
    assert_eq!(project.hint.as_deref(), Some("a Jira project key or an Azure DevOps project name"));
    assert_eq!(at("integrations[0].right.type").message, "missing key \"type\"");
}

#[test]
fn username_belongs_to_basic_auth_only() {
    let errs = load(&edit("auth: { kind: basic, username: bot@acme.test,", "auth: { kind: basic,")).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].path, "systems[0].auth.username");
    assert_eq!(errs.0[0].message, "missing key \"username\"");
    assert_eq!(errs.0[0].hint.as_deref(), Some("the Jira account e-mail"));

    let errs =
        load(&edit("auth: { kind: pat, token:", "auth: { kind: pat, username: me@acme.test, token:")).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!((errs.0[0].line, errs.0[0].path.as_str()), (Some(9), "systems[1].auth.username"));
    assert_eq!(errs.0[0].message, "username is only used with kind: basic");
}

#[test]
fn syntax_error_is_reported_with_its_line() {
    let text =
        edit("      - { left: summary, right: System.Title }", "      - { left: summary, right: System.Title }}");
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    let e = &errs.0[0];
    assert!(e.message.starts_with("YAML syntax error"), "{e}");
    assert_eq!(e.line, Some(18), "{e}");
}

#[test]
fn tab_indentation_is_a_syntax_error_with_its_line() {
    let errs = load("systems:\n\t- id: x\n").unwrap_err();
    assert_eq!(errs.0[0].line, Some(2), "{errs}");
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let text = BASE
        .replacen("kind: azure_devops", "kind: azure", 1)
        .replacen("poll_interval: 30s", "poll_interval: 1s", 1)
        .replacen("direction: both", "direction: sideways", 1)
        .replacen("unmatched: skip", "unmatched: maybe", 1);
    let errs = load(&text).unwrap_err();
    let lines: Vec<Option<usize>> = errs.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![Some(7), Some(15), Some(21), Some(24)], "{errs}");
}

#[test]
fn display_is_file_line_col_path_message_hint() {
    let errs = load(&edit("direction: both", "direction: sideways")).unwrap_err();
    assert_eq!(
        errs.to_string(),
        "t.yaml:21:20: integrations[0].fields[1].direction: unknown direction \"sideways\" \
         (hint: use left_to_right, right_to_left or both)"
    );
}

#[test]
fn scalar_default_applies_to_both_sides_the_direction_writes() {
    let both = load(&edit("        direction: both\n", "        direction: both\n        default: 3\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let m = &both.integrations[0].fields[1];
    assert_eq!(m.default_right, Some(Scalar::Number(3.0)));
    assert_eq!(m.default_left, Some(Scalar::Number(3.0)));

    let one_way = load(&edit("        direction: both\n", "        direction: left_to_right\n        default: 3\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let m = &one_way.integrations[0].fields[1];
    assert_eq!(m.default_right, Some(Scalar::Number(3.0)));
    assert_eq!(m.default_left, None);
}

#[test]
fn none_source_writes_a_constant_left_to_right() {
    let set =
        load(&append("      - { left: none, right: Custom.Origin, value: Jira }")).unwrap_or_else(|e| panic!("{e}"));
    let m = &set.integrations[0].fields[4];
    assert_eq!(m.left, None);
    assert_eq!(m.right.as_ref().map(|f| f.as_str()), Some("Custom.Origin"));
    assert_eq!(m.direction, Direction::LeftToRight);
    assert_eq!(m.constant, Some(Scalar::Text("Jira".into())));
}

#[test]
fn same_target_in_opposite_directions_is_allowed() {
    let text = append(
        "      - { left: title, right: System.Title, direction: right_to_left }\n      - { left: summary, right: Custom.Summary, direction: left_to_right }",
    );
    // summary is written right_to_left by fields[0] and System.Title left_to_right by fields[0]:
    // fields[4] writes title (left) and fields[5] writes Custom.Summary (right); no clash.
    load(&text).unwrap_or_else(|e| panic!("{e}"));
    let clash = append("      - { left: summary, right: System.Description, direction: right_to_left }");
    let errs = load(&clash).unwrap_err();
    assert!(errs.0[0].message.contains("summary is already mapped right_to_left"), "{errs}");
}

#[test]
fn remote_id_field_cannot_also_be_mapped() {
    let text = BASE.replacen(
        "    fields:\n",
        "    remote: { left_id_field: customfield_10050, right_id_field: Custom.JiraKey }\n    fields:\n",
        1,
    ) + "      - { left: key, right: Custom.JiraKey }\n";
    let errs = load(&text).unwrap_err();
    assert!(errs.0[0].message.contains("already written by remote.right_id_field"), "{errs}");
    assert_eq!(errs.0[0].line, Some(26));
}

#[test]
fn loopback_http_is_allowed_when_asked() {
    let set = load(&edit(
        "    base_url: https://dev.azure.com/acme",
        "    base_url: http://127.0.0.1:8080/acme/\n    allow_http_loopback: true",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.systems[1].base_url, "http://127.0.0.1:8080/acme");
    assert!(set.systems[1].allow_http_loopback);
}

#[test]
fn jira_integration_user_defaults_to_the_basic_username() {
    let set = load(BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.systems[0].integration_user.as_deref(), Some("bot@acme.test"));
}

#[test]
fn empty_file_is_an_empty_config() {
    assert_eq!(load("").unwrap(), ConfigSet::default());
    assert_eq!(load("# only a comment\n").unwrap(), ConfigSet::default());
}

// ---- several files ----

#[test]
fn files_merge_and_sheets_resolve_relative_to_their_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("team");
    std::fs::create_dir(&sub).unwrap();
    let systems = dir.path().join("systems.yaml");
    let integ = sub.join("bugs.yaml");
    std::fs::write(&systems, BASE.split("integrations:\n").next().unwrap()).unwrap();
    std::fs::write(sub.join("map.csv"), "J,A\nTo Do,New\n").unwrap();
    std::fs::write(
        &integ,
        "integrations:
  - id: bugs
    left: { system: jira, project: APP, type: Bug }
    right: { system: ado, project: App, type: Bug }
    fields:
      - { left: status, right: System.State, values: { csv: { file: map.csv, left_column: J, right_column: A } } }
",
    )
    .unwrap();
    let set = load_files(&[systems.clone(), integ.clone()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.systems.len(), 2);
    let v = set.integrations[0].fields[0].values.as_ref().unwrap();
    assert_eq!(v.rows, vec![("To Do".into(), "New".into())]);
    assert_eq!(v.origin, "map.csv");

    // The integration alone names unknown systems, and a missing file is reported too.
    let errs = load_files(&[integ.clone(), dir.path().join("absent.yaml")]).unwrap_err();
    let text = errs.to_string();
    assert!(text.contains("bugs.yaml:3:21: integrations[0].left.system: unknown system \"jira\""), "{text}");
    assert!(text.contains("absent.yaml: cannot read the file"), "{text}");

    // The same system declared in two files.
    let errs = load_files(&[systems.clone(), systems]).unwrap_err();
    assert_eq!(errs.0.len(), 2, "{errs}");
    assert!(errs.0[0].message.contains("duplicate system id"), "{errs}");
}

#[test]
fn an_integration_may_name_systems_already_applied_to_the_store() {
    let full = load(BASE).unwrap_or_else(|e| panic!("{e}"));
    let integration_only = &BASE[BASE.find("integrations:").expect("BASE has integrations")..];
    let alone = load_str("new.yaml", integration_only, &examples_dir()).unwrap_err().to_string();
    assert!(alone.contains("unknown system \"jira\""), "{alone}");

    let set = load_str_with_systems("new.yaml", integration_only, &examples_dir(), Target::Embedded, &full.systems)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.integrations, full.integrations);
    assert_eq!(set.systems, full.systems);
    // An error of the text is still placed in it.
    let broken = integration_only.replace("system: ado", "system: adoo");
    let errs = load_str_with_systems("new.yaml", &broken, &examples_dir(), Target::Embedded, &full.systems)
        .unwrap_err()
        .to_string();
    assert!(errs.contains("new.yaml:4:") && errs.contains("unknown system \"adoo\""), "{errs}");
}

// ---- examples ----

#[test]
fn example_config_loads_into_the_expected_integration() {
    let set = load_files(&[examples_dir().join("ferry.yaml")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.systems.len(), 2);
    let jira = &set.systems[0];
    assert_eq!(jira.kind, SystemKind::Jira);
    assert_eq!(
        jira.auth,
        AuthConfig::Basic { username: "ferry-bot@acme.test".into(), token: SecretRef::Env("JIRA_API_TOKEN".into()) }
    );
    let ado = &set.systems[1];
    assert_eq!(ado.kind, SystemKind::AzureDevops);
    assert_eq!(ado.auth, AuthConfig::Pat { token: SecretRef::Env("ADO_PAT".into()) });
    assert_eq!(ado.integration_user.as_deref(), Some("ferry-bot@acme.test"));

    let i = &set.integrations[0];
    assert_eq!(i.id.as_str(), "app-bugs");
    assert_eq!((i.left.project.as_str(), i.left.entity_type.as_str()), ("APP", "Bug"));
    assert_eq!((i.right.project.as_str(), i.right.entity_type.as_str()), ("App", "Bug"));
    assert_eq!(i.left.system.as_str(), "jira-cloud");
    assert_eq!((i.poll_interval_secs, i.overlap_secs, i.max_attempts), (60, 120, 5));
    assert_eq!(i.filter_left_to_right, None);
    assert_eq!(i.filter_exit, FilterExit::KeepSyncing);
    assert_eq!(i.remote.left_id_field.as_ref().unwrap().as_str(), "customfield_10050");
    assert_eq!(i.remote.right_id_field.as_ref().unwrap().as_str(), "Custom.JiraKey");
    assert!(i.remote.left_link && i.remote.right_link);
    assert_eq!(i.users.origin, "users.xlsx#Users");
    assert_eq!(i.users.lookup(Flow::LeftToRight, "Carol@acme.test"), Some("carol.w@acme.test"));
    assert_eq!(i.users.lookup(Flow::RightToLeft, "carol.w@acme.test"), Some("carol@acme.test"));

    let by_left = |k: &str| {
        i.fields
            .iter()
            .find(|m| m.left.as_ref().map(|f| f.as_str()) == Some(k))
            .unwrap_or_else(|| panic!("no mapping for {k}"))
    };
    let priority = by_left("priority");
    let p = priority.values.as_ref().unwrap();
    assert_eq!(p.origin, "inline");
    assert_eq!(p.lookup(Flow::LeftToRight, "Highest"), Some("1"));
    assert_eq!(p.lookup(Flow::LeftToRight, "Lowest"), Some("4"));
    assert_eq!(p.lookup(Flow::RightToLeft, "4"), Some("Low"));
    assert_eq!(priority.default_right, Some(Scalar::Number(3.0)));
    assert_eq!(priority.default_left, Some(Scalar::Text("Medium".into())));
    assert_eq!(priority.direction, Direction::Both);

    let status = by_left("status");
    assert_eq!(status.kind, MappingKind::Status);
    let s = status.values.as_ref().unwrap();
    assert_eq!(s.origin, "status.csv");
    assert_eq!(
        s.rows,
        vec![
            ("To Do".into(), "New".into()),
            ("In Progress".into(), "Active".into()),
            ("In Review".into(), "Resolved".into()),
            ("Done".into(), "Closed".into()),
        ]
    );
    assert_eq!(s.lookup(Flow::RightToLeft, "Resolved"), Some("In Review"));

    let severity = by_left("customfield_10051").values.as_ref().unwrap();
    assert_eq!(severity.origin, "severity.xlsx#Severity");
    assert_eq!(severity.lookup(Flow::LeftToRight, "Major"), Some("2 - High"));
    assert_eq!(severity.lookup(Flow::RightToLeft, "1 - Critical"), Some("Critical"));

    let assignee = by_left("assignee");
    assert_eq!(assignee.kind, MappingKind::User);
    assert_eq!(assignee.unmatched, UnmatchedUser::Default);
    assert_eq!(assignee.default_right, Some(Scalar::Text("ferry-bot@acme.test".into())));
    assert_eq!(by_left("description").kind, MappingKind::RichText);
    assert_eq!(by_left("labels").right.as_ref().unwrap().as_str(), "System.Tags");
    assert_eq!(by_left("customfield_10052").right.as_ref().unwrap().as_str(), "Microsoft.VSTS.Scheduling.StoryPoints");
    let constant = i.fields.iter().find(|m| m.left.is_none()).unwrap();
    assert_eq!(constant.constant, Some(Scalar::Text("App".into())));
    assert_eq!(constant.direction, Direction::LeftToRight);
}

#[test]
fn broken_examples_report_file_line_and_key_path() {
    let dir = examples_dir().join("broken");
    let cases = [
        ("wrong-key.yaml", 20, "integrations[0].fields[1].directon", "unknown key \"directon\""),
        ("bad-direction.yaml", 20, "integrations[0].fields[1].direction", "unknown direction \"sideways\""),
        (
            "missing-column.yaml",
            21,
            "integrations[0].fields[1].values.sheet.right_column",
            "severity.xlsx has no column \"Azure\"",
        ),
    ];
    for (file, line, path, message) in cases {
        let p = dir.join(file);
        let errs = load_files(std::slice::from_ref(&p)).unwrap_err();
        assert_eq!(errs.0.len(), 1, "{file}: {errs}");
        let e = &errs.0[0];
        assert_eq!(e.file, p.display().to_string());
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.path, path, "{e}");
        assert!(e.message.contains(message), "{e}");
        assert!(e.hint.is_some(), "{e}");
        assert!(e.to_string().starts_with(&format!("{}:{line}:", p.display())), "{e}");
    }
}

// ---- schema ----

#[test]
fn json_schema_is_draft07_with_the_top_level_properties() {
    let s = json_schema();
    let text = serde_json::to_string(&s).unwrap();
    let back: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back["$schema"].as_str(), Some("http://json-schema.org/draft-07/schema#"));
    let props = back["properties"].as_object().unwrap();
    let keys: Vec<&str> = props.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["commit_links", "integrations", "source_control", "systems"]);
    assert_eq!(back["additionalProperties"], serde_json::Value::Bool(false));
}

#[test]
fn committed_schema_file_is_current() {
    let want = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
    let have = std::fs::read_to_string(examples_dir().join("ferry.schema.json")).unwrap_or_default();
    assert!(
        have == want,
        "examples/ferry.schema.json is stale: run `cargo run -p ferry-config --example make_example_sheets -- examples`"
    );
}

// ---- never panic ----

#[test]
fn nasty_inputs_give_errors_not_panics() {
    let inputs = [
        "\u{feff}systems: []",
        "systems: {",
        ":",
        "- - - -",
        "systems: [[[[[]]]]]",
        "systems:\n  - &a { id: x, kind: *a }",
        "integrations:\n  - fields: [ { left: none, right: none } ]",
        "integrations: [ { id: x, fields: [ { values: { inline: { a: [1] } } } ] } ]",
        "integrations: [ { id: x, fields: [ { values: { csv: { file: /, left_column: a, right_column: b } } } ] } ]",
        "integrations: [ { id: x, users: { sheet: { file: status.csv, left_column: a, right_column: b } } } ]",
        "integrations: [ { id: x, users: { sheet: { file: ferry.yaml, left_column: a, right_column: b } } } ]",
        "integrations: [ { id: x, fields: [ { default: { } } ] } ]",
        "systems: [ { ? [a, b] : c } ]",
        "--- a\n--- b\n",
        "%YAML 1.2\n---\nsystems: ~",
        "systems:\n  - id: \"\\uD800\"",
        "integrations: [ { poll_interval: 99999999999999999999999h } ]",
        "integrations: [ { max_attempts: -1, start_time: 9 } ]",
        "systems: !!map { a: b }",
        "systems: [ { auth: { kind: basic, token: { env: a, ssm: b } } } ]",
        "systems: [ { auth: { kind: pat, token: 123 } } ]",
        "x: \"unterminated",
        "\t",
        "\0",
        "[",
        "*unknown",
        "&a [*a]",
    ];
    for input in inputs {
        let r = std::panic::catch_unwind(|| load(input));
        assert!(r.is_ok(), "panicked on {input:?}");
    }
    let deep = "a: ".repeat(5000);
    assert!(load(&deep).is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(text in "[ -~\\n\\t]{0,200}") {
            let _ = load(&text);
        }

        #[test]
        fn yaml_like_text_never_panics(parts in proptest::collection::vec(
            prop_oneof![
                Just("systems:"), Just("integrations:"), Just("\n"), Just("  "), Just("- "),
                Just("id: x"), Just("{"), Just("}"), Just("["), Just("]"), Just(", "),
                Just("fields:"), Just("left: none"), Just("values:"), Just("inline:"),
                Just("&a "), Just("*a"), Just(": "), Just("'"), Just("\""), Just("#"),
                Just("kind: jira"), Just("token: s"), Just("? "), Just("|"), Just(">"),
            ],
            0..60,
        )) {
            let _ = load(&parts.concat());
        }

        #[test]
        fn mutated_base_never_panics(cut in 0usize..BASE.len(), len in 0usize..40, ins in "[ -~\\n]{0,5}") {
            let mut text = BASE.to_string();
            let end = (cut + len).min(text.len());
            if text.is_char_boundary(cut) && text.is_char_boundary(end) {
                text.replace_range(cut..end, &ins);
            }
            let r = load(&text);
            if let Err(errs) = r {
                for e in &errs.0 {
                    prop_assert!(e.line.is_some(), "{}", e);
                }
            }
        }
    }
}

#[test]
fn duplicate_integration_id_points_at_the_first() {
    let second = BASE.split("integrations:\n").nth(1).unwrap();
    let errs = load(&format!("{BASE}{second}")).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    let e = &errs.0[0];
    assert_eq!(e.line, Some(25));
    assert_eq!(e.path, "integrations[1].id");
    assert_eq!(e.message, "duplicate integration id \"bugs\"");
    assert_eq!(e.hint.as_deref(), Some("it is already declared at t.yaml:12"));
}

#[test]
fn crlf_line_endings_keep_line_numbers() {
    let text = edit("direction: both", "direction: sideways").replace('\n', "\r\n");
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.0[0].line, Some(21), "{errs}");
}

// ---- Redmine ----

const REDMINE: &str = "  - id: rm
    kind: redmine
    base_url: https://redmine.acme.test/
    auth: { kind: api_key, token: { secrets_manager: ferry/redmine } }
    integration_user: bot@acme.test
integrations:";

fn with_redmine(system: &str) -> String {
    BASE.replacen("integrations:", system, 1)
}

#[test]
fn a_redmine_system_takes_an_api_key_from_any_secret_source() {
    for (token, want) in [
        ("{ env: REDMINE_KEY }", SecretRef::Env("REDMINE_KEY".into())),
        ("{ ssm: /ferry/redmine }", SecretRef::Ssm("/ferry/redmine".into())),
        ("{ secrets_manager: ferry/redmine }", SecretRef::SecretsManager("ferry/redmine".into())),
    ] {
        let text = with_redmine(&REDMINE.replace("{ secrets_manager: ferry/redmine }", token));
        let set = load(&text).unwrap_or_else(|e| panic!("{token}: {e}"));
        let rm = &set.systems[2];
        assert_eq!(rm.kind, SystemKind::Redmine);
        assert_eq!(rm.base_url, "https://redmine.acme.test");
        assert_eq!(rm.auth, AuthConfig::ApiKey { token: want });
        assert_eq!(rm.integration_user.as_deref(), Some("bot@acme.test"));
    }
}

#[test]
fn redmine_auth_and_url_errors_name_their_line_and_fix() {
    // (what, edit of the Redmine entry, line, key path, message fragment)
    let cases = [
        ("pat for redmine", ("kind: api_key", "kind: pat"), 14, "systems[2].auth.kind", "API key"),
        (
            "inline key",
            ("token: { secrets_manager: ferry/redmine }", "token: abc123"),
            14,
            "systems[2].auth.token",
            "inline",
        ),
        (
            "plain http",
            ("https://redmine.acme.test/", "http://redmine.acme.test/"),
            13,
            "systems[2].base_url",
            "plain http",
        ),
        (
            "loopback http without the flag",
            ("https://redmine.acme.test/", "http://127.0.0.1:3000"),
            13,
            "systems[2].base_url",
            "allow_http_loopback",
        ),
        ("unknown auth kind", ("kind: api_key", "kind: apikey"), 14, "systems[2].auth.kind", "unknown auth kind"),
    ];
    for (what, (from, to), line, path, fragment) in cases {
        let errs = load(&with_redmine(&REDMINE.replacen(from, to, 1))).expect_err(what);
        let e = errs.0.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{what}: no error at {path}: {errs}"));
        assert_eq!(e.line, Some(line), "{what}: {errs}");
        assert!(e.to_string().contains(fragment), "{what}: {e}");
    }
}

#[test]
fn api_key_auth_is_refused_for_jira_and_azure_devops() {
    let text =
        edit("auth: { kind: pat, token: { ssm: /ferry/ado } }", "auth: { kind: api_key, token: { ssm: /ferry/ado } }");
    let errs = load(&text).expect_err("api_key for ado");
    assert_eq!(errs.0[0].path, "systems[1].auth.kind", "{errs}");
    assert!(errs.0[0].to_string().contains("Redmine"), "{errs}");
}

#[test]
fn a_redmine_system_on_loopback_http_loads_when_allowed() {
    let text = with_redmine(&REDMINE.replace(
        "base_url: https://redmine.acme.test/",
        "base_url: http://127.0.0.1:3000\n    allow_http_loopback: true",
    ));
    let set = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.systems[2].base_url, "http://127.0.0.1:3000");
}

#[test]
fn a_field_conflict_policy_is_read_and_defaults_to_last_writer() {
    let set =
        load(&edit("{ left: summary, right: System.Title }", "{ left: summary, right: System.Title, conflict: flag }"))
            .expect("valid");
    let fields = &set.integrations[0].fields;
    assert_eq!(fields[0].conflict, ferry_domain::ConflictPolicy::Flag);
    assert_eq!(fields[1].conflict, ferry_domain::ConflictPolicy::LastWriter);
}

#[test]
fn a_filter_that_would_leave_its_project_is_refused_at_its_line() {
    let filters = "    filters:\n      left_to_right: 'labels = sync) OR (project = HR'\n      right_to_left: \"[System.Tags] CONTAINS 'x' ORDER BY [System.Id]\"\n";
    let text = edit("    fields:\n", &format!("{filters}    fields:\n"));
    let errs = load(&text).unwrap_err();
    assert_eq!(errs.0.len(), 2, "{errs}");
    assert_eq!(errs.0[0].path, "integrations[0].filters.left_to_right");
    assert_eq!(errs.0[0].line, Some(18), "{errs}");
    assert!(errs.0[0].message.contains("JQL") && errs.0[0].message.contains("closes a parenthesis"), "{errs}");
    assert!(errs.0[0].hint.as_deref().is_some_and(|h| h.contains("balanced parentheses")), "{errs}");
    assert_eq!(errs.0[1].path, "integrations[0].filters.right_to_left");
    assert_eq!(errs.0[1].line, Some(19), "{errs}");
    assert!(errs.0[1].message.contains("WIQL") && errs.0[1].message.contains("ORDER BY"), "{errs}");

    let fine = "    filters:\n      left_to_right: 'labels = sync OR (priority = High)'\n";
    let set = load(&edit("    fields:\n", &format!("{fine}    fields:\n"))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.integrations[0].filter(Flow::LeftToRight), Some("labels = sync OR (priority = High)"));
}

#[test]
fn a_ca_cert_path_is_refused_for_the_aws_backend_at_its_line_and_references_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
        .unwrap();
    std::fs::copy(examples_dir().join("status.csv"), dir.path().join("status.csv")).unwrap();
    let with =
        |ca: &str| edit("    integration_user: bot@acme.test\n", &format!("    integration_user: bot@acme.test\n{ca}"));
    let path = with("    ca_cert: ca.pem\n");

    let errs = load_str_for("t.yaml", &path, dir.path(), Target::Aws).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    let e = &errs.0[0];
    assert_eq!((e.line, e.path.as_str()), (Some(11), "systems[1].ca_cert"), "{e}");
    assert!(e.message.contains("file path, which the AWS backend's functions cannot read"), "{e}");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("{ ssm: /ferry/ca }")), "{e}");
    assert!(e.to_string().starts_with("t.yaml:11:"), "{e}");

    // The embedded backend reads the file, relative to the config.
    let set = load_str("t.yaml", &path, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let want = dir.path().join("ca.pem").display().to_string();
    assert_eq!(set.systems[1].ca_cert, Some(ferry_domain::CaCert::File(want)));

    let cases: Vec<(String, ferry_domain::CaCert)> = vec![
        (with("    ca_cert: { ssm: /ferry/ca }\n"), ferry_domain::CaCert::Ssm("/ferry/ca".into())),
        (with("    ca_cert: { secrets_manager: ferry/ca }\n"), ferry_domain::CaCert::SecretsManager("ferry/ca".into())),
        (
            with("    ca_cert: |\n      -----BEGIN CERTIFICATE-----\n      AA==\n      -----END CERTIFICATE-----\n"),
            ferry_domain::CaCert::Pem("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into()),
        ),
    ];
    for (text, want) in cases {
        let set = load_str_for("t.yaml", &text, dir.path(), Target::Aws).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.systems[1].ca_cert, Some(want));
    }
    let key = with("    ca_cert: |\n      -----BEGIN PRIVATE KEY-----\n      AA==\n      -----END PRIVATE KEY-----\n");
    let errs = load_str_for("t.yaml", &key, dir.path(), Target::Aws).unwrap_err();
    assert!(errs.0[0].message.contains("private key"), "{errs}");
    let both = with("    ca_cert: { ssm: /a, secrets_manager: b }\n");
    assert!(load_str_for("t.yaml", &both, dir.path(), Target::Aws).is_err());
}

#[test]
fn collaboration_keys_are_read_with_their_defaults() {
    let text = edit(
        "    fields:\n      - { left: summary",
        "    comments: { direction: both }\n    attachments: { max_size: 5MB }\n    hierarchy: { direction: left_to_right }\n    links:\n      - { left: Blocks, right: System.LinkTypes.Dependency }\n      - { left: Relates, right: System.LinkTypes.Related }\n    on_target_deleted: recreate\n    fields:\n      - { left: summary",
    );
    let set = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let c = &set.integrations[0].collaboration;
    assert_eq!(c.comments, Some(Direction::Both));
    let a = c.attachments.expect("attachments");
    assert_eq!((a.direction, a.max_size), (Direction::Both, 5 << 20));
    assert_eq!(c.hierarchy, Some(Direction::LeftToRight));
    assert_eq!(c.link_type(Flow::RightToLeft, "System.LinkTypes.Related"), Some("Relates"));
    assert_eq!(c.on_target_deleted, ferry_domain::OnTargetDeleted::Recreate);
    assert_eq!(load(BASE).unwrap().integrations[0].collaboration, Default::default(), "nothing unless configured");
}

#[test]
fn collaboration_errors_name_their_line_and_key() {
    let at_fields = |yaml: &str| {
        edit("    fields:\n      - { left: summary", &format!("{yaml}\n    fields:\n      - {{ left: summary"))
    };
    let cases = [
        (
            "size without unit",
            at_fields("    attachments: { max_size: 100 }"),
            "integrations[0].attachments.max_size",
            "expected a size",
        ),
        (
            "bad policy",
            at_fields("    on_target_deleted: vanish"),
            "integrations[0].on_target_deleted",
            "unknown on_target_deleted policy",
        ),
        (
            "a link type paired twice",
            at_fields("    links:\n      - { left: Blocks, right: A }\n      - { left: Blocks, right: B }"),
            "integrations[0].links[1].left",
            "Blocks is already paired by links[0]",
        ),
        ("missing right", at_fields("    links:\n      - { left: Blocks }"), "integrations[0].links[0]", "right"),
        (
            "unknown key",
            at_fields("    comments: { directon: both }"),
            "integrations[0].comments.directon",
            "unknown key",
        ),
    ];
    for (what, text, path, fragment) in cases {
        let e = load(&text).expect_err(what);
        let e = e.0.iter().find(|e| e.path.starts_with(path)).unwrap_or_else(|| panic!("{what}: {e}"));
        assert!(e.message.contains(fragment), "{what}: {}", e.message);
        assert!(e.line.is_some_and(|l| l >= 17), "{what}: reported at the line of the key: {e:?}");
    }
}

#[test]
fn collaboration_keys_a_paired_system_cannot_do_are_refused_at_their_line() {
    let at_fields = |yaml: &str| {
        edit("    fields:\n      - { left: summary", &format!("{yaml}\n    fields:\n      - {{ left: summary"))
    };
    let cases = [
        (
            "a link type named by one end",
            at_fields("    links:\n      - { left: Blocks, right: System.LinkTypes.Dependency-Forward }"),
            "integrations[0].links[0].right",
            "names one end (-Forward)",
        ),
        (
            "parent and child under links",
            at_fields("    links:\n      - { left: Relates, right: System.LinkTypes.Hierarchy }"),
            "integrations[0].links[0].right",
            "use `hierarchy:`",
        ),
        (
            "max_size over Jira Cloud's limit",
            at_fields("    attachments: { max_size: 3GB }"),
            "integrations[0].attachments.max_size",
            "takes files of at most 2147483648 bytes",
        ),
    ];
    for (what, text, path, fragment) in cases {
        let e = load(&text).expect_err(what);
        let found = e.0.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{what}: {e}"));
        assert!(found.message.contains(fragment), "{what}: {}", found.message);
        assert!(found.line.is_some_and(|l| l >= 17), "{what}: reported at the line of the key: {found:?}");
        assert!(found.to_string().starts_with("t.yaml:"), "FILE:LINE: {found}");
    }
}

#[test]
fn a_rate_limit_is_read_as_a_pace_or_off_and_absent_means_the_kinds_default() {
    use ferry_domain::{RateLimit, RateLimitSetting};
    let with = |jira: &str, ado: &str| {
        let text = edit(
            "    auth: { kind: basic, username: bot@acme.test, token: { env: JIRA_TOKEN } }\n",
            &format!("    auth: {{ kind: basic, username: bot@acme.test, token: {{ env: JIRA_TOKEN }} }}\n{jira}"),
        )
        .replacen(
            "    integration_user: bot@acme.test\n",
            &format!("    integration_user: bot@acme.test\n{ado}"),
            1,
        );
        load(&text).unwrap_or_else(|e| panic!("{e}"))
    };
    let set = with("    rate_limit: { per_second: 2.5, burst: 4 }\n", "    rate_limit: off\n");
    assert_eq!(set.systems[0].rate_limit, Some(RateLimitSetting::Limit(RateLimit { per_second: 2.5, burst: 4 })));
    assert_eq!(set.systems[0].rate_limit(), Some(RateLimit { per_second: 2.5, burst: 4 }));
    assert_eq!(set.systems[1].rate_limit, Some(RateLimitSetting::Off));
    assert_eq!(set.systems[1].rate_limit(), None, "off paces nothing");
    let set = with("    rate_limit: { per_second: 0.5 }\n", "");
    assert_eq!(set.systems[0].rate_limit(), Some(RateLimit { per_second: 0.5, burst: 1 }), "burst: 2 s worth");
    assert_eq!(set.systems[1].rate_limit, None);
    assert_eq!(set.systems[1].rate_limit(), RateLimit::default_for(SystemKind::AzureDevops), "the kind's default");
}

#[test]
fn rate_limit_errors_name_their_line_and_key() {
    let at_jira = |line: &str| {
        edit(
            "    auth: { kind: basic, username: bot@acme.test, token: { env: JIRA_TOKEN } }\n",
            &format!("    auth: {{ kind: basic, username: bot@acme.test, token: {{ env: JIRA_TOKEN }} }}\n{line}\n"),
        )
    };
    // (what, line added to the Jira system, error's line, path, message fragment)
    let cases = [
        ("a zero pace", "    rate_limit: { per_second: 0, burst: 5 }", "systems[0].rate_limit.per_second", "above 0"),
        ("a negative pace", "    rate_limit: { per_second: -3 }", "systems[0].rate_limit.per_second", "found -3"),
        ("a pace as text", "    rate_limit: { per_second: fast }", "systems[0].rate_limit.per_second", "\"fast\""),
        (
            "a fractional burst",
            "    rate_limit: { per_second: 5, burst: 2.5 }",
            "systems[0].rate_limit.burst",
            "whole number",
        ),
        (
            "a zero burst",
            "    rate_limit: { per_second: 5, burst: 0 }",
            "systems[0].rate_limit.burst",
            "from 1 to 100000",
        ),
        ("no pace", "    rate_limit: { burst: 5 }", "systems[0].rate_limit.per_second", "missing key \"per_second\""),
        ("another word", "    rate_limit: none", "systems[0].rate_limit", "expected off or"),
        ("a typo in a key", "    rate_limit: { per_sec: 5 }", "systems[0].rate_limit.per_sec", "unknown key"),
    ];
    for (what, line, path, fragment) in cases {
        assert_error_at(what, &at_jira(line), 6, path, fragment);
    }
}
