//! Direct-method round trip through localhub (being written).
fn main() {}
