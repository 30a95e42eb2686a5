//! The screen comes up before the demo platform has opened: the header says what it
//! waits for, keys are answered (`q` quits), the catalog's rows are drawn (it needs
//! no state; every status unknown), and the clusters follow once the demo is open. The demo's open is held back for as long as the test
//! likes by holding the lock of its state file, as another sphere writing it would.

use std::fs::File;
use std::path::Path;

use crate::common::tmux::Tmux;

const OPENING: &str = "opening the demo";

/// Hold the lock of the demo state `--seed 7` opens under `data`.
fn hold_state_lock(data: &Path) -> File {
    use std::os::unix::fs::DirBuilderExt;
    let dir = data.join("demo");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .expect("mkdir");
    let lock = File::create(dir.join("state-7.json.lock")).expect("lock file");
    lock.lock().expect("lock");
    lock
}

fn start(data: &Path) -> Tmux {
    Tmux::start_with_env(
        100,
        30,
        "--pace 0 --seed 7",
        &format!("SPHERE_DATA_DIR={}", data.display()),
    )
}

#[test]
fn the_screen_answers_q_while_the_demo_is_still_opening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let lock = hold_state_lock(&data);
    let t = start(&data);
    let screen = t.wait_for("the screen while the demo opens", |s| {
        s.contains(OPENING) && s.contains("q quit")
    });
    assert!(
        screen.contains("opening the demo: seeding state…"),
        "{screen}"
    );
    assert!(screen.contains("syncing 0/9"), "{screen}");
    // The catalog needs no state: its rows are drawn while the demo opens. Nothing
    // is claimed of them yet: no cluster has synced, so every status is unknown,
    // never "not deployed".
    let screen = t.wait_for("the catalog while the demo opens", |s| {
        s.contains(OPENING) && s.contains("admin-portal") && s.contains("cart-service")
    });
    assert!(screen.contains("syncing 0/9"), "{screen}");
    assert!(screen.contains("? unknown"), "{screen}");
    assert!(!screen.contains("not deployed"), "{screen}");
    assert!(!screen.contains("Loading the catalog"), "{screen}");
    t.send(&["q"]);
    let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
    assert!(screen.contains("SPHERE-EXITED:0"), "{screen}");
    t.wait_for("cooked mode", |s| s.contains("COOKED"));
    // Quitting never took the lock: the state was neither read nor written.
    assert!(!data.join("demo").join("state-7.json").exists());
    drop(lock);
}

#[test]
fn the_catalog_and_clusters_follow_once_the_demo_has_opened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let lock = hold_state_lock(&data);
    let t = start(&data);
    t.wait_for("the screen while the demo opens", |s| {
        s.contains(OPENING) && s.contains("syncing 0/9")
    });
    // A key pressed meanwhile is answered: the pods pane, on the catalog's first
    // service (the catalog is in before the demo is open); its read waits for the demo.
    t.send(&["3"]);
    t.wait_for("the pods pane", |s| {
        s.contains(OPENING) && s.contains(" admin-portal ") && s.contains("restarts")
    });
    drop(lock);
    t.wait_for("the demo open and synced", |s| {
        s.contains("live 9 clusters") && !s.contains(OPENING) && s.contains(" admin-portal ")
    });
    // The state the demo seeded is written once the platform is handed over and its
    // watch has listed the clusters: off the screen's way, soon after.
    let state = data.join("demo").join("state-7.json");
    let since = std::time::Instant::now();
    while !state.exists() {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(30),
            "the seeded state was not written"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    t.send(&["q"]);
    let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
    assert!(screen.contains("SPHERE-EXITED:0"), "{screen}");
}
