//! Ferry against a real Redmine 5 server (started by `infra/redmine.sh start`):
//! Jira ⇄ Redmine and Azure DevOps ⇄ Redmine through the embedded runtime, with the
//! Jira and Azure DevOps simulators in-process. Each test creates its own Redmine
//! project, so the tests are independent of each other and of earlier runs.
//!
//! The server is found through `infra/.redmine.env` (written by the script) or the
//! same `FERRY_REDMINE_*` variables in the environment. Without it every test here
//! fails with a message saying how to start it.

use crate::harness::{field, field_str, repo_root, text, writes_in};
use anyhow::{bail, Context, Result};
use chrono::Utc;
use ferry_domain::{
    EntityId, ErrorCategory, FieldValue, Integration, IntegrationId, Scope, SecretRef, Side, SystemConfig, UserRef,
};
use ferry_runtime::actor::Actor;
use ferry_runtime::{CycleReport, Embedded, EnvSecrets, Runner, RunnerSettings, SecretSource, StaticSecrets};
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const JIRA_VAR: &str = "FERRY_E2E_JIRA_TOKEN";
const ADO_VAR: &str = "FERRY_E2E_ADO_PAT";
const REDMINE_VAR: &str = "FERRY_E2E_REDMINE_KEY";
const CAROL_JIRA: &str = "5b10ac8d82e05b22cc7d0004";
const BOB_JIRA: &str = "5b10ac8d82e05b22cc7d0003";
const ERIN_JIRA: &str = "5b10ac8d82e05b22cc7d0006";

const HOW_TO_START: &str = "Redmine is not running: start it with `infra/redmine.sh start` \
     (it writes infra/.redmine.env; or export FERRY_REDMINE_URL and the FERRY_REDMINE_* keys)";

/// The Redmine server and the accounts `infra/redmine.sh` seeded.
#[derive(Clone)]
struct Redmine {
    url: String,
    vars: HashMap<String, String>,
    http: reqwest::Client,
}

impl Redmine {
    /// Reads infra/.redmine.env, then lets the environment override it; checks the
    /// server answers as ferry-bot. Panics with how to start Redmine otherwise.
    async fn connect() -> Redmine {
        let mut vars = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(repo_root().join("infra/.redmine.env")) {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
        for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("FERRY_REDMINE_")) {
            vars.insert(k, v);
        }
        let Some(url) = vars.get("FERRY_REDMINE_URL").cloned() else { panic!("{HOW_TO_START}") };
        let rm = Redmine { url, vars, http: reqwest::Client::new() };
        match rm.call(reqwest::Method::GET, "my/account.json", &rm.key("ferry-bot"), None).await {
            Ok(v) if v["user"]["admin"] == true => rm,
            Ok(v) => panic!("Redmine at {} answers, but ferry-bot is not an administrator: {v}", rm.url),
            Err(e) => panic!("{HOW_TO_START}\n(checked {}: {e:#})", rm.url),
        }
    }

    fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_else(|| panic!("{name} missing: re-run `infra/redmine.sh start`"))
    }

    fn key(&self, login: &str) -> String {
        self.var(&format!("FERRY_REDMINE_KEY_{}", login.to_uppercase().replace('-', "_")))
    }

    fn user_id(&self, login: &str) -> u64 {
        self.var(&format!("FERRY_REDMINE_USER_{}", login.to_uppercase().replace('-', "_"))).parse().expect("user id")
    }

    fn cf(&self) -> String {
        format!("cf_{}", self.var("FERRY_REDMINE_CF_EXTERNAL_ID"))
    }

    /// One REST call; a 5xx (SQLite busy under parallel tests) is tried again.
    async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> Result<Value> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req =
                self.http.request(method.clone(), format!("{}/{path}", self.url)).header("X-Redmine-API-Key", key);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.with_context(|| format!("{method} {path}"))?;
            let status = resp.status();
            let text = resp.text().await?;
            if status.is_server_error() && attempt < 5 {
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                continue;
            }
            if !status.is_success() {
                bail!("{method} {path}: HTTP {status}: {text}");
            }
            return Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text)? });
        }
    }

    /// A fresh project with trackers Bug and Task, alice/bob/carol as developers and
    /// ferry-bot as manager; returns its identifier.
    async fn new_project(&self, tag: &str) -> Result<String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let ident =
            format!("t-{tag}-{}-{}-{}", std::process::id(), nanos % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed));
        let admin = self.var("FERRY_REDMINE_ADMIN_KEY");
        let trackers: Vec<u64> = ["FERRY_REDMINE_TRACKER_BUG", "FERRY_REDMINE_TRACKER_TASK"]
            .iter()
            .map(|v| self.var(v).parse().expect("tracker id"))
            .collect();
        self.call(
            reqwest::Method::POST,
            "projects.json",
            &admin,
            Some(json!({ "project": {
                "name": ident, "identifier": ident, "is_public": false,
                "tracker_ids": trackers, "enabled_module_names": ["issue_tracking"],
            }})),
        )
        .await?;
        let dev: u64 = self.var("FERRY_REDMINE_ROLE_DEVELOPER").parse()?;
        let manager: u64 = self.var("FERRY_REDMINE_ROLE_MANAGER").parse()?;
        for (login, role) in [("alice", dev), ("bob", dev), ("carol", dev), ("ferry-bot", manager)] {
            let body = json!({ "membership": { "user_id": self.user_id(login), "role_ids": [role] } });
            self.call(reqwest::Method::POST, &format!("projects/{ident}/memberships.json"), &admin, Some(body)).await?;
        }
        Ok(ident)
    }

    /// The raw issue with journals, as the admin sees it.
    async fn raw_issue(&self, id: &EntityId) -> Result<Value> {
        let path = format!("issues/{id}.json?include=journals");
        Ok(self.call(reqwest::Method::GET, &path, &self.var("FERRY_REDMINE_ADMIN_KEY"), None).await?["issue"].clone())
    }

    async fn priority_id(&self, name: &str) -> Result<u64> {
        let v =
            self.call(reqwest::Method::GET, "enumerations/issue_priorities.json", &self.key("ferry-bot"), None).await?;
        v["issue_priorities"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .and_then(|p| p["id"].as_u64())
            .with_context(|| format!("no Redmine priority {name}"))
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Peer {
    Jira,
    Ado,
}

/// Differences between the scenarios' configs.
#[derive(Clone)]
pub(crate) struct Opts {
    /// What happens to a user with no Redmine match (`skip` or `fail`).
    unmatched: &'static str,
    /// One user-table row, peer e-mail -> Redmine e-mail.
    user_row: Option<(&'static str, &'static str)>,
    /// Redmine-side filter (query-string conditions), right to left.
    filter_right_to_left: Option<String>,
    /// Replaces the peer's "Medium"/3 priority row's Redmine value.
    medium_priority: Option<&'static str>,
    /// Replaces the Redmine status the peer's "In Progress"/"Active" maps to.
    in_progress_status: Option<&'static str>,
    /// Where Ferry reaches Redmine, when not directly (a proxy in front of it).
    redmine_url: Option<String>,
    /// The integration's collaboration keys (`comments:`, `links:`, ...), as YAML lines
    /// indented under the integration.
    pub(crate) collaboration: Option<&'static str>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            unmatched: "skip",
            user_row: None,
            filter_right_to_left: None,
            medium_priority: None,
            in_progress_status: None,
            redmine_url: None,
            collaboration: None,
        }
    }
}

