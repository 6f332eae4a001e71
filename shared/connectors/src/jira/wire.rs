//! The Jira Cloud REST v3 responses Ferry reads, as the platform's OpenAPI spec
//! describes them (each type names its schema), and [`object`] / [`list`], the one way
//! a response body becomes one of them.
//!
//! How strict: the spec marks almost nothing required, so what a server may leave out
//! is an `Option` or defaults, except where Ferry would act on a guess. A search
//! without `issues` read as empty means "no such issue" and leads to a duplicate; an
//! issue without `id`, a transition without its target status, a changelog asked for
//! and left out (the latest author decides what is an echo) are the same kind of
//! guess. Those are required, and a response without them is a `BadResponse` naming
//! the endpoint and the field's path, never a panic and never an empty default.
//! Field values stay JSON: their shape depends on each field's schema (see `values`).

use super::time::parse_time;
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, PortError, UserRef};
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

// ---------------------------------------------------------------- decoding

/// A response body that must be a JSON object, as `T`.
pub(super) fn object<T: DeserializeOwned>(body: &[u8], endpoint: &str) -> PortResult<T> {
    decode(body, endpoint, b'{')
}

/// A response body that must be a JSON array, as a list of `T`.
pub(super) fn list<T: DeserializeOwned>(body: &[u8], endpoint: &str) -> PortResult<Vec<T>> {
    decode(body, endpoint, b'[')
}

fn decode<T: DeserializeOwned>(body: &[u8], endpoint: &str, opening: u8) -> PortResult<T> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(opening) && serde_json::from_slice::<IgnoredAny>(body).is_ok() {
        let want = if opening == b'{' { "an object" } else { "an array" };
        let found = match first {
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            _ => "a scalar",
        };
        return Err(bad_json(endpoint, format!("expected {want}, found {found}")));
    }
    // The path of a malformed field is tracked only once a body failed: it costs about
    // a quarter of the decoding time, and nearly every body is well formed.
    serde_json::from_slice(body).or_else(|_| {
        let mut de = serde_json::Deserializer::from_slice(body);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() && path != "." {
                bad_json(endpoint, format!("at `{path}`: {inner}"))
            } else {
                bad_json(endpoint, inner)
            }
        })?;
        de.end().map_err(|e| bad_json(endpoint, e))?;
        Ok(value)
    })
}

fn bad_json(endpoint: &str, detail: impl fmt::Display) -> PortError {
    PortError::new(ErrorCategory::BadResponse, format!("jira {endpoint}: response is not the expected JSON: {detail}"))
}

// ---------------------------------------------------------------- scalars

