//! The demo's secrets, stored compactly: a record is two indices (8 bytes), its service
//! among interned names and its (environment, region, key) among the triples the store
//! has seen (a few hundred: clusters times keys). A seeded value, its version id and
//! its last change are derived from the store seed and the names, and the four standard
//! tags from the service's team; only what differs (a drifted value, other tags, a value
//! written through `put_secret`) is stored, in a side table of overrides. Iterating
//! materialises full [`SecretRec`]s.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::state::{SecretValue, random_token, version_id};
use crate::domain::{Name, SecretMeta, Timestamp};

/// A secret in one region, materialised. Its `Debug` never shows the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretRec {
    pub service: String,
    pub env: String,
    pub region: String,
    pub key: String,
    pub version_id: String,
    pub last_changed: Timestamp,
    pub tags: BTreeMap<String, String>,
    pub value: SecretValue,
}

impl SecretRec {
    pub(crate) fn name(&self) -> String {
        format!("{}/{}/{}", self.env, self.service, self.key)
    }

    pub(crate) fn meta(&self) -> SecretMeta {
        SecretMeta {
            name: self.name(),
            service: self.service.clone(),
            env: self.env.clone(),
            region: self.region.clone(),
            key: self.key.clone(),
            version_id: self.version_id.clone(),
            stages: vec!["AWSCURRENT".to_string()],
            last_changed: self.last_changed,
            tags: self.tags.clone(),
            value_hash: Some(self.value.hash()),
        }
    }
}

/// The key of the extra secret the seeding leaves behind in one region (drift).
pub(crate) const LEGACY_KEY: &str = "LEGACY_API_TOKEN";
const MANAGED_BY: &str = "sphere";
const UNOWNED: &str = "unowned";
const NONE: u32 = u32::MAX;

/// Interned strings: one allocation per distinct name.
#[derive(Clone, Default)]
struct Names {
    list: Vec<Name>,
    ids: HashMap<Name, u32>,
}

impl Names {
    fn intern(&mut self, s: &str) -> u32 {
        match self.ids.get(s) {
            Some(&id) => id,
            None => self.intern_shared(&Name::from(s)),
        }
    }

    /// Like `intern`, keeping `s` itself (shared with whoever gave it) when it is new.
    fn intern_shared(&mut self, s: &Name) -> u32 {
        if let Some(&id) = self.ids.get(s.as_str()) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(s.clone());
        self.ids.insert(s.clone(), id);
        id
    }

    fn id(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    fn get(&self, id: u32) -> &str {
        self.list.get(id as usize).map(|s| &**s).unwrap_or("")
    }
}

/// One secret: 8 bytes (276,000 of them at the bench scale). What differs from the
/// derivation is in the store's `overrides`, under the record's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Rec {
    service: u32,
    /// Index into `slots`: the (place, key) pair.
    slot: u32,
}

/// What differs from the derived secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Override {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SecretValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<Timestamp>,
    /// The whole tag set, when it is not the standard one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// Every secret of the demo platform.
#[derive(Clone)]
pub(crate) struct SecretStore {
    seed: u64,
    /// Seeded last changes are at most 200 days before this.
    base: Timestamp,
    names: Names,
    /// The owning team of a service (a name id to a name id), for the standard tags.
    teams: HashMap<u32, u32>,
    /// The (environment, region) name ids records point at, each pair once.
    places: Vec<(u32, u32)>,
    place_ids: HashMap<(u32, u32), u32>,
    /// The (place, key name id) pairs records point at, each pair once.
    slots: Vec<(u32, u32)>,
    slot_ids: HashMap<(u32, u32), u32>,
    recs: Vec<Rec>,
    /// What differs from the derivation, by record (few: drift and written secrets).
    overrides: HashMap<Rec, Override>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for SecretStore {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// FNV-1a, stable across Rust versions and processes (the derivation is persisted).
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // A separator, so ("ab", "c") and ("a", "bc") differ.
    *h ^= 0xff;
    *h = h.wrapping_mul(0x0100_0000_01b3);
}

/// The value a key holds for a service in an environment, around a random token.
pub(crate) fn format_value(service: &str, env: &str, key: &str, token: &str) -> String {
    match key {
        "DATABASE_URL" => {
            format!("postgres://{service}:{token}@{service}-db.{env}.internal:5432/app")
        }
        "REDIS_URL" => format!("rediss://:{token}@{service}-cache.{env}.internal:6379/0"),
        "SENTRY_DSN" => format!("https://{token}@sentry.northwind.example/42"),
        "SLACK_WEBHOOK_URL" => format!("https://hooks.slack.example/services/{token}"),
        _ => token.to_string(),
    }
}

impl SecretStore {
    pub(crate) fn new(seed: u64, base: Timestamp) -> SecretStore {
        SecretStore {
            seed,
            base,
            names: Names::default(),
            teams: HashMap::new(),
            places: Vec::new(),
            place_ids: HashMap::new(),
            slots: Vec::new(),
            slot_ids: HashMap::new(),
            recs: Vec::new(),
            overrides: HashMap::new(),
        }
    }

