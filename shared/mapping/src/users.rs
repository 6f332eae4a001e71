//! Target-system users by e-mail.

use ferry_domain::UserRef;
use std::borrow::Cow;
use std::collections::HashMap;

/// Target-system users found by e-mail (the engine resolves them through the target
/// connector beforehand, see [`crate::needed_target_emails`]). Look-ups ignore case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDirectory {
    by_email: HashMap<String, UserRef>,
}

impl UserDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the user for `email`. Leading/trailing blanks are ignored.
    pub fn insert(&mut self, email: &str, user: UserRef) {
        self.by_email.insert(normalise(email).into_owned(), user);
    }

    /// The user with this e-mail, ignoring case and surrounding blanks.
    pub fn get(&self, email: &str) -> Option<&UserRef> {
        self.by_email.get(normalise(email).as_ref())
    }

    pub fn len(&self) -> usize {
        self.by_email.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_email.is_empty()
    }
}

impl FromIterator<(String, UserRef)> for UserDirectory {
    fn from_iter<I: IntoIterator<Item = (String, UserRef)>>(iter: I) -> Self {
        let mut d = UserDirectory::new();
        for (email, user) in iter {
            d.insert(&email, user);
        }
        d
    }
}

/// Lower-cased, trimmed e-mail; borrows when it already is (the common case), so a look-up
/// does not allocate.
pub(crate) fn normalise(email: &str) -> Cow<'_, str> {
    let t = email.trim();
    if t.chars().any(char::is_uppercase) {
        Cow::Owned(t.to_lowercase())
    } else {
        Cow::Borrowed(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(id: &str) -> UserRef {
        UserRef { id: id.into(), email: None, display_name: None }
    }

    #[test]
    fn lookups_ignore_case_and_blanks() {
        let mut d = UserDirectory::new();
        d.insert("Erin@Acme.Test", u("1"));
        assert_eq!(d.get("erin@acme.test").map(|x| x.id.as_str()), Some("1"));
        assert_eq!(d.get("ERIN@ACME.TEST ").map(|x| x.id.as_str()), Some("1"));
        assert!(d.get("erin@acme.tes").is_none());
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn inserting_the_same_email_again_replaces_the_user() {
        let d: UserDirectory = [("a@x".to_string(), u("1")), ("A@X".to_string(), u("2"))].into_iter().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("a@x").map(|x| x.id.as_str()), Some("2"));
    }

    #[test]
    fn non_ascii_emails_compare_case_insensitively() {
        let mut d = UserDirectory::new();
        d.insert("ÄNNE@acme.test", u("1"));
        assert!(d.get("änne@ACME.test").is_some());
    }
}
