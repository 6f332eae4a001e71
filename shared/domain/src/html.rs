//! The one HTML escaper every crate uses (rich text is HTML in Ferry's model).

/// Appends `s` escaped for HTML element content or a quoted attribute. With
/// `line_breaks`, `\n` and `\r\n` become `<br>`.
pub fn escape_html_into(s: &str, out: &mut String, line_breaks: bool) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' if line_breaks => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("<br>");
            }
            '\n' if line_breaks => out.push_str("<br>"),
            c => out.push(c),
        }
    }
}

/// Plain text as one HTML paragraph: escaped, line breaks as `<br>`.
pub fn text_to_html_paragraph(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("<p>");
    escape_html_into(text, &mut out, true);
    out.push_str("</p>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_turns_line_breaks_into_br() {
        assert_eq!(
            text_to_html_paragraph("a<b> & \"c\"\r\nd'e\nf"),
            "<p>a&lt;b&gt; &amp; &quot;c&quot;<br>d&#39;e<br>f</p>"
        );
        let mut s = String::new();
        escape_html_into("x\ny", &mut s, false);
        assert_eq!(s, "x\ny");
    }
}
