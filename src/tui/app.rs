//! The one message loop: every source sends a `Msg` on one channel; the loop drains
//! what is pending, updates the model, and draws once if something changed, at most
//! `max_fps` times a second. While idle it sleeps on the channel and writes nothing.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::EventStream;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc::{Receiver, Sender, UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::backend::Platform;
use crate::domain::ClusterEvent;

use super::fetch::{act_why, fetch};
use super::model::{Effect, Level, Model, Msg, Why};
use super::terminal::TerminalGuard;
use super::view;

/// Watch events waiting for the loop at most; when the loop is behind, the provider's
/// own queue holds (and merges) the rest.
pub const CLUSTER_QUEUE: usize = 1024;

/// While draining watch events, the loop looks for a waiting key this often (in events):
/// a key never waits behind more than this many.
pub const INPUT_CHECK_EVERY: usize = 256;

/// The loop's inputs: terminal events first, then everything else, then the watch.
struct Inbox {
    input: UnboundedReceiver<Msg>,
    other: UnboundedReceiver<Msg>,
    cluster: Receiver<ClusterEvent>,
}

/// Where the loop's platform comes from.
pub enum Source<'a> {
    /// Open already (a configured platform).
    Ready(Platform),
    /// Still opening (the demo seeds or reads its saved state): the loop draws the
    /// screen and answers keys meanwhile, the header saying `notice`; what needs the
    /// platform waits until `open` ends, and an error from it ends the TUI.
    Opening {
        notice: String,
        /// The catalog the platform will serve, when it is known before the platform
        /// is open: its rows are drawn at once (their statuses unknown until the
        /// clusters have synced), and the platform's own first load of the same
        /// catalog then rebuilds nothing.
        catalog: Option<tokio::sync::oneshot::Receiver<Arc<crate::domain::catalog::Catalog>>>,
        open: BoxFuture<'a, Result<Opened>>,
    },
}

/// A platform opened while the screen was up, and what the model learns from it.
pub struct Opened {
    pub platform: Platform,
    /// The policy for the environments the platform has (its ephemeral ones too).
    pub policy: crate::actions::Policy,
    /// Problems found while opening: shown as toasts.
    pub problems: Vec<String>,
    /// Work for a blocking thread once the platform's cluster watch has listed the
    /// clusters (the demo writes the state it seeded), so it delays neither the
    /// screen nor the sync.
    pub after_watch: Option<Box<dyn FnOnce() + Send>>,
}

pub struct RunOptions<'a> {
    pub source: Source<'a>,
    pub model: Model,
    pub max_fps: u16,
    /// Problems found while starting (bad config files): shown as toasts.
    pub startup_problems: Vec<String>,
}

/// Run the TUI until the user quits or a signal arrives. The terminal is restored on
/// every path out of here, panics included.
pub async fn run(opts: RunOptions<'_>) -> Result<()> {
    let RunOptions {
        source,
        mut model,
        max_fps,
        startup_problems,
    } = opts;
    let (tx, rx) = unbounded_channel();
    let (input_tx, input) = unbounded_channel();
    let (cluster_tx, cluster) = tokio::sync::mpsc::channel(CLUSTER_QUEUE);
    spawn_signals(&tx)?;
    model.config_problems(startup_problems);
    // A panic anywhere (a background task included) wakes the loop, which then ends.
    let wake = std::sync::Mutex::new(tx.clone());
    super::terminal::on_panic(move || {
        if let Ok(t) = wake.lock() {
            let _ = t.send(Msg::Quit);
        }
    });
    let mut guard = TerminalGuard::new()?;
    // The model lays the panes out for the terminal's size from the start (then on
    // every resize event).
    let size = guard.terminal.size()?;
    model.update(Msg::Term(crossterm::event::Event::Resize(
        size.width,
        size.height,
    )));
    spawn_input(&input_tx);
    let mut inbox = Inbox {
        input,
        other: rx,
        cluster,
    };
    let mut placed = Placed::default();
    let frame_interval = Duration::from_secs_f64(1.0 / f64::from(max_fps.clamp(1, 120)));
    let (platform, waiting, after_watch) = match source {
        Source::Ready(platform) => (platform, Vec::new(), None),
        Source::Opening {
            notice,
            catalog,
            open,
        } => {
            let opening = Opening {
                guard: &mut guard,
                model: &mut model,
                inbox: &mut inbox,
                placed: &mut placed,
                frame_interval,
            };
            let Some((opened, waiting)) = opening.run(notice, catalog, open).await? else {
                return ended();
            };
            model.topology = opened.platform.clusters.topology();
            model.policy = opened.policy;
            model.config_problems(opened.problems);
            model.update(Msg::Notice(None));
            model.dirty = true;
            (opened.platform, waiting, opened.after_watch)
        }
    };
    spawn_sources(&platform, &tx, cluster_tx, after_watch);
    // What the user asked for while the platform opened runs after what sphere reads
    // at start.
    for e in model.startup_effects().into_iter().chain(waiting) {
        let mut host = AppHost {
            guard: &mut guard,
            placed: &mut placed,
        };
        if run_effect(e, &mut model, &platform, &tx, &mut host)? == Flow::Quit {
            return ended();
        }
    }
    event_loop(
        &mut guard,
        &mut model,
        &platform,
        &tx,
        inbox,
        frame_interval,
        placed,
    )
    .await
}

