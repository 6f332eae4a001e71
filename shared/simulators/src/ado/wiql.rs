//! The WIQL subset the simulator understands: flat `SELECT ... FROM WorkItems [WHERE ...] [ORDER BY ...]`.

use super::model::{AdoField, FieldKind};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Word(String),
    Str(String),
    Num(f64),
    Macro(String),
    Sym(String),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '[' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| start + p)
                    .ok_or("TF51006: The query has an unclosed '[' around a field name.")?;
                out.push(Tok::Field(chars[start..end].iter().collect::<String>().trim().to_string()));
                i = end + 1;
            }
            '\'' | '"' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("TF51006: The query has an unterminated string literal.".into()),
                        Some(&ch) if ch == quote => {
                            if chars.get(i + 1) == Some(&quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '+' => {
                out.push(Tok::Plus);
                i += 1;
            }
            '-' => {
                out.push(Tok::Minus);
                i += 1;
            }
            '=' | '<' | '>' | '!' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let sym = if ["<>", ">=", "<=", "!="].contains(&two.as_str()) {
                    two
                } else if c == '!' {
                    return Err("TF51006: Unexpected '!' in the query.".into());
                } else {
                    c.to_string()
                };
                i += sym.len();
                out.push(Tok::Sym(sym));
            }
            '@' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                out.push(Tok::Macro(chars[start..end].iter().collect::<String>().to_lowercase()));
                i = end;
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                let n = s.parse::<f64>().map_err(|_| format!("TF51006: Invalid number «{s}» in the query."))?;
                out.push(Tok::Num(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.' || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("TF51006: Unexpected character «{other}» in the query.")),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
    NotContains,
    In,
    NotIn,
    Under,
    NotUnder,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Contains => "CONTAINS",
            Op::NotContains => "NOT CONTAINS",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Under => "UNDER",
            Op::NotUnder => "NOT UNDER",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Project,
    Me,
    /// `@today` plus this many days.
    Today(i64),
}

impl Lit {
    fn text(&self) -> String {
        match self {
            Lit::Str(s) => format!("'{s}'"),
            Lit::Num(n) => n.to_string(),
            Lit::Project => "@project".into(),
            Lit::Me => "@me".into(),
            Lit::Today(0) => "@today".into(),
            Lit::Today(d) if *d > 0 => format!("@today + {d}"),
            Lit::Today(d) => format!("@today - {}", -d),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub field: String,
    pub op: Op,
    pub values: Vec<Lit>,
}

impl Cond {
    fn source(&self) -> String {
        let vals: Vec<String> = self.values.iter().map(Lit::text).collect();
        match self.op {
            Op::In | Op::NotIn => {
                format!("[{}] {} ({})", self.field, self.op.text(), vals.join(", "))
            }
            _ => format!("[{}] {} {}", self.field, self.op.text(), vals.join(", ")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cond(Cond),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub columns: Vec<String>,
    pub filter: Option<Expr>,
    /// (field, descending)
    pub order: Vec<(String, bool)>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

const KEYWORDS: &[&str] = &[
    "select", "from", "where", "order", "by", "asc", "desc", "and", "or", "not", "contains", "in", "under", "ever",
    "asof", "words", "group", "mode",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(format!("TF51006: Expecting {}. The error is caused by «{}».", kw.to_uppercase(), self.here()))
        }
    }
    fn here(&self) -> String {
        match self.peek() {
            None => "end of query".into(),
            Some(t) => tok_text(t),
        }
    }
    fn field(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Field(f)) => Ok(f),
            Some(Tok::Word(w)) if !KEYWORDS.contains(&w.to_lowercase().as_str()) => Ok(w),
            other => Err(format!(
                "TF51006: Expecting field name. The error is caused by «{}».",
                other.map(|t| tok_text(&t)).unwrap_or_else(|| "end of query".into())
            )),
        }
    }

    fn query(&mut self) -> Result<Query, String> {
        self.expect_kw("select")?;
        let mut columns = vec![self.field()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            columns.push(self.field()?);
        }
        self.expect_kw("from")?;
        match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("workitems") => {}
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("workitemlinks") => {
                return Err(
                    "TF51006: The simulator supports flat queries only (FROM WorkItems), not FROM WorkItemLinks."
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "TF51006: Expecting WorkItems after FROM. The error is caused by «{}».",
                    other.map(|t| tok_text(&t)).unwrap_or_else(|| "end of query".into())
                ))
            }
        }
        let filter = if self.eat_kw("where") { Some(self.or()?) } else { None };
        let mut order = Vec::new();
        if self.eat_kw("order") {
            self.expect_kw("by")?;
            loop {
                let f = self.field()?;
                let desc = if self.eat_kw("desc") {
                    true
                } else {
                    self.eat_kw("asc");
                    false
                };
                order.push((f, desc));
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        if self.is_kw("asof") {
            return Err("TF51006: The simulator does not support ASOF in WIQL.".into());
        }
        if self.is_kw("mode") {
            return Err("TF51006: The simulator does not support MODE (link queries) in WIQL.".into());
        }
        if let Some(t) = self.peek() {
            return Err(format!(
                "TF51006: Unexpected text at the end of the query. The error is caused by «{}».",
                tok_text(t)
            ));
        }
        Ok(Query { columns, filter, order })
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.eat_kw("or") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.eat_kw("and") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            match self.next() {
                Some(Tok::RParen) => return Ok(e),
                other => {
                    return Err(format!(
                        "TF51006: Expecting ')'. The error is caused by «{}».",
                        other.map(|t| tok_text(&t)).unwrap_or_else(|| "end of query".into())
                    ))
                }
            }
        }
        self.cond().map(Expr::Cond)
    }
    fn cond(&mut self) -> Result<Cond, String> {
        let field = self.field()?;
        let negated = self.eat_kw("not");
        let op = match self.next() {
            Some(Tok::Sym(s)) if !negated => match s.as_str() {
                "=" => Op::Eq,
                "<>" | "!=" => Op::Ne,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                _ => Op::Le,
            },
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("contains") => {
                // CONTAINS WORDS is a full-text match; a substring match is close enough here.
                self.eat_kw("words");
                if negated {
                    Op::NotContains
                } else {
                    Op::Contains
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => {
                if self.is_kw("group") {
                    return Err("TF51006: The simulator does not support IN GROUP.".into());
                }
                if negated {
                    Op::NotIn
                } else {
                    Op::In
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("under") => {
                if negated {
                    Op::NotUnder
                } else {
                    Op::Under
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ever") => {
                return Err("TF51006: The simulator does not support EVER (history queries).".into())
            }
            other => {
                return Err(format!(
                    "TF51006: Expecting comparison operator. The error is caused by «{}».",
                    other.map(|t| tok_text(&t)).unwrap_or_else(|| "end of query".into())
                ))
            }
        };
        let values = if matches!(op, Op::In | Op::NotIn) {
            if self.next() != Some(Tok::LParen) {
                return Err(format!("TF51006: Expecting '(' after IN. The error is caused by «[{field}] IN»."));
            }
            let mut vals = vec![self.value(&field)?];
            loop {
                match self.next() {
                    Some(Tok::Comma) => vals.push(self.value(&field)?),
                    Some(Tok::RParen) => break,
                    other => {
                        return Err(format!(
                            "TF51006: Expecting ',' or ')'. The error is caused by «{}».",
                            other.map(|t| tok_text(&t)).unwrap_or_else(|| "end of query".into())
                        ))
                    }
                }
            }
            vals
        } else {
            vec![self.value(&field)?]
        };
        Ok(Cond { field, op, values })
    }
    fn value(&mut self, field: &str) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::Minus) => match self.next() {
                Some(Tok::Num(n)) => Ok(Lit::Num(-n)),
                _ => Err(format!("TF51006: Expecting a number after '-'. The error is caused by «[{field}]».")),
            },
            Some(Tok::Macro(m)) => match m.as_str() {
                "project" => Ok(Lit::Project),
                "me" => Ok(Lit::Me),
                "today" => {
                    let sign = match self.peek() {
                        Some(Tok::Plus) => 1,
                        Some(Tok::Minus) => -1,
                        _ => return Ok(Lit::Today(0)),
                    };
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Num(n)) if n.fract() == 0.0 => Ok(Lit::Today(sign * n as i64)),
                        _ => Err("TF51006: Expecting a whole number of days after @today +/-.".into()),
                    }
                }
                other => Err(format!("TF51006: The simulator does not support the macro @{other}.")),
            },
            Some(Tok::Field(f)) => Err(format!(
                "TF51006: The simulator does not support comparing two fields. The error is caused by «[{field}]» and «[{f}]»."
            )),
            other => Err(format!(
                "TF51006: Expecting a value. The error is caused by «{}».",
                other.map(|t| tok_text(&t)).unwrap_or_else(|| "end of query".into())
            )),
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Field(f) => format!("[{f}]"),
        Tok::Word(w) => w.clone(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => n.to_string(),
        Tok::Macro(m) => format!("@{m}"),
        Tok::Sym(s) => s.clone(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Plus => "+".into(),
        Tok::Minus => "-".into(),
    }
}

pub fn parse(text: &str) -> Result<Query, String> {
    let toks = tokenize(text)?;
    Parser { toks, pos: 0 }.query()
}

/// What a query runs against.
pub struct Ctx<'a> {
    pub fields: &'a [AdoField],
    pub time_precision: bool,
    pub project: Option<&'a str>,
    pub me: &'a str,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub fn field(&self, name: &str) -> Result<&AdoField, String> {
        self.fields
            .iter()
            .find(|f| f.reference_name.eq_ignore_ascii_case(name) || f.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!("TF51005: The query references a field that does not exist. The error is caused by «[{name}]».")
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CVal {
    Text(String),
    Num(f64),
    Day(NaiveDate),
    Time(DateTime<Utc>),
}

#[derive(Debug)]
pub enum Compiled {
    And(Box<Compiled>, Box<Compiled>),
    Or(Box<Compiled>, Box<Compiled>),
    Not(Box<Compiled>),
    Cond { field: String, kind: FieldKind, op: Op, values: Vec<CVal> },
}

fn has_time(s: &str) -> bool {
    s.contains('T') || s.contains(':')
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(s, "%m/%d/%Y")).ok()
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    parse_day(s).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| Utc.from_utc_datetime(&t))
}

pub fn compile(e: &Expr, ctx: &Ctx) -> Result<Compiled, String> {
    Ok(match e {
        Expr::And(a, b) => Compiled::And(Box::new(compile(a, ctx)?), Box::new(compile(b, ctx)?)),
        Expr::Or(a, b) => Compiled::Or(Box::new(compile(a, ctx)?), Box::new(compile(b, ctx)?)),
        Expr::Not(a) => Compiled::Not(Box::new(compile(a, ctx)?)),
        Expr::Cond(c) => {
            let f = ctx.field(&c.field)?;
            let mut values = Vec::new();
            for v in &c.values {
                values.push(literal(v, f, c, ctx)?);
            }
            Compiled::Cond { field: f.reference_name.clone(), kind: f.kind, op: c.op, values }
        }
    })
}

fn literal(v: &Lit, f: &AdoField, c: &Cond, ctx: &Ctx) -> Result<CVal, String> {
    let text = match v {
        Lit::Str(s) => s.clone(),
        Lit::Num(n) => {
            return match f.kind {
                FieldKind::Integer | FieldKind::Double => Ok(CVal::Num(*n)),
                FieldKind::DateTime => Err(format!(
                    "TF51006: Expecting a date for field {}. The error is caused by «{}».",
                    f.name,
                    c.source()
                )),
                _ => Ok(CVal::Text(n.to_string().to_lowercase())),
            }
        }
        Lit::Project => match ctx.project {
            Some(p) => p.to_string(),
            None => return Err("TF51011: The @project macro needs a project in the request path.".into()),
        },
        Lit::Me => ctx.me.to_string(),
        Lit::Today(days) => {
            if f.kind != FieldKind::DateTime {
                return Err(format!(
                    "TF51006: @today can only be compared with a date field. The error is caused by «{}».",
                    c.source()
                ));
            }
            let day = ctx.now.date_naive() + Duration::days(*days);
            return Ok(if ctx.time_precision {
                CVal::Time(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()))
            } else {
                CVal::Day(day)
            });
        }
    };
    match f.kind {
        FieldKind::Integer | FieldKind::Double => text
            .trim()
            .parse::<f64>()
            .map(CVal::Num)
            .map_err(|_| format!("TF51006: Expecting a number for field {}. The error is caused by «{}».", f.name, c.source())),
        FieldKind::DateTime => {
            if !ctx.time_precision {
                if has_time(&text) {
                    return Err(format!(
                        "You cannot supply a time with the date when running a query using date precision. The error is caused by «{}».",
                        c.source()
                    ));
                }
                parse_day(&text).map(CVal::Day)
            } else {
                parse_time(&text).map(CVal::Time)
            }
            .ok_or_else(|| format!("TF51006: The value '{text}' is not a valid date. The error is caused by «{}».", c.source()))
        }
        _ => Ok(CVal::Text(text.to_lowercase())),
    }
}

/// Texts an item value matches as (identities match by e-mail, display name or "Name <email>").
fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::Null => vec![String::new()],
        Value::String(s) => vec![s.to_lowercase()],
        Value::Object(o) => {
            let name = o.get("displayName").and_then(Value::as_str).unwrap_or_default();
            let unique = o.get("uniqueName").and_then(Value::as_str).unwrap_or_default();
            vec![
                unique.to_lowercase(),
                name.to_lowercase(),
                format!("{name} <{unique}>").to_lowercase(),
                o.get("id").and_then(Value::as_str).unwrap_or_default().to_lowercase(),
            ]
        }
        other => vec![other.to_string().to_lowercase()],
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn cmp_one(v: &Value, kind: FieldKind, c: &CVal) -> Option<Ordering> {
    match c {
        CVal::Num(n) => num(v).and_then(|x| x.partial_cmp(n)),
        CVal::Day(d) => v.as_str().and_then(parse_time).map(|t| t.date_naive().cmp(d)),
        CVal::Time(t) => v.as_str().and_then(parse_time).map(|x| x.cmp(t)),
        CVal::Text(s) => {
            if kind == FieldKind::Identity {
                if texts(v).iter().any(|x| x == s) {
                    return Some(Ordering::Equal);
                }
                let name = v.get("displayName").and_then(Value::as_str).unwrap_or_default().to_lowercase();
                Some(name.as_str().cmp(s.as_str()))
            } else {
                Some(texts(v)[0].as_str().cmp(s.as_str()))
            }
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Evaluates a compiled filter; `get` returns a field's current value (`Null` if unset).
pub fn eval(c: &Compiled, get: &dyn Fn(&str) -> Value) -> bool {
    match c {
        Compiled::And(a, b) => eval(a, get) && eval(b, get),
        Compiled::Or(a, b) => eval(a, get) || eval(b, get),
        Compiled::Not(a) => !eval(a, get),
        Compiled::Cond { field, kind, op, values } => {
            let v = get(field);
            let first = &values[0];
            let eq = |c: &CVal| {
                if matches!(c, CVal::Text(s) if s.is_empty()) {
                    return is_empty(&v);
                }
                !is_empty(&v) && cmp_one(&v, *kind, c) == Some(Ordering::Equal)
            };
            let ord = || {
                if is_empty(&v) {
                    None
                } else {
                    cmp_one(&v, *kind, first)
                }
            };
            match op {
                Op::Eq => eq(first),
                Op::Ne => !eq(first),
                Op::In => values.iter().any(eq),
                Op::NotIn => !values.iter().any(eq),
                Op::Gt => ord() == Some(Ordering::Greater),
                Op::Ge => matches!(ord(), Some(Ordering::Greater | Ordering::Equal)),
                Op::Lt => ord() == Some(Ordering::Less),
                Op::Le => matches!(ord(), Some(Ordering::Less | Ordering::Equal)),
                Op::Contains | Op::NotContains => {
                    let needle = match first {
                        CVal::Text(s) => s.clone(),
                        CVal::Num(n) => n.to_string(),
                        _ => String::new(),
                    };
                    let hay = texts(&v);
                    let found = if field == "System.Tags" {
                        hay[0].split(';').any(|t| t.trim() == needle)
                    } else {
                        hay.iter().any(|h| h.contains(&needle))
                    };
                    found == (*op == Op::Contains)
                }
                Op::Under | Op::NotUnder => {
                    let s = texts(&v)[0].clone();
                    let under = match first {
                        CVal::Text(p) => s == *p || s.starts_with(&format!("{p}\\")),
                        _ => false,
                    };
                    under == (*op == Op::Under)
                }
            }
        }
    }
}

/// Orders two item values of one field for ORDER BY (unset first).
pub fn order_values(a: &Value, b: &Value, kind: FieldKind) -> Ordering {
    match (is_empty(a), is_empty(b)) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    match kind {
        FieldKind::Integer | FieldKind::Double => num(a).partial_cmp(&num(b)).unwrap_or(Ordering::Equal),
        FieldKind::DateTime => a.as_str().and_then(parse_time).cmp(&b.as_str().and_then(parse_time)),
        FieldKind::Identity => {
            let n = |v: &Value| v.get("displayName").and_then(Value::as_str).unwrap_or_default().to_lowercase();
            n(a).cmp(&n(b))
        }
        _ => texts(a)[0].cmp(&texts(b)[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ado::AdoSeed;
    use serde_json::json;

    fn run(q: &str, precise: bool, item: &[(&str, Value)]) -> Result<bool, String> {
        let seed = AdoSeed::demo();
        let ctx = Ctx {
            fields: &seed.fields,
            time_precision: precise,
            project: Some("App"),
            me: "alice@acme.test",
            now: Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap(),
        };
        let parsed = parse(q)?;
        let c = compile(parsed.filter.as_ref().expect("where"), &ctx)?;
        let get = |f: &str| item.iter().find(|(k, _)| *k == f).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
        Ok(eval(&c, &get))
    }

    #[test]
    fn conditions_match_as_wiql_defines_them() {
        let alice = json!({"displayName": "Alice Jones", "uniqueName": "alice@acme.test", "id": "x"});
        let item = [
            ("System.TeamProject", json!("App")),
            ("System.State", json!("Active")),
            ("System.Title", json!("Login broken")),
            ("Microsoft.VSTS.Common.Priority", json!(2)),
            ("System.Tags", json!("jira; synced")),
            ("System.AssignedTo", alice),
            ("System.ChangedDate", json!("2026-11-25T10:00:00.5Z")),
            ("System.AreaPath", json!("App\\Web")),
        ];
        let cases = [
            ("[System.TeamProject] = @project AND [State] = 'active'", false, true),
            ("[System.State] <> 'Active'", false, false),
            ("[System.State] IN ('New', 'Active')", false, true),
            ("[System.State] NOT IN ('New', 'Active')", false, false),
            ("[System.Title] CONTAINS 'LOGIN'", false, true),
            ("[System.Title] NOT CONTAINS 'login'", false, false),
            ("[Microsoft.VSTS.Common.Priority] >= 2 AND [Priority] < 3", false, true),
            ("[Priority] > '2'", false, false),
            ("[System.Tags] CONTAINS 'jira'", false, true),
            ("[System.Tags] CONTAINS 'jir'", false, false),
            ("[System.AssignedTo] = @me", false, true),
            ("[Assigned To] = 'Alice Jones <alice@acme.test>'", false, true),
            ("[System.AssignedTo] = ''", false, false),
            ("[System.Description] = ''", false, true),
            ("NOT ([State] = 'Active' OR [State] = 'New')", false, false),
            ("[System.ChangedDate] >= '2026-11-25'", false, true),
            ("[System.ChangedDate] > '2026-11-25'", false, false),
            ("[System.ChangedDate] >= @today - 1", false, true),
            ("[System.ChangedDate] > '2026-11-25T10:00:00.4Z'", true, true),
            ("[System.ChangedDate] > '2026-11-25T10:00:00.5Z'", true, false),
            ("[System.AreaPath] UNDER 'App'", false, true),
        ];
        for (cond, precise, want) in cases {
            let q = format!("SELECT [System.Id] FROM WorkItems WHERE {cond}");
            assert_eq!(run(&q, precise, &item), Ok(want), "{cond}");
        }
    }

    #[test]
    fn a_time_in_a_literal_needs_time_precision() {
        let q = "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2026-03-25T13:11:27Z'";
        let err = run(q, false, &[]).unwrap_err();
        assert_eq!(
            err,
            "You cannot supply a time with the date when running a query using date precision. The error is caused by «[System.ChangedDate] >= '2026-03-25T13:11:27Z'»."
        );
    }

    #[test]
    fn malformed_or_unsupported_queries_are_rejected_with_a_reason() {
        let cases = [
            ("SELECT [System.Id] FROM WorkItems WHERE [Nope] = 1", "TF51005"),
            ("SELECT [System.Id] WorkItems", "Expecting FROM"),
            ("SELECT [System.Id] FROM WorkItemLinks", "flat queries"),
            ("SELECT [System.Id] FROM WorkItems WHERE [State] = 'a' AND", "Expecting field name"),
            ("SELECT [System.Id] FROM WorkItems WHERE ([State] = 'a'", "Expecting ')'"),
            ("SELECT [System.Id] FROM WorkItems WHERE [State] EVER 'a'", "EVER"),
            ("SELECT [System.Id] FROM WorkItems WHERE [State] = 'a", "unterminated"),
            ("SELECT [System.Id] FROM WorkItems WHERE [Priority] = 'high'", "number"),
        ];
        for (q, want) in cases {
            let err = run(q, false, &[]).unwrap_err();
            assert!(err.contains(want), "{q}: {err}");
        }
    }

    #[test]
    fn order_by_clauses_are_parsed_with_directions() {
        let q = parse("select [System.Id] from workitems order by [System.ChangedDate] desc, [System.Id]").unwrap();
        assert_eq!(q.order, vec![("System.ChangedDate".to_string(), true), ("System.Id".to_string(), false)]);
        assert!(q.filter.is_none());
    }
}
