//! The config file format, declared once: every object, its keys, what each key holds
//! and whether it is required.
//!
//! The decoder takes each object's allowed keys (unknown-key errors and their hints) and
//! required keys (missing-key errors and their hints) from here, and reads values by key
//! name; enum values come from the `named_enum!` declarations in ferry-domain. The JSON
//! Schema for editors is generated from here (`schema.rs`). The tests in `drift.rs` fail
//! when the decoder does not read a key declared here, reads one that is not, or accepts
//! other enum values than the schema lists.
//!
//! Adding a key: add a [`Key`] to its object below (`key(..)` optional, `required(..)`
//! required) and read it in that object's decoder (`obj.get("name")`, `obj.string(..)`,
//! `obj.enum_of::<T>(..)`). A new object is a `static Object` named by a key's
//! [`Shape::Object`], decoded with `Obj::new(ctx, node, path, &format::NAME)`; reach it
//! in the drift sample. Adding an enum value: one line in its `named_enum!`.
//! Then regenerate `examples/ferry.schema.json`:
//! `cargo run -p ferry-config --example make_example_sheets -- examples`.

use ferry_domain::{
    AuthKind, ConflictPolicy, Direction, EnumNames, FilterExit, Links, MappingKind, OnCommit, OnTargetDeleted, ScmKind,
    SystemKind, UnmatchedUser,
};

/// A YAML mapping of the format.
pub struct Object {
    /// Names the schema definition.
    pub name: &'static str,
    pub doc: &'static str,
    pub keys: &'static [Key],
    /// Exactly one of the keys is given (`{ env: NAME }` or `{ ssm: NAME }`). The decoder
    /// reports a choice of none or several with its own message.
    pub one_of: bool,
}

pub struct Key {
    pub name: &'static str,
    pub doc: &'static str,
    pub shape: Shape,
    pub presence: Presence,
}