    /// The place id of (environment, region) name ids, given one when it is new.
    fn place(&mut self, env: u32, region: u32) -> u32 {
        if let Some(&p) = self.place_ids.get(&(env, region)) {
            return p;
        }
        let p = self.places.len() as u32;
        self.places.push((env, region));
        self.place_ids.insert((env, region), p);
        p
    }

    /// The slot id of (place, key name id), given one when it is new.
    fn slot(&mut self, place: u32, key: u32) -> u32 {
        if let Some(&i) = self.slot_ids.get(&(place, key)) {
            return i;
        }
        let i = self.slots.len() as u32;
        self.slots.push((place, key));
        self.slot_ids.insert((place, key), i);
        i
    }

    fn place_of(&self, r: &Rec) -> Option<(u32, u32)> {
        let (place, _) = *self.slots.get(r.slot as usize)?;
        self.places.get(place as usize).copied()
    }

    fn env_id(&self, r: &Rec) -> u32 {
        self.place_of(r).map_or(NONE, |p| p.0)
    }

    fn region_id(&self, r: &Rec) -> u32 {
        self.place_of(r).map_or(NONE, |p| p.1)
    }

    fn key_id(&self, r: &Rec) -> u32 {
        self.slots.get(r.slot as usize).map_or(NONE, |s| s.1)
    }

    fn override_of(&self, r: &Rec) -> Option<&Override> {
        self.overrides.get(r)
    }

    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    #[allow(dead_code)]
    pub(crate) fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Give back the room a bulk build left over.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.recs.shrink_to_fit();
        self.slots.shrink_to_fit();
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.recs.reserve(n);
    }

    /// Store `name` (a service's, say) as the one copy of its text the store keeps.
    pub(crate) fn share_name(&mut self, name: &Name) {
        self.names.intern_shared(name);
    }

    pub(crate) fn set_team(&mut self, service: &str, team: &str) {
        let s = self.names.intern(service);
        let t = self.names.intern(team);
        self.teams.insert(s, t);
    }

    /// Add a seeded secret; its position.
    pub(crate) fn push(&mut self, service: &str, env: &str, region: &str, key: &str) -> usize {
        let (env, region) = (self.names.intern(env), self.names.intern(region));
        let (place, key) = (self.place(env, region), self.names.intern(key));
        let rec = Rec {
            service: self.names.intern(service),
            slot: self.slot(place, key),
        };
        self.recs.push(rec);
        self.recs.len() - 1
    }

    pub(crate) fn env_of(&self, i: usize) -> &str {
        self.recs
            .get(i)
            .map_or("", |r| self.names.get(self.env_id(r)))
    }

    pub(crate) fn region_of(&self, i: usize) -> &str {
        self.recs
            .get(i)
            .map_or("", |r| self.names.get(self.region_id(r)))
    }

    pub(crate) fn remove_at(&mut self, i: usize) {
        if i < self.recs.len() {
            let r = self.recs.remove(i);
            self.overrides.remove(&r);
        }
    }

    /// A copy of secret `i` under another key, with its own value.
    pub(crate) fn push_copy(&mut self, i: usize, key: &str) -> Option<usize> {
        let mut r = *self.recs.get(i)?;
        let place = self.slots.get(r.slot as usize)?.0;
        let key = self.names.intern(key);
        r.slot = self.slot(place, key);
        self.overrides.remove(&r);
        self.recs.push(r);
        Some(self.recs.len() - 1)
    }

    /// Change what differs from the derivation for secret `i`.
    pub(crate) fn edit(&mut self, i: usize, f: impl FnOnce(&mut Override)) {
        let Some(&r) = self.recs.get(i) else {
            return;
        };
        f(self.overrides.entry(r).or_default());
    }

    /// The standard tags of a secret of `service` in `env`.
    pub(crate) fn standard_tags(&self, service: &str, env: &str) -> BTreeMap<String, String> {
        let team = self
            .names
            .id(service)
            .and_then(|s| self.teams.get(&s))
            .map_or(UNOWNED, |&t| self.names.get(t));
        BTreeMap::from([
            ("team".to_string(), team.to_string()),
            ("service".to_string(), service.to_string()),
            ("env".to_string(), env.to_string()),
            ("managed-by".to_string(), MANAGED_BY.to_string()),
        ])
    }

