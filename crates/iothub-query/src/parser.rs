//! Parser: a token cursor and recursive descent for the clauses; expressions are in `expr`.

use crate::MAX_QUERY_CHARS;
use crate::ast::{Condition, From, Path, Query, Select, SelectItem, SelectItems, is_reserved};
use crate::error::{QueryError, QueryErrorKind};
use crate::lexer::{Tok, Token, tokenize};

mod expr;

impl std::str::FromStr for Query {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Self, QueryError> {
        parse_query(text)
    }
}

impl std::str::FromStr for Condition {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Self, QueryError> {
        parse_condition(text)
    }
}

/// Parses a full `SELECT ... FROM ... [WHERE ...]` query.
pub fn parse_query(text: &str) -> Result<Query, QueryError> {
    let mut parser = Parser::new(text)?;
    let query = parser.query()?;
    parser.expect_end()?;
    Ok(query)
}

/// Parses a job's `queryCondition`: `*`, a bare condition, or `FROM devices.modules WHERE ...`.
pub fn parse_condition(text: &str) -> Result<Condition, QueryError> {
    let mut parser = Parser::new(text)?;
    let condition = parser.condition()?;
    parser.expect_end()?;
    Ok(condition)
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// Current recursion depth of `expr` and `array`, bounded by [`MAX_DEPTH`].
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Result<Self, QueryError> {
        if let Some((offset, _)) = source.char_indices().nth(MAX_QUERY_CHARS) {
            let length = source.chars().count();
            return Err(QueryError::at(
                QueryErrorKind::TooLong,
                source,
                offset,
                format!("the query is {length} characters long; the limit is {MAX_QUERY_CHARS}"),
            ));
        }
        Ok(Self {
            source,
            tokens: tokenize(source)?,
            pos: 0,
            nesting: 0,
        })
    }

    // ---- tokens -------------------------------------------------------------------------

    fn token(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn peek(&self) -> &Tok {
        &self.token().tok
    }

    fn peek_second(&self) -> &Tok {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.pos + 1).min(last)].tok
    }

    fn bump(&mut self) -> Token {
        let token = self.token().clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    /// Whether the next token is the unescaped keyword `word`.
    fn at_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Name { text, escaped: false } if text.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.at_keyword(word);
        if found {
            self.bump();
        }
        found
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let found = self.peek() == tok;
        if found {
            self.bump();
        }
        found
    }

    /// The source text of `token`, quoted and shortened for messages, or "end of query".
    fn describe(&self, token: &Token) -> String {
        if token.tok == Tok::Eof {
            return "end of query".to_owned();
        }
        let text = self.source.get(token.start..token.end).unwrap_or_default();
        if let Tok::Str(_) = token.tok {
            // Already quoted by the user.
            let short: String = text.chars().take(40).collect();
            return format!(
                "the string {short}{}",
                if short.len() < text.len() { "..." } else { "" }
            );
        }
        let short: String = text.chars().take(40).collect();
        if short.len() < text.len() {
            format!("'{short}...'")
        } else {
            format!("'{short}'")
        }
    }

    fn error_at(
        &self,
        kind: QueryErrorKind,
        token: &Token,
        message: impl Into<String>,
    ) -> QueryError {
        QueryError::at(kind, self.source, token.start, message)
    }

    /// "expected X, found Y" at the next token.
    fn expected(&self, what: &str) -> QueryError {
        let token = self.token();
        let message = format!("expected {what}, found {}", self.describe(token));
        self.error_at(QueryErrorKind::Syntax, token, message)
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), QueryError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), QueryError> {
        if self.eat_keyword(word) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{word}'")))
        }
    }

    fn expect_end(&self) -> Result<(), QueryError> {
        if self.at_keyword("GROUP") {
            let message = "GROUP BY is not supported";
            return Err(self.error_at(QueryErrorKind::Unsupported, self.token(), message));
        }
        if *self.peek() == Tok::Eof {
            Ok(())
        } else {
            Err(self.expected("an operator or the end of the query"))
        }
    }

    // ---- clauses ------------------------------------------------------------------------

    fn query(&mut self) -> Result<Query, QueryError> {
        self.expect_keyword("SELECT")?;
        let select = self.select()?;
        self.expect_keyword("FROM")?;
        let from = self.from()?;
        let where_ = self.where_clause()?;
        Ok(Query {
            select,
            from,
            where_,
        })
    }

    fn condition(&mut self) -> Result<Condition, QueryError> {
        if self.at_keyword("SELECT") {
            let message = "a queryCondition is only the WHERE part of a query: \
                           drop 'SELECT * FROM devices WHERE'";
            return Err(self.error_at(QueryErrorKind::Syntax, self.token(), message));
        }
        if *self.peek() == Tok::Star && *self.peek_second() == Tok::Eof {
            self.bump();
            return Ok(Condition {
                from: From::Devices,
                where_: None,
            });
        }
        if *self.peek() == Tok::Eof {
            return Err(self.expected("a condition or '*'"));
        }
        if !self.eat_keyword("FROM") {
            let filter = self.condition_expr()?;
            return Ok(Condition {
                from: From::Devices,
                where_: Some(filter),
            });
        }
        let at = self.token().clone();
        let from = self.from()?;
        if from == From::DevicesJobs {
            let message = "a queryCondition selects devices or devices.modules, not devices.jobs";
            return Err(self.error_at(QueryErrorKind::Syntax, &at, message));
        }
        let where_ = self.where_clause()?;
        Ok(Condition { from, where_ })
    }

    fn select(&mut self) -> Result<Select, QueryError> {
        let top = if self.eat_keyword("TOP") {
            Some(self.top_count()?)
        } else {
            None
        };
        if self.eat(&Tok::Star) {
            return Ok(Select {
                top,
                items: SelectItems::Star,
            });
        }
        let mut items = Vec::new();
        let mut count = None;
        loop {
            let start = self.token().clone();
            if let Some(alias) = self.count_item()? {
                count = Some(alias);
            } else {
                let path = self.path("a property name, '*' or COUNT()")?;
                let alias = self.alias()?;
                items.push(SelectItem { path, alias });
            }
            if count.is_some() && !items.is_empty() {
                let message = "COUNT() cannot be combined with other projections (that needs \
                               GROUP BY, which is not supported)";
                return Err(self.error_at(QueryErrorKind::Unsupported, &start, message));
            }
            if !self.eat(&Tok::Comma) {
                break;
            }
            if count.is_some() {
                return Err(self.error_at(
                    QueryErrorKind::Syntax,
                    &start,
                    "COUNT() can only be selected once",
                ));
            }
        }
        let items = match count {
            Some(alias) => SelectItems::Count { alias },
            None => SelectItems::Items(items),
        };
        Ok(Select { top, items })
    }

    /// `COUNT() [AS alias]`, if the next tokens are an aggregate call.
    /// `None`: not an aggregate; `Some(alias)`: `COUNT()` with its optional alias.
    fn count_item(&mut self) -> Result<Option<Option<String>>, QueryError> {
        let Tok::Name {
            text,
            escaped: false,
        } = self.peek()
        else {
            return Ok(None);
        };
        if *self.peek_second() != Tok::LParen {
            return Ok(None);
        }
        let name = text.to_ascii_uppercase();
        let at = self.token().clone();
        match name.as_str() {
            "COUNT" => {
                self.bump();
                self.bump();
                self.expect(&Tok::RParen, "')': COUNT() takes no arguments")?;
                Ok(Some(self.alias()?))
            }
            "AVG" | "SUM" | "MIN" | "MAX" => Err(self.error_at(
                QueryErrorKind::Unsupported,
                &at,
                format!("aggregate {name}() is not supported; only COUNT() is"),
            )),
            _ => Err(self.error_at(
                QueryErrorKind::Syntax,
                &at,
                format!("unknown function '{text}' in SELECT; only COUNT() is allowed there"),
            )),
        }
    }

    fn top_count(&mut self) -> Result<u64, QueryError> {
        let token = self.bump();
        match token.tok {
            // Whole and below 2^53, so the conversion is exact.
            Tok::Number(n) if n.fract() == 0.0 && n <= 9_007_199_254_740_992.0 => Ok(n as u64),
            _ => Err(self.error_at(
                QueryErrorKind::Syntax,
                &token,
                format!(
                    "expected a whole number after 'TOP', found {}",
                    self.describe(&token)
                ),
            )),
        }
    }

    fn alias(&mut self) -> Result<Option<String>, QueryError> {
        if !self.eat_keyword("AS") {
            return Ok(None);
        }
        self.name("a name after 'AS'").map(Some)
    }

    fn from(&mut self) -> Result<From, QueryError> {
        let what = "'devices', 'devices.jobs' or 'devices.modules'";
        if !self.eat_keyword("devices") {
            return Err(self.expected(what));
        }
        if !self.eat(&Tok::Dot) {
            return Ok(From::Devices);
        }
        if self.eat_keyword("jobs") {
            Ok(From::DevicesJobs)
        } else if self.eat_keyword("modules") {
            Ok(From::DevicesModules)
        } else {
            Err(self.expected(what))
        }
    }

    /// A property name: bare (not reserved) or `[[escaped]]`.
    fn name(&mut self, what: &str) -> Result<String, QueryError> {
        let token = self.token().clone();
        match &token.tok {
            Tok::Name {
                text,
                escaped: true,
            } => {
                self.bump();
                Ok(text.clone())
            }
            Tok::Name {
                text,
                escaped: false,
            } if is_reserved(text) => Err(self.error_at(
                QueryErrorKind::Syntax,
                &token,
                format!("'{text}' is a reserved word; write [[{text}]] to use it as a name"),
            )),
            Tok::Name {
                text,
                escaped: false,
            } => {
                self.bump();
                Ok(text.clone())
            }
            _ => Err(self.expected(what)),
        }
    }

    fn path(&mut self, what: &str) -> Result<Path, QueryError> {
        let mut segments = vec![self.name(what)?];
        while self.eat(&Tok::Dot) {
            segments.push(self.name("a property name after '.'")?);
        }
        Ok(Path { segments })
    }
}
