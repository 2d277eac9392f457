//! The Azure IoT Hub query language, for the local hub: parse twin, job and `queryCondition`
//! queries, print them back canonically, and evaluate them over twin JSON.
//!
//! ```
//! use iothub_query::{parse_condition, parse_query};
//! use serde_json::json;
//!
//! let twin = json!({"deviceId": "dev1", "tags": {"building": 43}});
//! assert!(parse_condition("DeviceId in ['dev1']").unwrap().matches(&twin));
//!
//! let query = parse_query("select count() as n from devices where tags.building = 43").unwrap();
//! assert_eq!(query.to_string(), "SELECT COUNT() AS n FROM devices WHERE tags.building = 43");
//! assert_eq!(query.run([&twin]), vec![json!({"n": 1})]);
//! ```
//!
//! Semantics follow the IoT Hub docs (see `docs/iothub-protocol.md` §5): property names match
//! case-insensitively (an exact-case key wins), values compare case-sensitively, a missing
//! property is *undefined*, and a filter keeps a document only when it is boolean `true`.
//!
//! Layout:
//! - [`error`]: [`QueryError`] with a kind, a 1-based line and column, and a message.
//! - `lexer`: query text to tokens (names, `[[escaped]]` names, strings, numbers, operators).
//! - [`ast`]: the syntax tree, whose `Display` prints canonical text that parses back the same.
//! - `parser`: a token cursor and recursive descent for the `SELECT`/`FROM`/`WHERE` clauses.
//! - `parser::expr`: expressions, by a binding-power loop over one small precedence table.
//! - `eval`: evaluation of expressions over a `serde_json::Value`, and whole-query runs.

pub mod ast;
pub mod error;
mod eval;
mod lexer;
mod parser;

pub use ast::{
    BinaryOp, Condition, Expr, From, Function, Literal, Path, Query, Select, SelectItem,
    SelectItems, UnaryOp,
};
pub use error::{QueryError, QueryErrorKind};
pub use eval::COUNT_DEFAULT_NAME;
pub use parser::{parse_condition, parse_query};

/// The longest query IoT Hub accepts, in characters.
pub const MAX_QUERY_CHARS: usize = 8192;

/// How deeply parentheses, operators and arrays may nest before parsing fails with
/// [`QueryErrorKind::TooDeep`]. `AND`/`OR` chains are flat and do not count per operand.
pub const MAX_DEPTH: usize = 64;
