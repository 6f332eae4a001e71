//! Atlassian Document Format (Jira v3 rich text) ⇄ HTML (Ferry's neutral rich text).
//!
//! `adf_to_html` renders a canonical HTML form (fixed mark nesting, one element per
//! node), and `html_to_adf` reads that form back exactly, so the HTML Ferry produces
//! survives a round trip. Foreign HTML (Azure DevOps descriptions) is accepted best
//! effort: unknown tags contribute their text, and one pass reaches the canonical form.
//! Reading HTML (tokenizer, character references, tree) and the link allow-list are
//! the HTML module's ([`crate::html`]); this module maps that tree to ADF and back.
//!
//! Mentions and inline images take the neutral forms of `ferry_domain::collab`: a
//! `mention` node is `<span data-ferry-mention="ACCOUNT_ID">@Name</span>`, and a media
//! node the connector resolves to one of the entity's attachments ([`Media`], the `_with`
//! functions) is `<img src="ferry-attachment:ID" alt="NAME">`; unresolved media stay text
//! labels.

use crate::html::{self, Node};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

mod media;
pub use media::{inline_image_ids, media_refs, Media, MediaRef, NoMedia};

/// Documents nested deeper than this are rejected rather than risking the stack.
const MAX_DEPTH: usize = 64;
/// HTML block nesting kept as structure; deeper content is flattened to text. One level
/// can cost three ADF levels (table, row, cell), so this stays well under `MAX_DEPTH`.
const MAX_HTML_BLOCK_DEPTH: usize = 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdfError {
    #[error("ADF document is not a JSON object")]
    NotAnObject,
    #[error("ADF root node has type {0:?}, expected \"doc\"")]
    NotADoc(String),
    #[error("ADF version {0} is not supported (expected 1)")]
    UnsupportedVersion(String),
    #[error("ADF document is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

// ---------------------------------------------------------------- ADF -> HTML

/// Renders an ADF document as HTML. Unknown nodes render their text content; media
/// nodes render as text labels (see [`adf_to_html_with`]).
pub fn adf_to_html(doc: &Value) -> Result<String, AdfError> {
    adf_to_html_with(doc, &NoMedia)
}

/// Renders an ADF document as HTML; a media node that `media` finds among the entity's
/// attachments renders as the neutral inline image
/// (`<img src="ferry-attachment:ID" alt="NAME">`, see `ferry_domain::collab`), any other
/// as a text label.
pub fn adf_to_html_with(doc: &Value, media: &dyn Media) -> Result<String, AdfError> {
    let obj = doc.as_object().ok_or(AdfError::NotAnObject)?;
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
    if ty != "doc" {
        return Err(AdfError::NotADoc(ty.to_string()));
    }
    match obj.get("version") {
        None => {}
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => return Err(AdfError::UnsupportedVersion(v.to_string())),
    }
    let mut out = String::new();
    render_children(obj, &mut out, 0, media)?;
    Ok(out)
}

/// The plain text of an ADF document (for plain-text target fields).
pub fn adf_to_text(doc: &Value) -> String {
    let mut out = String::new();
    collect_text(doc, &mut out, 0);
    out.trim_end().to_string()
}

fn collect_text(node: &Value, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(obj) = node.as_object() else { return };
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "text" => out.push_str(obj.get("text").and_then(Value::as_str).unwrap_or("")),
        "hardBreak" => out.push('\n'),
        "mention" | "emoji" | "inlineCard" | "blockCard" => out.push_str(&inline_atom_text(obj)),
        _ => {
            if let Some(children) = obj.get("content").and_then(Value::as_array) {
                for c in children {
                    collect_text(c, out, depth + 1);
                }
            }
            if is_block(ty) && !out.ends_with('\n') && !out.is_empty() {
                out.push('\n');
            }
        }
    }
}

fn is_block(ty: &str) -> bool {
    matches!(
        ty,
        "paragraph"
            | "heading"
            | "codeBlock"
            | "blockquote"
            | "listItem"
            | "tableRow"
            | "panel"
            | "rule"
            | "mediaSingle"
            | "mediaGroup"
    )
}

fn attrs(obj: &Map<String, Value>) -> Option<&Map<String, Value>> {
    obj.get("attrs").and_then(Value::as_object)
}

fn attr_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    attrs(obj).and_then(|a| a.get(key)).and_then(Value::as_str)
}

