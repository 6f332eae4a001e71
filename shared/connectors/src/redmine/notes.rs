//! Comments: an issue's journals that carry notes (docs/system-apis.md, Redmine).
//!
//! - Read: `GET /issues/{id}.json?include=journals,attachments`; a comment is a journal
//!   with non-empty, public notes (private notes are not copied anywhere), except the
//!   integration user's `Linked:` note that stands in for a remote link. Its id is the
//!   journal id, its time the journal's `created_on` (Redmine 5.0 keeps no time of an
//!   edit), its body the notes in neutral form ([`super::markup`]), its URL the issue
//!   page's `#change-{id}` anchor.
//! - Post: `PUT /issues/{id}.json` with `{"issue": {"notes": …}}` (204, no body); the
//!   journal made is the newest of the integration user's with that text.
//! - Edit: `PUT /journals/{jid}.json` with `{"journal": {"notes": …}}` (Redmine 5.0's
//!   API; it needs the edit-own-notes permission).
//! - Delete: the same with empty notes: Redmine then destroys a journal that changed
//!   nothing else, and keeps a journal of field changes without its notes; either way
//!   no comment is left. A 404: gone already.
//! - Redmine keeps no property on a journal, so `origin` is never read back: the engine
//!   knows Ferry's copies by their pairs, their author (the integration user, whose key
//!   Ferry writes with) and the origin mark in their attribution link, which the note
//!   keeps as a URL. Redmine's "Quote" copies that link into a person's note; the mark
//!   is dropped from everyone's notes but the integration user's, so a person's note is
//!   never taken for Ferry's.

