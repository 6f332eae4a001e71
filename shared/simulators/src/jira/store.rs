//! In-memory state of the Jira simulator, its JSON renderings and the validated
//! field changes that create, edit and transition share.

use super::{CustomFieldKind, JiraNamed, JiraSeed, StatusCategory};
use crate::common::{Faults, RequestLog, SimUser, TrafficLog};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CfValue {
    Text(String),
    /// Option id.
    Option(String),
    Number(f64),
}

#[derive(Debug, Clone)]
pub(crate) struct ChangeItem {
    pub field: String,
    /// Field id; history renderings leave `fieldId` out when `wire_field_id` is false, as
    /// Jira does for its link and parent items (`Link`, `IssueParentAssociation`).
    pub field_id: String,
    pub wire_field_id: bool,
    pub fieldtype: &'static str,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct History {
    pub id: u64,
    pub author: String,
    pub created: DateTime<Utc>,
    pub items: Vec<ChangeItem>,
}

#[derive(Debug, Clone)]
pub(crate) struct RemoteLink {
    pub id: u64,
    pub global_id: Option<String>,
    pub application: Value,
    pub relationship: Value,
    pub object: Value,
}

/// A comment (`Comment`); `body` is ADF.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    /// accountIds.
    pub author: String,
    pub update_author: String,
    pub body: Value,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub visibility: Option<Value>,
    /// Entity properties by key.
    pub properties: BTreeMap<String, Value>,
}

/// An attachment and its bytes.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub id: u64,
    pub filename: String,
    pub mime_type: String,
    /// accountId.
    pub author: String,
    pub created: DateTime<Utc>,
    pub data: std::sync::Arc<[u8]>,
    /// Media Services file id: ADF `media` nodes refer to the file by it.
    pub media_id: String,
    /// The token of the media URL the content endpoint redirects to.
    pub media_token: String,
}

/// An issue link from `source` (shows the type's outward description; the `inwardIssue`
/// of the create request) to `dest` (shows the inward one).
#[derive(Debug, Clone)]
pub(crate) struct IssueLink {
    pub id: u64,
    pub type_id: String,
    pub source: u64,
    pub dest: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub id: u64,
    pub key: String,
    pub project_id: String,
    pub project_key: String,
    pub number: u64,
    pub issuetype_id: String,
    pub summary: String,
    pub description: Option<Value>,
    pub priority_id: Option<String>,
    pub status_id: String,
    pub resolution_id: Option<String>,
    pub assignee: Option<String>,
    pub reporter: Option<String>,
    pub labels: Vec<String>,
    /// Keyed by index into `JiraSeed::custom_fields`.
    pub custom: BTreeMap<usize, CfValue>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub histories: Vec<History>,
    pub remote_links: Vec<RemoteLink>,
    /// Id of the parent issue (an epic, or the issue a sub-task belongs to).
    pub parent: Option<u64>,
    pub comments: Vec<Comment>,
    pub attachments: Vec<Attachment>,
}

