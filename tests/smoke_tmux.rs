//! Start the built binary in tmux as a user would: wait for the catalog, filter,
//! quit, and check the terminal came back. Also checks that an idle sphere with the
//! demo clock stopped writes nothing to the terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    _home: tempfile::TempDir,
    home: PathBuf,
}

impl Tmux {
    fn start(width: u16, height: u16, args: &str) -> Tmux {
        Self::start_with_env(width, height, args, "")
    }

    fn start_with_env(width: u16, height: u16, args: &str, env: &str) -> Tmux {
        let home = tempfile::tempdir().expect("temp dir");
        let socket = format!("sphere-smoke-{}-{}", std::process::id(), rand_suffix());
        let bin = env!("CARGO_BIN_EXE_sphere");
        let dir = home.path().to_path_buf();
        let script = format!(
            "cd {dir}; SPHERE_CONFIG_DIR={dir}/config SPHERE_DATA_DIR={dir}/data \
             SPHERE_STATE_DIR={dir}/state TERM=xterm-256color {env} {bin} {args}; \
             echo SPHERE-EXITED:$?; stty -a | grep -q ' icanon' && echo COOKED; sleep 60",
            dir = dir.display(),
        );
        let t = Tmux {
            socket,
            home: dir,
            _home: home,
        };
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session failed: {out:?}");
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs (is it installed?)")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p"]).stdout).into_owned()
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    /// Poll the screen until `pred` holds or the deadline passes.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn home(&self) -> &Path {
        &self.home
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn rand_suffix() -> u64 {
    use std::time::SystemTime;
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

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
