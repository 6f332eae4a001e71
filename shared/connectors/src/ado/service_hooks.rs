//! Azure DevOps service hook subscriptions (`{org}/_apis/hooks/subscriptions`, 7.1):
//! listed, created (publisher `tfs`, consumer `webHooks`, action `httpRequest`, limited
//! to one project) and deleted for `ferry activate` / `deactivate`. The credentials a
//! delivery carries go to the service on create and are never read back (it masks them).

use super::AdoConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::webhook::subscription::{Listed, Wanted};
use ferry_domain::{ErrorCategory, PortError};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

/// What a delivery of the subscription carries: basic-auth credentials and/or a
/// custom header (name, value), as the system's `webhook:` says.
pub struct HookCredentials {
    pub basic: Option<(String, SecretString)>,
    pub header: Option<(String, SecretString)>,
}

impl AdoConnector {
    /// The id of project `name` (subscriptions filter on the id).
    pub async fn project_id(&self, name: &str) -> PortResult<String> {
        let v: Value = self.get_json(self.org_api(&["_apis", "projects", name], &[])?, "ADO project").await?;
        v["id"].as_str().map(str::to_string).ok_or_else(|| {
            PortError::new(ErrorCategory::BadResponse, format!("{}: project {name:?} has no id", self.system))
        })
    }

    /// Every service hook subscription of the organization; `filter` is its project id.
    pub async fn list_service_hooks(&self) -> PortResult<Vec<Listed>> {
        let v: Value =
            self.get_json(self.org_api(&["_apis", "hooks", "subscriptions"], &[])?, "ADO subscriptions").await?;
        Ok(v["value"].as_array().into_iter().flatten().filter_map(listed).collect())
    }

    /// Creates the subscription `want` (one event type, `filter` the project id); answers its id.
    pub async fn create_service_hook(&self, want: &Wanted, creds: &HookCredentials) -> PortResult<String> {
        let event = want.events.first().map(String::as_str).unwrap_or_default();
        let mut inputs = json!({"url": want.url, "resourceDetailsToSend": "all"});
        if let Some((user, password)) = &creds.basic {
            inputs["basicAuthUsername"] = json!(user);
            inputs["basicAuthPassword"] = json!(password.expose_secret());
        }
        if let Some((name, value)) = &creds.header {
            inputs["httpHeaders"] = json!(format!("{name}:{}", value.expose_secret()));
        }
        let body = json!({
            "publisherId": "tfs",
            "eventType": event,
            "resourceVersion": if event == "workitem.commented" { "1.0-preview.1" } else { "1.0" },
            "consumerId": "webHooks",
            "consumerActionId": "httpRequest",
            "publisherInputs": {"projectId": want.filter},
            "consumerInputs": inputs,
        });
        let url = self.org_api(&["_apis", "hooks", "subscriptions"], &[])?;
        let created: Value = self.send_json(Method::POST, url, &body, None, "ADO subscription").await?;
        created["id"].as_str().map(str::to_string).ok_or_else(|| {
            PortError::new(ErrorCategory::BadResponse, format!("{}: the created subscription has no id", self.system))
        })
    }

    /// Deletes subscription `id`; answers whether it was there.
    pub async fn delete_service_hook(&self, id: &str) -> PortResult<bool> {
        let url = self.org_api(&["_apis", "hooks", "subscriptions", id], &[])?;
        match self.http.send(Method::DELETE, url, None, None).await {
            Ok(_) => Ok(true),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn listed(v: &Value) -> Option<Listed> {
    Some(Listed {
        id: v["id"].as_str()?.to_string(),
        url: v["consumerInputs"]["url"].as_str().unwrap_or_default().to_string(),
        filter: v["publisherInputs"]["projectId"].as_str().unwrap_or_default().to_string(),
        events: v["eventType"].as_str().map(|e| vec![e.to_string()]).unwrap_or_default(),
    })
}
