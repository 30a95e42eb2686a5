//! The panes, one file each: its state (or the model's part of it), its rows, its
//! commands and its drawing.

pub mod audit;
pub mod catalog;
pub mod flags;
pub mod logs;
pub mod matrix;
pub mod pod;
pub mod pods;
pub mod problems;
pub mod secrets;
pub mod service;

pub use super::format::*;
pub use audit::draw_audit;
pub use flags::draw_flags;
pub use matrix::draw_matrix;
pub use pods::draw_pods;
pub use secrets::draw_secrets;
