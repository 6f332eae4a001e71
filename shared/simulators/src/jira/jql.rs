//! The JQL subset the simulator understands: lexer, parser, resolution against the
//! catalogue (ids, the searcher's time zone) and evaluation against stored issues.
//!
//! Errors carry Jira's wording so clients see what the real service would say.

use super::store::{CfValue, Issue};
use super::{CustomFieldKind, JiraSeed};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::cmp::Ordering;

/// A JQL problem, rendered as one `errorMessages` entry of a 400 ErrorCollection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqlError(pub String);

fn syntax(msg: impl std::fmt::Display, pos: usize) -> JqlError {
    JqlError(format!("Error in the JQL Query: {msg} (line 1, character {})", pos + 1))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Op(&'static str),
    Word(String),
    Str(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Op(o) => (*o).into(),
        Tok::Word(w) => w.clone(),
        Tok::Str(s) => s.clone(),
    }
}

const RESERVED: &[char] = &['(', ')', ',', '=', '!', '<', '>', '~', '"', '\'', '[', ']'];

fn lex(input: &str) -> Result<Vec<Token>, JqlError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(syntax(format!("The quoted string '{s}' has not been completed."), pos)),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some(ch) if *ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            _ if two == "!=" || two == ">=" || two == "<=" || two == "!~" => {
                i += 2;
                Tok::Op(match two.as_str() {
                    "!=" => "!=",
                    ">=" => ">=",
                    "<=" => "<=",
                    _ => "!~",
                })
            }
            '=' | '>' | '<' | '~' => {
                i += 1;
                Tok::Op(match c {
                    '=' => "=",
                    '>' => ">",
                    '<' => "<",
                    _ => "~",
                })
            }
            '!' | '[' | ']' => {
                return Err(syntax(format!("The character '{c}' is a reserved JQL character. You must enclose it in a string or use the escape '\\u{:04x}' instead.", c as u32), pos));
            }
            _ => {
                let mut w = String::new();
                while let Some(ch) = chars.get(i) {
                    if ch.is_whitespace() || RESERVED.contains(ch) {
                        break;
                    }
                    w.push(*ch);
                    i += 1;
                }
                // Custom field reference `cf[10050]`.
                if w.eq_ignore_ascii_case("cf") && chars.get(i) == Some(&'[') {
                    let mut j = i + 1;
                    let mut digits = String::new();
                    while let Some(ch) = chars.get(j) {
                        if ch.is_ascii_digit() {
                            digits.push(*ch);
                            j += 1;
                        } else {
                            break;
                        }
                    }
                    if digits.is_empty() || chars.get(j) != Some(&']') {
                        return Err(syntax("Expecting a custom field id like 'cf[10000]'.", pos));
                    }
                    i = j + 1;
                    w = format!("cf[{digits}]");
                }
                Tok::Word(w)
            }
        };
        out.push(Token { tok, pos });
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Value {
    Lit(String),
    Func(String),
    Empty,
}

