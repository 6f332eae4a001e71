//! Which of Jira's `POST`s may be sent again after an attempt whose answer was lost
//! ([`crate::resend`]): the reads sent as `POST` (a JQL search, a JQL parse) and the
//! remote link, an upsert by its `globalId`. Creating an issue, a comment or an issue
//! link, a transition, an attachment or a webhook is sent once.

use reqwest::Method;

/// Whether the `POST` (or other non-idempotent request) of `method` to `path` is
/// harmless to repeat.
pub fn repeatable(method: &Method, path: &str) -> bool {
    // No other Jira path Ferry calls ends in one of these.
    *method == Method::POST
        && (path.ends_with("/search/jql") || path.ends_with("/jql/parse") || path.ends_with("/remotelink"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_and_the_remote_link_upsert_repeat_and_creates_do_not() {
        // (behaviour, method, path, repeatable)
        let table = [
            ("a JQL search", Method::POST, "/rest/api/3/search/jql", true),
            ("a search behind a path prefix (OAuth)", Method::POST, "/ex/jira/c1/rest/api/3/search/jql", true),
            ("a JQL parse", Method::POST, "/rest/api/3/jql/parse", true),
            ("a remote link, upserted by globalId", Method::POST, "/rest/api/3/issue/10001/remotelink", true),
            ("an issue created", Method::POST, "/rest/api/3/issue", false),
            ("a comment added", Method::POST, "/rest/api/3/issue/10001/comment", false),
            ("a transition", Method::POST, "/rest/api/3/issue/10001/transitions", false),
            ("an attachment", Method::POST, "/rest/api/3/issue/10001/attachments", false),
            ("an issue link", Method::POST, "/rest/api/3/issueLink", false),
            ("a webhook registered", Method::POST, "/rest/webhooks/1.0/webhook", false),
            (
                "a remote link deleted (idempotent by its method anyway)",
                Method::DELETE,
                "/rest/api/3/issue/1/remotelink",
                false,
            ),
        ];
        for (behaviour, method, path, want) in table {
            assert_eq!(repeatable(&method, path), want, "{behaviour}");
        }
    }
}
