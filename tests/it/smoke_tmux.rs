//! Start the built binary in tmux as a user would: wait for the catalog, filter,
//! quit, and check the terminal came back. Also checks that an idle sphere with the
//! demo clock stopped writes nothing to the terminal.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::tmux::Tmux;

#[test]
fn starts_filters_quits_and_restores_the_terminal() {
    let t = Tmux::start(100, 30, "--pace 0");
    t.wait_for("the catalog", |s| {
        s.contains("Catalog") && s.contains("live 9 clusters")
    });
    t.send(&["/", "pay"]);
    let screen = t.wait_for("the filter", |s| s.contains("/pay"));
    assert!(screen.contains("payments"), "{screen}");
    t.send(&["Escape"]);
    t.wait_for("the filter to clear", |s| !s.contains("/pay"));
    t.send(&["q"]);
    let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
    assert!(screen.contains("SPHERE-EXITED:0"), "{screen}");
    // The alternate screen is gone and the tty is back in cooked mode.
    let alt = t.tmux(&["display-message", "-p", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    t.wait_for("cooked mode", |s| s.contains("COOKED"));
    assert!(t.home().join("state").join("sphere.log").exists());
}

#[test]
fn sigterm_restores_the_terminal() {
    let t = Tmux::start(100, 30, "--pace 0");
    t.wait_for("the catalog", |s| s.contains("live 9 clusters"));
    let pid = t.tmux(&["display-message", "-p", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let st = Command::new("pkill")
        .args(["-TERM", "-P", &shell, "sphere"])
        .status()
        .expect("pkill");
    assert!(st.success(), "sphere was running under the pane's shell");
    let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
    assert!(screen.contains("SPHERE-EXITED:0"), "{screen}");
    t.wait_for("cooked mode", |s| s.contains("COOKED"));
}

#[test]
fn a_panic_restores_the_terminal_and_says_why() {
    let t = Tmux::start(100, 30, "--pace 0");
    t.wait_for("the catalog", |s| s.contains("live 9 clusters"));
    t.send(&["q"]);
    t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:0"));
    drop(t);
    // Now one that panics right after its first frame.
    let t = Tmux::start_with_env(
        100,
        30,
        "--pace 0",
        "RUST_BACKTRACE=0 SPHERE_DEBUG_PANIC_AFTER_DRAW=1",
    );
    let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
    assert!(
        !screen.contains("SPHERE-EXITED:0"),
        "a panic exits non-zero: {screen}"
    );
    assert!(screen.contains("SPHERE_DEBUG_PANIC_AFTER_DRAW"), "{screen}");
    let alt = t.tmux(&["display-message", "-p", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    t.wait_for("cooked mode", |s| s.contains("COOKED"));
}

/// With the clock stopped, not one byte reaches the terminal after the first frame
/// until a key is pressed.
#[test]
fn idle_writes_nothing() {
    let t = Tmux::start(100, 30, "--pace 0");
    t.wait_for("the catalog", |s| s.contains("live 9 clusters"));
    let log = t.home().join("pane.out");
    assert!(
        t.tmux(&["pipe-pane", "-o", &format!("cat >> {}", log.display())])
            .status
            .success()
    );
    // Give a busy loop every chance to show itself.
    std::thread::sleep(Duration::from_millis(1500));
    let idle = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert_eq!(idle, 0, "sphere wrote {idle} bytes while idle");
    t.send(&["j"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "a key press drew nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.send(&["q"]);
    t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:0"));
}

/// `--as NAME` opens the TUI as that catalog User: the header names them and the
/// policy applies to them; a name that is no User stops before the screen opens.
#[test]
fn act_as_a_catalog_user_in_the_tui() {
    let t = Tmux::start(100, 30, "--pace 0 --as ahmed.karim");
    let screen = t.wait_for("the catalog", |s| s.contains("live 9 clusters"));
    assert!(screen.contains("│ ahmed.karim │"), "{screen}");
    // payments-api belongs to the payments team, which ahmed.karim is not in.
    t.send(&["/", "payments-api", "Enter", "L"]);
    t.wait_for("the reason prompt", |s| s.contains("Lock payments-api"));
    t.send(&["hold", "Enter"]);
    let screen = t.wait_for("the refusal", |s| s.contains("refused"));
    assert!(screen.contains("ahmed.karim is not a member"), "{screen}");
    // The refusal offers an access request; Esc declines it.
    t.wait_for("the access request prompt", |s| {
        s.contains("Request operate")
    });
    t.send(&["Escape"]);
    t.wait_for("the prompt to close", |s| !s.contains("Request operate"));
    t.send(&["q"]);
    t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:0"));
    drop(t);
    let t = Tmux::start(100, 30, "--pace 0 --as nobody.at.all");
    let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
    assert!(screen.contains("SPHERE-EXITED:2"), "{screen}");
    assert!(
        screen.contains("\"nobody.at.all\" is not a User in the catalog"),
        "{screen}"
    );
}

/// Send `signal` to the sphere running in `t`'s pane.
fn signal_sphere(t: &Tmux, signal: &str) {
    let pid = t.tmux(&["display-message", "-p", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let st = Command::new("pkill")
        .args([&format!("-{signal}"), "-P", &shell, "sphere"])
        .status()
        .expect("pkill");
    assert!(st.success(), "sphere was running under the pane's shell");
}

/// SIGINT and SIGQUIT (from `kill`: in raw mode ctrl-c is a key) end sphere as SIGTERM
/// does: off the alternate screen, cursor shown, the tty cooked.
#[test]
fn sigint_and_sigquit_restore_the_terminal() {
    for signal in ["INT", "QUIT"] {
        let t = Tmux::start(100, 30, "--pace 0");
        t.wait_for("the catalog", |s| s.contains("live 9 clusters"));
        let cursor = t.tmux(&["display-message", "-p", "#{cursor_flag}"]);
        assert_eq!(
            String::from_utf8_lossy(&cursor.stdout).trim(),
            "0",
            "the TUI hides the cursor"
        );
        signal_sphere(&t, signal);
        let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
        assert!(screen.contains("SPHERE-EXITED:0"), "SIG{signal}: {screen}");
        let alt = t.tmux(&["display-message", "-p", "#{alternate_on}"]);
        assert_eq!(
            String::from_utf8_lossy(&alt.stdout).trim(),
            "0",
            "SIG{signal} left the alternate screen on"
        );
        let cursor = t.tmux(&["display-message", "-p", "#{cursor_flag}"]);
        assert_eq!(
            String::from_utf8_lossy(&cursor.stdout).trim(),
            "1",
            "SIG{signal} left the cursor hidden"
        );
        t.wait_for("cooked mode", |s| s.contains("COOKED"));
    }
}

/// A panic in a background task ends sphere: the terminal restored, a message naming
/// the panic and the log, a non-zero exit, and no frame drawn after it.
#[test]
fn a_background_panic_ends_sphere_cleanly() {
    let t = Tmux::start_with_env(
        100,
        30,
        "--pace 0",
        "RUST_BACKTRACE=0 SPHERE_DEBUG_PANIC_IN_TASK=1",
    );
    let screen = t.wait_for("sphere to exit", |s| s.contains("SPHERE-EXITED:"));
    assert!(
        screen.contains("SPHERE-EXITED:1"),
        "a background panic exits 1: {screen}"
    );
    assert!(
        screen.contains("a background task panicked: SPHERE_DEBUG_PANIC_IN_TASK"),
        "{screen}"
    );
    assert!(screen.contains("sphere.log"), "{screen}");
    // Nothing of the TUI was drawn over the restored terminal.
    assert!(!screen.contains("live 9 clusters"), "{screen}");
    let alt = t.tmux(&["display-message", "-p", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    t.wait_for("cooked mode", |s| s.contains("COOKED"));
    let log = std::fs::read_to_string(t.home().join("state").join("sphere.log")).expect("log");
    assert!(log.contains("SPHERE_DEBUG_PANIC_IN_TASK"), "{log}");
}

/// `sphere secret reveal` on a terminal shows a value's escape sequences as text (they
/// neither set the window title nor switch screens); into a pipe the bytes are exact.
#[test]
fn a_revealed_secret_cannot_drive_the_terminal() {
    use std::io::Write;
    let evil = "tok\x1b]2;PWNED\x07en\x1b[?1049h\x1b[2J\u{202E}end";
    let t = Tmux::start(100, 30, "--pace 0 secret list payments-api --env staging");
    t.wait_for("the first command", |s| s.contains("SPHERE-EXITED:0"));
    let run = |args: &[&str], input: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sphere"));
        c.args(args)
            .args(["--pace", "0"])
            .env("SPHERE_CONFIG_DIR", t.home().join("config"))
            .env("SPHERE_DATA_DIR", t.home().join("data"))
            .env("SPHERE_STATE_DIR", t.home().join("state"))
            .env_remove("SPHERE_CONFIG")
            .env_remove("SPHERE_AS")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("sphere runs");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(i) = input {
            stdin.write_all(i.as_bytes()).expect("write stdin");
        }
        drop(stdin);
        child.wait_with_output().expect("sphere exits")
    };
    let at = [
        "payments-api",
        "EVIL_TOKEN",
        "--env",
        "staging",
        "--region",
        "eu-west-1",
    ];
    let put: Vec<&str> = ["secret", "put"].iter().chain(&at).copied().collect();
    let out = run(&put, Some(evil));
    assert!(out.status.success(), "{out:?}");
    // Into a pipe: exactly the bytes.
    let reveal: Vec<&str> = ["secret", "reveal"].iter().chain(&at).copied().collect();
    let out = run(&reveal, None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, evil.as_bytes());
    // On the terminal: escaped.
    let dir = t.home().display().to_string();
    let script = format!(
        "clear; SPHERE_CONFIG_DIR={dir}/config SPHERE_DATA_DIR={dir}/data \
         SPHERE_STATE_DIR={dir}/state {bin} --pace 0 {args}; echo REVEAL-EXITED:$?; sleep 60",
        bin = env!("CARGO_BIN_EXE_sphere"),
        args = reveal.join(" "),
    );
    assert!(
        t.tmux(&["respawn-pane", "-k", "sh", "-c", &script])
            .status
            .success()
    );
    let screen = t.wait_for("reveal to end", |s| s.contains("REVEAL-EXITED:"));
    assert!(screen.contains("REVEAL-EXITED:0"), "{screen}");
    assert!(
        screen.contains(r"tok\x1b]2;PWNED\x07en\x1b[?1049h\x1b[2J\u{202e}end"),
        "{screen}"
    );
    let title = t.tmux(&["display-message", "-p", "#{pane_title}"]);
    assert!(
        !String::from_utf8_lossy(&title.stdout).contains("PWNED"),
        "the value set the title"
    );
    let alt = t.tmux(&["display-message", "-p", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
}
