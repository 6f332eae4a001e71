//! Requests to Redmine's REST API: URLs under the Redmine root, and `GET`s decoded
//! into `wire` types.

use super::RedmineConnector;
use ferry_domain::ports::PortResult;
use reqwest::Method;
use url::Url;

impl RedmineConnector {
    pub(super) fn url(&self, path: &str, query: &[(&str, &str)]) -> PortResult<Url> {
        let mut url = self.http.url(path)?;
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    pub(super) fn issue_url(&self, id: u64) -> String {
        self.base.join(&format!("issues/{id}")).map(|u| u.to_string()).unwrap_or_default()
    }

    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(&self, url: Url, what: &str) -> PortResult<T> {
        self.http.send(Method::GET, url, None, None).await?.json(what)
    }
}
