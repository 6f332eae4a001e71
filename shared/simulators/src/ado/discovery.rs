//! Resource-location discovery, the first thing Microsoft's own clients (the `azure-devops`
//! Python package, `azure-devops-node-api`) ask before any other call:
//!
//! - `OPTIONS {org}/_apis` and `OPTIONS {org}/_apis/{area}`: the ApiResourceLocation list
//!   (`{count, value: [{id, area, resourceName, routeTemplate, resourceVersion, minVersion,
//!   maxVersion, releasedVersion}]}`); a client finds a resource by its location id and builds
//!   the URL from the route template, leaving out the `{…}` segments it has no value for.
//! - `GET {org}/_apis/ResourceAreas[/{areaId}]`: which host serves each area
//!   (`{id, name, locationUrl}`); every area here is served by this one host.
//! - `GET {org}/_apis/connectionData`: who the caller is and which deployment this is.
//!
//! The table lists what the simulator serves and nothing else, so a client asking for
//! another resource gets the clients' own "location is not registered" error rather than a 404
//! later. Location ids are the ones the official clients send (azure-devops-python-api,
//! `v7_1/*_client.py`); route templates, resource versions and the first version of each
//! resource are the service's own registrations (Azure DevOps Server 2022 route table, as its
//! OPTIONS answers show them): `{project}/_apis/…` for a project-or-collection resource,
//! `{project}/{team}/_apis/…` for a team-scoped one, `_apis/…` for a collection one. The
//! simulator implements api-version 7.1 only, so every `maxVersion` is 7.1; a resource still in
//! preview there (comments, connection data, resource areas) reports `releasedVersion` 0.0,
//! so the clients add `-preview.N`.

use super::{check_api_version, Inner, Params, Reply};
use crate::common::SimUser;
use axum::http::{HeaderMap, Method};
use serde_json::{json, Value};

/// One API resource location, as OPTIONS lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub id: &'static str,
    pub area: &'static str,
    pub resource: &'static str,
    pub template: &'static str,
    pub resource_version: u32,
    pub min_version: &'static str,
    /// "0.0" while the resource is preview-only at 7.1.
    pub released_version: &'static str,
}

/// A resource area, as `_apis/ResourceAreas` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    pub id: &'static str,
    pub name: &'static str,
}

/// The highest api-version the simulator serves (see `check_api_version`).
pub(crate) const MAX_VERSION: &str = "7.1";

pub(crate) const AREAS: &[Area] = &[
    Area { id: "5264459e-e5e0-4bd8-b118-0985e68a4ec5", name: "wit" },
    Area { id: "79134c72-4a58-4b42-976c-04e7115f32bf", name: "core" },
    Area { id: "8a3d49b8-91f0-46ef-b33d-dda338c25db3", name: "IMS" },
];

const fn loc(
    id: &'static str,
    area: &'static str,
    resource: &'static str,
    template: &'static str,
    resource_version: u32,
    min_version: &'static str,
    released_version: &'static str,
) -> Location {
    Location { id, area, resource, template, resource_version, min_version, released_version }
}

