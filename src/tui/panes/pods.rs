//! The pods pane: the focus service's pods in scope (trouble first), its deployments
//! and HPAs; restart and HPA bounds act on the chosen pod.

use crate::actions::Action;
use crate::tui::command::Command;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use crate::config::theme::Slot;
use crate::domain::text::{age, sanitize};
use crate::domain::{ClusterEvent, ClusterId, PodPhase};
use crate::tui::format::*;
use crate::tui::model::*;

/// The pods pane's state: the selection (and the pod chosen, which the selection
/// follows when the live list re-sorts) and its rows, built when the data under them
/// changes (a watch event about the service's pods, the focus, the scope, the filter),
/// never per frame.
#[derive(Debug, Clone, Default)]
pub struct PodsPane {
    pub pos: ListPos,
    /// The selected pod by cluster and name: the selection follows it when the live
    /// list re-sorts, so `R` and `H` act on the pod the user chose.
    pub key: Option<(ClusterId, String)>,
    /// The rows, trouble first (see `Model::pod_rows`).
    pub rows: Vec<PodLine>,
    /// The service's deployments in scope with their HPAs, in the platform's order
    /// (the side panel here, "running in" in the service view); `None` when the
    /// service runs nowhere.
    pub workloads: Option<Vec<WorkloadLine>>,
    /// What `rows` were built for: (service, scope, filter).
    built: Option<(String, crate::domain::Scope, String)>,
    /// A watch event changed the pods of the service shown.
    stale: bool,
}

impl PodsPane {
    /// A new filter: the selection back to the top, no pod chosen.
    pub fn reset_selection(&mut self) {
        self.pos = ListPos::default();
        self.key = None;
    }

    /// The rows are built again before they are next used.
    pub(crate) fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Does this watch event change the rows shown? (Before it is applied: a deleted
    /// pod is looked up in the rows.)
    pub(crate) fn touched_by(&self, ev: &ClusterEvent) -> bool {
        match ev {
            ClusterEvent::Pod(p) => self.shows(&p.service),
            ClusterEvent::Deployment(d) => self.shows(&d.service),
            ClusterEvent::DeploymentDeleted { service, .. } => self.shows(service),
            ClusterEvent::Hpa(h) => self.shows(&h.service),
            ClusterEvent::PodDeleted { cluster, name } => self
                .rows
                .iter()
                .any(|r| r.cluster == *cluster && r.name == *name),
            ClusterEvent::Synced(_) | ClusterEvent::Unreachable { .. } => true,
            _ => false,
        }
    }

    /// Are the rows built for `service`?
    pub fn shows(&self, service: &str) -> bool {
        self.built.as_ref().is_some_and(|b| b.0 == service)
    }

    /// Where the chosen pod is in the rows, if it is still listed.
    pub fn chosen(&self) -> Option<usize> {
        let (cluster, name) = self.key.as_ref()?;
        self.rows
            .iter()
            .position(|r| r.cluster == *cluster && r.name == *name)
    }

    /// The row `R`, `H`, `l` and Enter act on: the chosen pod, else the selection.
    pub fn current(&self) -> Option<&PodLine> {
        self.rows.get(self.chosen().unwrap_or(self.pos.selected))
    }
}

/// One row of the pods table, owned: built when the data arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLine {
    pub cluster: ClusterId,
    pub name: String,
    pub service: String,
    pub phase: PodPhase,
    pub ready: bool,
    pub restarts: u32,
    pub started_at: i64,
    pub node: String,
    /// A container's waiting reason, such as `CrashLoopBackOff`.
    pub waiting: Option<String>,
    /// Why the last container instance ended (`OOMKilled`).
    pub last_termination: Option<String>,
    pub crash_looping: bool,
}

impl PodLine {
    fn of(p: &crate::domain::service::PodRow<'_>) -> PodLine {
        PodLine {
            cluster: p.cluster.clone(),
            name: p.name.to_string(),
            service: p.service.to_string(),
            phase: p.phase,
            ready: p.ready,
            restarts: p.restarts,
            started_at: p.started_at,
            node: sanitize(p.node).into_owned(),
            waiting: p.waiting.map(|w| sanitize(w).into_owned()),
            last_termination: p.last_termination.map(|w| sanitize(w).into_owned()),
            crash_looping: p.crash_looping(),
        }
    }

