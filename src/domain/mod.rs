//! Pure types and logic: no I/O, no terminal. Most tests live here.

pub mod access;
pub mod audit;
pub mod catalog;
pub mod drift;
pub mod environment;
pub mod flags;
pub mod golden;
pub mod lifecycle;
pub mod links;
pub mod matrix;
pub mod name;
pub mod platform;
pub mod pod;
pub mod problems;
pub mod score;
pub mod secret;
pub mod service;
pub mod text;

pub use name::{Interner, Name, sharing_names};
pub use platform::*;
pub use secret::{RegionFailure, SecretListing, SecretValue};
