//! Reading the positioned YAML tree while collecting every error.

use crate::format::{Object, Presence, Shape};
use crate::yaml::{Kind, Node, Pos, Value};
use crate::ConfigError;
use ferry_domain::{format_number, Named, Scalar};

/// Where something was declared, kept for checks that run after all files are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub file: String,
    pub pos: Pos,
    pub path: String,
}

pub struct Ctx<'e> {
    pub file: String,
    errors: &'e mut Vec<ConfigError>,
}

impl<'e> Ctx<'e> {
    pub fn new(file: &str, errors: &'e mut Vec<ConfigError>) -> Self {
        Ctx { file: file.to_string(), errors }
    }

    pub fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: Some(pos.line),
            column: Some(pos.col),
            path: path.to_string(),
            message: message.into(),
            hint,
        });
    }

    pub fn at(&self, pos: Pos, path: &str) -> At {
        At { file: self.file.clone(), pos, path: path.to_string() }
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A YAML mapping of one [`Object`] of the format: its keys were checked against the
/// object's declared keys, and its required keys were reported when missing.
pub struct Obj<'n> {
    pub node: &'n Node,
    pub path: String,
    def: &'static Object,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Obj<'n> {
    /// Reports a non-mapping, unknown keys (with a did-you-mean hint), non-string keys,
    /// duplicate keys and missing required keys.
    pub fn new(ctx: &mut Ctx, node: &'n Node, path: &str, def: &'static Object) -> Option<Obj<'n>> {
        let allowed: Vec<&str> = def.keys.iter().map(|k| k.name).collect();
        let Kind::Map(raw) = &node.kind else {
            ctx.error(
                node.pos,
                path,
                format!("expected a mapping, found {}", node.type_name()),
                Some(format!("allowed keys: {}", allowed.join(", "))),
            );
            return None;
        };
        let mut entries: Vec<(&'n str, &'n Node, &'n Node)> = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            let key = match k.scalar() {
                Some(Value::Str(s)) => s,
                _ => {
                    ctx.error(k.pos, path, format!("a key must be a string, found {}", k.type_name()), None);
                    continue;
                }
            };
            if let Some(&(_, first, _)) = entries.iter().find(|(n, _, _)| *n == key) {
                ctx.error(
                    k.pos,
                    &join(path, key),
                    format!("duplicate key \"{key}\""),
                    Some(format!("it is already given at line {}", first.pos.line)),
                );
                continue;
            }
            if !allowed.contains(&key) {
                let hint = match did_you_mean(key, &allowed) {
                    Some(c) => {
                        format!("did you mean \"{c}\"? allowed keys: {}", allowed.join(", "))
                    }
                    None => format!("allowed keys: {}", allowed.join(", ")),
                };
                ctx.error(k.pos, &join(path, key), format!("unknown key \"{key}\""), Some(hint));
                continue;
            }
            entries.push((key, k, v));
        }
        let obj = Obj { node, path: path.to_string(), def, entries };
        #[cfg(test)]
        crate::drift::decoded(def);
        obj.check_presence(ctx);
        Some(obj)
    }

    fn check_presence(&self, ctx: &mut Ctx) {
        for key in self.def.keys {
            let absent = self.value(key.name).is_none();
            match key.presence {
                Presence::Optional => {}
                Presence::Required(hint) => {
                    if absent {
                        let hint = hint.map(str::to_string).or_else(|| match &key.shape {
                            Shape::Enum(names) => Some(format!("use {}", or_list(&names.names()))),
                            _ => None,
                        });
                        self.missing(ctx, key.name, hint);
                    }
                }
                Presence::RequiredWith { tag, value, hint } => match self.value(tag).and_then(Node::scalar) {
                    Some(Value::Str(v)) if v == value && absent => self.missing(ctx, key.name, Some(hint.into())),
                    Some(Value::Str(v)) if v != value => {
                        if let Some((_, k, _)) = self.entries.iter().find(|(n, _, _)| *n == key.name) {
                            let message = format!("{} is only used with {tag}: {value}", key.name);
                            ctx.error(k.pos, &self.path_of(key.name), message, None);
                        }
                    }
                    _ => {}
                },
            }
        }
    }

    fn missing(&self, ctx: &mut Ctx, key: &str, hint: Option<String>) {
        ctx.error(self.node.pos, &self.path_of(key), format!("missing key \"{key}\""), hint);
    }

    /// A value without recording a read (for the checks above, which read the format).
    fn value(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _, v)| *k == key && !v.is_null()).map(|(_, _, v)| *v)
    }

    /// The value of a key; an explicit null counts as absent. A required key that is
    /// absent was already reported.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        #[cfg(test)]
        crate::drift::read(self.def, key, None);
        self.value(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// A non-empty string; `None` when absent or invalid (reported).
    pub fn string(&self, ctx: &mut Ctx, key: &str) -> Option<String> {
        let n = self.get(key)?;
        string(ctx, n, &self.path_of(key))
    }

    /// An optional non-empty string; `Err` when invalid (reported).
    pub fn opt_str(&self, ctx: &mut Ctx, key: &str) -> Result<Option<String>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => string(ctx, n, &self.path_of(key)).map(Some).ok_or(()),
        }
    }

    pub fn opt_bool(&self, ctx: &mut Ctx, key: &str) -> Result<Option<bool>, ()> {
        let Some(n) = self.get(key) else {
            return Ok(None);
        };
        match n.scalar() {
            Some(Value::Bool(b)) => Ok(Some(b)),
            _ => {
                ctx.error(n.pos, &self.path_of(key), format!("expected true or false, found {}", n.type_name()), None);
                Err(())
            }
        }
    }

    /// A named enum's value with where it was written; `Err` when invalid (reported).
    pub fn enum_of<T: Named>(&self, ctx: &mut Ctx, key: &str) -> Result<Option<(T, Pos)>, ()> {
        #[cfg(test)]
        crate::drift::read(self.def, key, Some(T::NAMES));
        match self.value(key) {
            None => Ok(None),
            Some(n) => enum_value::<T>(ctx, n, &self.path_of(key)).map(|v| Some((v, n.pos))).ok_or(()),
        }
    }
}