use super::markup::{self, Names};
use super::wire::{self, Issue, Journal, LINK_NOTE_PREFIX};
use super::{err, issue_id, RedmineConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{Comment, CommentWrite, EntityId, ErrorCategory, PortError, Scope};
use reqwest::Method;
use serde_json::json;

/// The notes of a journal that is a comment.
fn comment_notes(j: &Journal) -> Option<&str> {
    j.notes.as_deref().filter(|n| !n.trim().is_empty() && !j.private_notes)
}

/// The integration user's note that stands in for a remote link (`upsert_remote_link`):
/// a link, not part of the conversation.
fn is_link_note(j: &Journal, me: &str) -> bool {
    j.user.as_ref().is_some_and(|u| u.id.to_string() == me)
        && j.notes.as_deref().is_some_and(|n| n.starts_with(LINK_NOTE_PREFIX))
}

/// Redmine's text as Ferry compares it: `\n` line ends, no surrounding white space.
fn same_text(a: &str, b: &str) -> bool {
    a.replace("\r\n", "\n").trim() == b.replace("\r\n", "\n").trim()
}

impl RedmineConnector {
    /// The people and files the notes of `issue` may name, for reading them.
    async fn read_names(&self, issue: &Issue) -> PortResult<Names> {
        let mut names = Names::default();
        let notes = issue.journals.iter().filter_map(comment_notes);
        for login in markup::mention_candidates(notes) {
            if let Some(u) = self.user_by_login(&login).await? {
                let shown = u.to_user().display_name.unwrap_or_else(|| u.login.clone());
                names.users.insert(login, (u.id.to_string(), shown));
            }
        }
        for a in &issue.attachments {
            names.files.entry(a.filename.clone()).or_insert_with(|| a.id.to_string());
        }
        Ok(names)
    }

    /// The logins and file names neutral HTML refers to, for writing it on `issue`.
    async fn write_names(&self, issue: &Issue, body: &str) -> PortResult<Names> {
        let mut names = Names::default();
        let (users, files) = markup::references(body);
        for id in users {
            let Ok(n) = id.parse::<u64>() else { continue };
            if let Some(login) = self.login_of(n).await? {
                names.logins.insert(id, login);
            }
        }
        for id in files {
            if let Some(a) = issue.attachments.iter().find(|a| a.id.to_string() == id) {
                names.file_names.insert(id, a.filename.clone());
            }
        }
        Ok(names)
    }

    /// Journal `j` as a comment; `me` is the integration user's id: a quote of Ferry's
    /// copy in anyone else's note loses its origin mark ([`markup::without_origin`]).
    async fn to_comment(&self, issue: &Issue, j: &Journal, names: &Names, me: &str) -> PortResult<Comment> {
        let created = j.created_on.as_deref().and_then(wire::parse_time).ok_or_else(|| {
            err(
                ErrorCategory::BadResponse,
                format!("journal {} of Redmine issue {} has no readable created_on", j.id, issue.id),
            )
        })?;
        let author = match &j.user {
            Some(u) => Some(self.with_email(wire::user_ref(u, None)).await),
            None => None,
        };
        let notes = comment_notes(j).unwrap_or_default();
        let by_ferry = j.user.as_ref().is_some_and(|u| u.id.to_string() == me);
        let notes = if by_ferry { notes.to_string() } else { markup::without_origin(notes) };
        Ok(Comment {
            id: j.id.to_string(),
            author,
            created,
            updated: created,
            body: markup::to_neutral(&notes, names),
            url: format!("{}#change-{}", self.issue_url(issue.id), j.id),
            origin: None,
        })
    }

    async fn comments_of(&self, issue: &Issue) -> PortResult<Vec<Comment>> {
        let names = self.read_names(issue).await?;
        let me = self.me().await?.id;
        let mut out = Vec::new();
        for j in issue.journals.iter().filter(|j| comment_notes(j).is_some() && !is_link_note(j, &me)) {
            out.push(self.to_comment(issue, j, &names, &me).await?);
        }
        out.sort_by_key(|c| (c.created, c.id.parse::<u64>().unwrap_or(u64::MAX)));
        Ok(out)
    }

    pub(super) async fn list_notes(&self, _scope: &Scope, id: &EntityId) -> PortResult<Vec<Comment>> {
        let issue = self.must_read_collab(issue_id(id)?).await?;
        self.comments_of(&issue).await
    }

    /// The note text of `comment` on `issue`; an empty one is refused.
    async fn note_text(&self, issue: &Issue, comment: &CommentWrite) -> PortResult<String> {
        let names = self.write_names(issue, &comment.body).await?;
        let text = markup::from_neutral(&comment.body, &names);
        if text.trim().is_empty() {
            return Err(err(
                ErrorCategory::InvalidRequest,
                format!("a comment on Redmine issue {} would be empty: Redmine keeps no empty note", issue.id),
            ));
        }
        Ok(text)
    }

    pub(super) async fn post_note(&self, _scope: &Scope, id: &EntityId, comment: &CommentWrite) -> PortResult<Comment> {
        let id = issue_id(id)?;
        let issue = self.must_read_collab(id).await?;
        let text = self.note_text(&issue, comment).await?;
        let mut body = serde_json::Map::new();
        body.insert("notes".into(), text.clone().into());
        self.put_issue(id, body).await?;
        // The note exists from here on, whatever the read answers.
        let me = self.me().await.map_err(PortError::after_applied)?;
        let issue = self.must_read_collab(id).await.map_err(PortError::after_applied)?;
        let made = issue
            .journals
            .iter()
            .filter(|j| j.user.as_ref().is_some_and(|u| u.id.to_string() == me.id))
            .filter(|j| j.notes.as_deref().is_some_and(|n| same_text(n, &text)))
            .max_by_key(|j| j.id)
            .ok_or_else(|| {
                err(ErrorCategory::BadResponse, format!("Redmine issue {id} does not show the note just added"))
                    .after_applied()
            })?;
        let names = self.read_names(&issue).await.map_err(PortError::after_applied)?;
        self.to_comment(&issue, made, &names, &me.id).await.map_err(PortError::after_applied)
    }

    /// The journal `comment_id` of issue `id` and the issue; `None` when either is gone.
    async fn journal_of(&self, id: u64, comment_id: &str) -> PortResult<Option<(Issue, u64)>> {
        let jid: u64 = comment_id
            .trim()
            .parse()
            .map_err(|_| err(ErrorCategory::InvalidRequest, format!("{comment_id:?} is not a Redmine journal id")))?;
        let Some(issue) = self.read_collab(id).await? else { return Ok(None) };
        let found = issue.journals.iter().any(|j| j.id == jid && comment_notes(j).is_some());
        Ok(found.then_some((issue, jid)))
    }

    async fn put_journal(&self, jid: u64, notes: &str) -> PortResult<()> {
        let url = self.url(&format!("journals/{jid}.json"), &[])?;
        self.http.send(Method::PUT, url, Some(&json!({ "journal": { "notes": notes } })), None).await?;
        Ok(())
    }

    pub(super) async fn edit_note(
        &self,
        _scope: &Scope,
        id: &EntityId,
        comment_id: &str,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        let id = issue_id(id)?;
        let Some((issue, jid)) = self.journal_of(id, comment_id).await? else {
            return Err(err(
                ErrorCategory::NotFound,
                format!("{}: Redmine issue {id} has no note {comment_id}", self.system),
            ));
        };
        let text = self.note_text(&issue, comment).await?;
        self.put_journal(jid, &text).await?;
        let issue = self.must_read_collab(id).await.map_err(PortError::after_applied)?;
        let names = self.read_names(&issue).await.map_err(PortError::after_applied)?;
        let me = self.me().await.map_err(PortError::after_applied)?;
        let j = issue.journals.iter().find(|j| j.id == jid).ok_or_else(|| {
            err(ErrorCategory::BadResponse, format!("Redmine issue {id} lost note {jid} while it was edited"))
                .after_applied()
        })?;
        self.to_comment(&issue, j, &names, &me.id).await.map_err(PortError::after_applied)
    }

    pub(super) async fn delete_note(&self, _scope: &Scope, id: &EntityId, comment_id: &str) -> PortResult<()> {
        let id = issue_id(id)?;
        let Some((_, jid)) = self.journal_of(id, comment_id).await? else { return Ok(()) };
        match self.put_journal(jid, "").await {
            Err(e) if e.category == ErrorCategory::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(notes: Option<&str>, private: bool) -> Journal {
        Journal {
            id: 1,
            user: None,
            notes: notes.map(str::to_string),
            created_on: None,
            private_notes: private,
            details: vec![],
        }
    }

    #[test]
    fn only_public_journals_with_notes_are_comments() {
        assert_eq!(comment_notes(&journal(Some("hi"), false)), Some("hi"));
        assert_eq!(comment_notes(&journal(Some("hi"), true)), None, "private notes stay in Redmine");
        assert_eq!(comment_notes(&journal(Some(" \r\n"), false)), None, "a field change without notes");
        assert_eq!(comment_notes(&journal(None, false)), None);
    }

    #[test]
    fn note_text_compares_without_crlf_and_surrounding_space() {
        assert!(same_text("a\r\nb\r\n", "a\nb"));
        assert!(!same_text("a b", "a\nb"));
    }
}
