//! `cargo bench --bench binary`: the release `sphere` binary as a user runs it.
//!
//! Starts `sphere` in a pseudo-terminal at 160x48 on the demo platform (`--scale …
//! --pace 0`, a data directory of its own), opens the pods pane as soon as the first
//! frame is on screen, and reads what it draws through a VT parser. Two cases per
//! scale: a fresh data directory (the demo is seeded and its state written), and the
//! saved state a previous launch left (read back). Per case, the median of N launches
//! with the spread (min–max) of:
//!
//! - first frame: from spawning the process until anything of sphere's screen is
//!   up: the header (its sync indicator included) and the footer, whatever the panes
//!   show yet (the demo may still be opening);
//! - first full frame: from spawning the process until the screen shows the header
//!   (with its sync indicator), the catalog's table with its first row, and the
//!   footer;
//! - live: until the header's sync indicator says `● live <n> clusters`;
//! - RSS after sync: `VmRSS` once live, the pods pane open and drawn, and a settle time
//!   passed (`SPHERE_BENCH_SETTLE_MS`, default 1000);
//! - peak RSS: `VmHWM` at the same moment (the process's high-water mark until then);
//! - bytes written: what the process wrote to the terminal until then.
//!
//! Environment:
//! - `SPHERE_BIN`: the binary (default `target/release/sphere`; build it first with
//!   `cargo build --release --locked`).
//! - `SPHERE_BIN_BEFORE`: another binary measured in the same run, launches
//!   interleaved, for a before/after table from one run on a noisy machine.
//! - `SPHERE_BENCH_LAUNCHES`: launches per case (default 3).
//! - `SPHERE_BENCH_SCALES`: scales separated by `;` (default
//!   `services=10000,clusters=60,pods=50000`).
//! - `SPHERE_BENCH_TRACE=1`: print each launch, and its resident memory every 20 ms
//!   until it is measured (to see where the peak happens).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const COLS: u16 = 160;
const ROWS: u16 = 48;
/// How long one launch may take to draw and sync before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
struct Launch {
    shell: Duration,
    first_frame: Duration,
    live: Duration,
    rss_kib: u64,
    hwm_kib: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Fresh,
    Saved,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::Fresh => "fresh data dir",
            Case::Saved => "saved state",
        }
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The screen's rows as text.
fn rows(screen: &vt100::Screen) -> Vec<String> {
    screen.rows(0, COLS).collect()
}

/// The whole first frame is on screen: the header (the sync indicator is its last
/// part), the catalog's table with a first row, and the footer on the last row.
fn full_frame(rows: &[String]) -> bool {
    let Some(first) = rows.first() else {
        return false;
    };
    let header =
        first.contains("syncing ") || first.contains("● live ") || first.contains("unreachable");
    // The catalog's table with its first row (the catalog is loaded).
    let table = rows
        .iter()
        .position(|r| r.starts_with("name") && r.contains("owner") && r.contains("status"))
        .and_then(|i| rows.get(i + 1))
        .is_some_and(|r| {
            r.split('│')
                .next()
                .is_some_and(|cell| !cell.trim().is_empty())
        });
    let footer = rows.last().is_some_and(|r| r.contains("q quit"));
    header && table && footer
}

/// Sphere's screen is up: the header with its sync indicator and the footer.
fn shell_frame(rows: &[String]) -> bool {
    let header = rows.first().is_some_and(|r| {
        r.contains("syncing ") || r.contains("● live ") || r.contains("unreachable")
    });
    header && rows.last().is_some_and(|r| r.contains("q quit"))
}

fn is_live(rows: &[String]) -> bool {
    rows.first().is_some_and(|r| r.contains("● live "))
}

/// The pods pane is open and shows its pods.
fn pods_shown(rows: &[String]) -> bool {
    rows.iter()
        .any(|r| r.starts_with("cluster") && r.contains("pod") && r.contains("phase"))
        && rows.iter().any(|r| r.contains("Running"))
}

struct Dirs {
    root: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Result<Dirs> {
        Ok(Dirs {
            root: tempfile::Builder::new().prefix("sphere-bench-").tempdir()?,
        })
    }

    fn path(&self) -> &Path {
        self.root.path()
    }

