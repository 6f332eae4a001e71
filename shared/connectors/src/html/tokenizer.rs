//! Splits HTML into start tags, end tags and text, following the HTML standard's
//! tokenization where it changes what a reader sees:
//! - line breaks are normalised (`\r\n` and a lone `\r` become `\n`);
//! - `<` not followed by a letter is text; `</>` is nothing; `</3` and `<!x>`, `<?x>`
//!   are bogus comments up to the next `>`; comments end at `-->`, `--!>`, or at once
//!   for `<!-->` and `<!--->`, and an unclosed one runs to the end;
//! - a tag cut off by the end of the input is dropped;
//! - tag and attribute names are lower-cased, the first of two same-named attributes
//!   wins, values are quoted, unquoted or missing;
//! - the content of `script`, `style`, `xmp`, `iframe`, `noembed`, `noframes`,
//!   `noscript` is raw text, of `title` and `textarea` text with references, of
//!   `plaintext` everything to the end: no tags inside them.
//!
//! NUL characters are kept as they are (the standard replaces or drops them), so that
//! text holding one reads back as it was written.

use super::entities::{decode_attribute, decode_entities};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Start { name: String, attrs: Attributes, self_closing: bool },
    End(String),
    Text(String),
}

pub(super) fn tokenize(html: &str) -> Vec<Token> {
    let src = normalise_newlines(html);
    let mut t = Tokenizer { src: &src, pos: 0, text: String::new(), tokens: Vec::new() };
    t.run();
    t.tokens
}

fn normalise_newlines(html: &str) -> Cow<'_, str> {
    if html.contains('\r') {
        Cow::Owned(html.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(html)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b' ')
}

/// How the content of an element is read.
#[derive(Clone, Copy, PartialEq)]
enum Content {
    /// Text up to the element's end tag, references not decoded.
    Raw,
    /// Text up to the element's end tag, references decoded.
    Rcdata,
    /// Everything to the end of the input is text.
    Plaintext,
}

fn content_of(name: &str) -> Option<Content> {
    match name {
        "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => Some(Content::Raw),
        "title" | "textarea" => Some(Content::Rcdata),
        "plaintext" => Some(Content::Plaintext),
        _ => None,
    }
}

struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
    /// Text read since the last tag, references not yet decoded.
    text: String,
    tokens: Vec<Token>,
}

impl Tokenizer<'_> {
    fn run(&mut self) {
        while self.pos < self.src.len() {
            let rest = &self.src[self.pos..];
            let Some(lt) = rest.find('<') else {
                self.text.push_str(rest);
                break;
            };
            self.text.push_str(&rest[..lt]);
            self.pos += lt;
            self.markup();
        }
        self.flush_text();
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn flush_text(&mut self) {
        if !self.text.is_empty() {
            let text = decode_entities(&std::mem::take(&mut self.text));
            self.tokens.push(Token::Text(text));
        }
    }

    /// At a `<`. Text never runs across a comment: a reference cannot be split by one.
    fn markup(&mut self) {
        let b = self.rest().as_bytes();
        match b.get(1) {
            Some(b'!') if self.rest().starts_with("<!--") => {
                self.flush_text();
                self.comment();
            }
            Some(b'!' | b'?') => {
                self.flush_text();
                self.bogus_comment(2);
            }
            Some(b'/') => match b.get(2) {
                Some(c) if c.is_ascii_alphabetic() => self.tag(true),
                Some(b'>') => {
                    self.flush_text();
                    self.pos += 3;
                }
                Some(_) => {
                    self.flush_text();
                    self.bogus_comment(2);
                }
                None => self.literal(2),
            },
            Some(c) if c.is_ascii_alphabetic() => self.tag(false),
            _ => self.literal(1),
        }
    }

    /// `n` bytes of markup that turned out to be text.
    fn literal(&mut self, n: usize) {
        let n = n.min(self.rest().len());
        self.text.push_str(&self.src[self.pos..self.pos + n]);
        self.pos += n;
    }

    fn comment(&mut self) {
        let body = &self.rest()[4..];
        let len = if body.starts_with('>') {
            1
        } else if body.starts_with("->") {
            2
        } else {
            let end = [("-->", 3), ("--!>", 4)].iter().filter_map(|(s, n)| body.find(s).map(|i| i + n)).min();
            end.unwrap_or(body.len())
        };
        self.pos += 4 + len;
    }

    /// Skips to just after the next `>` (or the end), starting `from` bytes in.
    fn bogus_comment(&mut self, from: usize) {
        let body = &self.rest()[from..];
        self.pos += from + body.find('>').map_or(body.len(), |i| i + 1);
    }

    fn tag(&mut self, is_end: bool) {
        let start = self.pos + if is_end { 2 } else { 1 };
        let name_len = self.src[start..].bytes().position(|b| is_space(b) || b == b'/' || b == b'>');
        let name_end = start + name_len.unwrap_or(self.src.len() - start);
        let Some((attrs, self_closing, used)) = attributes(&self.src[name_end..]) else {
            // The input ends inside the tag: the standard drops it.
            self.pos = self.src.len();
            return;
        };
        let name = self.src[start..name_end].to_ascii_lowercase();
        self.pos = name_end + used;
        self.flush_text();
        if is_end {
            self.tokens.push(Token::End(name));
            return;
        }
        let content = content_of(&name);
        self.tokens.push(Token::Start { name: name.clone(), attrs, self_closing });
        if let Some(content) = content {
            self.special_content(&name, content);
        }
    }

    /// The text of a raw-text, RCDATA or plaintext element, up to its end tag.
    fn special_content(&mut self, name: &str, content: Content) {
        let rest = self.rest();
        let len = match content {
            Content::Plaintext => rest.len(),
            _ => end_tag_at(rest, name).unwrap_or(rest.len()),
        };
        let text = &rest[..len];
        if !text.is_empty() {
            let text = if content == Content::Rcdata { decode_entities(text) } else { text.to_string() };
            self.tokens.push(Token::Text(text));
        }
        self.pos += len;
    }
}

