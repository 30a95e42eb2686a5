//! The catalog's row model: one service with its live status. (Being written.)
