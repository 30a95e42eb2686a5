//! `cargo bench --bench tui`: the catalog at scale on the demo platform.
//!
//! Prints a table: time to first full frame, catalog draw time (median, p99), filter
//! keystroke latency, and bytes written to the terminal for one changed row. Drawing
//! goes through the real crossterm backend into a byte counter, so the figures include
//! ratatui's diff and the escape sequences a terminal would receive.
// A benchmark, like a test, stops with its message when its set-up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::CrosstermBackend;
use ratatui::{Terminal, TerminalOptions, Viewport};
use sphere::backend::sim::Scale;
use sphere::domain::{ClusterEvent, PodPhase, PodSummary};
use sphere::tui::harness::Harness;
use sphere::tui::model::Msg;
use sphere::tui::view;

#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.fetch_add(buf.len(), Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn key(c: char) -> Msg {
    Msg::Term(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

/// Set in the child process that measures resident memory (see [`memory_child`]); `synced`
/// stops there and leaves everything allocated, for a heap profiler's "not freed" list.
const MEMORY_CHILD: &str = "SPHERE_TUI_BENCH_MEMORY";

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let spec = std::env::var("SPHERE_BENCH_SCALE")
        .unwrap_or_else(|_| "services=10000,clusters=60,pods=50000".to_string());
    let scale: Scale = spec.parse().map_err(anyhow::Error::msg)?;
    let (width, height) = (160u16, 48u16);
    if std::env::var_os(MEMORY_CHILD).is_some() {
        return memory_child(&rt, scale, width, height);
    }

    // Time to first full frame: open the platform, load the catalog, ingest the
    // initial state of every cluster, draw.
    // (Three opens; the median is reported, the last one is measured further.)
    let mut firsts = Vec::new();
    let mut opened = None;
    for _ in 0..3 {
        drop(opened.take());
        let started = Instant::now();
        let mut h = rt.block_on(Harness::unsynced(width, height, scale.clone()))?;
        let counter = Counter::default();
        // A fixed viewport: a real terminal's size comes from an ioctl, which a byte
        // counter does not have.
        let mut term = Terminal::with_options(
            CrosstermBackend::new(counter.clone()),
            TerminalOptions {
                viewport: Viewport::Fixed(ratatui::layout::Rect::new(0, 0, width, height)),
            },
        )?;
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        firsts.push(started.elapsed());
        opened = Some((h, counter, term));
    }
    let first_frame = percentile(&mut firsts, 0.5);
    let Some((mut h, counter, mut term)) = opened else {
        anyhow::bail!("no run");
    };
    // Then the live state streams in, as the watch delivers it in the app.
    let synced_at = Instant::now();
    let events = h.subscribe();
    let sync = synced_at.elapsed();
    assert_eq!(
        h.model.live.synced.len(),
        h.model.topology.cluster_count(),
        "every cluster synced"
    );
    let first_bytes = counter.0.swap(0, Ordering::Relaxed);
    let rows = h.model.cat.rows.len();

    // Catalog draw time: move the selection each frame so every frame has work.
    let mut draws = Vec::with_capacity(1000);
    for i in 0..1000 {
        let c = if i % 2 == 0 { 'j' } else { 'k' };
        h.model.update(key(c));
        let t = Instant::now();
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        draws.push(t.elapsed());
    }
    let draw_med = percentile(&mut draws, 0.5);
    let draw_p99 = percentile(&mut draws, 0.99);

    // Filter keystroke latency: '/' then type, one key at a time (update + draw).
    h.model.update(key('/'));
    let mut keystrokes = Vec::new();
    let mut updates = Vec::new();
    for round in 0..20 {
        for c in "svc-12".chars() {
            let t = Instant::now();
            h.model.update(key(c));
            updates.push(t.elapsed());
            h.model.settle();
            term.draw(|f| view::draw(&h.model, f))?;
            keystrokes.push(t.elapsed());
        }
        for _ in 0..6 {
            h.model.update(Msg::Term(Event::Key(KeyEvent::new(
                KeyCode::Backspace,
                KeyModifiers::NONE,
            ))));
        }
        if round == 0 {
            assert!(h.model.cat.matched > 0, "the filter matches something");
        }
    }
    h.model.update(Msg::Term(Event::Key(KeyEvent::new(
        KeyCode::Esc,
        KeyModifiers::NONE,
    ))));
    let filter_med = percentile(&mut keystrokes, 0.5);
    let filter_p99 = percentile(&mut keystrokes, 0.99);
    let update_p99 = percentile(&mut updates, 0.99);

    // Bytes for one changed row: a visible service starts crash-looping.
    h.model.settle();
    term.draw(|f| view::draw(&h.model, f))?;
    counter.0.swap(0, Ordering::Relaxed);
    let row = h.model.cat.selected_row().cloned().expect("a selected row");
    let cluster = h
        .model
        .live
        .service(&row.name)
        .and_then(|s| s.deployments().next().map(|d| d.cluster.clone()))
        .expect("the selected service runs somewhere");
    h.model.update(Msg::Cluster(ClusterEvent::Pod(PodSummary {
        name: format!("{}-bench-crash", row.name),
        service: row.name.to_string(),
        cluster,
        phase: PodPhase::Running,
        ready: false,
        restarts: 7,
        started_at: 0,
        node: "bench".into(),
        version: "0".into(),
        waiting: Some("CrashLoopBackOff".into()),
        last_termination: Some("Error".into()),
    })));
    h.model.settle();
    term.draw(|f| view::draw(&h.model, f))?;
    let row_bytes = counter.0.swap(0, Ordering::Relaxed);
    h.model.settle();
    term.draw(|f| view::draw(&h.model, f))?;
    let idle_bytes = counter.0.swap(0, Ordering::Relaxed);

    // The deployments matrix: draw time while moving through it.
    h.model.update(key('2'));
    let mut matrix_draws = Vec::with_capacity(500);
    for i in 0..500 {
        h.model.update(key(if i % 2 == 0 { 'j' } else { 'k' }));
        let t = Instant::now();
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        matrix_draws.push(t.elapsed());
    }
    let matrix_med = percentile(&mut matrix_draws, 0.5);
    let matrix_p99 = percentile(&mut matrix_draws, 0.99);

    // Pod events with the pods pane open, as the loop runs them: drain events for at
    // most half a frame, answer a key, draw; repeat. The watch merges updates to one pod
    // while its reader is behind, so fewer events arrive than updates were made; the
    // rate counts the updates made, until the last one is on screen.
    h.model.update(key('3'));
    let frame = Duration::from_millis(33) / 2;
    let churn = 200_000;
    h.sim.churn_pods(churn);
    let started = Instant::now();
    let mut ingested = 0;
    let mut worst_turn = Duration::ZERO;
    loop {
        let t = Instant::now();
        let n = h.pump_for(frame);
        h.model.update(key('j'));
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        worst_turn = worst_turn.max(t.elapsed());
        ingested += n;
        if n == 0 {
            break;
        }
    }
    let ingest = started.elapsed();
    let rate = churn as f64 / ingest.as_secs_f64();
    let event_rate = ingested as f64 / ingest.as_secs_f64();

    // The same flood again, with a key waiting at every turn: the loop looks for input
    // every `INPUT_CHECK_EVERY` events, so the key waits for at most that many.
    h.sim.churn_pods(churn);
    let mut worst_key = Duration::ZERO;
    loop {
        let t = Instant::now();
        let n = h.pump_until_key(frame);
        h.model.update(key('j'));
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        worst_key = worst_key.max(t.elapsed());
        if n == 0 {
            break;
        }
    }
    let (clusters, pods, startup) = (
        h.model.topology.cluster_count(),
        h.model.live.pod_count(),
        std::mem::take(&mut h.startup),
    );
    drop((h, term));

    // Resident memory in a fresh process that opened the platform once (this one
    // opened it three times; what the allocator kept of the first two would count).
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(MEMORY_CHILD, "1")
        .env("SPHERE_BENCH_SCALE", &spec)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "the memory measurement failed: {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mem: Vec<Option<u64>> = text.trim().split('\t').map(|v| v.parse().ok()).collect();
    let mem_at = |i: usize| mem.get(i).copied().flatten();

    println!(
        "sphere TUI benchmark — `--scale {spec}`: {rows} catalog rows, {clusters} clusters, {pods} pods; {width}x{height}, release build"
    );
    println!();
    println!("| measure | value | target |");
    println!("| --- | --- | --- |");
    println!(
        "| time to first full frame (median of 3 opens) | {} | ≤ 300 ms |",
        ms(first_frame)
    );
    for (phase, d) in &startup {
        println!("| — {phase} | {} | |", ms(*d));
    }
    println!(
        "| all clusters synced after the first frame ({events} watch events) | {} | |",
        ms(sync)
    );
    println!("| first frame bytes | {first_bytes} B | |");
    println!("| catalog draw (median) | {} | |", ms(draw_med));
    println!("| catalog draw (p99) | {} | ≤ 2 ms |", ms(draw_p99));
    println!(
        "| filter keystroke, update + draw (median) | {} | |",
        ms(filter_med)
    );
    println!(
        "| filter keystroke, update + draw (p99) | {} | ≤ 5 ms |",
        ms(filter_p99)
    );
    println!(
        "| filter keystroke, update only (p99) | {} | |",
        ms(update_p99)
    );
    println!("| bytes written for one changed row | {row_bytes} B | |");
    println!(
        "| bytes for a redraw with nothing changed (the loop never does one) | {idle_bytes} B | |"
    );
    println!("| matrix draw (median) | {} | |", ms(matrix_med));
    println!("| matrix draw (p99) | {} | ≤ 2 ms |", ms(matrix_p99));
    println!(
        "| pod updates ingested with the pods pane open ({churn} updates, {ingested} events after merging) | {rate:.0} /s | ≥ 20,000 /s |"
    );
    println!("| — watch events applied | {event_rate:.0} /s | |");
    println!(
        "| slowest loop turn while ingesting (events for half a frame + key + draw) | {} | |",
        ms(worst_turn)
    );
    println!(
        "| slowest key answer while ingesting (key waiting: events until the loop looks for input + key + draw) | {} | ≤ 33 ms |",
        ms(worst_key)
    );
    let mb = |k: Option<u64>| {
        k.map_or("n/a".to_string(), |k| {
            format!("{:.1} MB", k as f64 / 1024.0)
        })
    };
    println!(
        "| resident memory: one open, every cluster synced, pods pane open (fresh process) | {} | ≤ 60 MB |",
        mb(mem_at(0))
    );
    println!(
        "| — peak resident memory of that process until then | {} | |",
        mb(mem_at(1))
    );
    println!(
        "| — of which before opening anything (binary, runtime) | {} | |",
        mb(mem_at(3))
    );
    println!(
        "| resident memory of that process after the same pod flood | {} | |",
        mb(mem_at(2))
    );
    Ok(())
}

