//! Loading descriptor files and following Locations. (Being written.)