/// The loop while the platform opens: it draws, answers keys (`q` quits), and keeps
/// every effect that needs the platform for when it is open.
struct Opening<'l> {
    guard: &'l mut TerminalGuard,
    model: &'l mut Model,
    inbox: &'l mut Inbox,
    placed: &'l mut Placed,
    frame_interval: Duration,
}

impl Opening<'_> {
    /// The platform and the effects that waited for it; `None` when the user quit
    /// (or a signal came) first.
    async fn run(
        self,
        notice: String,
        mut catalog: Option<tokio::sync::oneshot::Receiver<Arc<crate::domain::catalog::Catalog>>>,
        mut open: BoxFuture<'_, Result<Opened>>,
    ) -> Result<Option<(Opened, Vec<Effect>)>> {
        let Opening {
            guard,
            model,
            inbox,
            placed,
            frame_interval,
        } = self;
        model.update(Msg::Notice(Some(notice)));
        model.dirty = true;
        let mut waiting = Vec::new();
        let mut last_draw: Option<Instant> = None;
        loop {
            ended()?;
            let now = Instant::now();
            waiting.extend(model.on_time(now));
            let mut wake = model.next_deadline();
            if model.dirty {
                let due = last_draw.map_or(now, |t| t + frame_interval);
                if due <= now {
                    draw(guard, model, placed)?;
                    last_draw = Some(Instant::now());
                } else {
                    wake = Some(wake.map_or(due, |w| w.min(due)));
                }
            }
            let sleep = sleep_until(wake);
            let msg = tokio::select! {
                biased;
                m = inbox.input.recv() => m,
                m = inbox.other.recv() => m,
                c = async {
                    match catalog.as_mut() {
                        Some(rx) => rx.await.ok(),
                        None => std::future::pending().await,
                    }
                }, if catalog.is_some() => {
                    catalog = None;
                    // No catalog (the opening failed first): `open` says why.
                    let Some(c) = c else { continue };
                    Some(Msg::CatalogLoaded(Ok(c)))
                }
                opened = &mut open => return Ok(Some((opened?, waiting))),
                _ = sleep => continue,
            };
            let Some(msg) = msg else {
                return Ok(None);
            };
            for e in model.update(msg) {
                let mut host = AppHost { guard, placed };
                match run_local(e, model, &mut host)? {
                    Ok(Flow::Quit) => return Ok(None),
                    Ok(Flow::Continue) => {}
                    Err(needs_platform) => waiting.push(needs_platform),
                }
            }
        }
    }
}

