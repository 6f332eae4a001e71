//! Azure DevOps HTML (comments and rich-text fields) ⇄ Ferry's neutral HTML (`ferry_domain::collab`).
//!
//! | Azure DevOps | neutral |
//! |---|---|
//! | `<a href="#" data-vss-mention="version:2.0,{GUID}">@Name</a>` | `<span data-ferry-mention="{guid}">@Name</span>` |
//! | `<img src="{org}/{project}/_apis/wit/attachments/{GUID}?fileName=NAME">` | `<img src="ferry-attachment:{guid}" alt="NAME">` |
//!
//! GUIDs are written lower case on the neutral side (Azure DevOps reads them in any
//! case), so an attachment id from a comment equals the one [`attachment_id`] reads from
//! the work item's `AttachedFile` relation. An image counts as an attachment when its URL
//! is one of this organization's attachment URLs (with or without the project). The
//! rest of the markup goes through the html module's allow-list ([`crate::html::clean`]);
//! a mention or image in the other side's form that a person typed is not markup Ferry
//! translates, and the allow-list drops it to its text.

use crate::html::{self, Node};
use ferry_domain::collab::{ATTACHMENT_SCHEME, MENTION_ATTRIBUTE};
use ferry_domain::html::escape_html_into;
use url::Url;

/// The attribute of Azure DevOps' mention anchors.
const VSS_MENTION: &str = "data-vss-mention";

/// Azure DevOps HTML as neutral HTML; `base` is the organization URL (ends in `/`).
pub(super) fn to_neutral(ado: &str, base: &Url) -> String {
    html::clean(ado, &|node, out| match node {
        Node::Element { name, .. } if name == "a" => match node.attr(VSS_MENTION).and_then(mention_id) {
            Some(id) => {
                write_mention(out, &format!("<span {MENTION_ATTRIBUTE}=\""), &id, &text_of(node), "</span>");
                true
            }
            None => false,
        },
        Node::Element { name, .. } if name == "img" => {
            let Some((id, file_name)) = node.attr("src").and_then(|src| attachment_ref(src, base)) else {
                return false;
            };
            let alt = file_name.or_else(|| node.attr("alt").map(str::to_string)).unwrap_or_default();
            write_image(out, &format!("{ATTACHMENT_SCHEME}{id}"), &alt);
            true
        }
        _ => false,
    })
}

/// Neutral HTML as Azure DevOps HTML for a comment of `project`.
pub(super) fn from_neutral(neutral: &str, base: &Url, project: &str) -> String {
    html::clean(neutral, &|node, out| match node {
        Node::Element { name, .. } if name == "span" => match node.attr(MENTION_ATTRIBUTE).and_then(guid) {
            Some(id) => {
                let open = format!("<a href=\"#\" {VSS_MENTION}=\"version:2.0,");
                write_mention(out, &open, &id, &text_of(node), "</a>");
                true
            }
            None => false,
        },
        Node::Element { name, .. } if name == "img" => {
            let src = node.attr("src").unwrap_or_default();
            let Some(id) = src.strip_prefix(ATTACHMENT_SCHEME).and_then(guid) else { return false };
            let alt = node.attr("alt").unwrap_or_default();
            match attachment_url(base, project, &id, alt) {
                Some(url) => write_image(out, &url, alt),
                None => escape_html_into(alt, out, false),
            }
            true
        }
        _ => false,
    })
}

/// A rich-text field value as read, in neutral form: its mentions and its images of
/// this organization's attachments translated ([`to_neutral`]). A text without either
/// is kept exactly as Azure DevOps holds it.
pub(super) fn field_to_neutral(ado: &str, base: &Url) -> String {
    let lower = ado.to_ascii_lowercase();
    if lower.contains(VSS_MENTION) || lower.contains("/_apis/wit/attachments/") {
        to_neutral(ado, base)
    } else {
        ado.to_string()
    }
}

