//! The syntax tree, and `Display` impls that print canonical query text.
//!
//! Canonical text uses upper-case keywords and function names, lower-case collection names and
//! constants, single-quoted strings, names as written (escaped as `[[name]]` only when they
//! must be) and only the parentheses the precedence rules require. Printing a parsed tree and
//! parsing the result gives the same tree back.

use std::fmt::{self, Display, Formatter, Write as _};

use crate::lexer::{is_name_char, is_name_start};

/// Words that cannot be used as bare names; write `[[group]]` to use one as a property name.
pub const RESERVED_WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "NIN",
    "TOP",
    "AS",
    "GROUP",
    "BY",
    "TRUE",
    "FALSE",
    "NULL",
    "UNDEFINED",
];

/// A full query: `SELECT ... FROM ... [WHERE ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// What each result row holds.
    pub select: Select,
    /// The collection the query runs over.
    pub from: From,
    /// The filter; `None` keeps every document.
    pub where_: Option<Expr>,
}

/// The `SELECT` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// `TOP n`: at most this many rows.
    pub top: Option<u64>,
    /// `*`, a list of projections, or `COUNT()`.
    pub items: SelectItems,
}

/// What a `SELECT` clause returns.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItems {
    /// `*`: whole documents.
    Star,
    /// `a.b [AS x], c`: one object per document with the named properties.
    Items(Vec<SelectItem>),
    /// `COUNT() [AS x]`: a single row with the number of matching documents.
    Count {
        /// The result field's name; `$1` when absent.
        alias: Option<String>,
    },
}

/// One projection: a property path and an optional `AS` name.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    /// The property to project.
    pub path: Path,
    /// The result field's name; without it, the last path segment as the document spells it.
    pub alias: Option<String>,
}

/// The collection after `FROM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// `devices`: device twins.
    Devices,
    /// `devices.modules`: module twins.
    DevicesModules,
    /// `devices.jobs`: per-device job rows.
    DevicesJobs,
}

/// A job's `queryCondition`: the `WHERE` part of a device query, or `*` for all devices.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// [`From::Devices`], or [`From::DevicesModules`] for a `FROM devices.modules WHERE ...`
    /// condition.
    pub from: From,
    /// The filter; `None` (written `*`) targets every twin.
    pub where_: Option<Expr>,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Literal(Literal),
    /// A property path such as `properties.reported.connectivity`.
    Path(Path),
    /// `NOT x` or `-x`.
    Unary(UnaryOp, Box<Expr>),
    /// A comparison or arithmetic operation.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `a AND b AND ...` (two or more operands; chains are flat so they never nest deeply).
    And(Vec<Expr>),
    /// `a OR b OR ...` (two or more operands).
    Or(Vec<Expr>),
    /// `x IN [constants]`.
    In(Box<Expr>, Vec<Literal>),
    /// `x NIN [constants]`.
    Nin(Box<Expr>, Vec<Literal>),
    /// A function call.
    Call(Function, Vec<Expr>),
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number; negative only when written with a leading `-`.
    Number(f64),
    /// A string.
    String(String),
    /// `[a, b, ...]`.
    Array(Vec<Literal>),
}

/// A property path: names separated by dots, matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The names as written (escapes removed).
    pub segments: Vec<String>,
}

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `NOT`.
    Not,
    /// `-`.
    Neg,
}

/// An infix operator other than `AND`/`OR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `=`.
    Eq,
    /// `!=` or `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
}

/// A function usable in `WHERE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `IS_DEFINED(path)`: whether the property exists.
    IsDefined,
    /// `STARTSWITH(s, prefix)`, case-sensitive.
    StartsWith,
    /// `ENDSWITH(s, suffix)`, case-sensitive.
    EndsWith,
}

impl Function {
    /// The function for `name` (any casing), if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::IsDefined, Self::StartsWith, Self::EndsWith]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The canonical (upper-case) name.
    pub fn name(self) -> &'static str {
        match self {
            Self::IsDefined => "IS_DEFINED",
            Self::StartsWith => "STARTSWITH",
            Self::EndsWith => "ENDSWITH",
        }
    }

    /// How many arguments the function takes.
    pub fn arity(self) -> usize {
        match self {
            Self::IsDefined => 1,
            Self::StartsWith | Self::EndsWith => 2,
        }
    }
}

impl BinaryOp {
    /// The operator as written in canonical text.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Rem => "%",
        }
    }

    fn precedence(self) -> u8 {
        match self {
            Self::Eq | Self::Ne | Self::Lt | Self::Le | Self::Gt | Self::Ge => prec::COMPARE,
            Self::Add | Self::Sub => prec::ADD,
            Self::Mul | Self::Div | Self::Rem => prec::MUL,
        }
    }
}

/// Display precedence, loosest first; mirrors the parser's binding powers.
mod prec {
    pub const OR: u8 = 1;
    pub const AND: u8 = 2;
    pub const NOT: u8 = 3;
    pub const COMPARE: u8 = 4;
    pub const ADD: u8 = 5;
    pub const MUL: u8 = 6;
    pub const NEG: u8 = 7;
    pub const ATOM: u8 = 8;
}

