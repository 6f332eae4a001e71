//! People: identities by e-mail (the integration user, look-ups remembered for a while
//! when absent), and the users seen on a project's recent work items.

use super::wire::{identity_ref, Identity, ListOf};
use super::{config_err, wiql, AdoConnector, BATCH};
use ferry_domain::ports::PortResult;
use ferry_domain::UserRef;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long an e-mail with no identity is remembered as absent.
const NEGATIVE_USER_TTL: Duration = Duration::from_secs(300);

impl AdoConnector {
    pub(super) async fn lookup_identity(&self, email: &str) -> PortResult<Option<UserRef>> {
        let url = self.api(
            &self.identity_base,
            &["_apis", "identities"],
            &[("searchFilter", "General"), ("filterValue", email), ("queryMembership", "None")],
        )?;
        let list: ListOf<Identity> = self.get_json(url, "ADO identities").await?;
        let mut matches: Vec<UserRef> =
            list.value.iter().filter(|i| i.is_user() && i.matches_email(email)).map(Identity::to_user).collect();
        matches.sort();
        matches.dedup_by(|a, b| a.id == b.id);
        Ok(match matches.len() {
            1 => matches.pop(),
            _ => None,
        })
    }

    pub(super) async fn me(&self) -> PortResult<UserRef> {
        self.me
            .get_or_try_init(|| async {
                self.lookup_identity(&self.integration_email).await?.ok_or_else(|| {
                    config_err(format!(
                        "{}: integration_user {} is not exactly one identity in the organization",
                        self.system, self.integration_email
                    ))
                })
            })
            .await
            .cloned()
    }

    pub(super) async fn user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        let email = email.trim();
        if email.is_empty() || !email.contains('@') {
            return Ok(None);
        }
        let key = email.to_ascii_lowercase();
        if let Some((hit, at)) = self.users.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if hit.is_some() || at.elapsed() < NEGATIVE_USER_TTL {
                return Ok(hit);
            }
        }
        let found = self.lookup_identity(email).await?;
        if let Ok(mut m) = self.users.lock() {
            m.insert(key, (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    pub(super) async fn list_users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        let r = self.run_wiql(project, wiql::newest_query(None), BATCH).await?;
        let ids: Vec<u64> = r.work_items.iter().map(|w| w.id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let fields: Vec<String> = ["System.Id", "System.AssignedTo", "System.CreatedBy", "System.ChangedBy"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let items = self.read_batch(project, &ids, &fields).await?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for item in &items {
            for f in &fields[1..] {
                if let Some(u) = item.fields.get(f.as_str()).and_then(identity_ref) {
                    if seen.insert(u.id.clone()) {
                        out.push(u);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}
