//! Edges of what a sync may take for granted: a field a system stops returning, a
//! rotated token, a criteria filter that tries to leave its project.

use crate::harness::*;
use anyhow::{Context, Result};
use aws_sdk_ssm::types::ParameterType;
use chrono::Utc;
use ferry_domain::{AuthConfig, FieldChange, FieldValue, Flow, Scope, SecretRef, Side};
use ferry_engine::EngineError;
use ferry_runtime::SecretSource;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_jira_stops_returning_keeps_its_azure_devops_value_and_the_rest_syncs() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let bug = alice
        .create(vec![
            ("summary", text("Export times out")),
            ("customfield_10052", FieldValue::Number(5.0)),
            ("labels", FieldValue::List(vec!["export".into()])),
        ])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the bug has no twin")?;

    // A Jira administrator takes Story Points out of the project's field context; a
    // person then edits the summary and clears the labels.
    w.jira.hide_field("customfield_10052");
    alice
        .update(&bug.id, vec![("summary", text("Export times out on big files")), ("labels", FieldValue::Null)])
        .await?;
    w.sync().await;

    let item = w.reader(Side::Right).await.get(&twin).await?.context("twin missing")?;
    assert_eq!(field_str(&item, "System.Title"), "Export times out on big files", "the rest syncs");
    assert_eq!(field(&item, "System.Tags"), FieldValue::Null, "an explicit clear still clears");
    assert_eq!(
        field(&item, "Microsoft.VSTS.Scheduling.StoryPoints"),
        FieldValue::Number(5.0),
        "a field Jira no longer returns is not a cleared field"
    );
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(failures.is_empty(), "nothing parks: {failures:?}");
    Ok(())
}

fn labels(l: &[&str]) -> FieldValue {
    FieldValue::List(l.iter().map(|s| s.to_string()).collect())
}

