//! Redmine note text ⇄ Ferry's neutral HTML (`ferry_domain::collab`).
//!
//! Redmine keeps a note as the source text of the instance's text formatting (Textile by
//! default, or Markdown), and its REST API does not say which one an instance uses. Ferry
//! reads and writes what both formats show alike, and takes the rest as plain text:
//!
//! | Redmine note | neutral |
//! |---|---|
//! | paragraphs (a blank line between), line breaks | `<p>`, `<br>` |
//! | a bare `http(s)://` URL (both formats link it) | `<a href="URL">URL</a>` |
//! | `@login` of a known user (Redmine 5 mentions) | `<span data-ferry-mention="ID">@Name</span>` |
//! | `!file.png!` (Textile) or `![alt](file.png)` (Markdown) naming an attachment of the issue | `<img src="ferry-attachment:ID" alt="file.png">` |
//!
//! Other markup (`*bold*`, `h1.`, tables) is read as the characters it is written with.
//! Written: blocks and line breaks as lines ([`crate::html::to_text`]), a link as
//! `text (URL)` (the URL alone when it is the text), a mention of a user whose login is
//! known as `@login` (otherwise its text, "@Name"), an inline image of an attachment as
//! Textile's `!file.png!` (a Markdown instance shows that as text: the file stays
//! attached), an image without a copy as its alt text.

use crate::html::{self, Node};
use ferry_domain::collab::{ATTACHMENT_SCHEME, MENTION_ATTRIBUTE, ORIGIN_FRAGMENT};
use ferry_domain::html::escape_html_into;
use std::collections::HashMap;

/// What a note names, resolved by the connector before a conversion.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Names {
    /// Login → (user id, display name), for reading `@login`; user id → login, for writing.
    pub users: HashMap<String, (String, String)>,
    pub logins: HashMap<String, String>,
    /// File name → attachment id, for reading; attachment id → file name, for writing.
    pub files: HashMap<String, String>,
    pub file_names: HashMap<String, String>,
}

/// A Redmine note as neutral HTML.
pub fn to_neutral(note: &str, names: &Names) -> String {
    let note = note.replace("\r\n", "\n");
    let mut out = String::with_capacity(note.len() + 16);
    for para in note.split("\n\n").map(|p| p.trim_matches('\n')).filter(|p| !p.trim().is_empty()) {
        out.push_str("<p>");
        for (i, line) in para.split('\n').enumerate() {
            if i > 0 {
                out.push_str("<br>");
            }
            inline(line, names, &mut out);
        }
        out.push_str("</p>");
    }
    out
}

/// One line: URLs, mentions and inline images translated, the rest escaped as text.
fn inline(line: &str, names: &Names, out: &mut String) {
    let mut rest = line;
    while !rest.is_empty() {
        let at_word_start = |i: usize| i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let next = rest.char_indices().find_map(|(i, c)| match c {
            'h' if rest[i..].starts_with("http://") || rest[i..].starts_with("https://") => {
                url_at(&rest[i..]).map(|n| (i, n, Token::Url))
            }
            '@' if at_word_start(i) => mention_at(&rest[i..], names).map(|(n, id)| (i, n, Token::Mention(id))),
            '!' => image_at(&rest[i..], names).map(|(n, id)| (i, n, Token::Image(id))),
            _ => None,
        });
        let Some((at, len, token)) = next else {
            escape_html_into(rest, out, false);
            return;
        };
        escape_html_into(&rest[..at], out, false);
        let text = &rest[at..at + len];
        match token {
            Token::Url => {
                out.push_str("<a href=\"");
                escape_html_into(text, out, false);
                out.push_str("\">");
                escape_html_into(text, out, false);
                out.push_str("</a>");
            }
            Token::Mention(login) => {
                let (id, name) = &names.users[&login];
                out.push_str("<span ");
                out.push_str(MENTION_ATTRIBUTE);
                out.push_str("=\"");
                escape_html_into(id, out, false);
                out.push_str("\">@");
                escape_html_into(name, out, false);
                out.push_str("</span>");
            }
            Token::Image(file) => {
                out.push_str("<img src=\"");
                out.push_str(ATTACHMENT_SCHEME);
                escape_html_into(&names.files[&file], out, false);
                out.push_str("\" alt=\"");
                escape_html_into(&file, out, false);
                out.push_str("\">");
            }
        }
        rest = &rest[at + len..];
    }
}

enum Token {
    Url,
    /// The login.
    Mention(String),
    /// The file name.
    Image(String),
}

/// The length of the URL at the start of `s`: up to white space, without trailing
/// punctuation, and without a closing parenthesis it does not open.
fn url_at(s: &str) -> Option<usize> {
    let end = s.find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"').unwrap_or(s.len());
    let mut url = &s[..end];
    loop {
        let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'']);
        let unbalanced = trimmed.ends_with(')') && trimmed.matches('(').count() < trimmed.matches(')').count();
        let trimmed = if unbalanced { &trimmed[..trimmed.len() - 1] } else { trimmed };
        if trimmed.len() == url.len() {
            break;
        }
        url = trimmed;
    }
    let scheme = if url.starts_with("https://") { 8 } else { 7 };
    (url.len() > scheme).then_some(url.len())
}

