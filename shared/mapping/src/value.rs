//! Value helpers: the string a value keys on, equality against a fingerprint, rich-text
//! wrapping and scalar conversion.

use ferry_domain::{format_number, FieldValue, MappingKind, Scalar};
use std::borrow::Cow;

/// Like [`FieldValue::key_string`], but borrows where it can (the hot path of every value
/// table look-up and comparison).
pub(crate) fn key_str(v: &FieldValue) -> Option<Cow<'_, str>> {
    match v {
        FieldValue::Null => None,
        FieldValue::Text(s) | FieldValue::RichText(s) | FieldValue::Option(s) => Some(Cow::Borrowed(s)),
        FieldValue::User(u) => Some(Cow::Borrowed(u.email.as_deref().unwrap_or(&u.id))),
        other => other.key_string().map(Cow::Owned),
    }
}

/// Whether a mapped value equals what Ferry wrote before (rule 10).
///
/// Users compare by id, numbers numerically (NaN equals NaN, so a NaN never causes a write
/// on every poll), lists element by element in order (the order is the one Ferry wrote),
/// and otherwise scalar kinds by their key string, so `Text("2")`, `Option("2")` and
/// `Number(2.0)` are equal. Any two empty values (`Null`, `""`, `[]`) are equal.
pub fn same_value(a: &FieldValue, b: &FieldValue) -> bool {
    let (an, bn) = (a.is_null(), b.is_null());
    if an || bn {
        return an && bn;
    }
    match (a, b) {
        (FieldValue::User(x), FieldValue::User(y)) => x.id == y.id,
        (FieldValue::User(_), _) | (_, FieldValue::User(_)) => false,
        (FieldValue::Number(x), FieldValue::Number(y)) => x == y || (x.is_nan() && y.is_nan()),
        (FieldValue::Bool(x), FieldValue::Bool(y)) => x == y,
        (FieldValue::DateTime(x), FieldValue::DateTime(y)) => x == y,
        (FieldValue::List(x), FieldValue::List(y)) => x == y,
        (FieldValue::List(_), _) | (_, FieldValue::List(_)) => false,
        _ if a.fingerprint_digest().is_some() || b.fingerprint_digest().is_some() => {
            // A fingerprint keeps long texts as a digest: compare digests.
            let digest = |v: &FieldValue| match v.fingerprint_digest() {
                Some(d) => Some(d.to_owned()),
                None => key_str(v).map(|s| ferry_domain::text_digest(&s)),
            };
            digest(a) == digest(b)
        }
        _ => key_str(a) == key_str(b),
    }
}

/// Whether two values say the same where one may be the other after a lossy round trip:
/// rich text by its words, markup aside (Jira's ADF renders a list item as
/// `<li><p>…</p></li>`); everything else as [`same_value`].
pub fn same_content(a: &FieldValue, b: &FieldValue) -> bool {
    match (a, b) {
        (FieldValue::RichText(x), FieldValue::RichText(y)) if a.fingerprint_digest().is_none() => {
            b.fingerprint_digest().is_none() && words(x) == words(y)
        }
        _ => same_value(a, b),
    }
}

/// The words of an HTML text: tags are separators, whitespace collapsed.
fn words(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) use ferry_domain::html::text_to_html_paragraph as text_to_html;

/// A scalar as the string a value table or an e-mail look-up uses.
pub(crate) fn scalar_str(s: &Scalar) -> Cow<'_, str> {
    match s {
        Scalar::Text(t) => Cow::Borrowed(t),
        Scalar::Number(n) => Cow::Owned(format_number(*n)),
        Scalar::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
    }
}

/// A default or constant as the value written to the target field (users are resolved
/// separately). Look-up kinds (status, or a value mapping with a table) write an option;
/// rich text writes an HTML paragraph; everything else writes the scalar as typed.
pub(crate) fn scalar_value(kind: MappingKind, has_table: bool, s: &Scalar) -> FieldValue {
    match kind {
        MappingKind::Status => FieldValue::Option(scalar_str(s).into_owned()),
        MappingKind::Value if has_table => FieldValue::Option(scalar_str(s).into_owned()),
        MappingKind::RichText => FieldValue::RichText(text_to_html(&scalar_str(s))),
        _ => match s {
            Scalar::Text(t) => FieldValue::Text(t.clone()),
            Scalar::Number(n) => FieldValue::Number(*n),
            Scalar::Bool(b) => FieldValue::Bool(*b),
        },
    }
}

/// A short, quoted rendering of a value for notes and failure messages.
pub(crate) fn describe(v: &FieldValue) -> String {
    match key_str(v) {
        Some(s) => format!("{:?}", truncate(&s, 80)),
        None => "null".to_string(),
    }
}

