//! The connector the runtime hands out (the token-refreshing wrapper) forwards every
//! collaboration call to the Azure DevOps connector, over HTTP to the simulator.

use async_trait::async_trait;
use ferry_domain::ports::ConnectorFactory;
use ferry_domain::{
    AuthConfig, ByteSink, ByteSource, CommentWrite, FieldChange, FieldKey, FieldValue, PortError, Relation, Scope,
    SecretRef, SystemConfig, SystemId, SystemKind,
};
use ferry_runtime::{Connectors, EnvSecrets, StaticSecrets};
use ferry_sim::{AdoSeed, AdoSim};
use std::sync::Arc;

struct Bytes(Option<Vec<u8>>);

#[async_trait]
impl ByteSource for Bytes {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        Ok(self.0.take())
    }
}

#[async_trait]
impl ByteSink for Bytes {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.0.get_or_insert_with(Vec::new).extend_from_slice(chunk);
        Ok(())
    }
}

#[tokio::test]
async fn the_runtimes_connector_forwards_the_collaboration_calls() {
    let sim = AdoSim::start(AdoSeed::demo()).await.unwrap();
    let token = SecretRef::Env("FERRY_TEST_ADO_COLLAB_PAT_UNSET".into());
    let secrets = StaticSecrets::new(EnvSecrets).with(token.clone(), "ado-bot-pat");
    let connectors = Connectors::new(Arc::new(secrets), Default::default());
    let system = SystemConfig {
        id: SystemId::parse("ado").unwrap(),
        kind: SystemKind::AzureDevops,
        base_url: sim.base_url(),
        identity_url: None,
        auth: AuthConfig::Pat { token },
        integration_user: Some("ferry-bot@acme.test".into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    };
    let c = connectors.connector(&system).await.unwrap();
    let bugs = Scope { project: "App".into(), entity_type: "Bug".into() };
    let title = |t: &str| vec![FieldChange { field: FieldKey::new("System.Title"), value: FieldValue::Text(t.into()) }];
    let (a, b) = (c.create(&bugs, &title("a")).await.unwrap().id, c.create(&bugs, &title("b")).await.unwrap().id);

    assert!(c.capabilities().comments && c.capabilities().attachments, "{:?}", c.capabilities());
    let write = |body: &str| CommentWrite { body: body.into(), origin: "o".into() };
    let made = c.add_comment(&bugs, &a, &write("<p>one</p>")).await.unwrap();
    let edited = c.edit_comment(&bugs, &a, &made.id, &write("<p>two</p>")).await.unwrap();
    assert_eq!(c.comments(&bugs, &a).await.unwrap(), [edited]);
    c.delete_comment(&bugs, &a, &made.id).await.unwrap();
    assert!(c.comments(&bugs, &a).await.unwrap().is_empty());

    let file = c.upload(&bugs, &a, "n.txt", 5, &mut Bytes(Some(b"hello".to_vec()))).await.unwrap();
    assert_eq!(c.attachments(&bugs, &a).await.unwrap(), std::slice::from_ref(&file));
    let mut got = Bytes(None);
    assert_eq!(c.download(&bugs, &a, &file, &mut got).await.unwrap(), 5);
    assert_eq!(got.0.as_deref(), Some(&b"hello"[..]));
    c.delete_attachment(&bugs, &a, &file.id).await.unwrap();
    assert!(c.attachments(&bugs, &a).await.unwrap().is_empty());

    let parent = Relation::Parent { parent: b.clone() };
    c.add_relation(&bugs, &a, &parent).await.unwrap();
    assert_eq!(c.relations(&bugs, &a).await.unwrap(), std::slice::from_ref(&parent));
    c.remove_relation(&bugs, &a, &parent).await.unwrap();
    assert!(c.relations(&bugs, &a).await.unwrap().is_empty());
}
