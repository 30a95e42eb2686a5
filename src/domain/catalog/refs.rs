//! Entity references in short and full forms, and Backstage's name rules.
//!
//! A reference is written `[kind:][namespace/]name`. Missing parts come from the caller's
//! defaults (the field being read decides the default kind; the referring entity's
//! namespace is the default namespace).

use super::model::{EntityRef, Kind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid entity reference {input:?}: {reason}")]
pub struct RefError {
    pub input: String,
    pub reason: String,
}

/// Longest name or namespace Backstage accepts.
pub const MAX_NAME_LEN: usize = 63;

/// Parse `name`, `kind:name`, `namespace/name` or `kind:namespace/name`.
///
/// Whitespace around the whole reference is ignored. Empty parts, more than one `:` or
/// `/`, a missing kind without a default, and names or namespaces that break Backstage's
/// rules are rejected.
pub fn parse_ref(
    s: &str,
    default_kind: Option<Kind>,
    default_namespace: &str,
) -> Result<EntityRef, RefError> {
    let err = |reason: String| RefError {
        input: s.to_string(),
        reason,
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err("the reference is empty".into()));
    }
    if t.matches(':').count() > 1 {
        return Err(err("more than one ':'".into()));
    }
    if t.matches('/').count() > 1 {
        return Err(err("more than one '/'".into()));
    }
    let (kind, rest) = match t.split_once(':') {
        Some((k, r)) => {
            let k = k.trim();
            if k.is_empty() {
                return Err(err("the kind before ':' is empty".into()));
            }
            validate_kind(k).map_err(|r| err(format!("kind {k:?} {r}")))?;
            (Kind::parse(k), r)
        }
        None => match default_kind {
            Some(k) => (k, t),
            None => return Err(err("no kind given and no default kind".into())),
        },
    };
    let (namespace, name) = match rest.split_once('/') {
        Some((n, m)) => {
            let n = n.trim();
            if n.is_empty() {
                return Err(err("the namespace before '/' is empty".into()));
            }
            (n, m.trim())
        }
        None => (default_namespace, rest.trim()),
    };
    if name.is_empty() {
        return Err(err("the name is empty".into()));
    }
    // Namespaces compare case-insensitively, so `Default/x` is accepted.
    validate_namespace(&namespace.to_ascii_lowercase())
        .map_err(|r| err(format!("namespace {namespace:?} {r}")))?;
    validate_name(name).map_err(|r| err(format!("name {name:?} {r}")))?;
    Ok(EntityRef::new(kind, namespace, name))
}

/// Parse a reference written in a descriptor the way Backstage's `parseEntityRef` does:
/// the first `:` ends the kind unless a `/` comes before it, the first `/` after that ends
/// the namespace, and the rest is the name. Only empty parts are rejected; a name that
/// breaks the naming rules parses (Backstage accepts it) and can never match an entity,
/// so it ends up a dangling reference.
pub fn parse_descriptor_ref(
    s: &str,
    default_kind: Option<Kind>,
    default_namespace: &str,
) -> Result<EntityRef, RefError> {
    let err = |reason: &str| RefError {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err("the reference is empty"));
    }
    let slash = t.find('/');
    let colon = t.find(':').filter(|&c| slash.is_none_or(|sl| c < sl));
    let kind = colon.map(|c| &t[..c]);
    let ns_start = colon.map_or(0, |c| c + 1);
    let namespace = slash.map(|sl| &t[ns_start..sl]);
    let name = &t[slash.map_or(ns_start, |sl| sl + 1).max(ns_start)..];
    if kind == Some("") || namespace == Some("") || name.is_empty() {
        return Err(err("it is not of the form [<kind>:][<namespace>/]<name>"));
    }
    let kind = match (kind, default_kind) {
        (Some(k), _) => Kind::parse(k),
        (None, Some(k)) => k,
        (None, None) => return Err(err("no kind given and no default kind")),
    };
    Ok(EntityRef::new(
        kind,
        namespace.unwrap_or(default_namespace),
        name,
    ))
}

/// Backstage's DNS label rule (`CommonValidatorFunctions.isValidDnsLabel`): 1 to 63
/// characters, `^[a-z0-9]+(-[a-z0-9]+)*$`. Tags follow it too.
pub fn validate_dns_label(s: &str) -> Result<(), String> {
    validate_namespace(s)
}

