//! The layers over the panes, one file each: help, the palette and its choosers, the
//! prompt and the confirmation. The top one takes each key first (see
//! `Model::run`); a destructive action always passes the confirmation.

pub mod help;
pub mod palette;
pub mod prompt;
