//! Expressions: a binding-power (Pratt) loop over prefix and infix operators.

use super::Parser;
use crate::MAX_DEPTH;
use crate::ast::{BinaryOp, Expr, Function, Literal, UnaryOp, is_reserved};
use crate::error::{QueryError, QueryErrorKind};
use crate::lexer::{Tok, Token};

/// Binding powers, loosest first: `(left, right)` for infix operators, `right` for prefix ones.
/// Left < right makes an operator left-associative.
mod bp {
    pub const OR: (u8, u8) = (1, 2);
    pub const AND: (u8, u8) = (3, 4);
    pub const NOT: u8 = 5;
    pub const COMPARE: (u8, u8) = (7, 8);
    pub const IN: u8 = 7;
    pub const ADD: (u8, u8) = (9, 10);
    pub const MUL: (u8, u8) = (11, 12);
    pub const NEG: u8 = 13;
}

/// An infix operator found after an operand.
enum Infix {
    Or,
    And,
    In { negated: bool },
    Binary(BinaryOp),
}

impl Parser<'_> {
    /// `WHERE <condition>`, if present.
    pub(super) fn where_clause(&mut self) -> Result<Option<Expr>, QueryError> {
        if !self.at_keyword("WHERE") {
            return Ok(None);
        }
        let keyword = self.bump();
        self.operand(0, &keyword).map(|(expr, _)| Some(expr))
    }

    pub(super) fn condition_expr(&mut self) -> Result<Expr, QueryError> {
        self.expr(0).map(|(expr, _)| expr)
    }

    /// An expression whose operators bind at least as tightly as `min_bp`, with its depth.
    fn expr(&mut self, min_bp: u8) -> Result<(Expr, usize), QueryError> {
        self.enter()?;
        let result = self.expr_inner(min_bp);
        self.nesting -= 1;
        result
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.too_deep(&self.token().clone()));
        }
        Ok(())
    }

    fn too_deep(&self, at: &Token) -> QueryError {
        let message = format!("the query nests more than {MAX_DEPTH} levels deep");
        self.error_at(QueryErrorKind::TooDeep, at, message)
    }

    fn expr_inner(&mut self, min_bp: u8) -> Result<(Expr, usize), QueryError> {
        let (mut lhs, mut depth) = self.prefix()?;
        while let Some((infix, l_bp, r_bp)) = self.infix() {
            if l_bp < min_bp {
                break;
            }
            let op = self.bump();
            (lhs, depth) = match infix {
                Infix::In { negated } => {
                    self.expect(&Tok::LBracket, &format!("'[' after {}", self.describe(&op)))?;
                    let list = self.array_items()?;
                    let operand = Box::new(lhs);
                    let expr = if negated {
                        Expr::Nin(operand, list)
                    } else {
                        Expr::In(operand, list)
                    };
                    (expr, depth + 1)
                }
                Infix::And | Infix::Or => {
                    let (rhs, rhs_depth) = self.operand(r_bp, &op)?;
                    let is_and = matches!(infix, Infix::And);
                    match lhs {
                        Expr::And(mut operands) if is_and => {
                            operands.push(rhs);
                            (Expr::And(operands), depth.max(rhs_depth + 1))
                        }
                        Expr::Or(mut operands) if !is_and => {
                            operands.push(rhs);
                            (Expr::Or(operands), depth.max(rhs_depth + 1))
                        }
                        lhs if is_and => (Expr::And(vec![lhs, rhs]), depth.max(rhs_depth) + 1),
                        lhs => (Expr::Or(vec![lhs, rhs]), depth.max(rhs_depth) + 1),
                    }
                }
                Infix::Binary(binary) => {
                    let (rhs, rhs_depth) = self.operand(r_bp, &op)?;
                    let expr = Expr::Binary(binary, Box::new(lhs), Box::new(rhs));
                    (expr, depth.max(rhs_depth) + 1)
                }
            };
            if depth > MAX_DEPTH {
                return Err(self.too_deep(&op));
            }
        }
        Ok((lhs, depth))
    }

    /// The infix operator at the next token, with its binding powers.
    fn infix(&self) -> Option<(Infix, u8, u8)> {
        let compare = |op| Some((Infix::Binary(op), bp::COMPARE.0, bp::COMPARE.1));
        let add = |op| Some((Infix::Binary(op), bp::ADD.0, bp::ADD.1));
        let mul = |op| Some((Infix::Binary(op), bp::MUL.0, bp::MUL.1));
        match self.peek() {
            Tok::Eq => compare(BinaryOp::Eq),
            Tok::Ne => compare(BinaryOp::Ne),
            Tok::Lt => compare(BinaryOp::Lt),
            Tok::Le => compare(BinaryOp::Le),
            Tok::Gt => compare(BinaryOp::Gt),
            Tok::Ge => compare(BinaryOp::Ge),
            Tok::Plus => add(BinaryOp::Add),
            Tok::Minus => add(BinaryOp::Sub),
            Tok::Star => mul(BinaryOp::Mul),
            Tok::Slash => mul(BinaryOp::Div),
            Tok::Percent => mul(BinaryOp::Rem),
            Tok::Name {
                text,
                escaped: false,
            } => match text.to_ascii_uppercase().as_str() {
                "OR" => Some((Infix::Or, bp::OR.0, bp::OR.1)),
                "AND" => Some((Infix::And, bp::AND.0, bp::AND.1)),
                "IN" => Some((Infix::In { negated: false }, bp::IN, bp::IN)),
                "NIN" => Some((Infix::In { negated: true }, bp::IN, bp::IN)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The operand after operator `op`, with a clear error when there is none.
    fn operand(&mut self, min_bp: u8, op: &Token) -> Result<(Expr, usize), QueryError> {
        if !self.starts_value() {
            let token = self.token().clone();
            let mut message = format!("expected a value after {}", self.describe(op));
            if token.tok != Tok::Eof {
                message.push_str(&format!(", found {}", self.describe(&token)));
            }
            return Err(self.error_at(QueryErrorKind::Syntax, &token, message));
        }
        self.expr(min_bp)
    }

    /// Whether the next token can begin an expression.
    fn starts_value(&self) -> bool {
        match self.peek() {
            Tok::Number(_) | Tok::Str(_) | Tok::LBracket | Tok::LParen | Tok::Minus => true,
            Tok::Name { escaped: true, .. } => true,
            Tok::Name {
                text,
                escaped: false,
            } => {
                !is_reserved(text)
                    || ["NOT", "TRUE", "FALSE", "NULL", "UNDEFINED"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(text))
            }
            _ => false,
        }
    }

    /// A constant, a path, a call, a parenthesized expression or a prefix operator.
    fn prefix(&mut self) -> Result<(Expr, usize), QueryError> {
        let token = self.token().clone();
        match &token.tok {
            Tok::Number(n) => {
                self.bump();
                Ok((Expr::Literal(Literal::Number(*n)), 1))
            }
            Tok::Str(s) => {
                self.bump();
                Ok((Expr::Literal(Literal::String(s.clone())), 1))
            }
            Tok::LBracket => {
                self.bump();
                Ok((Expr::Literal(Literal::Array(self.array_items()?)), 1))
            }
            Tok::LParen => {
                self.bump();
                let inner = self.operand(0, &token)?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(inner)
            }
            Tok::Minus => {
                self.bump();
                let (operand, depth) = self.operand(bp::NEG, &token)?;
                Ok(match operand {
                    // Fold `-5` into a constant so that negative numbers print and re-parse alike.
                    Expr::Literal(Literal::Number(n)) => {
                        (Expr::Literal(Literal::Number(-n)), depth)
                    }
                    operand => (Expr::Unary(UnaryOp::Neg, Box::new(operand)), depth + 1),
                })
            }
            Tok::Name { escaped: false, .. } if self.at_keyword("NOT") => {
                self.bump();
                let (operand, depth) = self.operand(bp::NOT, &token)?;
                Ok((Expr::Unary(UnaryOp::Not, Box::new(operand)), depth + 1))
            }
            Tok::Name { escaped: false, .. } if *self.peek_second() == Tok::LParen => self.call(),
            Tok::Name {
                text,
                escaped: false,
            } if is_reserved(text) => {
                let literal = match text.to_ascii_uppercase().as_str() {
                    "TRUE" => Literal::Bool(true),
                    "FALSE" => Literal::Bool(false),
                    "NULL" => Literal::Null,
                    "UNDEFINED" => Literal::Undefined,
                    _ => {
                        let message = format!(
                            "expected a value, found {} (a reserved word: write [[{text}]] for a \
                             property of that name)",
                            self.describe(&token)
                        );
                        return Err(self.error_at(QueryErrorKind::Syntax, &token, message));
                    }
                };
                self.bump();
                Ok((Expr::Literal(literal), 1))
            }
            Tok::Name { .. } => Ok((Expr::Path(self.path("a property name")?), 1)),
            _ => Err(self.expected("a value")),
        }
    }

    /// `NAME(args)`; the next tokens are a bare name and `(`.
    fn call(&mut self) -> Result<(Expr, usize), QueryError> {
        let name_token = self.bump();
        let name = self
            .source
            .get(name_token.start..name_token.end)
            .unwrap_or_default();
        let Some(function) = Function::from_name(name) else {
            let upper = name.to_ascii_uppercase();
            let (kind, message) = match upper.as_str() {
                "COUNT" | "AVG" | "SUM" | "MIN" | "MAX" => (
                    QueryErrorKind::Unsupported,
                    format!("aggregate {upper}() is only allowed in SELECT"),
                ),
                _ => (QueryErrorKind::Syntax, format!("unknown function '{name}'")),
            };
            return Err(self.error_at(kind, &name_token, message));
        };
        self.bump(); // `(`
        let mut args = Vec::new();
        let mut depth = 0;
        if !self.eat(&Tok::RParen) {
            loop {
                let (arg, arg_depth) = self.expr(0)?;
                args.push(arg);
                depth = depth.max(arg_depth);
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "',' or ')'")?;
            }
        }
        if args.len() != function.arity() {
            let plural = if function.arity() == 1 { "" } else { "s" };
            let message = format!(
                "{}() takes {} argument{plural}, found {}",
                function.name(),
                function.arity(),
                args.len()
            );
            return Err(self.error_at(QueryErrorKind::Syntax, &name_token, message));
        }
        if function == Function::IsDefined && !matches!(args.first(), Some(Expr::Path(_))) {
            let message = "IS_DEFINED() takes a property path";
            return Err(self.error_at(QueryErrorKind::Syntax, &name_token, message));
        }
        Ok((Expr::Call(function, args), depth + 1))
    }

    /// The constants of an array up to its `]`; the `[` is already consumed.
    fn array_items(&mut self) -> Result<Vec<Literal>, QueryError> {
        self.enter()?;
        let result = self.array_items_inner();
        self.nesting -= 1;
        result
    }

    fn array_items_inner(&mut self) -> Result<Vec<Literal>, QueryError> {
        let mut items = Vec::new();
        if self.eat(&Tok::RBracket) {
            return Ok(items);
        }
        loop {
            items.push(self.constant()?);
            if self.eat(&Tok::RBracket) {
                return Ok(items);
            }
            self.expect(&Tok::Comma, "',' or ']'")?;
        }
    }

    /// A constant inside an array.
    fn constant(&mut self) -> Result<Literal, QueryError> {
        let token = self.token().clone();
        let literal = match &token.tok {
            Tok::Number(n) => Literal::Number(*n),
            Tok::Str(s) => Literal::String(s.clone()),
            Tok::Minus => match self.peek_second() {
                Tok::Number(n) => {
                    let n = -*n;
                    self.bump();
                    Literal::Number(n)
                }
                _ => return Err(self.expected("a constant")),
            },
            Tok::LBracket => {
                self.bump();
                return Ok(Literal::Array(self.array_items()?));
            }
            Tok::Name {
                text,
                escaped: false,
            } => match text.to_ascii_uppercase().as_str() {
                "TRUE" => Literal::Bool(true),
                "FALSE" => Literal::Bool(false),
                "NULL" => Literal::Null,
                "UNDEFINED" => Literal::Undefined,
                _ => return Err(self.expected("a constant (arrays hold only constants)")),
            },
            _ => return Err(self.expected("a constant")),
        };
        self.bump();
        Ok(literal)
    }
}