fn render(peer: Peer, peer_url: &str, rm: &Redmine, project: &str, o: &Opts) -> String {
    let medium = o.medium_priority.unwrap_or("Normal");
    let in_progress = o.in_progress_status.unwrap_or("In Progress");
    let filters = match &o.filter_right_to_left {
        Some(f) => format!("    filters:\n      right_to_left: '{f}'\n      on_exit: keep_syncing\n"),
        None => String::new(),
    };
    let redmine = format!(
        "  - id: redmine
    kind: redmine
    base_url: {url}
    auth: {{ kind: api_key, token: {{ env: {REDMINE_VAR} }} }}
    integration_user: ferry-bot@acme.test
    allow_http_loopback: true
",
        url = o.redmine_url.as_deref().unwrap_or(&rm.url)
    );
    let cf = rm.cf();
    let unmatched = o.unmatched;
    let collaboration = o.collaboration.unwrap_or_default();
    let users = match o.user_row {
        Some((l, r)) => format!("    users: {{ inline: {{ {l}: {r} }} }}\n"),
        None => String::new(),
    };
    match peer {
        Peer::Jira => format!(
            "systems:
  - id: jira
    kind: jira
    base_url: {peer_url}
    auth: {{ kind: basic, username: ferry-bot@acme.test, token: {{ env: {JIRA_VAR} }} }}
    integration_user: ferry-bot@acme.test
    allow_http_loopback: true
{redmine}
integrations:
  - id: jira-redmine-{project}
    left: {{ system: jira, project: APP, type: Bug }}
    right: {{ system: redmine, project: {project}, type: Bug }}
    poll_interval: 10s
    overlap: 120s
    max_attempts: 2
{filters}{users}    remote:
      left_id_field: customfield_10050
      right_id_field: {cf}
      links: both
    fields:
      - {{ left: summary, right: subject }}
      - {{ left: description, right: description, type: rich_text }}
      - left: priority
        right: priority
        values: {{ inline: {{ Highest: Immediate, High: High, Medium: {medium}, Low: Low }} }}
      - left: status
        right: status
        type: status
        values: {{ inline: {{ To Do: New, In Progress: {in_progress}, In Review: Resolved, Done: Closed }} }}
      - {{ left: assignee, right: assigned_to, type: user, unmatched: {unmatched} }}
{collaboration}"
        ),
        Peer::Ado => format!(
            "systems:
  - id: ado
    kind: azure_devops
    base_url: {peer_url}
    auth: {{ kind: pat, token: {{ env: {ADO_VAR} }} }}
    integration_user: ferry-bot@acme.test
    allow_http_loopback: true
{redmine}
integrations:
  - id: ado-redmine-{project}
    left: {{ system: ado, project: App, type: Bug }}
    right: {{ system: redmine, project: {project}, type: Bug }}
    poll_interval: 10s
    overlap: 120s
    max_attempts: 2
{filters}{users}    remote:
      left_id_field: Custom.JiraKey
      right_id_field: {cf}
      links: both
    fields:
      - {{ left: System.Title, right: subject }}
      - {{ left: System.Description, right: description, type: rich_text }}
      - left: Microsoft.VSTS.Common.Priority
        right: priority
        values: {{ inline: {{ 1: Immediate, 2: High, 3: {medium}, 4: Low }} }}
      - left: System.State
        right: status
        type: status
        values: {{ inline: {{ New: New, Active: {in_progress}, Resolved: Resolved, Closed: Closed }} }}
      - {{ left: System.AssignedTo, right: assigned_to, type: user, unmatched: {unmatched} }}
{collaboration}"
        ),
    }
}

pub(crate) struct RmWorld {
    rm: Redmine,
    peer: Peer,
    jira: Option<JiraSim>,
    ado: Option<AdoSim>,
    project: String,
    dir: tempfile::TempDir,
    rt: Embedded,
    runner: Runner,
    id: IntegrationId,
    integration: Integration,
    systems: Vec<SystemConfig>,
}

