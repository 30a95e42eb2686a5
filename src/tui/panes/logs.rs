//! The logs view (`l` in the pods pane, the pod view, the service view and the
//! problems pane): one pod's logs, or every pod of a service merged in time order
//! across regions with a short source prefix (`backend::logs::merged`). The stream
//! runs in a task of its own and fills a bounded channel (`backend::logs::into_channel`);
//! the loop drains at most [`BATCH`] lines per tick into a ring of [`RING`] lines, so
//! however fast lines come, keys stay answered. Reading is authorised and audited
//! (`actions::read::authorize_read`): in production a non-owner gets the `read-logs`
//! refusal with the access request offered.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use tokio::sync::mpsc;

use crate::actions::read::{ReadKind, authorize_read};
use crate::actions::{Actor, Policy, Refusal};
use crate::backend::Platform;
use crate::backend::logs::{LogSource, into_channel, merged};
use crate::config::theme::Slot;
use crate::domain::ClusterId;
use crate::domain::access::Permission;
use crate::domain::pod::{LogLine, LogQuery};
use crate::domain::text::sanitize;
use crate::tui::command::Command;
use crate::tui::model::*;

/// Lines the view keeps (the oldest go first).
pub const RING: usize = 10_000;
/// Lines taken from the stream per tick, at most.
pub const BATCH: usize = 5_000;
/// Lines waiting between the stream's task and the loop.
pub const CHANNEL: usize = 4_096;
/// How often the loop drains the stream while the view follows.
pub const DRAIN_EVERY: Duration = Duration::from_millis(50);
/// Lines per pod read before following, for one pod and for a whole service.
pub const TAIL_POD: u32 = 500;
pub const TAIL_SERVICE: u32 = 100;

/// What one logs view reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    pub id: u64,
    pub service: String,
    pub sources: Vec<(ClusterId, String)>,
    pub query: LogQuery,
}

/// The open logs view.
#[derive(Debug)]
pub struct LogView {
    pub req: LogsRequest,
    /// What the title says: the pod, or the service and how many pods.
    pub title: String,
    pub lines: VecDeque<LogLine>,
    /// The stream, once open.
    pub rx: Option<mpsc::Receiver<LogLine>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
    /// Why it could not be read (refused, failed).
    pub error: Option<String>,
    /// The stream ended (not following, or every source went away).
    pub ended: bool,
    pub follow: bool,
    pub paused: bool,
    pub wrap: bool,
    pub timestamps: bool,
    /// The first line shown when not following.
    pub top: usize,
    pub search: Option<String>,
    /// How many lines left the ring.
    pub dropped: u64,
    pub drain_at: Option<Instant>,
}

impl Drop for LogView {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Authorise and audit the read, then open the merged stream into a bounded channel.
pub async fn open_logs(
    platform: &Platform,
    policy: Policy,
    user: &str,
    by: Option<String>,
    req: LogsRequest,
) -> Vec<Msg> {
    let id = req.id;
    let fail = |why: String| Msg::LogsOpened {
        id,
        res: Err(sanitize(&why).into_owned()),
    };
    let catalog = match platform.catalog.load().await {
        Ok(c) => c,
        Err(e) => return vec![fail(format!("{e:#}"))],
    };
    let mut actor = Actor::resolve(user, &catalog, &policy);
    actor.by = by;
    let mut envs: Vec<&str> = req.sources.iter().map(|(c, _)| c.env.as_str()).collect();
    envs.sort_unstable();
    envs.dedup();
    let mut clusters: Vec<String> = req
        .sources
        .iter()
        .map(|(c, _)| format!("{}@{c}", req.service))
        .collect();
    clusters.sort();
    clusters.dedup();
    let target = clusters.join(", ");
    match authorize_read(
        platform,
        &catalog,
        &actor,
        &req.service,
        &envs,
        &target,
        ReadKind::Logs,
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => {
            let why = refusal.to_string();
            let mut out = vec![fail(format!("refused: {why}"))];
            if let Refusal::NotOwner { service, .. } = &refusal {
                out.push(Msg::NotOwner {
                    why,
                    service: service.clone(),
                    permission: Permission::ReadLogs,
                });
            }
            return out;
        }
        Err(e) => return vec![fail(format!("{e:#}"))],
    }
    let sources = req
        .sources
        .iter()
        .map(|(cluster, pod)| LogSource {
            cluster: cluster.clone(),
            pod: pod.clone(),
        })
        .collect();
    match merged(platform.clusters.clone(), sources, req.query.clone()).await {
        Ok(stream) => {
            let (rx, task) = into_channel(stream, CHANNEL);
            vec![Msg::LogsOpened {
                id,
                res: Ok((rx, task)),
            }]
        }
        Err(e) => vec![fail(format!("{e:#}"))],
    }
}

impl Model {
    fn logs_request(
        &mut self,
        service: String,
        sources: Vec<(ClusterId, String)>,
        previous: bool,
    ) -> LogsRequest {
        self.logs_seq += 1;
        let one = sources.len() == 1;
        LogsRequest {
            id: self.logs_seq,
            service,
            sources,
            query: LogQuery {
                previous,
                tail: Some(if one { TAIL_POD } else { TAIL_SERVICE }),
                follow: !previous,
                ..LogQuery::default()
            },
        }
    }