#[derive(Debug, Clone)]
enum RawExpr {
    And(Vec<RawExpr>),
    Or(Vec<RawExpr>),
    Not(Box<RawExpr>),
    Clause { field: String, op: String, values: Vec<Value>, list: bool },
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }
    fn pos(&self) -> usize {
        self.toks.get(self.i).map(|t| t.pos).unwrap_or(self.end)
    }
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn peek_kw_at(&self, off: usize, kw: &str) -> bool {
        matches!(self.toks.get(self.i + off).map(|t| &t.tok), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn at_order_by(&self) -> bool {
        self.peek_kw("order") && self.peek_kw_at(1, "by")
    }

    fn or(&mut self) -> Result<RawExpr, JqlError> {
        let mut parts = vec![self.and()?];
        while self.peek_kw("or") {
            self.i += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { RawExpr::Or(parts) })
    }
    fn and(&mut self) -> Result<RawExpr, JqlError> {
        let mut parts = vec![self.not()?];
        while self.peek_kw("and") {
            self.i += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { RawExpr::And(parts) })
    }
    fn not(&mut self) -> Result<RawExpr, JqlError> {
        if self.peek_kw("not") {
            self.i += 1;
            return Ok(RawExpr::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.or()?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(self.expecting("')'"));
            }
            self.i += 1;
            return Ok(e);
        }
        self.clause()
    }
    fn expecting(&self, what: &str) -> JqlError {
        match self.peek() {
            None => syntax(format!("Expecting {what} before the end of the query."), self.pos()),
            Some(t) => syntax(format!("Expecting {what} but got '{}'.", describe(t)), self.pos()),
        }
    }
    fn clause(&mut self) -> Result<RawExpr, JqlError> {
        let field = match self.peek() {
            Some(Tok::Word(w)) if !is_keyword(w) => w.clone(),
            Some(Tok::Str(s)) => s.clone(),
            _ => return Err(self.expecting("a field name")),
        };
        self.i += 1;
        const VALID: &str =
            "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.";
        let op = match self.peek() {
            Some(Tok::Op(o)) => {
                let o = o.to_string();
                self.i += 1;
                o
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => {
                self.i += 1;
                "in".into()
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") && self.peek_kw_at(1, "in") => {
                self.i += 2;
                "not in".into()
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("is") => {
                self.i += 1;
                if self.peek_kw("not") {
                    self.i += 1;
                    "is not".into()
                } else {
                    "is".into()
                }
            }
            None => return Err(syntax(format!("Expecting operator before the end of the query. {VALID}"), self.pos())),
            Some(t) => {
                return Err(syntax(format!("Expecting operator but got '{}'. {VALID}", describe(t)), self.pos()))
            }
        };
        if op == "in" || op == "not in" {
            if self.peek() != Some(&Tok::LParen) {
                return Err(self.expecting("'('"));
            }
            self.i += 1;
            let mut values = vec![self.value()?];
            loop {
                match self.peek() {
                    Some(Tok::Comma) => {
                        self.i += 1;
                        values.push(self.value()?);
                    }
                    Some(Tok::RParen) => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.expecting("')' or ','")),
                }
            }
            return Ok(RawExpr::Clause { field, op, values, list: true });
        }
        let value = self.value()?;
        if (op == "is" || op == "is not") && !matches!(value, Value::Empty) {
            return Err(syntax("The operator 'IS' can only be used with EMPTY or NULL.", self.pos()));
        }
        Ok(RawExpr::Clause { field, op, values: vec![value], list: false })
    }
    fn value(&mut self) -> Result<Value, JqlError> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(Value::Lit(s))
            }
            Some(Tok::Word(w)) => {
                self.i += 1;
                if self.peek() == Some(&Tok::LParen) {
                    self.i += 1;
                    // Arguments are accepted syntactically; only argument-less functions exist here.
                    let mut depth = 1;
                    while depth > 0 {
                        match self.peek() {
                            None => return Err(self.expecting("')'")),
                            Some(Tok::LParen) => depth += 1,
                            Some(Tok::RParen) => depth -= 1,
                            _ => {}
                        }
                        self.i += 1;
                    }
                    return Ok(Value::Func(w));
                }
                if w.eq_ignore_ascii_case("empty") || w.eq_ignore_ascii_case("null") {
                    return Ok(Value::Empty);
                }
                if is_keyword(&w) {
                    self.i -= 1;
                    return Err(self.expecting("either a value, 'EMPTY' or a function"));
                }
                Ok(Value::Lit(w))
            }
            _ => Err(self.expecting("either a value, 'EMPTY' or a function")),
        }
    }
}

