//! The full-screen TUI: one message loop, a model, `update`, and drawing.

mod access;
pub mod app;
pub mod catalog;
pub mod command;
pub mod fetch;
pub mod form;
mod forms;
pub mod harness;
pub mod model;
pub mod msg;
pub mod panes;
pub mod terminal;
#[cfg(test)]
mod update_tests;
pub mod view;
