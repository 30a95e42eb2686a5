//! [`Name`]: an immutable, shared piece of text (a service, an environment, a region, a
//! version). Cloning one copies a pointer, so the same name held by thousands of records
//! is stored once. It reads, compares, orders, hashes and serializes like the `String` it
//! stands for.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    pub fn new(s: &str) -> Name {
        Name(Arc::from(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::new("")
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::new(s)
    }
}

impl From<&String> for Name {
    fn from(s: &String) -> Name {
        Name::new(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(Arc::from(s))
    }
}

impl From<&Name> for Name {
    fn from(s: &Name) -> Name {
        s.clone()
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0.to_string()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        **self == *other.0
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        String::deserialize(d).map(Name::from)
    }
}

/// Hands out one shared [`Name`] per distinct text.
#[derive(Debug, Default, Clone)]
pub struct Interner(HashSet<Name>);

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The shared name for `s`, made when it is new.
    pub fn name(&mut self, s: &str) -> Name {
        if let Some(n) = self.0.get(s) {
            return n.clone();
        }
        let n = Name::new(s);
        self.0.insert(n.clone());
        n
    }

    /// Replace `n` by the shared name with the same text (freeing its own copy when
    /// nothing else holds it).
    pub fn share(&mut self, n: &mut Name) {
        match self.0.get(n.as_str()) {
            Some(shared) => {
                if !Arc::ptr_eq(&shared.0, &n.0) {
                    *n = shared.clone();
                }
            }
            None => {
                self.0.insert(n.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compares_and_serializes_like_a_string() {
        let n = Name::from("payments-api");
        assert_eq!(n, "payments-api");
        assert_eq!("payments-api", n);
        assert_eq!(n, "payments-api".to_string());
        assert_eq!(n.len(), 12);
        assert_eq!(format!("{n}/{n:?}"), "payments-api/\"payments-api\"");
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"payments-api\"");
        let back: Name = serde_json::from_str("\"payments-api\"").unwrap();
        assert_eq!(back, n);
        let (a, b) = (Name::from("a"), Name::from("b"));
        assert!(a < b);
    }

    #[test]
    fn interned_names_share_their_text() {
        let mut i = Interner::new();
        let a = i.name("eu-west-1");
        let b = i.name("eu-west-1");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let mut c = Name::from("eu-west-1".to_string());
        i.share(&mut c);
        assert!(Arc::ptr_eq(&a.0, &c.0));
    }
}
