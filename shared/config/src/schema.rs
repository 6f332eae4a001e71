//! The file format as serde/schemars types, for the JSON Schema editors use.
//!
//! Loading does not go through these types (it walks a positioned tree to report every
//! error with its line); tests keep the two in step: same keys, and the examples
//! deserialize here too.

// The fields are read by serde (tests deserialize the examples here); the types exist for the schema.
#![allow(dead_code)]

use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::schema::{InstanceType, Schema, SchemaObject};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A Ferry configuration file. One file may hold systems, integrations or both; several
/// files can be loaded together, and an integration may use systems from any of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Ferry configuration")]
pub struct File {
    /// Connected ALM systems (Jira Cloud, Azure DevOps Services).
    #[serde(default)]
    pub systems: Vec<System>,
    /// Integrations: which projects and entity types sync, and how fields map.
    #[serde(default)]
    pub integrations: Vec<Integration>,
}

/// A connected system.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct System {
    /// Unique id, referenced by integrations: 1-128 of letters, digits, `_ - . :`.
    pub id: String,
    pub kind: SystemKind,
    /// `https://acme.atlassian.net`, `https://dev.azure.com/acme` or the Redmine root URL. Plain http only with
    /// allow_http_loopback and a 127.0.0.1/localhost host.
    pub base_url: String,
    /// Azure DevOps identities host (`https://vssps.dev.azure.com/acme`); derived when absent.
    pub identity_url: Option<String>,
    pub auth: Auth,
    /// E-mail of the user Ferry writes as; its changes are never synced back. Required for
    /// azure_devops; for jira it defaults to the basic-auth username.
    pub integration_user: Option<String>,
    /// Proxy URL (`http://proxy:3128`), without credentials.
    pub proxy: Option<String>,
    pub ca_cert: Option<CaCert>,
    /// Allow plain http to 127.0.0.1/localhost (simulators, tests). Default false.
    pub allow_http_loopback: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    Jira,
    AzureDevops,
    Redmine,
}

/// Credentials, as references to where the secret lives. A secret written inline is an error.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// Jira Cloud: account e-mail and API token.
    Basic { username: String, token: Secret },
    /// Azure DevOps personal access token.
    Pat { token: Secret },
    /// An OAuth / bearer token.
    Bearer { token: Secret },
    /// Redmine: the integration user's API key, sent as `X-Redmine-API-Key`.
    ApiKey { token: Secret },
}

/// Where a secret lives: exactly one of env, ssm or secrets_manager.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Secret {
    /// Environment variable name.
    Env(String),
    /// SSM Parameter Store name (SecureString).
    Ssm(String),
    /// Secrets Manager secret id or ARN.
    SecretsManager(String),
}

/// Extra trusted CA certificates: the PEM text itself, where it lives ({ ssm: NAME } or
/// { secrets_manager: ID }), or (embedded backend only) a PEM file's path relative to
/// this file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CaCert {
    /// PEM text (`-----BEGIN CERTIFICATE-----` ...) or, on the embedded backend, a file path.
    Text(String),
    Reference(CaCertRef),
}

/// Where a CA certificate (PEM) lives: exactly one of ssm or secrets_manager.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CaCertRef {
    /// SSM Parameter Store name.
    Ssm(String),
    /// Secrets Manager secret id or ARN.
    SecretsManager(String),
}

/// One integration between a left and a right endpoint.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// Unique id: 1-128 of letters, digits, `_ - . :`.
    pub id: String,
    pub left: Endpoint,
    pub right: Endpoint,
    /// Time between polls, with a unit: `30s`, `5m`, `1h`, `1m30s`. Default 60s, at least 10s.
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub poll_interval: Option<String>,
    /// Re-read window behind the watermark. Default 120s.
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub overlap: Option<String>,
    /// RFC 3339 time overriding the automatic start polling time (last update in the source
    /// project, or now - 26 h when it is empty).
    #[schemars(schema_with = "date_time")]
    pub start_time: Option<String>,
    /// Attempts before an event is parked as a failure. Default 5.
    #[schemars(range(min = 1, max = 100))]
    pub max_attempts: Option<u32>,
    pub filters: Option<Filters>,
    pub remote: Option<Remote>,
    /// E-mail overrides where a person's e-mail differs between the systems (users otherwise
    /// match by e-mail). Left column: left system e-mails.
    pub users: Option<Table>,
    /// Mapped field pairs.
    pub fields: Vec<Field>,
}

