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
//! - `SPHERE_BENCH_AGENT=1`: a third case, "from the agent" (issue 15): a Kafka broker
//!   (`SPHERE_BENCH_KAFKA=HOST:PORT`, else `tansu` from the PATH or `~/.cargo/bin`,
//!   started on loopback with memory storage), `sphere agent` (the same binary) over
//!   the demo at the scale, with topics of its own, until its `/metrics` says every
//!   source is up (all published); then each launch is the TUI with a config whose
//!   `[source] agent` names the broker, its data directory the agent's (the demo's
//!   saved state: pods and actions are the demo's, the rest comes from the topics).
//!   Its header says `● live` once the feed has read the topics to their end and every
//!   cluster has synced from them; its pods pane is open but empty (the agent
//!   publishes no pods), so RSS is read once the pane's title is drawn. Also timed, N times: `sphere drift --output json`
//!   from the topics (the read-side CLI: wall time and peak RSS), and the agent's own
//!   start (until all published) and memory, printed below the table.
//! - `SPHERE_BENCH_TIMEOUT_S`: how long one launch may take to sync (default 120; 300
//!   for the agent case: reading the topics to their end at the bench scale is slow on
//!   tansu). A client of the agent that does not sync in time is listed below the
//!   table, not in its medians.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const COLS: u16 = 160;
const ROWS: u16 = 48;
/// How long one launch may take to draw and sync before it counts as failed
/// (`SPHERE_BENCH_TIMEOUT_S`; by default [`AGENT_TIMEOUT`] for the agent case).
const TIMEOUT: Duration = Duration::from_secs(120);
const AGENT_TIMEOUT: Duration = Duration::from_secs(300);

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
    Agent,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::Fresh => "fresh data dir",
            Case::Saved => "saved state",
            Case::Agent => "from the agent",
        }
    }
}

