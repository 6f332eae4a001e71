//! Character references (`&amp;`, `&eacute`, `&#233;`, `&#xE9;`) as the HTML standard
//! decodes them: the full named table, longest match first, the legacy names that work
//! without their `;`, and numeric references with the standard's replacements.

use super::entity_table::{C1_REMAP, COUNT, LONGEST, NAMES, NAME_ENDS, VALUES, VALUE_ENDS};
use std::cmp::Ordering;

const REPLACEMENT: char = '\u{fffd}';

/// Decodes the character references in text (element content). A reference the standard
/// does not recognise stays as written.
pub fn decode_entities(s: &str) -> String {
    decode(s, false)
}

/// Decodes the character references in an attribute value, where a legacy name without
/// its `;` followed by `=` or a letter or digit stays as written (`?a=1&copy=2`).
pub(super) fn decode_attribute(s: &str) -> String {
    decode(s, true)
}

fn decode(s: &str, in_attribute: bool) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let used = if after.starts_with('#') { numeric(after, &mut out) } else { named(after, in_attribute, &mut out) };
        match used {
            Some(n) => rest = &after[n..],
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `after` starts with `#`. Pushes the character and returns the bytes used, or `None`
/// when no digit follows (`&#`, `&#x;` stay as written).
fn numeric(after: &str, out: &mut String) -> Option<usize> {
    let b = after.as_bytes();
    let (radix, start) = match b.get(1) {
        Some(b'x' | b'X') => (16, 2),
        _ => (10, 1),
    };
    let mut i = start;
    let mut value: u32 = 0;
    while let Some(d) = b.get(i).and_then(|c| char::from(*c).to_digit(radix)) {
        // Saturates just past the last code point: any larger number means the same.
        value = value.saturating_mul(radix).saturating_add(d).min(0x11_0000);
        i += 1;
    }
    if i == start {
        return None;
    }
    if b.get(i) == Some(&b';') {
        i += 1;
    }
    out.push(numeric_char(value));
    Some(i)
}

/// The character a numeric reference stands for: NUL, surrogates and numbers past
/// U+10FFFF become U+FFFD, and 0x80–0x9F are read as Windows-1252, as browsers do.
pub(super) fn numeric_char(n: u32) -> char {
    let n = match n {
        0 => return REPLACEMENT,
        0x80..=0x9f => match C1_REMAP[(n - 0x80) as usize] {
            0 => n,
            remapped => remapped,
        },
        n => n,
    };
    char::from_u32(n).unwrap_or(REPLACEMENT)
}

/// Pushes the characters of the longest name `after` starts with and returns its length.
fn named(after: &str, in_attribute: bool, out: &mut String) -> Option<usize> {
    let b = after.as_bytes();
    let run = b.iter().take(LONGEST).take_while(|c| c.is_ascii_alphanumeric()).count();
    let candidate = if run < LONGEST && b.get(run) == Some(&b';') { run + 1 } else { run };
    for len in (1..=candidate).rev() {
        let name = &after[..len];
        let Some(value) = lookup(name) else { continue };
        let next = b.get(len).copied();
        if in_attribute && !name.ends_with(';') && next.is_some_and(|c| c == b'=' || c.is_ascii_alphanumeric()) {
            return None;
        }
        out.push_str(value);
        return Some(len);
    }
    None
}

/// The characters of a name (without its `&`, with its `;` if it has one).
fn lookup(name: &str) -> Option<&'static str> {
    let (mut lo, mut hi) = (0, COUNT);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match entry(NAMES, &NAME_ENDS, mid).as_bytes().cmp(name.as_bytes()) {
            Ordering::Less => lo = mid + 1,
            Ordering::Greater => hi = mid,
            Ordering::Equal => return Some(entry(VALUES, &VALUE_ENDS, mid)),
        }
    }
    None
}

