//! The hook function: behind a Lambda function URL (auth type NONE: it verifies each
//! delivery's signature or credentials itself), it receives `POST /hooks/{system}` as
//! the embedded listener (`ferry run --listen`) does, judges the delivery with
//! [`ferry_runtime::hooks::receive`] and answers as the listener does. For an accepted
//! delivery it has each direction it names polled without waiting for the poll (the
//! poll function, invoked asynchronously): the payload is never used as data.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ferry_domain::webhook::HookRequest;
use ferry_engine::Engine;
use ferry_runtime::hooks::{receive, PollTrigger};
use ferry_runtime::SecretSource;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use tracing::{error, info};

/// What a delivery is judged and answered with.
pub struct Hook<'a> {
    pub engine: &'a Engine,
    pub secrets: &'a dyn SecretSource,
    pub trigger: &'a dyn PollTrigger,
}

/// The parts of a function URL request (payload format 2.0) a delivery needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UrlRequest {
    #[serde(default)]
    raw_path: String,
    /// Lowercase names; a header sent more than once has its values joined by commas.
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
    #[serde(default)]
    request_context: Option<RequestContext>,
}

#[derive(Debug, Deserialize)]
struct RequestContext {
    http: Option<HttpContext>,
}

#[derive(Debug, Deserialize)]
struct HttpContext {
    method: String,
}

/// The system a request is a delivery to, or the answer for a request that is none:
/// only `POST /hooks/{system}` is, as the listener routes.
pub fn route<'a>(method: &str, raw_path: &'a str) -> Result<&'a str, (u16, &'static str)> {
    let system = raw_path.strip_prefix("/hooks/").filter(|s| !s.is_empty() && !s.contains('/'));
    match system {
        None => Err((404, "not_found")),
        Some(_) if !method.eq_ignore_ascii_case("POST") => Err((405, "method_not_allowed")),
        Some(system) => Ok(system),
    }
}

/// Answers one function URL invocation (`event`: the request, payload format 2.0) with
/// the function URL response: the status and `{"outcome": ...}`.
pub async fn handle(hook: &Hook<'_>, event: Value, now: DateTime<Utc>) -> Value {
    let (status, outcome) = answer(hook, event, now).await;
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json!({ "outcome": outcome }).to_string(),
    })
}

async fn answer(hook: &Hook<'_>, event: Value, now: DateTime<Utc>) -> (u16, &'static str) {
    let Ok(request) = serde_json::from_value::<UrlRequest>(event) else {
        return (400, "bad_request");
    };
    let method = request.request_context.as_ref().and_then(|c| c.http.as_ref()).map_or("", |h| h.method.as_str());
    let system = match route(method, &request.raw_path) {
        Ok(system) => system,
        Err(refused) => return refused,
    };
    let body = match (request.body.as_deref().unwrap_or_default(), request.is_base64_encoded) {
        (text, false) => text.as_bytes().to_vec(),
        (encoded, true) => match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(bytes) => bytes,
            Err(_) => return (400, "bad_request"),
        },
    };
    let headers: Vec<(String, String)> = request.headers.into_iter().collect();
    let delivery = HookRequest { headers: &headers, body: &body };
    let answer = receive(hook.engine, hook.secrets, system, &delivery, now).await;
    for (id, flow) in &answer.directions {
        match hook.trigger.poll_soon(id, *flow).await {
            Ok(()) => info!(hook = system, integration = %id, %flow, "poll requested"),
            // The request is recorded: the direction's next scheduled poll takes it.
            Err(e) => error!(hook = system, integration = %id, %flow, "requested poll not started: {e}"),
        }
    }
    (answer.status, answer.outcome)
}

#[cfg(test)]
mod tests;