    /// The LAST TERMINATION cell: the reason, and the exit code where the reason
    /// fixes it (the kernel's OOM killer ends a container with SIGKILL: 128 + 9). The
    /// pod summaries carry the reason only; the pod view has every exit code.
    pub fn termination_text(&self) -> String {
        match self.last_termination.as_deref() {
            Some(r @ "OOMKilled") => format!("{r} (137)"),
            Some(r) => r.to_string(),
            None => String::new(),
        }
    }
}

/// One deployment of the service and its HPA, owned: built when the data arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadLine {
    pub cluster: ClusterId,
    pub version: String,
    pub ready: u32,
    pub desired: u32,
    /// What the rollout is doing (`crashloop ×1`, `⟳ rolling`), and how it is shown.
    pub state: (String, Slot),
    /// `2–10 now 3 cpu 41/70%`, or `no hpa`.
    pub hpa: String,
}

/// The pods table and the deployments beside it (from 140 columns) or under it; the
/// table's rows are the inner area's less its header line.
fn pods_areas(area: Rect) -> (Rect, Rect) {
    if area.width >= 140 {
        // The side panel as wide as a deployment with its whole HPA line needs (a
        // space apart from the pods' reason), the pods the rest.
        let side_w = (area.width * 36 / 100).max(70);
        let [a, _, b] = Layout::horizontal([
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(side_w),
        ])
        .areas(area);
        (a, b)
    } else {
        let [a, b] =
            Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
        (a, b)
    }
}

fn pods_block(area: Rect) -> Rect {
    Block::default().borders(Borders::TOP).inner(area)
}

impl Model {
    /// Build the pods pane's rows again if what they show changed (the focus service,
    /// the scope, the filter, or a watch event about its pods); the selection follows
    /// the chosen pod.
    pub(crate) fn refresh_pods(&mut self) {
        let service = self.focus().unwrap_or_default();
        let want = (service, self.scope.clone(), self.pane_filter.clone());
        if !self.pods.stale && self.pods.built.as_ref() == Some(&want) {
            return;
        }
        let rows: Vec<PodLine> = self.pod_rows().iter().map(PodLine::of).collect();
        let workloads = self.workload_rows(&want.0);
        self.pods.rows = rows;
        self.pods.workloads = workloads;
        self.pods.built = Some(want);
        self.pods.stale = false;
        if let Some(i) = self.pods.chosen() {
            self.pods.pos.selected = i;
        }
    }

    /// Rows built, the selection on the chosen pod and scrolled into view.
    pub(crate) fn settle_pods(&mut self, body: Rect) {
        self.refresh_pods();
        if let Some(i) = self.pods.chosen() {
            self.pods.pos.selected = i;
        }
        let (table, _) = pods_areas(body);
        let height = pods_block(table).height.saturating_sub(1) as usize;
        let len = self.pods.rows.len();
        self.pods.pos.scroll_into_view(height, len);
    }
}

/// The pods table's cluster column: `prod·euw1` when narrow, else `env/region`.
fn cluster_width(narrow: bool) -> u16 {
    if narrow { 13 } else { 26 }
}

/// Which optional columns the pods table shows at `width`: (short cluster names, last
/// termination, node as (width, whole name)). Dropped first as the table narrows: the
/// node (its domain, then all of it), then the last termination (the reason column
/// then says it), so the pod's name and state always have room.
fn pod_columns(width: u16) -> (bool, bool, Option<(u16, bool)>, u16) {
    let narrow = width < 110;
    let cluster_w = cluster_width(narrow);
    // cluster, pod, phase, ready, restarts, age, reason: six spaces between them.
    let fixed = cluster_w + 8 + 5 + 8 + 6 + 16 + 6;
    let mut room = width.saturating_sub(fixed + POD_NAME_MIN);
    let last = room > LAST_W;
    if last {
        room -= LAST_W + 1;
    }
    let node = if !narrow && room > NODE_W {
        Some((NODE_W, true))
    } else if room > NODE_HOST_W {
        // The host part only (`ip-10-14-4-85`, not its domain).
        Some((NODE_HOST_W, false))
    } else {
        None
    };
    // What is left widens the reason column (up to 4), where the last termination
    // then joins the waiting reason.
    let used = node.map_or(0, |(w, _)| w + 1);
    let reason_w = 16 + room.saturating_sub(used).min(4);
    (narrow, last, node, reason_w)
}