impl Issue {
    /// A new issue with nothing set beyond its identity and times.
    pub fn blank(id: u64, key: String, project: &super::JiraProject, number: u64, at: DateTime<Utc>) -> Issue {
        Issue {
            id,
            key,
            project_id: project.id.clone(),
            project_key: project.key.clone(),
            number,
            issuetype_id: String::new(),
            summary: String::new(),
            description: None,
            priority_id: None,
            status_id: String::new(),
            resolution_id: None,
            assignee: None,
            reporter: None,
            labels: vec![],
            custom: BTreeMap::new(),
            created: at,
            updated: at,
            histories: vec![],
            remote_links: vec![],
            parent: None,
            comments: vec![],
            attachments: vec![],
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub issues: Vec<Issue>,
    pub next_issue_id: u64,
    pub next_history_id: u64,
    pub next_link_id: u64,
    /// Comment ids are site-wide.
    pub next_comment_id: u64,
    /// Attachment ids are site-wide.
    pub next_attachment_id: u64,
    pub issue_links: Vec<IssueLink>,
    pub next_issue_link_id: u64,
    pub counters: HashMap<String, u64>,
    /// The last change instant handed out ([`State::tick`]).
    pub last_instant: Option<DateTime<Utc>>,
}

pub(crate) struct Inner {
    pub seed: JiraSeed,
    pub tz: Tz,
    pub base: String,
    pub faults: Faults,
    pub log: RequestLog,
    pub traffic: TrafficLog,
    pub hooks: crate::hooks::Hooks,
    /// The burst rate limit, when a test turns it on.
    pub limiter: crate::limits::JiraLimiter,
    /// The per-issue write limit, when a test turns it on.
    pub issue_writes: crate::limits::IssueWriteLimiter,
    /// The points-based quota of the tenant, when a test turns it on.
    pub quota: crate::limits::JiraQuotaLimiter,
    pub port: u16,
    pub started: DateTime<Utc>,
    state: Mutex<State>,
    /// Field ids taken out of the issues' field context (an administrator's change).
    hidden: Mutex<std::collections::HashSet<String>>,
    /// API tokens that replaced a user's seeded one, by lower-case e-mail.
    tokens: Mutex<HashMap<String, String>>,
    /// Admin webhooks, and the deliveries of their events.
    pub webhooks: crate::webhooks::jira::JiraWebhooks,
    /// E-mails with the Administer Jira global permission (seeded; a site admin may
    /// grant or revoke it).
    administrators: Mutex<Vec<String>>,
}

/// One validated field assignment.
#[derive(Debug, Clone)]
pub(crate) enum Set {
    Summary(String),
    Description(Option<Value>),
    Priority(Option<String>),
    Assignee(Option<String>),
    Reporter(Option<String>),
    Labels(Vec<String>),
    Resolution(Option<String>),
    IssueType(String),
    Custom(usize, Option<CfValue>),
}

/// Field id -> message, the `errors` of an ErrorCollection.
pub(crate) type FieldErrors = BTreeMap<String, String>;

pub(crate) fn cannot_set(field: &str) -> String {
    format!("Field '{field}' cannot be set. It is not on the appropriate screen, or unknown.")
}

/// Millisecond "now", strictly after `prev`.
fn next_instant(prev: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let now = Utc::now();
    let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    match prev {
        Some(p) if now <= p => p + Duration::milliseconds(1),
        _ => now,
    }
}

/// Plain text of an ADF document (paragraphs joined by newlines).
pub(crate) fn adf_text(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        if let Some(t) = v.get("text").and_then(Value::as_str) {
            out.push_str(t);
        }
        if v.get("type").and_then(Value::as_str) == Some("hardBreak") {
            out.push('\n');
        }
        if let Some(c) = v.get("content").and_then(Value::as_array) {
            for (i, n) in c.iter().enumerate() {
                let block = n.get("content").is_some() && v.get("type").and_then(Value::as_str) == Some("doc");
                if block && i > 0 {
                    out.push('\n');
                }
                walk(n, out);
            }
        }
    }
    let mut s = String::new();
    walk(v, &mut s);
    s
}

fn valid_adf_node(v: &Value, depth: usize) -> bool {
    let Some(o) = v.as_object() else { return false };
    if depth > 64 || !o.get("type").is_some_and(Value::is_string) {
        return false;
    }
    if o.get("type").and_then(Value::as_str) == Some("text") && !o.get("text").is_some_and(Value::is_string) {
        return false;
    }
    match o.get("content") {
        None => true,
        Some(Value::Array(c)) => c.iter().all(|n| valid_adf_node(n, depth + 1)),
        Some(_) => false,
    }
}

pub(crate) fn valid_adf_doc(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("version").and_then(Value::as_i64) == Some(1)
        && v.get("content").is_some_and(Value::is_array)
        && valid_adf_node(v, 0)
}

/// Which fields a request asked for (`fields=` parameter).
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSel {
    pub all: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl FieldSel {
    /// Items may be repeated parameters and/or comma-separated.
    pub fn parse<S: AsRef<str>>(items: &[S], default: &str) -> FieldSel {
        let mut sel = FieldSel::default();
        let mut any = false;
        for item in items {
            for f in item.as_ref().split(',').map(str::trim).filter(|f| !f.is_empty()) {
                any = true;
                if f == "*all" || f == "*navigable" {
                    sel.all = true;
                } else if let Some(x) = f.strip_prefix('-') {
                    sel.exclude.push(x.to_string());
                } else {
                    sel.include.push(f.to_string());
                }
            }
        }
        if !any {
            return FieldSel::parse(&[default], "");
        }
        if !sel.all && sel.include.is_empty() {
            // Only exclusions ("-description"): they apply to the default selection.
            let mut base = FieldSel::parse(&[default], "");
            base.exclude = sel.exclude;
            return base;
        }
        sel
    }
    pub fn wants(&self, id: &str) -> bool {
        !self.exclude.iter().any(|x| x == id) && (self.all || self.include.iter().any(|x| x == id))
    }
    /// Only `id`/`key` requested: the cheap form search allows 5000 of per page.
    pub fn is_id_only(&self) -> bool {
        !self.all && self.include.iter().all(|f| f == "id" || f == "key")
    }
}

pub(crate) struct FieldDef {
    pub id: String,
    pub name: String,
    pub custom: bool,
    pub schema: Value,
    pub clause_names: Vec<String>,
    pub orderable: bool,
}

impl Inner {
    pub fn new(seed: JiraSeed, tz: Tz, port: u16) -> Inner {
        let seed_admins = seed.administrators.clone();
        Inner {
            seed,
            tz,
            base: format!("http://127.0.0.1:{port}"),
            faults: Faults::default(),
            log: RequestLog::default(),
            traffic: TrafficLog::from_env("jira", port),
            hooks: crate::hooks::Hooks::default(),
            limiter: Default::default(),
            issue_writes: Default::default(),
            quota: Default::default(),
            port,
            started: Utc::now(),
            state: Mutex::new(State {
                issues: Vec::new(),
                next_issue_id: 10000,
                next_history_id: 10000,
                next_link_id: 10000,
                next_comment_id: 10000,
                next_attachment_id: 10000,
                issue_links: Vec::new(),
                next_issue_link_id: 10000,
                counters: HashMap::new(),
                last_instant: None,
            }),
            hidden: Mutex::new(Default::default()),
            tokens: Mutex::new(HashMap::new()),
            webhooks: Default::default(),
            administrators: Mutex::new(seed_admins),
        }
    }

    /// Whether `email` has the Administer Jira global permission.
    pub fn is_administrator(&self, email: &str) -> bool {
        self.administrators.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|a| a.eq_ignore_ascii_case(email))
    }

    /// Grants the Administer Jira global permission to exactly `emails`.
    pub fn set_administrators(&self, emails: Vec<String>) {
        *self.administrators.lock().unwrap_or_else(|p| p.into_inner()) = emails;
    }

    /// Takes `field` out of (`hidden`) or back into the issues' field context.
    pub fn set_hidden(&self, field: &str, hidden: bool) {
        let mut h = self.hidden.lock().unwrap_or_else(|p| p.into_inner());
        if hidden {
            h.insert(field.to_string());
        } else {
            h.remove(field);
        }
    }

    pub fn is_hidden(&self, field: &str) -> bool {
        self.hidden.lock().unwrap_or_else(|p| p.into_inner()).contains(field)
    }

    /// Revokes the user's API token and issues `token` in its place.
    pub fn rotate_token(&self, email: &str, token: &str) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(email.to_ascii_lowercase(), token.to_string());
    }

