//! Tests for the query language, one binary.
//!
//! Table of contents:
//! - `roundtrip`: parse → Display → parse gives the same tree, and Display is canonical.
//! - `errors`: error kinds, messages, and line/column positions; the 8,192-character limit.
//! - `eval`: filters, projections, TOP and COUNT over twin and device-job documents.
//! - `robustness`: malformed and random input never panics; nesting is bounded.

mod errors;
mod eval;
mod robustness;
mod roundtrip;

use iothub_query::{Condition, Query, QueryError, parse_condition, parse_query};

/// Parses `text`, panicking with the error.
fn query(text: &str) -> Query {
    parse_query(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

/// Parses a queryCondition, panicking with the error.
fn condition(text: &str) -> Condition {
    parse_condition(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

/// The error for a query that must not parse.
fn query_error(text: &str) -> QueryError {
    match parse_query(text) {
        Ok(q) => panic!("{text:?} should not parse, got {q}"),
        Err(e) => e,
    }
}

/// The error for a condition that must not parse.
fn condition_error(text: &str) -> QueryError {
    match parse_condition(text) {
        Ok(c) => panic!("{text:?} should not parse, got {c}"),
        Err(e) => e,
    }
}