fn is_keyword(w: &str) -> bool {
    ["and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k))
}

/// Who searches and when: dates are read in the searcher's profile time zone.
pub struct SearchCtx<'a> {
    pub seed: &'a JiraSeed,
    pub user_id: &'a str,
    pub user_tz: Tz,
    pub now: DateTime<Utc>,
    /// (key, id) of every stored issue, for `key = X` resolution.
    pub keys: &'a [(String, u64)],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdField {
    Project,
    IssueType,
    Status,
    Priority,
    Resolution,
    Assignee,
    Reporter,
    Labels,
    Id,
    /// The parent issue's id.
    Parent,
    Custom(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Summary,
    Description,
    All,
    Custom(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    Created,
    Updated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// Issue's value set intersects `vals` (negated: non-empty and disjoint).
    In {
        field: IdField,
        vals: Vec<String>,
        neg: bool,
    },
    Empty {
        field: IdField,
        want_empty: bool,
    },
    Text {
        field: TextField,
        terms: Vec<String>,
        neg: bool,
    },
    TextEmpty {
        field: TextField,
        want_empty: bool,
    },
    Date {
        field: DateField,
        cmp: Cmp,
        at: DateTime<Utc>,
        /// Width of the literal (a minute or a day) for `=` / `!=`.
        span: Duration,
    },
    Number {
        cf: usize,
        cmp: Cmp,
        val: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Updated,
    Created,
    Key,
    Id,
    Priority,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub cond: Cond,
    pub order: Vec<(SortKey, bool)>,
}

/// Parses and resolves a JQL string. An empty or order-only query is unbounded and rejected.
pub fn compile(jql: &str, ctx: &SearchCtx) -> Result<Query, JqlError> {
    let toks = lex(jql)?;
    let mut p = Parser { end: jql.chars().count(), toks, i: 0 };
    let raw = if p.peek().is_none() || p.at_order_by() { None } else { Some(p.or()?) };
    let mut order = Vec::new();
    if p.at_order_by() {
        p.i += 2;
        loop {
            let name = match p.peek() {
                Some(Tok::Word(w)) if !is_keyword(w) => w.clone(),
                Some(Tok::Str(s)) => s.clone(),
                _ => return Err(p.expecting("a field name")),
            };
            p.i += 1;
            let key = match name.to_ascii_lowercase().as_str() {
                "updated" | "updateddate" => SortKey::Updated,
                "created" | "createddate" => SortKey::Created,
                "key" | "issuekey" => SortKey::Key,
                "id" => SortKey::Id,
                "priority" => SortKey::Priority,
                _ => return Err(JqlError(format!("Not able to sort using field '{name}'."))),
            };
            let mut desc = matches!(key, SortKey::Updated | SortKey::Created | SortKey::Priority);
            if p.peek_kw("asc") {
                desc = false;
                p.i += 1;
            } else if p.peek_kw("desc") {
                desc = true;
                p.i += 1;
            }
            order.push((key, desc));
            if p.peek() == Some(&Tok::Comma) {
                p.i += 1;
                continue;
            }
            break;
        }
        if order.len() > 7 {
            return Err(JqlError("The ORDER BY clause may contain at most 7 fields.".into()));
        }
    }
    if let Some(t) = p.peek() {
        return Err(syntax(format!("Expecting either 'OR' or 'AND' but got '{}'.", describe(t)), p.pos()));
    }
    let Some(raw) = raw else {
        return Err(JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into(),
        ));
    };
    let cond = resolve(&raw, ctx)?;
    if order.is_empty() {
        order.push((SortKey::Key, true));
    }
    Ok(Query { cond, order })
}

enum FieldRef {
    Id(IdField),
    Text(TextField),
    Date(DateField),
    /// A field whose values are issues given by key or id: the issue itself (`key`) or its
    /// parent (`parent`).
    Key(IdField),
    Number(usize),
}

fn lookup_field(name: &str, seed: &JiraSeed) -> Option<FieldRef> {
    let lower = name.to_ascii_lowercase();
    let f = match lower.as_str() {
        "project" => FieldRef::Id(IdField::Project),
        "issuetype" | "type" => FieldRef::Id(IdField::IssueType),
        "status" => FieldRef::Id(IdField::Status),
        "priority" => FieldRef::Id(IdField::Priority),
        "resolution" => FieldRef::Id(IdField::Resolution),
        "assignee" => FieldRef::Id(IdField::Assignee),
        "reporter" => FieldRef::Id(IdField::Reporter),
        "labels" => FieldRef::Id(IdField::Labels),
        "key" | "issuekey" | "id" => FieldRef::Key(IdField::Id),
        "parent" => FieldRef::Key(IdField::Parent),
        "summary" => FieldRef::Text(TextField::Summary),
        "description" => FieldRef::Text(TextField::Description),
        "text" => FieldRef::Text(TextField::All),
        "created" | "createddate" => FieldRef::Date(DateField::Created),
        "updated" | "updateddate" => FieldRef::Date(DateField::Updated),
        _ => {
            let idx = seed.custom_fields.iter().position(|cf| {
                let num = cf.id.trim_start_matches("customfield_");
                lower == cf.id || lower == format!("cf[{num}]") || cf.name.eq_ignore_ascii_case(name)
            })?;
            match seed.custom_fields[idx].kind {
                CustomFieldKind::Text => FieldRef::Text(TextField::Custom(idx)),
                CustomFieldKind::Select(_) => FieldRef::Id(IdField::Custom(idx)),
                CustomFieldKind::Number => FieldRef::Number(idx),
            }
        }
    };
    Some(f)
}

fn op_unsupported(op: &str, field: &str) -> JqlError {
    JqlError(format!("The operator '{}' is not supported by the '{field}' field.", op.to_ascii_uppercase()))
}

fn lit_text(v: &Value) -> Option<&str> {
    match v {
        Value::Lit(text) => Some(text),
        _ => None,
    }
}

fn resolve(e: &RawExpr, ctx: &SearchCtx) -> Result<Cond, JqlError> {
    match e {
        RawExpr::And(v) => Ok(Cond::And(v.iter().map(|x| resolve(x, ctx)).collect::<Result<_, _>>()?)),
        RawExpr::Or(v) => Ok(Cond::Or(v.iter().map(|x| resolve(x, ctx)).collect::<Result<_, _>>()?)),
        RawExpr::Not(x) => Ok(Cond::Not(Box::new(resolve(x, ctx)?))),
        RawExpr::Clause { field, op, values, list } => resolve_clause(field, op, values, *list, ctx),
    }
}

fn resolve_clause(field: &str, op: &str, values: &[Value], list: bool, ctx: &SearchCtx) -> Result<Cond, JqlError> {
    let seed = ctx.seed;
    let Some(fref) = lookup_field(field, seed) else {
        return Err(JqlError(format!("Field '{field}' does not exist or you do not have permission to view it.")));
    };
    for v in values {
        if let Value::Func(name) = v {
            let ok = name.eq_ignore_ascii_case("currentUser") || name.eq_ignore_ascii_case("now");
            if !ok {
                return Err(JqlError(format!("Unable to find JQL function '{name}()'.")));
            }
        }
    }
    let is_op = op == "is" || op == "is not";
    if values.iter().any(|v| matches!(v, Value::Empty)) && !is_op && op != "=" && op != "!=" && !list {
        return Err(op_unsupported(op, field));
    }
    match fref {
        FieldRef::Id(idf) => {
            let neg = op == "!=" || op == "not in";
            if is_op || (values.len() == 1 && matches!(values[0], Value::Empty)) {
                let want_empty = op == "is" || op == "=";
                return Ok(Cond::Empty { field: idf, want_empty });
            }
            if !matches!(op, "=" | "!=" | "in" | "not in") {
                return Err(op_unsupported(op, field));
            }
            let mut vals = Vec::new();
            let mut include_empty = false;
            for v in values {
                match v {
                    Value::Empty => include_empty = true,
                    _ => match resolve_id_value(idf, field, v, ctx)? {
                        Some(id) => vals.push(id),
                        None => include_empty = true,
                    },
                }
            }
            let base = Cond::In { field: idf, vals, neg };
            if include_empty {
                let e = Cond::Empty { field: idf, want_empty: !neg };
                return Ok(if neg { Cond::And(vec![base, e]) } else { Cond::Or(vec![base, e]) });
            }
            Ok(base)
        }
        FieldRef::Key(idf) => {
            if is_op && idf == IdField::Parent {
                return Ok(Cond::Empty { field: idf, want_empty: op == "is" });
            }
            if !matches!(op, "=" | "!=" | "in" | "not in") {
                return Err(op_unsupported(op, field));
            }
            let mut vals = Vec::new();
            for v in values {
                let Some(text) = lit_text(v) else {
                    return Err(JqlError(format!("The field '{field}' does not support searching for EMPTY values.")));
                };
                if let Ok(n) = text.parse::<u64>() {
                    vals.push(n.to_string());
                    continue;
                }
                match ctx.keys.iter().find(|(k, _)| k.eq_ignore_ascii_case(text)) {
                    Some((_, id)) => vals.push(id.to_string()),
                    None => {
                        let valid =
                            text.rsplit_once('-').is_some_and(|(p, n)| !p.is_empty() && n.parse::<u64>().is_ok());
                        if !valid {
                            return Err(JqlError(format!("The issue key '{text}' for field '{field}' is invalid.")));
                        }
                        return Err(JqlError(format!(
                            "An issue with key '{text}' does not exist for field '{field}'."
                        )));
                    }
                }
            }
            Ok(Cond::In { field: idf, vals, neg: op == "!=" || op == "not in" })
        }
        FieldRef::Text(tf) => {
            if is_op {
                return Ok(Cond::TextEmpty { field: tf, want_empty: op == "is" });
            }
            if op != "~" && op != "!~" {
                return Err(op_unsupported(op, field));
            }
            let text = lit_text(&values[0]).unwrap_or_default();
            let terms: Vec<String> = text
                .split(|c: char| !c.is_alphanumeric() && c != '*')
                .filter(|t| !t.is_empty())
                .map(|t| t.to_lowercase())
                .collect();
            if terms.iter().any(|t| t.starts_with('*')) {
                return Err(JqlError(format!(
                    "The text query '{text}' for field '{field}' is not allowed to start with a wildcard."
                )));
            }
            if terms.is_empty() {
                return Err(JqlError(format!("The field '{field}' does not support searching for an empty string.")));
            }
            Ok(Cond::Text { field: tf, terms, neg: op == "!~" })
        }
        FieldRef::Date(df) => {
            if is_op {
                // created/updated are never empty.
                return Ok(if op == "is" { Cond::Or(vec![]) } else { Cond::And(vec![]) });
            }
            let cmp = match op {
                "<" => Cmp::Lt,
                "<=" => Cmp::Le,
                ">" => Cmp::Gt,
                ">=" => Cmp::Ge,
                "=" => Cmp::Eq,
                "!=" => Cmp::Ne,
                "in" | "not in" => {
                    let mut parts = Vec::new();
                    for v in values {
                        let (at, span) = date_value(v, field, ctx)?;
                        parts.push(Cond::Date { field: df, cmp: Cmp::Eq, at, span });
                    }
                    let any = Cond::Or(parts);
                    return Ok(if op == "in" { any } else { Cond::Not(Box::new(any)) });
                }
                _ => return Err(op_unsupported(op, field)),
            };
            let (at, span) = date_value(&values[0], field, ctx)?;
            Ok(Cond::Date { field: df, cmp, at, span })
        }
        FieldRef::Number(cf) => {
            if is_op {
                return Ok(Cond::Empty { field: IdField::Custom(cf), want_empty: op == "is" });
            }
            let cmp = match op {
                "<" => Cmp::Lt,
                "<=" => Cmp::Le,
                ">" => Cmp::Gt,
                ">=" => Cmp::Ge,
                "=" => Cmp::Eq,
                "!=" => Cmp::Ne,
                _ => return Err(op_unsupported(op, field)),
            };
            let text = lit_text(&values[0]).unwrap_or_default();
            let val = text
                .parse::<f64>()
                .map_err(|_| JqlError(format!("The value '{text}' is not a valid number for the field '{field}'.")))?;
            Ok(Cond::Number { cf, cmp, val })
        }
    }
}

/// Resolves one value of an id-like field to the stored id; `Ok(None)` means "empty"
/// (e.g. `resolution = Unresolved`).
fn resolve_id_value(idf: IdField, field: &str, v: &Value, ctx: &SearchCtx) -> Result<Option<String>, JqlError> {
    let seed = ctx.seed;
    let not_found = |text: &str| JqlError(format!("The value '{text}' does not exist for the field '{field}'."));
    if let Value::Func(name) = v {
        return match idf {
            IdField::Assignee | IdField::Reporter if name.eq_ignore_ascii_case("currentUser") => {
                Ok(Some(ctx.user_id.to_string()))
            }
            _ => Err(JqlError(format!("Function '{name}' is not supported for the field '{field}'."))),
        };
    }
    let text = lit_text(v).unwrap_or_default();
    let by_named = |items: &[super::JiraNamed]| {
        items
            .iter()
            .find(|n| n.id == text || n.name.eq_ignore_ascii_case(text))
            .map(|n| n.id.clone())
            .ok_or_else(|| not_found(text))
    };
    match idf {
        IdField::Project => seed
            .projects
            .iter()
            .find(|p| p.id == text || p.key.eq_ignore_ascii_case(text) || p.name.eq_ignore_ascii_case(text))
            .map(|p| Some(p.id.clone()))
            .ok_or_else(|| not_found(text)),
        IdField::IssueType => by_named(&seed.issue_types).map(Some),
        IdField::Status => seed
            .statuses
            .iter()
            .find(|s| s.id == text || s.name.eq_ignore_ascii_case(text))
            .map(|s| Some(s.id.clone()))
            .ok_or_else(|| not_found(text)),
        IdField::Priority => by_named(&seed.priorities).map(Some),
        IdField::Resolution => {
            if text.eq_ignore_ascii_case("unresolved") {
                Ok(None)
            } else {
                by_named(&seed.resolutions).map(Some)
            }
        }
        IdField::Assignee | IdField::Reporter => seed
            .users
            .iter()
            .find(|u| u.id == text || u.email.eq_ignore_ascii_case(text) && !u.email_hidden)
            .map(|u| Some(u.id.clone()))
            .ok_or_else(|| not_found(text)),
        IdField::Labels => Ok(Some(text.to_string())),
        // Issue values come through resolve_clause's key branch, which resolves keys itself.
        IdField::Id | IdField::Parent => Ok(Some(text.to_string())),
        IdField::Custom(i) => match &seed.custom_fields[i].kind {
            CustomFieldKind::Select(opts) => by_named(opts).map(Some),
            _ => Ok(Some(text.to_string())),
        },
    }
}

fn invalid_date(text: &str, field: &str) -> JqlError {
    JqlError(format!("Date value '{text}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."))
}

fn date_value(v: &Value, field: &str, ctx: &SearchCtx) -> Result<(DateTime<Utc>, Duration), JqlError> {
    let text = match v {
        Value::Func(name) if name.eq_ignore_ascii_case("now") => return Ok((ctx.now, Duration::minutes(1))),
        Value::Func(name) => {
            return Err(JqlError(format!("Function '{name}' is not supported for the field '{field}'.")))
        }
        Value::Empty => return Err(invalid_date("EMPTY", field)),
        Value::Lit(text) => text.trim(),
    };
    if let Some(d) = parse_period(text) {
        let at = ctx.now.checked_add_signed(d).ok_or_else(|| invalid_date(text, field))?;
        return Ok((at, Duration::minutes(1)));
    }
    for fmt in ["%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return Ok((local_to_utc(ctx.user_tz, naive), Duration::minutes(1)));
        }
    }
    for fmt in ["%Y/%m/%d", "%Y-%m-%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(text, fmt) {
            let start = local_to_utc(ctx.user_tz, d.and_hms_opt(0, 0, 0).unwrap_or_default());
            let next = d
                .succ_opt()
                .map(|n| local_to_utc(ctx.user_tz, n.and_hms_opt(0, 0, 0).unwrap_or_default()))
                .unwrap_or(start + Duration::days(1));
            return Ok((start, next - start));
        }
    }
    Err(invalid_date(text, field))
}

