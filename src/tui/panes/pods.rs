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
use crate::domain::PodPhase;
use crate::domain::text::{age, sanitize};
use crate::tui::format::*;
use crate::tui::model::*;

pub fn draw_pods(m: &mut Model, f: &mut Frame, area: Rect) {
    let Some(service) = m.focus() else {
        f.render_widget(
            Paragraph::new("Select a service in the catalog to see its pods.")
                .style(m.theme.style(Slot::Muted)),
            area,
        );
        return;
    };
    let wide = area.width >= 140;
    let (pods_area, side) = if wide {
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
    };
    let now = m.now();
    let t = &m.theme;
    let rows = m.pod_rows();
    let crash = rows.iter().filter(|p| p.crash_looping()).count();
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
    let len = rows.len();
    let mut pos = m.pods;
    // The chosen pod stays selected while the live list re-sorts.
    if let Some(i) = m.chosen_pod(&rows) {
        pos.selected = i;
    }
    pos.scroll_into_view(height, len);
    let narrow = inner.width < 110;
    let mut header = vec!["cluster", "pod", "phase", "ready", "restarts", "age"];
    let mut widths = vec![
        Constraint::Length(if narrow { 13 } else { 26 }),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(6),
    ];
    // The node, when there is room for it beside a readable pod name (a wide terminal
    // with the deployments beside the pods still has).
    let show_node = !narrow || inner.width >= 96;
    if show_node {
        header.push("node");
        widths.push(Constraint::Length(if narrow { 20 } else { 28 }));
    }
    header.push("reason");
    widths.push(Constraint::Length(16));
    let mut table_rows = Vec::new();
    for (i, p) in rows.iter().enumerate().skip(pos.offset).take(height) {
        let slot = if p.crash_looping() || p.phase == PodPhase::Failed {
            Slot::Error
        } else if !p.ready {
            Slot::Warn
        } else {
            Slot::Text
        };
        let cluster = if narrow {
            short_cluster(&p.cluster.env, &p.cluster.region)
        } else {
            p.cluster.to_string()
        };
        let reason = p.waiting.or(p.last_termination).unwrap_or("");
        let mut cells = vec![
            Cell::from(cluster),
            // The service is in the title: show what tells the pods apart.
            Cell::from(
                sanitize(
                    p.name
                        .strip_prefix(service.as_str())
                        .and_then(|n| n.strip_prefix('-'))
                        .unwrap_or(p.name),
                )
                .into_owned(),
            ),
            Cell::from(p.phase.to_string()),
            Cell::from(if p.ready { "yes" } else { "no" }),
            Cell::from(p.restarts.to_string()),
            Cell::from(age(now - p.started_at)),
        ];
        if show_node {
            // Narrow: the host part only (`ip-10-14-4-85`, not its domain).
            let node = if narrow {
                p.node.split('.').next().unwrap_or(p.node)
            } else {
                p.node
            };
            cells.push(Cell::from(sanitize(node).into_owned()));
        }
        cells.push(Cell::from(sanitize(reason).into_owned()));
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
    draw_workloads(m, f, side, &service);
    m.pods = pos;
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

/// Deployments and HPAs of the focus service, beside or below its pods.
pub(crate) fn draw_workloads(m: &Model, f: &mut Frame, area: Rect, service: &str) {
    let t = &m.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.style(Slot::Border))
        .title(Span::styled(" deployments · hpa ", t.style(Slot::Title)));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(live) = m.live.service(service) else {
        f.render_widget(
            Paragraph::new("Not deployed anywhere.").style(t.style(Slot::Muted)),
            inner,
        );
        return;
    };
    let mut rows = Vec::new();
    for d in m.deployments_in_scope(live) {
        let c = d.cluster;
        let crash = live.crash_loops(c);
        let (state, slot) = deployment_state(&d, crash);
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
        rows.push(Row::new(vec![
            Cell::from(short_cluster(&c.env, &c.region)),
            Cell::from(sanitize(d.version).into_owned()),
            Cell::from(format!("{}/{}", d.ready, d.desired)),
            Cell::from(Span::styled(state, t.style(slot))),
            Cell::from(Span::styled(hpa, t.style(Slot::Muted))),
        ]));
    }
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
    /// Where the chosen pod (`pods_key`) is in `rows`, if it is still listed.
    pub fn chosen_pod(&self, rows: &[crate::domain::service::PodRow<'_>]) -> Option<usize> {
        let (cluster, name) = self.pods_key.as_ref()?;
        rows.iter()
            .position(|r| r.cluster == cluster && r.name == name)
    }

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
        let rows = self.pod_rows();
        let at = self.chosen_pod(&rows).unwrap_or(self.pods.selected);
        let Some(pod) = rows.get(at) else {
            self.toast(Level::Error, "select a pod");
            return vec![];
        };
        let (service, cluster) = (pod.service.to_string(), pod.cluster.clone());
        if *cmd == Command::Restart {
            return self.ask_why(Action::Restart { service, cluster });
        }
        self.open_hpa_form(service, cluster);
        vec![]
    }
}