/// A labelled bug in Jira project `project` (APP is the integration's, OPS is not).
async fn labelled_bug(w: &World, project: &str, summary: &str) -> Result<ferry_domain::EntityRef> {
    let alice = w.jira_user("alice").await;
    let scope = Scope { project: project.into(), entity_type: "Bug".into() };
    let fields = [("summary", text(summary)), ("labels", labels(&["sync"]))];
    let changes: Vec<FieldChange> =
        fields.into_iter().map(|(k, v)| FieldChange { field: ferry_domain::FieldKey::new(k), value: v }).collect();
    Ok(alice.conn.create(&scope, &changes).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_naming_another_project_never_copies_its_items() -> Result<()> {
    // Balanced and valid JQL: it is wrapped in parentheses after the project scope.
    let variant = Variant { filter_left_to_right: Some("labels = sync OR project = OPS"), ..Variant::default() };
    let w = World::new(variant).await?;
    w.activate().await?;
    let app = labelled_bug(&w, "APP", "In scope").await?;
    let ops = labelled_bug(&w, "OPS", "Another project's bug").await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &app.id).await.is_some(), "the filtered APP bug syncs");
    assert!(w.twin(Side::Left, &ops.id).await.is_none(), "the OPS bug is outside the integration");
    let titles: Vec<String> = w
        .ado
        .work_item_ids("App")
        .into_iter()
        .filter_map(|id| w.ado.work_item_json(id))
        .map(|v| v["fields"]["System.Title"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(titles, vec!["In scope".to_string()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_that_breaks_out_of_its_group_is_refused_at_apply_and_never_polled() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let mut breakout = w.integration.clone();
    breakout.filter_left_to_right = Some("labels = sync) OR (project = OPS".into());
    // `apply` asks the live system and refuses it.
    let e = w.engine.apply(&w.systems, std::slice::from_ref(&breakout), true, Utc::now()).await.unwrap_err();
    assert!(matches!(e, EngineError::InvalidFilter { .. }), "{e}");
    assert!(e.to_string().contains("closes a parenthesis"), "{e}");
    assert!(w.engine.config_store().get_integration(&w.id).await?.is_none(), "nothing was stored");

    // Stored without the check, the poll still refuses to send it.
    w.engine.apply(&w.systems, std::slice::from_ref(&breakout), false, Utc::now()).await?;
    w.engine.activate(&w.id, Utc::now()).await?;
    let ops = labelled_bug(&w, "OPS", "Another project's bug").await?;
    w.jira.clear_requests();
    let e = w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await.unwrap_err();
    assert!(e.to_string().contains("closes a parenthesis"), "{e}");
    assert!(!w.jira.requests().iter().any(|r| r.path.ends_with("/search/jql")), "no search was sent");
    assert!(w.twin(Side::Left, &ops.id).await.is_none());
    assert!(w.ado.work_item_ids("App").is_empty(), "nothing was copied");
    Ok(())
}

/// The SSM and Secrets Manager clients of the emulator at `AWS_ENDPOINT_URL`.
async fn emulator() -> (aws_sdk_ssm::Client, aws_sdk_secretsmanager::Client, Arc<dyn SecretSource>) {
    let sdk = ferry_runtime::aws::load_sdk_config().await.expect(
        "this test keeps its tokens in the AWS emulator's SSM and Secrets Manager: run \
         `infra/moto.sh start && source infra/.emulator.env`",
    );
    let secrets: Arc<dyn SecretSource> = Arc::new(ferry_runtime::aws::AwsSecrets::from_conf(
        &sdk,
        ferry_runtime::aws::aws_http_client(&sdk).expect("an HTTP client"),
    ));
    (aws_sdk_ssm::Client::new(&sdk), aws_sdk_secretsmanager::Client::new(&sdk), secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_rotated_between_two_syncs_on_a_warm_engine_parks_nothing() -> Result<()> {
    let (ssm, sm, secrets) = emulator().await;
    let mut w = World::with_secrets(Variant::default(), secrets).await?;
    // The Jira token in SSM, the Azure DevOps PAT in Secrets Manager.
    let (param, secret) = (format!("/ferry-e2e/{}/jira", w.id), format!("ferry-e2e/{}/ado", w.id));
    ssm.put_parameter().name(&param).value(JIRA_BOT_TOKEN).r#type(ParameterType::SecureString).send().await?;
    sm.create_secret().name(&secret).secret_string(ADO_BOT_PAT).send().await?;
    for s in &mut w.systems {
        s.auth = match &s.auth {
            AuthConfig::Basic { username, .. } => {
                AuthConfig::Basic { username: username.clone(), token: SecretRef::Ssm(param.clone()) }
            }
            _ => AuthConfig::Pat { token: SecretRef::SecretsManager(secret.clone()) },
        };
    }
    w.activate().await?;
    let (alice_jira, bob_ado) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let bug = alice_jira.create(vec![("summary", text("Before the rotation"))]).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("no twin before the rotation")?;

    // The operator rotates both tokens: the systems refuse the old ones at once.
    w.jira.rotate_token("ferry-bot@acme.test", "jira-bot-token-rotated");
    ssm.put_parameter().name(&param).value("jira-bot-token-rotated").overwrite(true).send().await?;
    w.ado.rotate_pat("ferry-bot@acme.test", "ado-bot-pat-rotated");
    sm.put_secret_value().secret_id(&secret).secret_string("ado-bot-pat-rotated").send().await?;

    alice_jira.update(&bug.id, vec![("summary", text("After the rotation"))]).await?;
    bob_ado.update(&twin, vec![("Microsoft.VSTS.Common.Priority", FieldValue::Number(1.0))]).await?;
    let fresh = alice_jira.create(vec![("summary", text("Created after the rotation"))]).await?;
    w.sync().await;
    w.sync().await;

    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(failures.is_empty(), "nothing parks: {failures:?}");
    let item = bob_ado.get(&twin).await?.context("twin")?;
    assert_eq!(field_str(&item, "System.Title"), "After the rotation");
    let issue = alice_jira.get(&bug.id).await?.context("bug")?;
    assert_eq!(field_str(&issue, "priority"), "Highest", "the ADO edit reached Jira with the new token");
    assert!(w.twin(Side::Left, &fresh.id).await.is_some(), "a create after the rotation synced");
    Ok(())
}

#[tokio::test]
async fn a_ca_cert_file_path_is_refused_for_the_aws_backend_and_read_on_the_embedded_one() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")?;
    let config = dir.path().join("ferry.yaml");
    std::fs::write(
        &config,
        "systems:\n  - id: jira\n    kind: jira\n    base_url: https://acme.atlassian.net\n    \
         auth: { kind: basic, username: bot@acme.test, token: { ssm: /ferry/jira } }\n    ca_cert: ca.pem\n",
    )?;
    let validate = |backend: &'static str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(["--backend", backend, "validate"]).arg(&config).env("FERRY_LOG", "warn");
        run(c)
    };
    let aws = validate("aws").await;
    assert!(!aws.ok, "{}", aws.stdout);
    let first = aws.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("{}:6:", config.display())), "{first}");
    assert!(first.contains("systems[0].ca_cert") && first.contains("AWS backend"), "{first}");
    let embedded = validate("embedded").await;
    assert!(embedded.ok, "{}", embedded.stderr);
    Ok(())
}
