//! Evaluator: expressions over one JSON document, and queries over many.
//!
//! Values follow the IoT Hub (Cosmos DB-style) rules: a missing property is *undefined*, most
//! operations on undefined or on mismatched types yield undefined, and a filter keeps a document
//! only when it evaluates to boolean `true`.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::ast::{
    BinaryOp, Condition, Expr, From, Function, Literal, Path, Query, SelectItems, UnaryOp,
};

/// The result field of `COUNT()` without `AS`, as Cosmos DB-style engines name it.
pub const COUNT_DEFAULT_NAME: &str = "$1";

/// An evaluated value; `None` is *undefined*.
type Val<'a> = Option<Cow<'a, Value>>;

impl Expr {
    /// Evaluates `self` against `doc`, a document of collection `from`; `None` means undefined.
    pub fn evaluate(&self, doc: &Value, from: From) -> Option<Value> {
        eval(self, doc, from).map(Cow::into_owned)
    }

    /// Whether `self` evaluates to boolean `true` on `doc`.
    pub fn is_true(&self, doc: &Value, from: From) -> bool {
        as_bool(&eval(self, doc, from)) == Some(true)
    }
}

impl Query {
    /// Whether `doc` passes the `WHERE` clause (always, without one).
    pub fn matches(&self, doc: &Value) -> bool {
        self.where_
            .as_ref()
            .is_none_or(|filter| filter.is_true(doc, self.from))
    }

    /// The result row for `doc` (which should already match): the document itself for `*`, an
    /// object of the projected properties otherwise (missing ones are left out). For `COUNT()`,
    /// the row a one-document collection would give.
    pub fn project(&self, doc: &Value) -> Value {
        match &self.select.items {
            SelectItems::Star => doc.clone(),
            SelectItems::Count { alias } => count_row(alias.as_deref(), 1),
            SelectItems::Items(items) => {
                let mut row = Map::new();
                for item in items {
                    if let Some((key, value)) = resolve(doc, &item.path, self.from) {
                        let name = item.alias.as_deref().unwrap_or(key);
                        row.insert(name.to_owned(), value.clone());
                    }
                }
                Value::Object(row)
            }
        }
    }

    /// The `TOP n` limit, if any.
    pub fn top(&self) -> Option<u64> {
        self.select.top
    }

    /// Whether the query selects `COUNT()`.
    pub fn is_count(&self) -> bool {
        matches!(self.select.items, SelectItems::Count { .. })
    }

    /// Runs the whole query over `docs`: filter, then projection (or count), then `TOP`.
    ///
    /// `SELECT COUNT() AS n FROM devices` gives `[{"n": 42}]`; without `AS` the field is `$1`.
    pub fn run<'a>(&self, docs: impl IntoIterator<Item = &'a Value>) -> Vec<Value> {
        let limit = self
            .top()
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut matching = docs.into_iter().filter(|doc| self.matches(doc));
        match &self.select.items {
            SelectItems::Count { alias } => {
                let row = count_row(alias.as_deref(), matching.count());
                std::iter::once(row).take(limit).collect()
            }
            SelectItems::Star | SelectItems::Items(_) => matching
                .by_ref()
                .take(limit)
                .map(|doc| self.project(doc))
                .collect(),
        }
    }
}

impl Condition {
    /// Whether the job targets `doc` (a device twin, or a module twin for `devices.modules`).
    pub fn matches(&self, doc: &Value) -> bool {
        self.where_
            .as_ref()
            .is_none_or(|filter| filter.is_true(doc, self.from))
    }

    /// Whether the condition is `*` (every device).
    pub fn is_all(&self) -> bool {
        self.from == From::Devices && self.where_.is_none()
    }
}

fn count_row(alias: Option<&str>, count: usize) -> Value {
    let mut row = Map::new();
    row.insert(
        alias.unwrap_or(COUNT_DEFAULT_NAME).to_owned(),
        Value::from(count),
    );
    Value::Object(row)
}

/// Finds `path` in `doc`: the last key as the document spells it, and its value.
///
/// A leading collection prefix (`devices.`, `devices.jobs.`, `devices.modules.`) is skipped when
/// the document has no property of that name, so `devices.jobs.jobId` and `jobId` are the same.
pub(crate) fn resolve<'a>(doc: &'a Value, path: &Path, from: From) -> Option<(&'a str, &'a Value)> {
    let prefix: &[&str] = match from {
        From::Devices => &["devices"],
        From::DevicesJobs => &["devices", "jobs"],
        From::DevicesModules => &["devices", "modules"],
    };
    let segments = &path.segments[..];
    let has_prefix = segments.len() > prefix.len()
        && prefix
            .iter()
            .zip(segments)
            .all(|(p, s)| p.eq_ignore_ascii_case(s));
    let segments = match segments.first() {
        Some(first) if has_prefix && lookup(doc, first).is_none() => &segments[prefix.len()..],
        _ => segments,
    };
    let (first, rest) = segments.split_first()?;
    let mut found = lookup(doc, first)?;
    for segment in rest {
        found = lookup(found.1, segment)?;
    }
    Some(found)
}

/// The property `name` of `value`: the exact-case key if present, else the first key equal to
/// `name` ignoring case.
fn lookup<'a>(value: &'a Value, name: &str) -> Option<(&'a str, &'a Value)> {
    let object = value.as_object()?;
    if let Some((key, value)) = object.get_key_value(name) {
        return Some((key.as_str(), value));
    }
    object
        .iter()
        .find(|(key, _)| eq_ignore_case(key, name))
        .map(|(key, value)| (key.as_str(), value))
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || (!a.is_ascii()
            && a.chars()
                .flat_map(char::to_lowercase)
                .eq(b.chars().flat_map(char::to_lowercase)))
}