/// A rich-text field value to write for `project`: its neutral mentions and images in
/// Azure DevOps' markup ([`from_neutral`]). A text without either is written as it is.
pub(super) fn field_from_neutral(neutral: &str, base: &Url, project: &str) -> String {
    if neutral.contains(MENTION_ATTRIBUTE) || neutral.contains(ATTACHMENT_SCHEME) {
        from_neutral(neutral, base, project)
    } else {
        neutral.to_string()
    }
}

/// The attachment id (lower-case GUID) of one of this organization's attachment URLs:
/// `{base}[{project}/]_apis/wit/attachments/{GUID}[?fileName=…]`.
pub(super) fn attachment_id(url: &str, base: &Url) -> Option<String> {
    attachment_ref(url, base).map(|(id, _)| id)
}

/// The URL of attachment `id` for `project`, naming the file.
pub(super) fn attachment_url(base: &Url, project: &str, id: &str, name: &str) -> Option<String> {
    let mut url = base.clone();
    url.path_segments_mut().ok()?.pop_if_empty().extend([project, "_apis", "wit", "attachments", id]);
    if !name.is_empty() {
        // Percent-encoded as Azure DevOps writes it (a space is `%20`, not a form's `+`).
        let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        url.set_query(Some(&format!("fileName={}", encoded.replace('+', "%20"))));
    }
    Some(url.to_string())
}

/// The attachment id and the `fileName` of an attachment URL of this organization.
fn attachment_ref(src: &str, base: &Url) -> Option<(String, Option<String>)> {
    let url = base.join(src.trim()).ok()?;
    let same_site = url.scheme() == base.scheme()
        && url.host_str().map(str::to_ascii_lowercase) == base.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == base.port_or_known_default();
    let rest = url.path().to_ascii_lowercase();
    let rest = rest.strip_prefix(&base.path().to_ascii_lowercase()).filter(|_| same_site)?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let id = match segments.as_slice() {
        ["_apis", "wit", "attachments", id] | [_, "_apis", "wit", "attachments", id] => guid(id)?,
        _ => return None,
    };
    let name = url.query_pairs().find(|(k, _)| k.eq_ignore_ascii_case("fileName")).map(|(_, v)| v.into_owned());
    Some((id, name.filter(|n| !n.is_empty())))
}

/// The identity of a mention anchor's `version:2.0,{GUID}`.
fn mention_id(value: &str) -> Option<String> {
    guid(value.rsplit(',').next()?)
}

/// A GUID (braces allowed), lower case.
pub(super) fn guid(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches('{').trim_end_matches('}');
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() });
    ok.then(|| s.to_ascii_lowercase())
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

/// `open` + id + `">@Name` + `close`: the name shown with one leading `@`.
fn write_mention(out: &mut String, open: &str, id: &str, shown: &str, close: &str) {
    out.push_str(open);
    escape_html_into(id, out, false);
    out.push_str("\">@");
    escape_html_into(shown.trim().trim_start_matches('@'), out, false);
    out.push_str(close);
}

