//! Drive the TUI without a terminal: feed keys, run `update` until idle, draw on a
//! `TestBackend`. Used by the key-sequence and snapshot tests and by the benchmark.

use std::time::Duration;

use anyhow::Result;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use ratatui::{Terminal, TerminalOptions, Viewport};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::backend::sim::{Scale, Sim, SimOptions};
use crate::config::theme::{ColorSupport, load_theme};
use crate::config::{Key, Paths, keymap::load_keymap};
use crate::domain::ClusterEvent;

use super::app::{Flow, Host};
use super::catalog::Grouping;
use super::model::{Effect, Model, ModelInit, Msg};
use super::view;

pub struct Harness {
    pub model: Model,
    pub sim: Sim,
    pub terminal: Terminal<TestBackend>,
    /// The loop's channel: the effect runner's tasks answer here.
    tx: UnboundedSender<Msg>,
    rx: UnboundedReceiver<Msg>,
    /// A terminal that keeps the bytes the app would write (see [`Harness::tick`]).
    wire: Option<Terminal<CrosstermBackend<Counted>>>,
    written: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    placed: super::app::Placed,
    watch: Option<BoxStream<'static, ClusterEvent>>,
    pub quit: bool,
    /// What the app put on the clipboard (OSC 52).
    pub copied: Vec<String>,
    /// How long each start-up phase took (for the benchmark).
    pub startup: Vec<(&'static str, std::time::Duration)>,
    /// Every step report the dispatcher gave while an action ran, in order.
    pub progress_seen: Vec<crate::actions::StepReport>,
}

impl Harness {
    /// The demo platform (seed 42, clock stopped, nothing persisted), catalog loaded
    /// and every cluster synced, on a `width`x`height` screen.
    pub async fn demo(width: u16, height: u16) -> Result<Harness> {
        Self::with_scale(width, height, Scale::default()).await
    }

    pub async fn with_scale(width: u16, height: u16, scale: Scale) -> Result<Harness> {
        let mut h = Self::unsynced(width, height, scale).await?;
        h.subscribe();
        Ok(h)
    }

    /// Like `with_scale`, but the cluster watch is not subscribed yet: the state the
    /// app is in when it draws its first frame (catalog rows, live status arriving).
    pub async fn unsynced(width: u16, height: u16, scale: Scale) -> Result<Harness> {
        let mut startup = Vec::new();
        let mut t = std::time::Instant::now();
        let mut phase = |name: &'static str| {
            startup.push((name, t.elapsed()));
            t = std::time::Instant::now();
        };
        let catalog = crate::backend::catalog::demo_catalog();
        phase("load the embedded catalog");
        let sim = Sim::open(
            SimOptions {
                seed: 42,
                scale,
                pace: 0.0,
                state_path: None,
            },
            catalog,
        )?;
        phase("open the demo platform");
        let platform = sim.platform();
        // Defaults only: the user's own files never leak into tests.
        let empty = Paths::in_dir(std::path::Path::new("/nonexistent/sphere-harness"));
        let (theme, _) = load_theme("dark", &empty, ColorSupport::TrueColor);
        let (keymap, _) = load_keymap(&empty);
        let model = Model::new(ModelInit {
            platform_name: platform.name.clone(),
            demo: true,
            user: "you".into(),
            topology: platform.clusters.topology(),
            keymap,
            theme,
            toast_ttl: Duration::from_secs(5),
            group: Grouping::None,
            policy: crate::actions::Policy::from_config(&Default::default(), true, false),
            retry_store: None,
            failed_create: None,
        });
        let catalog = platform.catalog.load().await?;
        phase("catalog provider load");
        let (tx, rx) = unbounded_channel();
        let mut h = Harness {
            model,
            sim,
            terminal: Terminal::new(TestBackend::new(width, height))?,
            tx,
            rx,
            wire: None,
            written: Default::default(),
            placed: super::app::Placed::default(),
            watch: None,
            quit: false,
            copied: Vec::new(),
            startup: Vec::new(),
            progress_seen: Vec::new(),
        };
        // The model knows the screen's size from the start, as the app's does.
        h.model.update(Msg::Term(Event::Resize(width, height)));
        h.model.update(Msg::CatalogLoaded(Ok(catalog)));
        let start = h.model.startup_effects();
        h.apply(start);
        phase("build the catalog rows");
        h.startup = startup;
        Ok(h)
    }

