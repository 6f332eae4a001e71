//! The handler tests' world: both simulators on loopback, a real engine over the
//! SQLite store in a temp dir, and the integration of `fixtures/handlers.yaml` applied
//! and activated. The three function crates' tests drive their handler with it, one SQS
//! batch at a time.

use crate::config::{scope, system, with_simulator_urls, write_and_load};
use crate::people::{actor, bot_secrets, ADO_BOT_PAT, JIRA_BOT_TOKEN};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use ferry_domain::ports::QueueName;
use ferry_domain::{EntityRef, FieldValue, Integration, IntegrationId, Side, SystemConfig};
use ferry_engine::Engine;
use ferry_runtime::actor::Actor;
use ferry_runtime::Embedded;
use ferry_sim::{AdoSim, JiraSim};
use std::time::Duration;

/// The handler config names these secret references for the bot's tokens.
const JIRA_TOKEN_VAR: &str = "FERRY_FN_TEST_JIRA_TOKEN";
const ADO_PAT_VAR: &str = "FERRY_FN_TEST_ADO_PAT";
/// People's tokens are resolved under `FERRY_FN_TEST_TOKEN_<TOKEN>`.
const PERSON_PREFIX: &str = "FERRY_FN_TEST_TOKEN_";

pub struct World {
    pub jira: JiraSim,
    pub ado: AdoSim,
    pub rt: Embedded,
    pub id: IntegrationId,
    pub integration: Integration,
    pub systems: Vec<SystemConfig>,
    _dir: tempfile::TempDir,
}

impl World {
    /// Starts the simulators, applies the config and activates `app-bugs`.
    pub async fn new() -> World {
        let (jira, ado) = crate::demo_simulators().await.expect("simulators");
        let dir = tempfile::tempdir().expect("temp dir");
        let text = with_simulator_urls(include_str!("../fixtures/handlers.yaml"), &jira, &ado);
        let set = write_and_load(&dir.path().join("ferry.yaml"), &text).expect("the handler config");
        let rt = Embedded::open(&dir.path().join("ferry.sqlite"), bot_secrets(JIRA_TOKEN_VAR, ADO_PAT_VAR))
            .expect("embedded store");
        let integration = set.integrations[0].clone();
        let id = integration.id.clone();
        rt.engine.apply(&set.systems, &set.integrations, true, Utc::now()).await.expect("apply");
        rt.engine.activate(&id, Utc::now()).await.expect("activate");
        World { jira, ado, rt, id, integration, systems: set.systems, _dir: dir }
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
        let token = if side == Side::Left { JIRA_BOT_TOKEN } else { ADO_BOT_PAT };
        self.actor(side, "ferry-bot", token).await
    }

    async fn actor(&self, side: Side, name: &str, token: &str) -> Actor {
        let system = system(&self.systems, &self.integration, side).expect("system of the integration");
        actor(system, scope(&self.integration, side), &format!("{name}@acme.test"), token, PERSON_PREFIX)
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