/// `@login` of a known user at the start of `s` (the characters Redmine's mention
/// pattern takes, a trailing dot left out): its length and the login.
fn mention_at(s: &str, names: &Names) -> Option<(usize, String)> {
    let body = &s[1..];
    let end =
        body.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | '.'))).unwrap_or(body.len());
    let login = body[..end].trim_end_matches('.');
    let key = login.to_lowercase();
    names.users.contains_key(&key).then(|| (1 + login.len(), key))
}

/// An inline image at the start of `s` naming an attachment: Textile `!file!` or
/// Markdown `![alt](file)`. Its length and the file name.
fn image_at(s: &str, names: &Names) -> Option<(usize, String)> {
    let line_end = s.find('\n').unwrap_or(s.len());
    let s = &s[..line_end];
    let (len, file) = if let Some(md) = s.strip_prefix("![") {
        let close = md.find("](")?;
        let target = &md[close + 2..];
        let end = target.find(')')?;
        (2 + close + 2 + end + 1, &target[..end])
    } else {
        let inner = &s[1..];
        let end = inner.find('!')?;
        (1 + end + 1, &inner[..end])
    };
    // Textile's alignment marks and title: `!>file.png(title)!`.
    let file = file.trim_start_matches(['<', '>', '=']).split('(').next().unwrap_or_default().trim();
    let decoded = url::form_urlencoded::parse(format!("f={}", file.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    [file.to_string(), decoded].into_iter().find(|f| !f.is_empty() && names.files.contains_key(f)).map(|f| (len, f))
}

/// Neutral HTML as a Redmine note.
pub fn from_neutral(neutral: &str, names: &Names) -> String {
    let flat = html::clean(neutral, &|node, out| match node {
        Node::Element { name, .. } if name == "a" => {
            let text = text_of(node);
            match node.attr("href").filter(|h| html::link_allowed(h)) {
                Some(href) if href == text.trim() || text.trim().is_empty() => escape_html_into(href, out, false),
                Some(href) => escape_html_into(&format!("{text} ({href})"), out, false),
                None => escape_html_into(&text, out, false),
            }
            true
        }
        Node::Element { name, .. } if name == "span" && node.attr(MENTION_ATTRIBUTE).is_some() => {
            let id = node.attr(MENTION_ATTRIBUTE).unwrap_or_default();
            match names.logins.get(id) {
                Some(login) => escape_html_into(&format!("@{login}"), out, false),
                None => escape_html_into(&text_of(node), out, false),
            }
            true
        }
        Node::Element { name, .. } if name == "img" => {
            let src = node.attr("src").unwrap_or_default();
            let file = src.strip_prefix(ATTACHMENT_SCHEME).and_then(|id| names.file_names.get(id));
            match file {
                Some(f) => escape_html_into(&format!("!{f}!"), out, false),
                None => escape_html_into(node.attr("alt").unwrap_or_default(), out, false),
            }
            true
        }
        _ => false,
    });
    html::to_text(&flat)
}

/// A person's note without the origin marks of Ferry's copies it quotes (Redmine's
/// "Quote" copies a note's text, attribution link and all): the quote keeps its link to
/// the original, and the person's note is not taken for one of Ferry's.
pub fn without_origin(note: &str) -> String {
    let mark = format!("#{ORIGIN_FRAGMENT}");
    let mut out = String::with_capacity(note.len());
    let mut rest = note;
    while let Some(at) = rest.find(&mark) {
        out.push_str(&rest[..at]);
        let tail = &rest[at + mark.len()..];
        let end =
            tail.find(|c: char| !(c.is_alphanumeric() || matches!(c, ':' | '.' | '_' | '-'))).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The user ids mentioned and the attachment ids pictured in neutral HTML.
pub fn references(neutral: &str) -> (Vec<String>, Vec<String>) {
    let (mut users, mut files) = (Vec::new(), Vec::new());
    fn walk(nodes: &[Node], users: &mut Vec<String>, files: &mut Vec<String>) {
        for n in nodes {
            if let Node::Element { name, children, .. } = n {
                if let Some(id) = n.attr(MENTION_ATTRIBUTE).filter(|_| name == "span") {
                    users.push(id.to_string());
                }
                if let Some(id) =
                    n.attr("src").and_then(|s| s.strip_prefix(ATTACHMENT_SCHEME)).filter(|_| name == "img")
                {
                    files.push(id.to_string());
                }
                walk(children, users, files);
            }
        }
    }
    walk(&html::parse(neutral), &mut users, &mut files);
    (users, files)
}

/// The `@word`s of notes that may be logins (lower case, each once).
pub fn mention_candidates<'a>(notes: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for note in notes {
        for (i, _) in note.match_indices('@') {
            if note[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let body = &note[i + 1..];
            let end = body
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | '.')))
                .unwrap_or(body.len());
            let login = body[..end].trim_end_matches('.').to_lowercase();
            if !login.is_empty() && !out.contains(&login) {
                out.push(login);
            }
        }
    }
    out
}

