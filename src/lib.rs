//! sphere: an internal developer platform that lives in the terminal.
//!
//! `domain` is pure logic, `backend` the shared client over every provider, `actions`
//! the mutations and their dispatcher, `tui` and `cli` the two faces, `config` the
//! files that shape them.

pub mod actions;
pub mod agent;
pub mod backend;
pub mod cli;
pub mod config;
pub mod domain;
// TODO: tui is being restructured; the lints of Cargo.toml apply to it after that work.
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_lossless,
    clippy::stable_sort_primitive,
    clippy::uninlined_format_args,
    clippy::unnested_or_patterns
)]
pub mod tui;
