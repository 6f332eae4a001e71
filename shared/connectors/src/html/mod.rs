//! HTML, Ferry's neutral rich text: reading markup from any source into a small tree,
//! turning it into plain text, and the rule for which links survive.
//!
//! - [`parse`]: the tokenizer follows the HTML standard's tokenization (character
//!   references with the full named table, comments, raw-text elements, attribute
//!   quirks, newline normalisation); the tree builder is the standard's in miniature
//!   (implied end tags of paragraphs, list items and table cells, void elements) and
//!   drops what a browser does not show: comments, `<script>`, `<style>`, `<template>`
//!   and the like, with their content.
//! - [`to_text`]: plain text as a reader sees it, for plain-text fields.
//! - [`link_allowed`]: the allow-list of link schemes.
//! - [`clean`]: the allow-list of elements and attributes, for HTML passed on as HTML.
//!
//! Converting between this HTML and a tracker's own format (Jira's ADF) lives with that
//! format (`crate::adf`).

mod clean;
mod entities;
mod entity_table;
mod links;
mod text;
mod tokenizer;
mod tree;

pub use clean::clean;
pub use entities::decode_entities;
pub use links::{link_allowed, LINK_SCHEMES};
pub use text::to_text;
pub use tree::{parse, Node};

/// Escapes text for HTML element content or a quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    ferry_domain::html::escape_html_into(s, &mut out, false);
    out
}

/// Elements that form a block of their own: they end an open paragraph, and text
/// around them does not flow into them.
pub fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "li"
            | "listing"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "plaintext"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
            | "xmp"
    )
}

/// Elements that never have content (`<br>`, `<img>`): no end tag is expected.
pub fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}