/// Backstage's tag rule (`makeValidator`'s `isValidTag`): 1 to 63 characters,
/// `^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$`.
pub fn validate_tag(s: &str) -> Result<(), String> {
    check_len(s)?;
    if let Some(c) = s.chars().find(|c| {
        !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '+' | '#' | '-'))
    }) {
        return Err(format!("contains {}", describe(c)));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("starts or ends with '-'".into());
    }
    if s.contains("--") {
        return Err("contains two '-' in a row".into());
    }
    Ok(())
}

/// Backstage's label and annotation key rule: `[prefix/]name`, the prefix a DNS subdomain
/// (dot-separated DNS labels, at most 253 characters), the name an entity name.
pub fn validate_label_key(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [name] => validate_name(name),
        [prefix, name] => {
            if prefix.is_empty() || prefix.len() > 253 {
                return Err(format!("has a prefix {prefix:?} of 1 to 253 characters"));
            }
            for label in prefix.split('.') {
                validate_dns_label(label)
                    .map_err(|r| format!("has the prefix {prefix:?}, whose part {label:?} {r}"))?;
            }
            validate_name(name).map_err(|r| format!("has the name part {name:?}, which {r}"))
        }
        _ => Err("contains more than one '/'".into()),
    }
}

/// Backstage's kind rule: a letter, then letters and digits, at most 63 characters.
pub fn validate_kind(s: &str) -> Result<(), String> {
    check_len(s)?;
    let mut chars = s.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if let Some(c) = chars.find(|c| !c.is_ascii_alphanumeric()) {
        return Err(format!("contains {}", describe(c)));
    }
    Ok(())
}

/// Backstage's entity name rule (`KubernetesValidatorFunctions.isValidObjectName`):
/// 1 to 63 characters of `[a-zA-Z0-9]`, `-`, `_` and `.`, starting and ending with a
/// letter or digit. Backstage's regex, `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`,
/// accepts consecutive separators (`a--b`), so this does too.
pub fn validate_name(s: &str) -> Result<(), String> {
    check_len(s)?;
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("contains {}", describe(c)));
    }
    check_ends(s, "a letter or digit")
}

