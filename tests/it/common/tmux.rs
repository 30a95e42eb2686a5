//! Driving the built binary in tmux as a user would: start it at a size, send keys,
//! read the screen.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
    _home: tempfile::TempDir,
    home: PathBuf,
}

impl Tmux {
    pub fn start(width: u16, height: u16, args: &str) -> Tmux {
        Self::start_with_env(width, height, args, "")
    }

    pub fn start_with_env(width: u16, height: u16, args: &str, env: &str) -> Tmux {
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

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs (is it installed?)")
    }

    pub fn capture(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p"]).stdout).into_owned()
    }

    pub fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    /// Poll the screen until `pred` holds or the deadline passes.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
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

    pub fn home(&self) -> &Path {
        &self.home
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

pub fn rand_suffix() -> u64 {
    use std::time::SystemTime;
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0)
}