/// Where `</name` (any case) followed by a space, `/` or `>` starts in `s`.
fn end_tag_at(s: &str, name: &str) -> Option<usize> {
    let b = s.as_bytes();
    let n = name.len();
    s.match_indices("</").map(|(i, _)| i).find(|&i| {
        b.get(i + 2..i + 2 + n).is_some_and(|t| t.eq_ignore_ascii_case(name.as_bytes()))
            && b.get(i + 2 + n).is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
    })
}

/// A tag's name and value pairs, in order.
type Attributes = Vec<(String, String)>;

/// Attributes after a tag name, up to and including `>`: (attributes, self-closing,
/// bytes used), or `None` when the input ends first.
fn attributes(s: &str) -> Option<(Attributes, bool, usize)> {
    let b = s.as_bytes();
    let mut attrs: Attributes = Vec::new();
    let mut i = 0;
    loop {
        while b.get(i).is_some_and(|c| is_space(*c)) {
            i += 1;
        }
        match *b.get(i)? {
            b'>' => return Some((attrs, false, i + 1)),
            b'/' if b.get(i + 1) == Some(&b'>') => return Some((attrs, true, i + 2)),
            b'/' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        // A name may start with `=`; it runs to a space, `/`, `>` or `=`.
        let start = i;
        i += 1;
        while b.get(i).is_some_and(|&c| !is_space(c) && !matches!(c, b'/' | b'>' | b'=')) {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        while b.get(i).is_some_and(|c| is_space(*c)) {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            let (v, used) = attribute_value(&s[i + 1..])?;
            value = v;
            i += 1 + used;
        }
        if !attrs.iter().any(|(k, _)| *k == name) {
            attrs.push((name, value));
        }
    }
}

/// A value after `=`: (decoded value, bytes used), or `None` when the input ends first.
fn attribute_value(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let start = b.iter().position(|c| !is_space(*c))?;
    match b[start] {
        q @ (b'"' | b'\'') => {
            let len = s[start + 1..].find(char::from(q))?;
            Some((decode_attribute(&s[start + 1..start + 1 + len]), start + len + 2))
        }
        // `<a href=>`: an empty value, and the `>` ends the tag.
        b'>' => Some((String::new(), start)),
        _ => {
            let len = s[start..].bytes().position(|c| is_space(c) || c == b'>').unwrap_or(s.len() - start);
            Some((decode_attribute(&s[start..start + len]), start + len))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(name: &str, attrs: &[(&str, &str)]) -> Token {
        let attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Token::Start { name: name.into(), attrs, self_closing: false }
    }

    fn end(name: &str) -> Token {
        Token::End(name.into())
    }

    fn text(t: &str) -> Token {
        Token::Text(t.into())
    }

    #[test]
    fn tokenizer_reads_edge_cases_as_the_html_standard_does() {
        let cases: Vec<(&str, &str, Vec<Token>)> = vec![
            ("plain tags", "<p>a</p>", vec![start("p", &[]), text("a"), end("p")]),
            ("names are lower-cased", "<P CLASS=x></P>", vec![start("p", &[("class", "x")]), end("p")]),
            ("a lone < is text", "1 < 2 <3", vec![text("1 < 2 <3")]),
            ("< before a non-ASCII letter is text", "<ü>", vec![text("<ü>")]),
            ("</> is nothing", "a</>b", vec![text("a"), text("b")]),
            ("</ before a non-letter is a bogus comment", "a</ 3>b", vec![text("a"), text("b")]),
            ("</ at the end is text", "a</", vec![text("a</")]),
            ("comment", "a<!-- x -->b", vec![text("a"), text("b")]),
            ("<!--> is an empty comment", "a<!-->b", vec![text("a"), text("b")]),
            ("<!---> is an empty comment", "a<!--->b", vec![text("a"), text("b")]),
            ("--!> ends a comment", "a<!-- x --!>b", vec![text("a"), text("b")]),
            ("unclosed comment runs to the end", "a<!-- x", vec![text("a")]),
            ("doctype and processing instruction", "<!DOCTYPE html><?xml v?>a", vec![text("a")]),
            ("CDATA is a bogus comment", "<![CDATA[x]]>a", vec![text("a")]),
            ("a reference is not split by a comment", "&am<!---->p;", vec![text("&am"), text("p;")]),
            ("tag cut off by the end is dropped", "a<a href=\"x", vec![text("a")]),
            ("unquoted tag cut off", "a<b", vec![text("a")]),
            (
                "quoted, unquoted and missing values",
                "<a x='1' y=2 z>",
                vec![start("a", &[("x", "1"), ("y", "2"), ("z", "")])],
            ),
            ("spaces around =", "<a x = \"1\">", vec![start("a", &[("x", "1")])]),
            ("first of two same-named attributes wins", "<a x=1 X=2>", vec![start("a", &[("x", "1")])]),
            ("an attribute name may start with =", "<a =x>", vec![start("a", &[("=x", "")])]),
            ("a missing value before >", "<a href=>t", vec![start("a", &[("href", "")]), text("t")]),
            ("unquoted value keeps a slash", "<a href=x/>", vec![start("a", &[("href", "x/")])]),
            (
                "self-closing flag",
                "<br/><p />",
                vec![
                    Token::Start { name: "br".into(), attrs: vec![], self_closing: true },
                    Token::Start { name: "p".into(), attrs: vec![], self_closing: true },
                ],
            ),
            ("a slash between attributes is ignored", "<a / x=1>", vec![start("a", &[("x", "1")])]),
            ("tag name runs to a space, / or >", "<a.b>", vec![start("a.b", &[])]),
            ("end tag attributes are ignored", "</p class=x>", vec![end("p")]),
            ("references in text", "&lt;&eacute", vec![text("<é")]),
            (
                "references in attributes",
                "<a href='?a=1&amp;b=2&copy=3'>",
                vec![start("a", &[("href", "?a=1&b=2&copy=3")])],
            ),
            ("CR LF and CR become LF", "a\r\nb\rc", vec![text("a\nb\nc")]),
            ("NUL is kept", "a\0b", vec![text("a\0b")]),
            (
                "script content is raw text",
                "<script>if (a<b) x='</p>'</script>c",
                vec![start("script", &[]), text("if (a<b) x='</p>'"), end("script"), text("c")],
            ),
            (
                "raw text ends only at its own end tag",
                "<style>a</styles>b</STYLE >c",
                vec![start("style", &[]), text("a</styles>b"), end("style"), text("c")],
            ),
            ("unclosed script runs to the end", "<script>x<p>y", vec![start("script", &[]), text("x<p>y")]),
            (
                "textarea content is text with references",
                "<textarea><b>&amp;</b></textarea>",
                vec![start("textarea", &[]), text("<b>&</b>"), end("textarea")],
            ),
            (
                "plaintext runs to the end",
                "<plaintext></plaintext>x",
                vec![start("plaintext", &[]), text("</plaintext>x")],
            ),
        ];
        for (name, html, want) in cases {
            assert_eq!(tokenize(html), want, "{name}");
        }
    }
}
