//! `cargo bench --bench tui`: the catalog at scale on the demo platform.
//!
//! Prints a table: time to first full frame, catalog draw time (median, p99), filter
//! keystroke latency, and bytes written to the terminal for one changed row. Drawing
//! goes through the real crossterm backend into a byte counter, so the figures include
//! ratatui's diff and the escape sequences a terminal would receive.

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

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let services = std::env::var("SPHERE_BENCH_SERVICES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000usize);
    let scale: Scale = format!("services={services}")
        .parse()
        .map_err(anyhow::Error::msg)?;
    let (width, height) = (160u16, 48u16);

    // Time to first full frame: open the platform, load the catalog, ingest the
    // initial state of every cluster, draw.
    let started = Instant::now();
    let mut h = rt.block_on(Harness::unsynced(width, height, scale))?;
    let counter = Counter::default();
    // A fixed viewport: a real terminal's size comes from an ioctl, which a byte
    // counter does not have.
    let mut term = Terminal::with_options(
        CrosstermBackend::new(counter.clone()),
        TerminalOptions {
            viewport: Viewport::Fixed(ratatui::layout::Rect::new(0, 0, width, height)),
        },
    )?;
    term.draw(|f| view::draw(&mut h.model, f))?;
    let first_frame = started.elapsed();
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
        term.draw(|f| view::draw(&mut h.model, f))?;
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
            term.draw(|f| view::draw(&mut h.model, f))?;
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
    term.draw(|f| view::draw(&mut h.model, f))?;
    counter.0.swap(0, Ordering::Relaxed);
    let row = h.model.cat.selected_row().cloned().expect("a selected row");
    let cluster = h
        .model
        .live
        .services
        .get(&row.name)
        .and_then(|s| s.deployments.keys().next().cloned())
        .expect("the selected service runs somewhere");
    h.model.update(Msg::Cluster(ClusterEvent::Pod(PodSummary {
        name: format!("{}-bench-crash", row.name),
        service: row.name.clone(),
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
    term.draw(|f| view::draw(&mut h.model, f))?;
    let row_bytes = counter.0.swap(0, Ordering::Relaxed);
    term.draw(|f| view::draw(&mut h.model, f))?;
    let idle_bytes = counter.0.swap(0, Ordering::Relaxed);

    println!("sphere TUI benchmark — {rows} catalog rows, {width}x{height}, release build");
    println!();
    println!("| measure | value | target |");
    println!("| --- | --- | --- |");
    println!(
        "| time to first full frame | {} | ≤ 300 ms |",
        ms(first_frame)
    );
    for (phase, d) in &h.startup {
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
    Ok(())
}
