//! Requests the spec forbids, sent to the collaboration endpoints: each is refused with
//! Jira's answer and changes nothing. (Unit tests: never captured for the contract check.)

use super::{JiraSeed, JiraSim};
use serde_json::{json, Value};

const BOT: (&str, &str) = ("ferry-bot@acme.test", "jira-bot-token");

async fn setup() -> (JiraSim, reqwest::Client, String) {
    let sim = JiraSim::start(JiraSeed::demo()).await.expect("starts");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/rest/api/3/issue", sim.base_url()))
        .basic_auth(BOT.0, Some(BOT.1))
        .json(&json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Task"}, "summary": "x"}}))
        .send()
        .await
        .expect("created");
    let key = r.json::<Value>().await.expect("json")["key"].as_str().expect("key").to_string();
    (sim, http, key)
}

async fn send(r: reqwest::RequestBuilder) -> (u16, String) {
    let r = r.basic_auth(BOT.0, Some(BOT.1)).send().await.expect("answered");
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test]
async fn an_upload_without_the_xsrf_header_or_a_file_part_is_refused() {
    let (sim, http, key) = setup().await;
    let url = format!("{}/rest/api/3/issue/{key}/attachments", sim.base_url());
    let form = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhi\r\n--B--\r\n";
    let (status, body) =
        send(http.post(&url).header("Content-Type", "multipart/form-data; boundary=B").body(form)).await;
    assert_eq!((status, body.as_str()), (403, "XSRF check failed"));
    let (status, _) = send(
        http.post(&url).header("X-Atlassian-Token", "no-check").header("Content-Type", "application/json").body("{}"),
    )
    .await;
    assert_eq!(status, 415);
    let other = "--B\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\r\nhi\r\n--B--\r\n";
    let (status, body) = send(
        http.post(&url)
            .header("X-Atlassian-Token", "no-check")
            .header("Content-Type", "multipart/form-data; boundary=B")
            .body(other),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("'file'"), "{body}");
    let issue = sim.issue_json(&key).expect("issue");
    assert_eq!(issue["fields"]["attachment"], json!([]));
}

#[tokio::test]
async fn comments_need_an_adf_body_and_lists_order_by_created_only() {
    let (sim, http, key) = setup().await;
    let url = format!("{}/rest/api/3/issue/{key}/comment", sim.base_url());
    for body in
        [json!({"body": "plain text"}), json!({}), json!({"body": {"type": "doc", "version": 1, "content": []}})]
    {
        let (status, text) = send(http.post(&url).json(&body)).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains("\"comment\""), "{text}");
    }
    let (status, _) = send(http.get(format!("{url}?orderBy=updated"))).await;
    assert_eq!(status, 400);
    let (status, _) =
        send(http.post(format!("{}/rest/api/3/comment/list", sim.base_url())).json(&json!({"ids": []}))).await;
    assert_eq!(status, 400);
    assert_eq!(sim.issue_json(&key).expect("issue")["fields"]["comment"]["total"], 0);
}

#[tokio::test]
async fn comment_property_values_must_be_json_of_at_most_32768_bytes() {
    let (sim, http, key) = setup().await;
    let c: Value = http
        .post(format!("{}/rest/api/3/issue/{key}/comment", sim.base_url()))
        .basic_auth(BOT.0, Some(BOT.1))
        .json(&json!({"body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "c"}]}]}}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    let url = format!("{}/rest/api/3/comment/{}/properties/p", sim.base_url(), c["id"].as_str().expect("id"));
    let (status, _) = send(http.put(&url).header("Content-Type", "application/json").body("not json")).await;
    assert_eq!(status, 400);
    let big = format!("\"{}\"", "x".repeat(32_768));
    let (status, _) = send(http.put(&url).header("Content-Type", "application/json").body(big)).await;
    assert_eq!(status, 400);
    let (status, _) = send(http.get(&url)).await;
    assert_eq!(status, 404, "nothing was stored");
}

#[tokio::test]
async fn an_issue_type_cannot_move_to_another_hierarchy_level_and_links_need_two_issues() {
    let (sim, http, key) = setup().await;
    let url = format!("{}/rest/api/3/issue/{key}", sim.base_url());
    let (status, body) = send(http.put(&url).json(&json!({"fields": {"issuetype": {"name": "Epic"}}}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("hierarchy level"), "{body}");
    let (status, _) = send(http.put(&url).json(&json!({"update": {"parent": [{"add": {"key": key}}]}}))).await;
    assert_eq!(status, 400);
    let link = json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": key}});
    let (status, body) = send(http.post(format!("{}/rest/api/3/issueLink", sim.base_url())).json(&link)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(sim.issue_json(&key).expect("issue")["fields"]["issuelinks"], json!([]));
    assert_eq!(sim.issue_json(&key).expect("issue")["fields"]["issuetype"]["name"], "Task");
}

#[tokio::test]
async fn media_downloads_need_the_redirects_token() {
    let (sim, http, key) = setup().await;
    let form = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhi\r\n--B--\r\n";
    let made: Value = http
        .post(format!("{}/rest/api/3/issue/{key}/attachments", sim.base_url()))
        .basic_auth(BOT.0, Some(BOT.1))
        .header("X-Atlassian-Token", "no-check")
        .header("Content-Type", "multipart/form-data; boundary=B")
        .body(form)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    let media = sim.attachment_media_id(made[0]["id"].as_str().expect("id")).expect("media id");
    let r = reqwest::get(format!("{}/media/file/{media}/binary?token=wrong", sim.base_url())).await.expect("answered");
    assert_eq!(r.status().as_u16(), 401);
}
