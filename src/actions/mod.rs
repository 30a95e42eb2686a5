//! Every mutation, and the one dispatcher they pass through. (Being written.)
