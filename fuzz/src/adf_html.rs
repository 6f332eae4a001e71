//! ADF ⇄ HTML (`ferry_connectors::adf`, `ferry_connectors::html`). Checks only what the
//! modules document:
//! - nothing panics, whatever JSON or HTML comes in;
//! - `html_to_adf` always yields a document `adf_to_html` accepts, and foreign HTML
//!   reaches the canonical form in one pass: `adf_to_html(html_to_adf(h))` is a fixed point;
//! - the HTML rendered from schema-valid ADF survives `html_to_adf` exactly;
//! - `html::to_text` reads any HTML without panicking.
//!
//! The fuzz target `adf_html` runs [`run`] on libFuzzer's inputs; `tests/replay.rs` runs
//! it on the committed corpus and regressions with the stable toolchain.
use arbitrary::{Arbitrary, Unstructured};
use ferry_connectors::adf::{adf_to_html, adf_to_text, html_to_adf};
use ferry_connectors::html;
use serde_json::{json, Value};

#[derive(Debug, Arbitrary)]
pub enum Input {
    /// Any JSON document, as Jira might send it (or not).
    Json(Vec<u8>),
    /// Schema-valid ADF.
    Structured(Vec<Block>),
    /// Any HTML, as Azure DevOps might send it.
    Html(String),
}

#[derive(Debug, Arbitrary)]
pub enum Block {
    Para(Vec<Inline>),
    Heading(u8, Vec<Inline>),
    Code(Option<Lang>, String),
    Rule,
    Media,
    List(bool, Vec<(Vec<Inline>, Vec<Block>)>),
    Quote(Vec<Block>),
    Panel(Vec<Block>),
    Table(Vec<Vec<(bool, Vec<Block>)>>),
}

/// Code block languages are identifiers in practice (`rust`, `c++`, `objective-c`).
#[derive(Debug)]
pub struct Lang(String);

impl<'a> Arbitrary<'a> for Lang {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(1..=8)?;
        let mut s = String::new();
        for _ in 0..len {
            s.push(*u.choose(&['a', 'b', 'z', '0', '+', '-', '#'])?);
        }
        Ok(Lang(s))
    }
}

#[derive(Debug, Arbitrary)]
pub enum Inline {
    Text(String, Vec<u8>),
    HardBreak,
    Mention(String),
    Emoji(String),
    Card(String),
}

const IN_LIST_ITEM: &[&str] = &["paragraph", "bulletList", "orderedList"];
const IN_BLOCKQUOTE: &[&str] = &["paragraph", "bulletList", "orderedList", "codeBlock"];
const IN_PANEL: &[&str] = &["paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule"];
const IN_CELL: &[&str] =
    &["paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule", "blockquote", "panel"];
/// Container nesting kept by the generator; the library's limits are far above it.
const MAX_NEST: usize = 4;

fn mark(k: u8, href: &str) -> Value {
    match k % 9 {
        0 => json!({"type": "strong"}),
        1 => json!({"type": "em"}),
        2 => json!({"type": "underline"}),
        3 => json!({"type": "strike"}),
        4 => json!({"type": "code"}),
        5 => json!({"type": "link", "attrs": {"href": href}}),
        6 => json!({"type": "link", "attrs": {"href": "https://x.test/a?b=1&c=\"2\""}}),
        7 => json!({"type": "subsup", "attrs": {"type": "sub"}}),
        _ => json!({"type": "subsup", "attrs": {"type": "sup"}}),
    }
}

fn inline(i: &Inline) -> Value {
    match i {
        Inline::Text(t, marks) => {
            let marks: Vec<Value> = marks.iter().take(4).map(|k| mark(*k, t)).collect();
            json!({"type": "text", "text": t, "marks": marks})
        }
        Inline::HardBreak => json!({"type": "hardBreak"}),
        Inline::Mention(t) => json!({"type": "mention", "attrs": {"id": "1", "text": t}}),
        Inline::Emoji(t) => json!({"type": "emoji", "attrs": {"shortName": t}}),
        Inline::Card(t) => json!({"type": "inlineCard", "attrs": {"url": t}}),
    }
}

