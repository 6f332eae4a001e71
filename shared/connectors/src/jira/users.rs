//! People: the integration user, a person by e-mail (exact, never a prefix or a
//! hidden address), and the users assignable in a project. App accounts are no people.

use super::catalog::MAX_PAGES;
use super::errors::bad_response;
use super::wire::User;
use super::{lock, JiraConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::UserRef;

/// Users per page of the assignable-users listing.
const USERS_PAGE: u64 = 100;

impl JiraConnector {
    /// The integration user (`/myself`).
    pub(super) async fn me(&self) -> PortResult<UserRef> {
        self.myself().await?.to_ref().ok_or_else(|| bad_response("myself", "no accountId"))
    }

    /// The one person whose e-mail is `email`; remembered, found or not.
    pub(super) async fn user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        let wanted = email.trim().to_lowercase();
        if wanted.is_empty() {
            return Ok(None);
        }
        if let Some(hit) = lock(&self.users_by_email).get(&wanted) {
            return Ok(hit.clone());
        }
        let url = self.api(&["user", "search"], &[("query", wanted.clone()), ("maxResults", "50".into())])?;
        let found = only_person_with_email(&self.get_json_list(url, "user/search").await?, &wanted);
        lock(&self.users_by_email).insert(wanted, found.clone());
        Ok(found)
    }

    /// The people assignable in `project`, each once.
    pub(super) async fn assignable_users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        let mut out: Vec<UserRef> = Vec::new();
        let mut start = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.api(
                &["user", "assignable", "search"],
                &[
                    ("project", project.to_string()),
                    ("startAt", start.to_string()),
                    ("maxResults", USERS_PAGE.to_string()),
                ],
            )?;
            let page: Vec<User> = self.get_json_list(url, "user/assignable/search").await?;
            let before = out.len();
            for r in page.iter().filter(|u| !u.is_app()).filter_map(User::to_ref) {
                if !out.iter().any(|x| x.id == r.id) {
                    out.push(r);
                }
            }
            start += page.len() as u64;
            // The server may cap maxResults below ours: stop on an empty page, or when
            // a page of people brings nobody new (startAt ignored).
            if page.is_empty() || (out.len() == before && !page.iter().any(User::is_app)) {
                break;
            }
        }
        Ok(out)
    }
}

/// The one person among `found` whose e-mail is `wanted` (lower case). A hidden
/// e-mail never matches, even as the only hit; two people with it are no match.
fn only_person_with_email(found: &[User], wanted: &str) -> Option<UserRef> {
    let mut matches: Vec<UserRef> = found
        .iter()
        .filter(|u| !u.is_app())
        .filter(|u| u.email_address.as_deref().is_some_and(|e| e.trim().eq_ignore_ascii_case(wanted)))
        .filter_map(User::to_ref)
        .collect();
    matches.dedup_by(|a, b| a.id == b.id);
    if matches.len() == 1 {
        matches.pop()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_email_names_one_person_exactly() {
        let users: Vec<User> = serde_json::from_value(json!([
            {"accountId": "a1", "emailAddress": "Alice@Acme.test"},
            {"accountId": "a2", "emailAddress": "alice@acme.test.evil"},
            {"accountId": "hidden", "displayName": "Hidden Hank"},
            {"accountId": "bot", "accountType": "app", "emailAddress": "bot@acme.test"},
            {"accountId": "b1", "emailAddress": "bob@acme.test"},
            {"accountId": "b2", "emailAddress": "bob@acme.test"}
        ]))
        .unwrap();
        let cases = [
            ("alice@acme.test", Some("a1")),
            ("bot@acme.test", None),
            ("bob@acme.test", None),
            ("hank@acme.test", None),
        ];
        for (email, want) in cases {
            assert_eq!(only_person_with_email(&users, email).map(|u| u.id).as_deref(), want, "{email}");
        }
    }
}
