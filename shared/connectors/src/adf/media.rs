//! Media nodes (ADF) ⇄ the neutral inline image of HTML
//! (`<img src="ferry-attachment:ID" alt="NAME">`, see `ferry_domain::collab`).
//!
//! Which attachment a media node shows, and which media node shows an attachment, is the
//! connector's to say ([`Media`]): ADF names files by their media id, which only the
//! system can map to an attachment. This module renders the nodes it is told about as
//! images, places images back as `mediaSingle` blocks, and leaves everything else a text
//! label, as Ferry did before it could copy images.

use super::{attr_str, collect_text_raw, escape_into, MAX_DEPTH};
use crate::html::{self, Node};
use ferry_domain::collab::ATTACHMENT_SCHEME;
use serde_json::{json, Map, Value};

/// A media node's attributes, as ADF carries them (empty when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRef<'a> {
    /// `file` (a Media Services file, by `id`), `external` (by `url`) or `link`.
    pub kind: &'a str,
    pub id: &'a str,
    pub url: &'a str,
    pub alt: &'a str,
}

/// The entity's attachments as its rich text refers to them.
pub trait Media {
    /// The attachment a media node shows, as (attachment id, file name); `None`: none of
    /// the entity's attachments.
    fn attachment(&self, node: &MediaRef<'_>) -> Option<(String, String)>;
    /// The `attrs` of a media node that shows attachment `id` (without `alt`); `None`:
    /// not an attachment this side can show.
    fn media(&self, id: &str) -> Option<Map<String, Value>>;
}

/// No attachments known: media nodes and neutral images stay text labels (a conversion
/// with no entity at hand: a new issue, search keys, plain-text fields).
pub struct NoMedia;

impl Media for NoMedia {
    fn attachment(&self, _node: &MediaRef<'_>) -> Option<(String, String)> {
        None
    }
    fn media(&self, _id: &str) -> Option<Map<String, Value>> {
        None
    }
}

/// The inline node `html_to_adf` holds a neutral image in until [`place_images`] makes it
/// a `mediaSingle` (or a label); it never leaves this module.
const PLACEHOLDER: &str = "ferry:image";

fn media_ref(obj: &Map<String, Value>) -> MediaRef<'_> {
    MediaRef {
        kind: attr_str(obj, "type").unwrap_or(""),
        id: attr_str(obj, "id").unwrap_or(""),
        url: attr_str(obj, "url").unwrap_or(""),
        alt: attr_str(obj, "alt").unwrap_or(""),
    }
}

/// Every media node of `doc` (`media`, `mediaInline`), in document order.
pub fn media_refs(doc: &Value) -> Vec<MediaRef<'_>> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<MediaRef<'a>>, depth: usize) {
        let Some(obj) = v.as_object() else { return };
        if depth > MAX_DEPTH {
            return;
        }
        if matches!(obj.get("type").and_then(Value::as_str), Some("media" | "mediaInline")) {
            out.push(media_ref(obj));
        }
        for c in obj.get("content").and_then(Value::as_array).into_iter().flatten() {
            walk(c, out, depth + 1);
        }
    }
    let mut out = Vec::new();
    walk(doc, &mut out, 0);
    out
}

/// The attachment ids of the neutral inline images of `html`, in order, each once.
pub fn inline_image_ids(html: &str) -> Vec<String> {
    fn walk(nodes: &[Node], out: &mut Vec<String>, depth: usize) {
        for n in nodes {
            let Node::Element { name, children, .. } = n else { continue };
            if let Some(id) = image_id(n).filter(|_| name == "img") {
                if !out.iter().any(|x| x == id) {
                    out.push(id.to_string());
                }
            }
            if depth < MAX_DEPTH * 2 {
                walk(children, out, depth + 1);
            }
        }
    }
    let mut out = Vec::new();
    walk(&html::parse(html), &mut out, 0);
    out
}

/// The attachment id of a neutral image element, `None` for any other element.
fn image_id(n: &Node) -> Option<&str> {
    n.attr("src")?.strip_prefix(ATTACHMENT_SCHEME).filter(|id| !id.is_empty())
}

/// The neutral image, exactly as `ferry_domain::collab` spells it (a carriage return,
/// which no HTML reader keeps, written as a reference).
fn image(id: &str, alt: &str, out: &mut String) {
    out.push_str("<img src=\"");
    out.push_str(ATTACHMENT_SCHEME);
    escape_into(id, out);
    out.push_str("\" alt=\"");
    escape_into(alt, out);
    out.push_str("\">");
}