/// Providers: the catalog load and the cluster watch; `after_watch` runs on a blocking
/// thread once the watch has listed the clusters (or failed to).
fn spawn_sources(
    platform: &Platform,
    tx: &UnboundedSender<Msg>,
    cluster: Sender<ClusterEvent>,
    after_watch: Option<Box<dyn FnOnce() + Send>>,
) {
    let catalog = platform.catalog.clone();
    let repos = platform.repos.clone();
    let t = tx.clone();
    tokio::spawn(async move {
        let res = catalog.load().await.map_err(|e| format!("{e:#}"));
        let mut held = res.as_ref().ok().cloned();
        let _ = t.send(Msg::CatalogLoaded(res));
        // Read again in the background (conditional requests: cheap when nothing
        // changed); the loop hears only of a catalog that changed, and of what the
        // header must say about the repository host (its rate limit).
        let Some(every) = catalog.refresh_every() else {
            return;
        };
        let mut notice = None;
        loop {
            tokio::time::sleep(every).await;
            let fresh = catalog.refresh().await;
            let now = repos.notice();
            if now != notice {
                notice = now.clone();
                if t.send(Msg::Notice(now)).is_err() {
                    return;
                }
            }
            let msg = match fresh {
                Ok(c) if held.as_ref().is_some_and(|h| Arc::ptr_eq(h, &c)) => continue,
                Ok(c) => {
                    held = Some(c.clone());
                    Msg::CatalogLoaded(Ok(c))
                }
                Err(e) => {
                    tracing::warn!("catalog refresh failed: {e:#}");
                    continue;
                }
            };
            if t.send(msg).is_err() {
                return;
            }
        }
    });
    let clusters = platform.clusters.clone();
    let t = tx.clone();
    tokio::spawn(async move {
        // Subscribing lists every cluster: off the UI task, and off the async workers.
        let watch = tokio::task::spawn_blocking(move || clusters.watch()).await;
        if let Some(job) = after_watch {
            drop(tokio::task::spawn_blocking(job));
        }
        let Ok(mut watch) = watch else {
            let _ = t.send(Msg::Toast(
                Level::Error,
                "cluster watch failed to start".into(),
            ));
            return;
        };
        // A bounded hand-over: when the loop is behind, this waits and the watch's
        // own queue merges what piles up, so a flood never queues unbounded memory.
        while let Some(ev) = watch.next().await {
            if cluster.send(ev).await.is_err() {
                break;
            }
        }
    });
}

/// The signals that end sphere: SIGTERM, SIGHUP, SIGINT and SIGQUIT. Installed before
/// the terminal is taken, so none of them can kill sphere with the terminal left raw.
/// (In raw mode ctrl-c and ctrl-\ are keys, not signals; these come from `kill`.)
fn spawn_signals(tx: &UnboundedSender<Msg>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("could not handle SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("could not handle SIGHUP")?;
    let mut int = signal(SignalKind::interrupt()).context("could not handle SIGINT")?;
    let mut quit = signal(SignalKind::quit()).context("could not handle SIGQUIT")?;
    let t = tx.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = hup.recv() => tracing::info!("SIGHUP"),
            _ = int.recv() => tracing::info!("SIGINT"),
            _ = quit.recv() => tracing::info!("SIGQUIT"),
        }
        let _ = t.send(Msg::Quit);
    });
    Ok(())
}

