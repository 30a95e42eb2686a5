//! Capability C2: the catalog, loaded from Backstage descriptor files and Port-style JSON.

pub mod load;
pub mod model;
pub mod parse;
pub mod port;
pub mod refs;
pub mod resolve;

pub use model::*;