fn attr_u64(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    attrs(obj).and_then(|a| a.get(key)).and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

fn render_children(obj: &Map<String, Value>, out: &mut String, depth: usize, m: &dyn Media) -> Result<(), AdfError> {
    if depth > MAX_DEPTH {
        return Err(AdfError::TooDeep);
    }
    if let Some(children) = obj.get("content").and_then(Value::as_array) {
        for c in children {
            render_node(c, out, depth + 1, m)?;
        }
    }
    Ok(())
}

fn render_node(node: &Value, out: &mut String, depth: usize, m: &dyn Media) -> Result<(), AdfError> {
    let Some(obj) = node.as_object() else {
        // A bare string where a node belongs: keep its text.
        if let Some(s) = node.as_str() {
            escape_into(s, out);
        }
        return Ok(());
    };
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let wrap = |tag: &str, out: &mut String| -> Result<(), AdfError> {
        let _ = write!(out, "<{tag}>");
        render_children(obj, out, depth, m)?;
        let _ = write!(out, "</{tag}>");
        Ok(())
    };
    match ty {
        "paragraph" => wrap("p", out)?,
        "heading" => {
            let level = attr_u64(obj, "level").unwrap_or(1).clamp(1, 6);
            wrap(&format!("h{level}"), out)?;
        }
        "text" => render_text(obj, out),
        "hardBreak" => out.push_str("<br>"),
        "bulletList" => wrap("ul", out)?,
        "orderedList" => match attr_u64(obj, "order").filter(|o| *o != 1) {
            Some(start) => {
                let _ = write!(out, "<ol start=\"{start}\">");
                render_children(obj, out, depth, m)?;
                out.push_str("</ol>");
            }
            None => wrap("ol", out)?,
        },
        "listItem" => wrap("li", out)?,
        "codeBlock" => render_code_block(obj, out, depth),
        "blockquote" => wrap("blockquote", out)?,
        "rule" => out.push_str("<hr>"),
        "mention" => render_mention(obj, out),
        "emoji" => escape_into(&inline_atom_text(obj), out),
        "status" => escape_into(attr_str(obj, "text").unwrap_or(""), out),
        "date" => render_date(obj, out),
        "taskList" | "decisionList" => wrap("ul", out)?,
        "taskItem" | "decisionItem" => {
            out.push_str("<li><p>");
            if ty == "taskItem" {
                out.push_str(if attr_str(obj, "state") == Some("DONE") { "[x] " } else { "[ ] " });
            }
            render_children(obj, out, depth, m)?;
            out.push_str("</p></li>");
        }
        "inlineCard" => render_card(obj, out),
        "blockCard" | "embedCard" => {
            out.push_str("<p>");
            render_card(obj, out);
            out.push_str("</p>");
        }
        "panel" => render_panel(obj, out, depth, m)?,
        "table" => {
            out.push_str("<table><tbody>");
            render_children(obj, out, depth, m)?;
            out.push_str("</tbody></table>");
        }
        "tableRow" => wrap("tr", out)?,
        "tableHeader" => render_cell("th", obj, out, depth, m)?,
        "tableCell" => render_cell("td", obj, out, depth, m)?,
        "mediaSingle" | "mediaGroup" => media::render_group(obj, out, m),
        "media" | "mediaInline" => media::render_inline(obj, out, m),
        // doc nested somewhere, unknown and future nodes: their content, best effort.
        _ => {
            if let Some(t) = obj.get("text").and_then(Value::as_str) {
                escape_into(t, out);
            }
            render_children(obj, out, depth, m)?;
        }
    }
    Ok(())
}

fn render_panel(obj: &Map<String, Value>, out: &mut String, depth: usize, m: &dyn Media) -> Result<(), AdfError> {
    let kind = attr_str(obj, "panelType").unwrap_or("info");
    out.push_str("<div data-panel-type=\"");
    escape_into(kind, out);
    out.push_str("\">");
    render_children(obj, out, depth, m)?;
    out.push_str("</div>");
    Ok(())
}

fn render_code_block(obj: &Map<String, Value>, out: &mut String, depth: usize) {
    match attr_str(obj, "language").filter(|l| !l.is_empty()) {
        Some(lang) => {
            out.push_str("<pre><code class=\"language-");
            escape_into(lang, out);
            out.push_str("\">");
        }
        None => out.push_str("<pre><code>"),
    }
    let mut text = String::new();
    collect_text_raw(obj, &mut text, depth);
    escape_into(&text, out);
    out.push_str("</code></pre>");
}

fn render_date(obj: &Map<String, Value>, out: &mut String) {
    let ms = attrs(obj)
        .and_then(|a| a.get("timestamp"))
        .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    if let Some(d) = ms.and_then(chrono::DateTime::from_timestamp_millis) {
        out.push_str(&d.format("%Y-%m-%d").to_string());
    }
}

/// A smart card's URL as a link; a URL the allow-list refuses (an empty one too) stays
/// as text.
fn render_card(obj: &Map<String, Value>, out: &mut String) {
    let url = attr_str(obj, "url").unwrap_or("");
    if html::link_allowed(url) {
        out.push_str("<a href=\"");
        escape_into(url, out);
        out.push_str("\">");
        escape_into(url, out);
        out.push_str("</a>");
    } else {
        escape_into(url, out);
    }
}

fn render_cell(
    tag: &str,
    obj: &Map<String, Value>,
    out: &mut String,
    depth: usize,
    m: &dyn Media,
) -> Result<(), AdfError> {
    let _ = write!(out, "<{tag}");
    for key in ["colspan", "rowspan"] {
        if let Some(n) = attr_u64(obj, key).filter(|n| *n > 1) {
            let _ = write!(out, " {key}=\"{n}\"");
        }
    }
    out.push('>');
    render_children(obj, out, depth, m)?;
    let _ = write!(out, "</{tag}>");
    Ok(())
}

/// A mention with a person's id renders as the neutral mention
/// (`<span data-ferry-mention="ID">@Name</span>`, see `ferry_domain::collab`); one without
/// an id as its text.
fn render_mention(obj: &Map<String, Value>, out: &mut String) {
    let shown = inline_atom_text(obj);
    match attr_str(obj, "id").filter(|id| !id.is_empty()) {
        Some(id) => {
            out.push_str("<span ");
            out.push_str(ferry_domain::collab::MENTION_ATTRIBUTE);
            out.push_str("=\"");
            escape_into(id, out);
            out.push_str("\">");
            escape_into(&shown, out);
            out.push_str("</span>");
        }
        None => escape_into(&shown, out),
    }
}

fn inline_atom_text(obj: &Map<String, Value>) -> String {
    match obj.get("type").and_then(Value::as_str).unwrap_or("") {
        "mention" => {
            let t = attr_str(obj, "text").unwrap_or("");
            let t = if t.is_empty() { attr_str(obj, "id").unwrap_or("") } else { t };
            if t.starts_with('@') {
                t.to_string()
            } else {
                format!("@{t}")
            }
        }
        "emoji" => attr_str(obj, "text")
            .filter(|t| !t.is_empty())
            .or_else(|| attr_str(obj, "shortName"))
            .unwrap_or("")
            .to_string(),
        _ => attr_str(obj, "url").unwrap_or("").to_string(),
    }
}

fn collect_text_raw(obj: &Map<String, Value>, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(children) = obj.get("content").and_then(Value::as_array) {
        for c in children.iter().filter_map(Value::as_object) {
            match c.get("type").and_then(Value::as_str) {
                Some("text") => out.push_str(c.get("text").and_then(Value::as_str).unwrap_or("")),
                Some("hardBreak") => out.push('\n'),
                _ => collect_text_raw(c, out, depth + 1),
            }
        }
    }
}

/// Marks in the canonical nesting order, outermost first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    Link(String),
    Strong,
    Em,
    Underline,
    Strike,
    Sub,
    Sup,
    Code,
}

impl Mark {
    fn from_adf(m: &Map<String, Value>) -> Option<Mark> {
        match m.get("type").and_then(Value::as_str)? {
            "strong" => Some(Mark::Strong),
            "em" => Some(Mark::Em),
            "underline" => Some(Mark::Underline),
            "strike" => Some(Mark::Strike),
            "code" => Some(Mark::Code),
            "subsup" => match attr_str(m, "type") {
                Some("sup") => Some(Mark::Sup),
                _ => Some(Mark::Sub),
            },
            "link" => attr_str(m, "href").filter(|h| html::link_allowed(h)).map(|h| Mark::Link(h.to_string())),
            _ => None,
        }
    }

    fn to_adf(&self) -> Value {
        match self {
            Mark::Link(href) => json!({"type": "link", "attrs": {"href": href}}),
            Mark::Strong => json!({"type": "strong"}),
            Mark::Em => json!({"type": "em"}),
            Mark::Underline => json!({"type": "underline"}),
            Mark::Strike => json!({"type": "strike"}),
            Mark::Sub => json!({"type": "subsup", "attrs": {"type": "sub"}}),
            Mark::Sup => json!({"type": "subsup", "attrs": {"type": "sup"}}),
            Mark::Code => json!({"type": "code"}),
        }
    }

    fn tag(&self) -> &'static str {
        match self {
            Mark::Link(_) => "a",
            Mark::Strong => "strong",
            Mark::Em => "em",
            Mark::Underline => "u",
            Mark::Strike => "s",
            Mark::Sub => "sub",
            Mark::Sup => "sup",
            Mark::Code => "code",
        }
    }

    fn same_kind(&self, other: &Mark) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