/// Where the effect runner puts its work: the app spawns each task on tokio and
/// writes to the real terminal; the test harness runs each task to its end at once.
pub trait Host {
    /// Run a task; what it finds arrives on the loop's channel as a `Msg`.
    fn spawn(&mut self, task: BoxFuture<'static, ()>);
    /// Put text on the terminal's clipboard (OSC 52).
    fn copy(&mut self, text: &str) -> Result<()>;
    /// Give the terminal back until the user resumes (`C-z`).
    fn suspend(&mut self) -> Result<()>;
    /// Forget what is on screen (`C-l`).
    fn clear(&mut self) -> Result<()>;
}

/// What the loop does after an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The one effect runner, for the app and the test harness alike: every read, action
/// and catalog load becomes a task whose answer comes back on `tx` as a `Msg`.
pub fn run_effect(
    effect: Effect,
    model: &mut Model,
    platform: &Platform,
    tx: &UnboundedSender<Msg>,
    host: &mut impl Host,
) -> Result<Flow> {
    let effect = match run_local(effect, model, host)? {
        Ok(flow) => return Ok(flow),
        Err(effect) => effect,
    };
    let (p, t) = (platform.clone(), tx.clone());
    match effect {
        Effect::Quit | Effect::Suspend | Effect::ClearScreen | Effect::Copy(_) => {}
        Effect::Fetch(what) => host.spawn(Box::pin(async move {
            let _ = t.send(fetch(&p, what).await);
        })),
        Effect::ReloadCatalog => host.spawn(Box::pin(async move {
            let res = p.catalog.load().await.map_err(|e| format!("{e:#}"));
            let _ = t.send(Msg::CatalogLoaded(res));
        })),
        Effect::RefreshCatalog => host.spawn(Box::pin(async move {
            let res = p.catalog.refresh().await.map_err(|e| format!("{e:#}"));
            let _ = t.send(Msg::CatalogLoaded(res));
        })),
        // One way to act: with no reason given, the reason is none.
        Effect::Act { action, confirmed } => {
            return run_effect(
                Effect::ActWhy {
                    action,
                    confirmed,
                    why: Why::default(),
                },
                model,
                platform,
                tx,
                host,
            );
        }
        Effect::ActWhy {
            action,
            confirmed,
            why,
        } => {
            let (policy, user) = (model.policy.clone(), model.user.clone());
            let by = model.impersonator.clone();
            // A golden-path run that fails at a step is kept for a retry after a
            // restart; one that succeeds is forgotten (off the UI task).
            let keep = match (&action, &model.retry_store) {
                (crate::actions::Action::ServiceCreate { request, .. }, Some(store)) => {
                    Some((store.clone(), request.clone()))
                }
                _ => None,
            };
            host.spawn(Box::pin(async move {
                // The golden path's steps tick as they end.
                let progress = t.clone();
                let mut failed_step = None;
                let mut on_step = |r: &crate::actions::StepReport| {
                    if let crate::actions::StepStatus::Failed(e) = &r.status {
                        failed_step = Some((r.step.as_str().to_string(), e.clone()));
                    }
                    let _ = progress.send(Msg::Progress(r.clone()));
                };
                let msg =
                    act_why(&p, policy, &user, by, action, confirmed, why, &mut on_step).await;
                if let (Some((store, request)), Msg::ServiceCreated(res)) = (keep, &msg) {
                    let kept = match (res, failed_step) {
                        (Ok(_), _) => store.clear(&user),
                        (Err(_), Some((step, error))) => store.save(
                            &user,
                            &crate::config::retry::FailedCreate {
                                request,
                                step: Some(step),
                                error,
                                at: p.now(),
                            },
                        ),
                        (Err(_), None) => Ok(()),
                    };
                    if let Err(e) = kept {
                        tracing::warn!("the golden path's retry could not be kept: {e:#}");
                    }
                }
                let _ = t.send(msg);
            }));
        }
        Effect::OpenLogs(req) => {
            let (policy, user) = (model.policy.clone(), model.user.clone());
            let by = model.impersonator.clone();
            host.spawn(Box::pin(async move {
                for msg in super::panes::logs::open_logs(&p, policy, &user, by, req).await {
                    let _ = t.send(msg);
                }
            }));
        }
        Effect::ReadPod { cluster, pod } => {
            let (policy, user) = (model.policy.clone(), model.user.clone());
            let by = model.impersonator.clone();
            host.spawn(Box::pin(async move {
                let msg = super::panes::pod::read_pod(&p, policy, &user, by, cluster, pod).await;
                let _ = t.send(msg);
            }));
        }
    }
    Ok(Flow::Continue)
}

/// The effects that need no platform (quit, suspend, clear, copy) run here; any other
/// comes back as `Err`.
fn run_local(
    effect: Effect,
    model: &mut Model,
    host: &mut impl Host,
) -> Result<Result<Flow, Effect>> {
    match effect {
        Effect::Quit => return Ok(Ok(Flow::Quit)),
        Effect::Suspend => {
            host.suspend()?;
            tracing::info!("resumed after suspend");
            model.dirty = true;
        }
        Effect::ClearScreen => {
            host.clear()?;
            model.dirty = true;
        }
        Effect::Copy(text) => host.copy(&text)?,
        other => return Ok(Err(other)),
    }
    Ok(Ok(Flow::Continue))
}

/// The app's host: tasks on tokio, the terminal of the guard.
struct AppHost<'a> {
    guard: &'a mut TerminalGuard,
    placed: &'a mut Placed,
}

