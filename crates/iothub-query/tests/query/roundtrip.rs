//! One-line round trips. `verified(text)`: `text` is canonical, so it parses and prints back
//! unchanged. `parses_to(input, canonical)`: `input` prints as `canonical`, which is verified.
//! The tests are tables, so rustfmt leaves them one line per case.

use crate::{condition, query};

/// Asserts that canonical query `text` prints back unchanged.
fn verified(text: &str) {
    parses_to(text, text);
}

/// Asserts that `input` prints as `canonical`, and that `canonical` parses to the same tree.
fn parses_to(input: &str, canonical: &str) {
    let parsed = query(input);
    assert_eq!(parsed.to_string(), canonical, "printing {input:?}");
    assert_eq!(query(canonical), parsed, "re-parsing {canonical:?}");
}

/// [`parses_to`] for a job's queryCondition.
fn condition_parses_to(input: &str, canonical: &str) {
    let parsed = condition(input);
    assert_eq!(parsed.to_string(), canonical, "printing {input:?}");
    assert_eq!(condition(canonical), parsed, "re-parsing {canonical:?}");
}

#[test]
#[rustfmt::skip]
fn reference_examples() {
    verified("SELECT * FROM devices");
    verified("SELECT * FROM devices WHERE tags.location.region = 'US' AND properties.reported.telemetryConfig.sendFrequencyInSecs >= 60");
    parses_to("SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired','wifi']", "SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired', 'wifi']");
    parses_to("SELECT * FROM devices WHERE is_defined(properties.reported.connectivity)", "SELECT * FROM devices WHERE IS_DEFINED(properties.reported.connectivity)");
    verified("SELECT COUNT() AS n FROM devices");
    verified("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'x'");
    verified("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'x' AND devices.jobs.status = 'completed'");
    verified("SELECT DeviceId, LastActivityTime FROM devices");
    verified("SELECT * FROM devices.modules WHERE ModuleId = 'x'");
}

#[test]
#[rustfmt::skip]
fn query_conditions() {
    condition_parses_to("DeviceId in ['dev1']", "DeviceId IN ['dev1']");
    condition_parses_to("deviceId = 'MyDevice1'", "deviceId = 'MyDevice1'");
    condition_parses_to("deviceId IN ['MyDevice1','MyDevice2']", "deviceId IN ['MyDevice1', 'MyDevice2']");
    condition_parses_to("*", "*");
    condition_parses_to("  *  ", "*");
    condition_parses_to("IS_DEFINED(DeviceId)", "IS_DEFINED(DeviceId)");
    condition_parses_to("FROM devices.modules WHERE ModuleId = 'x'", "FROM devices.modules WHERE ModuleId = 'x'");
    condition_parses_to("from devices.modules", "FROM devices.modules");
    condition_parses_to("from devices where tags.a = 1", "tags.a = 1");
    condition_parses_to("tags.building = 43 and properties.reported.floor > 2", "tags.building = 43 AND properties.reported.floor > 2");
}

#[test]
#[rustfmt::skip]
fn keywords_are_case_insensitive_and_print_upper_case() {
    parses_to("select top 5 * from DEVICES where a in [1] or not b nin [2]", "SELECT TOP 5 * FROM devices WHERE a IN [1] OR NOT b NIN [2]");
    parses_to("SeLeCt deviceId as Id FrOm devices.JOBS", "SELECT deviceId AS Id FROM devices.jobs");
    parses_to("select * from devices where startswith(deviceId, 'a') and EndsWith(deviceId, \"z\")", "SELECT * FROM devices WHERE STARTSWITH(deviceId, 'a') AND ENDSWITH(deviceId, 'z')");
    parses_to("select count() from devices", "SELECT COUNT() FROM devices");
}

#[test]
#[rustfmt::skip]
fn constants() {
    parses_to("select * from devices where a = TRUE or a = False or a = NULL or a = Undefined", "SELECT * FROM devices WHERE a = true OR a = false OR a = null OR a = undefined");
    parses_to("select * from devices where a = 0x1F or a = 1.5e3 or a = 2.50 or a = 1e20 or a = 0.000001", "SELECT * FROM devices WHERE a = 31 OR a = 1500 OR a = 2.5 OR a = 1e20 OR a = 1e-6");
    parses_to("select * from devices where a = -5 or a = - 5 or a = -0.5 or a IN [-1, [2, 'x'], null]", "SELECT * FROM devices WHERE a = -5 OR a = -5 OR a = -0.5 OR a IN [-1, [2, 'x'], null]");
    parses_to(r#"select * from devices where a = "it's" or a = 'say \"hi\"' or a = 'tab\there\\ \u00e9 \/'"#, r#"SELECT * FROM devices WHERE a = 'it\'s' OR a = 'say "hi"' OR a = 'tab\there\\ é /'"#);
    verified(r"SELECT * FROM devices WHERE a = '\u0001\n\r\b\f'");
    verified("SELECT * FROM devices WHERE a = [] OR a = ''");
}

#[test]
#[rustfmt::skip]
fn escaped_names() {
    verified("SELECT * FROM devices WHERE tags.[[group]] = 'a'");
    verified("SELECT [[from]] AS [[select]] FROM devices");
    parses_to("select * from devices where [[deviceId]] = 'a' and tags.[[my-key]] = 1", "SELECT * FROM devices WHERE deviceId = 'a' AND tags.[[my-key]] = 1");
    verified("SELECT * FROM devices WHERE properties.desired.$version > 2");
}

#[test]
#[rustfmt::skip]
fn precedence_and_parentheses() {
    verified("SELECT * FROM devices WHERE (a = 1 OR b = 2) AND c = 3");
    parses_to("select * from devices where a = 1 or (b = 2 and c = 3)", "SELECT * FROM devices WHERE a = 1 OR b = 2 AND c = 3");
    parses_to("select * from devices where ((a = 1))", "SELECT * FROM devices WHERE a = 1");
    verified("SELECT * FROM devices WHERE NOT (a = 1 AND b = 2)");
    verified("SELECT * FROM devices WHERE NOT a = 1 AND b = 2");
    verified("SELECT * FROM devices WHERE (NOT a) = true");
    parses_to("select * from devices where not not a", "SELECT * FROM devices WHERE NOT (NOT a)");
    verified("SELECT * FROM devices WHERE a + b * c - (d - e) % 2 >= (a + b) * c");
    parses_to("select * from devices where a - - 5 = - a * -b", "SELECT * FROM devices WHERE a - -5 = -a * -b");
    parses_to("select * from devices where --a = -(b + 1)", "SELECT * FROM devices WHERE -(-a) = -(b + 1)");
    parses_to("select * from devices where a <> 1 and b != 2 and c<=3 and d>=4 and e<5 and f>6", "SELECT * FROM devices WHERE a != 1 AND b != 2 AND c <= 3 AND d >= 4 AND e < 5 AND f > 6");
    parses_to("select * from devices where (a = 1 and b = 2) and (c = 3 and d = 4)", "SELECT * FROM devices WHERE a = 1 AND b = 2 AND (c = 3 AND d = 4)");
    verified("SELECT * FROM devices WHERE a = (b = c)");
    parses_to("select * from devices where (a = b) = c", "SELECT * FROM devices WHERE a = b = c");
    verified("SELECT * FROM devices WHERE a IN ['x'] = true");
}

#[test]
#[rustfmt::skip]
fn multi_line_input() {
    parses_to("SELECT deviceId\n  FROM devices\n WHERE status = 'enabled'\n", "SELECT deviceId FROM devices WHERE status = 'enabled'");
}
