//! `cargo bench --bench tui`: the catalog at scale on the demo platform.
//!
//! Prints a table: time to first full frame, catalog draw time (median, p99), filter
//! keystroke latency, bytes written to the terminal for one changed row, the matrix's
//! and the problems view's draw times, pod updates and log lines ingested while keys
//! are answered, the memory of a full logs ring, and resident memory. Drawing
//! goes through the real crossterm backend into a byte counter, so the figures include
//! ratatui's diff and the escape sequences a terminal would receive.
// A benchmark, like a test, stops with its message when its set-up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::{Terminal, TerminalOptions, Viewport};
use sphere::backend::logs::into_channel;
use sphere::backend::sim::Scale;
use sphere::domain::pod::LogLine;
use sphere::domain::{ClusterEvent, ClusterId, PodPhase, PodSummary};
use sphere::tui::harness::Harness;
use sphere::tui::model::{Model, Msg};
use sphere::tui::panes::logs::{CHANNEL, RING};
use sphere::tui::view;

/// The system allocator, counting the bytes freed on one thread while that thread asks
/// it to (see [`freed_by`]): how the logs ring's memory is measured, not estimated.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static FREED: Cell<usize> = const { Cell::new(0) };
}

fn note_freed(bytes: usize) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = FREED.try_with(|f| f.set(f.get() + bytes));
        }
    });
}

// SAFETY: every call is passed on to the system allocator unchanged; the counting only
// reads and writes this thread's `Cell`s, which allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_freed(layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes (as allocated) that dropping `value` gives back: what it holds.
fn freed_by<T>(value: T) -> usize {
    FREED.with(|f| f.set(0));
    COUNTING.with(|on| on.set(true));
    drop(value);
    COUNTING.with(|on| on.set(false));
    FREED.with(Cell::get)
}

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

