//! The full-screen TUI. (Being written.)