    fn state_files(&self) -> usize {
        let dir = self.path().join("data").join("demo");
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// One launch of `bin` at `scale` with its data under `dirs`.
fn launch(bin: &Path, scale: &str, dirs: &Dirs, settle: Duration, trace: bool) -> Result<Launch> {
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .context("opening a pseudo-terminal")?;
    let root = dirs.path();
    let mut cmd = CommandBuilder::new(bin);
    cmd.args(["--scale", scale, "--pace", "0"]);
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("HOME", root);
    cmd.env("TERM", "xterm-256color");
    cmd.env("SPHERE_CONFIG_DIR", root.join("config"));
    cmd.env("SPHERE_DATA_DIR", root.join("data"));
    cmd.env("SPHERE_STATE_DIR", root.join("state"));
    cmd.env("SPHERE_CACHE_DIR", root.join("cache"));
    cmd.cwd(root);
    let started = Instant::now();
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .with_context(|| format!("starting {}", bin.display()))?;
    drop(pair.slave);
    let pid = child.process_id().context("no pid")?;
    let mut reader = pair.master.try_clone_reader()?;
    let mut writer = pair.master.take_writer()?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reading = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let size = |n: u16| std::num::NonZeroU16::new(n).context("a terminal size of 0");
    let mut parser = vt100::Parser::new(size(ROWS)?, size(COLS)?, 0);
    let mut bytes = 0u64;
    let (mut shell, mut first_frame, mut live, mut pods_open_at) = (None, None, None, None);
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut last_sample = Instant::now();
    let measured = loop {
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let screen = rows(parser.screen()).join("\n");
            bail!(
                "{} did not sync within {TIMEOUT:?}; the screen:\n{screen}",
                bin.display()
            );
        }
        if let Ok(Some(status)) = child.try_wait() {
            let screen = rows(parser.screen()).join("\n");
            bail!(
                "{} exited ({status:?}); the screen:\n{screen}",
                bin.display()
            );
        }
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(chunk) => {
                bytes += chunk.len() as u64;
                parser.process(&chunk);
                // Everything already read goes in before the screen is looked at: a
                // frame is one write, maybe several reads.
                while let Ok(more) = rx.try_recv() {
                    bytes += more.len() as u64;
                    parser.process(&more);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the terminal closed"),
        }
        let now = started.elapsed();
        if trace && last_sample.elapsed() >= Duration::from_millis(20) {
            last_sample = Instant::now();
            if let Some(rss) = status_kib(pid, "VmRSS:") {
                samples.push((now, rss));
            }
        }
        let screen = rows(parser.screen());
        if shell.is_none() && shell_frame(&screen) {
            shell = Some(now);
        }
        if first_frame.is_none() && full_frame(&screen) {
            first_frame = Some(now);
            // The pods pane.
            writer.write_all(b"3")?;
            writer.flush()?;
        }
        if first_frame.is_some() && live.is_none() && is_live(&screen) {
            live = Some(now);
        }
        if live.is_some() && pods_open_at.is_none() && pods_shown(&screen) {
            pods_open_at = Some(Instant::now());
        }
        if let Some(at) = pods_open_at
            && at.elapsed() >= settle
        {
            let rss = status_kib(pid, "VmRSS:").context("reading VmRSS")?;
            let hwm = status_kib(pid, "VmHWM:").context("reading VmHWM")?;
            break Launch {
                shell: shell.unwrap_or_default(),
                first_frame: first_frame.unwrap_or_default(),
                live: live.unwrap_or_default(),
                rss_kib: rss,
                hwm_kib: hwm,
                bytes,
            };
        }
    };
    writer.write_all(b"q")?;
    writer.flush()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Keep the terminal drained so the process can write its goodbye.
        while rx.try_recv().is_ok() {}
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} did not quit on `q`", bin.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(writer);
    drop(pair.master);
    let _ = reading.join();
    if trace {
        let line: Vec<String> = samples
            .iter()
            .map(|(t, kib)| format!("{}ms:{:.0}", t.as_millis(), *kib as f64 / 1024.0))
            .collect();
        eprintln!("    rss (MB) over time: {}", line.join(" "));
    }
    Ok(measured)
}

fn median_spread<T: Copy + PartialOrd>(mut v: Vec<T>) -> (T, T, T) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ms_cell(v: Vec<Duration>) -> String {
    let (m, lo, hi) = median_spread(v.iter().map(|d| d.as_secs_f64() * 1000.0).collect());
    format!("{m:.0} ms ({lo:.0}–{hi:.0})")
}

fn mb_cell(v: Vec<u64>) -> String {
    let (m, lo, hi) = median_spread(v.iter().map(|k| *k as f64 / 1024.0).collect());
    format!("{m:.1} MB ({lo:.1}–{hi:.1})")
}

fn kb_cell(v: Vec<u64>) -> String {
    let (m, lo, hi) = median_spread(v.iter().map(|b| *b as f64 / 1024.0).collect());
    format!("{m:.0} KB ({lo:.0}–{hi:.0})")
}

fn resolve(p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        p
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
    }
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let bin =
        resolve(&std::env::var("SPHERE_BIN").unwrap_or_else(|_| "target/release/sphere".into()));
    let mut bins = vec![("after", bin)];
    if let Ok(before) = std::env::var("SPHERE_BIN_BEFORE") {
        bins.insert(0, ("before", resolve(&before)));
    }
    for (_, b) in &bins {
        if !b.exists() {
            bail!(
                "{} does not exist: build it with `cargo build --release --locked`, or set SPHERE_BIN",
                b.display()
            );
        }
    }
    let n: usize = std::env::var("SPHERE_BENCH_LAUNCHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let settle = Duration::from_millis(
        std::env::var("SPHERE_BENCH_SETTLE_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    );
    let trace = std::env::var_os("SPHERE_BENCH_TRACE").is_some();
    let scales: Vec<String> = std::env::var("SPHERE_BENCH_SCALES")
        .unwrap_or_else(|_| "services=10000,clusters=60,pods=50000".into())
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();

    // (binary, scale, case) → launches.
    let mut results: Vec<(&str, String, Case, Vec<Launch>)> = Vec::new();
    for scale in &scales {
        // Each binary's saved state is its own (one data dir per binary and scale).
        let saved: Vec<Dirs> = bins.iter().map(|_| Dirs::new()).collect::<Result<_>>()?;
        for (bi, (label, bin)) in bins.iter().enumerate() {
            // The state the saved-state launches read: left by one launch before.
            launch(bin, scale, &saved[bi], settle, false)
                .with_context(|| format!("{label}: preparing the saved state"))?;
            if saved[bi].state_files() == 0 {
                bail!("{label}: the first launch left no state file to read back");
            }
        }
        let mut runs: Vec<Vec<Launch>> = vec![Vec::new(); bins.len() * 2];
        for i in 0..n {
            // Interleaved, so a noisy minute hits both binaries alike.
            for (bi, (label, bin)) in bins.iter().enumerate() {
                for (ci, case) in [Case::Fresh, Case::Saved].into_iter().enumerate() {
                    let fresh;
                    let dirs = match case {
                        Case::Fresh => {
                            fresh = Dirs::new()?;
                            &fresh
                        }
                        Case::Saved => &saved[bi],
                    };
                    let l = launch(bin, scale, dirs, settle, trace)
                        .with_context(|| format!("{label} {scale} {}", case.label()))?;
                    if trace {
                        eprintln!("  {label} {scale} {} #{}: {l:?}", case.label(), i + 1);
                    }
                    runs[bi * 2 + ci].push(l);
                }
            }
        }
        for (bi, (label, _)) in bins.iter().enumerate() {
            for (ci, case) in [Case::Fresh, Case::Saved].into_iter().enumerate() {
                results.push((label, scale.clone(), case, runs[bi * 2 + ci].clone()));
            }
        }
    }

    println!(
        "The release binary in a {COLS}x{ROWS} pseudo-terminal, `--pace 0`, pods pane open; median of {n} launches (min–max)."
    );
    println!();
    println!(
        "| binary | scale | case | first frame | first full frame | live | RSS after sync | peak RSS | bytes written |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (label, scale, case, ls) in results {
        println!(
            "| {label} | {scale} | {} | {} | {} | {} | {} | {} | {} |",
            case.label(),
            ms_cell(ls.iter().map(|l| l.shell).collect()),
            ms_cell(ls.iter().map(|l| l.first_frame).collect()),
            ms_cell(ls.iter().map(|l| l.live).collect()),
            mb_cell(ls.iter().map(|l| l.rss_kib).collect()),
            mb_cell(ls.iter().map(|l| l.hwm_kib).collect()),
            kb_cell(ls.iter().map(|l| l.bytes).collect()),
        );
    }
    Ok(())
}
