//! Validated configuration: systems and integrations after parsing.
//!
//! These structs are what stores persist and what the engine runs. Spreadsheets are
//! resolved into inline tables at `apply` time, so a stored integration is
//! self-contained (a Lambda never needs the original .xlsx).

use crate::ids::{FieldKey, IntegrationId, SystemId};
use crate::model::{Flow, Side, SystemKind};
use crate::names::named_enum;
pub use crate::value_map::{UserTable, ValueTable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a secret lives. The secret itself never appears in config or state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    /// An environment variable of the process.
    Env(String),
    /// An SSM Parameter Store name (SecureString).
    Ssm(String),
    /// A Secrets Manager secret id or ARN.
    SecretsManager(String),
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::Ssm(n) => write!(f, "ssm:{n}"),
            SecretRef::SecretsManager(n) => write!(f, "secrets_manager:{n}"),
        }
    }
}

named_enum! {
    /// How Ferry authenticates to a system: the `kind` of an [`AuthConfig`].
    pub enum AuthKind("auth kind") {
        /// Jira Cloud: the account e-mail (`username`) and an API token, as HTTP basic auth.
        Basic = "basic",
        /// Azure DevOps: a personal access token.
        Pat = "pat",
        /// An OAuth / bearer token.
        Bearer = "bearer",
        /// Redmine: the integration user's API key, sent as `X-Redmine-API-Key`.
        ApiKey = "api_key",
    }
}

/// Stored with its [`AuthKind`] name as the `kind` tag (a test keeps the two in step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthConfig {
    /// Jira Cloud: e-mail + API token as HTTP basic auth.
    Basic { username: String, token: SecretRef },
    /// Azure DevOps personal access token (basic auth with an empty user name).
    Pat { token: SecretRef },
    /// An OAuth / bearer token.
    Bearer { token: SecretRef },
    /// An API key sent in a vendor header (Redmine `X-Redmine-API-Key`).
    ApiKey { token: SecretRef },
}

