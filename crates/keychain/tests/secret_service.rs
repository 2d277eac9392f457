//! The keychain module against a real credential store.
//!
//! `real_keychain_round_trip` needs a running, unlocked Secret Service (or the macOS Keychain,
//! or the Windows Credential Manager), so it is `#[ignore]`d for a bare `cargo test`;
//! `make test` runs it through `tests/bin/with-keyring`, which starts gnome-keyring-daemon inside
//! `dbus-run-session` with throwaway HOME and XDG_RUNTIME_DIR.
//!
//! `open_fails_clearly_without_a_session_bus` needs no keychain: it reruns itself in a child
//! process whose D-Bus address points nowhere.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use lockstep_keychain::{Keychain, KeychainError};

const SERVICE: &str = "dev.lockstep.app.test";

fn unique_account(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("test/{label}/{}-{nanos}", std::process::id())
}

#[test]
#[ignore = "needs a real, unlocked OS keychain: run `make test` (tests/bin/with-keyring)"]
fn real_keychain_round_trip() {
    let keychain = Keychain::open(SERVICE).expect("keychain reachable");
    let account = unique_account("round-trip");
    // Shaped like a real connection string; the key is 32 bytes of test data.
    let secret = "HostName=h.azure-devices.net;SharedAccessKeyName=iothubowner;\
                  SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    assert_eq!(keychain.get(&account).expect("get before set"), None);
    keychain.set(&account, secret).expect("set");
    assert_eq!(
        keychain.get(&account).expect("get").as_deref(),
        Some(secret)
    );

    // A second handle (as after an app restart) sees the same item.
    let reopened = Keychain::open(SERVICE).expect("reopen");
    assert_eq!(
        reopened.get(&account).expect("get").as_deref(),
        Some(secret)
    );

    // Overwrite replaces, it does not add a second item.
    keychain.set(&account, "second value").expect("overwrite");
    assert_eq!(
        keychain.get(&account).expect("get").as_deref(),
        Some("second value")
    );

    assert!(keychain.delete(&account).expect("delete"));
    assert_eq!(keychain.get(&account).expect("get after delete"), None);
    assert!(!keychain.delete(&account).expect("second delete"));
}

#[test]
#[ignore = "needs a real, unlocked OS keychain: run `make test` (tests/bin/with-keyring)"]
fn items_are_scoped_by_service() {
    let account = unique_account("scoped");
    let a = Keychain::open(SERVICE).expect("keychain reachable");
    let b = Keychain::open("dev.lockstep.app.other-test").expect("keychain reachable");
    a.set(&account, "only in a").expect("set");
    assert_eq!(b.get(&account).expect("get"), None);
    assert!(a.delete(&account).expect("delete"));
}

const CHILD_MARKER: &str = "LOCKSTEP_KEYCHAIN_TEST_CHILD";

#[cfg(target_os = "linux")]
#[test]
fn open_fails_clearly_without_a_session_bus() {
    if std::env::var_os(CHILD_MARKER).is_some() {
        let err = Keychain::open(SERVICE).expect_err("no bus, so no keychain");
        let KeychainError::Unavailable { detail, hint } = &err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert!(!detail.is_empty());
        assert!(hint.contains("gnome-keyring"), "{hint}");
        println!("child saw: {err}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([
            "--exact",
            "open_fails_clearly_without_a_session_bus",
            "--nocapture",
        ])
        .env(CHILD_MARKER, "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/lockstep-test-bus",
        )
        .output()
        .expect("rerun the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stdout.contains("child saw: the OS keychain is not available"),
        "{stdout}"
    );
}
