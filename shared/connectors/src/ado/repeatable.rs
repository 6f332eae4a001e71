//! Which of Azure DevOps' non-idempotent requests may be sent again after an attempt
//! whose answer was lost ([`crate::resend`]): the reads sent as `POST` (WIQL, the work
//! items batch) and every `PATCH`. Ferry's PATCHes set fields, start with `test /rev`
//! (the repeat is refused with 412 once the first applied), add a relation (refused
//! when present) or set a comment's text: a repeat makes nothing twice. Creating a work
//! item, a comment, an attachment or a service hook subscription is sent once.

use reqwest::Method;

/// Whether the request of `method` to `path` is harmless to repeat.
pub fn repeatable(method: &Method, path: &str) -> bool {
    match *method {
        Method::PATCH => true,
        Method::POST => path.ends_with("/wit/wiql") || path.ends_with("/wit/workitemsbatch"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_patches_repeat_and_creates_do_not() {
        // (behaviour, method, path, repeatable)
        let table = [
            ("a WIQL query", Method::POST, "/acme/App/_apis/wit/wiql", true),
            ("a batch read", Method::POST, "/acme/App/_apis/wit/workitemsbatch", true),
            ("a guarded update", Method::PATCH, "/acme/App/_apis/wit/workitems/7", true),
            ("a comment edited", Method::PATCH, "/acme/App/_apis/wit/workItems/7/comments/3", true),
            ("a work item created", Method::POST, "/acme/App/_apis/wit/workitems/$Task", false),
            ("a comment added", Method::POST, "/acme/App/_apis/wit/workItems/7/comments", false),
            ("an attachment uploaded", Method::POST, "/acme/App/_apis/wit/attachments", false),
            ("a service hook subscription", Method::POST, "/acme/_apis/hooks/subscriptions", false),
        ];
        for (behaviour, method, path, want) in table {
            assert_eq!(repeatable(&method, path), want, "{behaviour}");
        }
    }
}