fn text_of(node: &Node) -> String {
    fn walk(n: &Node, out: &mut String) {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Element { children, .. } => children.iter().for_each(|c| walk(c, out)),
        }
    }
    let mut out = String::new();
    walk(node, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut n = Names::default();
        n.users.insert("bob".into(), ("6".into(), "Bob Baker".into()));
        n.logins.insert("6".into(), "bob".into());
        n.files.insert("shot one.png".into(), "41".into());
        n.files.insert("a.png".into(), "42".into());
        n.file_names.insert("42".into(), "a.png".into());
        n
    }

    #[test]
    fn a_note_reads_as_paragraphs_links_mentions_and_inline_images() {
        let table = [
            ("one line", "<p>one line</p>"),
            ("a\r\nb\r\n\r\nc", "<p>a<br>b</p><p>c</p>"),
            ("1 < 2 & *bold*", "<p>1 &lt; 2 &amp; *bold*</p>"),
            (
                "see https://x.test/a?b=1&c=2#frag.",
                "<p>see <a href=\"https://x.test/a?b=1&amp;c=2#frag\">https://x.test/a?b=1&amp;c=2#frag</a>.</p>",
            ),
            ("(https://x.test/p)", "<p>(<a href=\"https://x.test/p\">https://x.test/p</a>)</p>"),
            ("hi @bob.", "<p>hi <span data-ferry-mention=\"6\">@Bob Baker</span>.</p>"),
            (
                "hi @Bob, @nobody and mail@bob",
                "<p>hi <span data-ferry-mention=\"6\">@Bob Baker</span>, @nobody and mail@bob</p>",
            ),
            ("!a.png! and !missing.png!", "<p><img src=\"ferry-attachment:42\" alt=\"a.png\"> and !missing.png!</p>"),
            ("![shot](shot%20one.png)", "<p><img src=\"ferry-attachment:41\" alt=\"shot one.png\"></p>"),
            ("!>a.png(title)! wow!", "<p><img src=\"ferry-attachment:42\" alt=\"a.png\"> wow!</p>"),
        ];
        for (note, want) in table {
            assert_eq!(to_neutral(note, &names()), want, "{note:?}");
        }
    }

    #[test]
    fn neutral_html_writes_as_note_text() {
        let table = [
            ("<p>a <strong>b</strong></p><p>c<br>d</p>", "a b\nc\nd"),
            (
                "<p><a href=\"https://x.test/p#ferry-origin=m\">original</a>:</p>",
                "original (https://x.test/p#ferry-origin=m):",
            ),
            ("<p><a href=\"https://x.test/\">https://x.test/</a></p>", "https://x.test/"),
            ("<p><a href=\"javascript:alert(1)\">x</a></p>", "x"),
            ("<p><span data-ferry-mention=\"6\">@Bob Baker</span> hi</p>", "@bob hi"),
            ("<p><span data-ferry-mention=\"99\">@Zed Zulu</span></p>", "@Zed Zulu"),
            ("<p><img src=\"ferry-attachment:42\" alt=\"x\"></p>", "!a.png!"),
            ("<p><img src=\"ferry-attachment:7\" alt=\"gone.png\"></p>", "gone.png"),
            ("<p>1 &lt; 2</p>", "1 < 2"),
        ];
        for (html, want) in table {
            assert_eq!(from_neutral(html, &names()), want, "{html}");
        }
    }

    #[test]
    fn a_note_written_from_neutral_html_reads_back_with_its_mentions_and_images() {
        let html = "<p>hi <span data-ferry-mention=\"6\">@Bob Baker</span></p><p><img src=\"ferry-attachment:42\" alt=\"a.png\"></p>";
        let back = "<p>hi <span data-ferry-mention=\"6\">@Bob Baker</span><br><img src=\"ferry-attachment:42\" alt=\"a.png\"></p>";
        assert_eq!(to_neutral(&from_neutral(html, &names()), &names()), back, "paragraphs become lines");
    }

    #[test]
    fn a_quoted_origin_mark_is_dropped_and_the_link_kept() {
        let quote = "Ferry Bot wrote:\n> Alice wrote (original (https://x.test/browse/APP-1#ferry-origin=ferry:app:left:APP-1:10001)):\n> hi";
        assert_eq!(
            without_origin(quote),
            "Ferry Bot wrote:\n> Alice wrote (original (https://x.test/browse/APP-1)):\n> hi"
        );
        assert_eq!(without_origin("no mark here"), "no mark here");
    }

    #[test]
    fn references_and_mention_candidates_are_listed_once() {
        let html = "<p><span data-ferry-mention=\"6\">@B</span><img src=\"ferry-attachment:42\" alt=\"a\"><img src=\"x.png\"></p>";
        assert_eq!(references(html), (vec!["6".to_string()], vec!["42".to_string()]));
        let notes = ["@Bob and @bob, mail@x.test", "@carol."];
        assert_eq!(mention_candidates(notes.into_iter()), ["bob", "carol"]);
    }
}
