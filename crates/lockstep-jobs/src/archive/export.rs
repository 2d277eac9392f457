//! Exports of a job's device results: CSV (RFC 4180: comma-separated, CRLF line ends,
//! fields with a comma, quote, CR or LF quoted, quotes doubled) and JSON (an array of the
//! rows as the UI sees them), written a page at a time to any [`Write`].
//!
//! Device ids, payloads and error texts come from devices and hubs, so a CSV cell could
//! start with `=`, `+`, `-` or `@` and be run as a formula when the file is opened in a
//! spreadsheet. Such cells get a leading `'` ([`spreadsheet_safe`]); JSON numbers such as
//! `-1` are left as they are. The JSON export is always exact.

use std::borrow::Cow;
use std::io::Write;

use super::{Archive, ArchiveError};
use crate::summary::DeviceResult;

/// The CSV header, one column per [`DeviceResult`] field.
pub const CSV_HEADER: [&str; 9] = [
    "deviceId",
    "status",
    "startTimeUtc",
    "endTimeUtc",
    "methodStatus",
    "methodPayload",
    "errorCode",
    "errorDescription",
    "lastUpdatedUtc",
];

impl Archive {
    /// Writes the device results of `job_id` (only those with `status`, if given) to `out`
    /// as CSV with a header line. Returns the number of rows.
    pub fn export_csv(
        &self,
        profile_id: &str,
        job_id: &str,
        status: Option<&str>,
        out: &mut impl Write,
    ) -> Result<usize, ArchiveError> {
        write_csv_line(out, CSV_HEADER.iter().map(|h| Some(Cow::Borrowed(*h))))?;
        self.for_each_result(profile_id, job_id, status, |row| {
            let method_status = row.method_status.map(|s| s.to_string());
            write_csv_line(
                out,
                [
                    Some(spreadsheet_safe(&row.device_id)),
                    Some(Cow::Borrowed(row.status.as_str())),
                    row.start_time.as_deref().map(Cow::Borrowed),
                    row.end_time.as_deref().map(Cow::Borrowed),
                    method_status.as_deref().map(Cow::Borrowed),
                    row.method_payload.as_deref().map(spreadsheet_safe),
                    row.error_code.as_deref().map(spreadsheet_safe),
                    row.error_description.as_deref().map(spreadsheet_safe),
                    row.last_updated.as_deref().map(Cow::Borrowed),
                ]
                .into_iter(),
            )?;
            Ok(())
        })
    }

    /// Writes the device results of `job_id` (only those with `status`, if given) to `out`
    /// as a JSON array of [`DeviceResult`] objects. Returns the number of rows.
    pub fn export_json(
        &self,
        profile_id: &str,
        job_id: &str,
        status: Option<&str>,
        out: &mut impl Write,
    ) -> Result<usize, ArchiveError> {
        out.write_all(b"[")?;
        let mut first = true;
        let count = self.for_each_result(profile_id, job_id, status, |row: &DeviceResult| {
            out.write_all(if first { b"\n  " } else { b",\n  " })?;
            first = false;
            serde_json::to_writer(&mut *out, row)?;
            Ok(())
        })?;
        out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
        Ok(count)
    }
}

fn write_csv_line<'a>(
    out: &mut impl Write,
    fields: impl Iterator<Item = Option<Cow<'a, str>>>,
) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&csv_field(field.as_deref().unwrap_or("")));
    }
    line.push_str("\r\n");
    out.write_all(line.as_bytes())
}

/// `text` with a leading `'` when a spreadsheet would read it as a formula (it starts with
/// `=`, `+`, `-`, `@`, a tab or a CR) and it is not a plain JSON number like `-1`.
pub fn spreadsheet_safe(text: &str) -> Cow<'_, str> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && text.parse::<serde_json::Number>().is_err() {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One CSV field: quoted (quotes doubled) when it holds a comma, quote, CR or LF, or starts
/// or ends with a space that a reader would otherwise trim.
pub fn csv_field(text: &str) -> String {
    let needs_quotes =
        text.contains([',', '"', '\r', '\n']) || text.starts_with(' ') || text.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use iothub::model::{CloudToDeviceMethodResult, DeviceJob, DeviceJobOutcome, DeviceJobStatus};
    use serde_json::{Value, json};

    use super::super::device_results::tests::archive_with_job;
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_get_a_leading_quote() {
        let table = [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1+1", "'+1+1"),
            ("-2+3+cmd|x", "'-2+3+cmd|x"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("-1", "-1"),
            ("-1.5e3", "-1.5e3"),
            ("lock-1", "lock-1"),
            (r#"{"a":1}"#, r#"{"a":1}"#),
            ("", ""),
        ];
        for (text, safe) in table {
            assert_eq!(spreadsheet_safe(text), safe, "{text:?}");
        }
    }

    #[test]
    fn csv_fields_are_escaped() {
        let table = [
            ("plain", "plain"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\r", "\"cr\r\""),
            (" padded", "\" padded\""),
            (
                r#"{"locked":true,"by":"x"}"#,
                r#""{""locked"":true,""by"":""x""}""#,
            ),
        ];
        for (text, field) in table {
            assert_eq!(csv_field(text), field, "{text:?}");
        }
    }

    #[test]
    fn exports_as_csv_and_json() {
        let archive = archive_with_job("j");
        let rows = vec![
            DeviceJob {
                device_id: Some("door-1".into()),
                status: Some(DeviceJobStatus::Completed),
                outcome: Some(DeviceJobOutcome {
                    device_method_response: Some(CloudToDeviceMethodResult {
                        status: Some(200),
                        payload: json!({"locked": true, "note": "a,b"}),
                    }),
                }),
                ..DeviceJob::default()
            },
            DeviceJob {
                device_id: Some("door-2".into()),
                status: Some(DeviceJobStatus::Failed),
                error: Some(iothub::model::DeviceJobError {
                    code: Some("DeviceNotOnline".into()),
                    description: Some("Timed out waiting for device to connect".into()),
                }),
                ..DeviceJob::default()
            },
        ];
        archive
            .replace_device_results("p", "j", &rows)
            .expect("stores");
        let mut csv = Vec::new();
        assert_eq!(
            archive
                .export_csv("p", "j", None, &mut csv)
                .expect("exports"),
            2
        );
        assert_eq!(
            String::from_utf8(csv).expect("utf-8"),
            "deviceId,status,startTimeUtc,endTimeUtc,methodStatus,methodPayload,errorCode,errorDescription,lastUpdatedUtc\r\n\
             door-1,completed,,,200,\"{\"\"locked\"\":true,\"\"note\"\":\"\"a,b\"\"}\",,,\r\n\
             door-2,failed,,,,,DeviceNotOnline,Timed out waiting for device to connect,\r\n"
        );
        let mut out = Vec::new();
        assert_eq!(
            archive
                .export_json("p", "j", Some("failed"), &mut out)
                .expect("exports"),
            1
        );
        let value: Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(value[0]["deviceId"], "door-2");
        assert_eq!(value[0]["errorCode"], "DeviceNotOnline");
        let mut empty = Vec::new();
        archive
            .export_json("p", "none", None, &mut empty)
            .expect("exports");
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).expect("valid JSON"),
            json!([])
        );
    }
}