fn canonical_marks(mut marks: Vec<Mark>) -> Vec<Mark> {
    marks.sort();
    marks.dedup_by(|a, b| a.same_kind(b));
    // ADF allows `code` only together with `link`.
    if marks.contains(&Mark::Code) {
        marks.retain(|m| matches!(m, Mark::Code | Mark::Link(_)));
    }
    marks
}

fn render_text(obj: &Map<String, Value>, out: &mut String) {
    let text = obj.get("text").and_then(Value::as_str).unwrap_or("");
    if text.is_empty() {
        return;
    }
    let marks: Vec<Mark> = obj
        .get("marks")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter_map(Value::as_object).filter_map(Mark::from_adf).collect())
        .unwrap_or_default();
    let marks = canonical_marks(marks);
    for m in &marks {
        match m {
            Mark::Link(href) => {
                out.push_str("<a href=\"");
                escape_into(href, out);
                out.push_str("\">");
            }
            other => {
                let _ = write!(out, "<{}>", other.tag());
            }
        }
    }
    escape_into(text, out);
    for m in marks.iter().rev() {
        let _ = write!(out, "</{}>", m.tag());
    }
}

/// Escapes text for element content or a quoted attribute. A carriage return is written
/// as a reference: HTML readers turn a literal one into a line feed, and ADF text keeps it.
fn escape_into(s: &str, out: &mut String) {
    for (i, part) in s.split('\r').enumerate() {
        if i > 0 {
            out.push_str("&#13;");
        }
        ferry_domain::html::escape_html_into(part, out, false);
    }
}

// ---------------------------------------------------------------- HTML -> ADF

/// Converts HTML to an ADF document. Never fails: unknown tags contribute their text; a
/// neutral mention becomes a `mention` node, a neutral inline image a text label (see
/// [`html_to_adf_with`]).
pub fn html_to_adf(html: &str) -> Value {
    html_to_adf_with(html, &NoMedia)
}

/// [`html_to_adf`], with each neutral inline image that `media` can show as a
/// `mediaSingle` block of its own (the paragraph around it is split there).
pub fn html_to_adf_with(html: &str, media: &dyn Media) -> Value {
    let tree = html::parse(html);
    let content = blocks(&tree, 0);
    let mut doc = json!({"type": "doc", "version": 1, "content": content});
    media::place_images(&mut doc, media);
    doc
}

/// An ADF document of plain text: one paragraph, lines joined by hard breaks.
pub fn text_to_adf(text: &str) -> Value {
    if text.is_empty() {
        return json!({"type": "doc", "version": 1, "content": []});
    }
    let mut inline = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            inline.push(json!({"type": "hardBreak"}));
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !line.is_empty() {
            inline.push(json!({"type": "text", "text": line}));
        }
    }
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": inline}]})
}

fn is_inline_node(n: &Node) -> bool {
    match n {
        Node::Text(_) => true,
        Node::Element { name, .. } => !html::is_block(name),
    }
}

/// Block content: inline runs become paragraphs, whitespace between blocks is dropped.
fn blocks(nodes: &[Node], depth: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut run: Vec<&Node> = Vec::new();
    let flush = |run: &mut Vec<&Node>, out: &mut Vec<Value>| {
        if run.is_empty() {
            return;
        }
        let blank = run.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        if !blank {
            let mut inl = Vec::new();
            for n in run.iter() {
                inline(n, &[], &mut inl, depth + 1);
            }
            trim_run(&mut inl);
            if !inl.is_empty() {
                out.push(json!({"type": "paragraph", "content": inl}));
            }
        }
        run.clear();
    };
    for n in nodes {
        if is_inline_node(n) {
            run.push(n);
            continue;
        }
        flush(&mut run, &mut out);
        if depth > MAX_HTML_BLOCK_DEPTH {
            let mut inl = Vec::new();
            inline(n, &[], &mut inl, MAX_DEPTH);
            if !inl.is_empty() {
                out.push(json!({"type": "paragraph", "content": inl}));
            }
            continue;
        }
        block(n, depth, &mut out);
    }
    flush(&mut run, &mut out);
    out
}

/// Trims surrounding whitespace of an implicit paragraph (pretty-printed HTML).
fn trim_run(inl: &mut Vec<Value>) {
    if let Some(first) = inl.first_mut() {
        if let Some(t) = first.get("text").and_then(Value::as_str) {
            let t = t.trim_start().to_string();
            first["text"] = Value::String(t);
        }
    }
    if let Some(last) = inl.last_mut() {
        if let Some(t) = last.get("text").and_then(Value::as_str) {
            let t = t.trim_end().to_string();
            last["text"] = Value::String(t);
        }
    }
    inl.retain(|n| n.get("type").and_then(Value::as_str) != Some("text") || n["text"] != "");
}

fn block(n: &Node, depth: usize, out: &mut Vec<Value>) {
    let Node::Element { name, children, .. } = n else {
        return;
    };
    let inline_of = |children: &[Node]| {
        let mut inl = Vec::new();
        for c in children {
            inline(c, &[], &mut inl, depth + 1);
        }
        inl
    };
    match name.as_str() {
        "p" => out.push(para("paragraph", inline_of(children), None)),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level: u64 = name[1..].parse().unwrap_or(1);
            out.push(para("heading", inline_of(children), Some(json!({"level": level}))));
        }
        "ul" | "ol" => out.extend(list(n, depth)),
        "li" => out.push(json!({"type": "bulletList", "content": [list_item(children, depth)]})),
        "pre" => out.push(code_block(children, depth)),
        "blockquote" => {
            let inner = blocks(children, depth + 1);
            let inner = fit(inner, IN_BLOCKQUOTE);
            out.push(json!({"type": "blockquote", "content": non_empty_blocks(inner)}));
        }
        "hr" => out.push(json!({"type": "rule"})),
        "div" => match n.attr("data-panel-type") {
            Some(kind) => {
                let inner = blocks(children, depth + 1);
                out.push(json!({
                    "type": "panel",
                    "attrs": {"panelType": kind},
                    "content": non_empty_blocks(fit(inner, IN_PANEL)),
                }));
            }
            None => out.extend(blocks(children, depth + 1)),
        },
        "table" => {
            let mut rows = Vec::new();
            collect_rows(children, depth, &mut rows);
            if !rows.is_empty() {
                out.push(json!({"type": "table", "content": rows}));
            }
        }
        "tr" => {
            let mut rows = Vec::new();
            collect_rows(std::slice::from_ref(n), depth, &mut rows);
            if !rows.is_empty() {
                out.push(json!({"type": "table", "content": rows}));
            }
        }
        "td" | "th" => out.extend(blocks(children, depth + 1)),
        // tbody & co. outside a table: their content.
        _ => out.extend(blocks(children, depth + 1)),
    }
}

