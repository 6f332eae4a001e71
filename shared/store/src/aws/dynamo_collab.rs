//! The collaboration records of linked pairs and the pending relations, on the state
//! table (item layout in the module docs of `aws`).

use super::dynamo::{encode, get_s, get_u64, key, n, s, version_conflict, DynamoStore, Item};
use super::error::{corrupt, sdk_error};
use super::payloads::RECORD_INLINE_MAX;
use super::record_payloads::payload_key;
use super::s3::hex;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use ferry_domain::ports::PortResult;
use ferry_domain::{CollabState, EntityId, IntegrationId, PortError, Side};
use sha2::{Digest, Sha256};

fn collab_pk(i: &IntegrationId, left: &EntityId) -> String {
    format!("collab#{i}#{left}")
}
fn pending_pk(i: &IntegrationId, side: Side, awaited: &EntityId) -> String {
    format!("pending#{i}#{}#{awaited}", side.as_str())
}
const PENDING_SK: &str = "pending#";
fn pending_sk(waiting: &EntityId) -> String {
    format!("{PENDING_SK}{waiting}")
}
/// Where a pair's record is kept when it is too large for an item: one folder per
/// pair (named by a digest, as entity ids are free-form).
fn collab_prefix(pk: &str) -> String {
    format!("collab/{}", hex(&Sha256::digest(pk.as_bytes())))
}

impl DynamoStore {
    pub(super) async fn collab_get(
        &self,
        integration: &IntegrationId,
        left: &EntityId,
    ) -> PortResult<Option<(CollabState, u64)>> {
        let what = format!("get_collab {integration} {left}");
        let table = &*self.state_table;
        let pk = collab_pk(integration, left);
        let Some(item) = self.get(table, pk.clone(), "collab", &what).await? else {
            return Ok(None);
        };
        let version =
            get_u64(&item, "version", table)?.ok_or_else(|| corrupt(table, &pk, "attribute `version` is missing"))?;
        Ok(Some((self.record_of(&item, &what).await?, version)))
    }

    /// One conditional `PutItem`; a record too large for an item goes to the payload
    /// bucket first, and the object of the record it replaced is deleted after.
    pub(super) async fn collab_put(
        &self,
        integration: &IntegrationId,
        left: &EntityId,
        state: &CollabState,
        expected: Option<u64>,
    ) -> PortResult<()> {
        let what = format!("put_collab {integration} {left}");
        let table = &*self.state_table;
        let next = match expected {
            None => 1,
            Some(v) => v
                .checked_add(1)
                .ok_or_else(|| PortError::store(format!("{what}: version {v} cannot be incremented")))?,
        };
        let json = encode(state, &what)?;
        if json.len() > RECORD_INLINE_MAX && self.payloads.is_none() {
            return Err(PortError::store(format!(
                "{what}: the collaboration record of pair {integration} {left} is {} bytes, more than a DynamoDB \
                 item holds, and no payload bucket is configured to keep it",
                json.len()
            )));
        }
        let pk = collab_pk(integration, left);
        let (mut item, written) = self.record_item((pk.clone(), "collab"), json, &collab_prefix(&pk), &what).await?;
        item.insert("version".into(), n(next));
        let put = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", "pk"),
            Some(v) => put
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", n(v)),
        };
        match put.send().await {
            Ok(out) => {
                let replaced = out.attributes.as_ref().and_then(payload_key);
                if replaced != written.as_deref() {
                    self.drop_payload(replaced, &what).await;
                }
                Ok(())
            }
            Err(err) => {
                let Some(PutItemError::ConditionalCheckFailedException(cc)) = err.as_service_error() else {
                    // The put may have happened: its object stays.
                    return Err(sdk_error("DynamoDB", "PutItem", table, &what, err));
                };
                let stored = cc.item();
                if stored.and_then(payload_key) != written.as_deref() {
                    self.drop_payload(written.as_deref(), &what).await;
                }
                let stored_version = stored.and_then(|old| get_u64(old, "version", table).ok().flatten());
                let label = format!("{integration} {left}");
                Err(version_conflict("collaboration record of", &label, expected, stored_version))
            }
        }
    }

    /// One `PutItem` per waiting entity, in the awaited entity's partition.
    pub(super) async fn pending_add(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        let what = format!("add_pending {integration} {} {awaited} waiting {waiting}", side.as_str());
        let item = key(pending_pk(integration, side, awaited), &pending_sk(waiting));
        self.put(&self.state_table, item, &what).await
    }

    /// A strongly consistent `Query` of the awaited entity's partition, all pages; sort
    /// keys order as the waiting ids' bytes.
    pub(super) async fn pending_list(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
    ) -> PortResult<Vec<EntityId>> {
        let what = format!("pending {integration} {} {awaited}", side.as_str());
        let table = &*self.state_table;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :kind)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(pending_pk(integration, side, awaited)))
                .expression_attribute_values(":kind", s(PENDING_SK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "Query", table, &what, e))?;
            for item in page.items.unwrap_or_default() {
                let sk = get_s(&item, "sk", table)?;
                let waiting = sk.strip_prefix(PENDING_SK).unwrap_or(sk);
                out.push(EntityId::new(waiting));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    pub(super) async fn pending_remove(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        let what = format!("remove_pending {integration} {} {awaited} waiting {waiting}", side.as_str());
        let table = &*self.state_table;
        self.client
            .delete_item()
            .table_name(table)
            .set_key(Some(key(pending_pk(integration, side, awaited), &pending_sk(waiting))))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "DeleteItem", table, &what, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_put_the_free_form_entity_ids_last() {
        let i = IntegrationId::parse("app-bugs").expect("valid id");
        assert_eq!(collab_pk(&i, &EntityId::new("a#b")), "collab#app-bugs#a#b");
        assert_eq!(pending_pk(&i, Side::Right, &EntityId::new("7#8")), "pending#app-bugs#right#7#8");
        assert_eq!(pending_sk(&EntityId::new("x#y")), "pending#x#y");
    }

    #[test]
    fn each_pair_keeps_its_oversized_record_under_its_own_prefix() {
        let i = IntegrationId::parse("app-bugs").expect("valid id");
        let (a, b) =
            (collab_prefix(&collab_pk(&i, &EntityId::new("1"))), collab_prefix(&collab_pk(&i, &EntityId::new("2"))));
        assert_ne!(a, b, "two pairs with the same record must not share (and delete) one object");
        assert!(a.starts_with("collab/") && a.len() == "collab/".len() + 64, "{a}");
    }
}