impl Host for AppHost<'_> {
    fn spawn(&mut self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }

    fn copy(&mut self, text: &str) -> Result<()> {
        let backend = self.guard.terminal.backend_mut();
        backend.write_all(crate::domain::links::osc52_copy(text).as_bytes())?;
        backend.flush()?;
        Ok(())
    }

    fn suspend(&mut self) -> Result<()> {
        self.guard.suspend()?;
        self.placed.clear();
        Ok(())
    }

    fn clear(&mut self) -> Result<()> {
        self.guard.reset()?;
        self.placed.clear();
        Ok(())
    }
}

fn spawn_input(tx: &UnboundedSender<Msg>) {
    let t = tx.clone();
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(ev) => {
                    if t.send(Msg::Term(ev)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "terminal input failed");
                    let _ = t.send(Msg::Quit);
                    break;
                }
            }
        }
    });
}

async fn event_loop(
    guard: &mut TerminalGuard,
    model: &mut Model,
    platform: &Platform,
    tx: &UnboundedSender<Msg>,
    mut inbox: Inbox,
    frame_interval: Duration,
    mut placed: Placed,
) -> Result<()> {
    let mut last_draw: Option<Instant> = None;
    let mut trimmed = false;
    loop {
        // A panic (in a background task: one in this loop unwinds it) restored the
        // terminal: draw nothing more.
        ended()?;
        // Taking in the first listing of every cluster freed many small pieces of the
        // heap (the watch's hand-over, the listing's summaries): once every cluster is
        // in, they go back to the system (8 MB resident at 50,000 pods), off this task.
        if !trimmed && model.live.synced.len() >= model.topology.cluster_count() {
            trimmed = true;
            tokio::task::spawn_blocking(crate::backend::sim::state::give_back_freed_memory);
        }
        // Draw if something changed and the frame budget allows it.
        let now = Instant::now();
        for e in model.on_time(now) {
            let mut host = AppHost {
                guard,
                placed: &mut placed,
            };
            run_effect(e, model, platform, tx, &mut host)?;
        }
        let mut wake = model.next_deadline();
        if model.dirty {
            let due = last_draw.map_or(now, |t| t + frame_interval);
            if due <= now {
                draw(guard, model, &mut placed)?;
                last_draw = Some(Instant::now());
                // Hooks for the tests that check the terminal survives a panic, in
                // this loop and in a background task.
                if std::env::var_os("SPHERE_DEBUG_PANIC_AFTER_DRAW").is_some() {
                    panic!("SPHERE_DEBUG_PANIC_AFTER_DRAW is set");
                }
                if std::env::var_os("SPHERE_DEBUG_PANIC_IN_TASK").is_some() {
                    tokio::spawn(async { panic!("SPHERE_DEBUG_PANIC_IN_TASK is set") });
                }
            } else {
                wake = Some(wake.map_or(due, |w| w.min(due)));
            }
        }

        let sleep = sleep_until(wake);
        let first = tokio::select! {
            biased;
            m = inbox.input.recv() => m,
            m = inbox.other.recv() => m,
            e = inbox.cluster.recv() => e.map(Msg::Cluster),
            _ = sleep => continue,
        };
        let Some(first) = first else {
            return Ok(());
        };
        // Drain what is pending before the next draw, within half a frame so a flood
        // of watch events never starves the screen; a key is answered (drawn) as soon
        // as it is seen, and it is looked for every `INPUT_CHECK_EVERY` watch events.
        let budget = Instant::now() + frame_interval / 2;
        let key_seen = matches!(first, Msg::Term(_));
        let mut effects = model.update(first);
        let mut n = 0usize;
        while !key_seen && !effects.contains(&Effect::Quit) {
            if n.is_multiple_of(INPUT_CHECK_EVERY) {
                if let Ok(m) = inbox.input.try_recv() {
                    effects.extend(model.update(m));
                    break;
                }
                if Instant::now() >= budget {
                    break;
                }
            }
            n += 1;
            if let Ok(m) = inbox.other.try_recv() {
                effects.extend(model.update(m));
            } else if let Ok(e) = inbox.cluster.try_recv() {
                effects.extend(model.update(Msg::Cluster(e)));
            } else {
                break;
            }
        }
        for e in effects {
            let mut host = AppHost {
                guard,
                placed: &mut placed,
            };
            if run_effect(e, model, platform, tx, &mut host)? == Flow::Quit {
                return ended();
            }
        }
    }
}