impl AuthConfig {
    pub fn kind(&self) -> AuthKind {
        match self {
            AuthConfig::Basic { .. } => AuthKind::Basic,
            AuthConfig::Pat { .. } => AuthKind::Pat,
            AuthConfig::Bearer { .. } => AuthKind::Bearer,
            AuthConfig::ApiKey { .. } => AuthKind::ApiKey,
        }
    }
    pub fn token(&self) -> &SecretRef {
        match self {
            AuthConfig::Basic { token, .. }
            | AuthConfig::Pat { token }
            | AuthConfig::Bearer { token }
            | AuthConfig::ApiKey { token } => token,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemConfig {
    pub id: SystemId,
    pub kind: SystemKind,
    /// `https://acme.atlassian.net`, `https://dev.azure.com/acme`.
    pub base_url: String,
    /// ADO identities host (`https://vssps.dev.azure.com/acme`); derived when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_url: Option<String>,
    pub auth: AuthConfig,
    /// E-mail of the integration user; changes by this user are never synced back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Extra trusted CA certificates (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<CaCert>,
    /// Allow plain http, only for loopback hosts (simulators, tests).
    #[serde(default)]
    pub allow_http_loopback: bool,
    /// Where the secrets of the system's webhooks live; `None`: deliveries are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::webhook::HookConfig>,
    /// The pace of Ferry's requests to the system (`None`: its kind's default; see
    /// [`SystemConfig::rate_limit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::rate_limit::RateLimitSetting>,
}

impl SystemConfig {
    /// The pace every request to this system is held to, `None` for none
    /// ([`crate::rate_limit::effective`]).
    pub fn rate_limit(&self) -> Option<crate::rate_limit::RateLimit> {
        crate::rate_limit::effective(self.rate_limit, self.kind, &self.base_url)
    }
}

/// Where a system's extra trusted CA certificates (PEM) come from. The AWS backend
/// cannot read the operator's files: there the PEM is given inline or by reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", from = "CaCertStored")]
pub enum CaCert {
    /// The PEM text itself.
    Pem(String),
    /// A PEM file on the machine that runs Ferry (embedded backend), as an absolute path.
    File(String),
    /// An SSM parameter holding the PEM.
    Ssm(String),
    /// A Secrets Manager secret holding the PEM.
    SecretsManager(String),
}

/// What stores hold: [`CaCert`] as tagged, or a bare string, the file path that earlier
/// configs stored.
#[derive(Deserialize)]
#[serde(untagged)]
enum CaCertStored {
    Path(String),
    Tagged(CaCertTagged),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CaCertTagged {
    Pem(String),
    File(String),
    Ssm(String),
    SecretsManager(String),
}

impl From<CaCertStored> for CaCert {
    fn from(s: CaCertStored) -> Self {
        match s {
            CaCertStored::Path(p) | CaCertStored::Tagged(CaCertTagged::File(p)) => CaCert::File(p),
            CaCertStored::Tagged(CaCertTagged::Pem(p)) => CaCert::Pem(p),
            CaCertStored::Tagged(CaCertTagged::Ssm(n)) => CaCert::Ssm(n),
            CaCertStored::Tagged(CaCertTagged::SecretsManager(n)) => CaCert::SecretsManager(n),
        }
    }
}

/// One side of an integration: which system, project and entity type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub system: SystemId,
    pub project: String,
    pub entity_type: String,
}

named_enum! {
    /// Which way a field mapping carries values.
    pub enum Direction("direction") default Both {
        /// From the left field to the right one only.
        LeftToRight = "left_to_right",
        /// From the right field to the left one only.
        RightToLeft = "right_to_left",
        /// Both ways.
        Both = "both",
    }
}

impl Direction {
    pub fn allows(self, flow: Flow) -> bool {
        matches!(
            (self, flow),
            (Direction::Both, _)
                | (Direction::LeftToRight, Flow::LeftToRight)
                | (Direction::RightToLeft, Flow::RightToLeft)
        )
    }
}

named_enum! {
    /// How a mapped value is interpreted and converted.
    pub enum MappingKind("mapping type") default Value {
        /// A plain value, converted by the target field's type (text, number, date, list).
        Value = "value",
        /// Rich text: HTML on both sides after connector conversion (Jira ADF ⇄ Azure DevOps HTML).
        RichText = "rich_text",
        /// A person, matched by e-mail (with the users table as override).
        User = "user",
        /// A Jira status / Azure DevOps state: written on Jira through a workflow transition.
        Status = "status",
    }
}

named_enum! {
    /// Who wins when a field changed on both sides since the last sync (three-way
    /// comparison against the last-synced value). Edits to different fields always merge.
    pub enum ConflictPolicy("conflict policy") default LastWriter {
        /// The side whose entity changed last (entity-level `updated`; the systems do not
        /// timestamp single fields without extra history requests).
        LastWriter = "last_writer",
        /// The left value wins.
        Left = "left",
        /// The right value wins.
        Right = "right",
        /// Neither value is written; a `field_conflict` failure record waits for a person.
        Flag = "flag",
    }
}

named_enum! {
    /// What to do when a source user has no match in the target system.
    pub enum UnmatchedUser("unmatched policy") default Default {
        /// Write the mapping's default user for that direction (or leave the field unset if none).
        Default = "default",
        /// Leave the target field as it is; the rest of the change is written.
        Skip = "skip",
        /// Fail the event with a failure record ("user not found").
        Fail = "fail",
    }
}

/// A constant or default value, written as given (a string, number or boolean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Number(f64),
    Text(String),
}

/// One mapped field pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMapping {
    /// Left field; `None` when the left source is `none` (a constant written to the right).
    pub left: Option<FieldKey>,
    /// Right field; `None` when the right source is `none` (a constant written to the left).
    pub right: Option<FieldKey>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub kind: MappingKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<ValueTable>,
    /// Written to the left when the right gives no value (or no mapping for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_left: Option<Scalar>,
    /// Written to the right when the left gives no value (or no mapping for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_right: Option<Scalar>,
    /// For a `none` source: the value always written to the other side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<Scalar>,
    #[serde(default)]
    pub unmatched: UnmatchedUser,
    #[serde(default)]
    pub conflict: ConflictPolicy,
}

impl FieldMapping {
    pub fn field(&self, side: Side) -> Option<&FieldKey> {
        match side {
            Side::Left => self.left.as_ref(),
            Side::Right => self.right.as_ref(),
        }
    }
    pub fn default_for(&self, target: Side) -> Option<&Scalar> {
        match target {
            Side::Left => self.default_left.as_ref(),
            Side::Right => self.default_right.as_ref(),
        }
    }
}

named_enum! {
    /// What happens when an entity that already synced stops matching the criteria filter.
    pub enum FilterExit("filter exit policy") default KeepSyncing {
        /// A linked entity keeps syncing after it stops matching.
        KeepSyncing = "keep_syncing",
        /// A linked entity stops syncing while it does not match; the link is kept.
        StopSyncing = "stop_syncing",
    }
}

named_enum! {
    /// On which entities Ferry adds a remote link to the peer ([`RemoteRefs`]).
    pub enum Links("links setting") default Both {
        /// No remote links.
        Neither = "none",
        /// On the left entity only.
        Left = "left",
        /// On the right entity only.
        Right = "right",
        /// On both entities.
        Both = "both",
    }
}

impl Links {
    /// Whether the entity on `side` gets a remote link.
    pub fn on(self, side: Side) -> bool {
        matches!((self, side), (Links::Both, _) | (Links::Left, Side::Left) | (Links::Right, Side::Right))
    }
}

/// Where Ferry writes the peer's id and link.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RemoteRefs {
    /// Left field that receives the right entity's key (e.g. `customfield_10050`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_id_field: Option<FieldKey>,
    /// Right field that receives the left entity's key (e.g. `Custom.JiraKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_id_field: Option<FieldKey>,
    /// Add a remote link (Jira remote link / ADO Hyperlink) on the left entity.
    #[serde(default)]
    pub left_link: bool,
    /// Add a remote link on the right entity.
    #[serde(default)]
    pub right_link: bool,
}

