//! An epic and its children between Jira and Azure DevOps, as teams set them up: one
//! integration for the epics (Epic ⇄ Epic) and another for the bugs under them (Bug ⇄
//! Bug), each syncing its own type, so a bug's parent is linked by the *other*
//! integration. Jira's `parent` ⇄ Azure DevOps' `System.LinkTypes.Hierarchy-Reverse`,
//! whichever is synced first, both ways.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::{EntityId, FieldValue, IntegrationId, Relation, Scope, SecretRef, Side};
use ferry_runtime::actor::Actor;
use ferry_runtime::{SecretSource, StaticSecrets};
use std::sync::Arc;

/// The epics' integration, next to the world's bugs: only epics labelled (tagged) `sync`
/// travel, so a test decides when an epic arrives.
const EPICS: &str = "
integrations:
  - id: @ID@
    left: { system: @SYS@-jira, project: APP, type: Epic }
    right: { system: @SYS@-ado, project: App, type: Epic }
    poll_interval: 10s
    overlap: 120s
    max_attempts: 3
    filters:
      left_to_right: 'labels = sync'
      right_to_left: \"[System.Tags] CONTAINS 'sync'\"
      on_exit: keep_syncing
    hierarchy: { direction: both }
    fields:
      - { left: summary, right: System.Title }
      - { left: labels, right: System.Tags }
";

/// The world's bug integration (comments, attachments, hierarchy, links) and an epic
/// integration between the same projects, both active.
struct Epics {
    w: World,
    epics: IntegrationId,
}

impl Epics {
    async fn new() -> Result<Epics> {
        let w = World::new(Variant { collaboration: true, ..Variant::default() }).await?;
        let epics_id = format!("{}-epics", w.id);
        let sys = w.id.as_str();
        let file = w.config.with_file_name("epics.yaml");
        std::fs::write(&file, EPICS.replace("@ID@", &epics_id).replace("@SYS@", sys))?;
        let set = ferry_config::load_files(&[w.config.clone(), file])
            .map_err(|e| anyhow::anyhow!("e2e config invalid:\n{e}"))?;
        w.engine.apply(&set.systems, &set.integrations, true, Utc::now()).await?;
        let epics = IntegrationId::parse(&epics_id).context("epics id")?;
        w.engine.activate(&w.id, Utc::now()).await?;
        w.engine.activate(&epics, Utc::now()).await?;
        Ok(Epics { w, epics })
    }

    /// Polls both integrations both ways and drains the queues.
    async fn sync(&self) {
        match &self.w.backend {
            Backend::Embedded { .. } => self.w.sync().await,
            Backend::Aws { events, .. } => {
                for id in [&self.w.id, &self.epics] {
                    for flow in ferry_domain::Flow::BOTH {
                        let input = serde_json::json!({"integration": id.as_str(), "flow": flow.as_str()});
                        if let Err(e) = ferry_fn_poll::handle(&self.w.engine, input, Utc::now()).await {
                            panic!("poll handler failed: {e}");
                        }
                    }
                }
                events.lock().await.drain().await.expect("draining the emulator's queues");
            }
        }
    }

    /// Syncs until a settled state (a parent written by one sync is read by the next).
    async fn settle(&self) {
        for _ in 0..3 {
            self.sync().await;
        }
    }

    /// A person of `side` acting on entities of `entity_type`.
    async fn person(&self, side: Side, entity_type: &str) -> Result<Actor> {
        let (name, token) = match side {
            Side::Left => ("alice", "jira-alice-token"),
            Side::Right => ("bob", "ado-bob-pat"),
        };
        self.actor(side, name, token, entity_type).await
    }

    /// Ferry's own view of a side.
    async fn reader(&self, side: Side) -> Result<Actor> {
        let token = if side == Side::Left { JIRA_BOT_TOKEN } else { ADO_BOT_PAT };
        self.actor(side, "ferry-bot", token, "Bug").await
    }

    async fn actor(&self, side: Side, name: &str, token: &str, entity_type: &str) -> Result<Actor> {
        let var = format!("FERRY_E2E_TOKEN_{}", token.replace('-', "_").to_uppercase());
        let secrets: Arc<dyn SecretSource> =
            Arc::new(StaticSecrets::new(ferry_runtime::EnvSecrets).with(SecretRef::Env(var.clone()), token));
        let connectors = ferry_runtime::Connectors::new(secrets, Default::default());
        let ep = self.w.integration.endpoint(side);
        let system = self.w.systems.iter().find(|s| s.id == ep.system).context("the side's system")?;
        let scope = Scope { project: ep.project.clone(), entity_type: entity_type.into() };
        Ok(Actor::new(&connectors, system, &format!("{name}@acme.test"), SecretRef::Env(var), scope).await?)
    }

    /// The peer of `id` (on `side`) that `integration` linked.
    async fn twin_in(&self, integration: &IntegrationId, side: Side, id: &EntityId) -> Result<EntityId> {
        match self.w.engine.state().get_link(integration, side, id).await? {
            Some(l) => Ok(l.side(side.other()).id.clone()),
            None => {
                let parked = self.w.engine.state().list_failures(Some(integration)).await?;
                let why: Vec<String> = parked
                    .iter()
                    .map(|f| format!("{} {} (attempt {}): {}", f.entity_key, f.category, f.attempts, f.cause))
                    .collect();
                anyhow::bail!("{id} is not linked by {integration}; its parked failures: {why:#?}")
            }
        }
    }