/// How the loop ends: `Ok` unless a panic restored the terminal, then an error with
/// its message.
fn ended() -> Result<()> {
    match super::terminal::panicked() {
        Some(what) => Err(anyhow::anyhow!(
            "a background task panicked: {what}; sphere stopped"
        )),
        None => Ok(()),
    }
}

/// Hyperlinks written over the last frame: (row, column, url), and the frame's size
/// (a resize redraws every cell plain, so they must be written again).
#[derive(Default)]
pub struct Placed {
    area: ratatui::layout::Rect,
    links: Vec<(u16, u16, String)>,
}

impl Placed {
    fn clear(&mut self) {
        self.links.clear();
        self.area = ratatui::layout::Rect::default();
    }
}

fn draw(guard: &mut TerminalGuard, model: &mut Model, placed: &mut Placed) -> Result<()> {
    // Never over a terminal a panic gave back.
    if !super::terminal::entered() {
        return Ok(());
    }
    frame(&mut guard.terminal, model, placed)
}

/// Draw one frame as the app does (synchronised update, hyperlinks), on any terminal
/// that takes bytes: the app's, or the harness's byte counter.
pub fn frame<W: Write>(
    terminal: &mut ratatui::Terminal<ratatui::backend::CrosstermBackend<W>>,
    model: &mut Model,
    placed: &mut Placed,
) -> Result<()> {
    let _ = crossterm::queue!(terminal.backend_mut(), BeginSynchronizedUpdate);
    let urls = view::visible_urls(model);
    // Watch events since the last frame may have moved rows: the pane settles once
    // here (keys and answers settled as they were applied); the draw only reads.
    model.settle();
    let frame = terminal.draw(|f| view::draw(model, f))?;
    // Links on screen become OSC 8 hyperlinks: the same text, written again with the
    // link around it, only when where they stand changed.
    let found = find_urls(frame.buffer, &urls);
    let area = frame.area;
    let backend = terminal.backend_mut();
    if found != placed.links || area != placed.area {
        for (y, x, url) in &found {
            crossterm::queue!(backend, crossterm::cursor::MoveTo(*x, *y))?;
            backend.write_all(crate::domain::links::osc8(url, url).as_bytes())?;
        }
        placed.links = found;
        placed.area = area;
    }
    let _ = crossterm::queue!(backend, EndSynchronizedUpdate);
    Write::flush(backend)?;
    model.dirty = false;
    Ok(())
}

/// Where each URL stands whole on one row of the buffer.
fn find_urls(buf: &ratatui::buffer::Buffer, urls: &[String]) -> Vec<(u16, u16, String)> {
    let mut out = Vec::new();
    if urls.is_empty() {
        return out;
    }
    let area = buf.area;
    for y in area.top()..area.bottom() {
        let cells: Vec<&str> = (area.left()..area.right())
            .map(|x| buf[(x, y)].symbol())
            .collect();
        let row: String = cells.concat();
        for url in urls {
            let Some(byte) = row.find(url.as_str()) else {
                continue;
            };
            // Map the byte offset back to a column.
            let mut acc = 0;
            if let Some(col) = cells.iter().position(|c| {
                let here = acc == byte;
                acc += c.len();
                here
            }) {
                out.push((y, area.left() + col as u16, url.clone()));
            }
        }
    }
    out
}
/// Until `wake`, or forever when nothing is due: the loops' timer.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;

    #[test]
    fn finds_whole_urls_and_their_columns() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 40, 3));
        buf.set_string(
            2,
            1,
            "Runbook https://x.example/a",
            ratatui::style::Style::default(),
        );
        buf.set_string(
            0,
            2,
            "ü https://y.example/b",
            ratatui::style::Style::default(),
        );
        let urls = vec![
            "https://x.example/a".to_string(),
            "https://y.example/b".to_string(),
            "https://missing".to_string(),
        ];
        assert_eq!(
            find_urls(&buf, &urls),
            vec![
                (1, 10, "https://x.example/a".to_string()),
                (2, 2, "https://y.example/b".to_string()),
            ]
        );
    }
}
