//! Which requests Jira Cloud counts against an issue's write limit
//! (`RateLimit-Reason: jira-per-issue-on-write`, docs/system-apis.md §2.11): the writes
//! to an existing issue. The governor spaces out one issue's writes after that limit
//! refused one, and lets the rest of the site go on.

use reqwest::Method;

/// The issue (id or key, as the path gives it) that a request of `method` to `path`
/// writes to: an edit (`PUT /issue/{k}`), an assignment, a transition, a comment or a
/// remote link added, changed or deleted, an attachment added. Creating or deleting an
/// issue, and every read, write no existing issue.
pub fn issue_of_write<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    let (_, rest) = path.split_once("/rest/api/3/issue/")?;
    let mut parts = rest.split('/');
    let issue = parts.next().filter(|k| !k.is_empty() && *k != "createmeta" && *k != "bulk")?;
    let writes = matches!(
        (method.as_str(), parts.next()),
        ("PUT", None | Some("assignee"))
            | ("POST", Some("transitions" | "attachments"))
            | ("POST" | "PUT" | "DELETE", Some("comment" | "remotelink"))
    );
    writes.then_some(issue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writes_to_an_existing_issue_name_their_issue_and_nothing_else_does() {
        // (behaviour, method, path, issue written)
        let table = [
            ("an edit", Method::PUT, "/rest/api/3/issue/10001", Some("10001")),
            ("by key", Method::PUT, "/rest/api/3/issue/APP-1", Some("APP-1")),
            ("behind a path prefix (OAuth)", Method::PUT, "/ex/jira/c1/rest/api/3/issue/10001", Some("10001")),
            ("an assignment", Method::PUT, "/rest/api/3/issue/10001/assignee", Some("10001")),
            ("a transition", Method::POST, "/rest/api/3/issue/10001/transitions", Some("10001")),
            ("a comment", Method::POST, "/rest/api/3/issue/10001/comment", Some("10001")),
            ("a comment edited", Method::PUT, "/rest/api/3/issue/10001/comment/5", Some("10001")),
            ("a comment deleted", Method::DELETE, "/rest/api/3/issue/10001/comment/5", Some("10001")),
            ("a remote link", Method::POST, "/rest/api/3/issue/10001/remotelink", Some("10001")),
            ("a remote link deleted", Method::DELETE, "/rest/api/3/issue/10001/remotelink/2", Some("10001")),
            ("an attachment", Method::POST, "/rest/api/3/issue/10001/attachments", Some("10001")),
            ("a read", Method::GET, "/rest/api/3/issue/10001", None),
            ("the comments read", Method::GET, "/rest/api/3/issue/10001/comment", None),
            ("a create", Method::POST, "/rest/api/3/issue", None),
            ("a deletion", Method::DELETE, "/rest/api/3/issue/10001", None),
            ("createmeta", Method::GET, "/rest/api/3/issue/createmeta/APP/issuetypes", None),
            ("a search", Method::POST, "/rest/api/3/search/jql", None),
            ("a comment property (not the issue's path)", Method::PUT, "/rest/api/3/comment/5/properties/k", None),
        ];
        for (behaviour, method, path, want) in table {
            assert_eq!(issue_of_write(&method, path), want, "{behaviour}");
        }
    }
}
