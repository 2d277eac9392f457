//! `localhub method` and `localhub desired`: a device's direct method and desired
//! properties, driven from outside through the running hub's service API (the README's way to
//! toggle the app's door lock).
//!
//! `method_and_desired_reach_a_connected_device`: the `localhub` binary on free ports, one
//! device connected with our device client that answers `lockDoor` 200 and anything else
//! 404; `method` prints the device's status and payload (exit 0 on 2xx, failure otherwise),
//! `desired` delivers the patch with its new version.
//! `bad_input_is_refused_before_any_call`: malformed JSON, a non-object patch, and a data dir
//! where no hub has run, each with a precise message.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use iothub::device::{DeviceClient, DeviceClientOptions, DeviceEvent};
use localhub::server::HubInfo;
use serde_json::json;
use support::{ServerProcess, TestDir};

fn localhub(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_localhub"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("localhub runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_and_desired_reach_a_connected_device() {
    let dir = TestDir::new("cli-outside");
    let _server = ServerProcess::start(dir.path(), &[]);
    let info = HubInfo::read(dir.path())
        .expect("read")
        .expect("localhub.json");
    let added = localhub(dir.path(), &["device", "add", "door-1"]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let connection = text(&added.stdout).trim().to_owned();
    let (client, mut events) = DeviceClient::connect(
        connection.parse().expect("a connection string"),
        DeviceClientOptions {
            port: Some(info.mqtt_port),
            extra_ca_pem: Some(std::fs::read_to_string(&info.ca_certificate).expect("ca")),
            ..DeviceClientOptions::default()
        },
    )
    .await
    .expect("connects");
    let (patches, mut patches_seen) = tokio::sync::mpsc::unbounded_channel();
    let device = client.clone();
    let answering = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                DeviceEvent::MethodRequest(request) => {
                    let (status, body) = if request.name == "lockDoor" {
                        (
                            200,
                            json!({"lockState": "locked", "asked": request.payload}),
                        )
                    } else {
                        (
                            404,
                            json!({"message": format!("no method {}", request.name)}),
                        )
                    };
                    device
                        .respond_to_method(&request.rid, status, body)
                        .await
                        .expect("answers");
                }
                DeviceEvent::DesiredPatch(patch) if !patch.full => {
                    let _ = patches.send(patch);
                }
                _ => {}
            }
        }
    });

    let dir_path = dir.path().to_owned();
    let run = move |args: Vec<&'static str>| {
        let dir = dir_path.clone();
        tokio::task::spawn_blocking(move || localhub(&dir, &args))
    };
    let locked = run(vec!["method", "door-1", "lockDoor", r#"{"lockTime":"1m"}"#])
        .await
        .expect("runs");
    assert!(locked.status.success(), "{}", text(&locked.stderr));
    let out = text(&locked.stdout);
    assert!(out.contains("status: 200"), "{out}");
    assert!(
        out.contains(r#""asked":{"lockTime":"1m"}"#) && out.contains(r#""lockState":"locked""#),
        "{out}"
    );

    let unknown = run(vec!["method", "door-1", "openWindow"])
        .await
        .expect("runs");
    assert!(!unknown.status.success());
    assert!(text(&unknown.stdout).contains("status: 404"));
    assert!(
        text(&unknown.stderr).contains("answered 'openWindow' with status 404"),
        "{}",
        text(&unknown.stderr)
    );

    let offline = run(vec!["method", "nobody", "lockDoor"])
        .await
        .expect("runs");
    assert!(!offline.status.success());
    assert!(
        text(&offline.stderr).contains("'lockDoor' on 'nobody' failed"),
        "{}",
        text(&offline.stderr)
    );

    let patched = run(vec!["desired", "door-1", r#"{"building":43,"floor":3}"#])
        .await
        .expect("runs");
    assert!(patched.status.success(), "{}", text(&patched.stderr));
    let patch = tokio::time::timeout(Duration::from_secs(10), patches_seen.recv())
        .await
        .expect("the patch arrives in time")
        .expect("a patch");
    assert_eq!(patch.patch.get("building"), Some(&json!(43)));
    assert_eq!(patch.patch.get("floor"), Some(&json!(3)));
    assert!(
        text(&patched.stdout).contains(&format!("version {}", patch.version)),
        "{} vs {}",
        text(&patched.stdout),
        patch.version
    );
    for output in [&locked, &unknown, &offline, &patched] {
        let all = text(&output.stdout) + &text(&output.stderr);
        assert!(!all.contains("SharedAccessKey"), "no secret printed: {all}");
    }

    client.shutdown().await;
    answering.await.expect("the device task ends");
}

#[test]
fn bad_input_is_refused_before_any_call() {
    let dir = TestDir::new("cli-outside-bad");
    let bad_json = localhub(
        dir.path(),
        &["method", "door-1", "lockDoor", "{lockTime: 1m}"],
    );
    assert!(!bad_json.status.success());
    assert!(
        text(&bad_json.stderr).contains("the payload is not valid JSON: {lockTime: 1m}"),
        "{}",
        text(&bad_json.stderr)
    );
    let not_object = localhub(dir.path(), &["desired", "door-1", "[1, 2]"]);
    assert!(!not_object.status.success());
    assert!(
        text(&not_object.stderr).contains("the patch must be a JSON object"),
        "{}",
        text(&not_object.stderr)
    );
    let no_hub = localhub(dir.path(), &["method", "door-1", "lockDoor"]);
    assert!(!no_hub.status.success());
    assert!(
        text(&no_hub.stderr).contains("no hub has run in"),
        "{}",
        text(&no_hub.stderr)
    );
}
