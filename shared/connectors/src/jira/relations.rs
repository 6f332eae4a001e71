//! An issue's parent and issue links as Ferry's relations, by issue id.
//!
//! - read: `GET /issue/{id}?fields=parent,issuelinks`: the parent's id; each link's type
//!   name, its direction and the other issue's id;
//! - parent: `PUT /issue/{id}` with `{"fields":{"parent":{"id":…}}}`, cleared with `null`;
//! - links: `POST /issueLink`, `DELETE /issueLink/{linkId}`.
//!
//! Direction: `Relation::Link::outward` is true on the issue that is the link's source,
//! the one showing the type's outward phrase ("APP-1 *blocks* APP-2"). Jira's
//! `issuelinks` entry of that issue holds the other one as `outwardIssue`; creating the
//! link names the source `inwardIssue` and the other `outwardIssue` (docs/system-apis.md
//! §2.13). Every write reads the issue first and changes nothing that is already so.

use super::collab_wire::{bad_response, IssueLink, IssueRelations};
use super::JiraConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, ErrorCategory, Relation};
use reqwest::Method;
use serde_json::{json, Value};

impl JiraConnector {
    async fn issue_relations(&self, id: &EntityId) -> PortResult<IssueRelations> {
        let url = self.api(&["issue", id.as_str()], &[("fields", "parent,issuelinks".into())])?;
        self.http.send(Method::GET, url, None, None).await?.json(&format!("GET issue/{id} (parent, issuelinks)"))
    }

    pub(super) async fn read_relations(&self, id: &EntityId) -> PortResult<Vec<Relation>> {
        let issue = self.issue_relations(id).await?;
        relations_of(&issue)
    }

    pub(super) async fn add_issue_relation(&self, id: &EntityId, r: &Relation) -> PortResult<()> {
        let issue = self.issue_relations(id).await?;
        match r {
            Relation::Parent { parent } => {
                if issue.fields.parent.as_ref().is_some_and(|p| p.is(parent.as_str())) {
                    return Ok(());
                }
                self.set_parent(id, json!({"fields": {"parent": issue_ref(parent.as_str())}})).await
            }
            Relation::Link { link_type, outward, other } => {
                if find_link(&issue, link_type, *outward, other).is_some() {
                    return Ok(());
                }
                let (source, dest) = if *outward { (id, other) } else { (other, id) };
                let body = json!({
                    "type": {"name": link_type},
                    "inwardIssue": issue_ref(source.as_str()),
                    "outwardIssue": issue_ref(dest.as_str()),
                });
                let url = self.api(&["issueLink"], &[])?;
                self.http.send(Method::POST, url, Some(&body), None).await.map(|_| ())
            }
        }
    }

    pub(super) async fn remove_issue_relation(&self, id: &EntityId, r: &Relation) -> PortResult<()> {
        let issue = self.issue_relations(id).await?;
        match r {
            Relation::Parent { parent } => {
                if !issue.fields.parent.as_ref().is_some_and(|p| p.is(parent.as_str())) {
                    // Gone already, or another parent since: not this removal's to undo.
                    return Ok(());
                }
                self.set_parent(id, json!({"fields": {"parent": null}})).await
            }
            Relation::Link { link_type, outward, other } => {
                let Some(link) = find_link(&issue, link_type, *outward, other) else { return Ok(()) };
                let url = self.api(&["issueLink", &link.id.0], &[])?;
                match self.http.send(Method::DELETE, url, None, None).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.category == ErrorCategory::NotFound => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }

    async fn set_parent(&self, id: &EntityId, body: Value) -> PortResult<()> {
        let url = self.api(&["issue", id.as_str()], &[])?;
        self.http.send(Method::PUT, url, Some(&body), None).await.map(|_| ())
    }
}

/// `{"id": …}` for an issue id, `{"key": …}` for a key.
fn issue_ref(id_or_key: &str) -> Value {
    if !id_or_key.is_empty() && id_or_key.bytes().all(|b| b.is_ascii_digit()) {
        json!({"id": id_or_key})
    } else {
        json!({"key": id_or_key})
    }
}

fn relations_of(issue: &IssueRelations) -> PortResult<Vec<Relation>> {
    let mut out = Vec::new();
    if let Some(p) = &issue.fields.parent {
        out.push(Relation::Parent { parent: EntityId::new(p.id.0.clone()) });
    }
    for l in &issue.fields.issuelinks {
        let (outward, other) = match (&l.outward_issue, &l.inward_issue) {
            (Some(o), None) => (true, o),
            (None, Some(i)) => (false, i),
            _ => {
                return Err(bad_response(
                    &format!("GET issue/{} (issuelinks)", issue.key),
                    format!("link {} needs exactly one of inwardIssue and outwardIssue", l.id.0),
                ))
            }
        };
        out.push(Relation::Link {
            link_type: l.link_type.name.clone(),
            outward,
            other: EntityId::new(other.id.0.clone()),
        });
    }
    Ok(out)
}

/// The issue's link of type `link_type` to `other` in that direction.
fn find_link<'a>(issue: &'a IssueRelations, link_type: &str, outward: bool, other: &EntityId) -> Option<&'a IssueLink> {
    issue.fields.issuelinks.iter().find(|l| {
        let end = if outward { &l.outward_issue } else { &l.inward_issue };
        l.link_type.name.eq_ignore_ascii_case(link_type) && end.as_ref().is_some_and(|e| e.is(other.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(v: Value) -> IssueRelations {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parent_and_links_read_with_their_direction_by_id() {
        let i = issue(json!({"key": "APP-2", "fields": {
        "parent": {"id": "10000", "key": "APP-1"},
        "issuelinks": [
            {"id": "1", "type": {"name": "Blocks"}, "outwardIssue": {"id": "10003", "key": "APP-4"}},
            {"id": "2", "type": {"name": "Relates"}, "inwardIssue": {"id": 10004, "key": "APP-5"}},
        ]}}));
        assert_eq!(
            relations_of(&i).unwrap(),
            [
                Relation::Parent { parent: EntityId::new("10000") },
                Relation::Link { link_type: "Blocks".into(), outward: true, other: EntityId::new("10003") },
                Relation::Link { link_type: "Relates".into(), outward: false, other: EntityId::new("10004") },
            ]
        );
        assert_eq!(find_link(&i, "blocks", true, &EntityId::new("APP-4")).map(|l| l.id.0.as_str()), Some("1"));
        assert!(find_link(&i, "Blocks", false, &EntityId::new("10003")).is_none(), "the other direction");
        assert!(relations_of(&issue(json!({"key": "APP-3", "fields": {}}))).unwrap().is_empty());
    }

    #[test]
    fn a_link_without_its_other_issue_is_a_bad_response() {
        let i = issue(json!({"key": "APP-2", "fields": {"issuelinks": [{"id": "7", "type": {"name": "Blocks"}}]}}));
        let e = relations_of(&i).unwrap_err();
        assert_eq!(e.category, ErrorCategory::BadResponse);
        assert!(e.message.contains("APP-2") && e.message.contains("link 7"), "{}", e.message);
    }

    #[test]
    fn issues_are_referred_to_by_id_or_key() {
        assert_eq!(issue_ref("10001"), json!({"id": "10001"}));
        assert_eq!(issue_ref("APP-1"), json!({"key": "APP-1"}));
    }
}
