//! Error kinds, positions and messages.

use iothub_query::{MAX_QUERY_CHARS, QueryErrorKind, parse_condition, parse_query};

use crate::{condition_error, query_error};

/// Asserts that `text` fails with a syntax error at `line`:`column` saying `message`.
fn fails_at(text: &str, line: usize, column: usize, message: &str) {
    let e = query_error(text);
    assert_eq!(
        (e.kind, e.line, e.column, e.message.as_str()),
        (QueryErrorKind::Syntax, line, column, message),
        "{text:?}"
    );
}

#[test]
fn display_carries_the_position() {
    let e = query_error("SELECT * FROM devices WHERE a = ");
    assert_eq!(
        e.to_string(),
        "Syntax error at line 1, column 33: expected a value after '='"
    );
}

#[test]
#[rustfmt::skip]
fn positions() {
    fails_at("SELECT * FROM devices WHERE a = AND b", 1, 33, "expected a value after '=', found 'AND'");
    fails_at("SELECT * FROM devices\nWHERE a = 'x", 2, 11, "unterminated string");
    fails_at("SELECT * FROM devices\n  WHERE a = 'x' b", 2, 17, "expected an operator or the end of the query, found 'b'");
    fails_at("SELECT * FROM things", 1, 15, "expected 'devices', 'devices.jobs' or 'devices.modules', found 'things'");
    fails_at("SELECT * devices", 1, 10, "expected 'FROM', found 'devices'");
    fails_at("SELECT * FROM devices WHERE a = 'x\\q'", 1, 35, "invalid escape '\\q' in string");
    fails_at("SELECT * FROM devices WHERE a # 1", 1, 31, "unexpected character '#'");
    fails_at("SELECT * FROM devices WHERE tags.group = 1", 1, 34, "'group' is a reserved word; write [[group]] to use it as a name");
    fails_at("SELECT * FROM devices WHERE a IN 'x'", 1, 34, "expected '[' after 'IN', found the string 'x'");
    fails_at("SELECT * FROM devices WHERE a IN [b]", 1, 35, "expected a constant (arrays hold only constants), found 'b'");
    fails_at("SELECT * FROM devices WHERE (a = 1", 1, 35, "expected ')', found end of query");
    fails_at("SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'a')", 1, 29, "unknown function 'STARTS_WITH'");
    fails_at("SELECT * FROM devices WHERE is_defined(a, b)", 1, 29, "IS_DEFINED() takes 1 argument, found 2");
    fails_at("SELECT * FROM devices WHERE a = 12abc", 1, 33, "invalid number: a name cannot start with a digit");
    fails_at("SELECT TOP 1.5 * FROM devices", 1, 12, "expected a whole number after 'TOP', found '1.5'");
    fails_at("SELECT * FROM devices WHERE tags.[[x = 1", 1, 34, "unterminated escaped name: expected ']]'");
    fails_at("", 1, 1, "expected 'SELECT', found end of query");
    fails_at("SELECT * FROM devices WHERE", 1, 28, "expected a value after 'WHERE'");
    fails_at("SELECT * FROM devices WHERE a = 'é' AND é = 1 b", 1, 47, "expected an operator or the end of the query, found 'b'");
}

#[test]
fn unsupported_features_say_so() {
    let e = query_error("SELECT tags.a, COUNT() FROM devices GROUP BY tags.a");
    assert_eq!((e.kind, e.column), (QueryErrorKind::Unsupported, 16), "{e}");
    let e = query_error("SELECT COUNT() FROM devices GROUP BY tags.a");
    assert_eq!(
        (e.kind, e.column, e.message.as_str()),
        (QueryErrorKind::Unsupported, 29, "GROUP BY is not supported")
    );
    let e = query_error("SELECT AVG(tags.a) FROM devices");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            QueryErrorKind::Unsupported,
            "aggregate AVG() is not supported; only COUNT() is"
        )
    );
    let e = query_error("SELECT * FROM devices WHERE COUNT() > 1");
    assert_eq!(e.kind, QueryErrorKind::Unsupported);
}

#[test]
fn condition_errors() {
    let e = condition_error("SELECT * FROM devices");
    assert_eq!((e.kind, e.line, e.column), (QueryErrorKind::Syntax, 1, 1));
    assert!(e.message.contains("only the WHERE part"), "{e}");
    let e = condition_error("");
    assert_eq!(e.message, "expected a condition or '*', found end of query");
    let e = condition_error("* AND a = 1");
    assert_eq!(e.message, "expected a value, found '*'");
    let e = condition_error("FROM devices.jobs WHERE jobId = 'x'");
    assert_eq!(
        (e.column, e.message.as_str()),
        (
            6,
            "a queryCondition selects devices or devices.modules, not devices.jobs"
        )
    );
    let e = condition_error("deviceId = ");
    assert_eq!(e.message, "expected a value after '='");
}

#[test]
fn length_limit() {
    let prefix = "SELECT * FROM devices WHERE deviceId = '";
    let fill = MAX_QUERY_CHARS - prefix.len() - 1;
    let ok = format!("{prefix}{}'", "x".repeat(fill));
    assert_eq!(ok.chars().count(), 8192);
    assert!(parse_query(&ok).is_ok());
    let long = format!("{prefix}{}'", "x".repeat(fill + 1));
    let e = parse_query(&long).expect_err("8,193 characters is too long");
    assert_eq!(e.kind, QueryErrorKind::TooLong);
    assert_eq!((e.line, e.column), (1, 8193));
    assert_eq!(
        e.message,
        "the query is 8193 characters long; the limit is 8192"
    );

    // Characters, not bytes: 8,192 two-byte characters are fine.
    let cond_prefix = "deviceId = '";
    let ok = format!(
        "{cond_prefix}{}'",
        "é".repeat(MAX_QUERY_CHARS - cond_prefix.len() - 1)
    );
    assert!(parse_condition(&ok).is_ok());
    let long = format!("{ok} ");
    assert_eq!(
        parse_condition(&long).map_err(|e| e.kind),
        Err(QueryErrorKind::TooLong)
    );
}