    /// The generator of a seeded secret: the same for every region of (service, env, key).
    fn generator(&self, r: &Rec) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325 ^ self.seed;
        for id in [r.service, self.env_id(r), self.key_id(r)] {
            fnv(&mut h, self.names.get(id).as_bytes());
        }
        h
    }

    fn derived(&self, r: &Rec, want_value: bool) -> (Option<SecretValue>, String, Timestamp) {
        let gen_seed = self.generator(r);
        let mut rng = fastrand::Rng::with_seed(gen_seed);
        let key = self.names.get(self.key_id(r));
        let n = if key == LEGACY_KEY { 32 } else { 24 };
        let token = random_token(&mut rng, n);
        let vid = version_id(&mut rng);
        let changed = self.base - rng.i64(86_400..200 * 86_400);
        let value = want_value.then(|| {
            SecretValue(format_value(
                self.names.get(r.service),
                self.names.get(self.env_id(r)),
                key,
                &token,
            ))
        });
        (value, vid, changed)
    }

    fn materialise(&self, r: &Rec) -> SecretRec {
        let o = self.override_of(r);
        let (service, env) = (self.names.get(r.service), self.names.get(self.env_id(r)));
        let (value, vid, changed) = self.derived(r, o.is_none_or(|o| o.value.is_none()));
        SecretRec {
            service: service.to_string(),
            env: env.to_string(),
            region: self.names.get(self.region_id(r)).to_string(),
            key: self.names.get(self.key_id(r)).to_string(),
            version_id: o.and_then(|o| o.version_id.clone()).unwrap_or(vid),
            last_changed: o.and_then(|o| o.last_changed).unwrap_or(changed),
            tags: o
                .and_then(|o| o.tags.clone())
                .unwrap_or_else(|| self.standard_tags(service, env)),
            value: o
                .and_then(|o| o.value.clone())
                .or(value)
                .unwrap_or_else(|| SecretValue(String::new())),
        }
    }

    /// Every secret, materialised, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = SecretRec> + '_ {
        self.recs.iter().map(|r| self.materialise(r))
    }

    /// The metadata of every secret (of one service).
    pub(crate) fn metas(&self, service: Option<&str>) -> Vec<SecretMeta> {
        let want = match service {
            None => None,
            Some(s) => match self.names.id(s) {
                Some(id) => Some(id),
                None => return Vec::new(),
            },
        };
        self.recs
            .iter()
            .filter(|r| want.is_none_or(|id| r.service == id))
            .map(|r| self.materialise(r).meta())
            .collect()
    }

    fn find(&self, service: &str, env: &str, region: &str, key: &str) -> Option<usize> {
        let (s, e, g, k) = (
            self.names.id(service)?,
            self.names.id(env)?,
            self.names.id(region)?,
            self.names.id(key)?,
        );
        let p = *self.place_ids.get(&(e, g))?;
        let slot = *self.slot_ids.get(&(p, k))?;
        self.recs
            .iter()
            .position(|r| r.service == s && r.slot == slot)
    }

    /// The value of one secret.
    pub(crate) fn value(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Option<SecretValue> {
        let r = self.recs.get(self.find(service, env, region, key)?)?;
        match self.override_of(r).and_then(|o| o.value.clone()) {
            Some(v) => Some(v),
            None => self.derived(r, true).0,
        }
    }

    /// Create or replace a secret with the given value, version and tags.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put(
        &mut self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: SecretValue,
        version_id: String,
        now: Timestamp,
        tags: BTreeMap<String, String>,
    ) {
        let i = match self.find(service, env, region, key) {
            Some(i) => i,
            None => self.push(service, env, region, key),
        };
        let tags = (tags != self.standard_tags(service, env)).then_some(tags);
        self.edit(i, |o| {
            o.value = Some(value);
            o.version_id = Some(version_id);
            o.last_changed = Some(now);
            o.tags = tags;
        });
    }

    /// Delete one secret; false when there was none.
    pub(crate) fn remove(&mut self, service: &str, env: &str, region: &str, key: &str) -> bool {
        match self.find(service, env, region, key) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }
}

// ---- the file format -------------------------------------------------------------------
//
// {"seed": 1, "base": 1700000000, "teams": {"cart": "team-a"},
//  "records": [["cart", "production", "us-east-1", "API_KEY", null],
//              ["cart", "staging", "eu-west-1", "API_KEY", {"tags": {...}}]]}
//
// A record is (service, env, region, key, what differs from the derivation or null).

