//! Whether a failed request is sent again inside the same call.
//!
//! An attempt that failed after it may have reached the server (a 5xx, a timeout, a body
//! cut off) may have been applied even though its answer was lost. Sending a create
//! again would then make a twin in the user's system, so such a request is sent again
//! only when that is harmless: its method is idempotent (GET, HEAD, PUT, DELETE,
//! OPTIONS, TRACE), or its connector declares it repeatable (a search sent as `POST`, a
//! write the server refuses or merges the second time). Otherwise the error goes back at
//! once, and the engine's own recovery (the create intent and the search for the
//! source's remote id, the collaboration intents) finds what the lost attempt made.
//! A refusal (429, another 4xx) or a connection never made applied nothing, and is
//! always sent again when its error is one to retry.

use reqwest::Method;

/// Whether a request of `method` to `path` that is not idempotent by its method may be
/// sent again after an attempt that may have been applied: a read sent as `POST`, or a
/// write whose repetition changes nothing more. Set by a connector in
/// [`crate::http::HttpOptions::repeatable`].
pub type Repeatable = fn(&Method, &str) -> bool;

/// Whether a failed attempt of `method` to `path` may be sent again inside the call:
/// `nothing_applied` says every attempt so far was certainly not applied.
pub fn may_resend(method: &Method, path: &str, repeatable: Option<Repeatable>, nothing_applied: bool) -> bool {
    nothing_applied || method.is_idempotent() || repeatable.is_some_and(|f| f(method, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ado, jira};

    /// Whether every earlier attempt certainly applied nothing.
    const REFUSED: bool = true;
    const MAYBE_APPLIED: bool = false;

    #[test]
    fn a_request_that_may_have_been_applied_is_sent_again_only_when_repeating_it_is_harmless() {
        let jira = Some(jira::repeatable::repeatable as Repeatable);
        let ado = Some(ado::repeatable::repeatable as Repeatable);
        // (behaviour, method, path, connector's declaration, what happened, sent again)
        let table = [
            ("a Jira create after a 504", Method::POST, "/rest/api/3/issue", jira, MAYBE_APPLIED, false),
            ("a Jira create after a 429", Method::POST, "/rest/api/3/issue", jira, REFUSED, true),
            ("a Jira comment after a timeout", Method::POST, "/rest/api/3/issue/1/comment", jira, MAYBE_APPLIED, false),
            (
                "a Jira transition after a 502",
                Method::POST,
                "/rest/api/3/issue/1/transitions",
                jira,
                MAYBE_APPLIED,
                false,
            ),
            ("a Jira search after a 504", Method::POST, "/rest/api/3/search/jql", jira, MAYBE_APPLIED, true),
            (
                "a Jira remote link (upsert) after a 504",
                Method::POST,
                "/rest/api/3/issue/1/remotelink",
                jira,
                MAYBE_APPLIED,
                true,
            ),
            ("a Jira edit after a 504", Method::PUT, "/rest/api/3/issue/1", jira, MAYBE_APPLIED, true),
            ("a read after a cut body", Method::GET, "/rest/api/3/issue/1", jira, MAYBE_APPLIED, true),
            ("a deletion after a 503", Method::DELETE, "/rest/api/3/issue/1/comment/5", jira, MAYBE_APPLIED, true),
            (
                "an ADO create after a 504",
                Method::POST,
                "/acme/App/_apis/wit/workitems/$Task",
                ado,
                MAYBE_APPLIED,
                false,
            ),
            (
                "an ADO create after a failed connect",
                Method::POST,
                "/acme/App/_apis/wit/workitems/$Task",
                ado,
                REFUSED,
                true,
            ),
            (
                "an ADO comment after a 504",
                Method::POST,
                "/acme/App/_apis/wit/workItems/1/comments",
                ado,
                MAYBE_APPLIED,
                false,
            ),
            ("an ADO WIQL query after a 504", Method::POST, "/acme/App/_apis/wit/wiql", ado, MAYBE_APPLIED, true),
            (
                "an ADO batch read after a 504",
                Method::POST,
                "/acme/App/_apis/wit/workitemsbatch",
                ado,
                MAYBE_APPLIED,
                true,
            ),
            (
                "an ADO work item update after a 504",
                Method::PATCH,
                "/acme/App/_apis/wit/workitems/1",
                ado,
                MAYBE_APPLIED,
                true,
            ),
            ("a POST with no connector declaration", Method::POST, "/issues.json", None, MAYBE_APPLIED, false),
            ("a PATCH with no connector declaration", Method::PATCH, "/x", None, MAYBE_APPLIED, false),
        ];
        for (behaviour, method, path, repeatable, nothing_applied, want) in table {
            assert_eq!(may_resend(&method, path, repeatable, nothing_applied), want, "{behaviour}");
        }
    }
}
