//! State safety (nothing silently replaced, fail closed, private files, interrupted
//! actions) and one world across processes.

use std::path::{Path, PathBuf};

use super::*;

use anyhow::Result;
use futures::StreamExt;

use super::options::SimOptions;
use super::seed::SLUG;
use super::state;
use super::state::stamp;
use crate::domain::catalog::{Catalog, Entity, Kind};
use crate::domain::{ClusterEvent, ClusterId, Lock, Name, Outcome, Scope};

/// The wall clock these tests stop at (milliseconds).
const AT: i64 = 1_790_000_000_000;

fn opts_at(path: &Path) -> SimOptions {
    SimOptions {
        pace: 0.0,
        state_path: Some(path.to_path_buf()),
        ..SimOptions::default()
    }
}

fn open_at(path: &Path, catalog: Catalog) -> Result<Sim> {
    Sim::open_at(opts_at(path), catalog, Some(AT))
}

fn demo() -> Catalog {
    crate::backend::catalog::demo_catalog()
}

fn state_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo").join("state.json");
    (dir, path)
}

fn lock(service: &str, by: &str) -> Lock {
    Lock {
        service: service.to_string(),
        env: Some("staging".to_string()),
        region: None,
        reason: "INC-7".to_string(),
        by: by.to_string(),
        at: 0,
    }
}

fn state_error(r: Result<Sim>) -> String {
    let e = r.expect_err("the state must be refused");
    let se = e
        .downcast_ref::<StateError>()
        .unwrap_or_else(|| panic!("not a StateError: {e:#}"));
    se.to_string()
}

#[test]
fn an_unreadable_state_is_refused_and_left_as_it_is() {
    let (_dir, path) = state_file();
    let sim = open_at(&path, demo()).unwrap();
    sim.add_lock(lock("cart-service", "ada")).unwrap();
    drop(sim);
    let good = std::fs::read(&path).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let wrong_type = text.replacen("\"next_audit_id\":", "\"next_audit_id\":\"x\",\"_\":", 1);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        (
            "not JSON",
            b"locks: none\n".to_vec(),
            "not valid JSON at byte 0",
        ),
        ("empty", Vec::new(), "is empty"),
        (
            "wrong shape",
            br#"{"format": 2, "seed": 42}"#.to_vec(),
            "missing field",
        ),
        (
            "a field of the wrong type",
            wrong_type.into_bytes(),
            "`next_audit_id`",
        ),
        ("a string", b"\"hello\"".to_vec(), "shape of a demo state"),
    ];
    for (what, bytes, says) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let msg = state_error(open_at(&path, demo()));
        assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
        assert!(msg.contains(says), "{what}: {msg}");
        assert!(msg.contains("sphere demo reset"), "{what}: {msg}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{what}: file untouched"
        );
    }
    // Another seed's state is not this run's: named, not replaced.
    std::fs::write(&path, &good).unwrap();
    let other = SimOptions {
        seed: 7,
        ..opts_at(&path)
    };
    let msg = state_error(Sim::open_at(other, demo(), Some(AT)));
    assert!(msg.contains("`seed` 42"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), good);
    // Not readable at all (a directory where the file should be).
    let (_d2, path2) = state_file();
    std::fs::create_dir_all(&path2).unwrap();
    let msg = state_error(open_at(&path2, demo()));
    assert!(msg.contains("cannot be read"), "{msg}");
}

#[test]
fn a_state_broken_under_a_running_process_fails_its_changes_and_survives() {
    let (_dir, path) = state_file();
    let sim = open_at(&path, demo()).unwrap();
    std::fs::write(&path, b"{\"format\": 2,").unwrap();
    assert!(sim.add_lock(lock("cart-service", "ada")).is_err());
    sim.tick();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"format\": 2,");
}

#[test]
fn reset_keeps_the_old_file_as_a_dated_backup_without_reading_it() {
    let (_dir, path) = state_file();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"garbage").unwrap();
    let backup = Sim::reset(&path).unwrap().expect("a backup");
    assert!(!path.exists());
    assert_eq!(std::fs::read(&backup).unwrap(), b"garbage");
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("state.json.") && name.ends_with(".bak"),
        "{name}"
    );
    // A second reset on the same second keeps both backups.
    std::fs::write(&path, b"more garbage").unwrap();
    let second = Sim::reset(&path).unwrap().expect("a backup");
    assert_ne!(second, backup);
    assert_eq!(std::fs::read(&backup).unwrap(), b"garbage");
    assert!(open_at(&path, demo()).is_ok());
}

