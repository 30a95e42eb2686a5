//! A secret value in memory. It never prints: `Debug` and `Display` show `***`, it is
//! not `Serialize` (a struct holding one masks it with [`masked`]), and the value leaves
//! it only through [`SecretValue::expose`].

use std::fmt;

/// A secret value. Prints as `***`; read it with [`SecretValue::expose`] only where the
/// value must go (a provider call, `sphere secret reveal`'s stdout).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> SecretValue {
        SecretValue(value.into())
    }

    /// The value itself. Never log, print, snapshot or serialise what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The secrets listed across regions, beside the regions that could not be read (down,
/// too slow, refused): one region's failure never hides the others' secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretListing {
    pub secrets: Vec<super::SecretMeta>,
    /// The regions whose secrets are missing from `secrets`, each with why.
    pub failed: Vec<RegionFailure>,
}

/// One region that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegionFailure {
    /// The region as the panes name it.
    pub region: String,
    /// What failed, naming the region (never a value).
    pub error: String,
}

/// `#[serde(serialize_with = "masked")]`: a field holding a secret serialises as `"***"`.
pub fn masked<S: serde::Serializer>(_: &SecretValue, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let v = SecretValue::new("hunter2");
        assert_eq!(format!("{v}"), "***");
        assert_eq!(format!("{v:?}"), "***");
        assert_eq!(format!("{:?}", Some(&v)), "Some(***)");
        assert_eq!(v.expose(), "hunter2");
        #[derive(serde::Serialize)]
        struct Holder {
            #[serde(serialize_with = "masked")]
            v: SecretValue,
        }
        let json = serde_json::to_string(&Holder { v }).expect("json");
        assert_eq!(json, r#"{"v":"***"}"#);
    }
}
