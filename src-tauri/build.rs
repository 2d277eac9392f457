//! Tauri build script. The manifest sits at the top level (the Tauri CLI wants it beside
//! tauri.conf.json) while the app lives in src-tauri/, so capabilities and the app's command
//! permissions are pointed at src-tauri/ explicitly.

fn main() {
    // tauri-build reads these folders; rebuild when a capability or permission changes, not
    // only when tauri.conf.json does.
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=src-tauri/permissions");
    println!("cargo:rerun-if-changed=tauri.conf.json");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(
                tauri_build::AppManifest::new()
                    .permissions_path_pattern("./src-tauri/permissions/**/*"),
            ),
    )
    .expect("tauri build script failed");
}
