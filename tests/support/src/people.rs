//! Secrets for the integration user (the bot) and for the people who edit items in the
//! simulators. Tokens are the simulators' demo tokens; the references are environment
//! variable names that are never set: a [`StaticSecrets`] answers them.

use anyhow::Result;
use ferry_domain::{Scope, SecretRef, SystemConfig};
use ferry_runtime::actor::Actor;
use ferry_runtime::{Connectors, EnvSecrets, SecretSource, StaticSecrets};
use std::sync::Arc;

/// The Jira simulator's token for the integration user.
pub const JIRA_BOT_TOKEN: &str = "jira-bot-token";
/// The Azure DevOps simulator's PAT for the integration user.
pub const ADO_BOT_PAT: &str = "ado-bot-pat";

/// The bot's tokens under the references a test config names (`jira_var`, `ado_var`).
pub fn bot_secrets(jira_var: &str, ado_var: &str) -> Arc<dyn SecretSource> {
    Arc::new(
        StaticSecrets::new(EnvSecrets)
            .with(SecretRef::Env(jira_var.into()), JIRA_BOT_TOKEN)
            .with(SecretRef::Env(ado_var.into()), ADO_BOT_PAT),
    )
}

/// The reference a person's `token` is resolved under: `<prefix><TOKEN>`, upper case
/// with `_` for `-` (e.g. `FERRY_E2E_TOKEN_JIRA_ALICE_TOKEN`).
pub fn token_ref(prefix: &str, token: &str) -> SecretRef {
    SecretRef::Env(format!("{prefix}{}", token.replace('-', "_").to_uppercase()))
}

/// A person acting on `system` through its REST API with their own `token`, so their
/// changes are not Ferry's echoes.
pub async fn actor(system: &SystemConfig, scope: Scope, email: &str, token: &str, prefix: &str) -> Result<Actor> {
    let secret = token_ref(prefix, token);
    let secrets: Arc<dyn SecretSource> = Arc::new(StaticSecrets::new(EnvSecrets).with(secret.clone(), token));
    let connectors = Connectors::new(secrets, Default::default());
    Ok(Actor::new(&connectors, system, email, secret, scope).await?)
}