    /// Open the logs view of `sources` (one pod, or every pod of a service).
    pub(crate) fn open_logs_of(
        &mut self,
        service: String,
        sources: Vec<(ClusterId, String)>,
        previous: bool,
    ) -> Vec<Effect> {
        if sources.is_empty() {
            self.toast(Level::Error, format!("{service} has no pods in scope"));
            return vec![];
        }
        let title = match sources.as_slice() {
            [(c, p)] => format!("{} {c}", sanitize(p)),
            many => format!("{} · {} pods", sanitize(&service), many.len()),
        };
        let req = self.logs_request(service, sources, previous);
        // The view opens on the newest lines, the previous container's too: its last
        // lines are the crash's own (the stream itself is followed only when live).
        let follow = true;
        if !matches!(self.routes.last(), Some(Route::Logs)) {
            self.routes.push(Route::Logs);
        }
        self.logs = Some(LogView {
            req: req.clone(),
            title,
            lines: VecDeque::new(),
            rx: None,
            task: None,
            error: None,
            ended: false,
            follow,
            paused: false,
            wrap: false,
            timestamps: false,
            top: 0,
            search: None,
            dropped: 0,
            drain_at: None,
        });
        vec![Effect::OpenLogs(req)]
    }

    /// `l`: the logs of what is on screen — the pod view's pod, the pods pane's pod,
    /// or every pod of the service view's (or the problem's) service.
    pub(crate) fn logs_here(&mut self) -> Vec<Effect> {
        if let Some(Route::Pod(c, p)) = self.routes.last().cloned() {
            let service = self
                .live
                .pod(&c, &p)
                .map(|x| x.service.to_string())
                .or_else(|| {
                    self.pod_view
                        .ready()
                        .map(|v| v.details.summary.service.clone())
                })
                .unwrap_or_default();
            return self.open_logs_of(service, vec![(c, p)], false);
        }
        if let Some(Route::Service(s)) = self.routes.last().cloned() {
            return self.service_logs(s);
        }
        match self.tab {
            Tab::Pods if self.routes.is_empty() => {
                self.refresh_pods();
                let Some(p) = self.pods.current() else {
                    self.toast(Level::Error, "select a pod");
                    return vec![];
                };
                let (s, c, n) = (p.service.clone(), p.cluster.clone(), p.name.clone());
                self.open_logs_of(s, vec![(c, n)], false)
            }
            Tab::Problems if self.routes.is_empty() => {
                let at = self.list.selected;
                let Some(row) = self.problem_rows().get(at).cloned() else {
                    return vec![];
                };
                if let Some((c, p)) = row.pod {
                    let s = row.problem.service.unwrap_or_default();
                    return self.open_logs_of(s, vec![(c, p)], false);
                }
                match row.problem.service {
                    Some(s) => self.service_logs(s),
                    None => {
                        self.toast(Level::Error, "this problem has no logs");
                        vec![]
                    }
                }
            }
            _ => {
                self.toast(Level::Error, "logs: open a pod, a service or a problem");
                vec![]
            }
        }
    }

