//! The handler tests' world: both simulators on loopback, a real engine over the
//! SQLite store in a temp dir, and the integration applied and activated. Shared by
//! the function crates' tests through `#[path]`.

#![allow(dead_code)]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use ferry_domain::ports::QueueName;
use ferry_domain::{EntityRef, FieldValue, IntegrationId, Scope, SecretRef, Side, SystemConfig};
use ferry_engine::Engine;
use ferry_runtime::actor::Actor;
use ferry_runtime::{Connectors, Embedded, EnvSecrets, SecretSource, StaticSecrets};
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use std::sync::Arc;
use std::time::Duration;

pub struct World {
    pub jira: JiraSim,
    pub ado: AdoSim,
    pub rt: Embedded,
    pub id: IntegrationId,
    pub systems: Vec<SystemConfig>,
    _dir: tempfile::TempDir,
}

impl World {
    /// Starts the simulators, applies the config and activates `app-bugs`.
    pub async fn new() -> World {
        let jira = JiraSim::start(JiraSeed::demo()).await.expect("jira simulator");
        let ado = AdoSim::start(AdoSeed::demo()).await.expect("ado simulator");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("ferry.yaml");
        let text = include_str!("integration.yaml")
            .replace("@JIRA_URL@", &jira.base_url())
            .replace("@ADO_URL@", &ado.base_url());
        std::fs::write(&config, text).expect("writing the config");
        let set = ferry_config::load_files(&[config]).unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        let secrets: Arc<dyn SecretSource> = Arc::new(
            StaticSecrets::new(EnvSecrets)
                .with(SecretRef::Env("FERRY_FN_TEST_JIRA_TOKEN".into()), "jira-bot-token")
                .with(SecretRef::Env("FERRY_FN_TEST_ADO_PAT".into()), "ado-bot-pat"),
        );
        let rt = Embedded::open(&dir.path().join("ferry.sqlite"), secrets).expect("embedded store");
        let id = set.integrations[0].id.clone();
        rt.engine.apply(&set.systems, &set.integrations, true, Utc::now()).await.expect("apply");
        rt.engine.activate(&id, Utc::now()).await.expect("activate");
        World { jira, ado, rt, id, systems: set.systems, _dir: dir }
    }

    pub fn engine(&self) -> &Engine {
        &self.rt.engine
    }

    /// Alice files a bug in Jira.
    pub async fn jira_bug(&self, summary: &str) -> EntityRef {
        self.actor(Side::Left, "alice", "jira-alice-token")
            .await
            .create(vec![
                ("summary", FieldValue::Text(summary.into())),
                ("priority", FieldValue::Option("High".into())),
            ])
            .await
            .expect("creating a Jira bug")
    }

    /// Ferry's own view of a side, for reading results.
    pub async fn reader(&self, side: Side) -> Actor {
        let token = if side == Side::Left { "jira-bot-token" } else { "ado-bot-pat" };
        self.actor(side, "ferry-bot", token).await
    }

    async fn actor(&self, side: Side, name: &str, token: &str) -> Actor {
        let var = format!("FERRY_FN_TEST_TOKEN_{}", token.replace('-', "_").to_uppercase());
        let secrets: Arc<dyn SecretSource> =
            Arc::new(StaticSecrets::new(EnvSecrets).with(SecretRef::Env(var.clone()), token));
        let system_id = if side == Side::Left { "jira" } else { "ado" };
        let system = self.systems.iter().find(|s| s.id.as_str() == system_id).expect("system");
        let scope = if side == Side::Left {
            Scope { project: "APP".into(), entity_type: "Bug".into() }
        } else {
            Scope { project: "App".into(), entity_type: "Bug".into() }
        };
        Actor::new(
            &Connectors::new(secrets, Default::default()),
            system,
            &format!("{name}@acme.test"),
            SecretRef::Env(var),
            scope,
        )
        .await
        .expect("actor connector")
    }

    pub async fn depth(&self, queue: QueueName) -> u64 {
        self.engine().queue().depth(queue).await.expect("queue depth")
    }

    /// Receives up to 10 messages of `queue` from the store and wraps them in the
    /// event Lambda's SQS event source would deliver.
    pub async fn receive_event(&self, queue: QueueName) -> SqsEvent {
        let deliveries = self.engine().queue().receive(queue, 10, Duration::from_secs(180)).await.expect("receiving");
        let mut event = SqsEvent::default();
        for d in deliveries {
            let mut m = SqsMessage::default();
            m.message_id = Some(d.message_id.clone());
            m.receipt_handle = Some(d.receipt.clone());
            m.body = Some(d.body.clone());
            m.attributes.insert("ApproximateReceiveCount".into(), d.receive_count.to_string());
            m.event_source = Some("aws:sqs".into());
            m.event_source_arn = Some(format!("arn:aws:sqs:us-east-1:123456789012:ferry-{}.fifo", queue.as_str()));
            m.aws_region = Some("us-east-1".into());
            event.records.push(m);
        }
        event
    }

    /// Settles a batch as Lambda does: deletes every record not reported failed.
    pub async fn settle(&self, queue: QueueName, event: &SqsEvent, failed: &[String]) {
        for r in &event.records {
            if !failed.contains(r.message_id.as_ref().expect("message id")) {
                self.engine().queue().ack(queue, r.receipt_handle.as_deref().expect("receipt")).await.expect("ack");
            }
        }
    }
}

pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}
