//! [`StateStore::overview`](ferry_domain::ports::StateStore::overview) on DynamoDB:
//! the watermark, counter and link-count items of all the integrations in
//! `BatchGetItem`s (100 keys each: 5 items per integration), and the minute buckets one
//! `Query` per direction with up to [`PACE_QUERIES`] in flight, each direction's pace
//! worked out of them here.

use super::dynamo::{get_s, get_u64, DynamoStore};
use super::dynamo_state::{count_pk, flow_counts, linkcount_pk, watermark, wm_pk};
use chrono::{DateTime, Utc};
use ferry_domain::activity::flow_pace;
use ferry_domain::ports::PortResult;
use ferry_domain::{Flow, IntegrationId, PaceWindow, PortError, StateOverview};
use std::collections::HashMap;
use tokio::task::JoinSet;

/// Minute-bucket queries in flight at once.
const PACE_QUERIES: usize = 16;

/// What an item of the batch read is.
enum Kind {
    Watermark(IntegrationId, Flow),
    Counts(IntegrationId, Flow),
    Links(IntegrationId),
}

impl DynamoStore {
    pub(super) async fn overview_read(
        &self,
        integrations: &[IntegrationId],
        pace: Option<PaceWindow>,
    ) -> PortResult<StateOverview> {
        let what = format!("overview of {} integrations", integrations.len());
        let table = &*self.state_table;
        let mut kinds: HashMap<String, Kind> = HashMap::new();
        let mut keys = Vec::new();
        for i in integrations {
            for flow in Flow::BOTH {
                keys.push((wm_pk(i, flow), "wm"));
                kinds.insert(wm_pk(i, flow), Kind::Watermark(i.clone(), flow));
                keys.push((count_pk(i, flow), "count"));
                kinds.insert(count_pk(i, flow), Kind::Counts(i.clone(), flow));
            }
            keys.push((linkcount_pk(i), "linkcount"));
            kinds.insert(linkcount_pk(i), Kind::Links(i.clone()));
        }
        let mut out = StateOverview::default();
        for item in self.batch_get(keys, true, &what).await? {
            match kinds.remove(get_s(&item, "pk", table)?) {
                Some(Kind::Watermark(i, flow)) => {
                    out.watermarks.insert((i, flow), watermark(&item, table)?);
                }
                Some(Kind::Counts(i, flow)) => {
                    out.counts.insert((i, flow), flow_counts(&item, table)?);
                }
                Some(Kind::Links(i)) => {
                    out.links.insert(i, get_u64(&item, "n", table)?.unwrap_or(0));
                }
                None => {}
            }
        }
        if let Some(w) = pace {
            let buckets = self.pace_of_all(integrations, w.since).await?;
            out.pace =
                buckets.into_iter().filter(|(_, b)| !b.is_empty()).map(|(k, b)| (k, flow_pace(&b, w.now))).collect();
        }
        Ok(out)
    }

    /// Every direction's minute buckets since `since`, [`PACE_QUERIES`] queries at once.
    async fn pace_of_all(
        &self,
        integrations: &[IntegrationId],
        since: DateTime<Utc>,
    ) -> PortResult<HashMap<(IntegrationId, Flow), Vec<ferry_domain::PaceBucket>>> {
        let mut todo: Vec<(IntegrationId, Flow)> =
            integrations.iter().flat_map(|i| Flow::BOTH.map(|f| (i.clone(), f))).collect();
        let mut out = HashMap::new();
        let mut running = JoinSet::new();
        loop {
            while running.len() < PACE_QUERIES {
                let Some((i, flow)) = todo.pop() else { break };
                let store = self.clone();
                running.spawn(async move {
                    let buckets = store.pace_list(&i, flow, since).await;
                    ((i, flow), buckets)
                });
            }
            let Some(done) = running.join_next().await else { return Ok(out) };
            let (key, buckets) =
                done.map_err(|e| PortError::store(format!("overview: a minute-bucket query failed to run: {e}")))?;
            out.insert(key, buckets?);
        }
    }
}