/// The memory measurement, in a fresh process: open the demo platform once, sync every
/// cluster, open the pods pane and draw it; print the resident set then, the peak until
/// then, and the resident set after the same pod flood as the ingest measurement.
fn memory_child(
    rt: &tokio::runtime::Runtime,
    scale: Scale,
    width: u16,
    height: u16,
) -> anyhow::Result<()> {
    let before = rss_kib();
    let mut h = rt.block_on(Harness::unsynced(width, height, scale))?;
    let mut term = Terminal::with_options(
        CrosstermBackend::new(Counter::default()),
        TerminalOptions {
            viewport: Viewport::Fixed(ratatui::layout::Rect::new(0, 0, width, height)),
        },
    )?;
    h.subscribe();
    assert_eq!(
        h.model.live.synced.len(),
        h.model.topology.cluster_count(),
        "every cluster synced"
    );
    h.model.update(key('3'));
    h.model.settle();
    term.draw(|f| view::draw(&h.model, f))?;
    let synced = rss_kib();
    let peak = hwm_kib();
    if std::env::var(MEMORY_CHILD).as_deref() == Ok("synced") {
        // For heap profilers: what is live at this point shows as not freed at exit.
        println!("{}", synced.unwrap_or(0));
        std::mem::forget((h, term));
        return Ok(());
    }
    h.sim.churn_pods(200_000);
    loop {
        let n = h.pump_for(Duration::from_millis(33) / 2);
        h.model.update(key('j'));
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        if n == 0 {
            break;
        }
    }
    let flooded = rss_kib();
    let show = |k: Option<u64>| k.map_or("-".to_string(), |k| k.to_string());
    println!(
        "{}\t{}\t{}\t{}",
        show(synced),
        show(peak),
        show(flooded),
        show(before)
    );
    Ok(())
}

/// VmRSS of this process, in KiB.
fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// VmHWM (the peak resident set) of this process, in KiB.
fn hwm_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
