use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;

use super::*;
use std::sync::Arc;

use futures::stream::BoxStream;

use super::clock::PIPELINE_ACTOR;
use super::options::{Scale, SimOptions, topology_for};
use super::seed::{SLUG, is_service};
use crate::backend::PlatformKind;
use crate::domain::catalog::{
    Catalog, DEFAULT_NAMESPACE, Entity, EntityRef, Kind, Source, Spec, TextMap,
};
use crate::domain::{AuditRecord, ClusterEvent, ClusterId, Lock, Name, Outcome, Scope, SecretMeta};
use crate::domain::{PodPhase, RolloutState};

fn entity(kind: Kind, name: &str, spec_type: Option<&str>, lifecycle: Option<&str>) -> Entity {
    let mut annotations = TextMap::new();
    if kind == Kind::Component {
        annotations.insert(SLUG.to_string(), format!("acme/{name}"));
    }
    Entity {
        kind,
        namespace: DEFAULT_NAMESPACE.into(),
        name: name.into(),
        title: None,
        description: None,
        labels: TextMap::new(),
        annotations,
        tags: Vec::new(),
        links: Vec::new(),
        spec_type: spec_type.map(Name::from),
        lifecycle: lifecycle.map(Name::from),
        owner: Some(EntityRef::new(Kind::Group, DEFAULT_NAMESPACE, "team-a")),
        part_of: Some(EntityRef::new(Kind::System, DEFAULT_NAMESPACE, "shop")),
        relations: Vec::new(),
        spec: Spec::default(),
        source: Source {
            file: PathBuf::from("test.yaml"),
            document: 0,
        },
    }
}

/// A few services of each kind, one experimental, one library, one group and a system.
fn small_catalog() -> Catalog {
    let mut es = vec![
        entity(Kind::Group, "team-a", Some("team"), None),
        entity(Kind::System, "shop", None, None),
        entity(Kind::User, "ada", None, None),
    ];
    for n in ["payments-api", "cart", "search", "orders", "ledger", "auth"] {
        es.push(entity(
            Kind::Component,
            n,
            Some("service"),
            Some("production"),
        ));
    }
    es.push(entity(
        Kind::Component,
        "shop-web",
        Some("website"),
        Some("production"),
    ));
    es.push(entity(
        Kind::Component,
        "labs",
        Some("service"),
        Some("experimental"),
    ));
    es.push(entity(
        Kind::Component,
        "ui-kit",
        Some("library"),
        Some("production"),
    ));
    Catalog::from_resolved(es, Vec::new())
}

fn opts(seed: u64) -> SimOptions {
    SimOptions {
        seed,
        scale: Scale::default(),
        pace: 0.0,
        state_path: None,
    }
}

fn open(seed: u64) -> Sim {
    Sim::open(opts(seed), small_catalog()).expect("open")
}

/// What must be the same for the same seed (timestamps are relative to now).
fn fingerprint(sim: &Sim) -> (Vec<String>, Vec<String>, Vec<String>) {
    let w = sim.world();
    let snap = w.snapshot(&Scope::default());
    let deps = snap
        .deployments
        .iter()
        .map(|d| format!("{} {} {} {}", d.service, d.cluster, d.version, d.desired))
        .collect();
    let pods = snap
        .pods
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {}",
                p.name, p.cluster, p.node, p.version, p.restarts
            )
        })
        .collect();
    let secrets = w
        .durable
        .secrets
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {}",
                s.name(),
                s.region,
                s.version_id,
                s.value.hash()
            )
        })
        .collect();
    (deps, pods, secrets)
}

#[test]
fn same_seed_same_platform_other_seed_other_platform() {
    let a = fingerprint(&open(7));
    let b = fingerprint(&open(7));
    let c = fingerprint(&open(8));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
    assert_ne!(a.2, c.2);
}

#[test]
fn topology_is_three_by_three_and_scales() {
    let t = topology_for(&Scale::default());
    assert_eq!(t.regions, ["us-east-1", "eu-west-1", "ap-southeast-2"]);
    assert_eq!(t.environments, ["dev", "staging", "production"]);
    assert_eq!(t.cluster_count(), 9);
    let t = topology_for(&Scale::parse("clusters=60").unwrap());
    assert_eq!(t.regions.len(), 20);
    assert_eq!(t.cluster_count(), 60);
    assert_eq!(t.regions[0], "us-east-1");
    assert_eq!(t.regions[19], "region-20");
    assert_eq!(
        topology_for(&Scale::parse("clusters=10").unwrap())
            .regions
            .len(),
        4
    );
}

