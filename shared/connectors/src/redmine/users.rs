//! People: the integration user, users by e-mail (administrators only), e-mails of
//! users by id (remembered, hidden ones too), and a project's members.

use super::wire::{self, MembershipList, UserDto, UserEnvelope, UserList};
use super::{enc, err, RedmineConnector, MAX_PAGES, PAGE};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, FieldValue, PortError, UserRef};
use serde_json::Value;

impl RedmineConnector {
    pub(super) async fn email_of(&self, id: u64) -> Option<String> {
        if let Some(hit) = self.emails.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return hit;
        }
        let url = self.url(&format!("users/{id}.json"), &[]).ok()?;
        let found = match self.get_json::<UserEnvelope>(url, "Redmine user").await {
            Ok(u) => u.user.mail.filter(|m| !m.is_empty()),
            // A passing failure is not remembered.
            Err(e) if e.is_retryable() => return None,
            // Hidden (not an administrator), a group or gone: the user keeps its id only.
            Err(_) => None,
        };
        if let Ok(mut m) = self.emails.lock() {
            m.insert(id, found.clone());
        }
        found
    }

    pub(super) async fn with_email(&self, u: UserRef) -> UserRef {
        match u.id.parse::<u64>() {
            Ok(id) if u.email.is_none() => UserRef { email: self.email_of(id).await, ..u },
            _ => u,
        }
    }

    pub(super) async fn find_user(&self, email: &str) -> PortResult<Option<UserRef>> {
        let url = self.url("users.json", &[("name", email), ("limit", "100")])?;
        let list: UserList = self.get_json(url, "Redmine users").await.map_err(|e| {
            if e.category == ErrorCategory::Permission {
                PortError {
                    message: format!("{}; finding users by e-mail needs an administrator's API key", e.message),
                    ..e
                }
            } else {
                e
            }
        })?;
        let hits: Vec<UserRef> = list
            .users
            .iter()
            .filter(|u| u.mail.as_deref().is_some_and(|m| m.trim().eq_ignore_ascii_case(email)))
            .map(wire::UserDto::to_user)
            .collect();
        Ok(if hits.len() == 1 { hits.into_iter().next() } else { None })
    }

    pub(super) async fn user_id_for(&self, field: &str, v: &FieldValue) -> PortResult<Value> {
        let email = match v {
            FieldValue::Null => return Ok(Value::String(String::new())),
            FieldValue::User(u) => {
                if let Ok(id) = u.id.parse::<u64>() {
                    return Ok(Value::from(id));
                }
                u.email.clone().unwrap_or_default()
            }
            other => other.key_string().unwrap_or_default(),
        };
        let email = email.trim();
        if let Ok(id) = email.parse::<u64>() {
            return Ok(Value::from(id));
        }
        match self.user_by_email(email).await? {
            Some(u) => {
                u.id.parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| err(ErrorCategory::BadResponse, format!("Redmine user id {:?} is not a number", u.id)))
            }
            None => {
                Err(err(ErrorCategory::UserNotFound, format!("Redmine field {field}: no user with e-mail {email:?}")))
            }
        }
    }

    pub(super) async fn me(&self) -> PortResult<UserRef> {
        self.me
            .get_or_try_init(|| async {
                let u: UserEnvelope = self.get_json(self.url("my/account.json", &[])?, "Redmine my account").await?;
                Ok(u.user.to_user())
            })
            .await
            .cloned()
    }

    pub(super) async fn user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        let email = email.trim();
        if email.is_empty() || !email.contains('@') {
            return Ok(None);
        }
        self.find_user(email).await
    }

    pub(super) async fn list_users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.url(
                &format!("projects/{}/memberships.json", enc(project)),
                &[("offset", &offset.to_string()), ("limit", &PAGE.to_string())],
            )?;
            let page: MembershipList = self.get_json(url, "Redmine memberships").await?;
            let n = page.memberships.len() as u64;
            for m in page.memberships {
                // Group memberships have `group` instead of `user`.
                if let Some(u) = m.user {
                    out.push(self.with_email(wire::user_ref(&u, None)).await);
                }
            }
            offset += PAGE;
            if n == 0 || offset >= page.total_count {
                break;
            }
        }
        out.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }

    /// The user whose login is `login` (case-insensitively), remembered; `None` when no
    /// user has it or the key may not list users (not an administrator).
    pub(super) async fn user_by_login(&self, login: &str) -> PortResult<Option<UserDto>> {
        let key = login.to_lowercase();
        if let Some(hit) = self.logins.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let url = self.url("users.json", &[("name", login), ("limit", "100")])?;
        let found = match self.get_json::<UserList>(url, "Redmine users").await {
            Ok(list) => list.users.into_iter().find(|u| u.login.eq_ignore_ascii_case(login)),
            Err(e) if e.category == ErrorCategory::Permission => None,
            Err(e) => return Err(e),
        };
        if let Ok(mut m) = self.logins.lock() {
            m.insert(key, found.clone());
        }
        Ok(found)
    }

    /// The login of user `id`, remembered; `None` when hidden or unknown.
    pub(super) async fn login_of(&self, id: u64) -> PortResult<Option<String>> {
        if let Some(hit) = self.logins.lock().ok().and_then(|m| m.values().flatten().find(|u| u.id == id).cloned()) {
            return Ok(Some(hit.login));
        }
        let url = self.url(&format!("users/{id}.json"), &[])?;
        match self.get_json::<UserEnvelope>(url, "Redmine user").await {
            Ok(u) if !u.user.login.is_empty() => {
                let login = u.user.login.clone();
                if let Ok(mut m) = self.logins.lock() {
                    m.insert(login.to_lowercase(), Some(u.user));
                }
                Ok(Some(login))
            }
            Ok(_) => Ok(None),
            Err(e) if e.is_retryable() => Err(e),
            Err(_) => Ok(None),
        }
    }
}
