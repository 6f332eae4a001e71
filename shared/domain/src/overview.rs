//! What the integrations overview reads of the state store, for many integrations at
//! once: each direction's watermark, counters and minute buckets, and each
//! integration's link count ([`crate::ports::StateStore::overview`]). Absent records
//! read as their empty values, as the single reads answer them.

use crate::activity::PaceBucket;
use crate::ids::IntegrationId;
use crate::message::{FlowCounts, Watermark};
use crate::model::Flow;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateOverview {
    pub watermarks: HashMap<(IntegrationId, Flow), Watermark>,
    pub counts: HashMap<(IntegrationId, Flow), FlowCounts>,
    pub links: HashMap<IntegrationId, u64>,
    /// Minute buckets from the overview's `pace_since` on, oldest first; none read when
    /// it was not asked for.
    pub pace: HashMap<(IntegrationId, Flow), Vec<PaceBucket>>,
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
    pub fn pace(&self, integration: &IntegrationId, flow: Flow) -> &[PaceBucket] {
        self.pace.get(&(integration.clone(), flow)).map_or(&[], Vec::as_slice)
    }
}
