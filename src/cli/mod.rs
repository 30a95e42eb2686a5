//! The headless CLI. (Being written.)