    /// Subscribe to the cluster watch and ingest the initial state of every cluster.
    pub fn subscribe(&mut self) -> usize {
        let t = std::time::Instant::now();
        self.watch = Some(self.sim.platform().clusters.watch());
        self.startup.push(("subscribe to the watch", t.elapsed()));
        let t = std::time::Instant::now();
        let n = self.pump();
        self.startup
            .push(("ingest the initial cluster state", t.elapsed()));
        n
    }

    /// Deliver every cluster event that is ready now.
    pub fn pump(&mut self) -> usize {
        let mut n = 0;
        // `unconstrained`: tokio's cooperative budget would otherwise report an empty
        // channel after 128 receives in one poll.
        let Some(watch) = self.watch.as_mut() else {
            return 0;
        };
        let mut effects = Vec::new();
        while let Some(Some(ev)) = tokio::task::unconstrained(watch.next()).now_or_never() {
            effects.extend(self.model.update(Msg::Cluster(ev)));
            n += 1;
        }
        // What the events ask for (the open pod view's read), as the app's loop does.
        self.apply(effects);
        n
    }

    /// Deliver ready cluster events for at most `budget` (one frame of the loop).
    pub fn pump_for(&mut self, budget: Duration) -> usize {
        let deadline = std::time::Instant::now() + budget;
        let mut n = 0;
        let Some(watch) = self.watch.as_mut() else {
            return 0;
        };
        while let Some(Some(ev)) = tokio::task::unconstrained(watch.next()).now_or_never() {
            self.model.update(Msg::Cluster(ev));
            n += 1;
            if n % 256 == 0 && std::time::Instant::now() >= deadline {
                break;
            }
        }
        n
    }

    /// One turn of the app's loop with a key waiting: watch events until the loop looks
    /// for input (every `app::INPUT_CHECK_EVERY` events) or `budget` is spent, as
    /// `app::event_loop` drains them. The caller then answers the key and draws.
    pub fn pump_until_key(&mut self, budget: Duration) -> usize {
        let deadline = std::time::Instant::now() + budget;
        let mut n = 0;
        let Some(watch) = self.watch.as_mut() else {
            return 0;
        };
        while n < super::app::INPUT_CHECK_EVERY && std::time::Instant::now() < deadline {
            let Some(Some(ev)) = tokio::task::unconstrained(watch.next()).now_or_never() else {
                break;
            };
            self.model.update(Msg::Cluster(ev));
            n += 1;
        }
        n
    }

    /// Type a key sequence: plain characters, and `<Enter>`, `<Esc>`, `<Tab>`,
    /// `<Down>`, `<C-c>` ... for special keys.
    pub fn keys(&mut self, seq: &str) {
        let events = parse_keys(seq).unwrap_or_else(|e| panic!("bad key sequence {e}"));
        for ev in events {
            let effects = self.model.update(Msg::Term(Event::Key(ev)));
            self.apply(effects);
            self.pump();
        }
    }

    /// Carry out effects with the app's own effect runner; each task runs to its end at
    /// once, and what it answers is handled before the next effect (progress reports,
    /// then the answer, as the app's loop receives them).
    pub fn apply(&mut self, effects: Vec<Effect>) {
        let platform = self.sim.platform();
        for e in effects {
            let mut host = Immediate {
                copied: &mut self.copied,
            };
            if let Ok(Flow::Quit) =
                super::app::run_effect(e, &mut self.model, &platform, &self.tx, &mut host)
            {
                self.quit = true;
            }
            while let Ok(msg) = self.rx.try_recv() {
                if let Msg::Progress(r) = &msg {
                    self.progress_seen.push(r.clone());
                }
                let more = self.model.update(msg);
                self.apply(more);
            }
        }
    }

