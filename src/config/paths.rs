//! Where sphere's files live.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

/// The directories sphere reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `config.toml`, `keymap.toml`, `themes/`. `SPHERE_CONFIG_DIR` overrides.
    pub config_dir: PathBuf,
    /// Data sphere keeps (the audit spool, caches). `SPHERE_DATA_DIR` overrides.
    pub data_dir: PathBuf,
    /// Logs and other state. `SPHERE_STATE_DIR` overrides; the data dir where the platform has
    /// no state dir (macOS, Windows).
    pub state_dir: PathBuf,
    /// What sphere remembers to ask less (GitHub's answers, the discovered catalog): safe
    /// to delete. `SPHERE_CACHE_DIR` overrides.
    pub cache_dir: PathBuf,
}

impl Paths {
    /// The platform's directories for sphere (`directories::ProjectDirs`), with the
    /// `SPHERE_CONFIG_DIR`, `SPHERE_DATA_DIR` and `SPHERE_STATE_DIR` overrides.
    pub fn discover() -> anyhow::Result<Paths> {
        Self::discover_with(|name| std::env::var_os(name))
    }

    /// [`Paths::discover`] with the environment passed in (for tests).
    pub fn discover_with(env: impl Fn(&str) -> Option<OsString>) -> anyhow::Result<Paths> {
        let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let project = directories::ProjectDirs::from("dev", "sphere", "sphere");
        let no_home = || {
            anyhow!(
                "cannot find a home directory for sphere's files; \
                 set SPHERE_CONFIG_DIR and SPHERE_DATA_DIR"
            )
        };
        let config_dir = match var("SPHERE_CONFIG_DIR") {
            Some(dir) => dir,
            None => project
                .as_ref()
                .map(|p| p.config_dir().to_path_buf())
                .ok_or_else(no_home)?,
        };
        let data_dir = match var("SPHERE_DATA_DIR") {
            Some(dir) => dir,
            None => project
                .as_ref()
                .map(|p| p.data_dir().to_path_buf())
                .ok_or_else(no_home)?,
        };
        let state_dir = var("SPHERE_STATE_DIR")
            .or_else(|| {
                project
                    .as_ref()
                    .and_then(|p| p.state_dir().map(Path::to_path_buf))
            })
            .unwrap_or_else(|| data_dir.clone());
        let cache_dir = var("SPHERE_CACHE_DIR")
            .or_else(|| project.as_ref().map(|p| p.cache_dir().to_path_buf()))
            .unwrap_or_else(|| data_dir.join("cache"));
        Ok(Paths {
            config_dir,
            data_dir,
            state_dir,
            cache_dir,
        })
    }

    /// `config/`, `data/` and `state/` under `root` (for tests and sandboxes).
    pub fn in_dir(root: impl AsRef<Path>) -> Paths {
        let root = root.as_ref();
        Paths {
            config_dir: root.join("config"),
            data_dir: root.join("data"),
            state_dir: root.join("state"),
            cache_dir: root.join("cache"),
        }
    }

    /// The default `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// The user's keymap, layered over the embedded default.
    pub fn keymap_file(&self) -> PathBuf {
        self.config_dir.join("keymap.toml")
    }

    /// The directory of user themes (`<name>.toml`).
    pub fn themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }

    /// The log file: `state_dir/sphere.log`.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("sphere.log")
    }

    /// Creates the data and state directories if they are missing, private to the user
    /// (0700; see [`create_private_dir`]).
    pub fn ensure_dirs(&self) -> anyhow::Result<()> {
        for dir in [&self.data_dir, &self.state_dir] {
            create_private_dir(dir)?;
        }
        Ok(())
    }
}

/// Create `dir` (and its missing parents) readable by the user only (0700). An
/// existing directory of the user's that others can read is made private too, unless it
/// is shared on purpose (sticky, like `/tmp`) or belongs to someone else.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let meta =
            std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let mode = meta.mode();
        if meta.uid() == uid && mode & 0o077 != 0 && mode & 0o1000 == 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private (0700)", dir.display()))?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

/// Open `file` for appending, creating it readable by the user only (0600); an
/// existing file is made private too.
pub fn open_private_append(file: &Path) -> anyhow::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let f = o
        .open(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = f
            .metadata()
            .with_context(|| format!("cannot read {}", file.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private (0600)", file.display()))?;
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_win_and_state_falls_back_to_data() {
        let paths = Paths::discover_with(|name| match name {
            "SPHERE_CONFIG_DIR" => Some("/c".into()),
            "SPHERE_DATA_DIR" => Some("/d".into()),
            "SPHERE_STATE_DIR" => Some("/s".into()),
            _ => None,
        })
        .expect("all overridden");
        assert_eq!(paths.config_dir, PathBuf::from("/c"));
        assert_eq!(paths.data_dir, PathBuf::from("/d"));
        assert_eq!(paths.log_file(), PathBuf::from("/s/sphere.log"));
    }

    #[test]
    fn empty_overrides_are_ignored() {
        // An empty override is no directory: the platform's is used, or, with no home
        // directory, the error asks for the overrides.
        match Paths::discover_with(|name| match name {
            "SPHERE_CONFIG_DIR" => Some("".into()),
            _ => None,
        }) {
            Ok(paths) => assert!(!paths.config_dir.as_os_str().is_empty()),
            Err(e) => assert!(e.to_string().contains("set SPHERE_CONFIG_DIR"), "{e:#}"),
        }
    }

    #[test]
    fn in_dir_uses_subdirectories() {
        let paths = Paths::in_dir("/r");
        assert_eq!(paths.config_file(), PathBuf::from("/r/config/config.toml"));
        assert_eq!(paths.keymap_file(), PathBuf::from("/r/config/keymap.toml"));
        assert_eq!(paths.themes_dir(), PathBuf::from("/r/config/themes"));
        assert_eq!(paths.log_file(), PathBuf::from("/r/state/sphere.log"));
    }
}