    /// The user's current API token.
    pub fn token_of<'a>(&self, user: &'a SimUser) -> std::borrow::Cow<'a, str> {
        match self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(&user.email.to_ascii_lowercase()) {
            Some(t) => std::borrow::Cow::Owned(t.clone()),
            None => std::borrow::Cow::Borrowed(user.token.as_str()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not take the whole simulator down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/rest/api/3/{path}", self.base)
    }

    pub fn ts(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz).format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
    }

    pub fn user_by_id(&self, id: &str) -> Option<&SimUser> {
        self.seed.users.iter().find(|u| u.id == id)
    }

    fn avatars(&self, seed: &str) -> Value {
        let url = |s: u32| format!("{}/secure/useravatar?size={s}&avatarId={seed}", self.base);
        json!({"48x48": url(48), "24x24": url(24), "16x16": url(16), "32x32": url(32)})
    }

    /// `User` / `UserDetails`; hidden e-mail addresses are left out.
    pub fn user_json(&self, u: &SimUser) -> Value {
        let mut o = json!({
            "self": self.api(&format!("user?accountId={}", u.id)),
            "accountId": u.id,
            "accountType": "atlassian",
            "avatarUrls": self.avatars(&u.id),
            "displayName": u.display_name,
            "active": u.active,
            "timeZone": u.time_zone,
        });
        if !u.email_hidden {
            o["emailAddress"] = json!(u.email);
        }
        o
    }

    fn user_ref(&self, id: Option<&String>) -> Value {
        match id.and_then(|i| self.user_by_id(i)) {
            Some(u) => self.user_json(u),
            None => Value::Null,
        }
    }

    pub fn status_category_json(&self, c: StatusCategory) -> Value {
        let (id, key, color, name) = match c {
            StatusCategory::New => (2, "new", "blue-gray", "To Do"),
            StatusCategory::Indeterminate => (4, "indeterminate", "yellow", "In Progress"),
            StatusCategory::Done => (3, "done", "green", "Done"),
        };
        json!({"self": self.api(&format!("statuscategory/{id}")), "id": id, "key": key, "colorName": color, "name": name})
    }

    pub fn status_json(&self, id: &str) -> Value {
        match self.seed.statuses.iter().find(|s| s.id == id) {
            Some(s) => json!({
                "self": self.api(&format!("status/{}", s.id)),
                "description": "",
                "iconUrl": format!("{}/images/icons/statuses/generic.png", self.base),
                "name": s.name,
                "id": s.id,
                "statusCategory": self.status_category_json(s.category),
            }),
            None => Value::Null,
        }
    }

    pub fn priority_json(&self, p: &JiraNamed) -> Value {
        json!({
            "self": self.api(&format!("priority/{}", p.id)),
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base, p.name.to_lowercase()),
            "name": p.name,
            "id": p.id,
        })
    }

    fn priority_ref(&self, id: Option<&String>) -> Value {
        id.and_then(|i| self.seed.priorities.iter().find(|p| &p.id == i))
            .map(|p| self.priority_json(p))
            .unwrap_or(Value::Null)
    }

    pub fn resolution_json(&self, r: &JiraNamed) -> Value {
        json!({"self": self.api(&format!("resolution/{}", r.id)), "id": r.id, "description": "", "name": r.name})
    }

    fn resolution_ref(&self, id: Option<&String>) -> Value {
        id.and_then(|i| self.seed.resolutions.iter().find(|r| &r.id == i))
            .map(|r| self.resolution_json(r))
            .unwrap_or(Value::Null)
    }

    pub fn issuetype_json(&self, t: &JiraNamed) -> Value {
        json!({
            "self": self.api(&format!("issuetype/{}", t.id)),
            "id": t.id,
            "description": "",
            "iconUrl": format!("{}/images/icons/issuetypes/{}.png", self.base, t.name.to_lowercase()),
            "name": t.name,
            "subtask": self.seed.level(&t.id) < 0,
            "hierarchyLevel": self.seed.level(&t.id),
        })
    }

    pub fn project_json(&self, id: &str) -> Value {
        match self.seed.projects.iter().find(|p| p.id == id) {
            Some(p) => json!({
                "self": self.api(&format!("project/{}", p.id)),
                "id": p.id,
                "key": p.key,
                "name": p.name,
                "projectTypeKey": "software",
                "simplified": false,
                "avatarUrls": self.avatars(&p.id),
            }),
            None => Value::Null,
        }
    }

    pub fn option_json(&self, o: &JiraNamed) -> Value {
        json!({"self": self.api(&format!("customFieldOption/{}", o.id)), "value": o.name, "id": o.id})
    }

    fn cf_json(&self, idx: usize, v: Option<&CfValue>) -> Value {
        match (v, &self.seed.custom_fields[idx].kind) {
            (Some(CfValue::Text(s)), _) => json!(s),
            (Some(CfValue::Number(n)), _) => json!(n),
            (Some(CfValue::Option(id)), CustomFieldKind::Select(opts)) => {
                opts.iter().find(|o| &o.id == id).map(|o| self.option_json(o)).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }
    }

    pub fn field_defs(&self) -> Vec<FieldDef> {
        let sys = |id: &str, name: &str, schema: Value, orderable: bool| FieldDef {
            id: id.into(),
            name: name.into(),
            custom: false,
            schema,
            clause_names: vec![id.into()],
            orderable,
        };
        let mut v = vec![
            sys("summary", "Summary", json!({"type": "string", "system": "summary"}), true),
            sys("description", "Description", json!({"type": "string", "system": "description"}), true),
            sys("priority", "Priority", json!({"type": "priority", "system": "priority"}), true),
            sys("status", "Status", json!({"type": "status", "system": "status"}), false),
            sys("assignee", "Assignee", json!({"type": "user", "system": "assignee"}), true),
            sys("reporter", "Reporter", json!({"type": "user", "system": "reporter"}), true),
            sys("labels", "Labels", json!({"type": "array", "items": "string", "system": "labels"}), true),
            sys("issuetype", "Issue Type", json!({"type": "issuetype", "system": "issuetype"}), true),
            sys("project", "Project", json!({"type": "project", "system": "project"}), false),
            sys("created", "Created", json!({"type": "datetime", "system": "created"}), false),
            sys("updated", "Updated", json!({"type": "datetime", "system": "updated"}), false),
            sys("resolution", "Resolution", json!({"type": "resolution", "system": "resolution"}), true),
        ];
        v.extend([
            sys(
                "attachment",
                "Attachment",
                json!({"type": "array", "items": "attachment", "system": "attachment"}),
                true,
            ),
            sys("comment", "Comment", json!({"type": "comments-page", "system": "comment"}), true),
            sys(
                "issuelinks",
                "Linked Issues",
                json!({"type": "array", "items": "issuelinks", "system": "issuelinks"}),
                true,
            ),
            sys("subtasks", "Sub-tasks", json!({"type": "array", "items": "issuelinks", "system": "subtasks"}), false),
            sys("parent", "Parent", json!({"type": "issuelink", "system": "parent"}), true),
        ]);
        v[7].clause_names = vec!["issuetype".into(), "type".into()];
        v[9].clause_names = vec!["created".into(), "createdDate".into()];
        v[10].clause_names = vec!["updated".into(), "updatedDate".into()];
        for cf in &self.seed.custom_fields {
            let num: i64 = cf.id.trim_start_matches("customfield_").parse().unwrap_or(0);
            let (ty, custom) = match cf.kind {
                CustomFieldKind::Text => ("string", "textfield"),
                CustomFieldKind::Select(_) => ("option", "select"),
                CustomFieldKind::Number => ("number", "float"),
            };
            v.push(FieldDef {
                id: cf.id.clone(),
                name: cf.name.clone(),
                custom: true,
                schema: json!({
                    "type": ty,
                    "custom": format!("com.atlassian.jira.plugin.system.customfieldtypes:{custom}"),
                    "customId": num,
                }),
                clause_names: vec![format!("cf[{num}]"), cf.name.clone()],
                orderable: true,
            });
        }
        v
    }

    /// Every field of an issue, as GET issue renders it.
    pub fn all_fields(&self, st: &State, i: &Issue) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("summary".into(), json!(i.summary));
        m.insert("description".into(), i.description.clone().unwrap_or(Value::Null));
        m.insert("priority".into(), self.priority_ref(i.priority_id.as_ref()));
        m.insert("status".into(), self.status_json(&i.status_id));
        m.insert("assignee".into(), self.user_ref(i.assignee.as_ref()));
        m.insert("reporter".into(), self.user_ref(i.reporter.as_ref()));
        m.insert("labels".into(), json!(i.labels));
        let it = self
            .seed
            .issue_types
            .iter()
            .find(|t| t.id == i.issuetype_id)
            .map(|t| self.issuetype_json(t))
            .unwrap_or(Value::Null);
        m.insert("issuetype".into(), it);
        m.insert("project".into(), self.project_json(&i.project_id));
        m.insert("created".into(), json!(self.ts(i.created)));
        m.insert("updated".into(), json!(self.ts(i.updated)));
        m.insert("resolution".into(), self.resolution_ref(i.resolution_id.as_ref()));
        for (idx, cf) in self.seed.custom_fields.iter().enumerate() {
            m.insert(cf.id.clone(), self.cf_json(idx, i.custom.get(&idx)));
        }
        m.insert("attachment".into(), Value::Array(i.attachments.iter().map(|a| self.attachment_json(a)).collect()));
        m.insert("comment".into(), self.comment_field(i));
        m.insert("issuelinks".into(), Value::Array(self.issue_links_json(st, i)));
        m.insert("subtasks".into(), Value::Array(self.subtasks_json(st, i)));
        if let Some(p) = i.parent.and_then(|p| st.issue_by_id(p)) {
            m.insert("parent".into(), self.issue_ref(p));
        }
        // Jira leaves a field out of an issue whose field context does not include it.
        m.retain(|k, _| !self.is_hidden(k));
        m
    }

    pub fn history_json(&self, h: &History) -> Value {
        let items: Vec<Value> = h
            .items
            .iter()
            .map(|c| {
                let mut o = json!({
                    "field": c.field, "fieldtype": c.fieldtype, "fieldId": c.field_id,
                    "from": c.from, "fromString": c.from_string, "to": c.to, "toString": c.to_string,
                });
                if !c.wire_field_id {
                    if let Some(m) = o.as_object_mut() {
                        m.remove("fieldId");
                    }
                }
                o
            })
            .collect();
        json!({
            "id": h.id.to_string(),
            "author": self.user_ref(Some(&h.author)),
            "created": self.ts(h.created),
            "items": items,
        })
    }

    /// `PageOfChangelogs` of GET issue `expand=changelog`: newest first, at most 100.
    pub fn changelog_expand(&self, i: &Issue) -> Value {
        let histories: Vec<Value> = i.histories.iter().rev().take(100).map(|h| self.history_json(h)).collect();
        json!({"startAt": 0, "maxResults": histories.len(), "total": i.histories.len(), "histories": histories})
    }

    pub fn transitions_json(&self, i: &Issue, with_fields: bool, only: Option<&str>) -> Vec<Value> {
        self.seed
            .transitions
            .iter()
            .filter(|t| t.from.contains(&i.status_id))
            .filter(|t| !matches!(only, Some(o) if o != t.id))
            .map(|t| {
                let mut o = json!({
                    "id": t.id,
                    "name": t.name,
                    "to": self.status_json(&t.to),
                    "hasScreen": !t.screen_fields.is_empty(),
                    "isGlobal": false,
                    "isInitial": false,
                    "isAvailable": true,
                    "isConditional": false,
                    "looped": false,
                });
                if with_fields {
                    let mut fields = Map::new();
                    for f in &t.screen_fields {
                        if let Some(meta) = self.field_meta(f, true) {
                            fields.insert(f.clone(), meta);
                        }
                    }
                    o["fields"] = Value::Object(fields);
                }
                o
            })
            .collect()
    }

    /// `FieldMetadata` (without `fieldId`; createmeta adds it).
    pub fn field_meta(&self, id: &str, required: bool) -> Option<Value> {
        let def = self.field_defs().into_iter().find(|d| d.id == id)?;
        let mut o = json!({
            "required": required,
            "schema": def.schema,
            "name": def.name,
            "key": def.id,
            "hasDefaultValue": false,
            "operations": ["set"],
        });
        match id {
            "priority" => {
                o["allowedValues"] = self.seed.priorities.iter().map(|p| self.priority_json(p)).collect();
                if let Some(p) = self.seed.priorities.iter().find(|p| p.id == self.seed.default_priority_id) {
                    o["hasDefaultValue"] = json!(true);
                    o["defaultValue"] = self.priority_json(p);
                }
            }
            "resolution" => {
                o["allowedValues"] = self.seed.resolutions.iter().map(|r| self.resolution_json(r)).collect();
            }
            "labels" => {
                o["operations"] = json!(["add", "set", "remove"]);
                o["autoCompleteUrl"] = json!(self.api("label/suggest?query="));
            }
            "assignee" | "reporter" => {
                o["autoCompleteUrl"] = json!(self.api("user/search?query="));
            }
            "issuetype" => {
                o["allowedValues"] = self.seed.issue_types.iter().map(|t| self.issuetype_json(t)).collect();
            }
            _ => {}
        }
        if let Some(cf) = self.seed.custom_fields.iter().find(|c| c.id == id) {
            if let CustomFieldKind::Select(opts) = &cf.kind {
                o["allowedValues"] = opts.iter().map(|x| self.option_json(x)).collect();
            }
        }
        Some(o)
    }

    pub fn find_issue(&self, st: &State, id_or_key: &str) -> Option<usize> {
        match id_or_key.parse::<u64>() {
            Ok(n) => st.issues.iter().position(|i| i.id == n),
            Err(_) => st.issues.iter().position(|i| i.key.eq_ignore_ascii_case(id_or_key)),
        }
    }

    /// IssueBean with the selected fields and expansions.
    pub fn issue_bean(&self, st: &State, i: &Issue, sel: &FieldSel, expand: &[String]) -> Value {
        let all = self.all_fields(st, i);
        let mut fields = Map::new();
        for (k, v) in all {
            if sel.wants(&k) {
                fields.insert(k, v);
            }
        }
        let mut bean = json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": i.id.to_string(),
            "self": self.api(&format!("issue/{}", i.id)),
            "key": i.key,
        });
        let has = |x: &str| expand.iter().any(|e| e == x);
        if has("names") {
            bean["names"] = self.names_for(fields.keys());
        }
        if has("schema") {
            bean["schema"] = self.schemas_for(fields.keys());
        }
        bean["fields"] = Value::Object(fields);
        if has("changelog") {
            bean["changelog"] = self.changelog_expand(i);
        }
        if has("transitions") {
            bean["transitions"] = Value::Array(self.transitions_json(i, false, None));
        }
        bean
    }

    pub fn names_for<'a>(&self, ids: impl Iterator<Item = &'a String>) -> Value {
        let defs = self.field_defs();
        let mut m = Map::new();
        for id in ids {
            if let Some(d) = defs.iter().find(|d| &d.id == id) {
                m.insert(id.clone(), json!(d.name));
            }
        }
        Value::Object(m)
    }

    pub fn schemas_for<'a>(&self, ids: impl Iterator<Item = &'a String>) -> Value {
        let defs = self.field_defs();
        let mut m = Map::new();
        for id in ids {
            if let Some(d) = defs.iter().find(|d| &d.id == id) {
                m.insert(id.clone(), d.schema.clone());
            }
        }
        Value::Object(m)
    }

    pub fn issue_json(&self, key: &str) -> Option<Value> {
        let st = self.lock();
        let idx = self.find_issue(&st, key)?;
        Some(self.issue_bean(&st, &st.issues[idx], &FieldSel::parse(&["*all"], ""), &[]))
    }

    /// The issue's creation and changelog, oldest first, authors as e-mails.
    pub fn history(&self, key: &str) -> Option<Vec<crate::common::Revision>> {
        let st = self.lock();
        let issue = &st.issues[self.find_issue(&st, key)?];
        let email = |account: &str| {
            self.seed.users.iter().find(|u| u.id == account).map_or_else(|| account.to_string(), |u| u.email.clone())
        };
        let mut out = vec![crate::common::Revision {
            author: issue.reporter.as_deref().map(email).unwrap_or_default(),
            at: issue.created,
            fields: Vec::new(),
            created: true,
            new_revision: true,
        }];
        out.extend(issue.histories.iter().map(|h| crate::common::Revision {
            author: email(&h.author),
            at: h.created,
            fields: h.items.iter().map(|i| i.field_id.clone()).collect(),
            created: false,
            new_revision: true,
        }));
        Some(out)
    }

    pub fn issue_keys(&self, project_key: &str) -> Vec<String> {
        self.lock()
            .issues
            .iter()
            .filter(|i| i.project_key.eq_ignore_ascii_case(project_key))
            .map(|i| i.key.clone())
            .collect()
    }

    fn named<'a>(items: &'a [JiraNamed], v: &Value) -> Option<&'a JiraNamed> {
        if let Some(id) = v.get("id") {
            let id = id.as_str().map(str::to_string).or_else(|| id.as_i64().map(|n| n.to_string()))?;
            return items.iter().find(|x| x.id == id);
        }
        let name = v.get("name").and_then(Value::as_str)?;
        items.iter().find(|x| x.name.eq_ignore_ascii_case(name))
    }

    fn user_value(&self, v: &Value, field: &str) -> Result<Option<String>, String> {
        if v.is_null() {
            return Ok(None);
        }
        let raw =
            v.get("accountId").or_else(|| v.get("id")).ok_or_else(|| format!("Specify a valid value for {field}"))?;
        if raw.is_null() {
            return Ok(None);
        }
        let id = raw.as_str().ok_or_else(|| format!("Specify a valid value for {field}"))?;
        // "-1" is the project's default assignee, which is "unassigned" here.
        if field == "assignee" && id == "-1" {
            return Ok(None);
        }
        match self.user_by_id(id) {
            Some(u) if u.active => Ok(Some(u.id.clone())),
            _ if field == "assignee" => Err(format!("User '{id}' cannot be assigned issues.")),
            _ => Err(format!("Specify a valid value for {field}")),
        }
    }

    /// Validates one `fields` value for `field`.
    pub fn parse_set(&self, field: &str, v: &Value) -> Result<Set, String> {
        match field {
            "summary" => match v.as_str() {
                Some(s) if s.trim().is_empty() => Err("You must specify a summary of the issue.".into()),
                Some(s) if s.contains('\n') || s.contains('\r') => {
                    Err("The summary is invalid because it contains newline characters.".into())
                }
                Some(s) if s.chars().count() > 255 => Err("Summary must be less than 255 characters.".into()),
                Some(s) => Ok(Set::Summary(s.to_string())),
                None => Err("Operation value must be a string".into()),
            },
            "description" => {
                if v.is_null() {
                    Ok(Set::Description(None))
                } else if valid_adf_doc(v) {
                    Ok(Set::Description(Some(v.clone())))
                } else {
                    Err("Operation value must be an Atlassian Document (see the Atlassian Document Format)".into())
                }
            }
            "priority" => {
                if v.is_null() {
                    return Ok(Set::Priority(None));
                }
                Self::named(&self.seed.priorities, v)
                    .map(|p| Set::Priority(Some(p.id.clone())))
                    .ok_or_else(|| "Specify a valid 'id' or 'name' for Priority".into())
            }
            "resolution" => {
                if v.is_null() {
                    return Ok(Set::Resolution(None));
                }
                Self::named(&self.seed.resolutions, v)
                    .map(|r| Set::Resolution(Some(r.id.clone())))
                    .ok_or_else(|| "Specify a valid 'id' or 'name' for Resolution".into())
            }
            "issuetype" => Self::named(&self.seed.issue_types, v)
                .map(|t| Set::IssueType(t.id.clone()))
                .ok_or_else(|| "Specify a valid issue type".into()),
            "assignee" => self.user_value(v, "assignee").map(Set::Assignee),
            "reporter" => self.user_value(v, "reporter").map(Set::Reporter),
            "labels" => {
                let arr = v.as_array().ok_or("data was not an array")?;
                let mut out: Vec<String> = Vec::new();
                for l in arr {
                    out.push(validate_label(l)?);
                }
                out.dedup();
                Ok(Set::Labels(out))
            }
            _ => {
                let (idx, cf) = self
                    .seed
                    .custom_fields
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.id == field)
                    .ok_or_else(|| cannot_set(field))?;
                if v.is_null() {
                    return Ok(Set::Custom(idx, None));
                }
                let val = match &cf.kind {
                    CustomFieldKind::Text => match v.as_str() {
                        Some(s) if s.chars().count() > 255 => {
                            return Err(
                                "The entered text is too long. It exceeds the allowed limit of 255 characters.".into()
                            )
                        }
                        Some("") => return Ok(Set::Custom(idx, None)),
                        Some(s) => CfValue::Text(s.to_string()),
                        None => return Err("Operation value must be a string".into()),
                    },
                    CustomFieldKind::Number => match v.as_f64() {
                        Some(n) => CfValue::Number(n),
                        None => return Err("Operation value must be a number".into()),
                    },
                    CustomFieldKind::Select(opts) => {
                        if let Some(id) = v.get("id") {
                            let id = id
                                .as_str()
                                .map(str::to_string)
                                .or_else(|| id.as_i64().map(|n| n.to_string()))
                                .unwrap_or_default();
                            let o = opts
                                .iter()
                                .find(|o| o.id == id)
                                .ok_or_else(|| format!("Option id '{id}' is not valid"))?;
                            CfValue::Option(o.id.clone())
                        } else if let Some(val) = v.get("value").and_then(Value::as_str) {
                            let o = opts
                                .iter()
                                .find(|o| o.name == val)
                                .ok_or_else(|| format!("Option value '{val}' is not valid"))?;
                            CfValue::Option(o.id.clone())
                        } else {
                            return Err("Could not find valid 'id' or 'value' in the Parent Option object.".into());
                        }
                    }
                };
                Ok(Set::Custom(idx, Some(val)))
            }
        }
    }

    /// Validates `fields` and `update` of an IssueUpdateDetails-like body. `on_screen`
    /// says which field ids may be set; `labels` is the issue's current labels.
    pub fn collect_sets(
        &self,
        fields: Option<&Map<String, Value>>,
        update: Option<&Map<String, Value>>,
        labels: &[String],
        on_screen: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Set>, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut sets = Vec::new();
        for (k, v) in fields.into_iter().flatten() {
            if !on_screen(k) {
                errors.insert(k.clone(), cannot_set(k));
                continue;
            }
            match self.parse_set(k, v) {
                Ok(s) => sets.push(s),
                Err(e) => {
                    errors.insert(k.clone(), e);
                }
            }
        }
        for (k, ops) in update.into_iter().flatten() {
            if fields.is_some_and(|f| f.contains_key(k)) {
                errors.insert(
                    k.clone(),
                    format!("Field '{k}' cannot be set in both 'fields' and 'update'. Specify it once."),
                );
                continue;
            }
            if !on_screen(k) {
                errors.insert(k.clone(), cannot_set(k));
                continue;
            }
            let Some(ops) = ops.as_array() else {
                errors.insert(k.clone(), "Field operations must be a list.".into());
                continue;
            };
            let mut cur: Vec<String> = labels.to_vec();
            let mut set_value: Option<Set> = None;
            for op in ops {
                let Some((name, val)) = op.as_object().and_then(|o| o.iter().next()) else {
                    errors.insert(k.clone(), "Field operation must be an object like {\"set\": value}.".into());
                    break;
                };
                let res: Result<(), String> = match (name.as_str(), k.as_str()) {
                    ("set", _) => self.parse_set(k, val).map(|s| {
                        if let Set::Labels(l) = &s {
                            cur = l.clone();
                        }
                        set_value = Some(s);
                    }),
                    ("add", "labels") => validate_label(val).map(|l| {
                        if !cur.contains(&l) {
                            cur.push(l);
                        }
                        set_value = Some(Set::Labels(cur.clone()));
                    }),
                    ("remove", "labels") => validate_label(val).map(|l| {
                        cur.retain(|x| x != &l);
                        set_value = Some(Set::Labels(cur.clone()));
                    }),
                    (other, _) => Err(format!("Field '{k}' does not support operation '{other}'")),
                };
                if let Err(e) = res {
                    errors.insert(k.clone(), e);
                    set_value = None;
                    break;
                }
            }
            if let Some(s) = set_value {
                sets.push(s);
            }
        }
        if errors.is_empty() {
            Ok(sets)
        } else {
            Err(errors)
        }
    }

    fn user_name(&self, id: Option<&String>) -> Option<String> {
        id.map(|i| self.user_by_id(i).map(|u| u.display_name.clone()).unwrap_or_else(|| i.clone()))
    }

    fn named_name(items: &[JiraNamed], id: Option<&String>) -> Option<String> {
        id.map(|i| items.iter().find(|x| &x.id == i).map(|x| x.name.clone()).unwrap_or_else(|| i.clone()))
    }

    /// Applies sets to an issue, returning the change items for what actually changed.
    pub fn apply_sets(&self, issue: &mut Issue, sets: Vec<Set>) -> Vec<ChangeItem> {
        let sys = |field: &str, from: Option<String>, fs: Option<String>, to: Option<String>, ts: Option<String>| {
            ChangeItem {
                field: field.into(),
                field_id: field.into(),
                wire_field_id: true,
                fieldtype: "jira",
                from,
                from_string: fs,
                to,
                to_string: ts,
            }
        };
        let mut items = Vec::new();
        for s in sets {
            match s {
                Set::Summary(v) if v != issue.summary => {
                    items.push(sys("summary", None, Some(issue.summary.clone()), None, Some(v.clone())));
                    issue.summary = v;
                }
                Set::Description(v) if v != issue.description => {
                    let old = issue.description.as_ref().map(adf_text);
                    items.push(sys("description", None, old, None, v.as_ref().map(adf_text)));
                    issue.description = v;
                }
                Set::Priority(v) if v != issue.priority_id => {
                    let p = &self.seed.priorities;
                    items.push(sys(
                        "priority",
                        issue.priority_id.clone(),
                        Self::named_name(p, issue.priority_id.as_ref()),
                        v.clone(),
                        Self::named_name(p, v.as_ref()),
                    ));
                    issue.priority_id = v;
                }
                Set::Resolution(v) if v != issue.resolution_id => {
                    let r = &self.seed.resolutions;
                    items.push(sys(
                        "resolution",
                        issue.resolution_id.clone(),
                        Self::named_name(r, issue.resolution_id.as_ref()),
                        v.clone(),
                        Self::named_name(r, v.as_ref()),
                    ));
                    issue.resolution_id = v;
                }
                Set::IssueType(v) if v != issue.issuetype_id => {
                    let t = &self.seed.issue_types;
                    items.push(sys(
                        "issuetype",
                        Some(issue.issuetype_id.clone()),
                        Self::named_name(t, Some(&issue.issuetype_id)),
                        Some(v.clone()),
                        Self::named_name(t, Some(&v)),
                    ));
                    issue.issuetype_id = v;
                }
                Set::Assignee(v) if v != issue.assignee => {
                    items.push(sys(
                        "assignee",
                        issue.assignee.clone(),
                        self.user_name(issue.assignee.as_ref()),
                        v.clone(),
                        self.user_name(v.as_ref()),
                    ));
                    issue.assignee = v;
                }
                Set::Reporter(v) if v != issue.reporter => {
                    items.push(sys(
                        "reporter",
                        issue.reporter.clone(),
                        self.user_name(issue.reporter.as_ref()),
                        v.clone(),
                        self.user_name(v.as_ref()),
                    ));
                    issue.reporter = v;
                }
                Set::Labels(v) if v != issue.labels => {
                    let join = |l: &[String]| (!l.is_empty()).then(|| l.join(" "));
                    items.push(sys("labels", None, join(&issue.labels), None, join(&v)));
                    issue.labels = v;
                }
                Set::Custom(idx, v) if v.as_ref() != issue.custom.get(&idx) => {
                    let cf = &self.seed.custom_fields[idx];
                    let render = |x: Option<&CfValue>| -> (Option<String>, Option<String>) {
                        match x {
                            None => (None, None),
                            Some(CfValue::Text(s)) => (None, Some(s.clone())),
                            Some(CfValue::Number(n)) => (None, Some(n.to_string())),
                            Some(CfValue::Option(id)) => {
                                let name = match &cf.kind {
                                    CustomFieldKind::Select(o) => Self::named_name(o, Some(id)),
                                    _ => Some(id.clone()),
                                };
                                (Some(id.clone()), name)
                            }
                        }
                    };
                    let (from, fs) = render(issue.custom.get(&idx));
                    let (to, ts) = render(v.as_ref());
                    items.push(ChangeItem {
                        field: cf.name.clone(),
                        field_id: cf.id.clone(),
                        wire_field_id: true,
                        fieldtype: "custom",
                        from,
                        from_string: fs,
                        to,
                        to_string: ts,
                    });
                    match v {
                        Some(x) => issue.custom.insert(idx, x),
                        None => issue.custom.remove(&idx),
                    };
                }
                _ => {}
            }
        }
        items
    }

    pub fn status_item(&self, from: &str, to: &str) -> ChangeItem {
        let name = |id: &str| self.seed.statuses.iter().find(|s| s.id == id).map(|s| s.name.clone());
        ChangeItem {
            field: "status".into(),
            field_id: "status".into(),
            wire_field_id: true,
            fieldtype: "jira",
            from: Some(from.into()),
            from_string: name(from),
            to: Some(to.into()),
            to_string: name(to),
        }
    }
}

