//! What the integrations overview reads of the state store, for many integrations at
//! once: each direction's watermark, counters and pace, and each
//! integration's link count ([`crate::ports::StateStore::overview`]). Absent records
//! read as their empty values, as the single reads answer them.

use crate::activity::FlowPace;
use crate::ids::IntegrationId;
use crate::message::{FlowCounts, Watermark};
use crate::model::Flow;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateOverview {
    pub watermarks: HashMap<(IntegrationId, Flow), Watermark>,
    pub counts: HashMap<(IntegrationId, Flow), FlowCounts>,
    pub links: HashMap<IntegrationId, u64>,
    /// Each direction's pace over the overview's [`crate::PaceWindow`]: what
    /// [`crate::activity::flow_pace`] makes of its minute buckets (the store may add them
    /// up where they are kept, so the buckets themselves are not handed over). Empty when
    /// no window was asked for; a direction without buckets is absent.
    pub pace: HashMap<(IntegrationId, Flow), FlowPace>,
}

impl StateOverview {
    pub fn watermark(&self, integration: &IntegrationId, flow: Flow) -> Option<&Watermark> {
        self.watermarks.get(&(integration.clone(), flow))
    }
    pub fn counts(&self, integration: &IntegrationId, flow: Flow) -> FlowCounts {
        self.counts.get(&(integration.clone(), flow)).copied().unwrap_or_default()
    }
    pub fn links(&self, integration: &IntegrationId) -> u64 {
        self.links.get(integration).copied().unwrap_or(0)
    }
    /// A direction's pace (that of no buckets when it has none).
    pub fn pace(&self, integration: &IntegrationId, flow: Flow) -> FlowPace {
        self.pace.get(&(integration.clone(), flow)).copied().unwrap_or_default()
    }
}