/// A `<ul>` or `<ol>`; stray content between items becomes an item of its own.
fn list(n: &Node, depth: usize) -> Option<Value> {
    let Node::Element { name, children, .. } = n else { return None };
    let mut items = Vec::new();
    for c in children {
        match c {
            Node::Element { name, children, .. } if name == "li" => items.push(list_item(children, depth)),
            Node::Text(t) if t.trim().is_empty() => {}
            other => items.push(list_item(std::slice::from_ref(other), depth)),
        }
    }
    if items.is_empty() {
        return None;
    }
    let mut list = json!({
        "type": if name == "ul" { "bulletList" } else { "orderedList" },
        "content": items,
    });
    if name == "ol" {
        if let Some(start) = n.attr("start").and_then(|s| s.trim().parse::<u64>().ok()) {
            if start != 1 {
                list["attrs"] = json!({"order": start});
            }
        }
    }
    Some(list)
}

/// A `<pre>`: its text as written, the language from `<code class="language-…">`.
fn code_block(children: &[Node], depth: usize) -> Value {
    let mut text = String::new();
    let mut lang = None;
    raw_text(children, &mut text, &mut lang, depth);
    let mut cb = json!({"type": "codeBlock"});
    if let Some(l) = lang {
        cb["attrs"] = json!({"language": l});
    }
    if !text.is_empty() {
        cb["content"] = json!([{"type": "text", "text": text}]);
    }
    cb
}

fn para(ty: &str, content: Vec<Value>, attrs: Option<Value>) -> Value {
    let mut v = json!({"type": ty});
    if let Some(a) = attrs {
        v["attrs"] = a;
    }
    if !content.is_empty() {
        v["content"] = Value::Array(content);
    }
    v
}

fn non_empty_blocks(mut inner: Vec<Value>) -> Vec<Value> {
    if inner.is_empty() {
        inner.push(json!({"type": "paragraph"}));
    }
    inner
}

// Block children each ADF container accepts (Jira rejects documents that break them).
const IN_LIST_ITEM: &[&str] = &["paragraph", "bulletList", "orderedList", "codeBlock"];
const IN_BLOCKQUOTE: &[&str] = &["paragraph", "bulletList", "orderedList", "codeBlock"];
const IN_PANEL: &[&str] = &["paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule"];
const IN_CELL: &[&str] =
    &["paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule", "blockquote", "panel"];

