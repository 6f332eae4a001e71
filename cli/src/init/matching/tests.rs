use super::*;
use ferry_domain::FieldKey;

fn field(key: &str, name: &str, ty: FieldType) -> FieldInfo {
    FieldInfo {
        key: FieldKey::new(key),
        name: name.into(),
        field_type: ty,
        required: false,
        allowed_values: vec![],
        read_only: false,
    }
}

fn pairs(left: &[FieldInfo], right: &[FieldInfo]) -> Vec<(String, String, MappingKind)> {
    match_fields(left, right).into_iter().map(|p| (p.left.key.to_string(), p.right.key.to_string(), p.kind)).collect()
}

#[test]
fn fields_pair_by_concept_then_by_name_and_a_compatible_type() {
    use FieldType::*;
    use MappingKind as K;
    let s = |v: &[(&str, &str, K)]| -> Vec<(String, String, K)> {
        v.iter().map(|(a, b, k)| (a.to_string(), b.to_string(), *k)).collect()
    };
    let ro = |mut f: FieldInfo| {
        f.read_only = true;
        f
    };
    // (case, left fields, right fields, expected pairs)
    type Case<'a> = (&'a str, Vec<FieldInfo>, Vec<FieldInfo>, Vec<(String, String, K)>);
    let table: Vec<Case> = vec![
        (
            "Jira and Azure DevOps core fields are the same concepts under other keys",
            vec![
                field("summary", "Summary", Text),
                field("description", "Description", RichText),
                field("status", "Status", Option),
                field("assignee", "Assignee", User),
            ],
            vec![
                field("System.Title", "Title", Text),
                field("System.Description", "Description", RichText),
                field("System.State", "State", Option),
                field("System.AssignedTo", "Assigned To", User),
            ],
            s(&[
                ("summary", "System.Title", K::Plain),
                ("description", "System.Description", K::RichText),
                ("status", "System.State", K::Status),
                ("assignee", "System.AssignedTo", K::User),
            ]),
        ),
        (
            "a description that is plain text on one side is not mapped as rich text",
            vec![field("description", "Description", RichText)],
            vec![field("description", "Description", Text)],
            s(&[("description", "description", K::Plain)]),
        ),
        (
            "custom fields pair by name, ignoring case and punctuation",
            vec![field("customfield_10052", "Story points", Number)],
            vec![field("Microsoft.VSTS.Scheduling.StoryPoints", "Story Points", Number)],
            s(&[("customfield_10052", "Microsoft.VSTS.Scheduling.StoryPoints", K::Plain)]),
        ),
        (
            "the same name with an incompatible type is not a pair",
            vec![field("customfield_1", "Severity", Number)],
            vec![field("Custom.Severity", "Severity", Option)],
            s(&[]),
        ),
        (
            "text and rich text are compatible",
            vec![field("customfield_2", "Notes", Text)],
            vec![field("Custom.Notes", "Notes", RichText)],
            s(&[("customfield_2", "Custom.Notes", K::Plain)]),
        ),
        (
            "a read-only field is not proposed by name",
            vec![ro(field("created", "Created", DateTime))],
            vec![field("System.CreatedDate", "Created", DateTime)],
            s(&[]),
        ),
        (
            "a concept read-only on both sides is not proposed",
            vec![ro(field("status", "Status", Option))],
            vec![ro(field("System.State", "State", Option))],
            s(&[]),
        ),
        (
            "each right field is paired once",
            vec![field("customfield_1", "Team", Text), field("customfield_2", "team", Text)],
            vec![field("Custom.Team", "Team", Text)],
            s(&[("customfield_1", "Custom.Team", K::Plain)]),
        ),
        (
            "user fields of the same name are a user mapping",
            vec![field("customfield_3", "Reviewer", User)],
            vec![field("Custom.Reviewer", "Reviewer", User)],
            s(&[("customfield_3", "Custom.Reviewer", K::User)]),
        ),
        (
            "Redmine's subject and assignee are the title and the assignee",
            vec![field("summary", "Summary", Text), field("assignee", "Assignee", User)],
            vec![field("subject", "Subject", Text), field("assigned_to", "Assignee", User)],
            s(&[("summary", "subject", K::Plain), ("assignee", "assigned_to", K::User)]),
        ),
    ];
    for (case, left, right, want) in table {
        assert_eq!(pairs(&left, &right), want, "{case}");
    }
}