/// An id: a string in the spec; a number is read as its decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (a string or a number)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
                Ok(Id(s.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Id, E> {
                Ok(Id(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Id, E> {
                Ok(Id(n.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A changelog entry's time; `None` when absent or unreadable (such an entry still
/// counts, see `history`). Strings in any of Jira's forms, or epoch numbers.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(parse_time))
}

// ---------------------------------------------------------------- users

/// `User` / `UserDetails`: `myself`, user searches, changelog authors, issue creators.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct User {
    #[serde(default)]
    pub account_id: Option<String>,
    /// `atlassian`, `app`, `customer` or `unknown`.
    #[serde(default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Hidden (absent or null) under the user's privacy settings.
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl User {
    /// The user as Ferry knows users; `None` without an account id.
    pub fn to_ref(&self) -> Option<UserRef> {
        Some(UserRef {
            id: self.account_id.clone()?,
            email: self.email_address.clone().filter(|e| !e.is_empty()),
            display_name: self.display_name.clone(),
        })
    }

    /// An app (integration) account, not a person.
    pub fn is_app(&self) -> bool {
        self.account_type.as_deref() == Some("app")
    }
}

// ---------------------------------------------------------------- issues and search

/// `SearchAndReconcileResults` (`POST /search/jql`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SearchPage {
    pub issues: Vec<Issue>,
    #[serde(default)]
    pub is_last: Option<bool>,
    /// Absent or null on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `IssueBean` (a search hit, `GET /issue/{id}`).
#[derive(Debug, Deserialize)]
pub(super) struct Issue {
    pub id: Id,
    #[serde(default)]
    pub key: Option<String>,
    /// Field id -> value, as the field's schema shapes it; a field the caller may not
    /// see, or that is not in the issue's context, is absent.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// With `expand=changelog`.
    #[serde(default)]
    pub changelog: Option<Changelogs>,
}

impl Issue {
    /// The key, or the id where a response leaves the key out.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(&self.id.0)
    }

    /// When the issue was last updated; `None` when absent or unreadable.
    pub fn updated(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.fields.get("updated").and_then(parse_time)
    }

    /// A system field whose shape the spec fixes (`creator`, `status`, ...): `None`
    /// when absent or null, an error naming the issue and field when misshapen.
    pub fn system_field<T: DeserializeOwned>(&self, name: &str, endpoint: &str) -> PortResult<Option<T>> {
        let Some(v) = self.fields.get(name).filter(|v| !v.is_null()) else { return Ok(None) };
        T::deserialize(v).map(Some).map_err(|e| {
            PortError::new(
                ErrorCategory::BadResponse,
                format!("jira {endpoint}: issue {}: `fields.{name}`: {e}", self.key()),
            )
        })
    }

    /// The changelog's entries, required when `expand=changelog` was asked for.
    pub fn histories(&self, endpoint: &str) -> PortResult<&[Changelog]> {
        self.changelog.as_ref().map(|c| c.histories.as_slice()).ok_or_else(|| {
            PortError::new(
                ErrorCategory::BadResponse,
                format!("jira {endpoint}: issue {} has no `changelog.histories` array", self.key()),
            )
        })
    }
}

/// `PageOfChangelogs`: an issue's newest changelog entries.
#[derive(Debug, Deserialize)]
pub(super) struct Changelogs {
    pub histories: Vec<Changelog>,
    /// Entries in all; more than `histories` holds when the issue has a long history.
    #[serde(default)]
    pub total: Option<u64>,
}

/// `PageBeanChangelog` (`GET /issue/{id}/changelog`, oldest first).
#[derive(Debug, Deserialize)]
pub(super) struct ChangelogPage {
    pub values: Vec<Changelog>,
}

/// `Changelog`: one change to an issue.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Changelog {
    #[serde(default, deserialize_with = "lenient_time")]
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default)]
    pub items: Vec<ChangeItem>,
}

/// `ChangeDetails`: one field a change set.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChangeItem {
    /// The field's name (its id for system fields).
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub field_id: Option<String>,
    /// The new value's id (an account id for user fields).
    #[serde(default)]
    pub to: Option<String>,
    /// The new value as text.
    #[serde(default, rename = "toString")]
    pub to_text: Option<String>,
}

impl ChangeItem {
    /// The changed field's id (`fieldId`, else `field`).
    pub fn id(&self) -> &str {
        self.field_id.as_deref().or(self.field.as_deref()).unwrap_or_default()
    }
}

/// `CreatedIssue` (`POST /issue`).
#[derive(Debug, Deserialize)]
pub(super) struct CreatedIssue {
    pub id: Id,
}

/// `ParsedJqlQueries` (`POST /jql/parse`).
#[derive(Debug, Deserialize)]
pub(super) struct ParsedQueries {
    pub queries: Vec<ParsedQuery>,
}

/// `ParsedJqlQuery`: the errors of one query (none when it is valid).
#[derive(Debug, Deserialize)]
pub(super) struct ParsedQuery {
    #[serde(default)]
    pub errors: Vec<String>,
}

// ---------------------------------------------------------------- statuses and transitions

/// `StatusDetails`. Ferry addresses statuses by name, so a status without one is a
/// bad response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Status {
    pub name: String,
    #[serde(default)]
    pub status_category: Option<StatusCategory>,
}

impl Status {
    /// `new` (to do), `indeterminate` (in progress), `done`; empty when not given.
    pub fn category(&self) -> &str {
        self.status_category.as_ref().and_then(|c| c.key.as_deref()).unwrap_or_default()
    }
}

/// `StatusCategory`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct StatusCategory {
    #[serde(default)]
    pub key: Option<String>,
}

/// `IssueTypeWithStatus` (`GET /project/{key}/statuses`).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct TypeStatuses {
    pub name: String,
    pub statuses: Vec<Status>,
}

/// `Transitions` (`GET /issue/{id}/transitions`).
#[derive(Debug, Deserialize)]
pub(super) struct TransitionList {
    pub transitions: Vec<Transition>,
}

