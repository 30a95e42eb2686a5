//! The pod view (Enter on a pod, or on a pod's problem): what `sphere describe pod`
//! says — phase, conditions, node, IPs, owner, age, each container's image, state,
//! readiness, restarts, last termination and resources — and the pod's events newest
//! first (what `sphere events POD` says). Read once as an effect off the UI task
//! when opened, and again on `reload`: the events read is audited, so it is not
//! polled.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::actions::read::{ReadKind, authorize_read};
use crate::actions::{Actor, Policy};
use crate::backend::Platform;
use crate::config::theme::Slot;
use crate::domain::pod::{PodDetails, PodEvent, sort_events};
use crate::domain::text::{age, sanitize};
use crate::domain::{ClusterEvent, ClusterId};
use crate::tui::command::Command;
use crate::tui::fetch::TIMEOUT;
use crate::tui::model::*;

/// What the pod view shows: the pod's details and its events (or why they could not
/// be read: refused, or failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub cluster: ClusterId,
    pub name: String,
    pub details: PodDetails,
    pub events: Result<Vec<PodEvent>, String>,
}

/// Read a pod's details and, when `user` may (owners and admins in production; an
/// audited read), its events, off the UI task.
pub async fn read_pod(
    platform: &Platform,
    policy: Policy,
    user: &str,
    by: Option<String>,
    cluster: ClusterId,
    pod: String,
) -> Msg {
    let read = async {
        let details = platform.clusters.pod_details(&cluster, &pod).await?;
        let service = details.summary.service.clone();
        let catalog = platform.catalog.load().await?;
        let mut actor = Actor::resolve(user, &catalog, &policy);
        actor.by = by;
        let target = format!("{service}@{cluster}");
        let events = match authorize_read(
            platform,
            &catalog,
            &actor,
            &service,
            &[cluster.env.as_str()],
            &target,
            ReadKind::Events,
        )
        .await
        {
            Ok(Ok(())) => platform
                .clusters
                .events(&cluster, &service, Some(&pod))
                .await
                .map(|mut e| {
                    sort_events(&mut e);
                    e
                })
                .map_err(|e| format!("{e:#}")),
            Ok(Err(refusal)) => Err(format!("refused: {refusal}")),
            Err(e) => Err(format!("{e:#}")),
        };
        Ok::<_, anyhow::Error>(PodView {
            cluster: cluster.clone(),
            name: pod.clone(),
            details,
            events,
        })
    };
    let res = match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(v)) => Ok(Box::new(v)),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("no answer within {}s", TIMEOUT.as_secs())),
    };
    Msg::PodRead {
        cluster,
        pod,
        res: res.map_err(|e| sanitize(&e).into_owned()),
    }
}

impl Model {
    /// Open the pod view of one pod, and read it.
    pub(crate) fn open_pod(&mut self, cluster: ClusterId, name: String) -> Vec<Effect> {
        self.pods.key = Some((cluster.clone(), name.clone()));
        self.routes.push(Route::Pod(cluster.clone(), name.clone()));
        self.detail_scroll = 0;
        self.pod_view = Remote::NotAsked;
        vec![Effect::ReadPod { cluster, pod: name }]
    }

    /// The pod view's own commands: its scroll, and `reload` reads the pod again (the
    /// events read is audited: it is read when asked, not polled). `None`: the app's.
    pub(crate) fn pod_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        if self.detail_scroll_command(cmd) {
            return Some(vec![]);
        }
        match (cmd, self.routes.last()) {
            (Command::Reload, Some(Route::Pod(cluster, pod))) => Some(vec![Effect::ReadPod {
                cluster: cluster.clone(),
                pod: pod.clone(),
            }]),
            _ => None,
        }
    }

    /// Does this watch event (not applied yet) change the pod the open pod view shows
    /// (its phase, readiness, restarts, waiting or last termination), or delete it?
    /// Then the view reads it again: describe and events follow the pod live.
    pub(crate) fn pod_view_changed_by(&self, ev: &ClusterEvent) -> Option<(ClusterId, String)> {
        let Some(Route::Pod(cluster, name)) = self.routes.last() else {
            return None;
        };
        let changed = match ev {
            ClusterEvent::Pod(p) if p.cluster == *cluster && p.name == *name => {
                self.live.pod(cluster, name).is_none_or(|was| {
                    (
                        was.phase,
                        was.ready,
                        was.restarts,
                        was.waiting,
                        was.last_termination,
                    ) != (
                        p.phase,
                        p.ready,
                        p.restarts,
                        p.waiting.as_deref(),
                        p.last_termination.as_deref(),
                    )
                })
            }
            ClusterEvent::PodDeleted {
                cluster: c,
                name: n,
            } => c == cluster && n == name,
            _ => false,
        };
        changed.then(|| (cluster.clone(), name.clone()))
    }

    /// A pod's read came back: kept when it is the pod on screen.
    pub(crate) fn on_pod_read(
        &mut self,
        cluster: ClusterId,
        pod: String,
        res: Result<Box<PodView>, String>,
    ) {
        if self.routes.last() != Some(&Route::Pod(cluster, pod)) {
            return;
        }
        self.pod_view = match res {
            Ok(v) => Remote::Ready(v),
            Err(e) => Remote::Failed(e),
        };
        self.dirty = true;
    }
}