#[test]
fn values_match_by_name_and_the_rest_are_gaps_on_their_side() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // (case, left, right, rows, left gaps, right gaps)
    let table = [
        (
            "same names, other case",
            v(&["High", "Low"]),
            v(&["high", "LOW"]),
            vec![("High", "high"), ("Low", "LOW")],
            v(&[]),
            v(&[]),
        ),
        (
            "workflows that differ",
            v(&["To Do", "In Progress", "Done"]),
            v(&["New", "In progress", "Done", "Removed"]),
            vec![("In Progress", "In progress"), ("Done", "Done")],
            v(&["To Do"]),
            v(&["New", "Removed"]),
        ),
        ("nothing in common", v(&["Highest"]), v(&["1", "2"]), vec![], v(&["Highest"]), v(&["1", "2"])),
        (
            "an ordinal prefix is not part of the name",
            v(&["Critical", "Minor", "2"]),
            v(&["1 - Critical", "3 - Medium", "2"]),
            vec![("Critical", "1 - Critical"), ("2", "2")],
            v(&["Minor"]),
            v(&["3 - Medium"]),
        ),
        ("numbers are not ordinal prefixes", v(&["1.5"]), v(&["2.5"]), vec![], v(&["1.5"]), v(&["2.5"])),
        ("repeated and blank values count once", v(&["A", "A", " "]), v(&["a"]), vec![("A", "a")], v(&[]), v(&[])),
    ];
    for (case, left, right, rows, lg, rg) in table {
        let t = match_values(&left, &right);
        let want: Vec<(String, String)> = rows.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!((t.rows, t.left_unmatched, t.right_unmatched), (want, lg, rg), "{case}");
    }
}

#[test]
fn people_match_by_email_ignoring_case_and_the_rest_are_listed() {
    let u = |id: &str, email: Option<&str>| UserRef { id: id.into(), email: email.map(Into::into), display_name: None };
    let left = [u("j1", Some("Alice@Acme.test")), u("j2", Some("bob@acme.test")), u("j3", None)];
    let right = [u("a1", Some("alice@acme.test")), u("a2", Some("carol@acme.test")), u("a3", Some("alice@acme.test"))];
    let m = match_users(&left, &right);
    let ids = |v: &[UserRef]| v.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    assert_eq!(m.matched.iter().map(|(l, r)| (l.id.as_str(), r.id.as_str())).collect::<Vec<_>>(), [("j1", "a1")]);
    assert_eq!(ids(&m.left_unmatched), ["j2", "j3"], "no such address there, and no address at all");
    assert_eq!(ids(&m.right_unmatched), ["a2", "a3"]);
}

#[test]
fn required_fields_no_pair_fills_are_flagged_per_side() {
    let req = |key: &str, name: &str| FieldInfo { required: true, ..field(key, name, FieldType::Option) };
    let left =
        [field("summary", "Summary", FieldType::Text), req("issuetype", "Issue Type"), req("customfield_9", "Team")];
    let right = [req("System.Title", "Title"), req("Custom.Risk", "Risk")];
    let pairs = match_fields(&left, &right);
    let flagged: Vec<(&str, &str)> =
        required_unfilled(&left, &right, &pairs).into_iter().map(|(s, f)| (s, f.key.as_str())).collect();
    assert_eq!(flagged, [("left", "customfield_9"), ("right", "Custom.Risk")], "the issue type is the endpoint's");
}
