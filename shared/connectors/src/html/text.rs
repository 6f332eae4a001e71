//! HTML as plain text, the way a reader of the rendered page sees it:
//! - runs of spaces, tabs and newlines are one space, as the browser shows them, except
//!   in preformatted text (`<pre>`, `<textarea>`, ...), which is kept as written;
//! - each block (paragraph, heading, list item, division, ...) starts on a line of its
//!   own, and `<br>` ends a line;
//! - a table row is one line, its cells separated by a tab;
//! - an image is `[image: ALT]` (`[image]` without alt text);
//! - what [`parse`] drops (comments, scripts, styles) is not text.

use super::{is_block, parse, Node};

/// The plain text of an HTML fragment (for plain-text fields).
pub fn to_text(html: &str) -> String {
    let mut w = Writer::default();
    w.nodes(&parse(html), false);
    w.out.trim_end().to_string()
}

fn is_preformatted(name: &str) -> bool {
    matches!(name, "pre" | "listing" | "xmp" | "plaintext" | "textarea")
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

#[derive(Default)]
struct Writer {
    out: String,
    /// Whitespace was seen and is written as one space before the next character.
    space: bool,
}

impl Writer {
    fn nodes(&mut self, nodes: &[Node], pre: bool) {
        for n in nodes {
            self.node(n, pre);
        }
    }

    fn node(&mut self, n: &Node, pre: bool) {
        let Node::Element { name, children, .. } = n else {
            if let Node::Text(t) = n {
                if pre {
                    self.preformatted(t);
                } else {
                    self.flow(t);
                }
            }
            return;
        };
        match name.as_str() {
            "br" => {
                self.space = false;
                self.out.push('\n');
            }
            "img" => match n.attr("alt").filter(|a| !a.is_empty()) {
                Some(alt) => self.flow(&format!("[image: {alt}]")),
                None => self.flow("[image]"),
            },
            "tr" => self.row(children),
            _ if is_block(name) || is_preformatted(name) => {
                self.end_line();
                self.nodes(children, pre || is_preformatted(name));
                self.end_line();
            }
            _ => self.nodes(children, pre),
        }
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    /// Text outside preformatted elements: whitespace runs collapse to one space, and
    /// none is written at the start of a line.
    fn flow(&mut self, t: &str) {
        for c in t.chars() {
            if is_space(c) {
                self.space = true;
                continue;
            }
            if self.space && !self.at_line_start() {
                self.out.push(' ');
            }
            self.space = false;
            self.out.push(c);
        }
    }

    fn preformatted(&mut self, t: &str) {
        if self.space && !self.at_line_start() {
            self.out.push(' ');
        }
        self.space = false;
        self.out.push_str(t);
    }

    /// Ends the current line unless it is empty.
    fn end_line(&mut self) {
        self.space = false;
        if !self.at_line_start() {
            self.out.push('\n');
        }
    }

    /// A table row: its cells' text, each on one line, separated by tabs.
    fn row(&mut self, cells: &[Node]) {
        let mut texts = Vec::new();
        for cell in cells {
            let Node::Element { name, children, .. } = cell else { continue };
            if name == "td" || name == "th" {
                let mut w = Writer::default();
                w.nodes(children, false);
                let lines: Vec<&str> = w.out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                texts.push(lines.join(" "));
            }
        }
        self.end_line();
        self.out.push_str(&texts.join("\t"));
        self.end_line();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_the_text_a_reader_sees() {
        let cases = [
            ("marks are dropped", "<p>Pay as a <strong>guest</strong></p>", "Pay as a guest"),
            ("paragraphs on their own lines", "<p>one</p><p>two</p>", "one\ntwo"),
            ("list items on their own lines", "<ul><li>Chrome</li><li>Firefox</li></ul>", "Chrome\nFirefox"),
            ("br ends a line", "<p>a<br>b</p>", "a\nb"),
            ("two br leave an empty line", "a<br><br>b", "a\n\nb"),
            ("references decoded", "<p>1 &lt; 2 &amp; 3 &eacute;</p>", "1 < 2 & 3 é"),
            ("whitespace collapses", "<p>a \n\t  b</p>\n\n<p>\n  c\n</p>", "a b\nc"),
            ("pretty-printed list", "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>", "a\nb"),
            ("space across inline elements", "a <b>b</b> <i> c</i>", "a b c"),
            ("preformatted text kept", "<p>x</p><pre><code>fn a() {\n    b\n}</code></pre>", "x\nfn a() {\n    b\n}"),
            ("nested blocks make no empty lines", "<div><div><p>a</p></div></div><div>b</div>", "a\nb"),
            ("text between blocks", "<p>a</p>loose<p>b</p>", "a\nloose\nb"),
            (
                "table rows are lines, cells tab-separated",
                "<table><tr><th>Browser</th><th>Result</th></tr><tr><td><p>Chrome</p><p>120</p></td><td>500</td></tr></table>",
                "Browser\tResult\nChrome 120\t500",
            ),
            ("image alt text", "<p>see <img src=x alt=\"cat\"> and <img src=y></p>", "see [image: cat] and [image]"),
            ("hidden content is no text", "<style>p{}</style><p>a<script>x()</script><!-- c -->b</p>", "ab"),
            ("rule ends a line", "a<hr>b", "a\nb"),
            ("non-breaking space kept", "a&nbsp;b", "a\u{a0}b"),
            ("empty", "", ""),
        ];
        for (name, html, want) in cases {
            assert_eq!(to_text(html), want, "{name}");
        }
    }
}
