//! Malformed, random and deeply nested input: errors, never panics or stack overflows.

use iothub_query::{MAX_DEPTH, QueryErrorKind, parse_condition, parse_query};
use serde_json::json;

/// Parses `text` both ways; if it parses, prints, re-parses and evaluates it too. Returns
/// whether either parse succeeded.
fn exercise(text: &str) -> bool {
    let doc = json!({"deviceId": "d", "tags": {"a": 1, "b": "x"}, "properties": {"reported": {"c": [1]}}});
    let mut parsed = false;
    if let Ok(q) = parse_query(text) {
        parsed = true;
        let printed = q.to_string();
        assert_eq!(
            parse_query(&printed).as_ref(),
            Ok(&q),
            "{text:?} printed as {printed:?}"
        );
        let _ = q.run([&doc, &doc]);
    }
    if let Ok(c) = parse_condition(text) {
        parsed = true;
        let printed = c.to_string();
        assert_eq!(
            parse_condition(&printed).as_ref(),
            Ok(&c),
            "{text:?} printed as {printed:?}"
        );
        let _ = c.matches(&doc);
    }
    parsed
}

#[test]
fn malformed_inputs() {
    let inputs = [
        "",
        " ",
        "*",
        "**",
        "SELECT",
        "SELECT *",
        "SELECT * FROM",
        "SELECT * FROM devices.",
        "SELECT * FROM devices.x",
        "SELECT * FROM devices WHERE",
        "WHERE",
        "(",
        ")",
        "((",
        "[",
        "]",
        "[[",
        "]]",
        "[[]]",
        "[[a",
        "'",
        "\"",
        "'\\",
        "'\\u",
        "'\\u12",
        "'\\uZZZZ'",
        "'\\ud800'",
        "'\\ud800\\u0041'",
        "'\\udc00'",
        "0x",
        "0xg",
        "1e",
        "1e+",
        "1.",
        ".5",
        "1..2",
        "a..b",
        "a.",
        ".a",
        "a = ",
        "= a",
        "a IN",
        "a IN [",
        "a IN [1,",
        "a IN [1,]",
        "a IN [,]",
        "NOT",
        "NOT NOT",
        "- -",
        "-",
        "a -",
        "IS_DEFINED",
        "IS_DEFINED(",
        "IS_DEFINED()",
        "IS_DEFINED(1)",
        "STARTSWITH(a)",
        "STARTSWITH(a,",
        "COUNT()",
        "SELECT COUNT(",
        "SELECT COUNT(1) FROM devices",
        "SELECT COUNT(), COUNT() FROM devices",
        "SELECT TOP",
        "SELECT TOP -1 * FROM devices",
        "SELECT TOP 1e30 * FROM devices",
        "SELECT a AS FROM devices",
        "SELECT a, FROM devices",
        "SELECT a b FROM devices",
        "SELECT * FROM devices GROUP",
        "a = 1e999",
        "a = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        "a = 'é",
        "é",
        "😀 = 1",
        "a = '😀'",
        "\u{0}",
        "a\u{0}b",
        "a = !",
        "a ! b",
        "a <",
        "a < > b",
        "a <>",
        "a >=",
        "FROM",
        "FROM devices",
        "FROM devices WHERE",
        "FROM devices.modules",
        "* *",
        "* WHERE a",
        "true",
        "null = null",
        "undefined",
        "a IN [[1, [2]], -3, -'x']",
        "a = -'x'",
        "a = - -1",
        "-a = --1",
        "a % 0 = 1",
        "a / 0",
        "SELECT [[group]] FROM devices",
        "SELECT [[ ]] FROM devices",
        "SELECT * FROM devices WHERE [[a]]]] = 1",
    ];
    for input in inputs {
        let _ = exercise(input);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [MAX_DEPTH + 1, 500, 2_000] {
        let parens = format!("{}a = 1{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(
            parse_condition(&parens).map_err(|e| e.kind),
            Err(QueryErrorKind::TooDeep),
            "{depth} parentheses"
        );
        let nots = "NOT ".repeat(depth) + "a";
        assert_eq!(
            parse_condition(&nots).map_err(|e| e.kind).err(),
            Some(QueryErrorKind::TooDeep)
        );
        let minus = "-".repeat(depth) + "a";
        assert_eq!(
            parse_condition(&minus).map_err(|e| e.kind).err(),
            Some(QueryErrorKind::TooDeep)
        );
        let arrays = format!("a IN {}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse_condition(&arrays).is_err());
        let sums = "a".to_owned() + &" + 1".repeat(depth);
        assert_eq!(
            parse_condition(&format!("{sums} = 1"))
                .map_err(|e| e.kind)
                .err(),
            Some(QueryErrorKind::TooDeep)
        );
    }
    // Just under the limit is fine.
    let parens = format!(
        "{}a = 1{}",
        "(".repeat(MAX_DEPTH - 2),
        ")".repeat(MAX_DEPTH - 2)
    );
    assert!(parse_condition(&parens).is_ok());
}

#[test]
fn long_and_or_chains_are_flat() {
    // A job targeting many devices by id chains OR hundreds of times; that must work.
    let chain = (0..300)
        .map(|i| format!("deviceId = 'dev{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let c = parse_condition(&chain).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.matches(&json!({"deviceId": "dev299"})));
    assert!(!c.matches(&json!({"deviceId": "dev300"})));
    let chain = (0..300)
        .map(|i| format!("tags.t{i} = {i}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    assert!(parse_condition(&chain).is_ok());
}

/// A fixed xorshift generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

#[test]
fn random_token_soup() {
    let alphabet = [
        "SELECT",
        "select",
        "*",
        "TOP",
        "5",
        "FROM",
        "devices",
        ".",
        "jobs",
        "modules",
        "WHERE",
        "AND",
        "or",
        "NOT",
        "IN",
        "NIN",
        "(",
        ")",
        "[",
        "]",
        ",",
        "=",
        "!=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "/",
        "%",
        "a",
        "tags",
        "deviceId",
        "'x'",
        "\"y\"",
        "1",
        "0x1F",
        "2.5e3",
        "true",
        "null",
        "undefined",
        "IS_DEFINED",
        "STARTSWITH",
        "ENDSWITH",
        "COUNT",
        "AS",
        "GROUP",
        "BY",
        "[[group]]",
        "'",
        "\\",
        "é",
        " ",
        "\n",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = rng.below(14);
        let text: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect::<Vec<_>>()
            .join(if rng.below(2) == 0 { " " } else { "" });
        parsed += usize::from(exercise(&text));
    }
    // The soup must sometimes be valid, or the round-trip checks above never run.
    assert!(parsed > 200, "only {parsed} random inputs parsed");
}

#[test]
fn random_bytes() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xFF) as u8).collect();
        exercise(&String::from_utf8_lossy(&bytes));
        let ascii: String = bytes.iter().map(|b| char::from(b % 96 + 32)).collect();
        exercise(&ascii);
    }
}
