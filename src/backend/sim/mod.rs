//! The embedded demo platform. (Being written.)

pub mod assets;
