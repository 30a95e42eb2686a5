//! Running the built `sphere` binary in tests: every directory in a temporary one,
//! the demo's clock stopped, nothing inherited from the developer's environment.
#![allow(dead_code)]

pub mod counting_proxy;
pub mod github_org;
pub mod kafka;
pub mod peers;
pub mod tmux;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The binary under test: `SPHERE_TEST_BIN` when set (a copy taken right after the
/// build, for when several checkouts share one target directory), else cargo's.
pub fn binary() -> String {
    std::env::var("SPHERE_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sphere").to_string())
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn command(dir: &tempfile::TempDir, args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args)
        .args(["--pace", "0"])
        .env("SPHERE_DATA_DIR", dir.path().join("data"))
        .env("SPHERE_CONFIG_DIR", dir.path().join("config"))
        .env("SPHERE_STATE_DIR", dir.path().join("state"))
        .env_remove("SPHERE_CONFIG")
        .env_remove("SPHERE_AS")
        .env_remove("SPHERE_DEMO_FAIL");
    c
}

pub fn sphere(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    command(dir, args)
        .stdin(Stdio::null())
        .output()
        .expect("sphere runs")
}

/// With the demo failing the named provider operations (`SPHERE_DEMO_FAIL`).
pub fn sphere_env(dir: &tempfile::TempDir, args: &[&str], fail: Option<&str>) -> Output {
    let mut c = command(dir, args);
    if let Some(op) = fail {
        c.env("SPHERE_DEMO_FAIL", op);
    }
    c.stdin(Stdio::null()).output().expect("sphere runs")
}

/// With `input` piped on stdin.
pub fn sphere_in(dir: &tempfile::TempDir, args: &[&str], input: &str) -> Output {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sphere runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("sphere exits")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}