/// The demo catalog with one service less and one more.
fn changed_catalog(gone: &str, new: &str) -> Catalog {
    let base = demo();
    let mut entities: Vec<Entity> = base
        .entities()
        .iter()
        .filter(|e| !(e.kind == Kind::Component && e.name == gone))
        .cloned()
        .collect();
    let mut e = base
        .find(Some(&Kind::Component), "cart-service")
        .expect("cart-service")
        .clone();
    e.name = Name::from(new);
    e.annotations
        .insert(SLUG.to_string(), format!("northwind/{new}"));
    entities.push(e);
    Catalog::from_resolved(entities, Vec::new())
}

#[test]
fn a_changed_catalog_keeps_the_locks_and_audit_that_still_apply() {
    let (_dir, path) = state_file();
    let sim = open_at(&path, demo()).unwrap();
    let gone = "reviews-service";
    assert!(
        sim.world()
            .durable
            .deployments
            .iter()
            .any(|d| d.service == gone)
    );
    sim.add_lock(lock("cart-service", "ada")).unwrap();
    sim.add_lock(lock(gone, "bob")).unwrap();
    let id = sim
        .append_audit(
            "ada",
            "lock.add",
            "cart-service",
            None,
            &Default::default(),
            Outcome::Succeeded,
        )
        .unwrap();
    let version = |sim: &Sim| {
        sim.world()
            .durable
            .deployments
            .iter()
            .find(|d| d.service == "cart-service" && d.cluster.env == "production")
            .map(|d| d.version.to_string())
    };
    assert!(
        sim.set_version(
            "cart-service",
            &ClusterId::new("production", "us-east-1"),
            "0.0.1"
        )
        .unwrap()
    );
    let before_version = version(&sim);
    let audit_before = sim.world().durable.audit.len();
    drop(sim);

    let sim = open_at(&path, changed_catalog(gone, "brand-new-api")).unwrap();
    let w = sim.world();
    let d = &w.durable;
    assert!(
        d.locks
            .iter()
            .any(|l| l.service == "cart-service" && l.by == "ada")
    );
    assert!(!d.locks.iter().any(|l| l.service == gone), "its lock went");
    assert!(d.audit.iter().any(|r| r.id == id), "the audit is kept");
    assert_eq!(d.audit.len(), audit_before + 1, "and told once");
    let told = d.audit.last().unwrap();
    assert_eq!(told.action, "demo.catalog-change");
    let why = told.reason.as_deref().unwrap();
    assert!(why.contains(gone) && why.contains("brand-new-api"), "{why}");
    assert!(!d.deployments.iter().any(|x| x.service == gone));
    assert!(d.deployments.iter().any(|x| x.service == "brand-new-api"));
    assert!(d.secrets.metas(Some(gone)).is_empty());
    assert!(!d.secrets.metas(Some("brand-new-api")).is_empty());
    drop(w);
    assert_eq!(version(&sim), before_version, "a rollback is kept");
    assert_eq!(sim.notices().len(), 1);
    drop(sim);
    // Once: the next open has nothing to say.
    let again = open_at(&path, changed_catalog(gone, "brand-new-api")).unwrap();
    assert!(again.notices().is_empty());
    assert_eq!(again.world().durable.audit.len(), audit_before + 1);
}

#[test]
fn temporary_files_of_a_failed_or_killed_write_do_not_stay() {
    let (_dir, path) = state_file();
    let sim = open_at(&path, demo()).unwrap();
    let dir = path.parent().unwrap().to_path_buf();
    let tmps = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect()
    };
    // Killed mid-write: a temporary file stays behind; the next open removes it.
    std::fs::write(dir.join("state.json.tmp.4242"), b"{\"half").unwrap();
    drop(sim);
    let sim = open_at(&path, demo()).unwrap();
    assert!(tmps(&dir).is_empty(), "{:?}", tmps(&dir));
    // A write that fails (the state's place is taken by a directory) removes its own.
    let blocked = dir.join("blocked.json");
    std::fs::create_dir_all(blocked.join("inside")).unwrap();
    let w = sim.world();
    assert!(state::write_state(&blocked, &w.durable).is_err());
    assert!(tmps(&dir).is_empty(), "{:?}", tmps(&dir));
}