fn eval<'a>(expr: &Expr, doc: &'a Value, from: From) -> Val<'a> {
    match expr {
        Expr::Literal(literal) => literal_value(literal).map(Cow::Owned),
        Expr::Path(path) => resolve(doc, path, from).map(|(_, value)| Cow::Borrowed(value)),
        Expr::Unary(UnaryOp::Not, operand) => {
            as_bool(&eval(operand, doc, from)).map(|b| Cow::Owned(Value::Bool(!b)))
        }
        Expr::Unary(UnaryOp::Neg, operand) => number(-as_number(&eval(operand, doc, from))?),
        Expr::Binary(op, left, right) => {
            binary(*op, &*eval(left, doc, from)?, &*eval(right, doc, from)?)
        }
        Expr::And(operands) => logic(operands, doc, from, false),
        Expr::Or(operands) => logic(operands, doc, from, true),
        Expr::In(operand, list) => boolean(in_list(&*eval(operand, doc, from)?, list)),
        Expr::Nin(operand, list) => boolean(!in_list(&*eval(operand, doc, from)?, list)),
        Expr::Call(function, args) => call(*function, args, doc, from),
    }
}

/// `AND` (`decisive` false) or `OR` (`decisive` true): the decisive value wins, else undefined
/// wins, else the other value.
fn logic(operands: &[Expr], doc: &Value, from: From, decisive: bool) -> Val<'static> {
    let mut undefined = false;
    for operand in operands {
        match as_bool(&eval(operand, doc, from)) {
            Some(b) if b == decisive => return boolean(decisive),
            Some(_) => {}
            None => undefined = true,
        }
    }
    if undefined { None } else { boolean(!decisive) }
}

fn call<'a>(function: Function, args: &[Expr], doc: &'a Value, from: From) -> Val<'a> {
    match (function, args) {
        (Function::IsDefined, [Expr::Path(path)]) => boolean(resolve(doc, path, from).is_some()),
        (Function::IsDefined, [other]) => boolean(eval(other, doc, from).is_some()),
        (Function::StartsWith | Function::EndsWith, [text, affix]) => {
            let text = eval(text, doc, from)?;
            let affix = eval(affix, doc, from)?;
            let (Value::String(text), Value::String(affix)) = (text.as_ref(), affix.as_ref())
            else {
                return None;
            };
            boolean(if function == Function::StartsWith {
                text.starts_with(affix.as_str())
            } else {
                text.ends_with(affix.as_str())
            })
        }
        // The parser checks arity, so other shapes only come from hand-built trees.
        (Function::IsDefined | Function::StartsWith | Function::EndsWith, _) => None,
    }
}

fn binary(op: BinaryOp, left: &Value, right: &Value) -> Val<'static> {
    match op {
        BinaryOp::Eq => boolean(equals(left, right)?),
        BinaryOp::Ne => boolean(!equals(left, right)?),
        BinaryOp::Lt => boolean(compare(left, right)? == Ordering::Less),
        BinaryOp::Le => boolean(compare(left, right)? != Ordering::Greater),
        BinaryOp::Gt => boolean(compare(left, right)? == Ordering::Greater),
        BinaryOp::Ge => boolean(compare(left, right)? != Ordering::Less),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            let (a, b) = (left.as_f64()?, right.as_f64()?);
            let result = match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div if b != 0.0 => a / b,
                BinaryOp::Rem if b != 0.0 => a % b,
                _ => return None,
            };
            number(result)
        }
    }
}

/// `=` between values: defined for two primitives of the same type, and for `null` against any
/// value (so `x = null` and `x != null` work); undefined otherwise.
fn equals(left: &Value, right: &Value) -> Option<bool> {
    match (left, right) {
        (Value::Null, Value::Null) => Some(true),
        (Value::Null, _) | (_, Value::Null) => Some(false),
        (Value::Bool(a), Value::Bool(b)) => Some(a == b),
        (Value::Number(a), Value::Number(b)) => Some(a.as_f64()? == b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a == b),
        _ => None,
    }
}

/// Ordering between two numbers, two strings (ordinal) or two booleans; undefined otherwise.
fn compare(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn in_list(value: &Value, list: &[Literal]) -> bool {
    list.iter()
        .filter_map(literal_value)
        .any(|item| equals(value, &item) == Some(true))
}

/// The JSON value of a constant; `None` for `undefined` (which arrays hold as `null`).
fn literal_value(literal: &Literal) -> Option<Value> {
    Some(match literal {
        Literal::Undefined => return None,
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Number(n) => return number(*n).map(Cow::into_owned),
        Literal::String(s) => Value::String(s.clone()),
        Literal::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| literal_value(item).unwrap_or(Value::Null))
                .collect(),
        ),
    })
}

fn as_bool(value: &Val<'_>) -> Option<bool> {
    value.as_deref().and_then(Value::as_bool)
}

fn as_number(value: &Val<'_>) -> Option<f64> {
    value.as_deref().and_then(Value::as_f64)
}

fn boolean(b: bool) -> Val<'static> {
    Some(Cow::Owned(Value::Bool(b)))
}

/// A JSON number for `n` (an integer when it is one); undefined when not finite.
fn number(n: f64) -> Val<'static> {
    // Whole and within ±2^53, so the conversion to i64 is exact.
    let value = if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 {
        Value::from(n as i64)
    } else {
        Value::from(serde_json::Number::from_f64(n)?)
    };
    Some(Cow::Owned(value))
}
