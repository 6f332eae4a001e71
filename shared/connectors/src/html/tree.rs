//! Builds a tree from tokens: the HTML standard's tree construction in miniature.
//!
//! - A block element ends an open paragraph or heading (not across a list, quote,
//!   division, cell or table); `<li>` ends the open list item, `<td>`/`<th>` the open
//!   cell, `<tr>` the open row.
//! - An end tag closes up to its element; an end tag with no open element is ignored,
//!   except `</br>`, which is a line break as in browsers.
//! - Void elements (`<br>`, `<img>`) have no content; `/>` on any other element is
//!   ignored, as in browsers (`<div/>x` puts `x` inside the division).
//! - A newline just after `<pre>`, `<listing>` or `<textarea>` is dropped.
//! - What a browser does not show is dropped with its content: `script`, `style`,
//!   `template`, `title`, `iframe`, `noembed`, `noframes`, `noscript`.
//! - Absurd nesting is flattened: past a fixed depth, elements are dropped and their
//!   content kept.

use super::tokenizer::{tokenize, Token};
use super::{is_block, is_void};

/// Open elements kept as structure; deeper ones give their content to their parent.
const MAX_OPEN: usize = 256;

/// A node of a parsed HTML fragment.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Element { name: String, attrs: Vec<(String, String)>, children: Vec<Node> },
    Text(String),
}

impl Node {
    /// The value of an attribute of an element.
    pub fn attr(&self, key: &str) -> Option<&str> {
        match self {
            Node::Element { attrs, .. } => attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()),
            Node::Text(_) => None,
        }
    }
}

/// Parses an HTML fragment into its top-level nodes. Never fails.
pub fn parse(html: &str) -> Vec<Node> {
    let mut b = Builder { stack: vec![Open::root()], hidden: None, after_pre: false };
    for token in tokenize(html) {
        b.token(token);
    }
    b.finish()
}

fn is_hidden(name: &str) -> bool {
    matches!(name, "script" | "style" | "template" | "title" | "iframe" | "noembed" | "noframes" | "noscript")
}

const PARAGRAPHS: &[&str] = &["p", "h1", "h2", "h3", "h4", "h5", "h6"];
const CONTAINERS: &[&str] = &["ul", "ol", "li", "blockquote", "div", "td", "th", "table", "pre"];

struct Open {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Open {
    fn root() -> Open {
        Open { name: String::new(), attrs: Vec::new(), children: Vec::new() }
    }
}

struct Builder {
    /// Open elements; index 0 is the fragment itself.
    stack: Vec<Open>,
    /// While inside a dropped element: its name and how many of it are open.
    hidden: Option<(String, usize)>,
    /// The last token was the start of an element whose leading newline is dropped.
    after_pre: bool,
}

impl Builder {
    fn token(&mut self, token: Token) {
        if self.skip_hidden(&token) {
            return;
        }
        let after_pre = std::mem::take(&mut self.after_pre);
        match token {
            Token::Text(t) => {
                let t = if after_pre { t.strip_prefix('\n').map(str::to_string).unwrap_or(t) } else { t };
                if !t.is_empty() {
                    self.append(Node::Text(t));
                }
            }
            Token::Start { name, attrs, .. } => self.start(name, attrs),
            Token::End(name) if name == "br" => self.start(name, Vec::new()),
            Token::End(name) => {
                if let Some(i) = self.open_index(&name) {
                    self.close_to(i);
                }
            }
        }
    }

    /// Consumes the tokens of a dropped element; true while inside one.
    fn skip_hidden(&mut self, token: &Token) -> bool {
        if let Some((hidden, open)) = &mut self.hidden {
            match token {
                Token::Start { name, .. } if name == hidden => *open += 1,
                Token::End(name) if name == hidden => *open -= 1,
                _ => {}
            }
            if *open == 0 {
                self.hidden = None;
            }
            return true;
        }
        if let Token::Start { name, .. } = token {
            if is_hidden(name) {
                self.hidden = Some((name.clone(), 1));
                return true;
            }
        }
        false
    }

    fn start(&mut self, name: String, attrs: Vec<(String, String)>) {
        if is_block(&name) {
            self.close_implied(PARAGRAPHS, CONTAINERS);
        }
        match name.as_str() {
            "li" => self.close_implied(&["li"], &["ul", "ol"]),
            "td" | "th" => self.close_implied(&["td", "th"], &["tr", "table"]),
            "tr" => self.close_implied(&["tr"], &["table"]),
            _ => {}
        }
        if is_void(&name) {
            self.append(Node::Element { name, attrs, children: Vec::new() });
        } else if self.stack.len() <= MAX_OPEN {
            self.after_pre = matches!(name.as_str(), "pre" | "listing" | "textarea");
            self.stack.push(Open { name, attrs, children: Vec::new() });
        }
    }