impl Expr {
    fn precedence(&self) -> u8 {
        match self {
            Self::Or(_) => prec::OR,
            Self::And(_) => prec::AND,
            Self::Unary(UnaryOp::Not, _) => prec::NOT,
            Self::Binary(op, _, _) => op.precedence(),
            Self::In(..) | Self::Nin(..) => prec::COMPARE,
            Self::Unary(UnaryOp::Neg, _) => prec::NEG,
            Self::Literal(Literal::Number(n)) if n.is_sign_negative() => prec::NEG,
            Self::Literal(_) | Self::Path(_) | Self::Call(..) => prec::ATOM,
        }
    }

    /// Writes `self`, parenthesized when it binds looser than `min`.
    fn write_within(&self, f: &mut Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(literal) => write!(f, "{literal}"),
            Self::Path(path) => write!(f, "{path}"),
            Self::Unary(UnaryOp::Not, operand) => {
                f.write_str("NOT ")?;
                operand.write_within(f, prec::COMPARE)
            }
            Self::Unary(UnaryOp::Neg, operand) => {
                f.write_str("-")?;
                // `--` would read as a comment in SQL dialects; keep a nested minus apart.
                operand.write_within(f, prec::NEG + 1)
            }
            Self::Binary(op, left, right) => {
                let p = op.precedence();
                left.write_within(f, p)?;
                write!(f, " {} ", op.symbol())?;
                right.write_within(f, p + 1)
            }
            Self::And(operands) => write_chain(f, operands, " AND ", prec::AND + 1),
            Self::Or(operands) => write_chain(f, operands, " OR ", prec::OR + 1),
            Self::In(operand, list) | Self::Nin(operand, list) => {
                operand.write_within(f, prec::COMPARE)?;
                let keyword = if matches!(self, Self::In(..)) {
                    "IN"
                } else {
                    "NIN"
                };
                write!(f, " {keyword} ")?;
                write_array(f, list)
            }
            Self::Call(function, args) => {
                write!(f, "{}(", function.name())?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_chain(f: &mut Formatter<'_>, operands: &[Expr], sep: &str, min: u8) -> fmt::Result {
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        operand.write_within(f, min)?;
    }
    Ok(())
}

fn write_array(f: &mut Formatter<'_>, items: &[Literal]) -> fmt::Result {
    f.write_str("[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str("]")
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undefined => f.write_str("undefined"),
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write_number(f, *n),
            Self::String(s) => write_string(f, s),
            Self::Array(items) => write_array(f, items),
        }
    }
}

/// Integers print without a fraction; other numbers in Rust's shortest round-trip form.
fn write_number(f: &mut Formatter<'_>, n: f64) -> fmt::Result {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        // Exact: |n| < 1e15 fits an i64 and the fraction is zero.
        write!(f, "{}", n as i64)
    } else {
        write!(f, "{n:?}")
    }
}

fn write_string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

/// Writes a property name, escaped as `[[name]]` when it is reserved or not a bare name.
pub(crate) fn write_name(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    let mut chars = name.chars();
    let bare =
        chars.next().is_some_and(is_name_start) && chars.all(is_name_char) && !is_reserved(name);
    if bare {
        f.write_str(name)
    } else {
        write!(f, "[[{name}]]")
    }
}

/// Whether `word` is a reserved word (any casing).
pub fn is_reserved(word: &str) -> bool {
    RESERVED_WORDS.iter().any(|r| r.eq_ignore_ascii_case(word))
}

impl Display for Path {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write_name(f, segment)?;
        }
        Ok(())
    }
}

impl Display for From {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Devices => "devices",
            Self::DevicesModules => "devices.modules",
            Self::DevicesJobs => "devices.jobs",
        })
    }
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        if let Some(top) = self.top {
            write!(f, "TOP {top} ")?;
        }
        match &self.items {
            SelectItems::Star => f.write_str("*"),
            SelectItems::Count { alias } => {
                f.write_str("COUNT()")?;
                write_alias(f, alias.as_deref())
            }
            SelectItems::Items(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", item.path)?;
                    write_alias(f, item.alias.as_deref())?;
                }
                Ok(())
            }
        }
    }
}

fn write_alias(f: &mut Formatter<'_>, alias: Option<&str>) -> fmt::Result {
    match alias {
        Some(alias) => {
            f.write_str(" AS ")?;
            write_name(f, alias)
        }
        None => Ok(()),
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} FROM {}", self.select, self.from)?;
        if let Some(filter) = &self.where_ {
            write!(f, " WHERE {filter}")?;
        }
        Ok(())
    }
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match (self.from, &self.where_) {
            (From::Devices, None) => f.write_str("*"),
            (From::Devices, Some(filter)) => write!(f, "{filter}"),
            (from, None) => write!(f, "FROM {from}"),
            (from, Some(filter)) => write!(f, "FROM {from} WHERE {filter}"),
        }
    }
}
