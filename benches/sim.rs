//! `cargo bench --bench sim`: the demo platform at scale. (Being written.)
fn main() {}