    fn append(&mut self, node: Node) {
        if let Some(top) = self.stack.last_mut() {
            top.children.push(node);
        }
    }

    /// The innermost open element named `name`.
    fn open_index(&self, name: &str) -> Option<usize> {
        (1..self.stack.len()).rev().find(|i| self.stack[*i].name == name)
    }

    /// Closes open elements down to and including index `i`.
    fn close_to(&mut self, i: usize) {
        while self.stack.len() > i.max(1) {
            if let Some(Open { name, attrs, children }) = self.stack.pop() {
                self.append(Node::Element { name, attrs, children });
            }
        }
    }

    /// Closes the innermost open element among `targets` unless one of `barriers` is
    /// open inside it.
    fn close_implied(&mut self, targets: &[&str], barriers: &[&str]) {
        for i in (1..self.stack.len()).rev() {
            let name = self.stack[i].name.as_str();
            if targets.contains(&name) {
                self.close_to(i);
                return;
            }
            if barriers.contains(&name) {
                return;
            }
        }
    }

    fn finish(mut self) -> Vec<Node> {
        self.close_to(1);
        self.stack.pop().map(|root| root.children).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(name: &str, children: Vec<Node>) -> Node {
        Node::Element { name: name.into(), attrs: Vec::new(), children }
    }

    fn text(t: &str) -> Node {
        Node::Text(t.into())
    }

    #[test]
    fn tree_building_follows_browsers_in_miniature() {
        let cases: Vec<(&str, &str, Vec<Node>)> = vec![
            ("nesting", "<p>a<b>b</b></p>", vec![el("p", vec![text("a"), el("b", vec![text("b")])])]),
            (
                "a block ends a paragraph",
                "<p>a<div>b</div>",
                vec![el("p", vec![text("a")]), el("div", vec![text("b")])],
            ),
            ("a paragraph ends a paragraph", "<p>a<p>b", vec![el("p", vec![text("a")]), el("p", vec![text("b")])]),
            (
                "not across a list item",
                "<p><li>a<p>b</li>",
                vec![el("p", vec![]), el("li", vec![text("a"), el("p", vec![text("b")])])],
            ),
            (
                "li ends the open li",
                "<ul><li>a<li>b</ul>",
                vec![el("ul", vec![el("li", vec![text("a")]), el("li", vec![text("b")])])],
            ),
            (
                "a nested list keeps its items",
                "<ul><li>a<ul><li>b</ul><li>c</ul>",
                vec![el(
                    "ul",
                    vec![
                        el("li", vec![text("a"), el("ul", vec![el("li", vec![text("b")])])]),
                        el("li", vec![text("c")]),
                    ],
                )],
            ),
            (
                "cells and rows end each other",
                "<table><tr><td>a<td>b<tr><td>c</table>",
                vec![el(
                    "table",
                    vec![
                        el("tr", vec![el("td", vec![text("a")]), el("td", vec![text("b")])]),
                        el("tr", vec![el("td", vec![text("c")])]),
                    ],
                )],
            ),
            ("stray end tag ignored", "a</b>c", vec![text("a"), text("c")]),
            ("</br> is a line break", "a</br>c", vec![text("a"), el("br", vec![]), text("c")]),
            (
                "void elements are empty",
                "<br>a<img src=x>",
                vec![
                    el("br", vec![]),
                    text("a"),
                    Node::Element { name: "img".into(), attrs: vec![("src".into(), "x".into())], children: vec![] },
                ],
            ),
            ("/> on a non-void element is ignored", "<div/>x", vec![el("div", vec![text("x")])]),
            ("a newline after <pre> is dropped", "<pre>\n\nx</pre>", vec![el("pre", vec![text("\nx")])]),
            ("script and its content dropped", "a<script>b</script>c", vec![text("a"), text("c")]),
            ("style dropped", "<style>p{}</style>a", vec![text("a")]),
            ("template dropped, nested too", "<template>a<template>b</template>c</template>d", vec![text("d")]),
            (
                "head content dropped",
                "<html><head><title>t</title></head><body>b</body></html>",
                vec![el("html", vec![el("head", vec![]), el("body", vec![text("b")])])],
            ),
            ("unclosed elements close at the end", "<b><i>x", vec![el("b", vec![el("i", vec![text("x")])])]),
        ];
        for (name, html, want) in cases {
            assert_eq!(parse(html), want, "{name}");
        }
    }

    #[test]
    fn absurd_nesting_keeps_the_text() {
        let html = "<div>".repeat(10_000) + "x";
        let mut depth = 0;
        let mut nodes = parse(&html);
        while let [Node::Element { children, .. }] = nodes.as_slice() {
            depth += 1;
            nodes = children.clone();
        }
        assert_eq!(depth, MAX_OPEN);
        assert_eq!(nodes, vec![text("x")]);
    }
}