/// The reason cell when the last termination has no column of its own: the waiting
/// reason and what ended the container last, as much as `width` holds
/// (`CrashLoopBackOff` and `OOMKilled`: `CrashLoop·OOMKilled`, or `CrashLoop·OOM`).
fn reason_with_termination(waiting: Option<&str>, last: Option<&str>, width: usize) -> String {
    match (waiting, last) {
        (Some(w), Some(l)) => {
            let short = w.strip_suffix("BackOff").unwrap_or(w);
            let both = format!("{short}·{l}");
            if both.chars().count() <= width {
                return both;
            }
            let l = l.strip_suffix("Killed").unwrap_or(l);
            format!("{short}·{l}")
        }
        (w, l) => w.or(l).unwrap_or("").to_string(),
    }
}

/// The node column: the whole name (`ip-10-18-10-243.ec2.internal`), or its host part.
const NODE_W: u16 = 28;
const NODE_HOST_W: u16 = 16;

/// The room a pod's name (without its service's prefix) needs.
const POD_NAME_MIN: u16 = 17;
/// The LAST TERMINATION column: `OOMKilled (137)`.
const LAST_W: u16 = 16;

pub fn draw_pods(m: &Model, f: &mut Frame, area: Rect) {
    let Some(service) = m.focus() else {
        f.render_widget(
            Paragraph::new("Select a service in the catalog to see its pods.")
                .style(m.theme.style(Slot::Muted)),
            area,
        );
        return;
    };
    let (pods_area, side) = pods_areas(area);
    let now = m.now();
    let t = &m.theme;
    // Built when the data arrived (`refresh_pods`), never here.
    let rows = &m.pods.rows;
    let crash = rows.iter().filter(|p| p.crash_looping).count();
    let not_ready = rows.iter().filter(|p| !p.ready).count();
    let mut title = vec![
        Span::styled(format!(" {service} "), t.style(Slot::Title)),
        Span::styled(format!("{} pods ", rows.len()), t.style(Slot::Muted)),
    ];
    if crash > 0 {
        title.push(Span::styled(
            format!("{crash} crash-looping "),
            t.style(Slot::Error),
        ));
    }
    if not_ready > crash {
        title.push(Span::styled(
            format!("{} not ready ", not_ready - crash),
            t.style(Slot::Warn),
        ));
    }
    if !m.pane_filter.is_empty() {
        title.push(Span::styled(
            format!("/{} ", m.pane_filter),
            t.style(Slot::Accent),
        ));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.style(Slot::Border))
        .title(Line::from(title));
    let inner = block.inner(pods_area);
    f.render_widget(block, pods_area);
    let height = inner.height.saturating_sub(1) as usize;
    // Settled before the frame; clamped again here on a copy, in case.
    let mut pos = m.pods.pos;
    pos.scroll_into_view(height, rows.len());
    let (narrow, show_last, node_w, reason_w) = pod_columns(inner.width);
    let mut header = vec!["cluster", "pod", "phase", "ready", "restarts", "age"];
    let mut widths = vec![
        Constraint::Length(cluster_width(narrow)),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(6),
    ];
    if let Some((w, _)) = node_w {
        header.push("node");
        widths.push(Constraint::Length(w));
    }
    header.push("reason");
    widths.push(Constraint::Length(if show_last { 16 } else { reason_w }));
    if show_last {
        header.push("last termination");
        widths.push(Constraint::Length(LAST_W));
    }
    let mut table_rows = Vec::new();
    for (i, p) in rows.iter().enumerate().skip(pos.offset).take(height) {
        let slot = if p.crash_looping || p.phase == PodPhase::Failed {
            Slot::Error
        } else if !p.ready {
            Slot::Warn
        } else {
            Slot::Text
        };
        let (env, region) = (&p.cluster.env, &p.cluster.region);
        let cluster = cluster_label(env, region, cluster_width(narrow).into(), narrow);
        // With its own column, the last termination is not repeated as the reason.
        let reason = if show_last {
            p.waiting.clone().unwrap_or_default()
        } else {
            reason_with_termination(
                p.waiting.as_deref(),
                p.last_termination.as_deref(),
                usize::from(reason_w),
            )
        };
        let mut cells = vec![
            Cell::from(cluster),
            // The service is in the title: show what tells the pods apart.
            Cell::from(
                sanitize(
                    p.name
                        .strip_prefix(service.as_str())
                        .and_then(|n| n.strip_prefix('-'))
                        .unwrap_or(&p.name),
                )
                .into_owned(),
            ),
            Cell::from(p.phase.to_string()),
            Cell::from(if p.ready { "yes" } else { "no" }),
            Cell::from(p.restarts.to_string()),
            Cell::from(age(now - p.started_at)),
        ];
        if let Some((_, whole)) = node_w {
            let node = if whole {
                &p.node
            } else {
                p.node.split('.').next().unwrap_or(&p.node)
            };
            cells.push(Cell::from(node.to_string()));
        }
        cells.push(Cell::from(reason));
        if show_last {
            cells.push(Cell::from(p.termination_text()));
        }
        let mut row = Row::new(cells).style(t.style(slot));
        if i == pos.selected {
            row = row.style(t.style(Slot::Selection));
        }
        table_rows.push(row);
    }
    f.render_widget(
        Table::new(table_rows, widths)
            .header(Row::new(header).style(t.style(Slot::Muted).add_modifier(Modifier::BOLD)))
            .column_spacing(1),
        inner,
    );
    draw_workloads(m, f, side);
}