fn truncate(s: &str, max_chars: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use ferry_domain::UserRef;

    #[test]
    fn a_fingerprint_digest_equals_exactly_the_text_it_was_made_of() {
        let html = format!("<p>{}</p>", "Steps to reproduce. ".repeat(10));
        let kept = FieldValue::RichText(html.clone()).fingerprint_form();
        assert!(kept.fingerprint_digest().is_some());
        assert!(same_value(&FieldValue::RichText(html.clone()), &kept));
        assert!(same_value(&kept, &FieldValue::Text(html.clone())), "kinds compare by key string, as whole values do");
        assert!(same_value(&kept, &kept.clone()));
        assert!(!same_value(&FieldValue::RichText(format!("{html}!")), &kept));
        assert!(!same_value(&FieldValue::Null, &kept));
        assert!(!same_value(&FieldValue::Number(2.0), &kept));
    }

    #[test]
    fn rich_text_says_the_same_in_another_rendering_and_other_values_compare_exactly() {
        let rt = |s: &str| FieldValue::RichText(s.into());
        let cases = [
            (
                rt("<p>Pay as a <strong>guest</strong></p><ul><li>Chrome</li></ul>"),
                rt("<p>Pay as a <strong>guest</strong></p><ul><li><p>Chrome</p></li></ul>"),
                true,
            ),
            (rt("<p>Pay as a guest</p>"), rt("<p>Pay as a member</p>"), false),
            (rt("<p>a</p><p>b</p>"), rt("<p>ab</p>"), false),
            (FieldValue::Text("x".into()), FieldValue::Text("x".into()), true),
            (FieldValue::Number(2.0), FieldValue::Number(3.0), false),
        ];
        for (a, b, same) in cases {
            assert_eq!(same_content(&a, &b), same, "{a:?} / {b:?}");
        }
        // A digest has no words: it equals exactly the text it was made of.
        let long = rt(&format!("<p>{}</p>", "word ".repeat(200)));
        assert!(same_content(&long.fingerprint_form(), &long));
        assert!(!same_content(&long.fingerprint_form(), &rt(&format!("<div>{}</div>", "word ".repeat(200)))));
    }

    fn user(id: &str, email: Option<&str>) -> FieldValue {
        FieldValue::User(UserRef { id: id.into(), email: email.map(Into::into), display_name: None })
    }

    #[test]
    fn equality_follows_the_comparison_rules() {
        let t = |s: &str| FieldValue::Text(s.into());
        let o = |s: &str| FieldValue::Option(s.into());
        let d = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let cases: Vec<(&str, FieldValue, FieldValue, bool)> = vec![
            ("users by id", user("a", Some("x@y")), user("a", Some("other@y")), true),
            ("different user ids", user("a", None), user("b", None), false),
            ("user vs text", user("a", Some("a@x")), t("a@x"), false),
            ("numbers numerically", FieldValue::Number(2.0), FieldValue::Number(2.0), true),
            ("zero signs", FieldValue::Number(0.0), FieldValue::Number(-0.0), true),
            ("nan equals nan", FieldValue::Number(f64::NAN), FieldValue::Number(f64::NAN), true),
            ("number vs text", FieldValue::Number(2.0), t("2"), true),
            ("text vs option", t("High"), o("High"), true),
            ("text vs option differ", t("High"), o("high"), false),
            ("null vs empty text", FieldValue::Null, t(""), true),
            ("null vs empty list", FieldValue::Null, FieldValue::List(vec![]), true),
            ("null vs value", FieldValue::Null, t("a"), false),
            (
                "lists in order",
                FieldValue::List(vec!["a".into(), "b".into()]),
                FieldValue::List(vec!["a".into(), "b".into()]),
                true,
            ),
            (
                "lists reordered",
                FieldValue::List(vec!["a".into(), "b".into()]),
                FieldValue::List(vec!["b".into(), "a".into()]),
                false,
            ),
            ("list vs joined text", FieldValue::List(vec!["a".into(), "b".into()]), t("a;b"), false),
            ("datetimes", FieldValue::DateTime(d), FieldValue::DateTime(d), true),
            ("bools", FieldValue::Bool(true), FieldValue::Bool(false), false),
            ("bool vs text", FieldValue::Bool(true), t("true"), true),
        ];
        for (name, a, b, want) in cases {
            assert_eq!(same_value(&a, &b), want, "{name}");
            assert_eq!(same_value(&b, &a), want, "{name} (swapped)");
        }
    }

    #[test]
    fn plain_text_is_escaped_into_one_paragraph() {
        assert_eq!(text_to_html("a < b & \"c\"\r\nd'e\nf"), "<p>a &lt; b &amp; &quot;c&quot;<br>d&#39;e<br>f</p>");
        assert_eq!(text_to_html("<script>"), "<p>&lt;script&gt;</p>");
    }

    #[test]
    fn scalars_become_the_kind_the_mapping_writes() {
        let n = Scalar::Number(3.0);
        assert_eq!(scalar_value(MappingKind::Value, false, &n), FieldValue::Number(3.0));
        assert_eq!(scalar_value(MappingKind::Value, true, &n), FieldValue::Option("3".into()));
        assert_eq!(
            scalar_value(MappingKind::Status, false, &Scalar::Text("New".into())),
            FieldValue::Option("New".into())
        );
        assert_eq!(
            scalar_value(MappingKind::RichText, false, &Scalar::Text("a&b".into())),
            FieldValue::RichText("<p>a&amp;b</p>".into())
        );
        assert_eq!(scalar_value(MappingKind::Value, false, &Scalar::Bool(true)), FieldValue::Bool(true));
    }

    #[test]
    fn long_values_are_truncated_in_messages() {
        let v = FieldValue::Text("x".repeat(200));
        let d = describe(&v);
        assert!(d.chars().count() < 90, "{d}");
        assert!(d.contains('…'));
        assert_eq!(describe(&FieldValue::Null), "null");
    }
}