    /// Every pod of `service` in scope, merged.
    fn service_logs(&mut self, service: String) -> Vec<Effect> {
        let sources: Vec<(ClusterId, String)> = self
            .live
            .pods_of(&service, &self.scope)
            .map(|p| (p.cluster.clone(), p.name.to_string()))
            .collect();
        self.open_logs_of(service, sources, false)
    }

    /// The stream opened (or could not be).
    pub(crate) fn on_logs_opened(
        &mut self,
        id: u64,
        res: Result<(mpsc::Receiver<LogLine>, tokio::task::JoinHandle<()>), String>,
    ) {
        let Some(v) = self.logs.as_mut().filter(|v| v.req.id == id) else {
            if let Ok((_, task)) = res {
                task.abort();
            }
            return;
        };
        match res {
            Ok((rx, task)) => {
                v.rx = Some(rx);
                v.task = Some(task);
                v.drain_at = Some(Instant::now());
            }
            Err(e) => v.error = Some(e),
        }
        self.dirty = true;
        self.drain_logs();
    }

    /// Take at most [`BATCH`] waiting lines into the ring (never waiting).
    pub(crate) fn drain_logs(&mut self) {
        // The view was closed (`Esc`): its stream ends with it.
        if self.logs.is_some() && !self.routes.contains(&Route::Logs) {
            self.logs = None;
            return;
        }
        let Some(v) = self.logs.as_mut() else {
            return;
        };
        if v.paused {
            v.drain_at = None;
            return;
        }
        let Some(rx) = v.rx.as_mut() else {
            return;
        };
        let mut got = 0;
        while got < BATCH {
            match rx.try_recv() {
                Ok(l) => {
                    if v.lines.len() == RING {
                        v.lines.pop_front();
                        v.dropped += 1;
                        v.top = v.top.saturating_sub(1);
                    }
                    v.lines.push_back(l);
                    got += 1;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    v.ended = true;
                    v.rx = None;
                    self.dirty = true;
                    break;
                }
            }
        }
        v.drain_at = (v.rx.is_some()).then(|| Instant::now() + DRAIN_EVERY);
        if got > 0 {
            self.dirty = true;
        }
    }

    /// When the loop must wake to drain the logs.
    pub(crate) fn logs_deadline(&self) -> Option<Instant> {
        self.logs.as_ref().and_then(|v| v.drain_at)
    }

    /// The logs view's own keys; `None` for the others.
    pub(crate) fn logs_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        if !matches!(self.routes.last(), Some(Route::Logs)) {
            return None;
        }
        if *cmd == Command::Back {
            // Closing the view ends its stream.
            self.routes.pop();
            self.logs = None;
            self.dirty = true;
            return Some(vec![]);
        }
        let v = self.logs.as_mut()?;
        let len = v.lines.len();
        match cmd {
            Command::LogsPause => {
                v.paused = !v.paused;
                if !v.paused {
                    v.drain_at = Some(Instant::now());
                }
            }
            Command::LogsWrap => v.wrap = !v.wrap,
            Command::LogsTimestamps => v.timestamps = !v.timestamps,
            Command::Bottom | Command::LogsEnd => {
                v.follow = true;
                v.top = len.saturating_sub(1);
            }
            Command::Up | Command::PageUp | Command::Top => {
                if v.follow {
                    v.top = len.saturating_sub(1);
                }
                v.follow = false;
                v.top = match cmd {
                    Command::Up => v.top.saturating_sub(1),
                    Command::PageUp => v.top.saturating_sub(20),
                    _ => 0,
                };
            }
            Command::Down | Command::PageDown if !v.follow => {
                let by = if *cmd == Command::Down { 1 } else { 20 };
                v.top = (v.top + by).min(len.saturating_sub(1));
            }
            Command::Down | Command::PageDown => {}
            Command::LogsSearch => {
                self.prompt("Search the logs for:".into(), Pending::LogsSearch);
            }
            Command::LogsNext | Command::LogsPrev => {
                let forward = *cmd == Command::LogsNext;
                self.logs_find(forward);
            }
            Command::LogsPrevious => {
                let req = v.req.clone();
                let previous = !req.query.previous;
                return Some(self.open_logs_of(req.service, req.sources, previous));
            }
            _ => return None,
        }
        self.dirty = true;
        Some(vec![])
    }

