//! Requests to `/rest/api/3`: URLs with escaped segments, and sends whose answers are
//! decoded into `wire` types (a body of another shape is a `BadResponse` naming the
//! endpoint and field).

use super::{wire, JiraConnector};
use crate::http::HttpResponse;
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, PortError};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

impl JiraConnector {
    /// `rest/api/3/{segments...}?{query}`, each segment percent-encoded.
    pub(super) fn api(&self, segments: &[&str], query: &[(&str, String)]) -> PortResult<Url> {
        let mut url = self.http.url("rest/api/3/")?;
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| PortError::new(ErrorCategory::Config, "jira base URL cannot take a path"))?;
            segs.pop_if_empty();
            for s in segments {
                segs.push(s);
            }
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// A request whose answer Ferry does not read (writes answering 204, or an id it
    /// already knows).
    pub(super) async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> PortResult<HttpResponse> {
        self.http.send(method, url, body, None).await
    }

    /// `GET` of an object.
    pub(super) async fn get_json<T: DeserializeOwned>(&self, url: Url, endpoint: &str) -> PortResult<T> {
        let resp = self.send(Method::GET, url, None).await?;
        wire::object(&resp.body, endpoint)
    }

    /// `GET` of an array.
    pub(super) async fn get_json_list<T: DeserializeOwned>(&self, url: Url, endpoint: &str) -> PortResult<Vec<T>> {
        let resp = self.send(Method::GET, url, None).await?;
        wire::list(&resp.body, endpoint)
    }

    /// `POST` answered by an object.
    pub(super) async fn post_json<T: DeserializeOwned>(&self, url: Url, body: &Value, endpoint: &str) -> PortResult<T> {
        let resp = self.send(Method::POST, url, Some(body)).await?;
        wire::object(&resp.body, endpoint)
    }
}

#[cfg(test)]
mod tests {
    use crate::jira::test_support::connector;

    #[test]
    fn api_urls_escape_path_segments_and_query() {
        let c = connector();
        let u = c.api(&["issue", "APP 1/x", "remotelink"], &[("globalId", "a&b=c".into())]).unwrap();
        assert_eq!(u.as_str(), "https://acme.atlassian.net/rest/api/3/issue/APP%201%2Fx/remotelink?globalId=a%26b%3Dc");
    }
}