fn local_to_utc(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // Inside a DST gap: the wall-clock time does not exist; use the instant an hour later.
        None => naive
            .checked_add_signed(Duration::hours(1))
            .and_then(|later| tz.from_local_datetime(&later).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// `-5m`, `-1d`, `4w 2d`, `+3h` (w, d, h, m).
fn parse_period(text: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut any = false;
    let mut sign = 1i64;
    for (n, part) in text.split_whitespace().enumerate() {
        let mut s = part;
        if let Some(rest) = s.strip_prefix('-') {
            if n == 0 {
                sign = -1;
            }
            s = rest;
        } else if let Some(rest) = s.strip_prefix('+') {
            s = rest;
        }
        let unit = s.chars().last()?;
        let num: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
        // Checked: absurd periods ("-99999999999w") are invalid dates, not panics.
        let d = match unit {
            'w' => Duration::try_weeks(num),
            'd' => Duration::try_days(num),
            'h' => Duration::try_hours(num),
            'm' => Duration::try_minutes(num),
            _ => return None,
        }?;
        total = total.checked_add(&d)?;
        any = true;
    }
    if !any {
        return None;
    }
    Some(if sign < 0 { -total } else { total })
}

fn id_values(issue: &Issue, f: IdField) -> Vec<String> {
    match f {
        IdField::Project => vec![issue.project_id.clone()],
        IdField::IssueType => vec![issue.issuetype_id.clone()],
        IdField::Status => vec![issue.status_id.clone()],
        IdField::Priority => issue.priority_id.iter().cloned().collect(),
        IdField::Resolution => issue.resolution_id.iter().cloned().collect(),
        IdField::Assignee => issue.assignee.iter().cloned().collect(),
        IdField::Reporter => issue.reporter.iter().cloned().collect(),
        IdField::Labels => issue.labels.clone(),
        IdField::Id => vec![issue.id.to_string()],
        IdField::Parent => issue.parent.iter().map(u64::to_string).collect(),
        IdField::Custom(i) => match issue.custom.get(&i) {
            Some(CfValue::Option(id)) => vec![id.clone()],
            Some(CfValue::Text(s)) => vec![s.clone()],
            Some(CfValue::Number(n)) => vec![n.to_string()],
            None => vec![],
        },
    }
}

fn texts(issue: &Issue, f: TextField, seed: &JiraSeed) -> Vec<String> {
    match f {
        TextField::Summary => vec![issue.summary.clone()],
        TextField::Description => issue.description.as_ref().map(super::store::adf_text).into_iter().collect(),
        TextField::Custom(i) => match issue.custom.get(&i) {
            Some(CfValue::Text(s)) => vec![s.clone()],
            _ => vec![],
        },
        TextField::All => {
            let mut v = texts(issue, TextField::Summary, seed);
            v.extend(texts(issue, TextField::Description, seed));
            for (i, cf) in seed.custom_fields.iter().enumerate() {
                if matches!(cf.kind, CustomFieldKind::Text) {
                    v.extend(texts(issue, TextField::Custom(i), seed));
                }
            }
            v
        }
    }
}

/// Word match as Jira's text index sees it: exact token, `term*` prefix, or the term
/// plus a common English suffix (a stand-in for stemming: "crash" finds "crashes").
fn term_matches(term: &str, word: &str) -> bool {
    if let Some(prefix) = term.strip_suffix('*') {
        return !prefix.is_empty() && word.starts_with(prefix.trim_end_matches('*'));
    }
    if word == term {
        return true;
    }
    let alphabetic = term.chars().all(char::is_alphabetic);
    alphabetic && word.strip_prefix(term).is_some_and(|rest| ["s", "es", "ed", "ing", "er", "ly"].contains(&rest))
}

fn cmp_holds<T: PartialOrd>(a: T, cmp: Cmp, b: T) -> bool {
    match cmp {
        Cmp::Lt => a < b,
        Cmp::Le => a <= b,
        Cmp::Gt => a > b,
        Cmp::Ge => a >= b,
        Cmp::Eq => a == b,
        Cmp::Ne => a != b,
    }
}

pub fn matches(c: &Cond, issue: &Issue, seed: &JiraSeed) -> bool {
    match c {
        Cond::And(v) => v.iter().all(|x| matches(x, issue, seed)),
        Cond::Or(v) => v.iter().any(|x| matches(x, issue, seed)),
        Cond::Not(x) => !matches(x, issue, seed),
        Cond::In { field, vals, neg } => {
            let have = id_values(issue, *field);
            let hit = have.iter().any(|h| {
                vals.iter().any(|v| if *field == IdField::Labels { h.eq_ignore_ascii_case(v) } else { h == v })
            });
            if *neg {
                !have.is_empty() && !hit
            } else {
                hit
            }
        }
        Cond::Empty { field, want_empty } => id_values(issue, *field).is_empty() == *want_empty,
        Cond::Text { field, terms, neg } => {
            let hay = texts(issue, *field, seed).join(" ").to_lowercase();
            let words: Vec<&str> = hay.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
            let hit = terms.iter().all(|t| words.iter().any(|w| term_matches(t, w)));
            hit != *neg
        }
        Cond::TextEmpty { field, want_empty } => {
            let empty = texts(issue, *field, seed).iter().all(|s| s.trim().is_empty());
            empty == *want_empty
        }
        Cond::Date { field, cmp, at, span } => {
            let t = match field {
                DateField::Created => issue.created,
                DateField::Updated => issue.updated,
            };
            match cmp {
                Cmp::Eq | Cmp::Ne => {
                    let end = at.checked_add_signed(*span).unwrap_or(DateTime::<Utc>::MAX_UTC);
                    let inside = t >= *at && t < end;
                    inside == (*cmp == Cmp::Eq)
                }
                other => cmp_holds(t, *other, *at),
            }
        }
        Cond::Number { cf, cmp, val } => match issue.custom.get(cf) {
            Some(CfValue::Number(n)) => cmp_holds(*n, *cmp, *val),
            _ => false,
        },
    }
}

/// Orders issues per the ORDER BY list, ties broken by id so paging is stable.
pub fn compare(a: &Issue, b: &Issue, order: &[(SortKey, bool)], seed: &JiraSeed) -> Ordering {
    let prio_rank = |i: &Issue| i.priority_id.as_ref().and_then(|p| seed.priorities.iter().position(|x| &x.id == p));
    for (key, desc) in order {
        let o = match key {
            SortKey::Updated => a.updated.cmp(&b.updated),
            SortKey::Created => a.created.cmp(&b.created),
            SortKey::Id => a.id.cmp(&b.id),
            SortKey::Key => (a.project_key.as_str(), a.number).cmp(&(b.project_key.as_str(), b.number)),
            // Highest first means "descending" priority; empty priorities sort last.
            SortKey::Priority => match (prio_rank(a), prio_rank(b)) {
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => Ordering::Equal,
            },
        };
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id.cmp(&b.id)
}