fn entry(all: &'static str, ends: &[u16; COUNT], i: usize) -> &'static str {
    let start = if i == 0 { 0 } else { usize::from(ends[i - 1]) };
    &all[start..usize::from(ends[i])]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    proptest! {
        #[test]
        fn escaped_text_decodes_to_itself(s in "(.|&[a-zA-Z]{1,8};?|&#x?[0-9a-fA-F]{1,8};?)*") {
            let escaped = crate::html::escape(&s);
            prop_assert_eq!(decode_entities(&escaped), s.clone());
            prop_assert_eq!(decode_attribute(&escaped), s);
        }
    }

    #[test]
    fn character_references_decode_as_the_html_standard_says() {
        let cases = [
            ("the five XML names", "&amp;&lt;&gt;&quot;&apos;", "&<>\"'"),
            ("a name from the full table", "caf&eacute;", "café"),
            ("a legacy name needs no semicolon in text", "caf&eacute au lait", "café au lait"),
            ("longest legacy prefix wins", "&notit;", "¬it;"),
            ("a name that needs its semicolon", "&hellip &hellip;", "&hellip …"),
            ("names are case-sensitive", "&AMP; &Eacute; &EACUTE;", "& É &EACUTE;"),
            ("two code points", "&NotEqualTilde;", "\u{2242}\u{338}"),
            ("unknown name stays", "&bogus; & x &", "&bogus; & x &"),
            ("legacy name before letters", "&ampfoo", "&foo"),
            ("decimal", "&#65;&#0066", "AB"),
            ("hexadecimal, either x", "&#x41;&#X42;&#x00043", "ABC"),
            ("no digits is no reference", "&#; &#x; &#xg;", "&#; &#x; &#xg;"),
            ("NUL becomes U+FFFD", "&#0;", "\u{fffd}"),
            ("surrogates become U+FFFD", "&#xD800;&#57343;", "\u{fffd}\u{fffd}"),
            ("past U+10FFFF becomes U+FFFD", "&#x110000;&#99999999999999999999;", "\u{fffd}\u{fffd}"),
            ("0x80-0x9F are Windows-1252", "&#128;&#x92;&#x9F;", "€’Ÿ"),
            ("0x81, 0x8D, 0x8F, 0x90, 0x9D stay", "&#x81;&#x8D;&#x8f;&#x90;&#x9d;", "\u{81}\u{8d}\u{8f}\u{90}\u{9d}"),
            ("a carriage return by number stays", "&#13;", "\r"),
            ("non-characters stay", "&#xFFFE;", "\u{fffe}"),
            ("last code point", "&#x10FFFF;", "\u{10ffff}"),
        ];
        for (name, input, want) in cases {
            assert_eq!(decode_entities(input), want, "{name}");
        }
    }

    #[test]
    fn attribute_values_keep_legacy_names_followed_by_equals_or_alphanumerics() {
        let cases = [
            ("query parameter named like an entity", "?a=1&copy=2", "?a=1&copy=2"),
            ("legacy name followed by a letter", "&notit", "&notit"),
            ("legacy name at the end", "x&copy", "x©"),
            ("legacy name followed by punctuation", "&copy.", "©."),
            ("with semicolon it always decodes", "&copy;=", "©="),
            ("numeric references decode", "&#65;=", "A="),
        ];
        for (name, input, want) in cases {
            assert_eq!(decode_attribute(input), want, "{name}");
        }
    }

    /// Every name of the WHATWG list decodes to its characters, written with its `;`, and
    /// also without it exactly where the standard allows that.
    #[test]
    fn every_name_of_the_whatwg_list_decodes() {
        let load = |json: &str| -> Map<String, Value> {
            match serde_json::from_str::<Value>(json) {
                Ok(Value::Object(m)) => m,
                other => panic!("entity list is not a JSON object: {other:?}"),
            }
        };
        let all = load(include_str!("../../data/html-entities/entities.json"));
        let legacy = load(include_str!("../../data/html-entities/legacy.json"));
        assert_eq!(all.len() + legacy.len(), COUNT, "the table holds every name");
        assert_eq!(COUNT, 2231, "the WHATWG list has 2,231 names");
        for (name, chars) in &all {
            let chars = chars.as_str().unwrap_or_default();
            assert_eq!(decode_entities(&format!("&{name};")), chars, "&{name};");
            // Followed by a space so that only this name can match.
            let bare = decode_entities(&format!("&{name} "));
            if legacy.contains_key(name) {
                assert_eq!(bare, format!("{chars} "), "&{name} is a legacy name");
            } else {
                assert_ne!(bare, format!("{chars} "), "&{name} needs its semicolon");
            }
        }
    }
}