#[test]
fn scale_parses_good_and_rejects_bad() {
    let s = Scale::parse("services=10000,clusters=60,pods=50000").unwrap();
    assert_eq!(
        s,
        Scale {
            services: Some(10000),
            clusters: Some(60),
            pods: Some(50000)
        }
    );
    assert_eq!(" pods = 5 ".parse::<Scale>().unwrap().pods, Some(5));
    assert_eq!(Scale::parse("").unwrap(), Scale::default());
    for (bad, says) in [
        ("services=ten", "not a whole number"),
        ("nodes=3", "unknown key `nodes`"),
        ("pods", "expected key=value"),
        ("pods=1,pods=2", "given twice"),
        ("clusters=0", "at least 1"),
        ("services=-4", "not a whole number"),
    ] {
        let e = Scale::parse(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn the_demo_has_a_crash_loop_a_rollout_and_drift() {
    let sim = open(1);
    let w = sim.world();
    let snap = w.snapshot(&Scope::default());
    let crash = snap
        .pods
        .iter()
        .find(|p| p.crash_looping())
        .expect("crash loop");
    assert!(!crash.ready);
    assert!(matches!(
        crash.last_termination.as_deref(),
        Some("Error" | "OOMKilled")
    ));
    let dep = snap
        .deployments
        .iter()
        .find(|d| d.service == crash.service && d.cluster == crash.cluster)
        .expect("deployment of the crash loop");
    assert!(dep.ready < dep.desired);
    let rolling = snap
        .deployments
        .iter()
        .find(|d| d.rollout == RolloutState::Progressing)
        .expect("a progressing rollout");
    assert!(rolling.updated < rolling.desired);
    // Experimental services never reach production; dev has one replica.
    assert!(
        !snap
            .deployments
            .iter()
            .any(|d| d.service == "labs" && d.cluster.env == "production")
    );
    let dev: Vec<_> = snap
        .deployments
        .iter()
        .filter(|d| d.cluster.env == "dev")
        .collect();
    assert!(!dev.is_empty(), "services run in dev");
    assert!(dev.iter().all(|d| d.desired == 1), "{dev:?}");
    // HPAs only outside dev.
    assert!(!snap.hpas.is_empty());
    assert!(
        snap.hpas
            .iter()
            .all(|h| h.cluster.env != "dev" && h.target_cpu == 70)
    );
    // Pods are named like a ReplicaSet's.
    let p = &snap.pods[0];
    assert!(p.name.starts_with(&format!("{}-", p.service)));
    assert!(p.node.starts_with("ip-10-") && p.node.ends_with(".ec2.internal"));
    // Release history.
    assert!(!w.durable.releases.is_empty(), "a release history");
    assert!(w.durable.releases.values().all(|r| r.len() >= 6));
    // Ledger.
    assert_eq!(w.durable.locks.len(), 1);
    assert_eq!(w.durable.locks[0].service, "payments-api");
    assert!(w.durable.audit.len() >= 10);
    assert!(!w.durable.freeze.on);
}

#[test]
fn drift_exists_across_regions() {
    let sim = open(3);
    let snap = sim.world().snapshot(&Scope::default());
    let mut versions: BTreeMap<(String, String), std::collections::BTreeSet<String>> =
        BTreeMap::new();
    for d in &snap.deployments {
        versions
            .entry((d.service.clone(), d.cluster.env.to_string()))
            .or_default()
            .insert(d.version.clone());
    }
    assert!(versions.values().any(|v| v.len() > 1));
}

async fn next_matching(
    stream: &mut BoxStream<'static, ClusterEvent>,
    mut f: impl FnMut(&ClusterEvent) -> bool,
) -> ClusterEvent {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = stream.next().await.expect("stream ended");
            if f(&e) {
                return e;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

#[tokio::test]
async fn ticks_advance_the_rollout_and_reach_watchers() {
    let sim = open(5);
    let platform = sim.platform();
    assert_eq!(platform.kind, PlatformKind::Demo);
    assert_eq!(platform.name, "demo");
    let before = platform.clusters.snapshot(&Scope::default()).await.unwrap();
    let rolling = before
        .deployments
        .iter()
        .find(|d| d.rollout == RolloutState::Progressing)
        .cloned()
        .expect("rollout");
    let mut stream = platform.clusters.watch();
    // The initial listing ends with a Synced per cluster.
    let mut synced = 0;
    while synced < 9 {
        if let ClusterEvent::Synced(_) = next_matching(&mut stream, |_| true).await {
            synced += 1;
        }
    }
    let mut updated = rolling.updated;
    for _ in 0..40 {
        sim.tick();
        let cur = sim
            .world()
            .snapshot(&Scope::default())
            .deployments
            .into_iter()
            .find(|d| d.service == rolling.service && d.cluster == rolling.cluster)
            .expect("still there");
        updated = updated.max(cur.updated);
        if cur.rollout == RolloutState::Complete {
            break;
        }
    }
    assert!(updated > rolling.updated, "the rollout made progress");
    let e = next_matching(&mut stream, |e| {
        matches!(e, ClusterEvent::Deployment(d) if d.service == rolling.service && d.cluster == rolling.cluster)
    })
    .await;
    assert!(matches!(e, ClusterEvent::Deployment(_)));
    // A new pod went through Pending.
    next_matching(
        &mut stream,
        |e| matches!(e, ClusterEvent::Pod(p) if p.phase == PodPhase::Pending),
    )
    .await;
}

#[tokio::test]
async fn the_initial_listing_tells_what_a_snapshot_does() {
    let sim = open(5);
    let platform = sim.platform();
    let snap = platform.clusters.snapshot(&Scope::default()).await.unwrap();
    let mut stream = platform.clusters.watch();
    let (mut deployments, mut hpas, mut pods) = (Vec::new(), Vec::new(), Vec::new());
    let mut synced = 0;
    while synced < 9 {
        match next_matching(&mut stream, |_| true).await {
            ClusterEvent::Synced(_) => synced += 1,
            ClusterEvent::Deployment(d) => deployments.push(d),
            ClusterEvent::Hpa(h) => hpas.push(h),
            ClusterEvent::Pod(p) => pods.push(p),
            _ => {}
        }
    }
    // Ready, updated and rollout state come from the pods: the listing's copy of them
    // must give the same answers as the world's own.
    assert_eq!(deployments, snap.deployments);
    assert!(deployments.iter().any(|d| d.ready > 0));
    assert_eq!(hpas, snap.hpas);
    assert_eq!(pods, snap.pods);
}

#[tokio::test]
async fn pace_zero_has_no_clock() {
    let sim = open(1);
    assert!(sim.start_clock().is_none());
    let mut o = opts(1);
    o.pace = 50.0;
    let sim = Sim::open(o, small_catalog()).unwrap();
    let h = sim.start_clock().expect("clock");
    let mut stream = sim.platform().clusters.watch();
    let mut synced = 0;
    while synced < 9 {
        if let ClusterEvent::Synced(_) = next_matching(&mut stream, |_| true).await {
            synced += 1;
        }
    }
    next_matching(&mut stream, |_| true).await;
    h.abort();
}

fn lock(service: &str) -> Lock {
    Lock {
        service: service.to_string(),
        env: Some("production".into()),
        region: Some("us-east-1".into()),
        reason: "testing".into(),
        by: "ada".into(),
        at: 0,
    }
}

#[tokio::test]
async fn a_lock_from_one_process_is_seen_by_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.json");
    let mut o = opts(9);
    o.state_path = Some(path.clone());
    let a = Sim::open(o.clone(), small_catalog()).unwrap();
    let b = Sim::open(o.clone(), small_catalog()).unwrap();
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    a.add_lock(lock("cart")).unwrap();
    assert!(b.refresh().unwrap());
    assert!(!b.refresh().unwrap(), "nothing new the second time");
    let locks = b.platform().ledger.locks().await.unwrap();
    assert!(locks.iter().any(|l| l.service == "cart"));
    assert_eq!(
        b.remove_locks("cart", Some("production"), None, None)
            .unwrap()
            .len(),
        1
    );
    a.refresh().unwrap();
    assert!(!a.world().durable.locks.iter().any(|l| l.service == "cart"));
    // A rollback through one is a rollout in the other.
    let d = a.world().durable.deployments[0].clone();
    let old = a.releases(&d.service)[0].clone();
    assert!(a.set_version(&d.service, &d.cluster, &old).unwrap());
    let mut stream = b.platform().clusters.watch();
    b.refresh().unwrap();
    next_matching(&mut stream, |e| {
        matches!(e, ClusterEvent::Deployment(x) if x.service == d.service && x.cluster == d.cluster && x.version == old)
    })
    .await;
    // Reopening reads the same state back.
    let c = Sim::open(o, small_catalog()).unwrap();
    assert_eq!(fingerprint(&c).2, fingerprint(&a).2);
}

#[test]
fn concurrent_appends_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(2);
    o.state_path = Some(dir.path().join("state.json"));
    let a = Sim::open(o.clone(), small_catalog()).unwrap();
    let b = Sim::open(o, small_catalog()).unwrap();
    let before = a.world().durable.audit.len();
    let threads: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(t, sim)| {
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        sim.append_audit(
                            "ada",
                            "test.append",
                            &format!("{t}/{i}"),
                            None,
                            &Default::default(),
                            Outcome::Succeeded,
                        )
                        .unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    a.refresh().unwrap();
    let audit = &a.world().durable.audit;
    assert_eq!(audit.len(), before + 100);
    let mut all: Vec<u64> = audit.iter().map(|r| r.id).collect();
    all.dedup();
    assert_eq!(all.len(), audit.len());
}

#[test]
fn reset_removes_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut o = opts(2);
    o.state_path = Some(path.clone());
    let sim = Sim::open(o, small_catalog()).unwrap();
    sim.add_lock(lock("cart")).unwrap();
    assert!(path.exists());
    Sim::reset(&path).unwrap();
    assert!(!path.exists());
    Sim::reset(&path).unwrap();
}

#[tokio::test]
async fn secrets_have_every_kind_of_drift_and_never_show_values() {
    let sim = open(4);
    let list = sim.platform().secrets.list(None).await.unwrap();
    assert!(
        list.iter()
            .all(|s| s.name == format!("{}/{}/{}", s.env, s.service, s.key))
    );
    assert!(
        list.iter()
            .all(|s| s.value_hash.is_some() && s.stages == ["AWSCURRENT"])
    );
    // Group by (service, env, key): regions present, hashes, tags.
    let regions_of = |service: &str, env: &str| -> usize {
        sim.world()
            .durable
            .deployments
            .iter()
            .filter(|d| d.service == service && d.cluster.env == env)
            .count()
    };
    let mut groups: BTreeMap<(String, String, String), Vec<&SecretMeta>> = BTreeMap::new();
    for s in &list {
        groups
            .entry((s.service.clone(), s.env.clone(), s.key.clone()))
            .or_default()
            .push(s);
    }
    let (mut missing, mut extra, mut value, mut tags) = (false, false, false, false);
    for ((service, env, key), g) in &groups {
        let n = regions_of(service, env);
        if g.len() < n && n > 1 {
            if g.len() == 1 && key == "LEGACY_API_TOKEN" {
                extra = true;
            } else {
                missing = true;
            }
        }
        if g.len() == 1 && n > 1 && key == "LEGACY_API_TOKEN" {
            extra = true;
        }
        if g.iter().any(|s| s.value_hash != g[0].value_hash) {
            value = true;
        }
        if g.iter().any(|s| s.tags != g[0].tags) {
            tags = true;
        }
    }
    assert!(
        missing && extra && value && tags,
        "{missing} {extra} {value} {tags}"
    );
    let w = sim.world();
    let dbg = format!("{:?}", w.durable.secrets);
    for s in w.durable.secrets.iter() {
        assert!(!dbg.contains(&s.value.0), "a value leaked into Debug");
    }
    assert!(dbg.contains("***"));
}

#[tokio::test]
async fn flags_drift_and_get_acknowledged() {
    let sim = open(6);
    let flags = sim.platform().flags.list().await.unwrap();
    assert!(flags.len() >= 20 * 9);
    assert!(flags.iter().any(|f| f.pending.is_some()));
    for _ in 0..40 {
        sim.tick();
    }
    let flags = sim.platform().flags.list().await.unwrap();
    assert!(!flags.is_empty());
    assert!(flags.iter().all(|f| f.pending.is_none()));
    // Repos: most exist with workflows.
    let r = sim.platform().repos.repo("acme/cart").await.unwrap();
    let n = [
        "payments-api",
        "cart",
        "search",
        "orders",
        "ledger",
        "auth",
        "shop-web",
        "labs",
        "ui-kit",
    ]
    .iter()
    .filter(|s| {
        sim.world()
            .durable
            .repos
            .contains_key(format!("acme/{s}").as_str())
    })
    .count();
    assert!(n >= 5, "{n} repos, {r:?}");
}

#[tokio::test]
async fn opens_at_scale() {
    let scale = Scale::parse("services=10000,clusters=60,pods=50000").unwrap();
    let o = SimOptions {
        seed: 1,
        scale,
        pace: 0.0,
        state_path: None,
    };
    let sim = Sim::open(o, small_catalog()).unwrap();
    let catalog = sim.platform().catalog.load().await.unwrap();
    let services = catalog.entities().iter().filter(|e| is_service(e)).count();
    assert_eq!(services, 10_000);
    assert_eq!(sim.platform().clusters.topology().cluster_count(), 60);
    let w = sim.world();
    let pods: usize = w.live.values().map(|l| l.pods.len()).sum();
    assert_eq!(pods, 50_000);
    drop(w);
    sim.churn_pods(1000);
    sim.tick();
}

/// The embedded demo descriptors, read just enough for the sim (the real loader lives
/// elsewhere): every reference in them resolves, and the sim opens over them.
fn demo_catalog() -> Catalog {
    let mut es = Vec::new();
    for (path, text) in assets::demo_sources() {
        for doc in serde_norway::Deserializer::from_str(text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).expect(path);
            if v.is_null() {
                continue;
            }
            let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_string);
            let kind = Kind::parse(&s("/kind").expect("kind"));
            let mut e = entity(
                kind.clone(),
                &s("/metadata/name").expect("name"),
                None,
                None,
            );
            e.spec_type = s("/spec/type").map(Name::from);
            e.lifecycle = s("/spec/lifecycle").map(Name::from);
            e.owner = s("/spec/owner").map(|o| {
                crate::domain::catalog::refs::parse_ref(&o, Some(Kind::Group), DEFAULT_NAMESPACE)
                    .expect("owner ref")
            });
            e.annotations = v
                .pointer("/metadata/annotations")
                .and_then(|a| a.as_object())
                .map(|a| {
                    a.iter()
                        .map(|(k, x)| (k.clone(), x.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            e.spec = v.get("spec").cloned().unwrap_or_default().into();
            es.push(e);
        }
    }
    Catalog::from_resolved(es, Vec::new())
}

#[tokio::test]
async fn the_demo_catalog_opens() {
    let catalog = demo_catalog();
    // Every reference resolves.
    let mut refs = Vec::new();
    for e in catalog.entities() {
        let spec = e.spec.value();
        for (field, kind) in [
            ("owner", Kind::Group),
            ("system", Kind::System),
            ("domain", Kind::Domain),
            ("parent", Kind::Group),
        ] {
            if let Some(r) = spec.get(field).and_then(|x| x.as_str()) {
                refs.push((e.name.clone(), r.to_string(), kind.clone()));
            }
        }
        for (field, kind) in [
            ("providesApis", Kind::Api),
            ("consumesApis", Kind::Api),
            ("dependsOn", Kind::Component),
            ("memberOf", Kind::Group),
            ("children", Kind::Group),
        ] {
            for r in spec
                .get(field)
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                refs.push((
                    e.name.clone(),
                    r.as_str().unwrap_or_default().to_string(),
                    kind.clone(),
                ));
            }
        }
    }
    assert!(refs.len() > 100);
    for (from, r, kind) in refs {
        let target = crate::domain::catalog::refs::parse_ref(&r, Some(kind), DEFAULT_NAMESPACE)
            .expect("ref");
        assert!(catalog.get(&target).is_some(), "{from}: dangling {r}");
    }
    let sim = Sim::open(opts(42), catalog).unwrap();
    let services = sim
        .inner
        .catalog
        .entities()
        .iter()
        .filter(|e| is_service(e))
        .count();
    assert!(services >= 40, "{services} services");
    let snap = sim
        .platform()
        .clusters
        .snapshot(&Scope::default())
        .await
        .unwrap();
    let deployed: std::collections::BTreeSet<&str> = snap
        .deployments
        .iter()
        .map(|d| d.service.as_str())
        .collect();
    assert_eq!(deployed.len(), services);
    // Some production services are missing from ap-southeast-2.
    assert!(deployed.iter().any(|s| {
        snap.deployments
            .iter()
            .any(|d| d.service == *s && d.cluster.env == "production")
            && !snap
                .deployments
                .iter()
                .any(|d| d.service == *s && d.cluster.region == "ap-southeast-2")
    }));
    let locks = sim.platform().ledger.locks().await.unwrap();
    assert_eq!(locks[0].service, "payments-api");
    assert_eq!(locks[0].region.as_deref(), Some("eu-west-1"));
    assert_eq!(locks[0].by, "amara.okafor");
    // A few repos are missing or have no workflow.
    let repos = &sim.world().durable.repos;
    assert!(repos.len() < 46);
    assert!(repos.values().any(|r| r.workflows.is_empty()));
}

mod golden_path {
    use super::*;
    use crate::domain::golden::{CI_PATH, ServiceRequest};

    fn demo() -> (Sim, crate::backend::Platform) {
        let opts = SimOptions {
            pace: 0.0,
            ..SimOptions::default()
        };
        let sim = Sim::open(opts, crate::backend::catalog::demo_catalog()).expect("open");
        let p = sim.platform();
        (sim, p)
    }

    #[tokio::test]
    async fn each_golden_path_provider_call_is_idempotent() {
        let (_s, p) = demo();
        let r = ServiceRequest::new("fraud-scorer", "payments");
        let slug = r.slug();
        for _ in 0..2 {
            p.repos
                .create_from_template(&slug, &r.template, &r.template_values())
                .await
                .expect("repo");
        }
        let readme = p.repos.file(&slug, "README.md").await.expect("file");
        assert!(readme.is_some_and(|t| t.contains("fraud-scorer")));
        assert!(
            p.repos
                .write_file(&slug, CI_PATH, "a")
                .await
                .expect("write")
        );
        assert!(!p.repos.write_file(&slug, CI_PATH, "a").await.expect("same"));
        assert!(
            p.repos
                .write_file(&slug, CI_PATH, "b")
                .await
                .expect("changed")
        );
        let repo = p.repos.repo(&slug).await.expect("repo").expect("exists");
        assert_eq!(repo.workflows, ["ci.yaml"]);
        assert!(
            p.repos
                .write_file("northwind/nowhere", CI_PATH, "a")
                .await
                .is_err(),
            "no repository, no file"
        );
        let before = p.catalog.load().await.expect("load");
        for _ in 0..2 {
            p.catalog
                .register(&r.descriptor(), &r.location())
                .await
                .expect("register");
        }
        let after = p.catalog.load().await.expect("load");
        assert!(
            !Arc::ptr_eq(&before, &after),
            "a new catalog after registering"
        );
        assert_eq!(after.len(), before.len() + 1);
        assert!(
            p.catalog.register("kind: [", "url:broken").await.is_err(),
            "an invalid descriptor is refused"
        );
        let c = ClusterId::new("dev", "eu-west-1");
        for _ in 0..2 {
            p.clusters
                .create_deployment("fraud-scorer", &c, "0.1.0", 2)
                .await
                .expect("deploy");
        }
        let snap = p.clusters.snapshot(&Scope::default()).await.expect("snap");
        let n = snap
            .deployments
            .iter()
            .filter(|d| d.service == "fraud-scorer")
            .count();
        assert_eq!(n, 1);
        assert!(
            p.clusters
                .create_deployment("fraud-scorer", &ClusterId::new("dev", "mars-1"), "0.1.0", 1)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn registered_services_and_repo_files_survive_a_new_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = || SimOptions {
            pace: 0.0,
            state_path: Some(dir.path().join("state.json")),
            ..SimOptions::default()
        };
        let r = ServiceRequest::new("fraud-scorer", "payments");
        {
            let sim = Sim::open(opts(), crate::backend::catalog::demo_catalog()).expect("open");
            let p = sim.platform();
            p.repos
                .create_from_template(&r.slug(), &r.template, &r.template_values())
                .await
                .expect("repo");
            p.catalog
                .register(&r.descriptor(), &r.location())
                .await
                .expect("register");
        }
        let sim = Sim::open(opts(), crate::backend::catalog::demo_catalog()).expect("reopen");
        let p = sim.platform();
        let catalog = p.catalog.load().await.expect("load");
        assert!(
            catalog
                .find(Some(&Kind::Component), "fraud-scorer")
                .is_some()
        );
        assert!(
            p.repos
                .file(&r.slug(), "Cargo.toml")
                .await
                .expect("file")
                .is_some()
        );
    }
}

#[test]
fn a_misspelt_injected_failure_is_named() {
    assert_eq!(
        super::unknown_faults("register, bogus,,write_file,regster"),
        ["bogus", "regster"]
    );
    assert!(super::unknown_faults("").is_empty());
}

/// The deployments' versions: (service, cluster) → version.
fn versions(sim: &Sim) -> BTreeMap<(String, ClusterId), String> {
    sim.world()
        .durable
        .deployments
        .iter()
        .map(|d| {
            (
                (d.service.to_string(), d.cluster.clone()),
                d.version.to_string(),
            )
        })
        .collect()
}

fn pipeline_records(sim: &Sim) -> Vec<AuditRecord> {
    sim.world()
        .durable
        .audit
        .iter()
        .filter(|r| r.actor == PIPELINE_ACTOR)
        .cloned()
        .collect()
}

#[test]
fn the_pipeline_skips_locked_targets_and_audits_every_release() {
    let sim = Sim::open(opts(5), small_catalog()).unwrap();
    // Everything locked: the pipeline's releases are held, said once per target and
    // version, and no version changes.
    sim.add_lock(Lock {
        service: Lock::ALL.into(),
        env: None,
        region: None,
        reason: "INC-9".into(),
        by: "ada".into(),
        at: 0,
    })
    .unwrap();
    let before = versions(&sim);
    for _ in 0..150 {
        sim.tick();
    }
    assert_eq!(versions(&sim), before, "a locked target never changes");
    let held = pipeline_records(&sim);
    assert!(!held.is_empty(), "the skipped releases are audited");
    let mut seen = std::collections::BTreeSet::new();
    for r in &held {
        assert!(
            matches!(&r.outcome, Outcome::Refused(why) if why.contains("ada (INC-9)")),
            "{r:?}"
        );
        let to = r.details.get("version.to").cloned().unwrap_or_default();
        assert!(
            seen.insert((r.target.clone(), to)),
            "one record per target and version: {r:?}"
        );
    }
    // Unlocked: releases go out, each audited under the system actor with from → to.
    sim.remove_locks(Lock::ALL, None, None, None).unwrap();
    let skipped = held.len();
    for _ in 0..150 {
        sim.tick();
    }
    let after = versions(&sim);
    let released: Vec<AuditRecord> = pipeline_records(&sim)
        .into_iter()
        .skip(skipped)
        .filter(|r| r.outcome == Outcome::Succeeded)
        .collect();
    assert!(!released.is_empty(), "the pipeline released something");
    for r in &released {
        assert_eq!(r.action, "deployment.release");
        let (from, to) = (&r.details["version.from"], &r.details["version.to"]);
        assert_ne!(from, to, "{r:?}");
    }
    for ((service, cluster), v) in &after {
        if before[&(service.clone(), cluster.clone())] != *v {
            let target = format!("{service}@{cluster}");
            assert!(
                released
                    .iter()
                    .any(|r| r.target == target && r.details["version.to"] == *v),
                "{target} changed to {v} with no audit record"
            );
        }
    }
}
