//! Rewrites the neutral mention and inline-image markup of a rich text (see
//! `ferry_domain::collab`) from the source's people and attachments to the target's.
//!
//! Connectors write the markup in exactly one form each —
//! `<span data-ferry-mention="ID">@Name</span>` and `<img src="ferry-attachment:ID" alt="NAME">`
//! (attribute values HTML-escaped) — so a scan for those forms finds every occurrence.

use ferry_domain::collab::{ATTACHMENT_SCHEME, MENTION_ATTRIBUTE};
use ferry_domain::html::escape_html_into;

/// The target's side of a mention: a person the user mapping found, or plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mentioned {
    /// The person's id in the target system, and the name to show.
    Person { id: String, name: String },
    /// No match: the mention becomes the text "@Name".
    Text,
}

/// The target's side of an inline image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pictured {
    /// The id of the image's copy among the target entity's attachments.
    Attachment(String),
    /// Not copied (over `max_size`, or gone): a link to where the image can be seen.
    Link(String),
}

/// `html` with every mention and inline image rewritten by `person` (source user id →
/// target) and `image` (source attachment id → target).
pub fn rewrite(html: &str, person: &dyn Fn(&str) -> Mentioned, image: &dyn Fn(&str) -> Pictured) -> String {
    let mention_open = format!("<span {MENTION_ATTRIBUTE}=\"");
    let image_open = format!("<img src=\"{ATTACHMENT_SCHEME}");
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    loop {
        let m = rest.find(&mention_open);
        let i = rest.find(&image_open);
        let (at, is_mention) = match (m, i) {
            (Some(m), Some(i)) if i < m => (i, false),
            (Some(m), _) => (m, true),
            (None, Some(i)) => (i, false),
            (None, None) => break,
        };
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let done = if is_mention {
            mention(tail, &mention_open, person, &mut out)
        } else {
            picture(tail, &image_open, image, &mut out)
        };
        match done {
            Some(used) => rest = &tail[used..],
            None => {
                // Not the connectors' form (cannot happen for their output): kept as it is.
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The ids of the people `html` mentions, in order, each once.
pub fn mention_ids(html: &str) -> Vec<String> {
    ids_after(html, &format!("<span {MENTION_ATTRIBUTE}=\""))
}

/// The attachment ids of the inline images of `html`, in order, each once.
pub fn image_ids(html: &str) -> Vec<String> {
    ids_after(html, &format!("<img src=\"{ATTACHMENT_SCHEME}"))
}

/// The (unescaped) attribute values that follow each `open` in `html`, each once.
fn ids_after(html: &str, open: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in html.match_indices(open) {
        let rest = &html[i + open.len()..];
        if let Some(end) = rest.find('"') {
            let id = unescape(&rest[..end]);
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// Rewrites the mention at the start of `tail`; returns the bytes it used.
fn mention(tail: &str, open: &str, person: &dyn Fn(&str) -> Mentioned, out: &mut String) -> Option<usize> {
    let after = &tail[open.len()..];
    let id_end = after.find('"')?;
    let id = unescape(&after[..id_end]);
    let text_start = after[id_end..].find('>')? + id_end + 1;
    let text_end = after[text_start..].find("</span>")? + text_start;
    let shown = unescape(&after[text_start..text_end]);
    let name = shown.strip_prefix('@').unwrap_or(&shown);
    match person(&id) {
        Mentioned::Person { id, name } => {
            out.push_str("<span ");
            out.push_str(MENTION_ATTRIBUTE);
            out.push_str("=\"");
            escape_html_into(&id, out, false);
            out.push_str("\">@");
            escape_html_into(&name, out, false);
            out.push_str("</span>");
        }
        Mentioned::Text => {
            out.push('@');
            escape_html_into(name, out, false);
        }
    }
    Some(open.len() + text_end + "</span>".len())
}

/// Rewrites the image at the start of `tail`; returns the bytes it used.
fn picture(tail: &str, open: &str, image: &dyn Fn(&str) -> Pictured, out: &mut String) -> Option<usize> {
    let after = &tail[open.len()..];
    let id_end = after.find('"')?;
    let id = unescape(&after[..id_end]);
    let tag_end = after[id_end..].find('>')? + id_end + 1;
    let alt = attribute(&after[id_end..tag_end], "alt").unwrap_or_default();
    match image(&id) {
        Pictured::Attachment(target) => {
            out.push_str("<img src=\"");
            out.push_str(ATTACHMENT_SCHEME);
            escape_html_into(&target, out, false);
            out.push_str("\" alt=\"");
            escape_html_into(&alt, out, false);
            out.push_str("\">");
        }
        Pictured::Link(url) => {
            out.push_str("<a href=\"");
            escape_html_into(&url, out, false);
            out.push_str("\">");
            escape_html_into(if alt.is_empty() { "image" } else { &alt }, out, false);
            out.push_str("</a>");
        }
    }
    Some(open.len() + tag_end)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// Undoes [`escape_html_into`] (the only escapes the connectors' form contains).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(id: &str) -> Mentioned {
        match id {
            "acc-alice" => Mentioned::Person { id: "vsid-alice".into(), name: "Alice Jones".into() },
            _ => Mentioned::Text,
        }
    }

    fn images(id: &str) -> Pictured {
        match id {
            "10001" => Pictured::Attachment("a1b2".into()),
            other => Pictured::Link(format!("https://jira.test/attachment/content/{other}")),
        }
    }

    #[test]
    fn mentions_and_images_are_rewritten_for_the_target() {
        let cases = [
            (
                "a mapped person",
                r#"<p>Hi <span data-ferry-mention="acc-alice">@Alice J</span>!</p>"#,
                r#"<p>Hi <span data-ferry-mention="vsid-alice">@Alice Jones</span>!</p>"#,
            ),
            (
                "an unmapped person becomes text",
                r#"<span data-ferry-mention="acc-x">@Bob &amp; Co</span>."#,
                "@Bob &amp; Co.",
            ),
            (
                "a copied image",
                r#"<p><img src="ferry-attachment:10001" alt="shot.png"></p>"#,
                r#"<p><img src="ferry-attachment:a1b2" alt="shot.png"></p>"#,
            ),
            (
                "an image not copied becomes a link",
                r#"<img src="ferry-attachment:10002" alt="big.png">"#,
                r#"<a href="https://jira.test/attachment/content/10002">big.png</a>"#,
            ),
            ("text without markup", "<p>plain &amp; simple</p>", "<p>plain &amp; simple</p>"),
            (
                "markup in any order",
                r#"<img src="ferry-attachment:10001" alt="a"> then <span data-ferry-mention="acc-alice">@A</span>"#,
                r#"<img src="ferry-attachment:a1b2" alt="a"> then <span data-ferry-mention="vsid-alice">@Alice Jones</span>"#,
            ),
            ("an unclosed mention is kept", r#"<span data-ferry-mention="x">@x"#, r#"<span data-ferry-mention="x">@x"#),
        ];
        for (what, input, want) in cases {
            assert_eq!(rewrite(input, &people, &images), want, "{what}");
        }
    }

    #[test]
    fn the_people_and_images_a_text_refers_to_are_listed_once_in_order() {
        let html = r#"<p><span data-ferry-mention="b">@B</span> <img src="ferry-attachment:1&amp;2" alt="x">
            <span data-ferry-mention="a">@A</span> <span data-ferry-mention="b">@B</span>
            <img src="https://x.test/a.png"> <img src="ferry-attachment:3" alt="y"></p>"#;
        assert_eq!(mention_ids(html), ["b", "a"]);
        assert_eq!(image_ids(html), ["1&2", "3"]);
        assert!(mention_ids("<p>@Bob</p>").is_empty() && image_ids("<p>@Bob</p>").is_empty());
    }
}
