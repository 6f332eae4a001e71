//! HTML building blocks of the console: escaping, the page layout, and the small
//! formats every page shares. Everything a page shows passes through [`esc`].

use chrono::{DateTime, Utc};
use std::fmt::Write;

/// Text made safe for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query-string component (`application/x-www-form-urlencoded`).
pub fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

/// A duration in seconds as the two largest units ("3m 12s", "2h 5m", "4d 1h").
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:baseline}
header a{color:#cfe0ff;text-decoration:none}header strong{font-size:1.2rem}
main{padding:1rem 1.2rem}table{border-collapse:collapse;background:#fff;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #d8dce3;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#eef1f5}td.num{text-align:right}form.inline{display:inline}
button{font:inherit;font-size:.85rem;padding:.15rem .6rem;cursor:pointer;border:1px solid #8a94a6;border-radius:3px;background:#fff}
button.go{border-color:#2a7a3a;color:#2a7a3a}button.stop{border-color:#a33;color:#a33}
.on{color:#2a7a3a;font-weight:600}.off{color:#8a94a6}.bad{color:#a33;font-weight:600}
.note{background:#fff8d6;border:1px solid #e6d48a;padding:.4rem .7rem;margin-bottom:.8rem}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}pre{white-space:pre-wrap;word-break:break-all;background:#fff;border:1px solid #d8dce3;padding:.5rem;font-size:.8rem}
nav.pages a{margin-right:.6rem}ol.steps{display:flex;gap:1.4rem;padding-left:1.2rem}
textarea{font-family:ui-monospace,monospace;font-size:.8rem;width:100%}";

/// The page around `body`; `note` is a message shown at the top (an action's result).
pub fn page(title: &str, note: Option<&str>, body: &str) -> String {
    let note = note.map(|n| format!("<p class=\"note\" id=\"note\">{}</p>", esc(n))).unwrap_or_default();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · Ferry</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <header><strong>Ferry</strong><a href=\"/\">Integrations</a><a href=\"/failures\">Failures</a><a href=\"/new\">New integration</a></header>\
         <main><h1>{t}</h1>{note}{body}</main></body></html>",
        t = esc(title)
    )
}

/// A POST button: its own small form carrying the CSRF token and where to come back to.
pub fn button(action: &str, label: &str, class: &str, csrf: &str, back: &str, id: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"back\" value=\"{}\"><button type=\"submit\" class=\"{}\" id=\"{}\">{}</button></form>",
        esc(action),
        esc(csrf),
        esc(back),
        esc(class),
        esc(id),
        esc(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_in_text_and_attributes() {
        assert_eq!(esc("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(esc("a \"b\" & c"), "a &quot;b&quot; &amp; c");
        assert_eq!(esc("plain"), "plain");
    }

    #[test]
    fn url_parts_encode_everything_but_unreserved_characters() {
        assert_eq!(url_part("APP-12"), "APP-12");
        assert_eq!(url_part("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn ages_show_the_two_largest_units() {
        for (secs, shown) in
            [(-5, "0s"), (0, "0s"), (59, "59s"), (60, "1m 0s"), (3599, "59m 59s"), (3600, "1h 0m"), (90_061, "1d 1h")]
        {
            assert_eq!(age(secs), shown, "{secs}");
        }
    }
}
