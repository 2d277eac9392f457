//! Lexer: query text in, tokens with byte offsets out.
//!
//! Keywords are not told apart from names here: the parser compares [`Tok::Name`]s
//! case-insensitively, and a `[[escaped]]` name is never a keyword.

use crate::error::{QueryError, QueryErrorKind};

/// One token of query text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare name (`deviceId`, `SELECT`, `$version`) or an escaped one (`[[group]]`).
    Name {
        text: String,
        escaped: bool,
    },
    /// A string constant, escapes already decoded.
    Str(String),
    /// A number constant (decimal, exponent or `0x` hex); never negative, never infinite.
    Number(f64),
    Star,
    Comma,
    Dot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Eq,
    /// `!=` or `<>`.
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Slash,
    Percent,
    Eof,
}

/// A token and where it starts and ends (byte offsets into the source).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Splits `source` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, QueryError> {
    let mut lexer = Lexer { source, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.tok == Tok::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

/// Whether `c` may start a bare name.
pub(crate) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

/// Whether `c` may continue a bare name.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

struct Lexer<'a> {
    source: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.source[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.source[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> QueryError {
        QueryError::at(QueryErrorKind::Syntax, self.source, offset, message)
    }

    fn next_token(&mut self) -> Result<Token, QueryError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let tok = match c {
            '*' => Tok::Star,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ']' => Tok::RBracket,
            '=' => Tok::Eq,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '[' if self.peek() == Some('[') => {
                self.bump();
                self.escaped_name(start)?
            }
            '[' => Tok::LBracket,
            '!' if self.peek() == Some('=') => {
                self.bump();
                Tok::Ne
            }
            '<' => match self.peek() {
                Some('=') => {
                    self.bump();
                    Tok::Le
                }
                Some('>') => {
                    self.bump();
                    Tok::Ne
                }
                _ => Tok::Lt,
            },
            '>' if self.peek() == Some('=') => {
                self.bump();
                Tok::Ge
            }
            '>' => Tok::Gt,
            '\'' | '"' => self.string(start, c)?,
            c if c.is_ascii_digit() => self.number(start, c)?,
            c if is_name_start(c) => {
                while self.peek().is_some_and(is_name_char) {
                    self.bump();
                }
                Tok::Name {
                    text: self.source[start..self.pos].to_owned(),
                    escaped: false,
                }
            }
            c => return Err(self.error(start, format!("unexpected character '{c}'"))),
        };
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    /// `[[name]]`, the opening brackets already consumed.
    fn escaped_name(&mut self, start: usize) -> Result<Tok, QueryError> {
        let rest = &self.source[self.pos..];
        let Some(len) = rest.find("]]") else {
            return Err(self.error(start, "unterminated escaped name: expected ']]'"));
        };
        let text = rest[..len].to_owned();
        if text.is_empty() {
            return Err(self.error(start, "empty escaped name '[[]]'"));
        }
        self.pos += len + 2;
        Ok(Tok::Name {
            text,
            escaped: true,
        })
    }

    /// A string in `quote`s, the opening quote already consumed.
    fn string(&mut self, start: usize, quote: char) -> Result<Tok, QueryError> {
        let mut text = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error(start, "unterminated string")),
                Some(c) if c == quote => return Ok(Tok::Str(text)),
                Some('\\') => text.push(self.escape(at)?),
                Some(c) => text.push(c),
            }
        }
    }

    /// The character an escape stands for; `at` is the offset of the backslash.
    fn escape(&mut self, at: usize) -> Result<char, QueryError> {
        let c = match self.bump() {
            Some('\'') => '\'',
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => return self.unicode_escape(at),
            Some(other) => {
                return Err(self.error(at, format!("invalid escape '\\{other}' in string")));
            }
            None => return Err(self.error(at, "unterminated string")),
        };
        Ok(c)
    }

    /// `\uXXXX` (or a `\uD8xx\uDCxx` surrogate pair), the `\u` already consumed.
    fn unicode_escape(&mut self, at: usize) -> Result<char, QueryError> {
        let high = self.hex4(at)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.peek() != Some('\\') || self.peek_second() != Some('u') {
                return Err(self.error(at, "unpaired surrogate in '\\u' escape"));
            }
            self.bump();
            self.bump();
            let low = self.hex4(at)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.error(at, "unpaired surrogate in '\\u' escape"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.error(at, "unpaired surrogate in '\\u' escape"))
    }

    fn hex4(&mut self, at: usize) -> Result<u32, QueryError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self.peek().and_then(|c| c.to_digit(16));
            let Some(digit) = digit else {
                return Err(self.error(at, "expected four hex digits after '\\u'"));
            };
            self.bump();
            value = value * 16 + digit;
        }
        Ok(value)
    }

    /// A number starting with digit `first` (already consumed).
    fn number(&mut self, start: usize, first: char) -> Result<Tok, QueryError> {
        let value = if first == '0' && matches!(self.peek(), Some('x' | 'X')) {
            self.bump();
            let mut value = 0.0_f64;
            let mut digits = 0;
            while let Some(digit) = self.peek().and_then(|c| c.to_digit(16)) {
                self.bump();
                value = value * 16.0 + f64::from(digit);
                digits += 1;
            }
            if digits == 0 {
                return Err(self.error(start, "expected hex digits after '0x'"));
            }
            value
        } else {
            self.digits();
            if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
                self.digits();
            }
            if matches!(self.peek(), Some('e' | 'E')) {
                self.bump();
                if matches!(self.peek(), Some('+' | '-')) {
                    self.bump();
                }
                if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.error(start, "expected digits in the number's exponent"));
                }
                self.digits();
            }
            let text = &self.source[start..self.pos];
            text.parse::<f64>()
                .map_err(|_| self.error(start, format!("invalid number '{text}'")))?
        };
        if self.peek().is_some_and(is_name_char) {
            return Err(self.error(start, "invalid number: a name cannot start with a digit"));
        }
        if !value.is_finite() {
            return Err(self.error(start, "number out of range"));
        }
        Ok(Tok::Number(value))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(source: &str) -> Vec<Tok> {
        tokenize(source)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn operators_and_names() {
        assert_eq!(
            toks("a<>b != <= >= [[group]] ["),
            vec![
                Tok::Name {
                    text: "a".into(),
                    escaped: false
                },
                Tok::Ne,
                Tok::Name {
                    text: "b".into(),
                    escaped: false
                },
                Tok::Ne,
                Tok::Le,
                Tok::Ge,
                Tok::Name {
                    text: "group".into(),
                    escaped: true
                },
                Tok::LBracket,
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("0x1F 1.5e2 7"),
            vec![
                Tok::Number(31.0),
                Tok::Number(150.0),
                Tok::Number(7.0),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_with_escapes() {
        assert_eq!(
            toks(r#"'it\'s' "a\"b\\c\/\n\u00e9\ud83d\ude00""#),
            vec![
                Tok::Str("it's".into()),
                Tok::Str("a\"b\\c/\né😀".into()),
                Tok::Eof
            ]
        );
    }
}
