//! `CommitLinkStore` on DynamoDB: the repositories and commit links `ferry apply` stores,
//! in the config table next to the work-item systems and integrations.

use super::dynamo::{doc, encode, n, put_versioned, DynamoStore};
use async_trait::async_trait;
use ferry_domain::ports::{CommitLinkStore, PortResult};
use ferry_domain::{CommitLinkRecord, IntegrationId, ScmSystem, SystemId};

/// Sort key of a source-control system (`scm#{id}`).
const SCM: &str = "scm";
/// Sort key of a commit link (`commitlink#{id}`, `version` N).
const COMMIT_LINK: &str = "commitlink";

#[async_trait]
impl CommitLinkStore for DynamoStore {
    async fn put_scm_system(&self, system: &ScmSystem) -> PortResult<()> {
        let what = format!("put_scm_system {}", system.id);
        let item = Self::record(format!("{SCM}#{}", system.id), SCM, encode(system, &what)?);
        self.put(&self.config_table, item, &what).await
    }

    async fn get_scm_system(&self, id: &SystemId) -> PortResult<Option<ScmSystem>> {
        let what = format!("get_scm_system {id}");
        let item = self.get(&self.config_table, format!("{SCM}#{id}"), SCM, &what).await?;
        item.map(|i| doc(&i, &self.config_table)).transpose()
    }

    /// Sorted by id.
    async fn list_scm_systems(&self) -> PortResult<Vec<ScmSystem>> {
        let items = self.scan_kind(SCM, "list_scm_systems").await?;
        let mut out: Vec<ScmSystem> = items.iter().map(|i| doc(i, &self.config_table)).collect::<PortResult<_>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn get_commit_link(&self, id: &IntegrationId) -> PortResult<Option<CommitLinkRecord>> {
        let what = format!("get_commit_link {id}");
        let item = self.get(&self.config_table, format!("{COMMIT_LINK}#{id}"), COMMIT_LINK, &what).await?;
        item.map(|i| doc(&i, &self.config_table)).transpose()
    }

    /// Sorted by id.
    async fn list_commit_links(&self) -> PortResult<Vec<CommitLinkRecord>> {
        let items = self.scan_kind(COMMIT_LINK, "list_commit_links").await?;
        let mut out: Vec<CommitLinkRecord> =
            items.iter().map(|i| doc(i, &self.config_table)).collect::<PortResult<_>>()?;
        out.sort_by(|a, b| a.link.id.cmp(&b.link.id));
        Ok(out)
    }

    /// Stores the record as given (its `version` becomes the stored version) when the
    /// stored version equals `expected_version`.
    async fn put_commit_link(&self, record: &CommitLinkRecord, expected_version: Option<u64>) -> PortResult<()> {
        let id = record.link.id.to_string();
        let what = format!("put_commit_link {id}");
        let mut item = Self::record(format!("{COMMIT_LINK}#{id}"), COMMIT_LINK, encode(record, &what)?);
        item.insert("version".into(), n(record.version));
        put_versioned(&self.client, &self.config_table, item, expected_version, &what, ("commit link", &id)).await
    }
}