#[derive(Serialize)]
struct FileOut<'a> {
    seed: u64,
    base: Timestamp,
    teams: BTreeMap<&'a str, &'a str>,
    records: RecordsOut<'a>,
}

/// The records, written one by one from the store (no list of them is made).
struct RecordsOut<'a>(&'a SecretStore);

impl Serialize for RecordsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let store = self.0;
        let n = |id: u32| store.names.get(id);
        s.collect_seq(store.recs.iter().map(|r| {
            (
                n(r.service),
                n(store.env_id(r)),
                n(store.region_id(r)),
                n(store.key_id(r)),
                store.override_of(r),
            )
        }))
    }
}

#[derive(Deserialize)]
struct FileIn {
    seed: u64,
    base: Timestamp,
    #[serde(default)]
    teams: BTreeMap<String, String>,
    records: RecordsIn,
}

/// The records as they are read: each goes into a store as soon as it is parsed (a
/// list of them, four strings a record, was several times the store's size).
/// The store's seed, base and teams come after (they are fields of their own).
struct RecordsIn(SecretStore);

/// A name as the parser hands it: borrowed from the input when it can be.
struct Text<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for RecordsIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RecordsIn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of [service, env, region, key, override] records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RecordsIn, A::Error> {
                let mut store = SecretStore::new(0, 0);
                store.reserve(seq.size_hint().unwrap_or(0));
                while let Some((service, env, region, key, o)) =
                    seq.next_element::<(Text, Text, Text, Text, Option<Override>)>()?
                {
                    let i = store.push(&service.0, &env.0, &region.0, &key.0);
                    if let Some(o) = o {
                        store.edit(i, |x| *x = o);
                    }
                }
                Ok(RecordsIn(store))
            }
        }
        d.deserialize_seq(V)
    }
}

impl Serialize for SecretStore {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = |id: u32| self.names.get(id);
        FileOut {
            seed: self.seed,
            base: self.base,
            teams: self.teams.iter().map(|(&k, &v)| (n(k), n(v))).collect(),
            records: RecordsOut(self),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SecretStore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = FileIn::deserialize(d)?;
        let mut store = f.records.0;
        store.seed = f.seed;
        store.base = f.base;
        for (service, team) in &f.teams {
            store.set_team(service, team);
        }
        store.shrink_to_fit();
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_8_bytes_and_its_override_goes_with_it() {
        assert_eq!(std::mem::size_of::<Rec>(), 8);
        let mut s = SecretStore::new(7, 1_700_000_000);
        let a = s.push("cart", "production", "eu-west-1", "API_KEY");
        s.push("cart", "production", "us-east-1", "API_KEY");
        let seeded = s.value("cart", "production", "eu-west-1", "API_KEY");
        assert!(seeded.is_some());
        // Derived per (service, env, key): the same in every region.
        assert_eq!(
            seeded,
            s.value("cart", "production", "us-east-1", "API_KEY")
        );
        s.put(
            "cart",
            "production",
            "eu-west-1",
            "API_KEY",
            SecretValue("written".into()),
            "v2".into(),
            1_700_000_100,
            s.standard_tags("cart", "production"),
        );
        assert_eq!(s.len(), 2, "put replaced the record, not added one");
        assert_eq!(
            s.value("cart", "production", "eu-west-1", "API_KEY"),
            Some(SecretValue("written".into()))
        );
        assert_eq!(
            s.value("cart", "production", "us-east-1", "API_KEY"),
            seeded
        );
        // A copy under another key has its own derived value, not the original's
        // override.
        let c = s.push_copy(a, LEGACY_KEY).expect("a copy");
        let legacy = s.iter().nth(c).expect("the copy");
        assert_eq!(
            (legacy.region.as_str(), legacy.key.as_str()),
            ("eu-west-1", LEGACY_KEY)
        );
        assert_ne!(legacy.value, SecretValue("written".into()));
        assert_eq!(legacy.value.0.len(), 32);
        // Removed, then seeded again: the derived value, the override gone with it.
        assert!(s.remove("cart", "production", "eu-west-1", "API_KEY"));
        assert!(!s.remove("cart", "production", "eu-west-1", "API_KEY"));
        s.push("cart", "production", "eu-west-1", "API_KEY");
        assert_eq!(
            s.value("cart", "production", "eu-west-1", "API_KEY"),
            seeded
        );
        // The file keeps overrides with their records, in order.
        s.edit(0, |o| o.version_id = Some("v9".into()));
        let text = serde_json::to_string(&s).expect("json");
        let back: SecretStore = serde_json::from_str(&text).expect("read back");
        assert_eq!(back, s);
        assert_eq!(back.iter().next().expect("first").version_id, "v9");
    }
}