#[test]
fn an_action_killed_mid_way_is_interrupted_not_started_forever() {
    let (_dir, path) = state_file();
    let sim = open_at(&path, demo()).unwrap();
    let mine = sim
        .append_audit(
            "ada",
            "deployment.restart",
            "cart",
            None,
            &Default::default(),
            Outcome::Started,
        )
        .unwrap();
    let theirs = sim
        .append_audit(
            "bob",
            "deployment.restart",
            "cart",
            None,
            &Default::default(),
            Outcome::Started,
        )
        .unwrap();
    drop(sim);
    // `theirs` belonged to a process that is gone (no such pid).
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["running"][theirs.to_string()] = serde_json::json!({"pid": 999_999_999u32, "started": 1});
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let sim = open_at(&path, demo()).unwrap();
    let outcome = |id: u64| {
        sim.world()
            .durable
            .audit
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.outcome.clone())
            .unwrap()
    };
    assert!(matches!(outcome(theirs), Outcome::Interrupted(_)));
    // This process is alive: its action may still finish.
    assert_eq!(outcome(mine), Outcome::Started);
    sim.set_audit_outcome(mine, Outcome::Succeeded, &Default::default())
        .unwrap();
    assert!(sim.world().durable.running.is_empty());
}

#[cfg(unix)]
#[test]
fn the_state_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = state_file();
    let parent = path.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _sim = open_at(&path, demo()).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(parent), 0o700);
    assert_eq!(mode(&path), 0o600);
}

/// Everything a user sees of the live world.
fn live_view(sim: &Sim) -> String {
    let snap = sim.world().snapshot(&Scope::default());
    format!("{:?}\n{:?}\n{:?}", snap.deployments, snap.pods, snap.hpas)
}

#[tokio::test]
async fn two_processes_on_one_state_see_one_world() {
    let (_dir, path) = state_file();
    let a = open_at(&path, demo()).unwrap();
    for _ in 0..6 {
        a.tick();
    }
    // A process opened later sees the world as it is, not a newly made one.
    let b = open_at(&path, demo()).unwrap();
    assert_eq!(live_view(&a), live_view(&b));
    // And each sees the other's steps, watchers told.
    let mut stream = a.platform().clusters.watch();
    while !matches!(stream.next().await, Some(ClusterEvent::Synced(_))) {}
    for _ in 0..6 {
        b.tick();
    }
    assert!(a.refresh().unwrap());
    assert_eq!(live_view(&a), live_view(&b));
    let crash = a
        .world()
        .snapshot(&Scope::default())
        .pods
        .into_iter()
        .find(|p| p.waiting.is_some())
        .expect("a crash loop");
    let mut seen = None;
    // Everything b did is queued by the time `refresh` returns: drained without waiting.
    while let Some(Some(e)) = futures::FutureExt::now_or_never(stream.next()) {
        if let ClusterEvent::Pod(p) = e
            && p.name == crash.name
        {
            seen = Some(p.restarts);
        }
    }
    assert_eq!(seen, Some(crash.restarts), "the watcher heard b's restarts");
}

#[test]
fn the_clock_does_not_step_a_world_another_process_just_stepped() {
    let (_dir, path) = state_file();
    let a = open_at(&path, demo()).unwrap();
    let b = open_at(&path, demo()).unwrap();
    a.tick();
    let ticks = a.world().ticks;
    // b's clock fires at the same moment: it reads a's step instead of taking another.
    b.tick_due(1_000);
    assert_eq!(b.world().ticks, ticks);
    assert_eq!(live_view(&a), live_view(&b));
}

#[test]
fn an_unreadable_state_has_a_stand_in_that_fails_closed() {
    let sim = Sim::unreadable(
        SimOptions::default(),
        std::sync::Arc::new(demo()),
        "the demo state x is empty".into(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = sim.platform();
        let e = p.ledger.locks().await.expect_err("locks unknown");
        assert!(e.to_string().contains("is empty"));
        assert!(p.ledger.audit(None).await.is_err());
        assert!(p.clusters.snapshot(&Scope::default()).await.is_err());
        assert!(
            p.ledger
                .add_lock(lock("cart-service", "ada"))
                .await
                .is_err()
        );
        let mut watch = p.clusters.watch();
        for _ in 0..9 {
            let e = watch.next().await;
            assert!(matches!(e, Some(ClusterEvent::Unreachable { .. })), "{e:?}");
        }
        // The watch stays open: its end would mean the platform is gone (the TUI quits).
        assert!(futures::FutureExt::now_or_never(watch.next()).is_none());
        assert!(p.catalog.load().await.is_ok(), "the catalog is still there");
    });
}

