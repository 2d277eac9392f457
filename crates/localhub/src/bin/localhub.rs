//! The `localhub` command (being written).
fn main() {}
