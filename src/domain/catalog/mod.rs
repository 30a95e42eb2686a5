//! Capability C2: the catalog, loaded from Backstage descriptor files.

pub mod load;
pub mod model;
pub mod parse;
pub mod refs;
pub mod resolve;

pub use model::*;