/// The DNS-label rule Backstage uses for namespaces: 1 to 63 characters of `[a-z0-9]` and
/// `-`, starting and ending with a lower-case letter or digit.
pub fn validate_namespace(s: &str) -> Result<(), String> {
    check_len(s)?;
    if let Some(c) = s.chars().find(|c| c.is_ascii_uppercase()) {
        return Err(format!("contains the upper-case letter {c:?}"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("contains {}", describe(c)));
    }
    check_ends(s, "a lower-case letter or digit")?;
    if s.contains("--") {
        return Err("contains two '-' in a row".into());
    }
    Ok(())
}

fn check_len(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    let n = s.chars().count();
    if n > MAX_NAME_LEN {
        return Err(format!(
            "is longer than {MAX_NAME_LEN} characters ({n} characters)"
        ));
    }
    Ok(())
}

fn check_ends(s: &str, what: &str) -> Result<(), String> {
    let first = s.chars().next();
    let last = s.chars().next_back();
    if !first.is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("must start with {what}"));
    }
    if !last.is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("must end with {what}"));
    }
    Ok(())
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("the character {c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> EntityRef {
        match parse_ref(s, Some(Kind::Group), "default") {
            Ok(r) => r,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn bad(s: &str, default_kind: Option<Kind>) -> String {
        match parse_ref(s, default_kind, "default") {
            Ok(r) => panic!("{s:?} should be rejected, got {r}"),
            Err(e) => {
                assert_eq!(e.input, s);
                e.reason
            }
        }
    }

    #[test]
    fn short_name_takes_default_kind_and_namespace() {
        assert_eq!(
            r("team-a"),
            EntityRef::new(Kind::Group, "default", "team-a")
        );
        let other = parse_ref("x", Some(Kind::System), "prod").unwrap();
        assert_eq!(other, EntityRef::new(Kind::System, "prod", "x"));
    }

    #[test]
    fn kind_and_name() {
        assert_eq!(
            r("group:team-a"),
            EntityRef::new(Kind::Group, "default", "team-a")
        );
        assert_eq!(
            r("user:guest"),
            EntityRef::new(Kind::User, "default", "guest")
        );
        assert_eq!(
            r("API:petstore"),
            EntityRef::new(Kind::Api, "default", "petstore")
        );
        assert_eq!(r("environment:dev").kind, Kind::Other("environment".into()));
    }

    #[test]
    fn namespace_and_name() {
        assert_eq!(
            r("backstage/maintainers"),
            EntityRef::new(Kind::Group, "backstage", "maintainers")
        );
    }

    #[test]
    fn full_form() {
        assert_eq!(
            r("group:default/team-a"),
            EntityRef::new(Kind::Group, "default", "team-a")
        );
        assert_eq!(
            parse_ref("component:alternative/x", None, "default").unwrap(),
            EntityRef::new(Kind::Component, "alternative", "x")
        );
        assert_eq!(
            r("  user:default/breanna.davison \n").name,
            "breanna.davison"
        );
    }

    #[test]
    fn full_form_needs_no_default_kind() {
        assert!(parse_ref("user:guest", None, "default").is_ok());
    }

    #[test]
    fn rejections() {
        assert!(bad("", Some(Kind::Group)).contains("empty"));
        assert!(bad("   ", Some(Kind::Group)).contains("empty"));
        assert!(bad("team-a", None).contains("no kind"));
        assert!(bad("a:b:c", Some(Kind::Group)).contains("more than one ':'"));
        assert!(bad("a/b/c", Some(Kind::Group)).contains("more than one '/'"));
        assert!(bad(":team-a", Some(Kind::Group)).contains("kind"));
        assert!(bad("group:", Some(Kind::Group)).contains("name is empty"));
        assert!(bad("/team-a", Some(Kind::Group)).contains("namespace"));
        assert!(bad("default/", Some(Kind::Group)).contains("name is empty"));
        assert!(bad("group:default/", Some(Kind::Group)).contains("name is empty"));
        assert!(bad("invalid component", Some(Kind::Group)).contains("a space"));
        assert!(bad("my_ns/x", Some(Kind::Group)).contains("namespace"));
        assert!(bad("gr oup:x", Some(Kind::Group)).contains("kind"));
        assert!(bad("1group:x", Some(Kind::Group)).contains("kind"));
        assert!(bad(&"a".repeat(64), Some(Kind::Group)).contains("longer than 63"));
    }

    #[test]
    fn names() {
        for ok in [
            "a",
            "Z9",
            "team-a",
            "breanna.davison",
            "a_b",
            "a--b",
            &"x".repeat(63),
        ] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        assert!(validate_name("").unwrap_err().contains("empty"));
        assert!(
            validate_name("invalid component")
                .unwrap_err()
                .contains("a space")
        );
        assert!(
            validate_name(&"x".repeat(64))
                .unwrap_err()
                .contains("longer than 63")
        );
        assert!(validate_name("-a").unwrap_err().contains("start"));
        assert!(validate_name("a.").unwrap_err().contains("end"));
        assert!(validate_name("a/b").unwrap_err().contains("'/'"));
        assert!(validate_name("ä").unwrap_err().contains("'ä'"));
    }

    #[test]
    fn namespaces() {
        for ok in ["default", "alternative", "a1", "team-a", "a-b-c"] {
            assert_eq!(validate_namespace(ok), Ok(()), "{ok}");
        }
        // Backstage's isValidDnsLabel, `^[a-z0-9]+(\-[a-z0-9]+)*$`, has no `--`.
        assert!(validate_namespace("a--b").unwrap_err().contains("two '-'"));
        assert!(validate_namespace("").unwrap_err().contains("empty"));
        assert!(
            validate_namespace("Default")
                .unwrap_err()
                .contains("upper-case")
        );
        assert!(validate_namespace("a_b").unwrap_err().contains("'_'"));
        assert!(validate_namespace("a.b").unwrap_err().contains("'.'"));
        assert!(validate_namespace("-a").unwrap_err().contains("start"));
        assert!(validate_namespace("a-").unwrap_err().contains("end"));
        assert!(
            validate_namespace(&"a".repeat(64))
                .unwrap_err()
                .contains("longer")
        );
    }
}
