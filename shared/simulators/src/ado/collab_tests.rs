//! Requests the spec forbids, sent to the collaboration endpoints: each is refused with
//! the service's error and changes nothing. (Unit tests: never captured.)

use super::{AdoSeed, AdoSim};
use serde_json::{json, Value};

const BOT: &str = "ado-bot-pat";

async fn setup() -> (AdoSim, reqwest::Client, u64) {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("starts");
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{}/App/_apis/wit/workitems/$Bug?api-version=7.1", sim.base_url()))
        .basic_auth("", Some(BOT))
        .header("Content-Type", "application/json-patch+json")
        .body(json!([{"op": "add", "path": "/fields/System.Title", "value": "x"}]).to_string())
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    (sim, http, r["id"].as_u64().expect("id"))
}

async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.basic_auth("", Some(BOT)).send().await.expect("answered");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn uploads_need_octet_stream_and_chunks_must_continue_the_file() {
    let (sim, http, _) = setup().await;
    let base = sim.base_url();
    let (status, body) = answer(
        http.post(format!("{base}/_apis/wit/attachments?fileName=a&api-version=7.1"))
            .header("Content-Type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    let (_, reg) = answer(
        http.post(format!("{base}/_apis/wit/attachments?fileName=a&uploadType=Chunked&api-version=7.1"))
            .header("Content-Type", "application/octet-stream"),
    )
    .await;
    let id = reg["id"].as_str().expect("id").to_string();
    let chunk = |range: Option<&str>, len: usize| {
        let mut r = http
            .put(format!("{base}/_apis/wit/attachments/{id}?api-version=7.1"))
            .header("Content-Type", "application/octet-stream")
            .body(vec![0u8; len]);
        if let Some(v) = range {
            r = r.header("Content-Range", v);
        }
        r
    };
    assert_eq!(answer(chunk(None, 10)).await.0, 400, "no Content-Range");
    assert_eq!(answer(chunk(Some("bytes 10-19/30"), 10)).await.0, 400, "does not start at the received size");
    assert_eq!(answer(chunk(Some("bytes 0-9/30"), 5)).await.0, 400, "length differs from the range");
    assert_eq!(answer(chunk(Some("bytes 0-9/30"), 10)).await.0, 201);
    assert_eq!(answer(chunk(Some("bytes 10-19/40"), 10)).await.0, 400, "the total changed");
    let (status, _) = answer(http.get(format!("{base}/_apis/wit/attachments/{id}?api-version=7.1"))).await;
    assert_eq!(status, 404, "an unfinished upload is not served");
}

#[tokio::test]
async fn comment_formats_are_markdown_or_html_and_parent_and_comment_count_are_read_only() {
    let (sim, http, id) = setup().await;
    let base = sim.base_url();
    let (status, _) = answer(
        http.post(format!("{base}/App/_apis/wit/workItems/{id}/comments?format=rtf&api-version=7.1-preview.4"))
            .header("Content-Type", "application/json")
            .body(json!({"text": "x"}).to_string()),
    )
    .await;
    assert_eq!(status, 400);
    for field in ["System.Parent", "System.CommentCount"] {
        let (status, body) = answer(
            http.patch(format!("{base}/App/_apis/wit/workitems/{id}?api-version=7.1"))
                .header("Content-Type", "application/json-patch+json")
                .body(json!([{"op": "add", "path": format!("/fields/{field}"), "value": 1}]).to_string()),
        )
        .await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("ReadOnly"), "{body}");
    }
    assert_eq!(sim.work_item_json(id).expect("item")["rev"], 1);
}

#[tokio::test]
async fn a_work_item_cannot_be_linked_to_itself() {
    let (sim, http, id) = setup().await;
    let value =
        json!({"rel": "System.LinkTypes.Related", "url": format!("{}/_apis/wit/workItems/{id}", sim.base_url())});
    let (status, body) = answer(
        http.patch(format!("{}/App/_apis/wit/workitems/{id}?api-version=7.1", sim.base_url()))
            .header("Content-Type", "application/json-patch+json")
            .body(json!([{"op": "add", "path": "/relations/-", "value": value}]).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(sim.work_item_json(id).expect("item").get("relations").is_none());
}

#[tokio::test]
async fn a_link_gives_its_far_end_an_update_that_keeps_the_revision_and_history_says_so() {
    let (sim, http, a) = setup().await;
    let base = sim.base_url();
    let (_, b) = answer(
        http.post(format!("{base}/App/_apis/wit/workitems/$Bug?api-version=7.1"))
            .header("Content-Type", "application/json-patch+json")
            .body(json!([{"op": "add", "path": "/fields/System.Title", "value": "y"}]).to_string()),
    )
    .await;
    let b = b["id"].as_u64().expect("id");
    let read = |id: u64| http.get(format!("{base}/App/_apis/wit/workitems/{id}?api-version=7.1"));
    let (_, before) = answer(read(b)).await;
    let (status, _) = answer(
        http.patch(format!("{base}/App/_apis/wit/workitems/{a}?api-version=7.1"))
            .header("Content-Type", "application/json-patch+json")
            .body(
                json!([{"op": "add", "path": "/relations/-", "value": {
                    "rel": "System.LinkTypes.Dependency-Forward", "url": format!("{base}/_apis/wit/workItems/{b}")}}])
                .to_string(),
            ),
    )
    .await;
    assert_eq!(status, 200);
    let (_, after) = answer(read(b)).await;
    assert_eq!(after["rev"], before["rev"], "the far end keeps its rev");
    assert_eq!(after["fields"]["System.ChangedDate"], before["fields"]["System.ChangedDate"]);
    let flags = |id: u64| sim.history(id).expect("item").iter().map(|r| r.new_revision).collect::<Vec<_>>();
    assert_eq!(flags(b), [true, false], "the far end's update is no new revision");
    assert_eq!(flags(a), [true, true], "the linked item got one");
}