impl RmWorld {
    pub(crate) async fn new(peer: Peer, tag: &str, opts: Opts) -> Result<RmWorld> {
        let rm = Redmine::connect().await;
        let project = rm.new_project(tag).await?;
        let (jira, ado) = match peer {
            Peer::Jira => (Some(JiraSim::start(JiraSeed::demo()).await?), None),
            Peer::Ado => (None, Some(AdoSim::start(AdoSeed::demo()).await?)),
        };
        let dir = tempfile::tempdir()?;
        let secrets: Arc<dyn SecretSource> = Arc::new(
            StaticSecrets::new(EnvSecrets)
                .with(SecretRef::Env(JIRA_VAR.into()), "jira-bot-token")
                .with(SecretRef::Env(ADO_VAR.into()), "ado-bot-pat")
                .with(SecretRef::Env(REDMINE_VAR.into()), &rm.key("ferry-bot")),
        );
        let rt = Embedded::open(&dir.path().join("ferry.sqlite"), secrets)?;
        let runner = rt.runner(RunnerSettings { drain_patience: Duration::from_secs(15), ..RunnerSettings::default() });
        let mut w = RmWorld {
            rm,
            peer,
            jira,
            ado,
            project,
            dir,
            rt,
            runner,
            id: IntegrationId::parse("x").expect("id"),
            integration: placeholder_integration(),
            systems: Vec::new(),
        };
        w.load_config(&opts)?;
        Ok(w)
    }

    fn peer_url(&self) -> String {
        match (&self.jira, &self.ado) {
            (Some(j), _) => j.base_url(),
            (_, Some(a)) => a.base_url(),
            _ => String::new(),
        }
    }

    fn load_config(&mut self, opts: &Opts) -> Result<()> {
        let path = self.dir.path().join("ferry.yaml");
        std::fs::write(&path, render(self.peer, &self.peer_url(), &self.rm, &self.project, opts))?;
        let set = ferry_config::load_files(std::slice::from_ref(&path))
            .map_err(|e| anyhow::anyhow!("Redmine e2e config invalid:\n{e}"))?;
        self.integration = set.integrations[0].clone();
        self.id = self.integration.id.clone();
        self.systems = set.systems;
        Ok(())
    }

    pub(crate) async fn activate(&self) -> Result<()> {
        self.rt.engine.apply(&self.systems, std::slice::from_ref(&self.integration), true, Utc::now()).await?;
        self.rt.engine.activate(&self.id, Utc::now()).await?;
        Ok(())
    }

    /// Deactivates, applies `opts` and activates again (how an operator fixes a mapping).
    async fn reconfigure(&mut self, opts: &Opts) -> Result<()> {
        self.rt.engine.deactivate(&self.id, Utc::now()).await?;
        self.load_config(opts)?;
        self.activate().await
    }

    pub(crate) async fn sync(&self) -> CycleReport {
        let r = self.runner.cycle(Utc::now(), true).await;
        assert!(r.poll_errors.is_empty(), "poll errors: {:?}", r.poll_errors);
        r
    }

    fn system(&self, side: Side) -> &SystemConfig {
        let id = &self.integration.endpoint(side).system;
        self.systems.iter().find(|s| &s.id == id).expect("system of the integration")
    }

    fn scope(&self, side: Side) -> Scope {
        let ep = self.integration.endpoint(side);
        Scope { project: ep.project.clone(), entity_type: ep.entity_type.clone() }
    }

    async fn actor(&self, side: Side, name: &str, token: &str) -> Actor {
        let var = format!("FERRY_E2E_RM_{}_{}", side.as_str().to_uppercase(), name.to_uppercase().replace('-', "_"));
        let secrets: Arc<dyn SecretSource> =
            Arc::new(StaticSecrets::new(EnvSecrets).with(SecretRef::Env(var.clone()), token));
        let connectors = ferry_runtime::Connectors::new(secrets, Default::default());
        Actor::new(&connectors, self.system(side), &format!("{name}@acme.test"), SecretRef::Env(var), self.scope(side))
            .await
            .expect("actor connector")
    }

    /// A person in the peer system (left side).
    pub(crate) async fn peer_user(&self, name: &str) -> Actor {
        let token = match self.peer {
            Peer::Jira => format!("jira-{name}-token"),
            Peer::Ado => format!("ado-{name}-pat"),
        };
        self.actor(Side::Left, name, &token).await
    }

    /// A person in Redmine (right side), with their own API key.
    pub(crate) async fn redmine_user(&self, name: &str) -> Actor {
        self.actor(Side::Right, name, &self.rm.key(name)).await
    }

    /// Ferry's own view of a side.
    pub(crate) async fn reader(&self, side: Side) -> Actor {
        match side {
            Side::Left => {
                let token = if self.peer == Peer::Jira { "jira-bot-token" } else { "ado-bot-pat" };
                self.actor(Side::Left, "ferry-bot", token).await
            }
            Side::Right => self.redmine_user("ferry-bot").await,
        }
    }

    pub(crate) async fn twin(&self, side: Side, id: &EntityId) -> Option<EntityId> {
        let link = self.rt.engine.state().get_link(&self.id, side, id).await.expect("store");
        link.map(|l| l.side(side.other()).id.clone())
    }

    fn peer_writes(&self) -> Vec<String> {
        match (&self.jira, &self.ado) {
            (Some(j), _) => writes_in(&j.requests()),
            (_, Some(a)) => writes_in(&a.requests()),
            _ => Vec::new(),
        }
    }

    fn clear_peer_requests(&self) {
        if let Some(j) = &self.jira {
            j.clear_requests();
        }
        if let Some(a) = &self.ado {
            a.clear_requests();
        }
    }

    async fn journal_count(&self, id: &EntityId) -> Result<usize> {
        Ok(self.rm.raw_issue(id).await?["journals"].as_array().map_or(0, Vec::len))
    }
}

fn placeholder_integration() -> Integration {
    let ep = |s: &str| ferry_domain::Endpoint {
        system: ferry_domain::SystemId::parse(s).expect("id"),
        project: "p".into(),
        entity_type: "t".into(),
    };
    Integration {
        id: IntegrationId::parse("x").expect("id"),
        left: ep("l"),
        right: ep("r"),
        poll_interval_secs: 60,
        overlap_secs: 120,
        start_time: None,
        filter_left_to_right: None,
        filter_right_to_left: None,
        filter_exit: Default::default(),
        remote: Default::default(),
        fields: Vec::new(),
        users: Default::default(),
        max_attempts: 2,
        collaboration: Default::default(),
    }
}