    /// One turn of the app's loop at `at` with no key pressed: due timers fire (polls,
    /// toasts, a revealed value's expiry), their reads run and answer, the watch is
    /// drained, and a frame is drawn only if something changed, as `app::event_loop`
    /// does. Returns how many bytes went to the terminal.
    pub fn tick(&mut self, at: std::time::Instant) -> usize {
        let effects = self.model.on_time(at);
        self.apply(effects);
        self.pump();
        if !self.model.dirty {
            return 0;
        }
        let (width, height) = self.size();
        let area = ratatui::layout::Rect::new(0, 0, width, height);
        let wire = match &mut self.wire {
            Some(w) => w,
            None => {
                let Ok(w) = Terminal::with_options(
                    CrosstermBackend::new(Counted(self.written.clone())),
                    TerminalOptions {
                        viewport: Viewport::Fixed(area),
                    },
                ) else {
                    return 0;
                };
                self.wire.insert(w)
            }
        };
        let before = self.written.load(std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = super::app::frame(wire, &mut self.model, &mut self.placed) {
            panic!("a frame failed: {e:#}");
        }
        self.written.load(std::sync::atomic::Ordering::Relaxed) - before
    }

    /// Draw a frame and return the screen as text, one line per row.
    pub fn render(&mut self) -> String {
        // As `app::frame`: watch events since the last frame settle the pane, then the
        // draw only reads.
        self.model.settle();
        let model = &self.model;
        let _ = self.terminal.draw(|f| view::draw(model, f));
        self.model.dirty = false;
        let buf = self.terminal.backend().buffer().clone();
        let area = buf.area;
        let mut out = String::new();
        for y in 0..area.height {
            let mut line = String::new();
            let mut x = 0;
            while x < area.width {
                // A wide symbol (⏳) covers the next cell, as on a terminal.
                let symbol = buf[(x, y)].symbol();
                line.push_str(symbol);
                x += (ratatui::text::Span::raw(symbol).width() as u16).max(1);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The last frame drawn, with its styles.
    pub fn buffer(&self) -> &ratatui::buffer::Buffer {
        self.terminal.backend().buffer()
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.terminal.backend_mut().resize(width, height);
        let _ = self
            .terminal
            .resize(ratatui::layout::Rect::new(0, 0, width, height));
        self.model.update(Msg::Term(Event::Resize(width, height)));
    }

    pub fn size(&self) -> (u16, u16) {
        let s = self.terminal.backend().size().unwrap_or_default();
        (s.width, s.height)
    }
}

/// A terminal's output, counted and dropped.
struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The harness's host: a task runs to its end at once (the demo's providers answer
/// without awaiting I/O), the clipboard is a list.
struct Immediate<'a> {
    copied: &'a mut Vec<String>,
}

impl Host for Immediate<'_> {
    fn spawn(&mut self, task: BoxFuture<'static, ()>) {
        futures::executor::block_on(task);
    }

    fn copy(&mut self, text: &str) -> Result<()> {
        self.copied.push(text.to_string());
        Ok(())
    }

    fn suspend(&mut self) -> Result<()> {
        Ok(())
    }

    fn clear(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Parse `"/pay<Enter>G"` into key events, with the keymap's own key notation. A
/// token that names no key (`<Entr>`) is an error naming it, never silently nothing.
/// A `<` not followed by a letter is the character itself.
pub fn parse_keys(seq: &str) -> Result<Vec<KeyEvent>, String> {
    let mut out = Vec::new();
    let mut chars = seq.chars().peekable();
    while let Some(c) = chars.next() {
        let token = if c == '<' && chars.peek().is_some_and(|n| n.is_ascii_alphabetic()) {
            let mut name = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '>' {
                    closed = true;
                    break;
                }
                name.push(c);
            }
            if !closed {
                return Err(format!("in {seq:?}: <{name} is not closed with >"));
            }
            format!("<{name}>")
        } else {
            c.to_string()
        };
        let k = token
            .parse::<Key>()
            .map_err(|e| format!("in {seq:?}: {e}"))?;
        let mods = match k.code {
            KeyCode::Char(ch) if ch.is_ascii_uppercase() => k.modifiers | KeyModifiers::SHIFT,
            _ => k.modifiers,
        };
        out.push(KeyEvent::new(k.code, mods));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sequences_parse_and_a_typo_is_an_error() {
        let keys = parse_keys("/pa<Enter>G<C-r><lt>").expect("parses");
        let codes: Vec<KeyCode> = keys.iter().map(|k| k.code).collect();
        assert_eq!(
            codes,
            vec![
                KeyCode::Char('/'),
                KeyCode::Char('p'),
                KeyCode::Char('a'),
                KeyCode::Enter,
                KeyCode::Char('G'),
                KeyCode::Char('r'),
                KeyCode::Char('<'),
            ]
        );
        assert_eq!(keys[4].modifiers, KeyModifiers::SHIFT);
        assert_eq!(keys[5].modifiers, KeyModifiers::CONTROL);
        // `<` before a non-letter is the character.
        assert_eq!(parse_keys("a<1").expect("parses").len(), 3);
        for bad in ["<Entr>", "x<Esc", "<Ctl-x>"] {
            let e = parse_keys(bad).expect_err(bad);
            assert!(
                e.contains(bad.trim_start_matches('x')) || e.contains("not closed"),
                "{e}"
            );
        }
    }
}