    /// The parent `id` (on `side`) has there, if any.
    async fn parent(&self, side: Side, id: &EntityId) -> Result<Option<EntityId>> {
        let r = self.reader(side).await?;
        let parents: Vec<EntityId> = r
            .conn
            .relations(&r.scope, id)
            .await?
            .into_iter()
            .filter_map(|rel| match rel {
                Relation::Parent { parent } => Some(parent),
                Relation::Link { .. } => None,
            })
            .collect();
        anyhow::ensure!(parents.len() <= 1, "{id} has one parent at most: {parents:?}");
        Ok(parents.into_iter().next())
    }

    async fn no_failures(&self) -> Result<()> {
        for id in [&self.w.id, &self.epics] {
            let parked = self.w.engine.state().list_failures(Some(id)).await?;
            anyhow::ensure!(parked.is_empty(), "nothing parked in {id}: {parked:#?}");
        }
        Ok(())
    }
}

fn parent_of(p: &EntityId) -> Relation {
    Relation::Parent { parent: p.clone() }
}

/// The value that lets an epic through its integration's filter, per side.
fn sync_mark(side: Side) -> (&'static str, FieldValue) {
    match side {
        Side::Left => ("labels", FieldValue::List(vec!["sync".into()])),
        Side::Right => ("System.Tags", text("sync")),
    }
}

fn title(side: Side) -> &'static str {
    match side {
        Side::Left => "summary",
        Side::Right => "System.Title",
    }
}

/// On `origin`: two epics synced first, two bugs under the first; then one bug moves to
/// the second epic and the other loses its parent. Each step shows on the other side.
async fn epic_first_then_children_move(origin: Side) -> Result<()> {
    let x = Epics::new().await?;
    let other = origin.other();
    let (epic_person, bug_person) = (x.person(origin, "Epic").await?, x.person(origin, "Bug").await?);
    let one = epic_person.create(vec![(title(origin), text("Checkout v2")), sync_mark(origin)]).await?;
    let two = epic_person.create(vec![(title(origin), text("Payments")), sync_mark(origin)]).await?;
    x.settle().await;
    let (one_twin, two_twin) =
        (x.twin_in(&x.epics, origin, &one.id).await?, x.twin_in(&x.epics, origin, &two.id).await?);

    let mut bugs = Vec::new();
    for t in ["Card declined", "Total rounds wrong"] {
        let bug = bug_person.create(vec![(title(origin), text(t))]).await?;
        bug_person.conn.add_relation(&bug_person.scope, &bug.id, &parent_of(&one.id)).await?;
        bugs.push(bug.id);
    }
    x.settle().await;
    let mut twins = Vec::new();
    for bug in &bugs {
        let twin = x.twin_in(&x.w.id, origin, bug).await?;
        assert_eq!(x.parent(other, &twin).await?, Some(one_twin.clone()), "{bug}'s copy under the epic's copy");
        twins.push(twin);
    }

    // The second bug moves to the other epic; the first loses its parent.
    bug_person.conn.add_relation(&bug_person.scope, &bugs[1], &parent_of(&two.id)).await?;
    bug_person.conn.remove_relation(&bug_person.scope, &bugs[0], &parent_of(&one.id)).await?;
    x.settle().await;
    assert_eq!(x.parent(other, &twins[1]).await?, Some(two_twin), "the move followed");
    assert_eq!(x.parent(other, &twins[0]).await?, None, "the removal followed");
    assert_eq!(x.parent(origin, &bugs[1]).await?, Some(two.id), "nothing came back on the source");
    assert_eq!(x.parent(origin, &bugs[0]).await?, None, "nothing came back on the source");
    x.no_failures().await
}

/// On `origin`: two bugs under an epic that is not synced yet; their copies get their
/// parent when the epic arrives, through the epics' integration.
async fn children_first_then_their_epic(origin: Side) -> Result<()> {
    let x = Epics::new().await?;
    let other = origin.other();
    let (epic_person, bug_person) = (x.person(origin, "Epic").await?, x.person(origin, "Bug").await?);
    let epic = epic_person.create(vec![(title(origin), text("Search revamp"))]).await?;
    let mut bugs = Vec::new();
    for t in ["Typo tolerance", "Empty results page"] {
        let bug = bug_person.create(vec![(title(origin), text(t))]).await?;
        bug_person.conn.add_relation(&bug_person.scope, &bug.id, &parent_of(&epic.id)).await?;
        bugs.push(bug.id);
    }
    x.settle().await;
    let mut twins = Vec::new();
    for bug in &bugs {
        let twin = x.twin_in(&x.w.id, origin, bug).await?;
        assert_eq!(x.parent(other, &twin).await?, None, "{bug}: its parent is not synced yet");
        twins.push(twin);
    }
    assert!(x.twin_in(&x.epics, origin, &epic.id).await.is_err(), "the epic is outside its filter yet");

    epic_person.update(&epic.id, vec![sync_mark(origin)]).await?;
    x.settle().await;
    let epic_twin = x.twin_in(&x.epics, origin, &epic.id).await?;
    for twin in &twins {
        assert_eq!(x.parent(other, twin).await?, Some(epic_twin.clone()), "{twin} got its parent when it arrived");
    }
    for bug in &bugs {
        assert_eq!(x.parent(origin, bug).await?, Some(epic.id.clone()), "{bug} kept its parent");
    }
    x.no_failures().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hierarchy_jira_epic_synced_first_gets_its_children_and_a_move_and_removal_follow() -> Result<()> {
    epic_first_then_children_move(Side::Left).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hierarchy_ado_epic_synced_first_gets_its_children_and_a_move_and_removal_follow() -> Result<()> {
    epic_first_then_children_move(Side::Right).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hierarchy_jira_children_synced_before_their_epic_get_it_when_it_arrives() -> Result<()> {
    children_first_then_their_epic(Side::Left).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hierarchy_ado_children_synced_before_their_epic_get_it_when_it_arrives() -> Result<()> {
    children_first_then_their_epic(Side::Right).await
}