fn user(id: &str) -> FieldValue {
    FieldValue::User(UserRef { id: id.into(), email: None, display_name: None })
}

fn by_email(email: &str) -> FieldValue {
    FieldValue::User(UserRef { id: String::new(), email: Some(email.into()), display_name: None })
}

fn email_of(v: &FieldValue) -> Option<String> {
    match v {
        FieldValue::User(u) => u.email.clone(),
        _ => None,
    }
}

fn opt(s: &str) -> FieldValue {
    FieldValue::Option(s.into())
}

/// Peer side vocabulary, so one scenario body serves Jira and Azure DevOps.
struct Vocab {
    title: &'static str,
    description: &'static str,
    priority: &'static str,
    status: &'static str,
    assignee: &'static str,
    remote_id: &'static str,
}

fn vocab(peer: Peer) -> Vocab {
    match peer {
        Peer::Jira => Vocab {
            title: "summary",
            description: "description",
            priority: "priority",
            status: "status",
            assignee: "assignee",
            remote_id: "customfield_10050",
        },
        Peer::Ado => Vocab {
            title: "System.Title",
            description: "System.Description",
            priority: "Microsoft.VSTS.Common.Priority",
            status: "System.State",
            assignee: "System.AssignedTo",
            remote_id: "Custom.JiraKey",
        },
    }
}

/// The peer's value for a Redmine priority name (the inline tables above).
fn peer_priority(peer: Peer, redmine: &str) -> FieldValue {
    let (jira, ado) = match redmine {
        "Immediate" => ("Highest", 1.0),
        "High" => ("High", 2.0),
        "Normal" => ("Medium", 3.0),
        _ => ("Low", 4.0),
    };
    match peer {
        Peer::Jira => opt(jira),
        Peer::Ado => FieldValue::Number(ado),
    }
}

fn peer_status(peer: Peer, redmine: &str) -> &'static str {
    match (peer, redmine) {
        (Peer::Jira, "New") => "To Do",
        (Peer::Jira, "In Progress") => "In Progress",
        (Peer::Jira, "Resolved") => "In Review",
        (Peer::Jira, _) => "Done",
        (Peer::Ado, "New") => "New",
        (Peer::Ado, "In Progress") => "Active",
        (Peer::Ado, "Resolved") => "Resolved",
        (Peer::Ado, _) => "Closed",
    }
}

fn peer_user_value(peer: Peer, name: &str) -> FieldValue {
    match (peer, name) {
        (Peer::Jira, "carol") => user(CAROL_JIRA),
        (Peer::Jira, _) => user(BOB_JIRA),
        (Peer::Ado, n) => by_email(&format!("{n}@acme.test")),
    }
}

// ---- scenarios, each run for Jira and for Azure DevOps ----

async fn creates_both_ways_with_mapped_fields(peer: Peer, tag: &str) -> Result<()> {
    let w = RmWorld::new(peer, tag, Opts::default()).await?;
    w.activate().await?;
    let v = vocab(peer);
    let assignee = if peer == Peer::Jira { "carol" } else { "bob" };

    // Peer -> Redmine.
    let bug = w
        .peer_user("alice")
        .await
        .create(vec![
            (v.title, text("Checkout fails for guests")),
            (
                v.description,
                FieldValue::RichText(
                    "<p>Pay as a <strong>guest</strong></p><ul><li>Chrome</li><li>Firefox</li></ul>".into(),
                ),
            ),
            (v.priority, peer_priority(peer, "High")),
            (v.assignee, peer_user_value(peer, assignee)),
        ])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the peer bug has no Redmine twin")?;
    let issue = w.reader(Side::Right).await.get(&twin).await?.context("twin missing in Redmine")?;
    assert_eq!(field_str(&issue, "subject"), "Checkout fails for guests");
    assert_eq!(
        field_str(&issue, "description"),
        "Pay as a guest\nChrome\nFirefox",
        "HTML -> plain text with line breaks"
    );
    assert_eq!(field(&issue, "priority"), opt("High"));
    assert_eq!(field(&issue, "status"), opt("New"));
    assert_eq!(field(&issue, "tracker"), opt("Bug"));
    assert_eq!(email_of(&field(&issue, "assigned_to")).as_deref(), Some(format!("{assignee}@acme.test").as_str()));
    assert_eq!(field_str(&issue, &w.rm.cf()), bug.key, "remote id in the External ID custom field");
    let peer_now = w.reader(Side::Left).await.get(&bug.id).await?.context("peer bug")?;
    assert_eq!(field_str(&peer_now, v.remote_id), twin.to_string(), "Redmine id written back to the peer");
    let raw = w.rm.raw_issue(&twin).await?;
    let linked = raw["journals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["notes"].as_str().is_some_and(|n| n.starts_with("Linked:") && n.contains(bug.url.as_str())));
    assert_eq!(linked.count(), 1, "one link note to the peer: {}", raw["journals"]);
    assert_eq!(raw["author"]["id"], w.rm.user_id("ferry-bot"), "created as the integration user");

    // Redmine -> peer.
    let issue = w
        .redmine_user("alice")
        .await
        .create(vec![
            ("subject", text("Printer on fire")),
            ("description", text("Line one\nLine two")),
            ("priority", opt("Immediate")),
            // A person picks the assignee by account (looking up e-mails is admin-only).
            ("assigned_to", user(&w.rm.user_id("bob").to_string())),
        ])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Right, &issue.id).await.context("the Redmine issue has no peer twin")?;
    let item = w.reader(Side::Left).await.get(&twin).await?.context("twin missing in the peer")?;
    assert_eq!(field_str(&item, v.title), "Printer on fire");
    let html = field_str(&item, v.description);
    assert!(html.contains("Line one") && html.contains("Line two"), "description: {html}");
    assert_eq!(field(&item, v.priority), peer_priority(peer, "Immediate"));
    assert_eq!(field_str(&item, v.status), peer_status(peer, "New"));
    assert_eq!(email_of(&field(&item, v.assignee)).as_deref(), Some("bob@acme.test"));
    let back = w.reader(Side::Right).await.get(&issue.id).await?.context("issue")?;
    assert_eq!(field_str(&back, &w.rm.cf()), item.key, "peer key written to the External ID field");
    Ok(())
}