/// The attachment a media node shows and the name to show: its `alt`, else the file name.
fn resolve(obj: &Map<String, Value>, m: &dyn Media) -> Option<(String, String)> {
    let r = media_ref(obj);
    let (id, name) = m.attachment(&r)?;
    Some((id, if r.alt.is_empty() { name } else { r.alt.to_string() }))
}

fn label(obj: &Map<String, Value>) -> String {
    match attr_str(obj, "alt").filter(|a| !a.is_empty()) {
        Some(alt) => format!("[attachment: {alt}]"),
        None => "[attachment]".to_string(),
    }
}

/// A `mediaSingle` or `mediaGroup`: each image it shows as a paragraph of its own
/// (`<p><img …></p>`), the media it cannot show as labels sharing a paragraph, a caption
/// as a paragraph of its text.
pub(super) fn render_group(obj: &Map<String, Value>, out: &mut String, m: &dyn Media) {
    fn flush(labels: &mut Vec<String>, out: &mut String) {
        if !labels.is_empty() {
            out.push_str("<p>");
            escape_into(&labels.join(" "), out);
            out.push_str("</p>");
            labels.clear();
        }
    }
    let mut labels = Vec::new();
    let mut any = false;
    for c in obj.get("content").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object) {
        any = true;
        if c.get("type").and_then(Value::as_str) == Some("caption") {
            flush(&mut labels, out);
            let mut text = String::new();
            collect_text_raw(c, &mut text, 0);
            if !text.is_empty() {
                out.push_str("<p>");
                escape_into(&text, out);
                out.push_str("</p>");
            }
            continue;
        }
        match resolve(c, m) {
            Some((id, alt)) => {
                flush(&mut labels, out);
                out.push_str("<p>");
                image(&id, &alt, out);
                out.push_str("</p>");
            }
            None => labels.push(label(c)),
        }
    }
    if !any {
        labels.push("[attachment]".to_string());
    }
    flush(&mut labels, out);
}

/// A media node outside a group (`mediaInline` in a paragraph): the image, or its label.
pub(super) fn render_inline(obj: &Map<String, Value>, out: &mut String, m: &dyn Media) {
    match resolve(obj, m) {
        Some((id, alt)) => image(&id, &alt, out),
        None => escape_into(&label(obj), out),
    }
}

// ---------------------------------------------------------------- HTML -> ADF

/// The inline node of a neutral image element (`None` for any other element), carrying
/// the marks around it for the label it may become.
pub(super) fn placeholder(n: &Node, marks: Vec<Value>) -> Option<Value> {
    let id = image_id(n)?;
    let mut v = json!({"type": PLACEHOLDER, "attrs": {"id": id, "alt": n.attr("alt").unwrap_or("")}});
    if !marks.is_empty() {
        v["marks"] = Value::Array(marks);
    }
    Some(v)
}

/// Turns each placeholder of `doc` into a `mediaSingle` block that shows the attachment
/// (splitting the paragraph or heading around it), or into the text label `[image: alt]`
/// where `m` cannot show it.
pub(super) fn place_images(doc: &mut Value, m: &dyn Media) {
    place_in(doc, m, 0);
}

fn place_in(node: &mut Value, m: &dyn Media, depth: usize) {
    let Some(children) = node.get_mut("content").and_then(Value::as_array_mut) else { return };
    if depth > MAX_DEPTH * 2 || !children.iter().any(|c| holds_placeholder(c, depth)) {
        return;
    }
    let old = std::mem::take(children);
    for mut c in old {
        let ty = c.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        match ty.as_str() {
            PLACEHOLDER => children.push(label_of(&c)),
            "paragraph" | "heading" if direct_placeholder(&c) => children.extend(split(c, m)),
            _ => {
                place_in(&mut c, m, depth + 1);
                children.push(c);
            }
        }
    }
}

fn holds_placeholder(v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH * 2 {
        return false;
    }
    v.get("type").and_then(Value::as_str) == Some(PLACEHOLDER)
        || v.get("content").and_then(Value::as_array).is_some_and(|c| c.iter().any(|x| holds_placeholder(x, depth + 1)))
}

fn direct_placeholder(v: &Value) -> bool {
    v.get("content")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|x| x.get("type").and_then(Value::as_str) == Some(PLACEHOLDER)))
}

/// `[image: alt]` as text with the placeholder's marks.
fn label_of(p: &Value) -> Value {
    let alt = p.pointer("/attrs/alt").and_then(Value::as_str).unwrap_or("");
    let text = if alt.is_empty() { "[image]".to_string() } else { format!("[image: {alt}]") };
    let mut t = json!({"type": "text", "text": text});
    if let Some(marks) = p.get("marks") {
        t["marks"] = marks.clone();
    }
    t
}

