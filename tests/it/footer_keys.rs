//! The footer's hints come from the registry and the keymap: a user's binding shows
//! there without a list to edit.

use sphere::tui::harness::Harness;

fn footer(h: &mut Harness) -> String {
    let screen = h.render();
    screen
        .lines()
        .last()
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

async fn with_keymap(width: u16, height: u16, toml: &str) -> Harness {
    let dir = tempfile::tempdir().expect("tmp");
    let paths = sphere::config::Paths::in_dir(dir.path());
    std::fs::create_dir_all(paths.keymap_file().parent().expect("a dir")).expect("dir");
    std::fs::write(paths.keymap_file(), toml).expect("write");
    let (keymap, problems) = sphere::config::load_keymap(&paths);
    assert!(problems.is_empty(), "{problems:?}");
    let mut h = Harness::demo(width, height).await.expect("demo");
    h.model.keymap = keymap;
    h
}

#[tokio::test]
async fn a_rebound_filter_shows_its_new_key_in_the_footer() {
    let mut h = Harness::demo(120, 40).await.expect("demo");
    let before = footer(&mut h);
    assert!(before.starts_with("/ filter  <Enter> open"), "{before}");

    let mut h = with_keymap(
        120,
        40,
        "[[global]]\non = \"f\"\nrun = \"filter\"\n\n[[global]]\non = \"/\"\nrun = \"noop\"\n",
    )
    .await;
    let line = footer(&mut h);
    assert!(line.starts_with("f filter  <Enter> open"), "{line}");
    assert!(!line.contains("/ filter"), "{line}");
    // The key does what the footer says.
    h.keys("f");
    assert!(h.model.editing(), "f opens the filter");
}

#[tokio::test]
async fn a_command_bound_in_a_new_pane_gets_its_hint_there() {
    let mut h = with_keymap(
        120,
        40,
        "[[pods]]\non = \"K\"\nrun = \"restart\"\n\n[[pods]]\non = \"R\"\nrun = \"noop\"\n\n\
         [[pods]]\non = \"d\"\nrun = \"drift_only\"\n",
    )
    .await;
    h.keys("3");
    let line = footer(&mut h);
    assert!(
        line.starts_with("K restart  H hpa  L lock  / filter  d drift only"),
        "{line}"
    );
}
