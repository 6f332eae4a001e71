//! Which links survive a conversion: an allow-list of URL schemes.
//!
//! A link whose URL is not allowed loses its link, never its text. The list holds what
//! the trackers' rich text legitimately links to and what cannot run script:
//! - `http`, `https`: web links, Jira's link marks and smart cards, Azure DevOps links;
//! - `mailto`: e-mail addresses, which both editors turn into links;
//! - `tel`: telephone numbers, which Jira's editor links (Atlassian's editor allow-list
//!   has it) and which only start a call.
//!
//! Other schemes Jira's editor also accepts (`ftp`, `ssh`, `git`, `svn`, `skype`, ...)
//! are left out: their links are nearly always the URL written as text, which stays.
//!
//! Relative references (`/browse/X-1`, `../a`, `#top`, and `#` on Azure DevOps'
//! mention anchors) are not allowed either: they mean a place on the page they came
//! from, which Ferry does not know, and would point at the wrong page on the other
//! tracker. Their text stays.

/// The URL schemes a link may have, lower case.
pub const LINK_SCHEMES: &[&str] = &["http", "https", "mailto", "tel"];

/// Whether a link to `href` is kept: its scheme, read as a browser reads it, is allowed.
pub fn link_allowed(href: &str) -> bool {
    scheme(href).is_some_and(|s| LINK_SCHEMES.iter().any(|allowed| s.eq_ignore_ascii_case(allowed)))
}

/// The scheme of an absolute URL, as the URL standard reads it: leading and trailing
/// spaces and control characters are ignored, tabs and newlines anywhere are removed.
/// `None` for a relative reference.
fn scheme(href: &str) -> Option<String> {
    let cleaned: String =
        href.trim_matches(|c: char| c <= ' ').chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
    let (scheme, _) = cleaned.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_kept_only_for_allowed_schemes() {
        let cases = [
            ("https", "https://x.test/a?b=1", true),
            ("http", "http://x.test", true),
            ("mailto", "mailto:ann@x.test", true),
            ("tel", "tel:+44-20-7946-0000", true),
            ("scheme is case-insensitive", "HTTPS://x.test", true),
            ("surrounding spaces and controls ignored", " \u{1}https://x.test ", true),
            ("javascript", "javascript:alert(1)", false),
            ("javascript in capitals", "JaVaScRiPt:alert(1)", false),
            ("javascript split by a tab", "java\tscript:alert(1)", false),
            ("javascript split by a newline", "java\nscript:alert(1)", false),
            ("javascript after a control character", "\u{0}javascript:alert(1)", false),
            ("vbscript", "vbscript:msgbox(1)", false),
            ("data", "data:text/html,<script>alert(1)</script>", false),
            ("file", "file:///etc/passwd", false),
            ("ftp is not in the list", "ftp://x.test/f", false),
            ("unknown scheme", "made-up:thing", false),
            ("root-relative", "/browse/X-1", false),
            ("path-relative", "../a", false),
            ("fragment", "#top", false),
            ("a lone hash (Azure DevOps mention anchors)", "#", false),
            ("network-path reference", "//x.test/a", false),
            ("empty", "", false),
            ("colon only after a path", "a/b:c", false),
            ("scheme must start with a letter", "1http://x.test", false),
            ("entity-looking scheme", "javascript&colon;alert(1)", false),
        ];
        for (name, href, want) in cases {
            assert_eq!(link_allowed(href), want, "{name}: {href:?}");
        }
    }
}
