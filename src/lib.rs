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
pub mod tui;