/// One side of an integration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// A system id from `systems:`.
    pub system: String,
    /// Jira project key (APP) or Azure DevOps project name (App).
    pub project: String,
    /// Issue type / work item type (Bug).
    #[serde(rename = "type")]
    pub entity_type: String,
}

/// Criteria filters pushed into each direction's poll.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Condition on the left system (JQL for Jira, a WIQL condition for Azure DevOps).
    pub left_to_right: Option<String>,
    /// Condition on the right system.
    pub right_to_left: Option<String>,
    /// What happens when a synced entity stops matching: keep_syncing (default) or stop_syncing.
    pub on_exit: Option<OnExit>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnExit {
    KeepSyncing,
    StopSyncing,
}

/// Where Ferry writes the peer's id and link.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// Left field receiving the right entity's key (`customfield_10050`).
    pub left_id_field: Option<String>,
    /// Right field receiving the left entity's key (`Custom.JiraKey`).
    pub right_id_field: Option<String>,
    /// On which sides a remote link is added. Default both.
    pub links: Option<Links>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Links {
    None,
    Left,
    Right,
    Both,
}

/// A two-column table in left-to-right orientation; the reverse direction swaps the
/// columns (the first row wins when a right value repeats). Exactly one of inline, csv, sheet.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Table {
    /// `{ LEFT: RIGHT, ... }`.
    Inline(BTreeMap<String, Scalar>),
    /// A CSV file whose first line holds the headers.
    Csv(CsvTable),
    /// A sheet of an Excel workbook whose first row holds the headers.
    Sheet(SheetTable),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvTable {
    /// Path relative to this file.
    pub file: String,
    /// Header of the left system's column.
    pub left_column: String,
    /// Header of the right system's column.
    pub right_column: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetTable {
    /// Workbook path (.xlsx) relative to this file.
    pub file: String,
    /// Sheet name; default the first sheet.
    pub sheet: Option<String>,
    /// Header of the left system's column.
    pub left_column: String,
    /// Header of the right system's column.
    pub right_column: String,
}

/// One mapped field pair.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Left field key, or `none` to write `value` to the right (left_to_right only).
    pub left: String,
    /// Right field key, or `none` to write `value` to the left (right_to_left only).
    pub right: String,
    /// Default both.
    pub direction: Option<Direction>,
    /// How the value converts. Default value.
    #[serde(rename = "type")]
    pub kind: Option<MappingType>,
    /// Value table for look-up fields (value and status types).
    pub values: Option<Table>,
    /// Written to the target when the source gives no value: a scalar for both sides, or
    /// `{ left: ..., right: ... }` (right: written to the right when the left gives none).
    pub default: Option<DefaultValue>,
    /// User mappings: when a source user has no match in the target, write the default
    /// user (default), leave the field (skip) or fail the event (fail).
    pub unmatched: Option<Unmatched>,
    /// The constant written when the other side is `none`.
    pub value: Option<Scalar>,
    /// Both-way mappings: who wins when the field changed on both sides since the last
    /// sync (last_writer by default; flag parks a field_conflict failure for a person).
    pub conflict: Option<Conflict>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    LastWriter,
    Left,
    Right,
    Flag,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    LeftToRight,
    RightToLeft,
    Both,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MappingType {
    /// Converted by the target field's type (text, number, date, list).
    Value,
    /// Jira ADF <-> Azure DevOps HTML.
    RichText,
    /// A person, matched by e-mail with the users table as override.
    User,
    /// Jira status / Azure DevOps state (Jira writes go through workflow transitions).
    Status,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    Default,
    Skip,
    Fail,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DefaultValue {
    Both(Scalar),
    Sides(DefaultSides),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultSides {
    /// Written to the left when the right gives none.
    pub left: Option<Scalar>,
    /// Written to the right when the left gives none.
    pub right: Option<Scalar>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Number(f64),
    Text(String),
}

fn date_time(_: &mut SchemaGenerator) -> Schema {
    Schema::Object(SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        format: Some("date-time".into()),
        ..SchemaObject::default()
    })
}

pub fn json_schema() -> serde_json::Value {
    let gen = SchemaSettings::draft07().into_generator();
    let schema = gen.into_root_schema_for::<File>();
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