/// The view's lines: the describe lines, then the events, newest first.
fn lines(m: &Model, v: &PodView) -> Vec<Line<'static>> {
    let t = &m.theme;
    let now = m.now();
    let mut out: Vec<Line<'static>> = Vec::new();
    // The crash's cause first, above the fold of a small terminal.
    if let Some((container, term)) = v.details.last_termination() {
        let when = term
            .finished_at
            .map(|at| format!(" {} ago", age(now - at)))
            .unwrap_or_default();
        out.push(Line::from(vec![
            Span::styled("Last ended:  ", t.style(Slot::Muted)),
            Span::styled(
                format!(
                    "{} {}{when}, {} restarts",
                    sanitize(container),
                    sanitize(&term.text()),
                    v.details.summary.restarts
                ),
                t.style(Slot::Error),
            ),
        ]));
    }
    for l in v.details.describe(now) {
        let slot = if l.contains("Last termination:") && !l.ends_with("<none>") {
            Slot::Error
        } else if l.contains("State:     Waiting") || l.contains("Ready:     no") {
            Slot::Warn
        } else if l.ends_with(':') {
            Slot::Title
        } else {
            Slot::Text
        };
        out.push(Line::from(Span::styled(l, t.style(slot))));
    }
    out.push(Line::from(""));
    out.push(Line::from(Span::styled(
        "Events (newest first):",
        t.style(Slot::Title),
    )));
    match &v.events {
        Ok(events) if events.is_empty() => {
            out.push(Line::from(Span::styled("  none", t.style(Slot::Muted))))
        }
        Ok(events) => {
            for e in events {
                let slot = if e.kind == "Warning" {
                    Slot::Warn
                } else {
                    Slot::Text
                };
                let count = if e.count > 1 {
                    format!(" (x{})", e.count)
                } else {
                    String::new()
                };
                out.push(Line::from(vec![
                    Span::styled(format!("  {:>7} ", age(now - e.at)), t.style(Slot::Muted)),
                    Span::styled(
                        format!(
                            "{} {} {}/{}: {}{count}",
                            sanitize(&e.kind),
                            sanitize(&e.reason),
                            sanitize(&e.object.kind),
                            sanitize(&e.object.name),
                            sanitize(&e.message)
                        ),
                        t.style(slot),
                    ),
                ]));
            }
        }
        Err(e) => out.push(Line::from(Span::styled(
            format!("  {}", sanitize(e)),
            t.style(Slot::Error),
        ))),
    }
    out
}

impl Model {
    /// The pod view scrolls no further than its last line at the bottom.
    pub(crate) fn settle_pod(&mut self, body: Rect) {
        let inner = Block::default().borders(Borders::TOP).inner(body);
        let len = match &self.pod_view {
            Remote::Ready(v) => lines(self, v).len(),
            _ => 0,
        };
        self.detail_scroll = self
            .detail_scroll
            .min(len.saturating_sub(inner.height as usize));
    }
}

pub fn draw_pod(m: &Model, f: &mut Frame, area: Rect, cluster: &ClusterId, name: &str) {
    let t = &m.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.style(Slot::Border))
        .title(Line::from(vec![
            Span::styled(format!(" pod {} ", sanitize(name)), t.style(Slot::Title)),
            Span::styled(format!("{cluster} "), t.style(Slot::Muted)),
        ]));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let text = match &m.pod_view {
        Remote::NotAsked => {
            f.render_widget(
                Paragraph::new("Reading the pod…").style(t.style(Slot::Muted)),
                inner,
            );
            return;
        }
        Remote::Failed(e) => {
            f.render_widget(
                Paragraph::new(format!("The pod could not be read: {e}"))
                    .style(t.style(Slot::Error))
                    .wrap(Wrap { trim: true }),
                inner,
            );
            return;
        }
        Remote::Ready(v) => lines(m, v),
    };
    f.render_widget(
        Paragraph::new(text).scroll((m.detail_scroll as u16, 0)),
        inner,
    );
}

#[cfg(test)]
mod tests {
    use crate::tui::harness::Harness;
    use crate::tui::model::{Remote, Route};

    /// The pod view follows its pod: when the watch says the pod changed (a crash
    /// loop's restart), the view reads it again, with no key pressed.
    #[tokio::test]
    async fn the_pod_view_reads_its_pod_again_when_the_watch_says_it_changed() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        // Trouble first: the crash-looping pod is the first row.
        h.keys("/reviews-service<Enter>3<Enter>");
        let Some(Route::Pod(_, name)) = h.model.routes.last().cloned() else {
            panic!("the pod view is open: {:?}", h.model.routes);
        };
        let restarts = |h: &Harness| match &h.model.pod_view {
            Remote::Ready(v) => v.details.summary.restarts,
            other => panic!("the pod was read: {other:?}"),
        };
        let before = restarts(&h);
        for _ in 0..10 {
            h.sim.tick();
            h.pump();
        }
        let live = h
            .model
            .live
            .pods_of("reviews-service", &h.model.scope)
            .find(|p| p.name == name)
            .map(|p| p.restarts)
            .expect("still running");
        assert!(live > before, "the pod restarted meanwhile");
        assert_eq!(restarts(&h), live, "the view shows the pod as it is now");
    }
}
