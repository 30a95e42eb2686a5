//! Relation resolution. (Being written.)
