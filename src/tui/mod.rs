//! The full-screen TUI: one message loop, a model, `update`, and drawing.

pub mod app;
pub mod catalog;
pub mod harness;
pub mod model;
pub mod terminal;
pub mod view;