/// The live half is written straight from the world to its own file (no copy of it
/// is made to write it), and reads back as the world it was written from.
#[test]
fn the_world_is_written_as_its_state_and_live_half() {
    let (_dir, path) = state_file();
    let sim = open_at(&path, demo()).unwrap();
    for _ in 0..4 {
        sim.tick();
    }
    let w = sim.world();
    let live: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state::live_path(&path)).unwrap()).unwrap();
    assert_eq!(live, serde_json::to_value(w.live_file()).unwrap());
    let durable: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(durable, serde_json::to_value(&w.durable).unwrap());
    assert!(
        durable.get("live").is_none(),
        "the live half has its own file"
    );
    let read = state::read_state(&path).unwrap().unwrap();
    assert_eq!(read.secrets, w.durable.secrets);
    assert_eq!(read.deployments, w.durable.deployments);
    assert_eq!(state::read_live(&path).unwrap(), Some(w.live_file()));
}

/// A clock step writes the state file only when it changed what the file keeps (a
/// release, an acknowledged flag); the live half, which every step moves, is written
/// to its own file each time, so every process still shows one world.
#[test]
fn a_step_rewrites_the_state_file_only_when_the_durable_state_changed() {
    let (_dir, path) = state_file();
    let a = open_at(&path, demo()).unwrap();
    let b = open_at(&path, demo()).unwrap();
    let (mut kept, mut rewritten) = (0, 0);
    for _ in 0..12 {
        let before = serde_json::to_value(&a.world().durable).unwrap();
        let (file, live) = (stamp(&path), stamp(&state::live_path(&path)));
        a.tick();
        let changed = serde_json::to_value(&a.world().durable).unwrap() != before;
        assert_eq!(
            stamp(&path) != file,
            changed,
            "state file written ⇔ durable state changed"
        );
        assert_ne!(
            stamp(&state::live_path(&path)),
            live,
            "the live half is written"
        );
        if changed {
            rewritten += 1;
        } else {
            kept += 1;
        }
        assert!(b.refresh().unwrap());
        assert_eq!(live_view(&a), live_view(&b));
    }
    assert!(
        kept > 0 && rewritten > 0,
        "{kept} steps kept the file, {rewritten} rewrote it"
    );
}

/// A live half's file that cannot be read is refused like the state, naming it.
#[test]
fn a_broken_live_file_is_refused_naming_it() {
    let (_dir, path) = state_file();
    drop(open_at(&path, demo()).unwrap());
    let live = state::live_path(&path);
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(&live, &text[..text.len() / 2]).unwrap();
    let msg = state_error(open_at(&path, demo()));
    assert!(msg.contains(&live.display().to_string()), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(&live).unwrap(),
        text[..text.len() / 2]
    );
    // `demo reset` starts over: the live half goes with the state.
    Sim::reset(&path).unwrap();
    assert!(!live.exists());
    let sim = open_at(&path, demo()).unwrap();
    assert!(sim.world().live.len() > 0);
    assert!(live.exists());
}