/// A client of the agent: its config file and the data directory it shares with the
/// agent (the demo's state).
struct Client {
    config: PathBuf,
    data: PathBuf,
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

/// The pods pane is open: its title (`<service> <n> pods`). A client of the agent shows
/// none: the agent publishes no pods.
fn pods_pane_open(rows: &[String]) -> bool {
    rows.iter().any(|r| r.contains(" pods ─"))
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

/// How long a launch may take, from `SPHERE_BENCH_TIMEOUT_S`.
fn timeout(agent: bool) -> Duration {
    std::env::var("SPHERE_BENCH_TIMEOUT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(
            if agent { AGENT_TIMEOUT } else { TIMEOUT },
            Duration::from_secs,
        )
}

/// The environment every process of the bench runs in: its directories under `root`.
fn sphere_env(cmd: &mut CommandBuilder, root: &Path, data: &Path) {
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("HOME", root);
    cmd.env("TERM", "xterm-256color");
    cmd.env("SPHERE_CONFIG_DIR", root.join("config"));
    cmd.env("SPHERE_DATA_DIR", data);
    cmd.env("SPHERE_STATE_DIR", root.join("state"));
    cmd.env("SPHERE_CACHE_DIR", root.join("cache"));
    cmd.cwd(root);
}

/// One launch of `bin` at `scale` with its data under `dirs` (a client of the agent:
/// its config, and the agent's data directory).
fn launch(
    bin: &Path,
    scale: &str,
    dirs: &Dirs,
    client: Option<&Client>,
    settle: Duration,
    trace: bool,
) -> Result<Launch> {
    let timeout = timeout(client.is_some());
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
    if let Some(c) = client {
        cmd.arg("--config");
        cmd.arg(&c.config);
    }
    cmd.args(["--scale", scale, "--pace", "0"]);
    let data = client.map_or_else(|| root.join("data"), |c| c.data.clone());
    sphere_env(&mut cmd, root, &data);
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
        if started.elapsed() > timeout {
            let _ = child.kill();
            let screen = rows(parser.screen()).join("\n");
            bail!(
                "{} did not sync within {timeout:?}; the screen:\n{screen}",
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
        let pods = if client.is_some() {
            pods_pane_open(&screen)
        } else {
            pods_shown(&screen)
        };
        if live.is_some() && pods_open_at.is_none() && pods {
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

/// A process the bench started: killed and reaped when dropped.
struct Owned(std::process::Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `addr` accepts a connection, at most `within`.
fn wait_listening(addr: &str, within: Duration, what: &str) -> Result<()> {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not listen on {addr} within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The broker: `SPHERE_BENCH_KAFKA`, else tansu started on loopback (memory storage).
fn broker(dir: &Path) -> Result<(String, Option<Owned>)> {
    if let Ok(addr) = std::env::var("SPHERE_BENCH_KAFKA") {
        return Ok((addr, None));
    }
    let tansu = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin")))
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file())
        .context(
            "tansu is not installed (scripts/test.sh installs it); or set SPHERE_BENCH_KAFKA",
        )?;
    let port = free_port()?;
    let url = format!("tcp://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("tansu.log"))?;
    let child = std::process::Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting tansu")?;
    let owned = Owned(child);
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&addr, Duration::from_secs(30), "tansu")?;
    Ok((addr, Some(owned)))
}

/// `sphere agent` over the demo at one scale, publishing to its own topics, and the
/// config of its clients.
struct Agent {
    process: Owned,
    /// From its start until every source was up (published whole).
    published_in: Duration,
    rss_kib: u64,
    hwm_kib: u64,
    records: u64,
    client: Client,
    dirs: Dirs,
}

/// `sphere_agent_source_up` of each source; `records_published_total` summed.
fn agent_metrics(addr: &str) -> Result<(Vec<(String, bool)>, u64)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let mut up = Vec::new();
    let mut records = 0;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("sphere_agent_source_up{source=\"")
            && let Some((source, value)) = rest.split_once("\"} ")
        {
            up.push((source.to_string(), value.trim() == "1"));
        }
        if let Some(rest) = line.strip_prefix("sphere_agent_records_published_total{")
            && let Some((_, value)) = rest.split_once("} ")
        {
            records += value.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Ok((up, records))
}

impl Agent {
    fn start(bin: &Path, scale: &str, kafka: &str) -> Result<Agent> {
        let dirs = Dirs::new()?;
        let root = dirs.path().to_path_buf();
        let listen = format!("127.0.0.1:{}", free_port()?);
        // Topics of their own: a broker given by SPHERE_BENCH_KAFKA may hold others.
        let prefix = format!(
            "sphere-bench-{}-{}",
            std::process::id(),
            root.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        let topics = format!(
            "state_topic = \"{prefix}.state\"\nfindings_topic = \"{prefix}.findings\"\n\
             heartbeat_topic = \"{prefix}.heartbeats\"\nsilences_topic = \"{prefix}.silences\"\n"
        );
        let agent_toml = root.join("agent.toml");
        std::fs::write(
            &agent_toml,
            format!(
                "[agent]\nlisten = \"{listen}\"\n{topics}poll_seconds = 30\nheartbeat_seconds = 5\n\
                 timeout_seconds = 30\n[agent.properties]\n\"bootstrap.servers\" = \"{kafka}\"\n"
            ),
        )?;
        // The client names the same topics ([agent], which it does not run; a section
        // without its broker is a config problem, and a client with a problem in
        // [agent] would read the default topics) and the broker ([source]).
        let client_toml = root.join("client.toml");
        std::fs::write(
            &client_toml,
            format!(
                "[agent]\n{topics}[agent.properties]\n\"bootstrap.servers\" = \"{kafka}\"\n\
                 [source]\nagent = \"{kafka}\"\nstale_seconds = 600\ntimeout_seconds = 600\n"
            ),
        )?;
        let data = root.join("data");
        let log = std::fs::File::create(root.join("agent.log"))?;
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("--config")
            .arg(&agent_toml)
            .args(["--scale", scale, "--pace", "0", "agent"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &root)
            .env("SPHERE_CONFIG_DIR", root.join("config"))
            .env("SPHERE_DATA_DIR", &data)
            .env("SPHERE_STATE_DIR", root.join("agent-state"))
            .env("SPHERE_CACHE_DIR", root.join("cache"))
            .current_dir(&root)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let started = Instant::now();
        let process = Owned(
            cmd.spawn()
                .with_context(|| format!("starting {} agent", bin.display()))?,
        );
        let pid = process.0.id();
        let mut agent = Agent {
            process,
            published_in: Duration::ZERO,
            rss_kib: 0,
            hwm_kib: 0,
            records: 0,
            client: Client {
                config: client_toml,
                data,
            },
            dirs,
        };
        let deadline = started + AGENT_TIMEOUT;
        loop {
            if let Ok(Some(status)) = agent.process.0.try_wait() {
                let log = std::fs::read_to_string(agent.dirs.path().join("agent.log"))
                    .unwrap_or_default();
                let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                bail!("the agent exited ({status}); its last log lines (newest first):\n{tail}");
            }
            if Instant::now() > deadline {
                bail!("the agent did not publish every source within {AGENT_TIMEOUT:?}");
            }
            if let Ok((up, records)) = agent_metrics(&listen)
                && !up.is_empty()
                && up.iter().all(|(_, ok)| *ok)
            {
                agent.published_in = started.elapsed();
                agent.records = records;
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        agent.rss_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
        agent.hwm_kib = status_kib(pid, "VmHWM:").unwrap_or(0);
        Ok(agent)
    }
}

/// One run of `sphere drift --output json` from the agent's topics: wall time and peak
/// resident memory (its `VmHWM`, sampled until it exits).
fn cli_drift(bin: &Path, scale: &str, agent: &Agent) -> Result<(Duration, u64)> {
    let root = agent.dirs.path();
    let out = root.join("drift.json");
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("--config")
        .arg(&agent.client.config)
        .args(["--scale", scale, "--pace", "0", "drift", "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root)
        .env("SPHERE_CONFIG_DIR", root.join("config"))
        .env("SPHERE_DATA_DIR", &agent.client.data)
        .env("SPHERE_STATE_DIR", root.join("state"))
        .env("SPHERE_CACHE_DIR", root.join("cache"))
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(root.join("drift.err"))?);
    let started = Instant::now();
    let mut child = Owned(cmd.spawn()?);
    let pid = child.0.id();
    let mut hwm = 0;
    let status = loop {
        if let Some(k) = status_kib(pid, "VmHWM:") {
            hwm = hwm.max(k);
        }
        if let Some(s) = child.0.try_wait()? {
            break s;
        }
        if started.elapsed() > AGENT_TIMEOUT {
            bail!("sphere drift did not answer within {AGENT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    // 0: no drift; 1: drift (the demo has some) — both answers from the topics.
    if !matches!(status.code(), Some(0 | 1)) {
        let err = std::fs::read_to_string(root.join("drift.err")).unwrap_or_default();
        bail!("sphere drift --output json failed ({status}): {err}");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)
        .context("sphere drift --output json did not print JSON")?;
    if !json
        .get("findings")
        .is_some_and(serde_json::Value::is_array)
    {
        bail!("sphere drift --output json has no findings: {json}");
    }
    Ok((took, hwm))
}

fn median_spread<T: Copy + PartialOrd>(mut v: Vec<T>) -> (T, T, T) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ms_cell(v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "none synced".to_string();
    }
    let (m, lo, hi) = median_spread(v.iter().map(|d| d.as_secs_f64() * 1000.0).collect());
    format!("{m:.0} ms ({lo:.0}–{hi:.0})")
}

fn mb_cell(v: Vec<u64>) -> String {
    if v.is_empty() {
        return "-".to_string();
    }
    let (m, lo, hi) = median_spread(v.iter().map(|k| *k as f64 / 1024.0).collect());
    format!("{m:.1} MB ({lo:.1}–{hi:.1})")
}

fn kb_cell(v: Vec<u64>) -> String {
    if v.is_empty() {
        return "-".to_string();
    }
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

    let with_agent = std::env::var_os("SPHERE_BENCH_AGENT").is_some_and(|v| v != "0");
    let cases: Vec<Case> = if with_agent {
        vec![Case::Fresh, Case::Saved, Case::Agent]
    } else {
        vec![Case::Fresh, Case::Saved]
    };
    // The broker of the agent case, for the whole run.
    let broker_dir = Dirs::new()?;
    let (kafka, _broker) = if with_agent {
        let (addr, owned) = broker(broker_dir.path())?;
        (addr, owned)
    } else {
        (String::new(), None)
    };

    // (binary, scale, case) → launches.
    let mut results: Vec<(&str, String, Case, Vec<Launch>)> = Vec::new();
    // (binary, scale) → the agent's start, and the read-side CLI's runs.
    let mut agent_lines: Vec<String> = Vec::new();
    // Launches of the agent case that did not sync, and why.
    let mut failures: Vec<String> = Vec::new();
    for scale in &scales {
        // Each binary's saved state is its own (one data dir per binary and scale).
        let saved: Vec<Dirs> = bins.iter().map(|_| Dirs::new()).collect::<Result<_>>()?;
        for (bi, (label, bin)) in bins.iter().enumerate() {
            // The state the saved-state launches read: left by one launch before.
            launch(bin, scale, &saved[bi], None, settle, false)
                .with_context(|| format!("{label}: preparing the saved state"))?;
            if saved[bi].state_files() == 0 {
                bail!("{label}: the first launch left no state file to read back");
            }
        }
        // Each binary's agent, publishing the demo at this scale (before the launches:
        // it runs, idle but for its polls and heartbeats, through all of them).
        let mut agents: Vec<Agent> = Vec::new();
        if with_agent {
            for (label, bin) in &bins {
                let a = Agent::start(bin, scale, &kafka)
                    .with_context(|| format!("{label}: starting the agent at {scale}"))?;
                if trace {
                    eprintln!(
                        "  {label} {scale}: the agent published {} records in {:?}",
                        a.records, a.published_in
                    );
                }
                agents.push(a);
            }
        }
        let mut runs: Vec<Vec<Launch>> = vec![Vec::new(); bins.len() * cases.len()];
        let mut cli: Vec<Vec<(Duration, u64)>> = vec![Vec::new(); bins.len()];
        for i in 0..n {
            // Interleaved, so a noisy minute hits both binaries alike.
            for (bi, (label, bin)) in bins.iter().enumerate() {
                for (ci, case) in cases.iter().copied().enumerate() {
                    let fresh;
                    let (dirs, client) = match case {
                        Case::Fresh => {
                            fresh = Dirs::new()?;
                            (&fresh, None)
                        }
                        Case::Saved => (&saved[bi], None),
                        Case::Agent => {
                            // A directory of its own (config, state, log); the data
                            // (the demo's state) is the agent's.
                            fresh = Dirs::new()?;
                            (&fresh, Some(&agents[bi].client))
                        }
                    };
                    let l = launch(bin, scale, dirs, client, settle, trace)
                        .with_context(|| format!("{label} {scale} {}", case.label()));
                    let l = match l {
                        Ok(l) => l,
                        // A client of the agent that does not sync is a finding, kept
                        // (said below the table); the other cases stop the bench.
                        Err(e) if case == Case::Agent => {
                            eprintln!("  {label} {scale} {} #{}: {e:#}", case.label(), i + 1);
                            failures.push(format!(
                                "{label} {scale} {} #{}: {}",
                                case.label(),
                                i + 1,
                                format!("{e:#}").lines().next().unwrap_or_default()
                            ));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if trace {
                        eprintln!("  {label} {scale} {} #{}: {l:?}", case.label(), i + 1);
                    }
                    runs[bi * cases.len() + ci].push(l);
                }
                if with_agent {
                    match cli_drift(bin, scale, &agents[bi]) {
                        Ok(r) => {
                            if trace {
                                eprintln!(
                                    "  {label} {scale} drift --output json #{}: {r:?}",
                                    i + 1
                                );
                            }
                            cli[bi].push(r);
                        }
                        Err(e) => {
                            eprintln!("  {label} {scale} drift --output json #{}: {e:#}", i + 1);
                            failures
                                .push(format!("{label} {scale} sphere drift #{}: {e:#}", i + 1));
                        }
                    }
                }
            }
        }
        for (bi, (label, _)) in bins.iter().enumerate() {
            for (ci, case) in cases.iter().copied().enumerate() {
                results.push((
                    label,
                    scale.clone(),
                    case,
                    runs[bi * cases.len() + ci].clone(),
                ));
            }
            if let Some(a) = agents.get(bi) {
                agent_lines.push(format!(
                    "| {label} | {scale} | the agent's start until every source was published ({} records) | {:.1} s | RSS then {:.1} MB, peak {:.1} MB |",
                    a.records,
                    a.published_in.as_secs_f64(),
                    a.rss_kib as f64 / 1024.0,
                    a.hwm_kib as f64 / 1024.0,
                ));
                let runs = &cli[bi];
                agent_lines.push(format!(
                    "| {label} | {scale} | `sphere drift --output json` from the topics | {} | peak RSS {} |",
                    ms_cell(runs.iter().map(|r| r.0).collect()),
                    mb_cell(runs.iter().map(|r| r.1).collect()),
                ));
            }
        }
        drop(agents);
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
            "| {label} | {scale} | {} ({} launches) | {} | {} | {} | {} | {} | {} |",
            case.label(),
            ls.len(),
            ms_cell(ls.iter().map(|l| l.shell).collect()),
            ms_cell(ls.iter().map(|l| l.first_frame).collect()),
            ms_cell(ls.iter().map(|l| l.live).collect()),
            mb_cell(ls.iter().map(|l| l.rss_kib).collect()),
            mb_cell(ls.iter().map(|l| l.hwm_kib).collect()),
            kb_cell(ls.iter().map(|l| l.bytes).collect()),
        );
    }
    if !agent_lines.is_empty() {
        println!();
        println!("| binary | scale | what | time | memory |");
        println!("| --- | --- | --- | --- | --- |");
        for line in agent_lines {
            println!("{line}");
        }
    }
    if !failures.is_empty() {
        println!();
        println!("Did not sync (not in the medians above):");
        for f in failures {
            println!("- {f}");
        }
    }
    Ok(())
}
