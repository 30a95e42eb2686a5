//! [`Name`]: an immutable, shared piece of text (a service, an environment, a region, a
//! version). Cloning one copies a pointer, so the same name held by thousands of records
//! is stored once. It reads, compares, orders, hashes and serializes like the `String` it
//! stands for.
//!
//! A `Name` is one pointer (8 bytes; an `Arc<str>` is 16): the text's length sits in
//! its allocation, beside the reference count, not in every record that holds it. The
//! demo's records hold hundreds of thousands of names at the bench scale (a deployment
//! record four, an HPA record three, a catalog entity a dozen), so the half saved on
//! each is megabytes.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use arcstr::ArcStr;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shared text behind one pointer ([`arcstr::ArcStr`]: the count and the length sit in
/// the allocation, before the bytes).
#[derive(Clone)]
pub struct Name(ArcStr);

impl Name {
    pub fn new(s: &str) -> Name {
        Name(ArcStr::from(s))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether `a` and `b` are the same allocation (not only the same text).
    pub fn ptr_eq(a: &Name, b: &Name) -> bool {
        ArcStr::ptr_eq(&a.0, &b.0)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        Name::ptr_eq(self, other) || self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Name {
    /// As the `str` it holds (so a `&str` finds it in a map keyed by names).
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
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
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
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
        Name::new(&s)
    }
}

impl From<&Name> for Name {
    fn from(s: &Name) -> Name {
        s.clone()
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.as_str().to_string()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        d.deserialize_str(NameVisitor)
    }
}

/// A name read from text: the shared one while [`sharing_names`] runs on this thread.
struct NameVisitor;

impl serde::de::Visitor<'_> for NameVisitor {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Name, E> {
        Ok(SHARED.with(|shared| match shared.borrow_mut().as_mut() {
            Some(names) => names.name(s),
            None => Name::new(s),
        }))
    }

    fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Name, E> {
        match std::str::from_utf8(b) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(b), &self)),
        }
    }
}

thread_local! {
    /// The names [`sharing_names`] hands out on this thread, while it runs.
    static SHARED: std::cell::RefCell<Option<Interner>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` with every [`Name`] deserialized on this thread meanwhile shared: the same
/// text read twice is one allocation, held by both (a saved state names the same
/// service, cluster and version in tens of thousands of records, which are then never
/// held as copies of their own, not even while the file is read). Nested calls share
/// the outer call's names.
pub fn sharing_names<R>(f: impl FnOnce() -> R) -> R {
    /// Ends the sharing however `f` ends (a panic included).
    struct Ends(bool);
    impl Drop for Ends {
        fn drop(&mut self) {
            if self.0 {
                SHARED.with(|shared| shared.borrow_mut().take());
            }
        }
    }
    let started = SHARED.with(|shared| {
        let mut shared = shared.borrow_mut();
        let start = shared.is_none();
        if start {
            *shared = Some(Interner::new());
        }
        start
    });
    let _ends = Ends(started);
    f()
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
                if !Name::ptr_eq(shared, n) {
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
    fn names_read_while_sharing_are_one_allocation_per_text_and_not_after() {
        let text =
            r#"[["eu-west-1","orders-api"],["eu-west-1","orders-api"],["us-east-1","x\u0041"]]"#;
        let read: Vec<(Name, Name)> = sharing_names(|| serde_json::from_str(text).expect("json"));
        assert!(Name::ptr_eq(&read[0].0, &read[1].0));
        assert!(Name::ptr_eq(&read[0].1, &read[1].1));
        assert_eq!(read[2].1, "xA", "an escaped string reads as its text");
        // The same from a reader, as the demo's state is read.
        let read: Vec<(Name, Name)> = sharing_names(|| {
            sharing_names(|| serde_json::from_reader(text.as_bytes()).expect("json"))
        });
        assert!(Name::ptr_eq(&read[0].0, &read[1].0));
        // Outside, each read is a name of its own (nothing is kept after).
        let read: Vec<(Name, Name)> = serde_json::from_str(text).expect("json");
        assert!(!Name::ptr_eq(&read[0].0, &read[1].0));
        assert!(SHARED.with(|s| s.borrow().is_none()));
        let e = serde_json::from_str::<Name>("7").expect_err("not a string");
        assert!(e.to_string().contains("a string"), "{e}");
    }

    #[test]
    fn interned_names_share_their_text() {
        let mut i = Interner::new();
        let a = i.name("eu-west-1");
        let b = i.name("eu-west-1");
        assert!(Name::ptr_eq(&a, &b));
        let mut c = Name::from("eu-west-1".to_string());
        i.share(&mut c);
        assert!(Name::ptr_eq(&a, &c));
    }

    #[test]
    fn a_name_is_one_pointer_and_its_text_lives_while_any_clone_does() {
        assert_eq!(std::mem::size_of::<Name>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Option<Name>>(),
            std::mem::size_of::<usize>()
        );
        let empty = Name::default();
        assert_eq!(empty.as_str(), "");
        assert_eq!(empty.len(), 0);
        let long = "é".repeat(1000);
        let a = Name::from(long.clone());
        let b = a.clone();
        drop(a);
        assert_eq!(b.as_str(), long);
        assert_eq!(Name::from("ab"), Name::from("ab".to_string()));
        assert_ne!(Name::from("ab"), Name::from("abc"));
        let (ab, abc) = (Name::from("ab"), Name::from("abc"));
        assert!(ab < abc);
        assert_eq!(ab.cmp(&ab.clone()), Ordering::Equal);
        // Hashed like its text, so a map keyed by names answers `&str` lookups.
        let set: HashSet<Name> = ["orders-api", "payments-api"]
            .into_iter()
            .map(Name::from)
            .collect();
        assert!(set.contains("payments-api"));
        assert!(!set.contains("payments"));
        // Clones dropped on many threads at once: the count ends at the one left.
        let shared = Name::from("shared-across-threads");
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let mine = shared.clone();
                scope.spawn(move || {
                    let copies: Vec<Name> = (0..1000).map(|_| mine.clone()).collect();
                    assert!(copies.iter().all(|c| c == "shared-across-threads"));
                });
            }
        });
        assert_eq!(ArcStr::strong_count(&shared.0), Some(1));
    }
}