/// A paragraph or heading holding placeholders, as blocks: the text before an image, the
/// image, the text after it (whitespace at a cut trimmed, empty parts left out).
fn split(block: Value, m: &dyn Media) -> Vec<Value> {
    let Value::Object(mut block) = block else { return Vec::new() };
    let content = match block.remove("content") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    let mut run: Vec<Value> = Vec::new();
    // Whether the run being collected follows an image.
    let mut after_image = false;
    for n in content {
        if n.get("type").and_then(Value::as_str) != Some(PLACEHOLDER) {
            run.push(n);
            continue;
        }
        let id = n.pointer("/attrs/id").and_then(Value::as_str).unwrap_or("");
        let Some(mut attrs) = m.media(id) else {
            run.push(label_of(&n));
            continue;
        };
        let alt = n.pointer("/attrs/alt").and_then(Value::as_str).unwrap_or("");
        if !alt.is_empty() {
            attrs.insert("alt".into(), json!(alt));
        }
        flush(&block, std::mem::take(&mut run), after_image, true, &mut out);
        out.push(json!({
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [{"type": "media", "attrs": attrs}],
        }));
        after_image = true;
    }
    flush(&block, run, after_image, false, &mut out);
    out
}

/// Emits `run` as a block like `block` (its type and attrs), trimmed where it meets an
/// image; nothing when it is empty.
fn flush(block: &Map<String, Value>, mut run: Vec<Value>, trim_start: bool, trim_end: bool, out: &mut Vec<Value>) {
    if trim_start {
        if let Some(t) = run.first_mut().and_then(|n| n.get_mut("text")) {
            *t = json!(t.as_str().unwrap_or("").trim_start());
        }
    }
    if trim_end {
        if let Some(t) = run.last_mut().and_then(|n| n.get_mut("text")) {
            *t = json!(t.as_str().unwrap_or("").trim_end());
        }
    }
    run.retain(|n| n.get("type").and_then(Value::as_str) != Some("text") || n["text"] != "");
    if run.is_empty() && (trim_start || trim_end) {
        return;
    }
    let mut b = block.clone();
    b.insert("content".into(), Value::Array(run));
    out.push(Value::Object(b));
}

#[cfg(test)]
mod tests {
    use super::super::{adf_to_html_with, html_to_adf_with};
    use super::*;

    /// Attachment 10001 (shot.png) is media file `m-1`; 10002 (diagram.png) is known only
    /// by its content URL; anything else is unknown.
    struct Table;

    impl Media for Table {
        fn attachment(&self, node: &MediaRef<'_>) -> Option<(String, String)> {
            match (node.kind, node.id, node.url) {
                ("file", "m-1", _) => Some(("10001".into(), "shot.png".into())),
                ("external", _, "https://jira.test/rest/api/3/attachment/content/10002") => {
                    Some(("10002".into(), "diagram.png".into()))
                }
                _ => None,
            }
        }
        fn media(&self, id: &str) -> Option<Map<String, Value>> {
            let v = match id {
                "10001" => json!({"type": "file", "id": "m-1", "collection": ""}),
                "10002" => json!({"type": "external", "url": "https://jira.test/rest/api/3/attachment/content/10002"}),
                _ => return None,
            };
            v.as_object().cloned()
        }
    }