impl RemoteRefs {
    pub fn id_field(&self, side: Side) -> Option<&FieldKey> {
        match side {
            Side::Left => self.left_id_field.as_ref(),
            Side::Right => self.right_id_field.as_ref(),
        }
    }
    pub fn link(&self, side: Side) -> bool {
        match side {
            Side::Left => self.left_link,
            Side::Right => self.right_link,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub id: IntegrationId,
    pub left: Endpoint,
    pub right: Endpoint,
    /// Seconds between polls of each direction (default 60).
    pub poll_interval_secs: u64,
    /// Re-read window behind the watermark, absorbing minute precision and search lag.
    pub overlap_secs: u64,
    /// Overrides the automatic start polling time at activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// Native query condition per direction: JQL for Jira, a WIQL condition for ADO,
    /// applied to the source side of that direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_left_to_right: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_right_to_left: Option<String>,
    #[serde(default)]
    pub filter_exit: FilterExit,
    #[serde(default)]
    pub remote: RemoteRefs,
    pub fields: Vec<FieldMapping>,
    #[serde(default)]
    pub users: UserTable,
    /// Attempts before an event is parked as a failure.
    pub max_attempts: u32,
    /// Comments, attachments, hierarchy, links and deletions.
    #[serde(default)]
    pub collaboration: Collaboration,
}

named_enum! {
    /// What happens when Ferry finds the linked target of an entity deleted.
    pub enum OnTargetDeleted("on_target_deleted policy") default Unlink {
        /// Drop the link: the pair stops syncing and the source entity is reported in
        /// `ferry status`; a later change of it is not created again.
        Unlink = "unlink",
        /// Drop the link and create the target again from the source.
        Recreate = "recreate",
        /// Park the event as a failure (a person decides).
        Park = "park",
    }
}

/// Attachments of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRule {
    pub direction: Direction,
    /// Files larger than this (bytes) are linked, not copied.
    pub max_size: u64,
}

/// Attachments over this are linked instead of copied unless `max_size` says otherwise.
pub const DEFAULT_ATTACHMENT_MAX: u64 = 100 * 1024 * 1024;

/// One pair of issue link types (`links:`): a Jira issue link type name, an Azure DevOps
/// link type reference name (without `-Forward`/`-Reverse`), a Redmine relation type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTypePair {
    pub left: String,
    pub right: String,
}

