//! Discovery covers every route the router serves, with the service's templates, and answers
//! in the shapes the official clients parse.

use super::*;
use crate::ado::{AdoSeed, AdoSim};
use std::collections::BTreeSet;

const PAT: &str = "ado-alice-pat";

/// Every route of `route()` in mod.rs: (method, the router's slice pattern with bindings
/// written `_`, a request path after the organization, the location id a client uses for it).
const SERVED: &[(&str, &str, &str, &str)] = &[
    ("POST", r#"["wit","wiql"]"#, "App/App Team/_apis/wit/wiql", "1a9c53f7-f243-4447-b110-35ef023636e4"),
    ("POST", r#"["wit","workitemsbatch"]"#, "App/_apis/wit/workitemsbatch", "908509b6-4248-4475-a1cd-829139ba419f"),
    ("GET", r#"["wit","workitems"]"#, "App/_apis/wit/workitems", "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b"),
    ("POST", r#"["wit","workitems",_]"#, "App/_apis/wit/workitems/$Task", "62d3d110-0047-428c-ad3c-4fe872c91c74"),
    ("GET", r#"["wit","workitems",_]"#, "App/_apis/wit/workitems/1", "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b"),
    ("PATCH", r#"["wit","workitems",_]"#, "_apis/wit/workitems/1", "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b"),
    ("DELETE", r#"["wit","workitems",_]"#, "App/_apis/wit/workitems/1", "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b"),
    (
        "GET",
        r#"["wit","workitems",_,"updates"]"#,
        "App/_apis/wit/workItems/1/updates",
        "6570bf97-d02c-4a91-8d93-3abe9895b1a9",
    ),
    (
        "GET",
        r#"["wit","workitems",_,"updates",_]"#,
        "_apis/wit/workItems/1/updates/1",
        "6570bf97-d02c-4a91-8d93-3abe9895b1a9",
    ),
    (
        "GET",
        r#"["wit","workitems",_,"revisions"]"#,
        "App/_apis/wit/workItems/1/revisions",
        "a00c85a5-80fa-4565-99c3-bcd2181434bb",
    ),
    (
        "GET",
        r#"["wit","workitems",_,"revisions",_]"#,
        "App/_apis/wit/workItems/1/revisions/1",
        "a00c85a5-80fa-4565-99c3-bcd2181434bb",
    ),
    (
        "GET",
        r#"["wit","workitems",_,"comments"]"#,
        "App/_apis/wit/workItems/1/comments",
        "608aac0a-32e1-4493-a863-b9cf4566d257",
    ),
    (
        "POST",
        r#"["wit","workitems",_,"comments"]"#,
        "App/_apis/wit/workItems/1/comments",
        "608aac0a-32e1-4493-a863-b9cf4566d257",
    ),
    (
        "GET",
        r#"["wit","workitems",_,"comments",_]"#,
        "App/_apis/wit/workItems/1/comments/1",
        "608aac0a-32e1-4493-a863-b9cf4566d257",
    ),
    (
        "PATCH",
        r#"["wit","workitems",_,"comments",_]"#,
        "App/_apis/wit/workItems/1/comments/1",
        "608aac0a-32e1-4493-a863-b9cf4566d257",
    ),
    (
        "DELETE",
        r#"["wit","workitems",_,"comments",_]"#,
        "App/_apis/wit/workItems/1/comments/1",
        "608aac0a-32e1-4493-a863-b9cf4566d257",
    ),
    (
        "GET",
        r#"["wit","workitems",_,"comments",_,"versions"]"#,
        "App/_apis/wit/workItems/1/comments/1/versions",
        "49e03b34-3be0-42e3-8a5d-e8dfb88ac954",
    ),
    (
        "GET",
        r#"["wit","workitems",_,"comments",_,"versions",_]"#,
        "App/_apis/wit/workItems/1/comments/1/versions/1",
        "49e03b34-3be0-42e3-8a5d-e8dfb88ac954",
    ),
    ("POST", r#"["wit","attachments"]"#, "App/_apis/wit/attachments", "e07b5fa4-1499-494d-a496-64b860fd64ff"),
    (
        "PUT",
        r#"["wit","attachments",_]"#,
        "App/_apis/wit/attachments/0b7c0f3e-4a1e-4a8b-9a55-3b0c8f1e2d4a",
        "e07b5fa4-1499-494d-a496-64b860fd64ff",
    ),
    (
        "GET",
        r#"["wit","attachments",_]"#,
        "_apis/wit/attachments/0b7c0f3e-4a1e-4a8b-9a55-3b0c8f1e2d4a",
        "e07b5fa4-1499-494d-a496-64b860fd64ff",
    ),
    ("GET", r#"["wit","recyclebin"]"#, "App/_apis/wit/recyclebin", "b70d8d39-926c-465e-b927-b1bf0e5ca0e0"),
    ("GET", r#"["wit","recyclebin",_]"#, "App/_apis/wit/recyclebin/1", "b70d8d39-926c-465e-b927-b1bf0e5ca0e0"),
    (
        "GET",
        r#"["wit","workitemrelationtypes"]"#,
        "_apis/wit/workitemrelationtypes",
        "f5d33bc9-5b49-4a3c-a9bd-f3cd46dd2165",
    ),
    (
        "GET",
        r#"["wit","workitemrelationtypes",_]"#,
        "_apis/wit/workitemrelationtypes/System.LinkTypes.Related",
        "f5d33bc9-5b49-4a3c-a9bd-f3cd46dd2165",
    ),
    ("GET", r#"["wit","fields"]"#, "_apis/wit/fields", "b51fd764-e5c2-4b9b-aaf7-3395cf4bdd94"),
    ("GET", r#"["wit","fields",_]"#, "App/_apis/wit/fields/System.Title", "b51fd764-e5c2-4b9b-aaf7-3395cf4bdd94"),
    ("GET", r#"["wit","workitemtypes"]"#, "App/_apis/wit/workitemtypes", "7c8d7a76-4a09-43e8-b5df-bd792f4ac6aa"),
    ("GET", r#"["wit","workitemtypes",_]"#, "App/_apis/wit/workitemtypes/Task", "7c8d7a76-4a09-43e8-b5df-bd792f4ac6aa"),
    (
        "GET",
        r#"["wit","workitemtypes",_,"states"]"#,
        "App/_apis/wit/workitemtypes/Task/states",
        "7c9d7a76-4a09-43e8-b5df-bd792f4ac6aa",
    ),
    (
        "GET",
        r#"["wit","workitemtypes",_,"fields"]"#,
        "App/_apis/wit/workitemtypes/Task/fields",
        "bd293ce5-3d25-4192-8e67-e8092e879efb",
    ),
    (
        "GET",
        r#"["wit","workitemtypes",_,"fields",_]"#,
        "App/_apis/wit/workitemtypes/Task/fields/System.Title",
        "bd293ce5-3d25-4192-8e67-e8092e879efb",
    ),
    ("GET", r#"["projects"]"#, "_apis/projects", "603fe2ac-9723-48b9-88ad-09305aa6c6e1"),
    ("GET", r#"["projects",_]"#, "_apis/projects/App", "603fe2ac-9723-48b9-88ad-09305aa6c6e1"),
    ("GET", r#"["identities"]"#, "_apis/identities", "28010c54-d0c0-4c89-a5b0-1c9e188b9fb7"),
    ("POST", r#"["hooks","subscriptions"]"#, "_apis/hooks/subscriptions", HOOKS),
    ("GET", r#"["hooks","subscriptions"]"#, "_apis/hooks/subscriptions", HOOKS),
    ("GET", r#"["hooks","subscriptions",_]"#, "_apis/hooks/subscriptions/00ca946b", HOOKS),
    ("DELETE", r#"["hooks","subscriptions",_]"#, "_apis/hooks/subscriptions/00ca946b", HOOKS),
];

/// Areas served on the organization's own host whose clients ask no resource area for
/// them (`resource_area_identifier = None` in the official clients).
const HOST_AREAS: &[&str] = &["Location", "hooks"];

const HOOKS: &str = "fc50d02a-849f-41fb-8af1-0a5216103269";

/// The (method, pattern) arms of `route()`, read from its source so that a route added
/// there without a discovery entry fails `every_routed_resource_is_in_the_served_table`.
fn router_arms() -> BTreeSet<(String, String)> {
    let src = include_str!("mod.rs");
    let body = &src[src.find("\nfn route(").expect("route() in mod.rs")..];
    let mut arms = BTreeSet::new();
    for (at, _) in body.match_indices("(Method::") {
        let rest = &body[at + "(Method::".len()..];
        let Some((method, after)) = rest.split_once(", [") else { continue };
        let Some((pattern, _)) = after.split_once(']') else { continue };
        let parts: Vec<String> = pattern
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| if p.starts_with('"') { p.to_string() } else { "_".to_string() })
            .collect();
        arms.insert((method.to_string(), format!("[{}]", parts.join(","))));
    }
    arms
}

#[test]
fn every_routed_resource_is_in_the_served_table() {
    let arms = router_arms();
    assert!(arms.len() > 30, "the router's arms were not found: {arms:?}");
    let table: BTreeSet<(String, String)> = SERVED.iter().map(|(m, p, _, _)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = arms.difference(&table).collect();
    let stale: Vec<_> = table.difference(&arms).collect();
    assert!(missing.is_empty(), "routes without a discovery row (add the location to discovery.rs): {missing:?}");
    assert!(stale.is_empty(), "discovery rows for routes the router does not have: {stale:?}");
}

#[test]
fn each_served_route_matches_its_location_template() {
    for (method, _, path, id) in SERVED {
        let loc = LOCATIONS.iter().find(|l| l.id == *id).unwrap_or_else(|| panic!("{id} is not in LOCATIONS"));
        let segs: Vec<&str> = path.split('/').collect();
        assert!(template_matches(loc, &segs), "{method} {path} does not fit {} ({})", loc.template, loc.resource);
    }
}

#[test]
fn templates_reject_paths_of_other_resources() {
    let find = |id: &str| LOCATIONS.iter().find(|l| l.id == id).expect("location");
    let work_items = find("72c7ddf8-2cdc-4f60-90cd-ab71c14a399b");
    let cases: &[(&Location, &str, bool)] = &[
        (work_items, "App/_apis/wit/workitems/7", true),
        (work_items, "_apis/wit/workitems", true),
        (work_items, "App/_apis/wit/attachments/7", false),
        (work_items, "App/_apis/core/workitems/7", false),
        (work_items, "App/_apis/wit/workitems/7/updates", false),
        (find("62d3d110-0047-428c-ad3c-4fe872c91c74"), "App/_apis/wit/workitems/$Bug", true),
        (find("62d3d110-0047-428c-ad3c-4fe872c91c74"), "App/_apis/wit/workitems/Bug", false),
        (find("1a9c53f7-f243-4447-b110-35ef023636e4"), "App/_apis/wit/wiql", true),
        (find("1a9c53f7-f243-4447-b110-35ef023636e4"), "App/Team/Extra/_apis/wit/wiql", false),
        (find("603fe2ac-9723-48b9-88ad-09305aa6c6e1"), "_apis/projects", true),
    ];
    for (loc, path, want) in cases {
        let segs: Vec<&str> = path.split('/').collect();
        assert_eq!(template_matches(loc, &segs), *want, "{path} against {}", loc.template);
    }
}

#[test]
fn location_ids_are_unique_lower_case_guids_and_areas_are_listed() {
    let mut seen = BTreeSet::new();
    for l in LOCATIONS {
        assert!(seen.insert(l.id), "{} listed twice", l.id);
        assert!(uuid::Uuid::parse_str(l.id).is_ok() && l.id == l.id.to_ascii_lowercase(), "{}", l.id);
        assert!(
            HOST_AREAS.contains(&l.area) || AREAS.iter().any(|a| a.name.eq_ignore_ascii_case(l.area)),
            "{} has no resource area",
            l.area
        );
    }
}

async fn send(sim: &AdoSim, method: &str, path: &str, pat: Option<&str>) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{}/{path}", sim.base_url()));
    if let Some(p) = pat {
        req = req.basic_auth("", Some(p));
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn every_served_route_is_answered_by_a_handler_not_the_unknown_route_404() {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("simulator");
    for (method, _, path, _) in SERVED {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = send(&sim, method, &format!("{path}{sep}api-version=7.1-preview.4"), Some(PAT)).await;
        let message = body["message"].as_str().unwrap_or_default();
        assert!(!message.contains("does not serve it"), "{method} {path}: {status} {message}");
    }
}

#[tokio::test]
async fn options_lists_every_location_in_the_shape_the_clients_parse() {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("simulator");
    let (status, body) = send(&sim, "OPTIONS", "_apis", Some(PAT)).await;
    assert_eq!(status, 200);
    let value = body["value"].as_array().expect("value array");
    assert_eq!(body["count"].as_u64(), Some(value.len() as u64));
    assert_eq!(value.len(), LOCATIONS.len());
    for l in value {
        let keys: BTreeSet<&str> = l.as_object().expect("object").keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = [
            "id",
            "area",
            "resourceName",
            "routeTemplate",
            "resourceVersion",
            "minVersion",
            "maxVersion",
            "releasedVersion",
        ]
        .into();
        assert_eq!(keys, want);
        assert!(l["resourceVersion"].is_u64(), "{l}");
        for v in ["minVersion", "maxVersion", "releasedVersion"] {
            let text = l[v].as_str().unwrap_or_else(|| panic!("{v} is a string: {l}"));
            assert!(text.parse::<f64>().is_ok(), "{v} reads as a number (the Python client parses a float): {l}");
        }
        assert_eq!(l["maxVersion"], "7.1");
    }
}

#[tokio::test]
async fn options_on_an_area_lists_that_area_only_case_insensitively() {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("simulator");
    let (status, body) = send(&sim, "OPTIONS", "_apis/WIT", Some(PAT)).await;
    assert_eq!(status, 200);
    let value = body["value"].as_array().expect("value");
    assert!(!value.is_empty() && value.iter().all(|l| l["area"] == "wit"), "{body}");
    let (_, location) = send(&sim, "OPTIONS", "_apis/location", Some(PAT)).await;
    let names: Vec<&str> =
        location["value"].as_array().expect("value").iter().filter_map(|l| l["resourceName"].as_str()).collect();
    assert_eq!(names, ["ResourceAreas", "ConnectionData"]);
    let (_, none) = send(&sim, "OPTIONS", "_apis/build", Some(PAT)).await;
    assert_eq!(none["count"], 0);
}

#[tokio::test]
async fn discovery_needs_the_pat_like_every_other_call() {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("simulator");
    assert_eq!(send(&sim, "OPTIONS", "_apis", None).await.0, 401);
    assert_eq!(send(&sim, "OPTIONS", "_apis", Some("wrong")).await.0, 401);
    assert_eq!(send(&sim, "GET", "_apis/ResourceAreas?api-version=7.1-preview.1", Some("wrong")).await.0, 401);
}

#[tokio::test]
async fn resource_areas_point_every_area_at_this_host() {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("simulator");
    let (status, body) = send(&sim, "GET", "_apis/ResourceAreas?api-version=7.1-preview.1", Some(PAT)).await;
    assert_eq!(status, 200, "{body}");
    let value = body["value"].as_array().expect("value");
    assert_eq!(value.len(), AREAS.len());
    let url = format!("{}/", sim.base_url());
    assert!(value.iter().all(|a| a["locationUrl"] == url.as_str()), "{body}");
    let wit = "5264459e-e5e0-4bd8-b118-0985e68a4ec5";
    let (status, one) =
        send(&sim, "GET", &format!("_apis/ResourceAreas/{wit}?api-version=7.1-preview.1"), Some(PAT)).await;
    assert_eq!((status, one["name"].as_str()), (200, Some("wit")));
    let (status, _) = send(
        &sim,
        "GET",
        "_apis/ResourceAreas/00000000-0000-0000-0000-000000000000?api-version=7.1-preview.1",
        Some(PAT),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = send(&sim, "GET", "_apis/ResourceAreas", Some(PAT)).await;
    assert_eq!(status, 400, "a GET without api-version is refused as everywhere else: {body}");
}

#[tokio::test]
async fn connection_data_names_the_caller() {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("simulator");
    let (status, body) = send(&sim, "GET", "_apis/connectionData?api-version=7.1-preview.1", Some(PAT)).await;
    assert_eq!(status, 200, "{body}");
    let alice = sim.user("alice@acme.test").expect("alice");
    assert_eq!(body["authenticatedUser"]["id"], alice.id.as_str());
    assert_eq!(body["deploymentType"], "hosted");
    assert!(uuid::Uuid::parse_str(body["instanceId"].as_str().unwrap_or_default()).is_ok(), "{body}");
}
