//! Evaluation over twin and device-job documents.

use iothub_query::{From, parse_query};
use serde_json::{Value, json};

use crate::{condition, query};

fn twins() -> Vec<Value> {
    vec![
        json!({"deviceId": "dev1", "status": "enabled", "lastActivityTime": "2024-05-01T12:35:00Z",
               "tags": {"building": 43, "location": {"region": "US"}, "group": "a"},
               "properties": {"desired": {"$version": 3},
                              "reported": {"connectivity": "wifi", "telemetryConfig": {"sendFrequencyInSecs": 60}}}}),
        json!({"deviceId": "dev2", "status": "disabled", "tags": {"building": 44, "location": {"region": "EU"}},
               "properties": {"desired": {}, "reported": {"connectivity": "cellular", "x": null}}}),
        json!({"deviceId": "DEV1", "status": "enabled", "tags": {},
               "properties": {"desired": {}, "reported": {}}}),
    ]
}

/// The device ids a query's filter keeps.
fn ids(text: &str) -> Vec<String> {
    let q = query(text);
    twins()
        .iter()
        .filter(|t| q.matches(t))
        .map(|t| t["deviceId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The device ids a queryCondition keeps.
fn cond_ids(text: &str) -> Vec<String> {
    let c = condition(text);
    twins()
        .iter()
        .filter(|t| c.matches(t))
        .map(|t| t["deviceId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn filters() {
    assert_eq!(ids("SELECT * FROM devices"), ["dev1", "dev2", "DEV1"]);
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building = 43"),
        ["dev1"]
    );
    assert_eq!(
        ids(
            "SELECT * FROM devices WHERE tags.location.region = 'US' AND properties.reported.telemetryConfig.sendFrequencyInSecs >= 60"
        ),
        ["dev1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired','wifi']"),
        ["dev1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE properties.reported.connectivity NIN ['wired','wifi']"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE is_defined(properties.reported.connectivity)"),
        ["dev1", "dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE NOT is_defined(properties.reported.connectivity)"),
        ["DEV1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building > 43 OR status = 'enabled'"),
        ["dev1", "dev2", "DEV1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building + 1 = 45"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building % 2 = 0 AND tags.building / 4 = 11"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building = 0x2B"),
        ["dev1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE startswith(deviceId, 'dev') AND endswith(deviceId, '2')"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE startswith(deviceId, 'DEV')"),
        ["DEV1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.[[group]] = 'a'"),
        ["dev1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE properties.desired.$version >= 3"),
        ["dev1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE devices.deviceId = 'dev2'"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE deviceId > 'dev1'"),
        ["dev2"]
    );
}

#[test]
fn names_ignore_case_values_do_not() {
    assert_eq!(cond_ids("DeviceId in ['dev1']"), ["dev1"]);
    assert_eq!(cond_ids("deviceId = 'DEV1'"), ["DEV1"]);
    assert_eq!(cond_ids("DEVICEID = 'dev1'"), ["dev1"]);
    assert_eq!(cond_ids("TAGS.Location.REGION = 'US'"), ["dev1"]);
    assert_eq!(
        cond_ids("tags.location.region = 'us'"),
        Vec::<String>::new()
    );
    assert_eq!(cond_ids("status = 'Enabled'"), Vec::<String>::new());
}

#[test]
fn exact_case_key_wins() {
    let doc = json!({"tags": {"Mode": "upper", "mode": "lower"}});
    let c = condition("tags.mode = 'lower'");
    assert!(c.matches(&doc));
    let c = condition("tags.Mode = 'upper'");
    assert!(c.matches(&doc));
    let c = condition("tags.MODE = 'upper'");
    assert!(
        c.matches(&doc),
        "falls back to the first case-insensitive match"
    );
}

#[test]
fn undefined_null_and_mixed_types() {
    assert_eq!(
        ids("SELECT * FROM devices WHERE properties.reported.x = null"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE properties.reported.connectivity != null"),
        ["dev1", "dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE properties.reported.x IN [null]"),
        ["dev2"]
    );
    // Missing properties are undefined: neither = nor != holds, and NOT keeps it undefined.
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building != 43"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE NOT (tags.building = 43)"),
        ["dev2"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.nope = undefined"),
        Vec::<String>::new()
    );
    // Mixed types compare as undefined.
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building = '43'"),
        Vec::<String>::new()
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building != '43'"),
        Vec::<String>::new()
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building > 'a'"),
        Vec::<String>::new()
    );
    // Non-boolean filters keep nothing.
    assert_eq!(
        ids("SELECT * FROM devices WHERE deviceId"),
        Vec::<String>::new()
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags"),
        Vec::<String>::new()
    );
    assert_eq!(ids("SELECT * FROM devices WHERE 1"), Vec::<String>::new());
    // OR with undefined is true if the other side is; AND with false is false.
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.nope = 1 OR deviceId = 'DEV1'"),
        ["DEV1"]
    );
    assert_eq!(
        ids("SELECT * FROM devices WHERE NOT (tags.nope = 1 AND deviceId = 'DEV1')"),
        ["dev1", "dev2"]
    );
    // Division by zero is undefined.
    assert_eq!(
        ids("SELECT * FROM devices WHERE tags.building / 0 = 1 OR NOT (tags.building / 0 = 1)"),
        Vec::<String>::new()
    );
}

#[test]
fn evaluate_exposes_values() {
    let q = query("SELECT * FROM devices WHERE tags.building * 2 - 0.5");
    let doc = &twins()[0];
    let value = q
        .where_
        .as_ref()
        .and_then(|w| w.evaluate(doc, From::Devices));
    assert_eq!(value, Some(json!(85.5)));
    let q = query("SELECT * FROM devices WHERE tags.building * 2");
    assert_eq!(
        q.where_
            .as_ref()
            .and_then(|w| w.evaluate(doc, From::Devices)),
        Some(json!(86))
    );
    let q = query("SELECT * FROM devices WHERE tags.nope");
    assert_eq!(
        q.where_
            .as_ref()
            .and_then(|w| w.evaluate(doc, From::Devices)),
        None
    );
}

#[test]
fn star_condition_matches_everything() {
    let c = condition("*");
    assert!(c.is_all());
    assert!(twins().iter().all(|t| c.matches(t)));
    assert!(c.matches(&json!({})));
    assert!(!condition("deviceId = 'x'").is_all());
}

#[test]
fn projections_use_document_casing() {
    let docs = twins();
    let q = query(
        "SELECT DeviceId, LastActivityTime, TAGS.location.Region AS r FROM devices WHERE tags.building = 43",
    );
    assert_eq!(
        q.run(&docs),
        vec![json!({"deviceId": "dev1", "lastActivityTime": "2024-05-01T12:35:00Z", "r": "US"})]
    );
    // Missing properties are left out of the row.
    let q = query("SELECT deviceId, lastActivityTime FROM devices WHERE deviceId = 'dev2'");
    assert_eq!(q.run(&docs), vec![json!({"deviceId": "dev2"})]);
    let q = query("SELECT properties.reported FROM devices WHERE deviceId = 'DEV1'");
    assert_eq!(q.run(&docs), vec![json!({"reported": {}})]);
    let q = query("SELECT * FROM devices WHERE deviceId = 'DEV1'");
    assert_eq!(q.run(&docs), vec![docs[2].clone()]);
}

#[test]
fn top_and_count() {
    let docs = twins();
    let q = query("SELECT TOP 2 deviceId FROM devices");
    assert_eq!(q.top(), Some(2));
    assert_eq!(
        q.run(&docs),
        vec![json!({"deviceId": "dev1"}), json!({"deviceId": "dev2"})]
    );
    assert_eq!(
        query("SELECT TOP 0 * FROM devices").run(&docs),
        Vec::<Value>::new()
    );

    let q = query("SELECT COUNT() AS n FROM devices");
    assert!(q.is_count());
    assert_eq!(q.run(&docs), vec![json!({"n": 3})]);
    let q = query("SELECT COUNT() FROM devices WHERE status = 'enabled'");
    assert_eq!(q.run(&docs), vec![json!({"$1": 2})]);
    let q = query("SELECT COUNT() AS n FROM devices WHERE status = 'nope'");
    assert_eq!(q.run(&docs), vec![json!({"n": 0})]);
    assert_eq!(q.run(std::iter::empty()), vec![json!({"n": 0})]);
    assert_eq!(q.project(&docs[0]), json!({"n": 1}));
    assert!(!query("SELECT * FROM devices").is_count());
}

fn device_jobs() -> Vec<Value> {
    vec![
        json!({"deviceId": "dev1", "jobId": "x", "jobType": "scheduleDeviceMethod", "status": "completed",
               "outcome": {"deviceMethodResponse": {"status": 200, "payload": null}}}),
        json!({"deviceId": "dev2", "jobId": "x", "jobType": "scheduleDeviceMethod", "status": "failed",
               "error": {"code": "DeviceNotOnline", "description": "Timed out waiting for device to connect"}}),
        json!({"deviceId": "dev1", "jobId": "y", "jobType": "scheduleUpdateTwin", "status": "completed"}),
    ]
}

#[test]
fn device_jobs_queries() {
    let docs = device_jobs();
    let q = query(
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'x' AND devices.jobs.status = 'completed'",
    );
    assert_eq!(q.run(&docs), vec![docs[0].clone()]);
    let q = query("SELECT * FROM devices.jobs WHERE jobId = 'x'");
    assert_eq!(q.run(&docs).len(), 2);
    let q =
        query("SELECT * FROM devices.jobs WHERE DEVICES.JOBS.JOBID = 'x' AND status = 'Completed'");
    assert_eq!(
        q.run(&docs),
        Vec::<Value>::new(),
        "status values are case-sensitive"
    );
    let q = query(
        "SELECT devices.jobs.deviceId, devices.jobs.error.code FROM devices.jobs WHERE devices.jobs.status = 'failed'",
    );
    assert_eq!(
        q.run(&docs),
        vec![json!({"deviceId": "dev2", "code": "DeviceNotOnline"})]
    );
    let q = query(
        "SELECT COUNT() AS n FROM devices.jobs WHERE devices.jobs.jobType = 'scheduleDeviceMethod'",
    );
    assert_eq!(q.run(&docs), vec![json!({"n": 2})]);
}

#[test]
fn module_conditions() {
    let c = condition("FROM devices.modules WHERE ModuleId = 'm1'");
    assert_eq!(c.from, From::DevicesModules);
    assert!(c.matches(&json!({"deviceId": "d", "moduleId": "m1"})));
    assert!(c.matches(&json!({"deviceId": "d", "moduleId": "m1"})));
    assert!(!c.matches(&json!({"deviceId": "d", "moduleId": "M1"})));
    let c = condition("FROM devices.modules WHERE devices.modules.moduleId = 'm1'");
    assert!(c.matches(&json!({"deviceId": "d", "moduleId": "m1"})));
}

#[test]
fn from_str() {
    let q: iothub_query::Query = "select * from devices"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.from, From::Devices);
    assert!(parse_query("select").is_err());
}