impl Model {
    /// A service's deployments in scope, in the platform's order (dev, staging,
    /// production), as the matrix shows them.
    pub(crate) fn deployments_in_scope<'a>(
        &self,
        live: crate::domain::service::ServiceView<'a>,
    ) -> Vec<crate::domain::service::DeploymentRow<'a>> {
        let mut deployments: Vec<_> = live
            .deployments()
            .filter(|d| self.scope.contains(d.cluster))
            .collect();
        deployments.sort_by_key(|d| self.topology.cluster_rank(d.cluster));
        deployments
    }
}

impl Model {
    /// `service`'s deployments in scope, in the platform's order, with their HPAs.
    fn workload_rows(&self, service: &str) -> Option<Vec<WorkloadLine>> {
        let live = self.live.service(service)?;
        let rows = self
            .deployments_in_scope(live)
            .iter()
            .map(|d| {
                let c = d.cluster;
                let hpa = live
                    .hpa(c)
                    .map(|h| {
                        let cpu = h.current_cpu.map_or("-".into(), |c| format!("{c}%"));
                        format!(
                            "{}–{} now {} cpu {cpu}/{}%",
                            h.min, h.max, h.current, h.target_cpu
                        )
                    })
                    .unwrap_or_else(|| "no hpa".into());
                WorkloadLine {
                    cluster: c.clone(),
                    version: sanitize(d.version).into_owned(),
                    ready: d.ready,
                    desired: d.desired,
                    state: deployment_state(d, live.crash_loops(c)),
                    hpa,
                }
            })
            .collect();
        Some(rows)
    }
}

/// Deployments and HPAs of the focus service, beside or below its pods.
pub(crate) fn draw_workloads(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.style(Slot::Border))
        .title(Span::styled(" deployments · hpa ", t.style(Slot::Title)));
    let inner = block.inner(area);
    f.render_widget(block, area);
    // Built when the data arrived (`refresh_pods`), never here.
    let Some(workloads) = &m.pods.workloads else {
        f.render_widget(
            Paragraph::new("Not deployed anywhere.").style(t.style(Slot::Muted)),
            inner,
        );
        return;
    };
    let rows: Vec<Row> = (workloads.iter())
        .map(|w| {
            Row::new(vec![
                Cell::from(cluster_label(&w.cluster.env, &w.cluster.region, 13, true)),
                Cell::from(w.version.clone()),
                Cell::from(format!("{}/{}", w.ready, w.desired)),
                Cell::from(Span::styled(w.state.0.clone(), t.style(w.state.1))),
                Cell::from(Span::styled(w.hpa.clone(), t.style(Slot::Muted))),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(13),
                Constraint::Length(9),
                Constraint::Length(5),
                Constraint::Length(13),
                Constraint::Fill(1),
            ],
        )
        .column_spacing(1),
        inner,
    );
}