/// `IssueTransition`: its id is posted back and its target decides the path, so both
/// are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Transition {
    pub id: Id,
    #[serde(default)]
    pub name: Option<String>,
    pub to: Status,
    #[serde(default)]
    pub is_available: Option<bool>,
    /// The transition screen's fields (`expand=transitions.fields`).
    #[serde(default)]
    pub fields: BTreeMap<String, ScreenField>,
}

/// `FieldMetadata`: a field of a transition screen.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScreenField {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub schema: Option<Schema>,
    #[serde(default)]
    pub has_default_value: Option<bool>,
    #[serde(default)]
    pub allowed_values: Vec<Allowed>,
}

// ---------------------------------------------------------------- fields and issue types

/// `FieldDetails` (`GET /field`) and `FieldCreateMetadata` (createmeta), which names
/// the field `fieldId` and `key` instead of `id`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FieldDef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub field_id: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub schema: Option<Schema>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub allowed_values: Vec<Allowed>,
}

impl FieldDef {
    /// The field's id; `None` for an entry that names no field.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref().or(self.field_id.as_deref()).or(self.key.as_deref())
    }
}

/// `JsonTypeBean`: a field's type (`string`, `array`, `user`, ...), the item type of
/// arrays, and the system field or custom field type it is.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct Schema {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub items: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub custom: Option<String>,
}

/// One of a field's `allowedValues`. The spec leaves the shape to the field; the
/// look-ups (priorities, resolutions, options, components, versions) are objects
/// naming themselves by `name`, `value` or `key`, anything else has no label.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Allowed {
    Choice(Choice),
    Other(Value),
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Choice {
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

impl Allowed {
    pub fn choice(&self) -> Option<&Choice> {
        match self {
            Allowed::Choice(c) => Some(c),
            Allowed::Other(_) => None,
        }
    }
}

/// `PageOfCreateMetaIssueTypes`; Jira Data Center names the list `values`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IssueTypePage {
    #[serde(default)]
    pub issue_types: Option<Vec<IssueType>>,
    #[serde(default)]
    pub values: Option<Vec<IssueType>>,
    #[serde(default)]
    pub total: u64,
}

impl IssueTypePage {
    pub fn items(self, endpoint: &str) -> PortResult<Vec<IssueType>> {
        self.issue_types.or(self.values).ok_or_else(|| missing_list(endpoint, "issueTypes"))
    }
}

/// `IssueTypeIssueCreateMetadata`: an issue type a project can create.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct IssueType {
    pub id: Id,
    pub name: String,
}

/// `PageOfCreateMetaIssueTypeWithField`: the list is `fields` (also `results`;
/// `values` on Jira Data Center).
#[derive(Debug, Deserialize)]
pub(super) struct FieldPage {
    #[serde(default)]
    pub fields: Option<Vec<FieldDef>>,
    #[serde(default)]
    pub results: Option<Vec<FieldDef>>,
    #[serde(default)]
    pub values: Option<Vec<FieldDef>>,
    #[serde(default)]
    pub total: u64,
}

impl FieldPage {
    pub fn items(self, endpoint: &str) -> PortResult<Vec<FieldDef>> {
        self.fields.or(self.results).or(self.values).ok_or_else(|| missing_list(endpoint, "fields"))
    }
}

fn missing_list(endpoint: &str, name: &str) -> PortError {
    PortError::new(ErrorCategory::BadResponse, format!("jira {endpoint}: no `{name}` array"))
}

// ---------------------------------------------------------------- projects and errors

/// `PageBeanProject` (`GET /project/search`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProjectPage {
    pub values: Vec<Project>,
    /// Absent: taken as the last page.
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// `Project`.
#[derive(Debug, Deserialize)]
pub(super) struct Project {
    pub id: Id,
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `ErrorCollection`, the body of Jira's 4xx answers; some gateways answer `{message}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorCollection {
    #[serde(default)]
    pub error_messages: Vec<String>,
    /// Field id -> message.
    #[serde(default)]
    pub errors: Map<String, Value>,
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: fmt::Debug>(r: PortResult<T>) -> String {
        let e = r.expect_err("a malformed body is an error");
        assert_eq!(e.category, ErrorCategory::BadResponse, "{e}");
        e.message
    }