/// A file broken anywhere is refused with the same detail whether it is parsed as it
/// is read (a good file) or read whole (to name the byte and field).
#[test]
fn a_state_broken_deep_inside_names_the_byte_and_field() {
    let (_dir, path) = state_file();
    drop(open_at(&path, demo()).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    // A secret record with a number where the key is.
    let at = text.find("\"records\":[[").unwrap() + "\"records\":[[".len();
    let rec_end = at + text[at..].find(']').unwrap();
    let fields: Vec<&str> = text[at..rec_end].split(',').collect();
    let broken = format!(
        "{}{},{},{},7{}",
        &text[..at],
        fields[0],
        fields[1],
        fields[2],
        &text[at + fields[..4].join(",").len()..]
    );
    std::fs::write(&path, &broken).unwrap();
    let msg = state_error(open_at(&path, demo()));
    assert!(msg.contains("`secrets.records[0]"), "{msg}");
    assert!(msg.contains("byte "), "{msg}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}

/// A state file from before the live half had a file of its own (it kept it inside)
/// opens as the same world, and the live half moves out at that open.
#[test]
fn an_older_state_with_its_live_half_inside_opens_as_the_same_world() {
    let (_dir, path) = state_file();
    let a = open_at(&path, demo()).unwrap();
    for _ in 0..5 {
        a.tick();
    }
    let view = live_view(&a);
    {
        let w = a.world();
        let mut old = w.durable.clone();
        old.live = Some(w.live_file());
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
    }
    drop(a);
    std::fs::remove_file(state::live_path(&path)).unwrap();
    let b = open_at(&path, demo()).unwrap();
    assert_eq!(live_view(&b), view);
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(on_disk.get("live").is_none(), "moved out");
    assert_eq!(
        state::read_live(&path).unwrap(),
        Some(b.world().live_file())
    );
}

#[test]
fn a_process_open_during_a_reset_starts_over_and_never_writes_its_old_world_back() {
    let (_dir, path) = state_file();
    let tui = open_at(&path, demo()).unwrap();
    tui.add_lock(lock("cart-service", "ada")).unwrap();
    for _ in 0..3 {
        tui.tick();
    }
    // Another process: `sphere demo reset`.
    let backup = Sim::reset(&path).unwrap().expect("a backup");
    assert!(!path.exists());
    // The open process's clock steps: it must not write its world (and ada's lock) back.
    tui.tick();
    let cli = open_at(&path, demo()).unwrap();
    let adas = |sim: &Sim| {
        let w = sim.world();
        w.durable.locks.iter().filter(|l| l.by == "ada").count()
    };
    assert_eq!(adas(&cli), 0, "the reset world does not have ada's lock");
    assert_eq!(adas(&tui), 0, "the open process started over too");
    assert_eq!(live_view(&tui), live_view(&cli), "and both see one world");
    // The backup still holds the old world.
    let old = std::fs::read_to_string(&backup).unwrap();
    assert!(old.contains("INC-7"));
}

/// The TUI's open: the catalog at scale first, then the state, written later.
fn open_deferred(path: &Path, catalog: Catalog) -> Result<Sim> {
    let opts = opts_at(path);
    let catalog = Sim::scaled_catalog(&opts, catalog);
    Sim::open_deferred_at(opts, catalog, Some(AT))
}

fn lockers(sim: &Sim) -> Vec<String> {
    let w = sim.world();
    w.durable.locks.iter().map(|l| l.by.clone()).collect()
}

/// The TUI hands the platform over before the state it seeded is written (tens of
/// megabytes at scale); the write comes after, and the next start reads it back.
#[test]
fn a_deferred_open_writes_its_seed_once_saved_and_the_next_start_reads_it() {
    let (_dir, path) = state_file();
    let tui = open_deferred(&path, demo()).unwrap();
    assert!(!path.exists(), "nothing written while opening");
    assert!(!state::live_path(&path).exists());
    assert!(tui.save_opened().unwrap(), "written once handed over");
    assert!(path.exists() && state::live_path(&path).exists());
    let written = (stamp(&path), stamp(&state::live_path(&path)));
    assert!(!tui.save_opened().unwrap(), "and only once");
    assert_eq!((stamp(&path), stamp(&state::live_path(&path))), written);
    let next = open_at(&path, demo()).unwrap();
    assert_eq!(
        next.world().durable.deployments,
        tui.world().durable.deployments
    );
    assert_eq!(live_view(&next), live_view(&tui));
    // Read, not seeded again: nothing left to write.
    assert_eq!((stamp(&path), stamp(&state::live_path(&path))), written);
}

/// A start killed before its deferred write (or during it: the write is a temporary
/// file renamed) leaves no state behind: the next start seeds again, as the first
/// did, and writes it.
#[test]
fn a_start_killed_before_its_deferred_write_leaves_the_next_start_to_seed() {
    let (_dir, path) = state_file();
    let killed = open_deferred(&path, demo()).unwrap();
    let seeded = killed.world().durable.deployments.clone();
    let view = live_view(&killed);
    drop(killed);
    // What a write killed mid-way leaves.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp.999999");
    std::fs::write(&tmp, b"{\"format\":2,\"se").unwrap();
    let next = open_at(&path, demo()).unwrap();
    assert_eq!(next.world().durable.deployments, seeded);
    assert_eq!(live_view(&next), view);
    assert!(path.exists(), "the next start wrote it");
    assert!(!Path::new(&tmp).exists(), "the temporary file is gone");
}

/// A change made before the deferred write writes the whole state itself (as every
/// change does); the deferred write then leaves the file alone.
#[test]
fn a_change_before_the_deferred_write_is_written_and_kept() {
    let (_dir, path) = state_file();
    let tui = open_deferred(&path, demo()).unwrap();
    tui.add_lock(lock("cart-service", "ada")).unwrap();
    let written = stamp(&path);
    assert!(written.is_some(), "the change wrote the state");
    assert!(!tui.save_opened().unwrap());
    assert_eq!(stamp(&path), written);
    assert!(lockers(&open_at(&path, demo()).unwrap()).contains(&"ada".to_string()));
}

/// Another process that writes the state before the deferred write (a command run
/// meanwhile) wins: the deferred write reads its state instead of writing this
/// one's seed over it.
#[test]
fn a_state_another_process_wrote_first_is_read_not_overwritten() {
    let (_dir, path) = state_file();
    let tui = open_deferred(&path, demo()).unwrap();
    let cli = open_at(&path, demo()).unwrap();
    cli.add_lock(lock("cart-service", "bob")).unwrap();
    let written = stamp(&path);
    assert!(!tui.save_opened().unwrap());
    assert_eq!(stamp(&path), written, "not overwritten");
    assert!(lockers(&tui).contains(&"bob".to_string()));
    assert_eq!(
        lockers(&tui),
        lockers(&cli),
        "the TUI shows the state on disk"
    );
}

/// A saved state that the open changes (here: the catalog changed) is written later
/// too; until then the file is as it was, and the change is made once.
#[test]
fn a_saved_state_changed_at_a_deferred_open_is_written_later() {
    let (_dir, path) = state_file();
    drop(open_at(&path, demo()).unwrap());
    let before = std::fs::read(&path).unwrap();
    let changed = || changed_catalog("reviews-service", "brand-new-api");
    let tui = open_deferred(&path, changed()).unwrap();
    assert_eq!(tui.notices().len(), 1);
    assert_eq!(std::fs::read(&path).unwrap(), before, "not written yet");
    assert!(tui.save_opened().unwrap());
    let again = open_at(&path, changed()).unwrap();
    assert!(again.notices().is_empty(), "told once");
    assert_eq!(
        again.world().durable.audit.len(),
        tui.world().durable.audit.len()
    );
}

/// The catalog the TUI draws before the platform is open is the one the platform
/// then serves (the same allocation: the model rebuilds nothing when it loads it),
/// at scale.
#[tokio::test]
async fn the_catalog_shown_before_the_open_is_the_one_the_platform_serves() {
    let opts = SimOptions {
        pace: 0.0,
        scale: Scale::parse("services=300").unwrap(),
        ..SimOptions::default()
    };
    let catalog = Sim::scaled_catalog(&opts, demo());
    let services = catalog
        .entities()
        .iter()
        .filter(|e| super::seed::is_service(e))
        .count();
    assert_eq!(services, 300);
    let sim = Sim::open_deferred_at(opts, catalog.clone(), Some(AT)).unwrap();
    let served = sim.platform().catalog.load().await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&served, &catalog));
}

/// Checks that each text is held once among the names given to it.
#[derive(Default)]
struct OneCopy(std::collections::HashMap<String, usize>);

impl OneCopy {
    fn check(&mut self, n: &Name) {
        let at = n.as_str().as_ptr() as usize;
        let first = *self.0.entry(n.to_string()).or_insert(at);
        assert_eq!(first, at, "`{n}` has a copy of its own");
    }
}

/// The state and its live half, read back, hold one copy of each service, cluster
/// and version name, shared by every record as it is read (the records' own copies
/// of the same text were 40 % of the peak while reading at scale).
#[test]
fn a_state_read_back_holds_each_name_once() {
    let (_dir, path) = state_file();
    let sim = open_at(&path, demo()).unwrap();
    for _ in 0..3 {
        sim.tick();
    }
    drop(sim);
    let s = state::read_state(&path).unwrap().unwrap();
    let mut names = OneCopy::default();
    for d in &s.deployments {
        for n in [&d.service, &d.version, &d.cluster.env, &d.cluster.region] {
            names.check(n);
        }
    }
    for h in &s.hpas {
        for n in [&h.service, &h.cluster.env, &h.cluster.region] {
            names.check(n);
        }
    }
    for (service, versions) in &s.releases {
        names.check(service);
        versions.iter().for_each(|v| names.check(v));
    }
    let live = state::read_live(&path).unwrap().unwrap();
    let mut names = OneCopy::default();
    for d in &live.deployments {
        for n in [&d.service, &d.version, &d.cluster.env, &d.cluster.region] {
            names.check(n);
        }
    }
}
