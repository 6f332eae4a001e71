//! Which HTML survives into Ferry's neutral rich text when a connector passes HTML on
//! (Azure DevOps comments): an allow-list of elements and of attributes per element,
//! written back in one canonical form.
//!
//! - Elements outside the list lose their tags and keep their content (`<span
//!   style=…>`, `<font>`, `<html>`, `<body>`); what a browser does not show is gone
//!   already ([`super::parse`] drops `<script>`, `<style>` and the like with their content).
//! - Attributes outside the list are dropped: no event handlers, no `style`, no `class`
//!   (except a code block's `language-…`).
//! - A link whose URL the link rule ([`super::link_allowed`]) refuses keeps its text
//!   only; an image whose source it refuses becomes its `alt` text.
//! - Output: lower-case names, attribute values double-quoted and escaped, text escaped,
//!   void elements without an end tag, every other element closed.
//!
//! A connector gives the elements it translates itself (mentions, inline images) to
//! [`clean`] through a callback that writes them.

use super::{is_void, link_allowed, Node};
use ferry_domain::html::escape_html_into;

/// Elements kept with their tags.
const ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "var",
];

/// Whether attribute `attr` of element `name` with `value` is kept.
fn attribute_allowed(name: &str, attr: &str, value: &str) -> bool {
    match (name, attr) {
        ("a", "href") => link_allowed(value),
        ("img", "src") => link_allowed(value),
        ("a" | "img" | "abbr", "title") | ("img", "alt" | "width" | "height") => true,
        ("td" | "th", "colspan" | "rowspan") | ("ol", "start") | ("col" | "colgroup", "span") => true,
        ("code", "class") => value.starts_with("language-") && !value.contains(char::is_whitespace),
        ("div", "data-panel-type") => true,
        _ => false,
    }
}

/// `html` with only what the allow-list keeps, in canonical form. `translate` sees every
/// element first: when it writes the element itself (into the output it is given) and
/// returns true, the element is not looked at again.
pub fn clean(html: &str, translate: &dyn Fn(&Node, &mut String) -> bool) -> String {
    let mut out = String::with_capacity(html.len());
    for node in &super::parse(html) {
        write_node(node, translate, &mut out);
    }
    out
}

fn write_node(node: &Node, translate: &dyn Fn(&Node, &mut String) -> bool, out: &mut String) {
    let (name, attrs, children) = match node {
        Node::Text(t) => return escape_html_into(t, out, false),
        Node::Element { name, attrs, children } => (name.as_str(), attrs, children),
    };
    if translate(node, out) {
        return;
    }
    let kept: Vec<&(String, String)> = attrs.iter().filter(|(k, v)| attribute_allowed(name, k, v)).collect();
    let dropped = match name {
        _ if !ELEMENTS.contains(&name) => true,
        // A link without a usable URL is its text.
        "a" => !kept.iter().any(|(k, _)| k == "href"),
        "img" if !kept.iter().any(|(k, _)| k == "src") => {
            if let Some(alt) = node.attr("alt") {
                escape_html_into(alt, out, false);
            }
            return;
        }
        _ => false,
    };
    if dropped {
        for c in children {
            write_node(c, translate, out);
        }
        return;
    }
    out.push('<');
    out.push_str(name);
    for (k, v) in kept {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_html_into(v, out, false);
        out.push('"');
    }
    out.push('>');
    if is_void(name) {
        return;
    }
    // A parser drops one newline right after `<pre>`: one that belongs to the text is
    // written twice so that it survives.
    if name == "pre" && matches!(children.first(), Some(Node::Text(t)) if t.starts_with('\n')) {
        out.push('\n');
    }
    for c in children {
        write_node(c, translate, out);
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(html: &str) -> String {
        clean(html, &|_, _| false)
    }

    #[test]
    fn formatting_is_kept_and_the_rest_is_dropped() {
        let cases = [
            ("canonical formatting unchanged", "<p><strong>b</strong> <em>i</em> <u>u</u> <code>c</code></p>", None),
            (
                "lists and tables",
                "<ul><li>a</li></ul><table><tbody><tr><td colspan=\"2\">x</td></tr></tbody></table>",
                None,
            ),
            ("a link with an allowed URL", "<a href=\"https://x.test/a?b=1&amp;c=2\" title=\"t\">l</a>", None),
            ("an external image", "<img src=\"https://x.test/i.png\" alt=\"i\">", None),
            ("a code block keeps its language", "<pre><code class=\"language-rust\">fn x() {}</code></pre>", None),
            ("styles and classes go", "<p style=\"color:red\" class=\"k\">a</p>", Some("<p>a</p>")),
            (
                "an unknown element keeps its content",
                "<div><span style=\"x\">a</span><font>b</font></div>",
                Some("<div>ab</div>"),
            ),
            (
                "event handlers go",
                "<p onclick=\"alert(1)\">a</p><img src=\"https://x.test/i\" onerror=\"x\">",
                Some("<p>a</p><img src=\"https://x.test/i\">"),
            ),
            ("a javascript link keeps its text", "<a href=\"javascript:alert(1)\">t</a>", Some("t")),
            ("a relative link keeps its text", "<a href=\"#\">@Someone</a>", Some("@Someone")),
            (
                "an image with a data URL is its alt text",
                "<img src=\"data:image/png;base64,AA\" alt=\"shot\">",
                Some("shot"),
            ),
            ("scripts go with their content", "a<script>alert(1)</script>b", Some("ab")),
            ("text is escaped", "<p>1 &lt; 2 &amp; &quot;q&quot;</p>", Some("<p>1 &lt; 2 &amp; &quot;q&quot;</p>")),
            (
                "unquoted and single-quoted attributes",
                "<a href='https://x.test' title=t>l</a>",
                Some("<a href=\"https://x.test\" title=\"t\">l</a>"),
            ),
            ("unclosed elements are closed, void ones not", "<p>a<br/>b", Some("<p>a<br>b</p>")),
            ("a document's wrapper goes", "<html><body><p>a</p></body></html>", Some("<p>a</p>")),
            ("a leading newline of a pre survives", "<pre>\n\nx</pre>", Some("<pre>\n\nx</pre>")),
        ];
        for (what, input, want) in cases {
            let want = want.unwrap_or(input);
            assert_eq!(plain(input), want, "{what}");
            assert_eq!(plain(want), want, "{what}: the output is its own canonical form");
        }
    }

    #[test]
    fn translated_elements_are_written_by_the_callback() {
        let translate = |n: &Node, out: &mut String| match n {
            Node::Element { name, .. } if name == "span" && n.attr("data-x").is_some() => {
                out.push_str("[x]");
                true
            }
            _ => false,
        };
        assert_eq!(clean("<p><span data-x=\"1\">a</span><span>b</span></p>", &translate), "<p>[x]b</p>");
    }
}