    #[test]
    fn a_malformed_body_names_the_endpoint_and_the_field() {
        let cases: [(&str, &[u8], &str); 7] = [
            ("not JSON", b"<html>", "jira search/jql: response is not the expected JSON: expected value"),
            ("empty", b"", "jira search/jql: response is not the expected JSON: EOF while parsing"),
            (
                "no issues",
                br#"{"isLast": true}"#,
                "jira search/jql: response is not the expected JSON: missing field `issues`",
            ),
            ("issues not a list", br#"{"issues": {}}"#, "at `issues`: invalid type: map, expected a sequence"),
            ("an issue without id", br#"{"issues": [{"key": "A-1"}]}"#, "at `issues[0]`: missing field `id`"),
            (
                "a page that is a list",
                b"[]",
                "jira search/jql: response is not the expected JSON: expected an object, found an array",
            ),
            ("trailing garbage", br#"{"issues": []} x"#, "trailing characters"),
        ];
        for (name, body, says) in cases {
            let m = err(object::<SearchPage>(body, "search/jql"));
            assert!(m.contains(says), "{name}: {m}");
        }
        let m = err(list::<User>(br#"{"errorMessages": []}"#, "user/search"));
        assert!(
            m.contains("jira user/search: response is not the expected JSON: expected an array, found an object"),
            "{m}"
        );
        let m = err(object::<TransitionList>(br#"{"transitions": [{"id": "1", "to": {"id": "3"}}]}"#, "transitions"));
        assert!(m.contains("at `transitions[0].to`: missing field `name`"), "{m}");
    }

    #[test]
    fn what_the_spec_lets_a_server_leave_out_reads_as_absent() {
        let page: SearchPage =
            object(br#"{"issues": [{"id": 10042, "fields": {"summary": "s"}}], "nextPageToken": null}"#, "s").unwrap();
        assert_eq!(page.issues[0].id, Id("10042".into()), "a numeric id reads as text");
        assert_eq!(page.issues[0].key(), "10042", "no key: the id stands in");
        assert!(page.issues[0].changelog.is_none());
        assert_eq!((page.is_last, page.next_page_token), (None, None));
        let t: TransitionList =
            object(br#"{"transitions": [{"id": "5", "to": {"name": "Done"}, "fields": {"x": {}}}]}"#, "t").unwrap();
        let t = &t.transitions[0];
        assert_eq!((t.to.category(), t.is_available, t.fields["x"].required), ("", None, false));
        let h: Changelog = serde_json::from_str(r#"{"created": "soon", "items": [{"field": "Rank"}]}"#).unwrap();
        assert_eq!((h.created, h.items[0].id()), (None, "Rank"), "an unreadable time is no time");
        let me: User = object(br#"{"accountId": "5b1", "emailAddress": ""}"#, "myself").unwrap();
        assert_eq!(me.to_ref().map(|u| (u.id, u.email)), Some(("5b1".into(), None)), "an empty e-mail is hidden");
    }

    #[test]
    fn a_changelog_asked_for_and_left_out_is_an_error() {
        let issue: Issue = object(br#"{"id": "1", "key": "APP-1", "fields": {}}"#, "issue").unwrap();
        let m = err(issue.histories("search/jql"));
        assert!(m.contains("jira search/jql: issue APP-1 has no `changelog.histories` array"), "{m}");
        let bad: Issue = object(br#"{"id": "1", "key": "APP-1", "fields": {"status": {"id": "3"}}}"#, "issue").unwrap();
        let m = err(bad.system_field::<Status>("status", "issue"));
        assert!(m.contains("jira issue: issue APP-1: `fields.status`: missing field `name`"), "{m}");
        assert!(bad.system_field::<Status>("resolution", "issue").unwrap().is_none());
    }

    #[test]
    fn createmeta_lists_go_by_any_of_their_names_but_must_be_there() {
        let p: FieldPage =
            object(br#"{"results": [{"fieldId": "summary", "key": "summary"}], "total": 1}"#, "f").unwrap();
        assert_eq!(p.items("f").unwrap()[0].id(), Some("summary"));
        let p: FieldPage = object(br#"{"total": 0}"#, "createmeta fields").unwrap();
        assert!(err(p.items("createmeta fields")).contains("jira createmeta fields: no `fields` array"));
        let p: IssueTypePage = object(br#"{"values": [{"id": 10001, "name": "Bug"}]}"#, "t").unwrap();
        assert_eq!(p.items("t").unwrap()[0].id, Id("10001".into()));
    }
}
