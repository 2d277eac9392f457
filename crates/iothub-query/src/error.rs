//! Query errors: what went wrong and where (1-based line and column, counted in characters).

use std::fmt;

/// The kind of a [`QueryError`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// The text is not a valid query (bad token, missing operand, trailing input...).
    Syntax,
    /// The text is longer than [`MAX_QUERY_CHARS`](crate::MAX_QUERY_CHARS) characters.
    TooLong,
    /// Parentheses, `NOT`s, arrays or operator chains nest deeper than
    /// [`MAX_DEPTH`](crate::MAX_DEPTH).
    TooDeep,
    /// Valid IoT Hub syntax that this implementation does not evaluate (`GROUP BY`, `AVG`...).
    Unsupported,
}

impl fmt::Display for QueryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "Syntax error",
            Self::TooLong => "Query too long",
            Self::TooDeep => "Query too deeply nested",
            Self::Unsupported => "Unsupported query",
        })
    }
}

/// A query that could not be parsed, with the position of the offending character.
///
/// Displays as e.g. `Syntax error at line 1, column 23: expected a value after '='`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at line {line}, column {column}: {message}")]
pub struct QueryError {
    /// What kind of failure this is.
    pub kind: QueryErrorKind,
    /// 1-based line of the offending character.
    pub line: usize,
    /// 1-based column (in characters, not bytes) of the offending character.
    pub column: usize,
    /// What was expected or found, without the position.
    pub message: String,
}

impl QueryError {
    /// An error of `kind` at byte `offset` of `source`.
    pub(crate) fn at(
        kind: QueryErrorKind,
        source: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(source, offset);
        Self {
            kind,
            line,
            column,
            message: message.into(),
        }
    }
}

/// The 1-based line and character column of byte `offset` in `source` (clamped to the end).
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (i, c) in source.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}