pub(crate) const LOCATIONS: &[Location] = &[
    // Location service: resource areas and connection data.
    loc(
        "e81700f7-3be2-46de-8624-2eb35882fcaa",
        "Location",
        "ResourceAreas",
        "_apis/{resource}/{areaId}",
        1,
        "3.2",
        "0.0",
    ),
    loc("00d9565f-ed9c-4a06-9a50-00e7896ccab4", "Location", "ConnectionData", "_apis/{resource}", 1, "1.0", "0.0"),
    // Service hooks (the official clients look it up on the organization's host).
    loc(
        "fc50d02a-849f-41fb-8af1-0a5216103269",
        "hooks",
        "Subscriptions",
        "_apis/{area}/{resource}/{subscriptionId}",
        1,
        "1.0",
        "7.1",
    ),
    // core
    loc("603fe2ac-9723-48b9-88ad-09305aa6c6e1", "core", "projects", "_apis/{resource}/{*projectId}", 4, "1.0", "7.1"),
    // IMS (on vssps.dev.azure.com in the service; on this host here)
    loc("28010c54-d0c0-4c89-a5b0-1c9e188b9fb7", "IMS", "Identities", "_apis/{resource}/{identityId}", 2, "1.0", "7.1"),
    // wit
    loc(
        "1a9c53f7-f243-4447-b110-35ef023636e4",
        "wit",
        "wiql",
        "{project}/{team}/_apis/{area}/{resource}",
        2,
        "1.0",
        "7.1",
    ),
    loc(
        "908509b6-4248-4475-a1cd-829139ba419f",
        "wit",
        "workItemsBatch",
        "{project}/_apis/{area}/{resource}",
        1,
        "5.0",
        "7.1",
    ),
    loc(
        "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b",
        "wit",
        "workItems",
        "{project}/_apis/{area}/{resource}/{id}",
        3,
        "1.0",
        "7.1",
    ),
    loc(
        "62d3d110-0047-428c-ad3c-4fe872c91c74",
        "wit",
        "workItems",
        "{project}/_apis/{area}/{resource}/${type}",
        3,
        "1.0",
        "7.1",
    ),
    loc(
        "6570bf97-d02c-4a91-8d93-3abe9895b1a9",
        "wit",
        "updates",
        "{project}/_apis/{area}/workItems/{id}/updates/{updateNumber}",
        4,
        "1.0",
        "7.1",
    ),
    loc(
        "a00c85a5-80fa-4565-99c3-bcd2181434bb",
        "wit",
        "revisions",
        "{project}/_apis/{area}/workItems/{id}/revisions/{revisionNumber}",
        3,
        "1.0",
        "7.1",
    ),
    loc(
        "608aac0a-32e1-4493-a863-b9cf4566d257",
        "wit",
        "comments",
        "{project}/_apis/wit/workItems/{workItemId}/comments/{commentId}",
        4,
        "5.1",
        "0.0",
    ),
    loc(
        "49e03b34-3be0-42e3-8a5d-e8dfb88ac954",
        "wit",
        "commentsVersions",
        "{project}/_apis/wit/workItems/{workItemId}/comments/{commentId}/versions/{version}",
        1,
        "5.1",
        "0.0",
    ),
    loc(
        "e07b5fa4-1499-494d-a496-64b860fd64ff",
        "wit",
        "attachments",
        "{project}/_apis/{area}/{resource}/{id}",
        3,
        "1.0",
        "7.1",
    ),
    loc(
        "b70d8d39-926c-465e-b927-b1bf0e5ca0e0",
        "wit",
        "recyclebin",
        "{project}/_apis/{area}/{resource}/{id}",
        2,
        "2.1",
        "7.1",
    ),
    loc(
        "f5d33bc9-5b49-4a3c-a9bd-f3cd46dd2165",
        "wit",
        "workItemRelationTypes",
        "_apis/{area}/{resource}/{relation}",
        2,
        "1.0",
        "7.1",
    ),
    loc(
        "b51fd764-e5c2-4b9b-aaf7-3395cf4bdd94",
        "wit",
        "fields",
        "{project}/_apis/{area}/{resource}/{fieldNameOrRefName}",
        3,
        "1.0",
        "7.1",
    ),
    loc(
        "7c8d7a76-4a09-43e8-b5df-bd792f4ac6aa",
        "wit",
        "workItemTypes",
        "{project}/_apis/{area}/{resource}/{type}",
        2,
        "1.0",
        "7.1",
    ),
    loc(
        "bd293ce5-3d25-4192-8e67-e8092e879efb",
        "wit",
        "workItemTypesField",
        "{project}/_apis/{area}/workitemtypes/{type}/fields/{field}",
        3,
        "1.0",
        "7.1",
    ),
    loc(
        "7c9d7a76-4a09-43e8-b5df-bd792f4ac6aa",
        "wit",
        "workItemTypeStates",
        "{project}/_apis/{area}/workitemtypes/{type}/states",
        1,
        "1.0",
        "7.1",
    ),
];

impl Location {
    pub(crate) fn json(&self) -> Value {
        json!({
            "id": self.id,
            "area": self.area,
            "resourceName": self.resource,
            "routeTemplate": self.template,
            "resourceVersion": self.resource_version,
            "minVersion": self.min_version,
            "maxVersion": MAX_VERSION,
            "releasedVersion": self.released_version,
        })
    }
}

