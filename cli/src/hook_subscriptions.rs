//! The webhook half of `ferry activate` and `ferry deactivate`: registering the
//! systems' subscriptions at the public hooks URL and removing them
//! ([`ferry_runtime::subscriptions`]), and what a person reads about it.

use anyhow::Result;
use ferry_domain::IntegrationId;
use ferry_engine::Engine;
use ferry_runtime::subscriptions::{self, Outcome, Removal, SystemHooks};
use ferry_runtime::Connectors;

/// What activate says when the config enables webhooks but no URL was given.
const NO_URL: &str = "webhooks configured but not registered: give --hooks-url URL (or FERRY_HOOKS_URL), \
     the public address of `ferry run --listen` or the stack's HooksUrl; polling syncs meanwhile";

/// Registers the subscriptions of `id` when its systems have `webhook:`. Answers the
/// JSON of it (`hooks`, and `hooks_note` when no URL was given); prints unless `json`.
pub async fn register(
    engine: &Engine,
    connectors: &Connectors,
    id: &IntegrationId,
    hooks_url: Option<&str>,
    json: bool,
) -> Result<serde_json::Value> {
    let Some(url) = hooks_url.map(str::trim).filter(|u| !u.is_empty()) else {
        let wanted = subscriptions::wants_hooks(engine, id).await?;
        if wanted && !json {
            eprintln!("{NO_URL}");
        }
        let note = wanted.then_some(NO_URL);
        return Ok(serde_json::json!({ "hooks": [], "hooks_note": note }));
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        anyhow::bail!("--hooks-url {url:?}: give an http(s) URL, e.g. https://<id>.lambda-url.<region>.on.aws/");
    }
    let done = subscriptions::register(engine, connectors, id, url).await?;
    if !json {
        for s in &done {
            print_system(s);
        }
    }
    Ok(serde_json::json!({ "hooks": done }))
}

fn print_system(s: &SystemHooks) {
    match &s.outcome {
        Outcome::Registered { created, kept, removed, .. } => println!(
            "hooks {}: registered, delivering to {} ({created} created, {kept} kept, {removed} removed)",
            s.system, s.url
        ),
        Outcome::Manual { reason, steps } => {
            println!("hooks {}: not registered ({reason}); the sync is active and polls.", s.system);
            println!("  To receive its webhooks, register them by hand:");
            for (i, step) in steps.iter().enumerate() {
                println!("  {}. {step}", i + 1);
            }
        }
    }
}

/// Removes the subscriptions activate registered for `id`, and says so.
pub async fn unregister(engine: &Engine, connectors: &Connectors, id: &IntegrationId) -> Result<()> {
    for Removal { system, removed, left } in subscriptions::unregister(engine, connectors, id).await? {
        println!("hooks {system}: removed {} subscription(s)", removed.len());
        for l in left {
            println!("  could not remove {l}; delete it in the system's webhook settings");
        }
    }
    Ok(())
}