/// The deployments matrix's draw time while moving through it, with what the demo's
/// GitOps repository declares read first, as the pane does when it opens (every cell
/// drawn looks up its ⎇ mark).
fn matrix_draws<W: Write>(
    rt: &tokio::runtime::Runtime,
    h: &mut Harness,
    term: &mut Terminal<CrosstermBackend<W>>,
) -> anyhow::Result<(Duration, Duration)> {
    h.model.update(key('2'));
    let platform = h.sim.platform();
    let declared = rt.block_on(platform.repos.declared())?;
    h.model
        .update(Msg::Fetched(Ok(sphere::tui::fetch::Fetched::Declared(
            declared,
        ))));
    let mut draws = Vec::with_capacity(500);
    for i in 0..500 {
        h.model.update(key(if i % 2 == 0 { 'j' } else { 'k' }));
        let t = Instant::now();
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        draws.push(t.elapsed());
    }
    Ok((percentile(&mut draws, 0.5), percentile(&mut draws, 0.99)))
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

/// `SPHERE_TUI_BENCH_ONLY=filter` opens once, syncs and measures only the filter
/// keystrokes (quick enough for `services=100000`); `=matrix` only the matrix draw.
const ONLY: &str = "SPHERE_TUI_BENCH_ONLY";

/// Log lines the logs view is flooded with.
const LOG_LINES: usize = 300_000;

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
    let only_filter = std::env::var(ONLY).as_deref() == Ok("filter");
    let mut firsts = Vec::new();
    let mut opened = None;
    for _ in 0..(if std::env::var_os(ONLY).is_some() {
        1
    } else {
        3
    }) {
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
    if std::env::var(ONLY).as_deref() == Ok("matrix") {
        let (med, p99) = matrix_draws(&rt, &mut h, &mut term)?;
        println!("sphere TUI benchmark, matrix rows only — `--scale {spec}`");
        println!();
        println!("| measure | value | target |");
        println!("| --- | --- | --- |");
        println!("| matrix draw (median) | {} | |", ms(med));
        println!("| matrix draw (p99) | {} | ≤ 2 ms |", ms(p99));
        return Ok(());
    }
    if only_filter {
        let (med, p99, update) = filter_keystrokes(&mut h, &mut term)?;
        let rows = h.model.cat.rows.len();
        println!("sphere TUI benchmark, filter rows only — `--scale {spec}`: {rows} catalog rows");
        println!();
        println!("| measure | value | target |");
        println!("| --- | --- | --- |");
        print_filter_rows(med, p99, update);
        return Ok(());
    }
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

    let (filter_med, filter_p99, update_p99) = filter_keystrokes(&mut h, &mut term)?;

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

    let (matrix_med, matrix_p99) = matrix_draws(&rt, &mut h, &mut term)?;

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

    // The problems view at the bench scale: draw time while moving through it, and
    // after a pod event each frame (the list is worked out again before the draw).
    let effects = h.model.update(key('7'));
    {
        let _rt = rt.enter();
        h.apply(effects);
    }
    let problems = h.model.problem_rows().len();
    assert!(problems > 0, "the demo has problems to show");
    let mut problem_draws = Vec::with_capacity(500);
    for i in 0..500 {
        h.model.update(key(if i % 2 == 0 { 'j' } else { 'k' }));
        let t = Instant::now();
        term.draw(|f| view::draw(&h.model, f))?;
        problem_draws.push(t.elapsed());
    }
    let problems_med = percentile(&mut problem_draws, 0.5);
    let problems_p99 = percentile(&mut problem_draws, 0.99);
    let crash = h
        .model
        .problem_rows()
        .iter()
        .find_map(|r| r.pod.clone())
        .expect("a problem names a pod");
    let service = h
        .model
        .live
        .pod(&crash.0, &crash.1)
        .map(|p| p.service.to_string())
        .expect("the problem's pod is live");
    let mut restated = Vec::with_capacity(200);
    for i in 0..200u32 {
        h.model.update(Msg::Cluster(ClusterEvent::Pod(PodSummary {
            name: crash.1.clone(),
            service: service.clone(),
            cluster: crash.0.clone(),
            phase: PodPhase::Running,
            ready: false,
            restarts: 100 + i,
            started_at: 0,
            node: "bench".into(),
            version: "0".into(),
            waiting: Some("CrashLoopBackOff".into()),
            last_termination: Some("OOMKilled".into()),
        })));
        // A watch event is settled once per frame, before the draw (as `app::frame` does):
        // both are the cost of showing it.
        let t = Instant::now();
        h.model.settle();
        term.draw(|f| view::draw(&h.model, f))?;
        restated.push(t.elapsed());
    }
    let problems_event_p99 = percentile(&mut restated, 0.99);

    // Log lines flooding the logs view of a pod, through the view's own path: a stream
    // into the bounded channel (`backend::logs::into_channel`, as `open_logs` does),
    // drained into the ring by the loop's timer (`Model::on_time` at
    // `Model::next_deadline`, at most `BATCH` lines a tick), a key answered and a frame
    // drawn every turn. The lines are made as fast as the channel takes them.
    let (log_rate, worst_log_key, ring_len, ring_bytes) = {
        let _rt = rt.enter();
        h.model.update(key('3'));
        h.model.update(key('l'));
        let id = h
            .model
            .logs
            .as_ref()
            .map(|v| v.req.id)
            .expect("the logs view opens on the selected pod");
        let cluster = ClusterId::new("production", "eu-west-1");
        let lines = futures::stream::iter((0..LOG_LINES).map(move |i| {
            LogLine::new(
                1_700_000_000_000_000_000 + i as i64 * 10_000,
                &cluster,
                "payments-api-7d9f8c6b5-x2k4q",
                "app",
                &format!(
                    "INFO GET /api/v1/orders/{} 200 {}ms request_id={i:016x}",
                    i % 9_973,
                    i % 90
                ),
            )
        }));
        h.model.update(Msg::LogsOpened {
            id,
            res: Ok(into_channel(lines.boxed(), CHANNEL)),
        });
        let taken = |m: &Model| {
            m.logs
                .as_ref()
                .map_or(0, |v| v.dropped as usize + v.lines.len())
        };
        let started = Instant::now();
        let mut worst = Duration::ZERO;
        while taken(&h.model) < LOG_LINES {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(300),
                "the logs view took {} of {LOG_LINES} lines in 300 s",
                taken(&h.model)
            );
            // The loop waits for its next timer (the drain tick), then drains, answers
            // the key that came meanwhile and draws.
            if let Some(at) = h.model.next_deadline() {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
            }
            let t = Instant::now();
            h.model.on_time(t);
            h.model.update(key('j'));
            term.draw(|f| view::draw(&h.model, f))?;
            worst = worst.max(t.elapsed());
        }
        let rate = LOG_LINES as f64 / started.elapsed().as_secs_f64();
        let ring = std::mem::take(&mut h.model.logs.as_mut().expect("the logs view").lines);
        let len = ring.len();
        (rate, worst, len, freed_by(ring))
    };
    assert_eq!(ring_len, RING, "the ring is full");

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
    print_filter_rows(filter_med, filter_p99, update_p99);
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
    println!(
        "| problems view draw (median; {problems} problems) | {} | |",
        ms(problems_med)
    );
    println!(
        "| problems view draw (p99) | {} | ≤ 2 ms |",
        ms(problems_p99)
    );
    println!(
        "| problems view draw after a pod event, list worked out again (p99) | {} | |",
        ms(problems_event_p99)
    );
    println!(
        "| log lines ingested into the logs view, a key answered every turn ({LOG_LINES} lines) | {log_rate:.0} /s | ≥ 50,000 /s |"
    );
    println!(
        "| — slowest key answer while ingesting (drain + key + draw) | {} | ≤ 33 ms |",
        ms(worst_log_key)
    );
    println!(
        "| memory of a full {ring_len}-line logs ring (bytes allocated, counted at its drop) | {ring_bytes} B ({:.1} MB, {} B a line) | |",
        ring_bytes as f64 / (1024.0 * 1024.0),
        ring_bytes / ring_len.max(1)
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

/// Filter keystroke latency: '/' then type, one key at a time (update + draw), 20
/// times `svc-12` (each time cleared with backspaces first, so nothing is cached from
/// the round before). Median and p99 of update + draw, and p99 of the update alone.
fn filter_keystrokes<W: Write>(
    h: &mut Harness,
    term: &mut Terminal<CrosstermBackend<W>>,
) -> anyhow::Result<(Duration, Duration, Duration)> {
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
    Ok((
        percentile(&mut keystrokes, 0.5),
        percentile(&mut keystrokes, 0.99),
        percentile(&mut updates, 0.99),
    ))
}

fn print_filter_rows(med: Duration, p99: Duration, update_p99: Duration) {
    println!(
        "| filter keystroke, update + draw (median) | {} | |",
        ms(med)
    );
    println!(
        "| filter keystroke, update + draw (p99) | {} | ≤ 2 ms (≤ 20 ms at 100,000 services) |",
        ms(p99)
    );
    println!(
        "| filter keystroke, update only (p99) | {} | |",
        ms(update_p99)
    );
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
