//! Entity references in short and full forms. (Being written.)
use super::model::{EntityRef, Kind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid entity reference {input:?}: {reason}")]
pub struct RefError {
    pub input: String,
    pub reason: String,
}

/// Parse `name`, `kind:name`, `namespace/name` or `kind:namespace/name`.
pub fn parse_ref(
    s: &str,
    default_kind: Option<Kind>,
    default_namespace: &str,
) -> Result<EntityRef, RefError> {
    let err = |reason: &str| RefError {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let (kind, rest) = match s.split_once(':') {
        Some((k, r)) => (Kind::parse(k), r),
        None => (default_kind.ok_or_else(|| err("no kind given"))?, s),
    };
    let (ns, name) = match rest.split_once('/') {
        Some((n, m)) => (n, m),
        None => (default_namespace, rest),
    };
    Ok(EntityRef::new(kind, ns, name))
}