fn inlines(c: &[Inline]) -> Vec<Value> {
    c.iter().map(inline).collect()
}

fn para(c: &[Inline]) -> Value {
    json!({"type": "paragraph", "content": inlines(c)})
}

/// Keeps the children valid ADF allows in a container (media renders as a paragraph).
fn children(c: &[Block], allowed: &[&str], depth: usize) -> Vec<Value> {
    let kept: Vec<Value> = c
        .iter()
        .map(|b| block(b, depth + 1))
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

fn block(b: &Block, depth: usize) -> Value {
    let nested = depth < MAX_NEST;
    match b {
        Block::Para(c) => para(c),
        Block::Heading(l, c) => {
            json!({"type": "heading", "attrs": {"level": u64::from(l % 6 + 1)}, "content": inlines(c)})
        }
        Block::Code(lang, text) => {
            let mut cb = json!({"type": "codeBlock"});
            if let Some(Lang(l)) = lang {
                cb["attrs"] = json!({"language": l});
            }
            if !text.is_empty() {
                cb["content"] = json!([{"type": "text", "text": text}]);
            }
            cb
        }
        Block::Rule => json!({"type": "rule"}),
        Block::Media => {
            json!({"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "1", "type": "file", "collection": ""}}]})
        }
        Block::List(ordered, items) if nested && !items.is_empty() => {
            let items: Vec<Value> = items
                .iter()
                .map(|(p, rest)| {
                    let mut c = vec![para(p)];
                    c.extend(
                        rest.iter()
                            .map(|b| block(b, depth + 1))
                            .filter(|b| IN_LIST_ITEM.contains(&b["type"].as_str().unwrap_or(""))),
                    );
                    json!({"type": "listItem", "content": c})
                })
                .collect();
            json!({"type": if *ordered { "orderedList" } else { "bulletList" }, "content": items})
        }
        Block::Quote(c) if nested && !c.is_empty() => {
            json!({"type": "blockquote", "content": children(c, IN_BLOCKQUOTE, depth)})
        }
        Block::Panel(c) if nested && !c.is_empty() => {
            json!({"type": "panel", "attrs": {"panelType": "note"}, "content": children(c, IN_PANEL, depth)})
        }
        Block::Table(rows) if nested && rows.iter().any(|r| !r.is_empty()) => {
            let rows: Vec<Value> = rows
                .iter()
                .filter(|r| !r.is_empty())
                .map(|cells| {
                    let cells: Vec<Value> = cells
                        .iter()
                        .map(|(h, c)| {
                            json!({"type": if *h { "tableHeader" } else { "tableCell" }, "content": children(c, IN_CELL, depth)})
                        })
                        .collect();
                    json!({"type": "tableRow", "content": cells})
                })
                .collect();
            json!({"type": "table", "content": rows})
        }
        _ => json!({"type": "paragraph"}),
    }
}

/// Foreign HTML: one pass reaches the canonical form.
fn check_html(h: &str) {
    let once = adf_to_html(&html_to_adf(h)).expect("html_to_adf yields a valid document");
    let twice = adf_to_html(&html_to_adf(&once)).expect("html_to_adf yields a valid document");
    assert_eq!(once, twice, "not stable after one pass; input {h:?}");
}

/// Runs one input through the conversions and asserts what they promise.
pub fn run(input: Input) {
    match input {
        Input::Json(bytes) => {
            let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else { return };
            let _ = adf_to_text(&doc);
            if let Ok(h) = adf_to_html(&doc) {
                check_html(&h);
            }
        }
        Input::Structured(blocks) => {
            let content: Vec<Value> = blocks.iter().map(|b| block(b, 0)).collect();
            let doc = json!({"type": "doc", "version": 1, "content": content});
            let h1 = adf_to_html(&doc).expect("schema-valid ADF renders");
            let h2 = adf_to_html(&html_to_adf(&h1)).expect("html_to_adf yields a valid document");
            assert_eq!(h1, h2, "canonical HTML did not survive the round trip");
        }
        Input::Html(h) => {
            let _ = html::to_text(&h);
            check_html(&h);
        }
    }
}
