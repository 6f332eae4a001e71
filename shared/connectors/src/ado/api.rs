//! Requests to Azure DevOps: URLs under the organization (and the identities host)
//! with `api-version=7.1`, and sends whose answers are decoded into `wire` types.

use super::{config_err, refine, AdoConnector, API_VERSION};
use ferry_domain::ports::PortResult;
use reqwest::Method;
use serde_json::Value;
use url::Url;

impl AdoConnector {
    /// `{base}{segments...}?{query}&api-version=7.1`, each segment percent-encoded.
    pub(super) fn api(&self, root: &Url, segments: &[&str], query: &[(&str, &str)]) -> PortResult<Url> {
        let mut url = root.clone();
        url.path_segments_mut()
            .map_err(|_| config_err(format!("{}: base URL cannot hold a path", self.system)))?
            .pop_if_empty()
            .extend(segments);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("api-version", API_VERSION);
        }
        Ok(url)
    }

    pub(super) fn org_api(&self, segments: &[&str], query: &[(&str, &str)]) -> PortResult<Url> {
        self.api(&self.base, segments, query)
    }

    pub(super) fn wit(&self, project: &str, rest: &[&str], query: &[(&str, &str)]) -> PortResult<Url> {
        let mut segs = vec![project, "_apis", "wit"];
        segs.extend_from_slice(rest);
        self.org_api(&segs, query)
    }

    pub(super) fn entity_url(&self, project: &str, id: u64) -> String {
        let mut url = self.base.clone();
        if let Ok(mut s) = url.path_segments_mut() {
            s.pop_if_empty().extend([project, "_workitems", "edit", &id.to_string()]);
        }
        url.to_string()
    }

    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(&self, url: Url, what: &str) -> PortResult<T> {
        let resp = self.http.send(Method::GET, url, None, None).await?;
        resp.json(what)
    }

    pub(super) async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: &Value,
        content_type: Option<&str>,
        what: &str,
    ) -> PortResult<T> {
        let resp = self.http.send(method, url, Some(body), content_type).await.map_err(refine)?;
        resp.json(what)
    }
}