#[derive(Clone, Copy)]
pub enum Presence {
    Optional,
    /// Missing is an error, with this hint (an enum key's hint lists its values).
    Required(Option<&'static str>),
    /// Required when the key `tag` has the value `value`, refused otherwise
    /// (`username` with `kind: basic`).
    RequiredWith {
        tag: &'static str,
        value: &'static str,
        hint: &'static str,
    },
}

/// What a key's value is.
pub enum Shape {
    /// A non-empty string.
    Text,
    /// A duration with a unit: `30s`, `5m`, `1h`, `1m30s`.
    Duration,
    /// A size in bytes with a unit: `512KB`, `100MB`, `2GB` (powers of 1024).
    Size,
    /// An RFC 3339 time.
    DateTime,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A number (a fraction allowed) above `above` and at most `max`.
    Number {
        above: f64,
        max: f64,
    },
    /// This one word (`off`).
    Word(&'static str),
    /// A string, number or boolean.
    Scalar,
    /// One of a named enum's values.
    Enum(EnumNames),
    Object(&'static Object),
    ListOf(&'static Object),
    /// A mapping of scalars to scalars (`{ High: 2, Low: 4 }`).
    ScalarMap,
    /// Any one of these shapes.
    Either(&'static [Shape]),
    /// A list of non-empty strings.
    TextList,
    /// A list of one named enum's values.
    EnumList(EnumNames),
}

const fn key(name: &'static str, doc: &'static str, shape: Shape) -> Key {
    Key { name, doc, shape, presence: Presence::Optional }
}

const fn required(name: &'static str, doc: &'static str, shape: Shape, hint: Option<&'static str>) -> Key {
    Key { name, doc, shape, presence: Presence::Required(hint) }
}

const fn object(name: &'static str, doc: &'static str, keys: &'static [Key]) -> Object {
    Object { name, doc, keys, one_of: false }
}

const fn one_of(name: &'static str, doc: &'static str, keys: &'static [Key]) -> Object {
    Object { name, doc, keys, one_of: true }
}

/// A whole file.
pub static FILE: Object = object(
    "File",
    "A Ferry configuration file. One file may hold systems, integrations or both; several files can be \
     loaded together, and an integration may use systems from any of them.",
    &[
        key("systems", "Connected systems (Jira Cloud, Azure DevOps Services, Redmine).", Shape::ListOf(&SYSTEM)),
        key(
            "integrations",
            "Integrations: which projects and entity types sync, and how fields map.",
            Shape::ListOf(&INTEGRATION),
        ),
        key(
            "source_control",
            "Source-control systems (the SCM class; Git). Their commits are shown on work items by commit_links.",
            Shape::ListOf(&SCM_SYSTEM),
        ),
        key(
            "commit_links",
            "Commit integrations: each new commit of a repository's branches that names a work item becomes a \
             link and a comment on it.",
            Shape::ListOf(&COMMIT_LINK),
        ),
    ],
);

// ---- source control ----

pub static SCM_SYSTEM: Object = object(
    "ScmSystem",
    "A source-control system: one repository.",
    &[
        required("id", "Unique id among all systems: 1-128 of letters, digits, `_ - . :`.", Shape::Text, None),
        required("kind", "The kind of source-control system.", Shape::Enum(ScmKind::NAMES), None),
        required(
            "base_url",
            "The repository's clone URL: `https://git.acme.test/app.git`. git:// and http:// only with \
             allow_http_loopback and a 127.0.0.1/localhost host.",
            Shape::Text,
            None,
        ),
        key(
            "token",
            "Where the access token lives (sent as the HTTP basic-auth password, https only). Absent: anonymous.",
            Shape::Object(&SECRET),
        ),
        key(
            "web_url",
            "A commit's web page, `{sha}` standing for its full id: \
             `https://git.acme.test/app/commit/{sha}`. Required for on_commit: link.",
            Shape::Text,
        ),
        key(
            "allow_http_loopback",
            "Allow git:// and plain http to 127.0.0.1/localhost (tests). Default false.",
            Shape::Bool,
        ),
        key(
            "ca_cert",
            "Extra trusted CA certificates for an https base_url: the PEM text itself, where it lives \
             ({ ssm: NAME } or { secrets_manager: ID }), or a PEM file's path relative to this file.",
            Shape::Either(&[Shape::Text, Shape::Object(&CA_CERT_REF)]),
        ),
    ],
);

pub static COMMIT_LINK: Object = object(
    "CommitLink",
    "Commits of a repository's branches shown on the work items their messages name.",
    &[
        required("id", "Unique id among all integrations: 1-128 of letters, digits, `_ - . :`.", Shape::Text, None),
        required(
            "source",
            "The repository and its branches.",
            Shape::Object(&COMMIT_SOURCE),
            Some("source: { system: app-repo, branches: [main] }"),
        ),
        required(
            "targets",
            "Where the work items live and how a commit message names them.",
            Shape::ListOf(&COMMIT_TARGET),
            Some("targets: [{ system: jira-cloud, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }]"),
        ),
        key(
            "on_commit",
            "What a commit puts on each work item it names. Default: [link, comment].",
            Shape::EnumList(OnCommit::NAMES),
        ),
        key(
            "poll_interval",
            "Time between polls by `ferry run`, with a unit: `30s`, `5m`. Default 60s, at least 10s.",
            Shape::Duration,
        ),
        key(
            "transitions",
            "Keywords that move a work item a commit names: `Fixes APP-12` (the keyword, any case, then an \
             optional colon and spaces, right before the key) moves APP-12 to the status given for its system, \
             once, when the commit is first handled. Needs on_commit: comment.",
            Shape::ListOf(&COMMIT_TRANSITION),
        ),
    ],
);

pub static COMMIT_TRANSITION: Object = object(
    "CommitTransition",
    "A keyword and the status it moves the named work item to, per target system.",
    &[
        required("keyword", "One word, matched in any case: `fixes`, `closes`, `resolves`.", Shape::Text, None),
        required(
            "to",
            "Target system id → the status (Jira, reached through workflow transitions) or State (Azure \
             DevOps) to move the item to. A target system not named here is not moved.",
            Shape::ScalarMap,
            Some("to: { jira-cloud: Done, ado: Resolved }"),
        ),
    ],
);

pub static COMMIT_SOURCE: Object = object(
    "CommitSource",
    "The repository whose commits are shown.",
    &[
        required("system", "The id of a source_control system.", Shape::Text, None),
        required(
            "branches",
            "Branch names or patterns, `*` standing for any characters: `[main, release/*]`.",
            Shape::TextList,
            Some("branches: [main]"),
        ),
    ],
);

pub static COMMIT_TARGET: Object = object(
    "CommitTarget",
    "A project of a work-item system whose items commits can name.",
    &[
        required("system", "The id of a Jira or Azure DevOps system.", Shape::Text, None),
        required("project", "The project key (Jira) or name (Azure DevOps).", Shape::Text, None),
        required(
            "key_pattern",
            "A regular expression; its capture group (or whole match) is the item's key or id: \
             `\\b(APP-\\d+)\\b` for Jira, `\\bAB#(\\d+)\\b` for Azure DevOps.",
            Shape::Text,
            None,
        ),
    ],
);

// ---- systems ----

pub static SYSTEM: Object = object(
    "System",
    "A connected system.",
    &[
        required(
            "id",
            "Unique id, referenced by integrations: 1-128 of letters, digits, `_ - . :`.",
            Shape::Text,
            None,
        ),
        required("kind", "The kind of system.", Shape::Enum(SystemKind::NAMES), None),
        required(
            "base_url",
            "`https://acme.atlassian.net`, `https://dev.azure.com/acme` or the Redmine root URL. Plain http only \
             with allow_http_loopback and a 127.0.0.1/localhost host.",
            Shape::Text,
            None,
        ),
        key(
            "identity_url",
            "Azure DevOps identities host (`https://vssps.dev.azure.com/acme`); derived when absent.",
            Shape::Text,
        ),
        required(
            "auth",
            "Credentials, as references to where the secret lives. A secret written inline is an error.",
            Shape::Object(&AUTH),
            None,
        ),
        key(
            "integration_user",
            "E-mail of the user Ferry writes as; its changes are never synced back. Required for azure_devops; \
             for jira it defaults to the basic-auth username.",
            Shape::Text,
        ),
        key("proxy", "Proxy URL (`http://proxy:3128`), without credentials.", Shape::Text),
        key(
            "ca_cert",
            "Extra trusted CA certificates: the PEM text itself (`-----BEGIN CERTIFICATE-----` ...), where it \
             lives ({ ssm: NAME } or { secrets_manager: ID }), or (embedded backend only) a PEM file's path \
             relative to this file.",
            Shape::Either(&[Shape::Text, Shape::Object(&CA_CERT_REF)]),
        ),
        key(
            "allow_http_loopback",
            "Allow plain http to 127.0.0.1/localhost (simulators, tests). Default false.",
            Shape::Bool,
        ),
        key(
            "webhook",
            "Webhooks that trigger an immediate poll (Jira admin webhooks, Azure DevOps service hooks): where \
             the secrets live that prove a delivery authentic. Without it, deliveries are refused and polling \
             alone picks changes up.",
            Shape::Object(&WEBHOOK),
        ),
        key(
            "rate_limit",
            "The pace of Ferry's requests to the system, shared by every process of the runtime: \
             { per_second: 10, burst: 20 }, or off. Default: Jira Cloud and Azure DevOps 10/s with a burst \
             of 20; Redmine, and any system on 127.0.0.1/localhost, unpaced.",
            Shape::Either(&[Shape::Word("off"), Shape::Object(&RATE_LIMIT)]),
        ),
    ],
);

pub static RATE_LIMIT: Object = object(
    "RateLimit",
    "A token bucket: every request takes a token; tokens refill at per_second up to burst. A 429 (or \
     X-RateLimit-Remaining: 0) with Retry-After or X-RateLimit-Reset empties it until then, for every caller.",
    &[
        required(
            "per_second",
            "Requests a second on average (a fraction allowed: 0.5 is one every two seconds).",
            Shape::Number { above: 0.0, max: 10_000.0 },
            Some("e.g. per_second: 10"),
        ),
        key(
            "burst",
            "Requests that may go at once after a quiet spell. Default: two seconds' worth.",
            Shape::Int { min: 1, max: 100_000 },
        ),
    ],
);

pub static WEBHOOK: Object = object(
    "Webhook",
    "How a delivery proves it comes from the system. Jira: secret (the webhook's HMAC-SHA256 signing \
     secret). Azure DevOps: basic, header or both, as set on the service hook subscription.",
    &[
        key("secret", "Jira: where the webhook's secret lives.", Shape::Object(&SECRET)),
        key("basic", "Azure DevOps: the basic-auth credentials the subscription sends.", Shape::Object(&WEBHOOK_BASIC)),
        key("header", "Azure DevOps: a custom header the subscription sends.", Shape::Object(&WEBHOOK_HEADER)),
    ],
);

pub static WEBHOOK_BASIC: Object = object(
    "WebhookBasic",
    "Basic-auth credentials of an Azure DevOps service hook.",
    &[
        required("username", "The user name (no secret).", Shape::Text, Some("e.g. username: ferry")),
        required("password", "Where the password lives.", Shape::Object(&SECRET), Some(SECRET_HINT)),
    ],
);

pub static WEBHOOK_HEADER: Object = object(
    "WebhookHeader",
    "A custom header of an Azure DevOps service hook.",
    &[
        required("name", "The header name, e.g. X-Ferry-Hook.", Shape::Text, Some("e.g. name: X-Ferry-Hook")),
        required("value", "Where the header's value lives.", Shape::Object(&SECRET), Some(SECRET_HINT)),
    ],
);

pub const SECRET_HINT: &str =
    "name where the secret lives: token: { env: VAR }, { ssm: /param/name } or { secrets_manager: secret-id }";

pub static AUTH: Object = object(
    "Auth",
    "Credentials, as references to where the secret lives. A secret written inline is an error.",
    &[
        required("kind", "How Ferry authenticates.", Shape::Enum(AuthKind::NAMES), None),
        Key {
            name: "username",
            doc: "The Jira account e-mail; with kind: basic only.",
            shape: Shape::Text,
            presence: Presence::RequiredWith { tag: "kind", value: "basic", hint: "the Jira account e-mail" },
        },
        required("token", "Where the token or key lives.", Shape::Object(&SECRET), Some(SECRET_HINT)),
    ],
);

pub static SECRET: Object = one_of(
    "Secret",
    "Where a secret lives: exactly one of env, ssm or secrets_manager.",
    &[
        key("env", "Environment variable name.", Shape::Text),
        key("ssm", "SSM Parameter Store name (SecureString).", Shape::Text),
        key("secrets_manager", "Secrets Manager secret id or ARN.", Shape::Text),
    ],
);

pub static CA_CERT_REF: Object = one_of(
    "CaCertRef",
    "Where a CA certificate (PEM) lives: exactly one of ssm or secrets_manager.",
    &[
        key("ssm", "SSM Parameter Store name.", Shape::Text),
        key("secrets_manager", "Secrets Manager secret id or ARN.", Shape::Text),
    ],
);

// ---- integrations ----

pub static INTEGRATION: Object = object(
    "Integration",
    "One integration between a left and a right endpoint.",
    &[
        required("id", "Unique id: 1-128 of letters, digits, `_ - . :`.", Shape::Text, None),
        required(
            "left",
            "The left endpoint.",
            Shape::Object(&ENDPOINT),
            Some("left: { system: ID, project: KEY, type: Bug }"),
        ),
        required(
            "right",
            "The right endpoint.",
            Shape::Object(&ENDPOINT),
            Some("right: { system: ID, project: NAME, type: Bug }"),
        ),
        key(
            "poll_interval",
            "Time between polls, with a unit: `30s`, `5m`, `1h`, `1m30s`. Default 60s, at least 10s.",
            Shape::Duration,
        ),
        key("overlap", "Re-read window behind the watermark. Default 120s.", Shape::Duration),
        key(
            "start_time",
            "RFC 3339 time overriding the automatic start polling time (last update in the source project, or \
             now - 26 h when it is empty).",
            Shape::DateTime,
        ),
        key(
            "max_attempts",
            "Attempts before an event is parked as a failure. Default 5.",
            Shape::Int { min: 1, max: 100 },
        ),
        key("filters", "Criteria filters pushed into each direction's poll.", Shape::Object(&FILTERS)),
        key("remote", "Where Ferry writes the peer's id and link.", Shape::Object(&REMOTE)),
        key(
            "users",
            "E-mail overrides where a person's e-mail differs between the systems (users otherwise match by \
             e-mail). Left column: left system e-mails.",
            Shape::Object(&TABLE),
        ),
        key(
            "comments",
            "Comments travel (new ones, edits and deletions); a copy names the original's author and time.",
            Shape::Object(&COMMENTS),
        ),
        key(
            "attachments",
            "Attachments travel (content checked by hash); larger than max_size, a link is written instead.",
            Shape::Object(&ATTACHMENTS),
        ),
        key(
            "hierarchy",
            "Parents travel: Jira parent, Azure DevOps Parent/Child, Redmine parent issue.",
            Shape::Object(&HIERARCHY),
        ),
        key(
            "links",
            "Issue link types that travel, as pairs: a Jira link type name, an Azure DevOps link type reference \
             name (System.LinkTypes.Dependency), a Redmine relation type (blocks).",
            Shape::ListOf(&LINK_TYPE),
        ),
        key(
            "on_target_deleted",
            "What happens when a linked target was deleted. Default unlink.",
            Shape::Enum(OnTargetDeleted::NAMES),
        ),
        required(
            "fields",
            "Mapped field pairs.",
            Shape::ListOf(&FIELD),
            Some("list the mapped fields, e.g. - { left: summary, right: System.Title }"),
        ),
    ],
);

pub static ENDPOINT: Object = object(
    "Endpoint",
    "One side of an integration.",
    &[
        required("system", "A system id from `systems:`.", Shape::Text, Some("the id of a system under systems:")),
        required(
            "project",
            "Jira project key (APP), Azure DevOps project name (App) or Redmine project identifier.",
            Shape::Text,
            Some("a Jira project key or an Azure DevOps project name"),
        ),
        required(
            "type",
            "Issue type / work item type / tracker (Bug).",
            Shape::Text,
            Some("the issue / work item type, e.g. Bug"),
        ),
    ],
);

pub static FILTERS: Object = object(
    "Filters",
    "Criteria filters pushed into each direction's poll.",
    &[
        key(
            "left_to_right",
            "Condition on the left system (JQL for Jira, a WIQL condition for Azure DevOps).",
            Shape::Text,
        ),
        key("right_to_left", "Condition on the right system.", Shape::Text),
        key(
            "on_exit",
            "What happens when a synced entity stops matching. Default keep_syncing.",
            Shape::Enum(FilterExit::NAMES),
        ),
    ],
);

pub static REMOTE: Object = object(
    "Remote",
    "Where Ferry writes the peer's id and link.",
    &[
        key("left_id_field", "Left field receiving the right entity's key (`customfield_10050`).", Shape::Text),
        key("right_id_field", "Right field receiving the left entity's key (`Custom.JiraKey`).", Shape::Text),
        key("links", "On which sides a remote link is added. Default both.", Shape::Enum(Links::NAMES)),
    ],
);

pub static FIELD: Object = object(
    "Field",
    "One mapped field pair.",
    &[
        required(
            "left",
            "Left field key, or `none` to write `value` to the right (left_to_right only).",
            Shape::Text,
            Some(SIDE_HINT),
        ),
        required(
            "right",
            "Right field key, or `none` to write `value` to the left (right_to_left only).",
            Shape::Text,
            Some(SIDE_HINT),
        ),
        key("direction", "Which way values travel. Default both.", Shape::Enum(Direction::NAMES)),
        key("type", "How the value converts. Default value.", Shape::Enum(MappingKind::NAMES)),
        key("values", "Value table for look-up fields (value and status types).", Shape::Object(&TABLE)),
        key(
            "default",
            "Written to the target when the source gives no value: a scalar for both sides, or \
             `{ left: ..., right: ... }` (right: written to the right when the left gives none).",
            Shape::Either(&[Shape::Scalar, Shape::Object(&DEFAULT_SIDES)]),
        ),
        key(
            "unmatched",
            "User mappings: what happens when a source user has no match in the target. Default default.",
            Shape::Enum(UnmatchedUser::NAMES),
        ),
        key("value", "The constant written when the other side is `none`.", Shape::Scalar),
        key(
            "conflict",
            "Both-way mappings: who wins when the field changed on both sides since the last sync. Default \
             last_writer.",
            Shape::Enum(ConflictPolicy::NAMES),
        ),
    ],
);

pub static COMMENTS: Object = object(
    "Comments",
    "Which way comments travel.",
    &[key("direction", "Which way comments travel. Default both.", Shape::Enum(Direction::NAMES))],
);

pub static ATTACHMENTS: Object = object(
    "Attachments",
    "Which way attachments travel, and up to what size they are copied.",
    &[
        key("direction", "Which way attachments travel. Default both.", Shape::Enum(Direction::NAMES)),
        key("max_size", "Larger files are linked, not copied: `100MB` (default), `512KB`, `1GB`.", Shape::Size),
    ],
);

pub static HIERARCHY: Object = object(
    "Hierarchy",
    "Which way parents travel.",
    &[key("direction", "Which way parents travel. Default both.", Shape::Enum(Direction::NAMES))],
);

pub static LINK_TYPE: Object = object(
    "LinkType",
    "A pair of issue link types.",
    &[
        required("left", "The left system's link type.", Shape::Text, Some("e.g. left: Blocks")),
        required(
            "right",
            "The right system's link type.",
            Shape::Text,
            Some("e.g. right: System.LinkTypes.Dependency"),
        ),
    ],
);

const SIDE_HINT: &str = "a field key of that system, or none for a constant";

pub static DEFAULT_SIDES: Object = object(
    "DefaultSides",
    "A default per side.",
    &[
        key("left", "Written to the left when the right gives none.", Shape::Scalar),
        key("right", "Written to the right when the left gives none.", Shape::Scalar),
    ],
);

// ---- tables ----

pub static TABLE: Object = one_of(
    "Table",
    "A two-column table in left-to-right orientation; the reverse direction swaps the columns (the first row \
     wins when a right value repeats). Exactly one of inline, csv, sheet.",
    &[
        key("inline", "`{ LEFT: RIGHT, ... }`.", Shape::ScalarMap),
        key("csv", "A CSV file whose first line holds the headers.", Shape::Object(&CSV_TABLE)),
        key("sheet", "A sheet of an Excel workbook whose first row holds the headers.", Shape::Object(&SHEET_TABLE)),
    ],
);

const LEFT_COLUMN_HINT: &str = "the header of the left system's column";
const RIGHT_COLUMN_HINT: &str = "the header of the right system's column";

pub static CSV_TABLE: Object = object(
    "CsvTable",
    "A CSV file's two columns.",
    &[
        required("file", "Path relative to this file.", Shape::Text, None),
        required("left_column", "Header of the left system's column.", Shape::Text, Some(LEFT_COLUMN_HINT)),
        required("right_column", "Header of the right system's column.", Shape::Text, Some(RIGHT_COLUMN_HINT)),
    ],
);

pub static SHEET_TABLE: Object = object(
    "SheetTable",
    "A workbook sheet's two columns.",
    &[
        required("file", "Workbook path (.xlsx) relative to this file.", Shape::Text, None),
        key("sheet", "Sheet name; default the first sheet.", Shape::Text),
        required("left_column", "Header of the left system's column.", Shape::Text, Some(LEFT_COLUMN_HINT)),
        required("right_column", "Header of the right system's column.", Shape::Text, Some(RIGHT_COLUMN_HINT)),
    ],
);
