//! Jira Cloud admin webhooks (`/rest/webhooks/1.0/webhook`): listed, registered with
//! a secret, and deleted for `ferry activate` / `deactivate`. Every call needs the
//! Administer Jira global permission; without it Jira answers 403 (`Permission`).

use super::JiraConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::webhook::subscription::{Listed, Wanted};
use ferry_domain::{ErrorCategory, PortError};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

const PATH: &str = "rest/webhooks/1.0/webhook";

impl JiraConnector {
    /// Every webhook of the site; its id is the last segment of `self`.
    pub async fn list_webhooks(&self) -> PortResult<Vec<Listed>> {
        let resp = self.http.send(Method::GET, self.http.url(PATH)?, None, None).await?;
        let all: Vec<Value> = resp.json("Jira webhooks")?;
        Ok(all.iter().filter_map(listed).collect())
    }

    /// Registers `want` named `name`, signed with `secret`; answers its id.
    pub async fn register_webhook(&self, name: &str, want: &Wanted, secret: &SecretString) -> PortResult<String> {
        let body = json!({
            "name": name,
            "url": want.url,
            "events": want.events,
            "filters": {"issue-related-events-section": want.filter},
            "excludeBody": false,
            "secret": secret.expose_secret(),
        });
        let resp = self.http.send(Method::POST, self.http.url(PATH)?, Some(&body), None).await?;
        let created: Value = resp.json("Jira webhook")?;
        listed(&created)
            .map(|l| l.id)
            .ok_or_else(|| PortError::new(ErrorCategory::BadResponse, "jira: the created webhook has no `self` id"))
    }

    /// Deletes webhook `id`; answers whether it was there.
    pub async fn delete_webhook(&self, id: &str) -> PortResult<bool> {
        let url = self.http.url(&format!("{PATH}/{}", urlencoding(id)))?;
        match self.http.send(Method::DELETE, url, None, None).await {
            Ok(_) => Ok(true),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn urlencoding(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

fn listed(v: &Value) -> Option<Listed> {
    let id = v["self"].as_str()?.trim_end_matches('/').rsplit('/').next()?.to_string();
    Some(Listed {
        id,
        url: v["url"].as_str().unwrap_or_default().to_string(),
        filter: v["filters"]["issue-related-events-section"].as_str().unwrap_or_default().to_string(),
        events: v["events"].as_array().into_iter().flatten().filter_map(|e| e.as_str().map(str::to_string)).collect(),
    })
}