/// The items of a list (reports a non-list; null means empty).
pub fn list<'n>(ctx: &mut Ctx, node: &'n Node, path: &str) -> Vec<&'n Node> {
    match &node.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ if node.is_null() => Vec::new(),
        _ => {
            ctx.error(
                node.pos,
                path,
                format!("expected a list, found {}", node.type_name()),
                Some("start each item with `- `".into()),
            );
            Vec::new()
        }
    }
}

/// A non-empty string scalar.
pub fn string(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    match node.scalar() {
        Some(Value::Str(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Str(_)) => {
            ctx.error(node.pos, path, "must not be empty", None);
            None
        }
        Some(Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
            ctx.error(
                node.pos,
                path,
                format!("expected a string, found {}", node.type_name()),
                Some("put it in quotes".into()),
            );
            None
        }
        _ => {
            ctx.error(node.pos, path, format!("expected a string, found {}", node.type_name()), None);
            None
        }
    }
}

/// A named enum's value; an unknown name is reported with the names it could be.
pub fn enum_value<T: Named>(ctx: &mut Ctx, node: &Node, path: &str) -> Option<T> {
    let (what, names) = (T::NAMES.what, T::NAMES.names());
    let hint = Some(format!("use {}", or_list(&names)));
    let text = match node.scalar() {
        Some(Value::Str(s)) => s,
        _ => {
            ctx.error(node.pos, path, format!("expected a {what} name, found {}", node.type_name()), hint);
            return None;
        }
    };
    if let Some(v) = T::parse(text) {
        return Some(v);
    }
    let hint = match did_you_mean(text, &names) {
        Some(c) => Some(format!("did you mean \"{c}\"? use {}", or_list(&names))),
        None => hint,
    };
    ctx.error(node.pos, path, format!("unknown {what} \"{text}\""), hint);
    None
}

/// A value as a message quotes it: a scalar as written, anything else by its kind.
pub fn describe(n: &Node) -> String {
    match n.scalar() {
        Some(Value::Str(s)) => format!("\"{s}\""),
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Float(f)) => f.to_string(),
        _ => n.type_name().to_string(),
    }
}

/// A constant or default value (string, number or boolean).
pub fn scalar(ctx: &mut Ctx, node: &Node, path: &str) -> Option<Scalar> {
    match node.scalar() {
        Some(Value::Str(s)) => Some(Scalar::Text(s.to_string())),
        Some(Value::Bool(b)) => Some(Scalar::Bool(b)),
        Some(Value::Int(i)) => Some(Scalar::Number(i as f64)),
        Some(Value::Float(f)) if f.is_finite() => Some(Scalar::Number(f)),
        _ => {
            ctx.error(
                node.pos,
                path,
                format!("expected a string, number or boolean, found {}", node.type_name()),
                None,
            );
            None
        }
    }
}

/// A scalar as table text: numbers without a trailing `.0`, as the mapping engine compares.
pub fn scalar_text(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    Some(match scalar(ctx, node, path)? {
        Scalar::Text(s) => s,
        Scalar::Bool(b) => b.to_string(),
        Scalar::Number(n) => format_number(n),
    })
}

pub fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (levenshtein(&word, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) || (word.len() >= 3 && c.to_lowercase().starts_with(&word)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses `30s`, `5m`, `1h`, `1m30s` into seconds.
pub fn duration_secs(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
        any = true;
    }
    if !digits.is_empty() || !any {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_only() {
        let cases = [
            ("30s", Some(30)),
            ("5m", Some(300)),
            ("1h", Some(3600)),
            ("1m30s", Some(90)),
            ("60", None),
            ("", None),
            ("5 minutes", None),
            ("m", None),
            ("99999999999999999999s", None),
        ];
        for (text, want) in cases {
            assert_eq!(duration_secs(text), want, "{text:?}");
        }
    }

    #[test]
    fn did_you_mean_finds_close_spellings_only() {
        let keys = ["direction", "default", "values"];
        assert_eq!(did_you_mean("directon", &keys), Some("direction"));
        assert_eq!(did_you_mean("Values", &keys), Some("values"));
        assert_eq!(did_you_mean("zzz", &keys), None);
    }

    #[test]
    fn or_list_reads_naturally() {
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
        assert_eq!(or_list(&["a"]), "a");
    }
}
