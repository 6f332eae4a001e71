//! The backfill each integration last accepted (`ferry activate --since`): one JSON row
//! per integration, replaced by the next.

use super::{decode, encode, Ctx, SqliteStore};
use ferry_domain::ports::PortResult;
use ferry_domain::{BackfillRecord, IntegrationId};
use rusqlite::{params, OptionalExtension};

impl SqliteStore {
    pub(super) async fn backfill_get(&self, integration: &IntegrationId) -> PortResult<Option<BackfillRecord>> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            let body: Option<String> = conn
                .query_row("SELECT body FROM backfills WHERE integration = ?1", params![integration], |r| r.get(0))
                .optional()
                .ctx(|| format!("get_backfill {integration}"))?;
            body.map(|b| decode(&b, "backfills", &integration)).transpose()
        })
        .await
    }

    pub(super) async fn backfill_put(&self, record: &BackfillRecord) -> PortResult<()> {
        let integration = record.integration.to_string();
        let what = format!("put_backfill {integration}");
        let body = encode(record, &what)?;
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO backfills (integration, body) VALUES (?1, ?2)
                 ON CONFLICT (integration) DO UPDATE SET body = excluded.body",
                params![integration, body],
            )
            .ctx(|| what)?;
            Ok(())
        })
        .await
    }
}
