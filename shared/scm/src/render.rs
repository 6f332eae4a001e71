//! How a commit looks on a work item: its link's title and global id, and its comment
//! (neutral HTML, which each connector turns into its system's markup).

use crate::git::CommitInfo;
use chrono::DateTime;
use ferry_domain::html::escape_html_into;
use ferry_domain::IntegrationId;

/// Most changed files a comment lists; the rest are counted.
const MAX_FILES: usize = 20;

/// The commit's abbreviated id (its first 10 hex digits).
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// A commit's remote link id: one link per commit and work item, whatever retries.
pub fn link_global_id(integration: &IntegrationId, sha: &str) -> String {
    format!("ferry:{integration}:commit:{sha}")
}

/// The origin mark of a commit's comment.
pub fn comment_origin(integration: &IntegrationId, sha: &str) -> String {
    format!("ferry:{integration}:commit:{sha}")
}

/// `abc1234567 First line of the message`.
pub fn link_title(commit: &CommitInfo) -> String {
    let subject = commit.message.lines().next().unwrap_or("");
    format!("{} {}", short(&commit.sha), subject).trim_end().to_string()
}

/// The comment: who committed what when, the message, the files, and the full commit id
/// (which also finds the comment again where a system keeps no origin mark).
pub fn comment_html(repository: &str, commit: &CommitInfo, url: Option<&str>) -> String {
    let mut out = String::from("<p><strong>Commit ");
    match url {
        Some(u) => {
            out.push_str("<a href=\"");
            escape_html_into(u, &mut out, false);
            out.push_str("\">");
            out.push_str(short(&commit.sha));
            out.push_str("</a>");
        }
        None => out.push_str(short(&commit.sha)),
    }
    out.push_str("</strong> in ");
    escape_html_into(repository, &mut out, false);
    out.push_str(" by ");
    escape_html_into(&format!("{} <{}>", commit.author_name, commit.author_email), &mut out, false);
    let when = DateTime::from_timestamp(commit.author_time, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    if let Some(when) = when {
        out.push_str(", ");
        out.push_str(&when);
    }
    out.push_str("</p><p>");
    escape_html_into(&commit.message, &mut out, true);
    out.push_str("</p>");
    if !commit.files.is_empty() {
        out.push_str("<p>Files changed: ");
        for (i, f) in commit.files.iter().take(MAX_FILES).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str("<code>");
            escape_html_into(f, &mut out, false);
            out.push_str("</code>");
        }
        if commit.files.len() > MAX_FILES {
            out.push_str(&format!(" and {} more", commit.files.len() - MAX_FILES));
        }
        out.push_str("</p>");
    }
    out.push_str("<p>Commit id: ");
    out.push_str(&commit.sha);
    out.push_str("</p>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(message: &str, files: usize) -> CommitInfo {
        CommitInfo {
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            author_name: "Dana <Dev>".into(),
            author_email: "dana@example.test".into(),
            author_time: 981_173_106,
            message: message.into(),
            files: (0..files).map(|i| format!("src/f{i}.rs")).collect(),
        }
    }

    #[test]
    fn a_comment_names_author_time_message_files_and_the_full_id_escaped() {
        let html =
            comment_html("app-repo", &commit("APP-12 fix <b>\nsecond line", 2), Some("https://git.test/c/{x}&y"));
        assert_eq!(
            html,
            "<p><strong>Commit <a href=\"https://git.test/c/{x}&amp;y\">0123456789</a></strong> in app-repo by \
             Dana &lt;Dev&gt; &lt;dana@example.test&gt;, 2001-02-03 04:05 UTC</p><p>APP-12 fix &lt;b&gt;<br>second \
             line</p><p>Files changed: <code>src/f0.rs</code>, <code>src/f1.rs</code></p><p>Commit id: \
             0123456789abcdef0123456789abcdef01234567</p>"
        );
    }

    #[test]
    fn a_long_file_list_is_cut_and_counted_and_no_web_url_gives_plain_text() {
        let html = comment_html("r", &commit("m", 25), None);
        assert!(html.contains("<strong>Commit 0123456789</strong>"), "{html}");
        assert!(html.contains("<code>src/f19.rs</code> and 5 more</p>"), "{html}");
        assert!(!html.contains("src/f20.rs"), "{html}");
    }

    #[test]
    fn a_link_is_titled_by_the_short_id_and_the_subject() {
        assert_eq!(link_title(&commit("APP-12 fix\n\nbody", 0)), "0123456789 APP-12 fix");
        let id = IntegrationId::parse("app-commits").unwrap();
        assert_eq!(link_global_id(&id, "abc"), "ferry:app-commits:commit:abc");
    }
}
