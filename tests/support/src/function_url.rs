//! A loopback HTTP server standing in for a Lambda function URL (emulators cannot run
//! Lambda code): each request becomes the function URL event, payload format 2.0, and
//! the function's response object becomes the HTTP answer again.

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};

/// The function URL event of a request, as AWS documents payload format 2.0: lowercase
/// header names, a text body as is and any other base64-encoded.
pub fn url_event(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), Value::String(v.to_str().ok()?.to_string()))))
        .collect();
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or_default(), "headers": headers,
        "requestContext": {"http": {"method": method.as_str(), "path": uri.path(), "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1"}},
        "body": body, "isBase64Encoded": encoded,
    })
}

/// The HTTP answer of a function's response object (`statusCode`, `headers`, `body`);
/// 502 when it names no valid status, as a function URL answers.
pub fn http_response(response: &Value) -> Response {
    let status = response["statusCode"].as_u64().and_then(|s| StatusCode::from_u16(s as u16).ok());
    let body = response["body"].as_str().unwrap_or_default().to_string();
    let ctype = response["headers"]["content-type"].as_str().unwrap_or("text/plain").to_string();
    (status.unwrap_or(StatusCode::BAD_GATEWAY), [(axum::http::header::CONTENT_TYPE, ctype)], body).into_response()
}

/// Serves `app` on a loopback port of its own; answers its base URL and the server task
/// (abort it to stop).
pub async fn serve_loopback(app: axum::Router) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, task))
}
