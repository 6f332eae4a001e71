//! The backfill each integration last accepted (`ferry activate --since`), on the state
//! table (item layout in the module docs of `aws`). A plan of many thousand items may be
//! larger than an item holds: it then goes to the payload bucket.

use super::dynamo::{encode, DynamoStore};
use super::error::sdk_error;
use super::record_payloads::payload_key;
use super::s3::hex;
use aws_sdk_dynamodb::types::ReturnValue;
use ferry_domain::ports::PortResult;
use ferry_domain::{BackfillRecord, IntegrationId};
use sha2::{Digest, Sha256};

fn backfill_pk(i: &IntegrationId) -> String {
    format!("backfill#{i}")
}
const BACKFILL_SK: &str = "backfill";

impl DynamoStore {
    pub(super) async fn backfill_get(&self, integration: &IntegrationId) -> PortResult<Option<BackfillRecord>> {
        let what = format!("get_backfill {integration}");
        match self.get(&self.state_table, backfill_pk(integration), BACKFILL_SK, &what).await? {
            Some(item) => Ok(Some(self.record_of(&item, &what).await?)),
            None => Ok(None),
        }
    }

    /// One `PutItem`; the payload object of the record it replaced is deleted after.
    pub(super) async fn backfill_put(&self, record: &BackfillRecord) -> PortResult<()> {
        let what = format!("put_backfill {}", record.integration);
        let table = &*self.state_table;
        let pk = backfill_pk(&record.integration);
        let prefix = format!("backfills/{}", hex(&Sha256::digest(pk.as_bytes())));
        let (item, written) = self.record_item((pk, BACKFILL_SK), encode(record, &what)?, &prefix, &what).await?;
        let out = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "PutItem", table, &what, e))?;
        let replaced = out.attributes.as_ref().and_then(payload_key);
        if replaced != written.as_deref() {
            self.drop_payload(replaced, &what).await;
        }
        Ok(())
    }
}