/// A pair created from the peer side; returns (peer id, Redmine id).
pub(crate) async fn synced_pair(w: &RmWorld) -> Result<(EntityId, EntityId)> {
    let v = vocab(w.peer);
    let bug = w
        .peer_user("alice")
        .await
        .create(vec![(v.title, text("Search is slow")), (v.priority, peer_priority(w.peer, "Normal"))])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("no Redmine twin")?;
    Ok((bug.id, twin))
}

async fn updates_both_ways_then_settle_without_echo(peer: Peer, tag: &str) -> Result<()> {
    let w = RmWorld::new(peer, tag, Opts::default()).await?;
    w.activate().await?;
    let v = vocab(peer);
    let (peer_id, rm_id) = synced_pair(&w).await?;
    assert_eq!(field(&w.reader(Side::Right).await.get(&rm_id).await?.context("issue")?, "priority"), opt("Normal"));

    // Redmine -> peer: status (through Jira transitions), priority, subject.
    w.redmine_user("bob")
        .await
        .update(
            &rm_id,
            vec![
                ("status", opt("Resolved")),
                ("priority", opt("Immediate")),
                ("subject", text("Search is slow on big projects")),
            ],
        )
        .await?;
    w.sync().await;
    let bobs = w.reader(Side::Right).await.get(&rm_id).await?.context("issue")?;
    assert_eq!(bobs.changed_by.as_ref().map(|u| u.id.clone()), Some(w.rm.user_id("bob").to_string()), "changed by bob");
    assert_eq!(bobs.changed_by.as_ref().and_then(|u| u.email.as_deref()), Some("bob@acme.test"));
    let item = w.reader(Side::Left).await.get(&peer_id).await?.context("peer item")?;
    assert_eq!(field_str(&item, v.status), peer_status(peer, "Resolved"));
    assert_eq!(field(&item, v.priority), peer_priority(peer, "Immediate"));
    assert_eq!(field_str(&item, v.title), "Search is slow on big projects");

    // Peer -> Redmine: closing and a lower priority.
    w.peer_user("bob")
        .await
        .update(&peer_id, vec![(v.status, text(peer_status(peer, "Closed"))), (v.priority, peer_priority(peer, "Low"))])
        .await?;
    w.sync().await;
    w.sync().await;
    let issue = w.reader(Side::Right).await.get(&rm_id).await?.context("issue")?;
    assert_eq!(field(&issue, "status"), opt("Closed"));
    assert_eq!(field(&issue, "priority"), opt("Low"));
    let by = issue.changed_by.as_ref().and_then(|u| u.email.as_deref());
    assert_eq!(by, Some("ferry-bot@acme.test"), "Ferry's write is changed by the integration user (echo detection)");
    assert_eq!(field_str(&issue, "subject"), "Search is slow on big projects");

    // Settled: polling again writes nothing on either side.
    let journals = w.journal_count(&rm_id).await?;
    w.clear_peer_requests();
    for _ in 0..3 {
        let r = w.sync().await;
        assert_eq!(r.write_count(), 0, "writes after settling: {:?}", r.handled);
    }
    assert_eq!(w.peer_writes(), Vec::<String>::new(), "the peer saw writes after settling");
    assert_eq!(w.journal_count(&rm_id).await?, journals, "Redmine saw writes after settling");
    let item = w.reader(Side::Left).await.get(&peer_id).await?.context("peer item")?;
    assert_eq!(field_str(&item, v.status), peer_status(peer, "Closed"));
    Ok(())
}

