//! End to end against an AWS emulator: the simulators as Jira and Azure DevOps, the
//! config applied to DynamoDB and activated (creating the poll schedule), a Jira bug
//! filed, one corrupt message put on the changes queue, then the event runner in
//! `--once` mode. Checks that the bug reached Azure DevOps and the corrupt message
//! the changes DLQ. Needs the FERRY_* and AWS_* variables of an emulator
//! (`source infra/.emulator.env` after `infra/moto.sh start`, or `reset` before a
//! second run: applying over an active integration is refused):
//!
//!     cargo run -p ferry-event-runner --example emulator_sync

use anyhow::{bail, Context, Result};
use chrono::Utc;
use ferry_domain::{FieldKey, FieldValue, Scope, SecretRef, Side};
use ferry_event_runner::{EventRunner, RunnerOptions};
use ferry_runtime::actor::Actor;
use ferry_runtime::aws::aws_engine;
use ferry_runtime::{Connectors, EnvSecrets, SecretSource, StaticSecrets};
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    // The AWS secret source reads `env` references from the process environment.
    std::env::set_var("FERRY_FN_TEST_JIRA_TOKEN", "jira-bot-token");
    std::env::set_var("FERRY_FN_TEST_ADO_PAT", "ado-bot-pat");

    let jira = JiraSim::start(JiraSeed::demo()).await?;
    let ado = AdoSim::start(AdoSeed::demo()).await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("ferry.yaml");
    std::fs::write(
        &config,
        include_str!("../../../tests/support/fixtures/handlers.yaml")
            .replace("@JIRA_URL@", &jira.base_url())
            .replace("@ADO_URL@", &ado.base_url()),
    )?;
    let set = ferry_config::load_files(&[config]).map_err(|e| anyhow::anyhow!("config:\n{e}"))?;
    let id = set.integrations[0].id.clone();

    let rt = aws_engine().await?;
    rt.engine.apply(&set.systems, &set.integrations, true, Utc::now()).await?;
    let activation = rt.engine.activate(&id, Utc::now()).await?;
    println!("activated: {activation:?}");

    let secrets: Arc<dyn SecretSource> = Arc::new(
        StaticSecrets::new(EnvSecrets)
            .with(SecretRef::Env("ALICE".into()), "jira-alice-token")
            .with(SecretRef::Env("BOT".into()), "ado-bot-pat"),
    );
    let connectors = Connectors::new(secrets, Default::default());
    let system = |sid: &str| set.systems.iter().find(|s| s.id.as_str() == sid).context("system").cloned();
    let alice = Actor::new(
        &connectors,
        &system("jira")?,
        "alice@acme.test",
        SecretRef::Env("ALICE".into()),
        Scope { project: "APP".into(), entity_type: "Bug".into() },
    )
    .await?;
    let bug = alice
        .create(vec![
            ("summary", FieldValue::Text("Emulator run: checkout fails".into())),
            ("priority", FieldValue::Option("High".into())),
        ])
        .await?;
    println!("filed {} in Jira", bug.key);

    let sqs = aws_sdk_sqs::Client::new(&rt.sdk);
    sqs.send_message()
        .queue_url(&rt.names.changes_queue_url)
        .message_body("{\"schema\":1,\"integration\":\"app-bugs\",\"fl")
        .message_group_id("emulator-corrupt")
        .message_deduplication_id(format!("corrupt-{}", Utc::now().timestamp_millis()))
        .send()
        .await
        .context("sending the corrupt message")?;

    let mut runner = EventRunner::new(
        rt.engine.clone(),
        sqs.clone(),
        aws_sdk_scheduler::Client::new(&rt.sdk),
        rt.sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into()),
        &rt.names.changes_queue_url,
        &rt.names.writes_queue_url,
        RunnerOptions {
            tick: Duration::from_secs(1),
            once: true,
            until_idle: Some(Duration::from_secs(20)),
            wait: Duration::from_secs(1),
            schedule_group: std::env::var("FERRY_SCHEDULE_GROUP").ok(),
            poll_function_arn: std::env::var("FERRY_POLL_FUNCTION_ARN").ok(),
        },
    )
    .await?;
    runner.run(std::future::pending()).await?;

    let link = rt.engine.state().get_link(&id, Side::Left, &bug.id).await?.context("the bug has no twin")?;
    let bot = Actor::new(
        &connectors,
        &system("ado")?,
        "ferry-bot@acme.test",
        SecretRef::Env("BOT".into()),
        Scope { project: "App".into(), entity_type: "Bug".into() },
    )
    .await?;
    let twin = bot.get(&link.right.id).await?.context("twin missing in ADO")?;
    let title = twin.field(&FieldKey::new("System.Title")).cloned();
    if title != Some(FieldValue::Text("Emulator run: checkout fails".into())) {
        bail!("twin {} has title {title:?}", link.right.id);
    }
    println!("{} -> ADO #{} ({title:?})", bug.key, link.right.id);

    let dlq = sqs
        .receive_message()
        .queue_url(&rt.names.changes_dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .context("reading the changes DLQ")?;
    let dead = dlq.messages.unwrap_or_default();
    if !dead.iter().any(|m| m.body.as_deref().is_some_and(|b| b.contains("\"fl"))) {
        bail!("the corrupt message did not reach the changes DLQ ({} messages there)", dead.len());
    }
    println!("corrupt message dead-lettered after the receive limit");

    check_aws_secrets(&rt.sdk).await?;
    println!("SSM and Secrets Manager references resolve through AwsSecrets");
    Ok(())
}

/// Stores a SecureString parameter and a secret, then resolves both references.
async fn check_aws_secrets(sdk: &aws_config::SdkConfig) -> Result<()> {
    use ferry_runtime::aws::AwsSecrets;
    use secrecy::ExposeSecret;
    let stamp = Utc::now().timestamp_millis();
    let (param, secret) = (format!("/ferry/example/jira-token-{stamp}"), format!("ferry/example/ado-pat-{stamp}"));
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(&param)
        .value("ssm-value")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .context("PutParameter")?;
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&secret)
        .secret_string("sm-value")
        .send()
        .await
        .context("CreateSecret")?;
    let s = AwsSecrets::from_conf(sdk, ferry_runtime::aws::aws_http_client(sdk)?);
    let a = s.resolve(&SecretRef::Ssm(param)).await?;
    let b = s.resolve(&SecretRef::SecretsManager(secret)).await?;
    if (a.expose_secret(), b.expose_secret()) != ("ssm-value", "sm-value") {
        bail!("AWS secret references resolved to the wrong values");
    }
    let missing =
        s.resolve(&SecretRef::Ssm("/ferry/example/absent".into())).await.err().context("absent parameter resolved")?;
    println!("absent parameter: {missing}");
    Ok(())
}
