//! The golden-path run to retry, kept across restarts: when creating a service fails
//! at a step, its request is written to `golden-retry.json` in the state directory
//! (per user: one entry per name), so a sphere started later offers the retry (the
//! TUI's `retry` command, `sphere service create --retry`). Success clears the entry.
//!
//! The request holds the form's fields only (name, owner, template, ...): nothing
//! secret. The file is small and written whole (a temporary file renamed over it). A
//! file sphere cannot read is an error naming the file, the place and the reason; it is
//! never overwritten (a save sets it aside as `golden-retry.json.bad` first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::domain::golden::ServiceRequest;

/// The file's name in the state directory.
pub const FILE: &str = "golden-retry.json";

/// A service creation that failed at a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCreate {
    pub request: ServiceRequest,
    /// The step that failed (`register`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Why, as the step said it.
    #[serde(default)]
    pub error: String,
    /// When it failed.
    pub at: Timestamp,
}

/// The failed creations of every user of this machine's sphere, by user name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RetryFile {
    #[serde(default)]
    by_user: BTreeMap<String, FailedCreate>,
}

/// Where the failed creations are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryStore {
    file: PathBuf,
}

impl RetryStore {
    /// The store in `state_dir` (`Paths::state_dir`).
    pub fn in_dir(state_dir: &Path) -> RetryStore {
        RetryStore {
            file: state_dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    fn read(&self) -> Result<RetryFile> {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RetryFile::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.file.display()));
            }
        };
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            anyhow::anyhow!(
                "{}: at {}: {} (the golden path's retry is not offered; fix or delete the file)",
                self.file.display(),
                e.path(),
                e.inner()
            )
        })
    }

    fn write(&self, f: &RetryFile) -> Result<()> {
        if let Some(dir) = self.file.parent() {
            crate::config::create_private_dir(dir)?;
        }
        if f.by_user.is_empty() {
            return match std::fs::remove_file(&self.file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove {}", self.file.display()))
                }
                _ => Ok(()),
            };
        }
        let tmp = self.file.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(f)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.file)
            .with_context(|| format!("cannot write {}", self.file.display()))
    }

    /// `user`'s failed creation, if any.
    pub fn load(&self, user: &str) -> Result<Option<FailedCreate>> {
        Ok(self.read()?.by_user.remove(user))
    }

    /// Keep `failed` as `user`'s creation to retry (replacing an earlier one). A file
    /// that cannot be read is set aside (`.bad`), not lost.
    pub fn save(&self, user: &str, failed: &FailedCreate) -> Result<()> {
        let mut f = match self.read() {
            Ok(f) => f,
            Err(_) if self.file.exists() => {
                let aside = self.file.with_extension("json.bad");
                std::fs::rename(&self.file, &aside).with_context(|| {
                    format!(
                        "cannot set {} aside as {}",
                        self.file.display(),
                        aside.display()
                    )
                })?;
                RetryFile::default()
            }
            Err(e) => return Err(e),
        };
        f.by_user.insert(user.to_string(), failed.clone());
        self.write(&f)
    }

    /// Forget `user`'s failed creation (it succeeded, or was given up).
    pub fn clear(&self, user: &str) -> Result<()> {
        let mut f = self.read()?;
        if f.by_user.remove(user).is_some() {
            self.write(&f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str) -> ServiceRequest {
        ServiceRequest {
            name: name.to_string(),
            description: "Scores payments".to_string(),
            owner: "payments".to_string(),
            template: "rust-service".to_string(),
            database: None,
            cache: true,
            replicas: 2,
            system: None,
            org: None,
        }
    }

    fn failed(name: &str) -> FailedCreate {
        FailedCreate {
            request: request(name),
            step: Some("register".to_string()),
            error: "injected failure of register".to_string(),
            at: 1_700_000_000,
        }
    }

    #[test]
    fn kept_per_user_until_cleared_and_gone_with_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = RetryStore::in_dir(&dir.path().join("state"));
        assert_eq!(store.load("you").unwrap(), None);
        store.save("you", &failed("fraud-scorer")).unwrap();
        store.save("amara", &failed("ledger-2")).unwrap();
        // A second failure of the same user replaces the first.
        store.save("you", &failed("fraud-scorer-2")).unwrap();
        // Another process (a restart) reads it.
        let again = RetryStore::in_dir(&dir.path().join("state"));
        assert_eq!(again.load("you").unwrap(), Some(failed("fraud-scorer-2")));
        assert_eq!(again.load("amara").unwrap(), Some(failed("ledger-2")));
        again.clear("you").unwrap();
        assert_eq!(again.load("you").unwrap(), None);
        assert!(again.load("amara").unwrap().is_some(), "only that user's");
        again.clear("amara").unwrap();
        assert!(!store.path().exists(), "no file once nothing is kept");
        // Clearing what is not there is fine.
        again.clear("you").unwrap();
    }

    #[test]
    fn the_file_holds_the_form_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = RetryStore::in_dir(dir.path());
        store.save("you", &failed("fraud-scorer")).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(store.path()).unwrap()).unwrap();
        let entry = &v["by_user"]["you"];
        let mut keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["at", "error", "request", "step"]);
        let mut fields: Vec<&String> = entry["request"].as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "cache",
                "database",
                "description",
                "name",
                "owner",
                "replicas",
                "system",
                "template"
            ]
        );
    }

    #[test]
    fn a_bad_file_is_named_with_the_place_and_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = RetryStore::in_dir(dir.path());
        let bad = r#"{"by_user": {"you": {"request": {"name": 7}}}}"#;
        std::fs::write(store.path(), bad).unwrap();
        let err = store.load("you").unwrap_err().to_string();
        assert!(err.contains(FILE), "{err}");
        assert!(err.contains("by_user.you.request.name"), "{err}");
        assert!(err.contains("expected a string"), "{err}");
        store.save("you", &failed("fraud-scorer")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("golden-retry.json.bad")).unwrap(),
            bad
        );
        assert_eq!(store.load("you").unwrap(), Some(failed("fraud-scorer")));
    }
}
