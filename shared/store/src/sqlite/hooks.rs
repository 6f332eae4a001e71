//! Webhook bookkeeping: delivery ids seen (replay defence), poll requests, and each
//! hook's deliveries counted per outcome.

use super::{commit, immediate, Ctx, SqliteStore};
use chrono::{DateTime, TimeZone, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::webhook::{HookSubscription, HookTally};
use ferry_domain::PortError;
use ferry_domain::{Flow, IntegrationId};
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

impl SqliteStore {
    pub(super) async fn hook_record_delivery(
        &self,
        hook: &str,
        id: &str,
        at: DateTime<Utc>,
        window: Duration,
    ) -> PortResult<bool> {
        let (hook, id) = (hook.to_string(), id.to_string());
        let at_ms = at.timestamp_millis();
        let cutoff = at_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        self.run(move |conn, _| {
            let what = format!("record_delivery {hook} {id}");
            let tx = immediate(conn, &what)?;
            // Ids past the window are forgotten first, so one seen again after it is new.
            tx.execute("DELETE FROM hook_deliveries WHERE seen_at <= ?1", params![cutoff]).ctx(|| what.clone())?;
            let added = tx
                .execute(
                    "INSERT INTO hook_deliveries (hook, delivery, seen_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (hook, delivery) DO NOTHING",
                    params![hook, id, at_ms],
                )
                .ctx(|| what.clone())?;
            commit(tx, &what)?;
            Ok(added == 1)
        })
        .await
    }

    pub(super) async fn hook_request_poll(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO poll_requests (integration, flow) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![integration, flow.as_str()],
            )
            .ctx(|| format!("request_poll {integration} {flow}"))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn hook_poll_requested(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            let found: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM poll_requests WHERE integration = ?1 AND flow = ?2",
                    params![integration, flow.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .ctx(|| format!("poll_requested {integration} {flow}"))?;
            Ok(found.is_some())
        })
        .await
    }

    pub(super) async fn hook_take_poll_request(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            let removed = conn
                .execute(
                    "DELETE FROM poll_requests WHERE integration = ?1 AND flow = ?2",
                    params![integration, flow.as_str()],
                )
                .ctx(|| format!("take_poll_request {integration} {flow}"))?;
            Ok(removed == 1)
        })
        .await
    }

    /// Counts one delivery; the last time kept is the latest recorded, whatever the order.
    pub(super) async fn hook_tally(&self, hook: &str, outcome: &str, at: DateTime<Utc>) -> PortResult<()> {
        let (hook, outcome) = (hook.to_string(), outcome.to_string());
        let at_ms = at.timestamp_millis();
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO hook_tallies (hook, outcome, count, last_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (hook, outcome) DO UPDATE SET count = count + 1, last_at = MAX(last_at, excluded.last_at)",
                params![hook, outcome, at_ms],
            )
            .ctx(|| format!("tally_hook {hook} {outcome}"))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn hook_tally_list(&self, hook: &str) -> PortResult<Vec<HookTally>> {
        let hook = hook.to_string();
        self.run(move |conn, _| {
            let what = || format!("hook_tallies {hook}");
            let mut stmt = conn
                .prepare("SELECT outcome, count, last_at FROM hook_tallies WHERE hook = ?1 ORDER BY outcome")
                .ctx(what)?;
            let rows = stmt
                .query_map(params![hook], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
                .ctx(what)?;
            let mut out = Vec::new();
            for row in rows {
                let (outcome, count, last_ms) = row.ctx(what)?;
                let last_at = Utc.timestamp_millis_opt(last_ms).single().unwrap_or_default();
                out.push(HookTally { outcome, count: count.max(0) as u64, last_at });
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn hook_subscription_list(
        &self,
        integration: &IntegrationId,
    ) -> PortResult<Vec<HookSubscription>> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            let what = || format!("hook_subscriptions {integration}");
            let body: Option<String> = conn
                .query_row("SELECT body FROM hook_subscriptions WHERE integration = ?1", params![integration], |r| {
                    r.get(0)
                })
                .optional()
                .ctx(what)?;
            match body {
                Some(body) => serde_json::from_str(&body)
                    .map_err(|e| PortError::store(format!("{}: bad JSON: {e}", what())).with_source(e)),
                None => Ok(Vec::new()),
            }
        })
        .await
    }

    pub(super) async fn hook_subscriptions_put(
        &self,
        integration: &IntegrationId,
        subscriptions: &[HookSubscription],
    ) -> PortResult<()> {
        let integration = integration.to_string();
        let what = format!("put_hook_subscriptions {integration}");
        let body = serde_json::to_string(subscriptions)
            .map_err(|e| PortError::store(format!("{what}: {e}")).with_source(e))?;
        let empty = subscriptions.is_empty();
        self.run(move |conn, _| {
            if empty {
                conn.execute("DELETE FROM hook_subscriptions WHERE integration = ?1", params![integration])
            } else {
                conn.execute(
                    "INSERT INTO hook_subscriptions (integration, body) VALUES (?1, ?2)
                     ON CONFLICT (integration) DO UPDATE SET body = excluded.body",
                    params![integration, body],
                )
            }
            .ctx(|| what)?;
            Ok(())
        })
        .await
    }
}