impl Model {
    /// The focus service's pods in scope, filtered by the pane filter: crash loops
    /// first, then pods that are not ready, then by cluster and name.
    pub fn pod_rows(&self) -> Vec<crate::domain::service::PodRow<'_>> {
        let Some(svc) = self.focus() else {
            return Vec::new();
        };
        let f = self.pane_filter.to_lowercase();
        let mut rows: Vec<_> = self
            .live
            .pods_of(&svc, &self.scope)
            .filter(|p| f.is_empty() || p.name.to_lowercase().contains(&f))
            .collect();
        // Trouble first: crash loops, then pods that are not ready; then the platform's
        // order of clusters (dev before staging before production), as the matrix.
        rows.sort_by_key(|p| {
            (
                !p.crash_looping(),
                p.ready,
                self.topology.cluster_rank(p.cluster),
            )
        });
        rows
    }

    /// `R` and `H`: restart the chosen pod's deployment (asks why), or open the form
    /// of its HPA bounds.
    pub(crate) fn pod_action(&mut self, cmd: &Command) -> Vec<Effect> {
        self.refresh_pods();
        let Some(pod) = self.pods.current() else {
            self.toast(Level::Error, "select a pod");
            return vec![];
        };
        let (service, cluster) = (pod.service.clone(), pod.cluster.clone());
        if *cmd == Command::Restart {
            return self.ask_why(Action::Restart { service, cluster });
        }
        self.open_hpa_form(service, cluster);
        vec![]
    }

    /// Move the pods pane's selection (from the chosen pod); the pod there is chosen.
    pub(crate) fn pods_nav(&mut self, delta: isize) {
        self.refresh_pods();
        let p = &mut self.pods;
        if let Some(i) = p.chosen() {
            p.pos.selected = i;
        }
        p.pos.move_by(delta, p.rows.len());
        p.key = (p.rows.get(p.pos.selected)).map(|r| (r.cluster.clone(), r.name.clone()));
    }
}

// ---- The pods pane's keys.

impl Model {
    /// The pods pane's own commands: moving in its pods, Enter opens the chosen pod's
    /// view, `R` and `H` act on its deployment. `None`: the app's.
    pub(crate) fn pods_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        if let Some(delta) = crate::tui::list::step(cmd) {
            self.pods_nav(delta);
            return Some(vec![]);
        }
        match cmd {
            Command::Open => Some(self.open_chosen_pod()),
            Command::Restart | Command::Hpa => Some(self.pod_action(cmd)),
            _ => None,
        }
    }

    /// Enter in the pods pane: the chosen pod's view.
    pub(crate) fn open_chosen_pod(&mut self) -> Vec<Effect> {
        self.refresh_pods();
        let Some(pod) = self.pods.current() else {
            self.toast(Level::Error, "select a pod");
            return vec![];
        };
        let (cluster, name) = (pod.cluster.clone(), pod.name.clone());
        self.open_pod(cluster, name)
    }
}

#[cfg(test)]
mod reason_tests {
    use super::{pod_columns, reason_with_termination};

    #[test]
    fn the_cause_of_a_crash_loop_shows_where_its_column_does_not_fit() {
        // 80 columns: 16 for the reason.
        assert_eq!(
            reason_with_termination(Some("CrashLoopBackOff"), Some("OOMKilled"), 16),
            "CrashLoop·OOM"
        );
        // The pods table beside the deployments at 160 columns: wider.
        let (_, last, _, w) = pod_columns(87);
        assert!(!last);
        assert_eq!(
            reason_with_termination(Some("CrashLoopBackOff"), Some("OOMKilled"), usize::from(w)),
            "CrashLoop·OOMKilled"
        );
        assert_eq!(reason_with_termination(None, Some("Error"), 16), "Error");
        assert_eq!(
            reason_with_termination(Some("ImagePullBackOff"), None, 16),
            "ImagePullBackOff"
        );
        assert_eq!(reason_with_termination(None, None, 16), "");
    }
}