fn write_image(out: &mut String, src: &str, alt: &str) {
    out.push_str("<img src=\"");
    escape_html_into(src, out, false);
    out.push_str("\" alt=\"");
    escape_html_into(alt, out, false);
    out.push_str("\">");
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "8c2a0000-0000-4000-8000-000000000002";
    const FILE: &str = "3f1c9a6e-2b7d-4e0a-9c51-7a8d2e6b4f10";

    fn base() -> Url {
        Url::parse("https://dev.azure.com/acme/").expect("url")
    }

    #[test]
    fn azure_devops_markup_reads_as_neutral() {
        let cases = [
            (
                "a mention",
                format!("<div><a href=\"#\" data-vss-mention=\"version:2.0,{}\">@Alice Jones</a> look</div>", ALICE.to_uppercase()),
                format!("<div><span data-ferry-mention=\"{ALICE}\">@Alice Jones</span> look</div>"),
            ),
            (
                "a mention with braces and markup in its name",
                format!("<a href=\"#\" data-vss-mention=\"version:2.0,{{{ALICE}}}\"><b>@Bob &amp; Co</b></a>"),
                format!("<span data-ferry-mention=\"{ALICE}\">@Bob &amp; Co</span>"),
            ),
            (
                "an inline image of the project",
                format!("<p><img src=\"https://dev.azure.com/acme/App/_apis/wit/attachments/{FILE}?fileName=shot%20one.png\" alt=Image></p>"),
                format!("<p><img src=\"ferry-attachment:{FILE}\" alt=\"shot one.png\"></p>"),
            ),
            (
                "an organization-level image without a file name keeps its alt",
                format!("<img src=\"https://dev.azure.com/acme/_apis/wit/attachments/{}\" alt=\"x\">", FILE.to_uppercase()),
                format!("<img src=\"ferry-attachment:{FILE}\" alt=\"x\">"),
            ),
            (
                "another organization's image stays a web image",
                format!("<img src=\"https://dev.azure.com/other/App/_apis/wit/attachments/{FILE}?fileName=a.png\">"),
                format!("<img src=\"https://dev.azure.com/other/App/_apis/wit/attachments/{FILE}?fileName=a.png\">"),
            ),
            (
                "a mention anchor without an identity is its text",
                "<a href=\"#\" data-vss-mention=\"version:2.0,nobody\">@Nobody</a>".to_string(),
                "@Nobody".to_string(),
            ),
            (
                "a neutral mention typed in Azure DevOps is not taken for one",
                format!("<span data-ferry-mention=\"{ALICE}\">@A</span><img src=\"ferry-attachment:{FILE}\" alt=\"f\">"),
                "@Af".to_string(),
            ),
            (
                "formatting passes, styles do not",
                "<div style=\"x\"><b>bold</b> <i>it</i> <a href=\"https://x.test/\">l</a></div>".to_string(),
                "<div><b>bold</b> <i>it</i> <a href=\"https://x.test/\">l</a></div>".to_string(),
            ),
        ];
        for (what, ado, want) in cases {
            assert_eq!(to_neutral(&ado, &base()), want, "{what}");
        }
    }

    #[test]
    fn neutral_markup_is_written_for_azure_devops_and_reads_back_the_same() {
        let neutral = format!(
            "<p>Hi <span data-ferry-mention=\"{ALICE}\">@Alice &lt;AJ&gt;</span>, see <img src=\"ferry-attachment:{FILE}\" alt=\"a&amp;b +1.png\"></p><ul><li><strong>x</strong></li></ul>"
        );
        let ado = from_neutral(&neutral, &base(), "My App");
        assert_eq!(
            ado,
            format!(
                "<p>Hi <a href=\"#\" data-vss-mention=\"version:2.0,{ALICE}\">@Alice &lt;AJ&gt;</a>, see <img src=\"https://dev.azure.com/acme/My%20App/_apis/wit/attachments/{FILE}?fileName=a%26b%20%2B1.png\" alt=\"a&amp;b +1.png\"></p><ul><li><strong>x</strong></li></ul>"
            )
        );
        assert_eq!(to_neutral(&ado, &base()), neutral, "a round trip changes nothing");
    }

    #[test]
    fn an_image_whose_id_is_not_an_attachment_id_is_written_as_its_name() {
        let ado = from_neutral("<img src=\"ferry-attachment:10001\" alt=\"shot.png\">", &base(), "App");
        assert_eq!(ado, "shot.png");
    }

    #[test]
    fn attachment_ids_come_from_this_organizations_urls_only() {
        let cases = [
            (format!("https://dev.azure.com/acme/_apis/wit/attachments/{FILE}?fileName=a"), Some(FILE)),
            (
                format!("https://DEV.azure.com/Acme/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c/_apis/wit/attachments/{FILE}"),
                Some(FILE),
            ),
            (format!("https://dev.azure.com/acme2/_apis/wit/attachments/{FILE}"), None),
            (format!("http://dev.azure.com/acme/_apis/wit/attachments/{FILE}"), None),
            ("https://dev.azure.com/acme/_apis/wit/attachments/not-a-guid".to_string(), None),
            ("https://dev.azure.com/acme/_apis/wit/workItems/12".to_string(), None),
        ];
        for (url, want) in cases {
            assert_eq!(attachment_id(&url, &base()).as_deref(), want, "{url}");
        }
    }
}
