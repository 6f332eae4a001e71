//! What Ferry's test worlds share. Three worlds use it, each shaped for what it tests:
//!
//! - the end-to-end suite (`tests/e2e/harness.rs`): the real runtime (embedded runner or
//!   the Lambda handlers on the emulator) and the real `ferry` binary, over config variants;
//! - the fault suite (`tests/faults/src/world.rs`): the engine with a crash injector and a
//!   recording queue, counting what the runtime handled;
//! - the handler tests of the three functions ([`handlers::World`]): one SQS batch at a
//!   time, settled by hand.
//!
//! The first two stay in their own crates: they drive the poll handler and the local
//! event source, which depend on the function crates, and the function crates' tests
//! depend on this crate.
//!
//! Test and benchmark code only: no Lambda function links it.

pub mod backend;
pub mod config;
pub mod function_url;
pub mod git;
pub mod handlers;
pub mod people;

use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};

/// The Jira and Azure DevOps simulators, each on an ephemeral loopback port.
pub async fn simulators(jira: JiraSeed, ado: AdoSeed) -> anyhow::Result<(JiraSim, AdoSim)> {
    Ok((JiraSim::start(jira).await?, AdoSim::start(ado).await?))
}

/// Both simulators with their demo seeds.
pub async fn demo_simulators() -> anyhow::Result<(JiraSim, AdoSim)> {
    simulators(JiraSeed::demo(), AdoSeed::demo()).await
}