/// What of the conversation and structure around a work item an integration syncs
/// (nothing unless configured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collaboration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<AttachmentRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<Direction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkTypePair>,
    #[serde(default)]
    pub on_target_deleted: OnTargetDeleted,
}

impl Collaboration {
    /// Whether anything beyond fields travels in `flow`.
    pub fn any(&self, flow: Flow) -> bool {
        self.comments.is_some_and(|d| d.allows(flow))
            || self.attachments.is_some_and(|a| a.direction.allows(flow))
            || self.hierarchy.is_some_and(|d| d.allows(flow))
            || !self.links.is_empty()
    }
    /// The target's link type for a link type of `flow`'s source.
    pub fn link_type(&self, flow: Flow, source_type: &str) -> Option<&str> {
        self.links.iter().find_map(|p| match flow {
            Flow::LeftToRight => (p.left == source_type).then_some(p.right.as_str()),
            Flow::RightToLeft => (p.right == source_type).then_some(p.left.as_str()),
        })
    }
}

impl Integration {
    pub fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
    pub fn filter(&self, flow: Flow) -> Option<&str> {
        match flow {
            Flow::LeftToRight => self.filter_left_to_right.as_deref(),
            Flow::RightToLeft => self.filter_right_to_left.as_deref(),
        }
    }
    /// Directions in which at least one field mapping travels.
    pub fn flows(&self) -> Vec<Flow> {
        Flow::BOTH.into_iter().filter(|f| self.fields.iter().any(|m| m.direction.allows(*f))).collect()
    }
}

/// A stored integration with its lifecycle state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationRecord {
    pub integration: Integration,
    pub active: bool,
    /// Incremented on every successful `apply`, for optimistic concurrency.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_allows_its_flows_only() {
        assert!(Direction::Both.allows(Flow::RightToLeft));
        assert!(!Direction::LeftToRight.allows(Flow::RightToLeft));
        assert!(Direction::RightToLeft.allows(Flow::RightToLeft));
    }
}

#[cfg(test)]
mod auth_tests {
    use super::*;

    #[test]
    fn an_auth_config_is_stored_with_its_kind_name_as_the_tag() {
        let token = SecretRef::Env("T".into());
        let all = [
            AuthConfig::Basic { username: "u@x.test".into(), token: token.clone() },
            AuthConfig::Pat { token: token.clone() },
            AuthConfig::Bearer { token: token.clone() },
            AuthConfig::ApiKey { token },
        ];
        assert_eq!(all.iter().map(AuthConfig::kind).collect::<Vec<_>>(), AuthKind::ALL);
        for auth in all {
            let json = serde_json::to_value(&auth).unwrap();
            assert_eq!(json["kind"], auth.kind().as_str(), "{json}");
        }
    }

    #[test]
    fn links_name_the_sides_that_get_a_remote_link() {
        let on = |l: Links| (l.on(Side::Left), l.on(Side::Right));
        assert_eq!(on(Links::Neither), (false, false));
        assert_eq!(on(Links::Left), (true, false));
        assert_eq!(on(Links::Right), (false, true));
        assert_eq!(on(Links::Both), (true, true));
    }
}

#[cfg(test)]
mod ca_cert_tests {
    use super::*;

    #[test]
    fn a_ca_cert_round_trips_and_a_stored_bare_path_reads_as_a_file() {
        for ca in [
            CaCert::Pem("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n".into()),
            CaCert::File("/etc/ferry/ca.pem".into()),
            CaCert::Ssm("/ferry/ca".into()),
            CaCert::SecretsManager("ferry/ca".into()),
        ] {
            let json = serde_json::to_string(&ca).unwrap();
            assert_eq!(serde_json::from_str::<CaCert>(&json).unwrap(), ca, "{json}");
        }
        assert_eq!(serde_json::to_value(CaCert::Ssm("/p".into())).unwrap(), serde_json::json!({"ssm": "/p"}));
        assert_eq!(serde_json::from_str::<CaCert>("\"/old/ca.pem\"").unwrap(), CaCert::File("/old/ca.pem".into()));
    }
}
