//! The embedded demo platform. (Being written.)
