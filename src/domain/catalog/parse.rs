//! Backstage descriptor parsing. (Being written.)
