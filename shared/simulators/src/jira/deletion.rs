//! Issue deletion: the issue (and, when asked, its sub-tasks) is gone, reads answer 404.
//!
//! Links to the deleted issues are removed without changelog entries on the issues at their
//! other ends (Jira removes them with `removeIssueLinksNoChangeItems`); children of a deleted
//! epic lose their parent the same way (docs/system-apis.md §2.14).

use super::handlers::{error, issue_not_found, Params, Q, S};
use super::store::FieldErrors;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `DELETE /issue/{key}?deleteSubtasks=`: 204; 400 when the issue has sub-tasks and
/// `deleteSubtasks` is not `true`.
pub(super) async fn delete_issue(
    axum::extract::State(inner): S,
    Path(key): Path<String>,
    axum::extract::Query(q): Q,
) -> Response {
    let p = Params(q);
    let with_subtasks = match p.get("deleteSubtasks").unwrap_or("false") {
        "true" => true,
        "false" => false,
        other => {
            let msg = format!("The value '{other}' for parameter 'deleteSubtasks' is not a valid boolean.");
            return error(StatusCode::BAD_REQUEST, &[&msg], FieldErrors::new());
        }
    };
    let mut st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let id = st.issues[idx].id;
    let subtasks: Vec<u64> = st
        .issues
        .iter()
        .filter(|c| c.parent == Some(id) && inner.seed.level(&c.issuetype_id) < 0)
        .map(|c| c.id)
        .collect();
    if !subtasks.is_empty() && !with_subtasks {
        let msg = format!(
            "The issue '{}' has subtasks. Set 'deleteSubtasks' to true to delete the issue and its subtasks.",
            st.issues[idx].key
        );
        return error(StatusCode::BAD_REQUEST, &[&msg], FieldErrors::new());
    }
    let mut gone = subtasks;
    gone.push(id);
    st.issues.retain(|i| !gone.contains(&i.id));
    st.issue_links.retain(|l| !gone.contains(&l.source) && !gone.contains(&l.dest));
    for i in st.issues.iter_mut().filter(|i| i.parent.is_some_and(|p| gone.contains(&p))) {
        i.parent = None;
    }
    StatusCode::NO_CONTENT.into_response()
}