async fn the_redmine_filter_excludes_an_issue_and_a_linked_one_keeps_syncing(peer: Peer, tag: &str) -> Result<()> {
    let rm = Redmine::connect().await;
    let high = rm.priority_id("High").await?;
    let w =
        RmWorld::new(peer, tag, Opts { filter_right_to_left: Some(format!("priority_id={high}")), ..Opts::default() })
            .await?;
    w.activate().await?;
    let v = vocab(peer);
    let alice = w.redmine_user("alice").await;
    let inside = alice.create(vec![("subject", text("In scope")), ("priority", opt("High"))]).await?;
    let outside = alice.create(vec![("subject", text("Out of scope")), ("priority", opt("Normal"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Right, &inside.id).await.is_some(), "matching issue synced");
    assert!(w.twin(Side::Right, &outside.id).await.is_none(), "non-matching issue synced");

    alice.update(&outside.id, vec![("subject", text("Still out of scope"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Right, &outside.id).await.is_none(), "non-matching issue synced after an update");

    // keep_syncing: found through the negated filter once it stops matching.
    alice.update(&inside.id, vec![("priority", opt("Normal")), ("subject", text("Left the filter"))]).await?;
    w.sync().await;
    let twin = w.twin(Side::Right, &inside.id).await.context("twin")?;
    let item = w.reader(Side::Left).await.get(&twin).await?.context("peer item")?;
    assert_eq!(field_str(&item, v.title), "Left the filter");
    assert_eq!(field(&item, v.priority), peer_priority(peer, "Normal"));
    Ok(())
}

async fn a_value_redmine_rejects_is_recorded_as_a_failure(peer: Peer, tag: &str) -> Result<()> {
    // The peer's In Progress/Active maps to a status this Redmine does not have.
    let w = RmWorld::new(peer, tag, Opts { in_progress_status: Some("Doing"), ..Opts::default() }).await?;
    w.activate().await?;
    let v = vocab(peer);
    let (peer_id, rm_id) = synced_pair(&w).await?;
    w.peer_user("alice").await.update(&peer_id, vec![(v.status, text(peer_status(peer, "In Progress")))]).await?;
    w.sync().await;

    let failures = w.rt.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].category, ErrorCategory::InvalidRequest, "{:?}", failures[0]);
    assert!(failures[0].cause.contains("Doing"), "cause names the value: {}", failures[0].cause);
    let item = w.reader(Side::Left).await.get(&peer_id).await?.context("peer item")?;
    assert_eq!(failures[0].entity_key, item.key, "the failure names the source entity");
    let issue = w.reader(Side::Right).await.get(&rm_id).await?.context("issue")?;
    assert_eq!(field(&issue, "status"), opt("New"), "nothing written while failing");
    Ok(())
}

async fn an_unknown_redmine_user_is_recorded_and_syncs_after_the_fix_and_retry(peer: Peer, tag: &str) -> Result<()> {
    // erin (Jira) and dave (Azure DevOps) have no Redmine account.
    let (who, value) = match peer {
        Peer::Jira => ("erin@acme.test", user(ERIN_JIRA)),
        Peer::Ado => ("dave@acme.test", by_email("dave@acme.test")),
    };
    let mut w = RmWorld::new(peer, tag, Opts { unmatched: "fail", ..Opts::default() }).await?;
    w.activate().await?;
    let v = vocab(peer);
    let bug =
        w.peer_user("alice").await.create(vec![(v.title, text("Nobody here knows")), (v.assignee, value)]).await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &bug.id).await.is_none(), "synced despite the unknown user");
    let failures = w.rt.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].category, ErrorCategory::UserNotFound, "{:?}", failures[0]);
    assert!(failures[0].cause.contains(who), "cause names the user: {}", failures[0].cause);

    // Fix: map the user to carol, then retry the parked event.
    w.reconfigure(&Opts { unmatched: "fail", user_row: Some((who, "carol@acme.test")), ..Opts::default() }).await?;
    w.rt.engine.retry_failure(&failures[0].id).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("synced after the retry")?;
    let issue = w.reader(Side::Right).await.get(&twin).await?.context("issue")?;
    assert_eq!(field_str(&issue, "subject"), "Nobody here knows");
    assert_eq!(email_of(&field(&issue, "assigned_to")).as_deref(), Some("carol@acme.test"));
    assert!(w.rt.engine.state().list_failures(Some(&w.id)).await?.is_empty(), "failure cleared");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_and_redmine_create_both_ways_with_mapped_fields() -> Result<()> {
    creates_both_ways_with_mapped_fields(Peer::Jira, "jr-create").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ado_and_redmine_create_both_ways_with_mapped_fields() -> Result<()> {
    creates_both_ways_with_mapped_fields(Peer::Ado, "ar-create").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_and_redmine_updates_flow_both_ways_and_settle_without_echo() -> Result<()> {
    updates_both_ways_then_settle_without_echo(Peer::Jira, "jr-update").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ado_and_redmine_updates_flow_both_ways_and_settle_without_echo() -> Result<()> {
    updates_both_ways_then_settle_without_echo(Peer::Ado, "ar-update").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_and_redmine_filter_excludes_an_issue_and_keeps_syncing_a_linked_one() -> Result<()> {
    the_redmine_filter_excludes_an_issue_and_a_linked_one_keeps_syncing(Peer::Jira, "jr-filter").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ado_and_redmine_filter_excludes_an_issue_and_keeps_syncing_a_linked_one() -> Result<()> {
    the_redmine_filter_excludes_an_issue_and_a_linked_one_keeps_syncing(Peer::Ado, "ar-filter").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_and_redmine_rejected_value_is_recorded_as_invalid_request() -> Result<()> {
    a_value_redmine_rejects_is_recorded_as_a_failure(Peer::Jira, "jr-reject").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ado_and_redmine_rejected_value_is_recorded_as_invalid_request() -> Result<()> {
    a_value_redmine_rejects_is_recorded_as_a_failure(Peer::Ado, "ar-reject").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_and_redmine_unknown_user_is_recorded_and_retried_after_the_fix() -> Result<()> {
    an_unknown_redmine_user_is_recorded_and_syncs_after_the_fix_and_retry(Peer::Jira, "jr-user").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ado_and_redmine_unknown_user_is_recorded_and_retried_after_the_fix() -> Result<()> {
    an_unknown_redmine_user_is_recorded_and_syncs_after_the_fix_and_retry(Peer::Ado, "ar-user").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redmine_discovery_lists_projects_trackers_fields_and_members() -> Result<()> {
    let w = RmWorld::new(Peer::Jira, "discover", Opts::default()).await?;
    let bot = w.reader(Side::Right).await;
    let (conn, scope) = (&bot.conn, &bot.scope);

    let me = conn.integration_user().await?;
    assert_eq!(
        (me.id.clone(), me.email.as_deref()),
        (w.rm.user_id("ferry-bot").to_string(), Some("ferry-bot@acme.test"))
    );
    let carol = conn.find_user_by_email("CAROL@acme.test").await?.context("carol by e-mail")?;
    assert_eq!(carol.id, w.rm.user_id("carol").to_string());
    assert!(conn.find_user_by_email("erin@acme.test").await?.is_none(), "no such user");

    let projects = conn.projects().await?;
    assert!(projects.iter().any(|p| p.key == w.project), "{} in {projects:?}", w.project);
    let types = conn.entity_types(&w.project).await?;
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Bug", "Task"]);
    assert!(types[0].states.iter().any(|s| s == "Closed"), "{:?}", types[0].states);

    let fields = conn.fields(scope).await?;
    let find = |k: &str| fields.iter().find(|f| f.key.as_str() == k).with_context(|| format!("field {k}"));
    assert_eq!(find(&w.rm.cf())?.name, "External ID");
    assert_eq!(find(&w.rm.cf())?.field_type, ferry_domain::FieldType::Text);
    assert!(find("priority")?.allowed_values.iter().any(|v| v == "Immediate"));
    assert_eq!(find("assigned_to")?.field_type, ferry_domain::FieldType::User);

    let mut members: Vec<String> = conn.users(&w.project).await?.into_iter().filter_map(|u| u.email).collect();
    members.sort();
    assert_eq!(members, ["alice@acme.test", "bob@acme.test", "carol@acme.test", "ferry-bot@acme.test"]);

    assert_eq!(conn.last_updated(scope).await?, None, "a fresh project is empty");
    let created = w.redmine_user("alice").await.create(vec![("subject", text("First"))]).await?;
    assert_eq!(conn.last_updated(scope).await?, Some(created.updated));
    let id_field = ferry_domain::FieldKey::new("External ID");
    w.redmine_user("alice").await.update(&created.id, vec![("External ID", text("APP-77"))]).await?;
    let found = conn.find_by_field(scope, &id_field, "APP-77").await?.context("found by custom field name")?;
    assert_eq!(found.id, created.id);
    assert!(conn.find_by_field(scope, &id_field, "APP-7").await?.is_none(), "exact match only");
    Ok(())
}

// ---- reads of changes by position (no offset paging) ----

/// Ids of one `/issues.json` page by offset, oldest change first (the paging a read of
/// changes must not use).
async fn offset_page(w: &RmWorld, offset: usize, limit: usize) -> Result<Vec<u64>> {
    let path = format!(
        "issues.json?project_id={}&status_id=*&sort=updated_on:asc,id:asc&offset={offset}&limit={limit}",
        w.project
    );
    let v = w.rm.call(reqwest::Method::GET, &path, &w.rm.key("ferry-bot"), None).await?;
    Ok(v["issues"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_u64()).collect())
}

/// An issue of a page already read is edited before the next page is read: it moves to
/// the end of the order. With offset paging the issue that slid into its place is never
/// listed (shown first against the same server); a read of changes by position lists
/// every issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redmine_read_of_changes_skips_no_issue_when_one_is_edited_between_pages() -> Result<()> {
    let w = RmWorld::new(Peer::Jira, "paging", Opts::default()).await?;
    let alice = w.redmine_user("alice").await;
    let since = Utc::now() - chrono::Duration::seconds(2);
    let mut created = Vec::new();
    for i in 0..6 {
        created.push(alice.create(vec![("subject", text(&format!("paging {i}")))]).await?.id);
    }
    let all: std::collections::BTreeSet<String> = created.iter().map(|i| i.to_string()).collect();

    // The defect, on this server: offset paging over `updated_on` loses an issue.
    let first = offset_page(&w, 0, 2).await?;
    alice.update(&EntityId::new(first[0].to_string()), vec![("subject", text("edited during the read"))]).await?;
    let mut by_offset: std::collections::BTreeSet<String> = first.iter().map(u64::to_string).collect();
    for offset in [2, 4, 6] {
        by_offset.extend(offset_page(&w, offset, 2).await?.iter().map(u64::to_string));
    }
    assert_ne!(by_offset, all, "offset paging was expected to skip the issue that slid back");

    // The same again through the connector, by position.
    let bot = w.reader(Side::Right).await;
    let seen = std::collections::BTreeMap::new();
    let fields = [ferry_domain::FieldKey::new("subject")];
    let query = ferry_domain::ChangeQuery { since, filter: None, fields: &fields, seen: &seen, page_size: 2 };
    let page = bot.conn.changes(&bot.scope, &query, None).await?;
    assert!(page.next.is_some(), "six issues do not fit a page of two");
    let mut read: Vec<String> = page.snapshots.iter().map(|s| s.id.to_string()).collect();
    let edited = page.snapshots.first().context("a first page")?.id.clone();
    alice.update(&edited, vec![("subject", text("edited during the second read"))]).await?;
    let mut from = page.next;
    let mut pages = 1;
    while let Some(token) = from {
        let page = bot.conn.changes(&bot.scope, &query, Some(&token)).await?;
        read.extend(page.snapshots.iter().map(|s| s.id.to_string()));
        from = page.next;
        pages += 1;
        assert!(pages < 30, "the read must end");
    }
    let distinct: std::collections::BTreeSet<String> = read.iter().cloned().collect();
    assert_eq!(distinct, all, "every issue was read ({pages} pages: {read:?})");
    assert_eq!(read.last(), Some(&edited.to_string()), "the edited issue came again, at the end: {read:?}");
    Ok(())
}

/// A backlog of Redmine issues (one GET each) is read over several polls, each saving
/// its progress, each issue enqueued once; reading the same changes again lists them
/// without reading any in full again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redmine_backlog_is_read_over_polls_and_a_re_read_lists_without_full_reads() -> Result<()> {
    use crate::backlog::{assert_each_sent_once, poll_until_read_ends, RecordingQueue};
    let w = RmWorld::new(Peer::Jira, "backlog", Opts::default()).await?;
    let alice = w.redmine_user("alice").await;
    let mut created = std::collections::BTreeSet::new();
    for i in 0..60 {
        created.insert(alice.create(vec![("subject", text(&format!("backlog {i}")))]).await?.id.to_string());
    }
    let store = Arc::new(
        ferry_store::sqlite::SqliteStore::open(&w.dir.path().join("backlog.sqlite"), Default::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let queue = Arc::new(RecordingQueue::new(store.clone()));
    let secrets: Arc<dyn SecretSource> = Arc::new(
        StaticSecrets::new(EnvSecrets)
            .with(SecretRef::Env(JIRA_VAR.into()), "jira-bot-token")
            .with(SecretRef::Env(REDMINE_VAR.into()), &w.rm.key("ferry-bot")),
    );
    let settings = ferry_engine::EngineSettings { poll_page_size: 10, ..Default::default() };
    let connectors = Arc::new(ferry_runtime::Connectors::new(secrets, Default::default()));
    let engine = ferry_engine::Engine::new(store.clone(), store.clone(), queue.clone(), connectors, settings);
    // Activation starts the direction at the project's newest change: start before it.
    let mut integration = w.integration.clone();
    integration.start_time = Some(Utc::now() - chrono::Duration::minutes(5));
    engine.apply(&w.systems, std::slice::from_ref(&integration), true, Utc::now()).await?;
    engine.activate(&w.id, Utc::now()).await?;
    let flow = ferry_domain::Flow::RightToLeft;

    // A zero budget: one page (10 issues) per poll.
    let steps = poll_until_read_ends(&engine, store.as_ref(), &w.id, flow, Duration::ZERO, 100).await?;
    assert!(steps.len() >= 6, "{} polls", steps.len());
    for (i, s) in steps.iter().enumerate() {
        assert!(s.advanced(), "poll {i} saved no progress: {:?}", s.report);
        assert!(s.report.pages == 1 && s.report.enqueued <= 10, "poll {i}: {:?}", s.report);
    }
    assert_each_sent_once(&queue.sent_changes(), &created);

    // The changes are within the overlap window: the next read lists them again; only
    // those read within a second or two of their change are read in full again.
    let again = poll_until_read_ends(&engine, store.as_ref(), &w.id, flow, Duration::from_secs(60), 10).await?;
    let fetched: usize = again.iter().map(|s| s.report.fetched).sum();
    let duplicates: usize = again.iter().map(|s| s.report.duplicates).sum();
    let enqueued: usize = again.iter().map(|s| s.report.enqueued).sum();
    assert_eq!(enqueued, 0);
    assert!(duplicates >= 60, "listed again: {duplicates}");
    assert!(fetched <= 10, "read in full again: {fetched} of 60");
    Ok(())
}

/// A loopback proxy in front of the real Redmine: it forwards every request as it came,
/// except that before the first PUT of an armed issue by ferry-bot it makes a person's
/// edit of that issue (Redmine is a real server: this is how an edit lands inside
/// Ferry's write, between Ferry's read of the issue and its PUT).
struct EditingProxy {
    url: String,
    armed: Arc<std::sync::Mutex<Option<(String, Value)>>>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    bot_key: String,
    person_key: String,
    http: reqwest::Client,
    armed: Arc<std::sync::Mutex<Option<(String, Value)>>>,
}

impl EditingProxy {
    async fn start(rm: &Redmine, person: &str) -> Result<EditingProxy> {
        let armed = Arc::new(std::sync::Mutex::new(None));
        let state = ProxyState {
            upstream: rm.url.trim_end_matches('/').to_string(),
            bot_key: rm.key("ferry-bot"),
            person_key: rm.key(person),
            http: reqwest::Client::new(),
            armed: armed.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(EditingProxy { url, armed })
    }

    /// Before ferry-bot's next PUT of issue `id`, the person PUTs `issue` (Redmine's
    /// `{"issue": {...}}` body) to it.
    fn arm(&self, id: &EntityId, issue: Value) {
        *self.armed.lock().expect("lock") = Some((format!("/issues/{id}.json"), issue));
    }

    fn fired(&self) -> bool {
        self.armed.lock().expect("lock").is_none()
    }
}

async fn forward(
    axum::extract::State(p): axum::extract::State<ProxyState>,
    method: reqwest::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let key = headers.get(REDMINE_KEY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let edit = {
        let mut armed = p.armed.lock().expect("lock");
        let hit = armed.as_ref().is_some_and(|(path, _)| method == reqwest::Method::PUT && uri.path() == path);
        if hit && key == p.bot_key {
            armed.take()
        } else {
            None
        }
    };
    if let Some((path, issue)) = edit {
        let r = p
            .http
            .put(format!("{}{path}", p.upstream))
            .header(REDMINE_KEY_HEADER, &p.person_key)
            .json(&json!({ "issue": issue }))
            .send()
            .await;
        assert!(r.is_ok_and(|r| r.status().is_success()), "the person's edit through the proxy failed");
    }
    let target = format!("{}{}", p.upstream, uri.path_and_query().map_or("", |q| q.as_str()));
    let mut req = p.http.request(method, target).header(REDMINE_KEY_HEADER, key).body(body);
    if let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE) {
        req = req.header(axum::http::header::CONTENT_TYPE, ct.clone());
    }
    match req.send().await {
        Ok(resp) => {
            let status =
                axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
            let ct = resp.headers().get(axum::http::header::CONTENT_TYPE).cloned();
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut out = (status, bytes).into_response();
            if let Some(ct) = ct {
                out.headers_mut().insert(axum::http::header::CONTENT_TYPE, ct);
            }
            out
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

const REDMINE_KEY_HEADER: &str = "X-Redmine-API-Key";

/// Redmine has no conditional update: Ferry reads the issue, then PUTs its change. A
/// person's edit of another field in between must reach the other side, not be taken
/// for part of Ferry's echo (Ferry's journal is the newest one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_and_redmine_a_persons_edit_during_ferrys_write_reaches_the_other_side() -> Result<()> {
    let rm = Redmine::connect().await;
    let proxy = EditingProxy::start(&rm, "alice").await?;
    let opts = Opts { redmine_url: Some(proxy.url.clone()), ..Opts::default() };
    let w = RmWorld::new(Peer::Jira, "interleave", opts).await?;
    w.activate().await?;
    let (jira_id, redmine_id) = synced_pair(&w).await?;
    w.peer_user("bob").await.update(&jira_id, vec![("summary", text("Retitled in Jira"))]).await?;
    proxy.arm(&redmine_id, json!({ "priority_id": w.rm.priority_id("Immediate").await? }));
    w.sync().await;
    assert!(proxy.fired(), "Ferry's PUT of the Redmine issue went through the proxy");
    w.sync().await;

    let issue = w.reader(Side::Right).await.get(&redmine_id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "subject"), "Retitled in Jira");
    assert_eq!(field_str(&issue, "priority"), "Immediate", "alice's edit stays");
    let bug = w.reader(Side::Left).await.get(&jira_id).await?.context("bug")?;
    assert_eq!(field_str(&bug, "priority"), "Highest", "alice's Redmine edit reached Jira");
    Ok(())
}