/// The locations of one area (case-insensitive, as the service matches it), or all of them.
pub(crate) fn locations(area: Option<&str>) -> Vec<&'static Location> {
    LOCATIONS.iter().filter(|l| area.is_none_or(|a| l.area.eq_ignore_ascii_case(a))).collect()
}

/// Answers discovery requests (`rest` = the path after `_apis/`, lower case); `None` for
/// every other request, which the router handles.
pub(crate) fn answer(
    inner: &Inner,
    method: &Method,
    scope: &[String],
    rest: &[&str],
    params: &Params,
    headers: &HeaderMap,
    user: &SimUser,
) -> Option<Reply> {
    if method == Method::OPTIONS {
        // OPTIONS carries no api-version: it is how a client learns which one to send.
        if !scope.is_empty() || rest.len() > 1 {
            return None;
        }
        let area = rest.first().copied();
        return Some(Reply::list(locations(area).into_iter().map(Location::json).collect()));
    }
    if method != Method::GET || !scope.is_empty() {
        return None;
    }
    let reply = match rest {
        ["resourceareas"] => Reply::list(AREAS.iter().map(|a| area_json(&inner.base, a)).collect()),
        ["resourceareas", id] => match AREAS.iter().find(|a| a.id.eq_ignore_ascii_case(id)) {
            Some(a) => Reply::ok(area_json(&inner.base, a)),
            None => Reply::error(
                404,
                "VssResourceNotFoundException",
                format!("VS800075: The resource area '{id}' does not exist in this organization."),
            ),
        },
        ["connectiondata"] => connection_data(user),
        _ => return None,
    };
    if let Err(r) = check_api_version(method, params, headers) {
        return Some(r);
    }
    Some(reply)
}

fn area_json(base: &str, area: &Area) -> Value {
    json!({"id": area.id, "name": area.name, "locationUrl": format!("{base}/")})
}

/// The simulated organization's instance and deployment ids (one organization per simulator).
const INSTANCE_ID: &str = "5f0c7a1e-3d2b-4e8f-9a61-0c4b2d7e9f10";
const DEPLOYMENT_ID: &str = "a3e1b6d2-8c4f-4a7e-b5d9-2f6c1e8a4b03";

fn connection_data(user: &SimUser) -> Reply {
    let me = super::model::identity(user, INSTANCE_ID);
    Reply::ok(json!({
        "authenticatedUser": me,
        "authorizedUser": me,
        "instanceId": INSTANCE_ID,
        "deploymentId": DEPLOYMENT_ID,
        "deploymentType": "hosted",
        "locationServiceData": {
            "serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7",
            "defaultAccessMappingMoniker": "PublicAccessMapping",
            "lastChangeId": 1,
            "lastChangeId64": 1,
        },
    }))
}

/// Whether `path` (the segments after the organization) is a URL a client builds from
/// `template`: literal segments and `{area}` / `{resource}` match case-insensitively, a `{…}`
/// segment matches any one segment or is left out (the clients drop the route values they
/// were not given), `${type}` matches `$` and a type name.
#[cfg(test)]
pub(crate) fn template_matches(loc: &Location, path: &[&str]) -> bool {
    let template: Vec<&str> = loc.template.split('/').collect();
    matches_from(loc, &template, path)
}

#[cfg(test)]
fn matches_from(loc: &Location, template: &[&str], path: &[&str]) -> bool {
    let Some((t, t_rest)) = template.split_first() else {
        return path.is_empty();
    };
    let is_param = t.starts_with('{') && t.ends_with('}');
    let optional = is_param && *t != "{area}" && *t != "{resource}";
    if optional && matches_from(loc, t_rest, path) {
        return true;
    }
    let Some((p, p_rest)) = path.split_first() else {
        return false;
    };
    let fits = match *t {
        "{area}" => p.eq_ignore_ascii_case(loc.area),
        "{resource}" => p.eq_ignore_ascii_case(loc.resource),
        _ if is_param => true,
        _ if t.starts_with("${") => p.starts_with('$') && p.len() > 1,
        literal => p.eq_ignore_ascii_case(literal),
    };
    fits && matches_from(loc, t_rest, p_rest)
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
