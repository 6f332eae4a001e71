//! The connector the runtime hands out (the token-refreshing wrapper around Jira's) passes
//! every collaboration call through: capabilities, comments, attachments (streamed both
//! ways), parent and links, against the Jira simulator.

use async_trait::async_trait;
use ferry_domain::ports::ConnectorFactory;
use ferry_domain::{
    AuthConfig, ByteSink, ByteSource, CommentWrite, FieldChange, FieldKey, FieldValue, PortError, Relation, Scope,
    SecretRef, SystemConfig, SystemId, SystemKind,
};
use ferry_runtime::{Connectors, EnvSecrets};
use ferry_sim::{JiraSeed, JiraSim};
use std::sync::Arc;

const BOT: &str = "ferry-bot@acme.test";

struct Bytes(Option<Vec<u8>>);

#[async_trait]
impl ByteSource for Bytes {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        Ok(self.0.take())
    }
}

#[derive(Default)]
struct Collected(Vec<u8>);

#[async_trait]
impl ByteSink for Collected {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.0.extend_from_slice(chunk);
        Ok(())
    }
}

#[tokio::test]
async fn the_runtimes_jira_connector_forwards_every_collaboration_call() {
    let var = "FERRY_JIRA_COLLAB_WRAPPER_TOKEN";
    std::env::set_var(var, "jira-bot-token");
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let system = SystemConfig {
        id: SystemId::parse("jira").unwrap(),
        kind: SystemKind::Jira,
        base_url: sim.base_url(),
        identity_url: None,
        auth: AuthConfig::Basic { username: BOT.into(), token: SecretRef::Env(var.into()) },
        integration_user: Some(BOT.into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    };
    let connectors = Connectors::new(Arc::new(EnvSecrets), Default::default());
    let c = connectors.connector(&system).await.unwrap();
    let caps = c.capabilities();
    assert!(caps.comments && caps.comment_edits && caps.attachments && caps.hierarchy && caps.links && caps.deletions);

    let bugs = Scope { project: "APP".into(), entity_type: "Bug".into() };
    let summary = |s: &str| vec![FieldChange { field: FieldKey::new("summary"), value: FieldValue::Text(s.into()) }];
    let a = c.create(&bugs, &summary("a")).await.unwrap();
    let b = c.create(&bugs, &summary("b")).await.unwrap();

    let file = c.upload(&bugs, &a.id, "pic.png", 5, &mut Bytes(Some(b"\x89PNG!".to_vec()))).await.unwrap();
    assert_eq!(c.attachments(&bugs, &a.id).await.unwrap(), std::slice::from_ref(&file));
    let mut got = Collected::default();
    assert_eq!(c.download(&bugs, &a.id, &file, &mut got).await.unwrap(), 5);
    assert_eq!(got.0, b"\x89PNG!");

    let body = format!("<p>see</p><p><img src=\"ferry-attachment:{}\" alt=\"pic.png\"></p>", file.id);
    let write = CommentWrite { body: body.clone(), origin: "ferry:w:left:1:1".into() };
    let made = c.add_comment(&bugs, &a.id, &write).await.unwrap();
    let edit = CommentWrite { body: "<p>edited</p>".into(), origin: write.origin.clone() };
    c.edit_comment(&bugs, &a.id, &made.id, &edit).await.unwrap();

    // A rotated token is read again for collaboration reads too.
    sim.rotate_token(BOT, "jira-bot-token-2");
    std::env::set_var(var, "jira-bot-token-2");
    let read = c.comments(&bugs, &a.id).await.unwrap();
    assert_eq!(
        (read.len(), read[0].body.as_str(), read[0].origin.as_deref()),
        (1, "<p>edited</p>", Some("ferry:w:left:1:1"))
    );
    c.delete_comment(&bugs, &a.id, &made.id).await.unwrap();
    assert!(c.comments(&bugs, &a.id).await.unwrap().is_empty());

    let link = Relation::Link { link_type: "Blocks".into(), outward: true, other: b.id.clone() };
    c.add_relation(&bugs, &a.id, &link).await.unwrap();
    assert_eq!(c.relations(&bugs, &a.id).await.unwrap(), std::slice::from_ref(&link));
    c.remove_relation(&bugs, &a.id, &link).await.unwrap();
    assert!(c.relations(&bugs, &a.id).await.unwrap().is_empty());

    c.delete_attachment(&bugs, &a.id, &file.id).await.unwrap();
    assert!(c.attachments(&bugs, &a.id).await.unwrap().is_empty());
}
