//! The full-screen TUI.

pub mod catalog;
pub mod terminal;