/// Rewrites blocks a container does not accept: headings become paragraphs, quotes,
/// panels and tables give up their content, rules are dropped.
fn fit(blocks: Vec<Value>, allowed: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for b in blocks {
        let ty = b.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        if allowed.contains(&ty.as_str()) {
            out.push(b);
            continue;
        }
        let content = b.get("content").and_then(Value::as_array).cloned().unwrap_or_default();
        match ty.as_str() {
            "heading" => out.push(para("paragraph", content, None)),
            "blockquote" | "panel" => out.extend(fit(content, allowed)),
            "table" => {
                for row in content {
                    for cell in row.get("content").and_then(Value::as_array).into_iter().flatten() {
                        let inner = cell.get("content").and_then(Value::as_array).cloned().unwrap_or_default();
                        out.extend(fit(inner, allowed));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn list_item(children: &[Node], depth: usize) -> Value {
    let mut inner = fit(blocks(children, depth + 1), IN_LIST_ITEM);
    let starts_with_para = inner
        .first()
        .and_then(|b| b.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "paragraph" || t == "codeBlock");
    if !starts_with_para {
        // ADF requires a listItem to open with a paragraph.
        inner.insert(0, json!({"type": "paragraph"}));
    }
    json!({"type": "listItem", "content": inner})
}

fn collect_rows(nodes: &[Node], depth: usize, rows: &mut Vec<Value>) {
    for n in nodes {
        let Node::Element { name, children, .. } = n else {
            continue;
        };
        match name.as_str() {
            "tr" => {
                let mut cells = Vec::new();
                for c in children {
                    if let Node::Element { name: cname, children: cchildren, .. } = c {
                        if cname == "td" || cname == "th" {
                            let mut cell = json!({
                                "type": if cname == "th" { "tableHeader" } else { "tableCell" },
                                "content": non_empty_blocks(fit(blocks(cchildren, depth + 1), IN_CELL)),
                            });
                            let mut a = Map::new();
                            for key in ["colspan", "rowspan"] {
                                if let Some(v) = c.attr(key).and_then(|s| s.trim().parse::<u64>().ok()) {
                                    if v > 1 {
                                        a.insert(key.to_string(), json!(v));
                                    }
                                }
                            }
                            if !a.is_empty() {
                                cell["attrs"] = Value::Object(a);
                            }
                            cells.push(cell);
                        }
                    }
                }
                if !cells.is_empty() {
                    rows.push(json!({"type": "tableRow", "content": cells}));
                }
            }
            "thead" | "tbody" | "tfoot" | "table" if depth < MAX_DEPTH => collect_rows(children, depth + 1, rows),
            _ => {}
        }
    }
}

fn raw_text(nodes: &[Node], out: &mut String, lang: &mut Option<String>, depth: usize) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Element { name, children, .. } => {
                if name == "br" {
                    out.push('\n');
                    continue;
                }
                if name == "code" && lang.is_none() {
                    if let Some(class) = n.attr("class") {
                        *lang = class
                            .split_whitespace()
                            .find_map(|c| c.strip_prefix("language-"))
                            .filter(|l| !l.is_empty())
                            .map(str::to_string);
                    }
                }
                if depth < MAX_DEPTH * 2 {
                    raw_text(children, out, lang, depth + 1);
                }
            }
        }
    }
}

fn inline(n: &Node, marks: &[Mark], out: &mut Vec<Value>, depth: usize) {
    match n {
        Node::Text(t) => {
            if t.is_empty() {
                return;
            }
            let mut node = json!({"type": "text", "text": t});
            let ms = canonical_marks(marks.to_vec());
            if !ms.is_empty() {
                node["marks"] = Value::Array(ms.iter().map(Mark::to_adf).collect());
            }
            out.push(node);
        }
        Node::Element { name, children, .. } => {
            if name == "br" {
                out.push(json!({"type": "hardBreak"}));
                return;
            }
            let mark = match name.as_str() {
                "strong" | "b" => Some(Mark::Strong),
                "em" | "i" => Some(Mark::Em),
                "u" | "ins" => Some(Mark::Underline),
                "s" | "strike" | "del" => Some(Mark::Strike),
                "code" | "tt" | "kbd" => Some(Mark::Code),
                "sub" => Some(Mark::Sub),
                "sup" => Some(Mark::Sup),
                "a" => n.attr("href").filter(|h| html::link_allowed(h)).map(|h| Mark::Link(h.to_string())),
                _ => None,
            };
            if let Some(id) = n.attr(ferry_domain::collab::MENTION_ATTRIBUTE).filter(|id| !id.is_empty()) {
                // A mention carries no marks in ADF.
                let mut text = String::new();
                raw_text(children, &mut text, &mut None, depth);
                out.push(json!({"type": "mention", "attrs": {"id": id, "text": text}}));
                return;
            }
            if name == "img" {
                let adf_marks = canonical_marks(marks.to_vec()).iter().map(Mark::to_adf).collect();
                if let Some(p) = media::placeholder(n, adf_marks) {
                    out.push(p);
                    return;
                }
                let label = match n.attr("alt").filter(|a| !a.is_empty()) {
                    Some(alt) => format!("[image: {alt}]"),
                    None => "[image]".to_string(),
                };
                inline(&Node::Text(label), marks, out, depth);
                return;
            }
            let mut ms = marks.to_vec();
            if let Some(m) = mark {
                ms.retain(|x| !x.same_kind(&m));
                ms.push(m);
            }
            if depth > MAX_DEPTH * 2 {
                return;
            }
            for c in children {
                inline(c, &ms, out, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(content: Value) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    fn p(content: Value) -> Value {
        json!({"type": "paragraph", "content": content})
    }

    fn t(text: &str) -> Value {
        json!({"type": "text", "text": text})
    }

    fn tm(text: &str, marks: Value) -> Value {
        json!({"type": "text", "text": text, "marks": marks})
    }

    #[test]
    fn each_adf_node_type_renders_to_its_html() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("paragraph", p(json!([t("hi")])), "<p>hi</p>"),
            ("empty paragraph", json!({"type": "paragraph"}), "<p></p>"),
            ("strong", p(json!([tm("b", json!([{"type": "strong"}]))])), "<p><strong>b</strong></p>"),
            ("em", p(json!([tm("i", json!([{"type": "em"}]))])), "<p><em>i</em></p>"),
            ("underline", p(json!([tm("u", json!([{"type": "underline"}]))])), "<p><u>u</u></p>"),
            ("strike", p(json!([tm("s", json!([{"type": "strike"}]))])), "<p><s>s</s></p>"),
            ("code", p(json!([tm("c", json!([{"type": "code"}]))])), "<p><code>c</code></p>"),
            (
                "link",
                p(json!([tm("x", json!([{"type": "link", "attrs": {"href": "https://a.test/?a=1&b=2"}}]))])),
                "<p><a href=\"https://a.test/?a=1&amp;b=2\">x</a></p>",
            ),
            (
                "javascript link dropped",
                p(json!([tm("x", json!([{"type": "link", "attrs": {"href": "javascript:alert(1)"}}]))])),
                "<p>x</p>",
            ),
            ("sub", p(json!([tm("2", json!([{"type": "subsup", "attrs": {"type": "sub"}}]))])), "<p><sub>2</sub></p>"),
            ("sup", p(json!([tm("2", json!([{"type": "subsup", "attrs": {"type": "sup"}}]))])), "<p><sup>2</sup></p>"),
            (
                "marks nest canonically",
                p(json!([tm(
                    "x",
                    json!([{"type": "em"}, {"type": "link", "attrs": {"href": "https://h.test"}}, {"type": "strong"}])
                )])),
                "<p><a href=\"https://h.test\"><strong><em>x</em></strong></a></p>",
            ),
            (
                "relative link dropped, text kept",
                p(json!([tm("x", json!([{"type": "link", "attrs": {"href": "/browse/X-1"}}]))])),
                "<p>x</p>",
            ),
            (
                "mailto and tel links kept",
                p(json!([
                    tm("m", json!([{"type": "link", "attrs": {"href": "mailto:a@x.test"}}])),
                    tm("t", json!([{"type": "link", "attrs": {"href": "tel:+1555"}}]))
                ])),
                "<p><a href=\"mailto:a@x.test\">m</a><a href=\"tel:+1555\">t</a></p>",
            ),
            (
                "card with a refused URL is text",
                p(json!([{"type": "inlineCard", "attrs": {"url": "javascript:alert(1)"}}])),
                "<p>javascript:alert(1)</p>",
            ),
            ("carriage return written as a reference", p(json!([t("a\r\nb")])), "<p>a&#13;\nb</p>"),
            ("escaping", p(json!([t("a<b>&\"c'")])), "<p>a&lt;b&gt;&amp;&quot;c&#39;</p>"),
            ("hardBreak", p(json!([t("a"), {"type": "hardBreak"}, t("b")])), "<p>a<br>b</p>"),
            ("heading", json!({"type": "heading", "attrs": {"level": 3}, "content": [t("H")]}), "<h3>H</h3>"),
            (
                "heading level clamped",
                json!({"type": "heading", "attrs": {"level": 9}, "content": [t("H")]}),
                "<h6>H</h6>",
            ),
            (
                "bulletList nested",
                json!({"type": "bulletList", "content": [{"type": "listItem", "content": [p(json!([t("a")])),
                    {"type": "orderedList", "content": [{"type": "listItem", "content": [p(json!([t("b")]))]}]}]}]}),
                "<ul><li><p>a</p><ol><li><p>b</p></li></ol></li></ul>",
            ),
            (
                "orderedList start",
                json!({"type": "orderedList", "attrs": {"order": 3}, "content": [{"type": "listItem", "content": [p(json!([t("c")]))]}]}),
                "<ol start=\"3\"><li><p>c</p></li></ol>",
            ),
            (
                "codeBlock with language",
                json!({"type": "codeBlock", "attrs": {"language": "rust"}, "content": [t("fn x() {}\n<y>")]}),
                "<pre><code class=\"language-rust\">fn x() {}\n&lt;y&gt;</code></pre>",
            ),
            ("codeBlock plain", json!({"type": "codeBlock", "content": [t("x")]}), "<pre><code>x</code></pre>"),
            (
                "blockquote",
                json!({"type": "blockquote", "content": [p(json!([t("q")]))]}),
                "<blockquote><p>q</p></blockquote>",
            ),
            ("rule", json!({"type": "rule"}), "<hr>"),
            (
                "mention",
                p(json!([{"type": "mention", "attrs": {"id": "5b10", "text": "@Alice Jones"}}])),
                "<p><span data-ferry-mention=\"5b10\">@Alice Jones</span></p>",
            ),
            (
                "mention without @",
                p(json!([{"type": "mention", "attrs": {"id": "5b10", "text": "Bob"}}])),
                "<p><span data-ferry-mention=\"5b10\">@Bob</span></p>",
            ),
            (
                "mention escaped",
                p(json!([{"type": "mention", "attrs": {"id": "a\"<b", "text": "@O'Neil & Co"}}])),
                "<p><span data-ferry-mention=\"a&quot;&lt;b\">@O&#39;Neil &amp; Co</span></p>",
            ),
            (
                "mention with a carriage return",
                p(json!([{"type": "mention", "attrs": {"id": "5b10", "text": "@a\rb"}}])),
                "<p><span data-ferry-mention=\"5b10\">@a&#13;b</span></p>",
            ),
            (
                "mention without an id is text",
                p(json!([{"type": "mention", "attrs": {"text": "@Ghost"}}])),
                "<p>@Ghost</p>",
            ),
            ("emoji text", p(json!([{"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}}])), "<p>😄</p>"),
            ("emoji shortName", p(json!([{"type": "emoji", "attrs": {"shortName": ":x:"}}])), "<p>:x:</p>"),
            (
                "inlineCard",
                p(json!([{"type": "inlineCard", "attrs": {"url": "https://x.test/1"}}])),
                "<p><a href=\"https://x.test/1\">https://x.test/1</a></p>",
            ),
            (
                "blockCard",
                json!({"type": "blockCard", "attrs": {"url": "https://x.test/2"}}),
                "<p><a href=\"https://x.test/2\">https://x.test/2</a></p>",
            ),
            (
                "panel",
                json!({"type": "panel", "attrs": {"panelType": "warning"}, "content": [p(json!([t("w")]))]}),
                "<div data-panel-type=\"warning\"><p>w</p></div>",
            ),
            (
                "table",
                json!({"type": "table", "content": [
                    {"type": "tableRow", "content": [{"type": "tableHeader", "content": [p(json!([t("h")]))]}]},
                    {"type": "tableRow", "content": [{"type": "tableCell", "attrs": {"colspan": 2}, "content": [p(json!([t("c")]))]}]}]}),
                "<table><tbody><tr><th><p>h</p></th></tr><tr><td colspan=\"2\"><p>c</p></td></tr></tbody></table>",
            ),
            (
                "mediaSingle",
                json!({"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "abc", "type": "file", "collection": "c", "alt": "shot.png"}}]}),
                "<p>[attachment: shot.png]</p>",
            ),
            (
                "status lozenge",
                p(json!([{"type": "status", "attrs": {"text": "IN QA", "color": "blue"}}])),
                "<p>IN QA</p>",
            ),
            ("date", p(json!([{"type": "date", "attrs": {"timestamp": "1795717490500"}}])), "<p>2026-11-26</p>"),
            (
                "taskList",
                json!({"type": "taskList", "attrs": {"localId": "l"}, "content": [
                    {"type": "taskItem", "attrs": {"localId": "a", "state": "DONE"}, "content": [t("ship")]},
                    {"type": "taskItem", "attrs": {"localId": "b", "state": "TODO"}, "content": [t("test")]}]}),
                "<ul><li><p>[x] ship</p></li><li><p>[ ] test</p></li></ul>",
            ),
            ("unknown node keeps text", json!({"type": "fancyNew", "content": [p(json!([t("z")]))]}), "<p>z</p>"),
        ];
        for (name, node, want) in cases {
            let got = adf_to_html(&doc(json!([node]))).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn each_html_element_converts_to_its_adf() {
        let cases: Vec<(&str, &str, Value)> = vec![
            ("p", "<p>hi</p>", json!([p(json!([t("hi")]))])),
            ("bare text becomes a paragraph", "hello", json!([p(json!([t("hello")]))])),
            ("b", "<p><b>x</b></p>", json!([p(json!([tm("x", json!([{"type": "strong"}]))]))])),
            ("i", "<p><i>x</i></p>", json!([p(json!([tm("x", json!([{"type": "em"}]))]))])),
            ("u", "<p><u>x</u></p>", json!([p(json!([tm("x", json!([{"type": "underline"}]))]))])),
            ("del", "<p><del>x</del></p>", json!([p(json!([tm("x", json!([{"type": "strike"}]))]))])),
            ("strike", "<p><strike>x</strike></p>", json!([p(json!([tm("x", json!([{"type": "strike"}]))]))])),
            ("code", "<p><code>x</code></p>", json!([p(json!([tm("x", json!([{"type": "code"}]))]))])),
            (
                "a",
                "<p><a href='https://a.test/?q=1&amp;r=2'>x</a></p>",
                json!([p(json!([tm("x", json!([{"type": "link", "attrs": {"href": "https://a.test/?q=1&r=2"}}]))]))]),
            ),
            ("br", "<p>a<br/>b</p>", json!([p(json!([t("a"), {"type": "hardBreak"}, t("b")]))])),
            ("h2", "<h2>T</h2>", json!([{"type": "heading", "attrs": {"level": 2}, "content": [t("T")]}])),
            (
                "ul with bare li text",
                "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>",
                json!([{"type": "bulletList", "content": [
                    {"type": "listItem", "content": [p(json!([t("a")]))]},
                    {"type": "listItem", "content": [p(json!([t("b")]))]}]}]),
            ),
            (
                "unclosed li",
                "<ol><li>a<li>b</ol>",
                json!([{"type": "orderedList", "content": [
                    {"type": "listItem", "content": [p(json!([t("a")]))]},
                    {"type": "listItem", "content": [p(json!([t("b")]))]}]}]),
            ),
            (
                "pre",
                "<pre><code class=\"language-sql\">select 1;\n&lt;x&gt;</code></pre>",
                json!([{"type": "codeBlock", "attrs": {"language": "sql"}, "content": [t("select 1;\n<x>")]}]),
            ),
            (
                "blockquote",
                "<blockquote>q</blockquote>",
                json!([{"type": "blockquote", "content": [p(json!([t("q")]))]}]),
            ),
            ("hr", "<hr>", json!([{"type": "rule"}])),
            ("plain div is transparent", "<div>a</div><div>b</div>", json!([p(json!([t("a")])), p(json!([t("b")]))])),
            ("span is transparent", "<p><span style='x'>a</span></p>", json!([p(json!([t("a")]))])),
            ("unknown tag keeps text", "<p><blink>a</blink></p>", json!([p(json!([t("a")]))])),
            (
                "entities",
                "<p>&amp;&lt;&gt;&quot;&#39;&nbsp;&#65;&#x42;&bogus; & x</p>",
                json!([p(json!([t("&<>\"'\u{a0}AB&bogus; & x")]))]),
            ),
            (
                "table",
                "<table><thead><tr><th>h</th></tr></thead><tr><td>c<td></table>",
                json!([{"type": "table", "content": [
                    {"type": "tableRow", "content": [{"type": "tableHeader", "content": [p(json!([t("h")]))]}]},
                    {"type": "tableRow", "content": [
                        {"type": "tableCell", "content": [p(json!([t("c")]))]},
                        {"type": "tableCell", "content": [{"type": "paragraph"}]}]}]}]),
            ),
            ("script dropped", "<p>a<script>alert(1)</script>b</p>", json!([p(json!([t("a"), t("b")]))])),
            ("comment dropped", "<!-- c --><p>a</p>", json!([p(json!([t("a")]))])),
            ("p closed by block", "<p>a<p>b", json!([p(json!([t("a")])), p(json!([t("b")]))])),
            ("lone lt is text", "<p>1 < 2</p>", json!([p(json!([t("1 < 2")]))])),
            ("img placeholder", "<p><img src=x alt=\"cat\"></p>", json!([p(json!([t("[image: cat]")]))])),
            (
                "neutral image without attachments known",
                "<p><b><img src=\"ferry-attachment:10001\" alt=\"shot.png\"></b></p>",
                json!([p(json!([tm("[image: shot.png]", json!([{"type": "strong"}]))]))]),
            ),
            (
                "neutral mention",
                "<p>hi <span data-ferry-mention=\"5b10\">@Alice &amp; Co</span>!</p>",
                json!([p(json!([t("hi "), {"type": "mention", "attrs": {"id": "5b10", "text": "@Alice & Co"}}, t("!")]))]),
            ),
            (
                "span with an empty mention id is transparent",
                "<p><span data-ferry-mention=\"\">@x</span></p>",
                json!([p(json!([t("@x")]))]),
            ),
            (
                "blocks a list item cannot hold are fitted",
                "<ul><li><h2>t</h2><blockquote><p>q</p></blockquote><hr><table><tr><td>c</td></tr></table></li></ul>",
                json!([{"type": "bulletList", "content": [{"type": "listItem", "content": [
                    p(json!([t("t")])), p(json!([t("q")])), p(json!([t("c")]))]}]}]),
            ),
            (
                "a quote cannot hold a heading or a quote",
                "<blockquote><h1>h</h1><blockquote>inner</blockquote></blockquote>",
                json!([{"type": "blockquote", "content": [p(json!([t("h")])), p(json!([t("inner")]))]}]),
            ),
            (
                "code excludes other marks but link",
                "<p><b><a href=\"https://h.test\"><code>x</code></a></b></p>",
                json!([p(json!([tm("x", json!([{"type": "link", "attrs": {"href": "https://h.test"}}, {"type": "code"}]))]))]),
            ),
            (
                "named references from the full table, with and without semicolon",
                "<p>caf&eacute; &eacute &hellip;</p>",
                json!([p(json!([t("café é …")]))]),
            ),
            (
                "numeric references as the standard reads them",
                "<p>&#x80;&#150;&#0;&#xD800;&#x110000;</p>",
                json!([p(json!([t("€–\u{fffd}\u{fffd}\u{fffd}")]))]),
            ),
            (
                "links with refused schemes or relative URLs lose the link",
                "<p><a href=\"/browse/X-1\">a</a><a href=\"#\">b</a><a href=\" jav&#x09;ascript:x\">c</a><a href=\"data:,x\">d</a></p>",
                json!([p(json!([t("a"), t("b"), t("c"), t("d")]))]),
            ),
            (
                "carriage returns read as line feeds",
                "<pre>a\r\nb\rc</pre>",
                json!([{"type": "codeBlock", "content": [t("a\nb\nc")]}]),
            ),
            ("style and title dropped", "<title>t</title><style>p{}</style><p>a</p>", json!([p(json!([t("a")]))])),
        ];
        for (name, html, want) in cases {
            assert_eq!(html_to_adf(html), doc(want), "{name}");
        }
    }

    #[test]
    fn malformed_adf_is_an_error_not_a_panic() {
        assert_eq!(adf_to_html(&json!("text")), Err(AdfError::NotAnObject));
        assert_eq!(adf_to_html(&json!({"type": "paragraph"})), Err(AdfError::NotADoc("paragraph".into())));
        assert!(matches!(
            adf_to_html(&json!({"type": "doc", "version": 2, "content": []})),
            Err(AdfError::UnsupportedVersion(_))
        ));
        // Junk inside a valid doc renders best effort.
        let junk = doc(
            json!([1, null, "loose", {"content": "x"}, {"type": "text"}, {"type": "heading", "attrs": {"level": "x"}}]),
        );
        assert_eq!(adf_to_html(&junk).unwrap(), "loose<h1></h1>");
        let mut deep = json!({"type": "paragraph"});
        for _ in 0..200 {
            deep = json!({"type": "blockquote", "content": [deep]});
        }
        assert_eq!(adf_to_html(&doc(json!([deep]))), Err(AdfError::TooDeep));
    }

    #[test]
    fn hostile_html_never_panics() {
        for h in [
            "<",
            "<<>>",
            "</p>",
            "<a href=",
            "<a href=\"x",
            "&#xFFFFFFFF;",
            "&#0;",
            "<p",
            "<!--",
            "<ü>",
            "<p>\u{a0}é</p>",
        ] {
            let d = html_to_adf(h);
            assert!(adf_to_html(&d).is_ok(), "{h}");
        }
        let deep = "<div>".repeat(10_000) + "x";
        assert!(adf_to_html(&html_to_adf(&deep)).is_ok());
        let deep_b = "<b>".repeat(10_000) + "x";
        assert!(adf_to_html(&html_to_adf(&deep_b)).is_ok());
    }

    #[test]
    fn text_to_adf_splits_lines_with_hard_breaks() {
        assert_eq!(text_to_adf("a\nb"), doc(json!([p(json!([t("a"), {"type": "hardBreak"}, t("b")]))])));
        assert_eq!(adf_to_text(&text_to_adf("a\nb")), "a\nb");
    }

    #[test]
    fn a_mention_survives_a_round_trip_whatever_its_text() {
        for text in ["@Alice Jones", "Bob", "@a\rb\nc", "@<&\"'>", ""] {
            let d = doc(json!([p(json!([{"type": "mention", "attrs": {"id": "5b10", "text": text}}]))]));
            let h = adf_to_html(&d).unwrap();
            assert!(h.starts_with("<p><span data-ferry-mention=\"5b10\">@"), "{h}");
            assert_eq!(adf_to_html(&html_to_adf(&h)).unwrap(), h, "{text:?}");
        }
    }

    #[test]
    fn inline_card_without_url_renders_no_empty_link() {
        // Found by fuzzing (fuzz/regressions/adf_html-inline-card-empty-url).
        let d = doc(json!([{"type": "paragraph", "content": [
            {"type": "text", "text": "a"},
            {"type": "inlineCard", "attrs": {"url": ""}},
            {"type": "inlineCard"}
        ]}]));
        let h = adf_to_html(&d).unwrap();
        assert_eq!(h, "<p>a</p>");
        assert_eq!(adf_to_html(&html_to_adf(&h)).unwrap(), h);
    }

    #[test]
    fn foreign_html_normalises_in_one_pass() {
        let cases = [
            "<div><b>Steps</b><br>1. open<br>2. click</div><ul><li>x<ul><li>y</li></ul></li></ul>",
            "<p>Hello <i><b>world</b></i> &amp; <a href=\"https://e.test\">link</a></p>\n<p>second</p>",
            "<table><tr><td>a</td><td><b>b</b></td></tr></table><pre>code\n  indented</pre>",
            "text only",
            "<ol start=2><li><p>a</p></li></ol><h7>x</h7>",
        ];
        for h in cases {
            let once = adf_to_html(&html_to_adf(h)).unwrap();
            let twice = adf_to_html(&html_to_adf(&once)).unwrap();
            assert_eq!(once, twice, "{h}");
        }
    }

    // ---- property: ADF -> HTML -> ADF -> HTML is the identity on HTML.

    fn arb_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9 <>&\"'é]{1,8}").expect("regex")
    }

    fn arb_marks() -> impl Strategy<Value = Value> {
        proptest::collection::vec(0usize..8, 0..3).prop_map(|ks| {
            Value::Array(
                ks.into_iter()
                    .map(|k| match k {
                        0 => json!({"type": "strong"}),
                        1 => json!({"type": "em"}),
                        2 => json!({"type": "underline"}),
                        3 => json!({"type": "strike"}),
                        4 => json!({"type": "code"}),
                        5 => json!({"type": "link", "attrs": {"href": "https://x.test/a?b=1&c=\"2\""}}),
                        6 => json!({"type": "subsup", "attrs": {"type": "sub"}}),
                        _ => json!({"type": "subsup", "attrs": {"type": "sup"}}),
                    })
                    .collect(),
            )
        })
    }

    fn arb_inline() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => (arb_text(), arb_marks()).prop_map(|(t, m)| json!({"type": "text", "text": t, "marks": m})),
            1 => Just(json!({"type": "hardBreak"})),
            1 => Just(json!({"type": "mention", "attrs": {"id": "1", "text": "@Al"}})),
            1 => Just(json!({"type": "emoji", "attrs": {"shortName": ":x:"}})),
            1 => Just(json!({"type": "inlineCard", "attrs": {"url": "https://c.test/1"}})),
        ]
    }

    fn arb_para() -> impl Strategy<Value = Value> {
        proptest::collection::vec(arb_inline(), 0..4).prop_map(|c| json!({"type": "paragraph", "content": c}))
    }

    /// Keeps the children valid ADF allows in a container (media renders as a paragraph).
    fn valid_children(c: Vec<Value>, allowed: &[&str]) -> Vec<Value> {
        let kept: Vec<Value> = c
            .into_iter()
            .filter(|b| {
                let ty = b["type"].as_str().unwrap_or("");
                allowed.contains(&ty) || ty == "mediaSingle"
            })
            .collect();
        if kept.is_empty() {
            vec![json!({"type": "paragraph"})]
        } else {
            kept
        }
    }

    fn arb_block() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            3 => arb_para(),
            1 => (1u64..7, proptest::collection::vec(arb_inline(), 0..3))
                .prop_map(|(l, c)| json!({"type": "heading", "attrs": {"level": l}, "content": c})),
            1 => (proptest::option::of("[a-z]{1,5}"), "[a-z<&\n ]{0,10}").prop_map(|(lang, text)| {
                let mut cb = json!({"type": "codeBlock"});
                if let Some(l) = lang { cb["attrs"] = json!({"language": l}); }
                if !text.is_empty() { cb["content"] = json!([{"type": "text", "text": text}]); }
                cb
            }),
            1 => Just(json!({"type": "rule"})),
            1 => Just(json!({"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "1", "type": "file", "collection": ""}}]})),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                (proptest::bool::ANY, proptest::collection::vec((arb_para(), proptest::collection::vec(inner.clone(), 0..2)), 1..3))
                    .prop_map(|(ordered, items)| {
                        let items: Vec<Value> = items
                            .into_iter()
                            .map(|(p, rest)| {
                                // List items hold paragraphs and nested lists only.
                                let mut c = vec![p];
                                c.extend(rest.into_iter().filter(|b| {
                                    matches!(b["type"].as_str(), Some("paragraph" | "bulletList" | "orderedList"))
                                }));
                                json!({"type": "listItem", "content": c})
                            })
                            .collect();
                        json!({"type": if ordered { "orderedList" } else { "bulletList" }, "content": items})
                    }),
                proptest::collection::vec(inner.clone(), 1..3)
                    .prop_map(|c| json!({"type": "blockquote", "content": valid_children(c, IN_BLOCKQUOTE)})),
                proptest::collection::vec(inner.clone(), 1..3)
                    .prop_map(|c| json!({"type": "panel", "attrs": {"panelType": "note"}, "content": valid_children(c, IN_PANEL)})),
                proptest::collection::vec(proptest::collection::vec((proptest::bool::ANY, inner), 1..3), 1..3)
                    .prop_map(|rows| {
                        let rows: Vec<Value> = rows
                            .into_iter()
                            .map(|cells| {
                                let cells: Vec<Value> = cells
                                    .into_iter()
                                    .map(|(h, b)| json!({"type": if h { "tableHeader" } else { "tableCell" }, "content": valid_children(vec![b], IN_CELL)}))
                                    .collect();
                                json!({"type": "tableRow", "content": cells})
                            })
                            .collect();
                        json!({"type": "table", "content": rows})
                    }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn html_from_adf_survives_a_round_trip(blocks in proptest::collection::vec(arb_block(), 0..5)) {
            let h1 = adf_to_html(&doc(Value::Array(blocks))).expect("valid doc");
            let h2 = adf_to_html(&html_to_adf(&h1)).expect("valid doc");
            prop_assert_eq!(h1, h2);
        }

        #[test]
        fn html_with_images_survives_a_round_trip(blocks in proptest::collection::vec(arb_block(), 0..5)) {
            // Media file "1" is attachment 10001 here: every generated media node is an image.
            struct One;
            impl Media for One {
                fn attachment(&self, node: &MediaRef<'_>) -> Option<(String, String)> {
                    (node.id == "1").then(|| ("10001".to_string(), "shot <1>.png".to_string()))
                }
                fn media(&self, id: &str) -> Option<Map<String, Value>> {
                    (id == "10001").then(|| json!({"type": "file", "id": "1", "collection": ""}).as_object().cloned()).flatten()
                }
            }
            let h1 = adf_to_html_with(&doc(Value::Array(blocks)), &One).expect("valid doc");
            let h2 = adf_to_html_with(&html_to_adf_with(&h1, &One), &One).expect("valid doc");
            prop_assert_eq!(h1, h2);
        }

        #[test]
        fn arbitrary_html_is_stable_after_one_pass(s in "[a-z<>/&;# =\"']{0,40}|(<(p|b|i|ul|li|ol|div|pre|table|tr|td|br|hr|a href=x|h2|blockquote)>|</(p|b|i|ul|li|ol|div|pre|table|tr|td|a|h2|blockquote)>|[a-z &<]{1,4}){0,20}") {
            let once = adf_to_html(&html_to_adf(&s)).expect("valid doc");
            let twice = adf_to_html(&html_to_adf(&once)).expect("valid doc");
            prop_assert_eq!(once, twice);
        }
    }
}
