//! The connector the runtime hands out for Redmine (the token-refreshing wrapper)
//! reports Redmine's collaboration capabilities and forwards the calls, against the real
//! Redmine that `infra/redmine.sh start` runs (found through `infra/.redmine.env` or the
//! `FERRY_REDMINE_*` variables; without it this test fails saying how to start it).

use ferry_domain::ports::ConnectorFactory;
use ferry_domain::{AuthConfig, EntityId, ErrorCategory, Scope, SecretRef, SystemConfig, SystemId, SystemKind};
use ferry_runtime::{Connectors, EnvSecrets, StaticSecrets};
use std::collections::HashMap;
use std::sync::Arc;

fn redmine_vars() -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/.redmine.env");
    if let Ok(text) = std::fs::read_to_string(file) {
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("FERRY_REDMINE_")));
    vars
}

#[tokio::test]
async fn the_runtimes_redmine_connector_reports_and_forwards_collaboration() {
    let vars = redmine_vars();
    let how = "Redmine is not running: start it with `infra/redmine.sh start` (it writes infra/.redmine.env)";
    let (url, key) = match (vars.get("FERRY_REDMINE_URL"), vars.get("FERRY_REDMINE_KEY_FERRY_BOT")) {
        (Some(u), Some(k)) => (u.clone(), k.clone()),
        _ => panic!("{how}"),
    };
    let token = SecretRef::Env("FERRY_TEST_REDMINE_COLLAB_KEY_UNSET".into());
    let secrets = StaticSecrets::new(EnvSecrets).with(token.clone(), &key);
    let connectors = Connectors::new(Arc::new(secrets), Default::default());
    let system = SystemConfig {
        id: SystemId::parse("redmine").unwrap(),
        kind: SystemKind::Redmine,
        base_url: url,
        identity_url: None,
        auth: AuthConfig::ApiKey { token },
        integration_user: None,
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    };
    let c = connectors.connector(&system).await.unwrap();
    let caps = c.capabilities();
    assert!(caps.comments && caps.comment_edits && caps.attachments && caps.hierarchy && caps.links, "{caps:?}");
    // Forwarded to Redmine (a refused capability would be a Config error): the issue is missing.
    let scope = Scope { project: "app".into(), entity_type: "Bug".into() };
    let gone = EntityId::new("99999999");
    let e = c.comments(&scope, &gone).await.expect_err("no such issue");
    assert_eq!(e.category, ErrorCategory::NotFound, "{how}: {e}");
    let e = c.relations(&scope, &gone).await.expect_err("no such issue");
    assert_eq!(e.category, ErrorCategory::NotFound, "{e}");
}
