//! config.toml, paths, themes and keymaps. (Being written.)
