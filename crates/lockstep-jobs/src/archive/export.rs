//! Exports of a job's device results: CSV (RFC 4180: comma-separated, CRLF line ends,
//! fields with a comma, quote, CR or LF quoted, quotes doubled) and JSON (an array of the
//! rows as the UI sees them), written a page at a time to any [`Write`].

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
        write_csv_line(out, CSV_HEADER.iter().map(|h| Some(*h)))?;
        self.for_each_result(profile_id, job_id, status, |row| {
            let method_status = row.method_status.map(|s| s.to_string());
            write_csv_line(
                out,
                [
                    Some(row.device_id.as_str()),
                    Some(row.status.as_str()),
                    row.start_time.as_deref(),
                    row.end_time.as_deref(),
                    method_status.as_deref(),
                    row.method_payload.as_deref(),
                    row.error_code.as_deref(),
                    row.error_description.as_deref(),
                    row.last_updated.as_deref(),
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
    fields: impl Iterator<Item = Option<&'a str>>,
) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&csv_field(field.unwrap_or("")));
    }
    line.push_str("\r\n");
    out.write_all(line.as_bytes())
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