    fn doc(content: Value) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    fn single(attrs: Value) -> Value {
        json!({"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [{"type": "media", "attrs": attrs}]})
    }

    fn para(text: &str) -> Value {
        json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
    }

    #[test]
    fn media_the_connector_knows_render_as_neutral_images_and_others_as_labels() {
        let cases = [
            (
                "a file by its media id, named by its file",
                single(json!({"type": "file", "id": "m-1", "collection": ""})),
                r#"<p><img src="ferry-attachment:10001" alt="shot.png"></p>"#,
            ),
            (
                "its alt wins over the file name",
                single(json!({"type": "file", "id": "m-1", "alt": "Login <form>"})),
                r#"<p><img src="ferry-attachment:10001" alt="Login &lt;form&gt;"></p>"#,
            ),
            (
                "an external image of an attachment",
                single(json!({"type": "external", "url": "https://jira.test/rest/api/3/attachment/content/10002"})),
                r#"<p><img src="ferry-attachment:10002" alt="diagram.png"></p>"#,
            ),
            (
                "an unknown file stays a label",
                single(json!({"type": "file", "id": "m-9", "alt": "old.png"})),
                "<p>[attachment: old.png]</p>",
            ),
            (
                "a group: an image per paragraph, labels together",
                json!({"type": "mediaGroup", "content": [
                    {"type": "media", "attrs": {"type": "file", "id": "m-9", "alt": "a.pdf"}},
                    {"type": "media", "attrs": {"type": "file", "id": "m-8", "alt": "b.pdf"}},
                    {"type": "media", "attrs": {"type": "file", "id": "m-1"}}]}),
                r#"<p>[attachment: a.pdf] [attachment: b.pdf]</p><p><img src="ferry-attachment:10001" alt="shot.png"></p>"#,
            ),
            (
                "a caption is a paragraph of its text",
                json!({"type": "mediaSingle", "content": [
                    {"type": "media", "attrs": {"type": "file", "id": "m-1"}},
                    {"type": "caption", "content": [{"type": "text", "text": "The login page"}]}]}),
                r#"<p><img src="ferry-attachment:10001" alt="shot.png"></p><p>The login page</p>"#,
            ),
            (
                "an inline media node",
                json!({"type": "paragraph", "content": [{"type": "text", "text": "see "}, {"type": "mediaInline", "attrs": {"type": "file", "id": "m-1"}}]}),
                r#"<p>see <img src="ferry-attachment:10001" alt="shot.png"></p>"#,
            ),
        ];
        for (what, node, want) in cases {
            assert_eq!(adf_to_html_with(&doc(json!([node])), &Table).unwrap(), want, "{what}");
        }
    }

    #[test]
    fn neutral_images_become_media_blocks_splitting_the_text_around_them() {
        let cases = [
            (
                "an image alone in its paragraph",
                r#"<p><img src="ferry-attachment:10001" alt="shot.png"></p>"#,
                json!([single(json!({"type": "file", "id": "m-1", "collection": "", "alt": "shot.png"}))]),
            ),
            (
                "text around an image, trimmed at the cuts",
                r#"<p>see <img src="ferry-attachment:10002" alt=""> and <img src="ferry-attachment:10001" alt="s"> end</p>"#,
                json!([
                    para("see"),
                    single(json!({"type": "external", "url": "https://jira.test/rest/api/3/attachment/content/10002"})),
                    para("and"),
                    single(json!({"type": "file", "id": "m-1", "collection": "", "alt": "s"})),
                    para("end"),
                ]),
            ),
            (
                "a heading keeps its level on both sides",
                r#"<h2>Before<img src="ferry-attachment:10001" alt="s">After</h2>"#,
                json!([
                    {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Before"}]},
                    single(json!({"type": "file", "id": "m-1", "collection": "", "alt": "s"})),
                    {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "After"}]},
                ]),
            ),
            (
                "in a list item",
                r#"<ul><li><img src="ferry-attachment:10001" alt="s"></li></ul>"#,
                json!([{"type": "bulletList", "content": [{"type": "listItem", "content": [
                    single(json!({"type": "file", "id": "m-1", "collection": "", "alt": "s"}))]}]}]),
            ),
            (
                "an attachment the target cannot show stays a label",
                r#"<p>x <img src="ferry-attachment:777" alt="gone.png"></p>"#,
                json!([{"type": "paragraph", "content": [{"type": "text", "text": "x "}, {"type": "text", "text": "[image: gone.png]"}]}]),
            ),
        ];
        for (what, html, want) in cases {
            assert_eq!(html_to_adf_with(html, &Table), doc(want), "{what}");
        }
    }

    #[test]
    fn a_neutral_image_written_reads_back_the_same() {
        for html in [
            r#"<p><img src="ferry-attachment:10001" alt="shot.png"></p>"#,
            r#"<p><img src="ferry-attachment:10001" alt="Login &amp; &quot;home&quot;"></p>"#,
            r#"<p>a</p><p><img src="ferry-attachment:10002" alt="diagram.png"></p><p><span data-ferry-mention="acc-1">@Al</span></p>"#,
        ] {
            let adf = html_to_adf_with(html, &Table);
            assert_eq!(adf_to_html_with(&adf, &Table).unwrap(), html);
        }
    }

    #[test]
    fn media_and_images_are_listed_for_resolving() {
        let d = doc(json!([
            single(json!({"type": "file", "id": "m-1", "alt": "a"})),
            {"type": "paragraph", "content": [{"type": "mediaInline", "attrs": {"type": "file", "id": "m-2"}}]},
        ]));
        let refs = media_refs(&d);
        assert_eq!(
            refs.iter().map(|r| (r.kind, r.id, r.alt)).collect::<Vec<_>>(),
            [("file", "m-1", "a"), ("file", "m-2", "")]
        );
        let html = r#"<p><img src="ferry-attachment:1&amp;2" alt="x"><img src="https://x.test/a.png"><img src="ferry-attachment:1&amp;2"><img src="ferry-attachment:3"></p>"#;
        assert_eq!(inline_image_ids(html), ["1&2", "3"]);
    }
}