    /// The search's answer: find it from the end.
    pub(crate) fn logs_search(&mut self, text: String) {
        let Some(v) = self.logs.as_mut() else {
            return;
        };
        let text = text.trim().to_string();
        v.search = (!text.is_empty()).then_some(text);
        v.top = v.lines.len();
        self.logs_find(false);
    }

    /// Move to the next (or previous) line with the search text; stop following.
    fn logs_find(&mut self, forward: bool) {
        let Some(v) = self.logs.as_mut() else {
            return;
        };
        let Some(s) = v.search.as_ref().map(|s| s.to_lowercase()) else {
            self.toast(Level::Error, "no search: press / first");
            return;
        };
        let from = if v.follow { v.lines.len() } else { v.top };
        let hit = |l: &LogLine| l.text.to_lowercase().contains(&s);
        let found = if forward {
            (from + 1..v.lines.len()).find(|&i| hit(&v.lines[i]))
        } else {
            (0..from.min(v.lines.len()))
                .rev()
                .find(|&i| hit(&v.lines[i]))
        };
        match found {
            Some(i) => {
                v.follow = false;
                v.top = i;
            }
            None => {
                let msg = format!("{s:?} not found");
                self.toast(Level::Info, msg);
            }
        }
    }
}

pub fn draw_logs(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let Some(v) = m.logs.as_ref() else {
        return;
    };
    let mut title = vec![Span::styled(
        format!(
            " logs {}{} ",
            v.title,
            if v.req.query.previous {
                " (previous)"
            } else {
                ""
            }
        ),
        t.style(Slot::Title),
    )];
    let state = if v.error.is_some() {
        ("refused".to_string(), Slot::Error)
    } else if v.paused {
        ("paused".to_string(), Slot::Warn)
    } else if v.ended {
        ("ended".to_string(), Slot::Muted)
    } else if v.follow {
        ("following".to_string(), Slot::Ok)
    } else {
        ("scrolled".to_string(), Slot::Pending)
    };
    title.push(Span::styled(format!("{} ", state.0), t.style(state.1)));
    title.push(Span::styled(
        format!("{} lines ", v.lines.len()),
        t.style(Slot::Muted),
    ));
    if let Some(s) = &v.search {
        title.push(Span::styled(
            format!("/{} ", sanitize(s)),
            t.style(Slot::Accent),
        ));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.style(Slot::Border))
        .title(Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if let Some(e) = &v.error {
        f.render_widget(
            Paragraph::new(e.clone())
                .style(t.style(Slot::Error))
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    if v.lines.is_empty() {
        let text = if v.rx.is_none() && !v.ended {
            "Opening the logs…"
        } else {
            "No lines yet."
        };
        f.render_widget(Paragraph::new(text).style(t.style(Slot::Muted)), inner);
        return;
    }
    let h = inner.height as usize;
    let multi = v.req.sources.len() > 1;
    let with_env = multi
        && v.req
            .sources
            .iter()
            .any(|(c, _)| c.env != v.req.sources[0].0.env);
    let search = v.search.as_ref().map(|s| s.to_lowercase());
    let line = |i: usize, l: &LogLine| {
        let mut spans = Vec::new();
        if v.timestamps {
            spans.push(Span::styled(
                format!("{} ", l.time_text()),
                t.style(Slot::Muted),
            ));
        }
        if multi {
            spans.push(Span::styled(
                format!("{} ", l.source(with_env)),
                t.style(Slot::Accent),
            ));
        }
        let hit = search
            .as_ref()
            .is_some_and(|s| l.text.to_lowercase().contains(s));
        let slot = if l.notice {
            Slot::Warn
        } else if hit || (!v.follow && i == v.top) {
            Slot::Selection
        } else {
            Slot::Text
        };
        // Sanitised when the line was made; again here, cheaply, in case.
        spans.push(Span::styled(sanitize(&l.text).into_owned(), t.style(slot)));
        Line::from(spans)
    };
    let (out, skip) = if v.follow {
        // Following: the newest lines, counted from the end in screen rows (a wrapped
        // line takes several), so the newest is always on screen.
        let mut out = Vec::new();
        let mut rows = 0;
        let mut i = v.lines.len();
        while i > 0 && rows < h {
            i -= 1;
            let l = line(i, &v.lines[i]);
            rows += if v.wrap {
                Paragraph::new(l.clone())
                    .wrap(Wrap { trim: false })
                    .line_count(inner.width)
                    .max(1)
            } else {
                1
            };
            out.push(l);
        }
        out.reverse();
        // The oldest of them may be only partly shown: its first rows scroll off.
        (out, rows.saturating_sub(h))
    } else {
        let end = (v.top + h).min(v.lines.len());
        let start = end.saturating_sub(h);
        let out = (start..end)
            .zip(v.lines.range(start..end))
            .map(|(i, l)| line(i, l))
            .collect();
        (out, 0)
    };
    let mut p = Paragraph::new(out);
    if v.wrap {
        p = p.wrap(Wrap { trim: false });
    }
    let p = p.scroll((u16::try_from(skip).unwrap_or(u16::MAX), 0));
    f.render_widget(p, inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::harness::Harness;

    /// Following with wrap on, long lines take several rows each: the newest line is
    /// still on screen (the window is counted in wrapped rows from the end).
    #[tokio::test]
    async fn following_with_wrap_keeps_the_newest_line_on_screen() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        let c = ClusterId::new("dev", "eu-west-1");
        let effects =
            h.model
                .open_logs_of("cart".into(), vec![(c.clone(), "cart-x".into())], false);
        let Some(Effect::OpenLogs(req)) = effects.first().cloned() else {
            panic!("{effects:?}");
        };
        let (tx, rx) = mpsc::channel(64);
        for i in 0..40 {
            // Each line wraps over three rows at 80 columns.
            let text = format!("line {i} {}", "word ".repeat(40));
            tx.try_send(LogLine::new(i, &c, "cart-x", "app", &text))
                .expect("room");
        }
        tx.try_send(LogLine::new(40, &c, "cart-x", "app", "the newest line"))
            .expect("room");
        let task = tokio::spawn(async {});
        h.model.on_logs_opened(req.id, Ok((rx, task)));
        h.model.run(Command::LogsWrap);
        let v = h.model.logs.as_ref().expect("open");
        assert!(v.wrap && v.follow, "wrap on, following");
        let screen = h.render();
        assert!(screen.contains("the newest line"), "{screen}");
        // The rows just above it are the end of the line before it.
        assert!(screen.contains("line 39"), "{screen}");
    }

    /// However many lines wait, one tick takes at most `BATCH`, and the ring keeps the
    /// newest `RING`.
    #[tokio::test]
    async fn a_tick_drains_a_bounded_batch_into_a_bounded_ring() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        let c = ClusterId::new("dev", "eu-west-1");
        let effects =
            h.model
                .open_logs_of("cart".into(), vec![(c.clone(), "cart-x".into())], false);
        let Some(Effect::OpenLogs(req)) = effects.first().cloned() else {
            panic!("{effects:?}");
        };
        let (tx, rx) = mpsc::channel(RING * 2);
        for i in 0..(RING + 2_000) {
            tx.try_send(LogLine::new(
                i as i64,
                &c,
                "cart-x",
                "app",
                &format!("line {i}"),
            ))
            .expect("room");
        }
        let task = tokio::spawn(async {});
        h.model.on_logs_opened(req.id, Ok((rx, task)));
        assert_eq!(h.model.logs.as_ref().unwrap().lines.len(), BATCH);
        h.model.drain_logs();
        h.model.drain_logs();
        let v = h.model.logs.as_ref().unwrap();
        assert_eq!(v.lines.len(), RING);
        assert_eq!(v.dropped, 2_000);
        assert_eq!(
            v.lines.back().unwrap().text,
            format!("line {}", RING + 1_999)
        );
        // Paused: nothing more is taken (the stream waits, nothing is lost).
        h.model.run(Command::LogsPause);
        tx.try_send(LogLine::new(0, &c, "cart-x", "app", "later"))
            .unwrap();
        h.model.drain_logs();
        assert!(h.model.logs.as_ref().unwrap().lines.back().unwrap().text != "later");
        h.model.run(Command::LogsPause);
        h.model.drain_logs();
        assert_eq!(
            h.model.logs.as_ref().unwrap().lines.back().unwrap().text,
            "later"
        );
    }
}
