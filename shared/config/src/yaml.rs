//! A YAML document as a tree whose every node knows its line and column.
//!
//! serde stops at the first error and forgets positions; this tree lets the decoder
//! report every problem at its own `FILE:LINE:COL`.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper documents are rejected: dropping and walking the tree stays far from the stack limit.
const MAX_DEPTH: usize = 64;
/// Aliases copy nodes; this bounds the copies ("billion laughs").
const MAX_NODES: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub col: usize,
}

impl Pos {
    fn of(m: &Marker) -> Pos {
        Pos { line: m.line(), col: m.col() + 1 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

/// A scalar resolved with the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { .. } => match self.scalar() {
                Some(Value::Null) => "nothing (null)",
                Some(Value::Bool(_)) => "a boolean",
                Some(Value::Int(_)) | Some(Value::Float(_)) => "a number",
                _ => "a string",
            },
        }
    }

    pub fn scalar(&self) -> Option<Value<'_>> {
        let Kind::Scalar { text, plain } = &self.kind else {
            return None;
        };
        if !plain {
            return Some(Value::Str(text));
        }
        Some(resolve_plain(text))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Value::Null))
    }
}

fn resolve_plain(t: &str) -> Value<'_> {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let int_like = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    if int_like(unsigned) {
        if let Ok(i) = t.parse::<i64>() {
            return Value::Int(i);
        }
        if let Ok(f) = t.parse::<f64>() {
            return Value::Float(f);
        }
    }
    if let Some(hex) = t.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = t.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    // Core-schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => (a.is_empty() && int_like(b)) || (int_like(a) && (b.is_empty() || int_like(b))),
        None => int_like(mantissa),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => int_like(e.strip_prefix(['-', '+']).unwrap_or(e)),
    };
    if mantissa_ok && exp_ok && (mantissa.contains('.') || exp.is_some()) {
        if let Ok(f) = t.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(t)
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(Node, Node)>, Option<Node>),
}

/// Parses one YAML document. `Ok(None)` for an empty stream.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;
    loop {
        let (event, mark) =
            parser.next_token().map_err(|e| SyntaxError { pos: Pos::of(e.marker()), message: e.info().to_string() })?;
        let pos = Pos::of(&mark);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos,
                        message: "a config file holds one YAML document; remove the second `---`".into(),
                    });
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == TScalarStyle::Plain && !forced_str;
                Some((Node { kind: Kind::Scalar { text, plain }, pos }, anchor))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => {
                    nodes += count(n);
                    let mut n = n.clone();
                    n.pos = pos;
                    Some((n, 0))
                }
                None => {
                    return Err(SyntaxError { pos, message: "an alias refers to an anchor that encloses it".into() })
                }
            },
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(pos, anchor, Vec::new()));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(pos, anchor, Vec::new(), None));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(p, anchor, items)) => Some((Node { kind: Kind::Seq(items), pos: p }, anchor)),
                _ => return Err(unbalanced(pos)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(p, anchor, entries, None)) => Some((Node { kind: Kind::Map(entries), pos: p }, anchor)),
                _ => return Err(unbalanced(pos)),
            },
        };
        if stack.len() > MAX_DEPTH {
            return Err(SyntaxError { pos, message: format!("nesting deeper than {MAX_DEPTH} levels") });
        }
        let Some((node, anchor)) = finished else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(SyntaxError {
                pos,
                message: "the document is too large (too many nodes, or aliases expanding)".into(),
            });
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(root)
}

fn unbalanced(pos: Pos) -> SyntaxError {
    SyntaxError { pos, message: "unbalanced YAML structure".into() }
}

fn count(n: &Node) -> usize {
    // Iterative, so a wide alias cannot recurse deeply (depth is already bounded anyway).
    let mut total = 0;
    let mut todo = vec![n];
    while let Some(n) = todo.pop() {
        total += 1;
        match &n.kind {
            Kind::Scalar { .. } => {}
            Kind::Seq(items) => todo.extend(items.iter()),
            Kind::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let root = parse("a: 1\nb:\n  - x\n  - { c: d }\n").unwrap().unwrap();
        let Kind::Map(entries) = &root.kind else { panic!("not a map") };
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(entries[0].1.pos, Pos { line: 1, col: 4 });
        let Kind::Seq(items) = &entries[1].1.kind else { panic!("not a seq") };
        assert_eq!(items[0].pos, Pos { line: 3, col: 5 });
        assert_eq!(items[1].pos.line, 4);
    }

    #[test]
    fn plain_scalars_resolve_with_the_core_schema() {
        let cases = [
            ("~", Value::Null),
            ("", Value::Null),
            ("true", Value::Bool(true)),
            ("12", Value::Int(12)),
            ("-3", Value::Int(-3)),
            ("1.5", Value::Float(1.5)),
            ("1e3", Value::Float(1000.0)),
            ("yes", Value::Str("yes")),
            ("2026-01-01T00:00:00Z", Value::Str("2026-01-01T00:00:00Z")),
            ("1.2.3", Value::Str("1.2.3")),
            ("none", Value::Str("none")),
        ];
        for (text, want) in cases {
            assert_eq!(resolve_plain(text), want, "{text:?}");
        }
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let root = parse("a: '12'\n").unwrap().unwrap();
        let Kind::Map(entries) = &root.kind else { panic!("not a map") };
        assert_eq!(entries[0].1.scalar(), Some(Value::Str("12")));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn alias_bombs_are_rejected() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&text).is_err());
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let text = "[".repeat(10_000);
        assert!(parse(&text).is_err());
    }
}
