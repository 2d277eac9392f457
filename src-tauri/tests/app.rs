//! The app's wiring on Tauri's mock runtime: commands are registered, answer, and emit the
//! events the UI renders. No webview; the real window is covered by tests/e2e.

use std::sync::mpsc;
use std::time::Duration;

use tauri::Listener;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;

fn app() -> (
    tauri::App<tauri::test::MockRuntime>,
    tauri::WebviewWindow<tauri::test::MockRuntime>,
) {
    let app = lockstep_lib::builder(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("app builds on the mock runtime");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    (app, window)
}

fn invoke(
    window: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
) -> Result<serde_json::Value, serde_json::Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| {
        body.deserialize::<serde_json::Value>()
            .expect("json answer")
    })
}

#[test]
fn toggling_the_lock_emits_the_new_state() {
    let (app, window) = app();
    let (tx, rx) = mpsc::channel();
    app.listen("door-lock-changed", move |event| {
        let _ = tx.send(event.payload().to_owned());
    });

    assert_eq!(
        invoke(&window, "door_lock_state").expect("state"),
        serde_json::json!({"locked": false, "revision": 0})
    );

    invoke(&window, "toggle_door_lock").expect("toggle");
    let payload = rx.recv_timeout(Duration::from_secs(5)).expect("event");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&payload).expect("json"),
        serde_json::json!({"locked": true, "revision": 1})
    );

    invoke(&window, "toggle_door_lock").expect("toggle back");
    let payload = rx.recv_timeout(Duration::from_secs(5)).expect("event");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&payload).expect("json"),
        serde_json::json!({"locked": false, "revision": 2})
    );
    assert_eq!(
        invoke(&window, "door_lock_state").expect("state"),
        serde_json::json!({"locked": false, "revision": 2})
    );
}

#[test]
fn unknown_commands_are_refused() {
    let (_app, window) = app();
    assert!(invoke(&window, "no_such_command").is_err());
}