impl State {
    pub fn issue_by_id(&self, id: u64) -> Option<&Issue> {
        self.issues.iter().find(|i| i.id == id)
    }

    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.issues.iter().position(|i| i.id == id)
    }

    /// Records a history entry (if anything changed) without touching `updated`: for
    /// changes whose time the caller already set.
    pub fn record_at(&mut self, idx: usize, author: &str, at: DateTime<Utc>, items: Vec<ChangeItem>) {
        if items.is_empty() {
            return;
        }
        let id = self.next_history_id;
        self.next_history_id += 1;
        let issue = &mut self.issues[idx];
        issue.updated = at;
        issue.histories.push(History { id, author: author.into(), created: at, items });
    }

    /// Bumps `updated` without a history entry (comments: Jira writes none for them).
    pub fn touch(&mut self, idx: usize) -> DateTime<Utc> {
        let at = self.tick();
        self.issues[idx].updated = at;
        at
    }

    /// The instant of a change: now at millisecond precision, strictly after every earlier
    /// change of this site, so the order of `updated` is the order of the changes even when
    /// the machine's clock steps back.
    pub fn tick(&mut self) -> DateTime<Utc> {
        let at = next_instant(self.last_instant);
        self.last_instant = Some(at);
        at
    }

    /// Records a history entry (if anything changed) and bumps `updated`.
    pub fn record(&mut self, idx: usize, author: &str, items: Vec<ChangeItem>) {
        if items.is_empty() {
            return;
        }
        let id = self.next_history_id;
        self.next_history_id += 1;
        let at = self.tick();
        let issue = &mut self.issues[idx];
        issue.updated = at;
        issue.histories.push(History { id, author: author.into(), created: at, items });
    }
}

fn validate_label(v: &Value) -> Result<String, String> {
    let s = v.as_str().ok_or("Operation value must be a string")?;
    if s.is_empty() {
        return Err("The label can not be empty.".into());
    }
    if s.chars().any(char::is_whitespace) {
        return Err(format!("The label '{s}' contains spaces which is invalid."));
    }
    if s.chars().count() > 255 {
        return Err("The label must not exceed 255 characters.".into());
    }
    Ok(s.to_string())
}
