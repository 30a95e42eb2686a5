//! The full-screen TUI: one message loop, a model, `update`, and drawing.

mod access;
pub mod app;
pub mod command;
pub mod fetch;
pub mod form;
pub mod format;
mod forms;
pub mod harness;
pub mod layers;
pub mod list;
pub mod model;
pub mod msg;
pub mod panes;
pub use panes::catalog;
pub mod shell;
pub mod terminal;
#[cfg(test)]
mod update_tests;
pub mod view;
