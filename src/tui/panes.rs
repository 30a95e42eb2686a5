//! The deployments matrix, live pods and audit panes. Visible rows only: every row
//! model is built for the rows on screen, from summaries kept as data arrives.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::config::theme::Slot;
use crate::domain::drift::{self, DriftKind};
use crate::domain::environment::short_remaining;
use crate::domain::flags;
use crate::domain::matrix::{self, Cell as MatrixCell};
use crate::domain::text::{age, sanitize};
use crate::domain::{Outcome, PodPhase, RolloutState};

use super::model::{Model, Remote};

/// Width of a matrix cell: "4.18.1 6/6 ⟳" fits, a long version is cut.
const CELL_WIDE: u16 = 14;
const CELL_COMPACT: u16 = 9;

pub fn draw_matrix(m: &mut Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let [summary_area, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let view = m.matrix_view();
    let rows = view.rows;
    let columns = matrix::columns(&m.topology, &m.scope);
    let compact = area.width < 100;
    let cell_w = if compact { CELL_COMPACT } else { CELL_WIDE };
    // The name column as wide as the longest name needs, up to a bound: the room
    // left is for clusters.
    let longest = rows
        .iter()
        .map(|&i| m.cat.rows[i].name.len())
        .max()
        .unwrap_or(0);
    let name_w = (longest as u16 + 1).clamp(12, if compact { 20 } else { 26 });
    let fit = ((area.width.saturating_sub(name_w + 1)) / (cell_w + 1)).max(1) as usize;
    // Scroll so the selected cell is visible.
    m.matrix_cell = m.matrix_cell.min(columns.len().saturating_sub(1));
    if m.matrix_cell < m.matrix_col {
        m.matrix_col = m.matrix_cell;
    } else if m.matrix_cell >= m.matrix_col + fit {
        m.matrix_col = m.matrix_cell + 1 - fit;
    }
    m.matrix_col = m.matrix_col.min(columns.len().saturating_sub(fit));
    let shown: Vec<_> = columns
        .iter()
        .skip(m.matrix_col)
        .take(fit)
        .cloned()
        .collect();

    // Drift summary over the rows in view (the catalog's filter applies).
    let envs: Vec<String> = m
        .topology
        .environments
        .iter()
        .filter(|e| m.scope.env.as_ref().is_none_or(|s| s == *e))
        .cloned()
        .collect();
    let drift = view.drift;
    let drift_style = if drift.values().any(|n| *n > 0) {
        t.style(Slot::Drift)
    } else {
        t.style(Slot::Ok)
    };
    let scrolled = columns.len() > shown.len();
    let (first, last) = (m.matrix_col + 1, m.matrix_col + shown.len());
    // In short words when the long ones would not fit, so nothing is cut mid-phrase.
    let summary_in = |short: bool| {
        let mut s = vec![Span::styled(
            if short {
                matrix::drift_summary_short(&drift, &envs)
            } else {
                matrix::drift_summary(&drift, &envs)
            },
            drift_style,
        )];
        if m.drift_only {
            let only = if short {
                "  (drifted)"
            } else {
                "  (drifted only)"
            };
            s.push(Span::styled(only, t.style(Slot::Muted)));
        }
        if scrolled {
            let n = columns.len();
            s.push(Span::styled(
                if short {
                    format!("  {first}–{last}/{n} h/l")
                } else {
                    format!("  clusters {first}–{last} of {n} (h/l)")
                },
                t.style(Slot::Muted),
            ));
        }
        s
    };
    let mut summary = summary_in(false);
    if summary.iter().map(Span::width).sum::<usize>() > usize::from(summary_area.width) {
        summary = summary_in(true);
    }
    // The ephemeral environments in scope and their time left, columns on screen or
    // not, as many as fit whole.
    let now = m.now();
    let mut width: usize = summary.iter().map(Span::width).sum();
    for e in m
        .topology
        .ephemeral
        .iter()
        .filter(|e| m.scope.env.as_ref().is_none_or(|s| *s == e.name))
    {
        let left = e.remaining(now);
        let note = Span::styled(
            format!("  {} ⏳{}", sanitize(&e.name), short_remaining(left)),
            t.style(if left < 3_600 {
                Slot::Warn
            } else {
                Slot::Pending
            }),
        );
        width += note.width();
        if width > usize::from(summary_area.width) {
            break;
        }
        summary.push(note);
    }
    f.render_widget(Paragraph::new(Line::from(summary)), summary_area);

    // Two header lines: environment, then region.
    let height = table_area.height.saturating_sub(2) as usize;
    m.matrix.scroll_into_view(height, rows.len());
    let t = &m.theme;
    let (env_cells, region_cells) = cluster_headers(m, &shown, "service", compact);
    let mut widths = vec![Constraint::Length(name_w)];
    widths.extend(shown.iter().map(|_| Constraint::Length(cell_w)));
    let header_style = t.style(Slot::Muted);
    let mut table_rows = vec![Row::new(region_cells).style(header_style)];
    let end = (m.matrix.offset + height).min(rows.len());
    for (pos, &i) in rows[m.matrix.offset..end].iter().enumerate() {
        let name = &m.cat.rows[i].name;
        let live = m.live.service(name);
        let selected = m.matrix.offset + pos == m.matrix.selected;
        let mut cells = vec![Cell::from(name.to_string())];
        for (ci, c) in shown.iter().enumerate() {
            let mut cell = matrix_cell(
                m,
                matrix::cell(name, live.as_ref(), c, &m.locks).as_ref(),
                compact,
            );
            if selected && m.matrix_col + ci == m.matrix_cell {
                cell = cell.style(Style::default().add_modifier(Modifier::REVERSED));
            }
            cells.push(cell);
        }
        let mut row = Row::new(cells);
        if selected {
            row = row.style(m.theme.style(Slot::Selection));
        }
        table_rows.push(row);
    }
    let table = Table::new(table_rows, widths)
        .header(Row::new(env_cells))
        .column_spacing(1);
    f.render_widget(table, table_area);
    if rows.is_empty() {
        let msg = if m.drift_only {
            "No service drifted in this scope. d shows every service."
        } else {
            "No service matches. Esc clears the filter."
        };
        let [_, below] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(table_area);
        f.render_widget(Paragraph::new(msg).style(m.theme.style(Slot::Muted)), below);
    }
}

/// The two header rows over cluster columns: the environment (once per run of
/// columns), then the region; short forms when `compact`.
fn cluster_headers(
    m: &Model,
    columns: &[crate::domain::ClusterId],
    first: &'static str,
    compact: bool,
) -> (Vec<Cell<'static>>, Vec<Cell<'static>>) {
    let t = &m.theme;
    let now = m.now();
    let cell_w = usize::from(if compact { CELL_COMPACT } else { CELL_WIDE });
    let mut env_cells = vec![Cell::from("")];
    let mut region_cells = vec![Cell::from(first)];
    let mut last_env: Option<&str> = None;
    for c in columns {
        let (env, region) = if compact {
            (short_env(&c.env).to_string(), short_region(&c.region))
        } else {
            (c.env.to_string(), c.region.to_string())
        };
        let ephemeral = m.topology.ephemeral(&c.env);
        env_cells.push(if last_env != Some(c.env.as_str()) {
            // An ephemeral environment stands out: it goes away by itself.
            let slot = if ephemeral.is_some() {
                Slot::Pending
            } else {
                Slot::Accent
            };
            Cell::from(Span::styled(
                sanitize(&env).into_owned(),
                t.style(slot).add_modifier(Modifier::BOLD),
            ))
        } else {
            Cell::from("")
        });
        last_env = Some(&c.env);
        region_cells.push(match ephemeral {
            // Its time left under each of its regions: `euw1⏳3d`, `eu-west-1 ⏳3d`.
            Some(e) => {
                let left = e.remaining(now);
                let clock = format!("⏳{}", short_remaining(left));
                let full = format!("{region} {clock}");
                let text = if Span::raw(full.as_str()).width() <= cell_w {
                    full
                } else {
                    format!("{}{clock}", short_region(&c.region))
                };
                let slot = if left < 3_600 {
                    Slot::Warn
                } else {
                    Slot::Pending
                };
                Cell::from(Span::styled(text, t.style(slot)))
            }
            None => Cell::from(region),
        });
    }
    (env_cells, region_cells)
}

fn matrix_cell(m: &Model, c: Option<&MatrixCell>, compact: bool) -> Cell<'static> {
    let t = &m.theme;
    let Some(c) = c else {
        return Cell::from(Span::styled("·", t.style(Slot::Muted)));
    };
    let (mark, slot) = if c.crash_looping > 0 || c.rollout == RolloutState::Stalled {
        ("✗", Slot::Error)
    } else if c.rollout == RolloutState::Progressing {
        ("⟳", Slot::Pending)
    } else if c.ready < c.desired {
        ("!", Slot::Warn)
    } else {
        ("", Slot::Text)
    };
    let version = sanitize(&c.version).into_owned();
    let mut spans = Vec::new();
    if c.locked.is_some() {
        spans.push(Span::styled("⊘", t.style(Slot::Locked)));
        // More than one holder: how many (each unlock removes only its holder's).
        // A superscript, so the count never reads as part of the version (⊘²2.1.3,
        // not ⊘22.1.3).
        if c.lock_holders.len() > 1 {
            spans.push(Span::styled(
                superscript(c.lock_holders.len()),
                t.style(Slot::Locked),
            ));
        }
    }
    let vstyle = if c.drift {
        t.style(Slot::Drift)
    } else {
        t.style(slot)
    };
    spans.push(Span::styled(version, vstyle));
    if !compact {
        spans.push(Span::styled(
            format!(" {}/{}", c.ready, c.desired),
            t.style(slot),
        ));
    }
    if !mark.is_empty() {
        spans.push(Span::styled(mark, t.style(slot)));
    }
    Cell::from(Line::from(spans))
}

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
        let [a, b] = Layout::horizontal([Constraint::Percentage(64), Constraint::Percentage(36)])
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

/// Deployments and HPAs of the focus service, beside or below its pods.
fn draw_workloads(m: &Model, f: &mut Frame, area: Rect, service: &str) {
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
    for d in live.deployments().filter(|d| m.scope.contains(d.cluster)) {
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

/// `1 drift finding`, `3 drift findings`.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// One deployment's state in a word or two, and the colour to draw it in.
pub fn deployment_state(
    d: &crate::domain::service::DeploymentRow<'_>,
    crash: u32,
) -> (String, Slot) {
    match d.rollout {
        _ if crash > 0 => (format!("crashloop ×{crash}"), Slot::Error),
        RolloutState::Complete if d.ready >= d.desired => ("ready".into(), Slot::Ok),
        RolloutState::Complete => ("degraded".into(), Slot::Warn),
        RolloutState::Progressing => (
            format!("rolling {}/{}", d.updated, d.desired),
            Slot::Pending,
        ),
        RolloutState::Stalled => ("stalled".into(), Slot::Error),
    }
}

/// `prod·euw1`: the environment and region in AWS's short style.
pub fn short_cluster(env: &str, region: &str) -> String {
    format!("{}·{}", short_env(env), short_region(region))
}

pub fn short_env(env: &str) -> &str {
    match env {
        "production" => "prod",
        "staging" => "stg",
        other => other,
    }
}

/// `us-east-1` → `use1`, `ap-southeast-2` → `apse2`, `eu-central-1` → `euc1`.
pub fn short_region(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    if parts.len() < 3 {
        return region.to_string();
    }
    let dir = |w: &str| -> String {
        match w {
            "northeast" => "ne".into(),
            "northwest" => "nw".into(),
            "southeast" => "se".into(),
            "southwest" => "sw".into(),
            w => w.chars().take(1).collect(),
        }
    };
    let middle: String = parts[1..parts.len() - 1].iter().map(|w| dir(w)).collect();
    format!("{}{middle}{}", parts[0], parts[parts.len() - 1])
}

pub fn draw_audit(m: &mut Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    if let Remote::Failed(e) = &m.audit {
        f.render_widget(
            Paragraph::new(format!("The audit trail could not be read: {e}"))
                .style(t.style(Slot::Error))
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    if matches!(m.audit, Remote::NotAsked) {
        f.render_widget(
            Paragraph::new("Reading the audit trail…").style(t.style(Slot::Muted)),
            area,
        );
        return;
    }
    let rows = m.audit_rows();
    // Under the table, the selected record whole: a narrow table cuts its columns.
    let detail_h = if area.height >= 12 { 4 } else { 0 };
    let [area, detail_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(detail_h)]).areas(area);
    let height = area.height.saturating_sub(2) as usize;
    let mut pos = m.list;
    pos.scroll_into_view(height, rows.len());
    let narrow = area.width < 110;
    let now = m.now();
    let mut table_rows = Vec::new();
    for (i, r) in rows.iter().enumerate().skip(pos.offset).take(height) {
        let (outcome, slot) = match &r.outcome {
            Outcome::Started => ("started".to_string(), Slot::Pending),
            Outcome::Succeeded => ("ok".to_string(), Slot::Ok),
            Outcome::Failed(e) => (format!("failed: {}", sanitize(e)), Slot::Error),
            Outcome::Refused(e) => (format!("refused: {}", sanitize(e)), Slot::Warn),
            Outcome::Interrupted(e) => (format!("interrupted: {}", sanitize(e)), Slot::Error),
        };
        let when = if narrow {
            format!("{} ago", age(now - r.at))
        } else {
            chrono::DateTime::from_timestamp(r.at, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        };
        let mut cells = vec![
            Cell::from(when),
            Cell::from(sanitize(&r.actor).into_owned()),
            Cell::from(sanitize(&r.action).into_owned()),
            Cell::from(sanitize(&r.target).into_owned()),
        ];
        if !narrow {
            cells.push(Cell::from(
                sanitize(r.reason.as_deref().unwrap_or("")).into_owned(),
            ));
        }
        cells.push(Cell::from(Span::styled(outcome, t.style(slot))));
        let mut row = Row::new(cells);
        if i == pos.selected {
            row = row.style(t.style(Slot::Selection));
        }
        table_rows.push(row);
    }
    let title = if m.pane_filter.is_empty() {
        format!(" audit · {} records ", rows.len())
    } else {
        format!(
            " audit · {} records matching /{} ",
            rows.len(),
            m.pane_filter
        )
    };
    let mut title = vec![Span::styled(title, t.style(Slot::Title))];
    if let Some(backlog) = &m.audit_backlog {
        title.push(Span::styled(
            format!(" ⚠ {} ", sanitize(backlog)),
            t.style(Slot::Warn),
        ));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.style(Slot::Border))
        .title(Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (widths, header) = if narrow {
        (
            vec![
                Constraint::Length(9),
                Constraint::Length(12),
                Constraint::Length(19),
                Constraint::Fill(1),
                Constraint::Length(8),
            ],
            vec!["when", "who", "action", "target", "outcome"],
        )
    } else {
        (
            vec![
                Constraint::Length(16),
                Constraint::Length(16),
                Constraint::Length(19),
                Constraint::Fill(2),
                Constraint::Fill(2),
                Constraint::Length(24),
            ],
            vec!["when", "who", "action", "target", "reason", "outcome"],
        )
    };
    f.render_widget(
        Table::new(table_rows, widths)
            .header(Row::new(header).style(t.style(Slot::Muted).add_modifier(Modifier::BOLD)))
            .column_spacing(1),
        inner,
    );
    if detail_h > 0
        && let Some(r) = rows.get(pos.selected)
    {
        f.render_widget(audit_detail(t, r), detail_area);
    }
    m.list = pos;
}

/// One audit record in full: who did what to what, when, why, and how it ended.
fn audit_detail<'a>(
    t: &crate::config::theme::Theme,
    r: &crate::domain::AuditRecord,
) -> Paragraph<'a> {
    let when = chrono::DateTime::from_timestamp(r.at, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let (outcome, slot) = match &r.outcome {
        Outcome::Started => ("started, no outcome yet".to_string(), Slot::Pending),
        Outcome::Succeeded => ("succeeded".to_string(), Slot::Ok),
        Outcome::Failed(e) => (format!("failed: {}", sanitize(e.as_str())), Slot::Error),
        Outcome::Refused(e) => (format!("refused: {}", sanitize(e.as_str())), Slot::Warn),
        Outcome::Interrupted(e) => (
            format!("interrupted: {}", sanitize(e.as_str())),
            Slot::Error,
        ),
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("#{} {when} ", r.id), t.style(Slot::Muted)),
        Span::styled(
            format!(
                "{} {} {}",
                sanitize(&r.actor),
                sanitize(&r.action),
                sanitize(&r.target)
            ),
            t.style(Slot::Text),
        ),
    ])];
    let change = crate::domain::audit::change_text(&r.details);
    if !change.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("changed: {}", sanitize(&change)),
            t.style(Slot::Text),
        )));
    }
    let mut last = vec![];
    if let Some(reason) = &r.reason {
        last.push(Span::styled(
            format!("why: {}  ", sanitize(reason)),
            t.style(Slot::Text),
        ));
    }
    last.push(Span::styled(outcome, t.style(slot)));
    lines.push(Line::from(last));
    Paragraph::new(lines)
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(t.style(Slot::Border)),
        )
        .wrap(Wrap { trim: true })
}

/// Secrets of the focus service (C7, read side): drift findings, a key × cluster grid
/// (presence and version, never values), and the selected key side by side.
pub fn draw_secrets(m: &mut Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let Some(service) = m.focus() else {
        f.render_widget(
            Paragraph::new("Select a service in the catalog to see its secrets.")
                .style(t.style(Slot::Muted)),
            area,
        );
        return;
    };
    let list = match &m.secrets {
        Remote::Ready((s, list)) if *s == service => list,
        Remote::Failed(e) => {
            f.render_widget(
                Paragraph::new(format!("Secrets could not be read: {e}"))
                    .style(t.style(Slot::Error))
                    .wrap(Wrap { trim: true }),
                area,
            );
            return;
        }
        _ => {
            f.render_widget(
                Paragraph::new(format!("Reading the secrets of {service}…"))
                    .style(t.style(Slot::Muted)),
                area,
            );
            return;
        }
    };
    let Some(super::model::SecretView {
        findings,
        grid,
        rows,
        ..
    }) = m.secret_view()
    else {
        return;
    };
    let cols: Vec<usize> = grid
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| m.scope.contains(c))
        .map(|(i, _)| i)
        .collect();
    let fit = ((area.width.saturating_sub(25)) / 10).max(1) as usize;
    // Scroll so the selected cell is visible.
    m.secret_cell = m.secret_cell.min(cols.len().saturating_sub(1));
    if m.secret_cell < m.matrix_col {
        m.matrix_col = m.secret_cell;
    } else if m.secret_cell >= m.matrix_col + fit {
        m.matrix_col = m.secret_cell + 1 - fit;
    }
    m.matrix_col = m.matrix_col.min(cols.len().saturating_sub(fit));
    let more = cols_hint(m.matrix_col, fit, cols.len());
    let selected_col = cols.get(m.secret_cell).copied();
    let cols: Vec<usize> = cols.into_iter().skip(m.matrix_col).take(fit).collect();
    let t = &m.theme;

    let failed = &m.secrets_failed;
    let find_h = (findings.len() as u16).min(6) + (failed.len() as u16).min(3) + 1;
    let [head, table_area, side_area] = Layout::vertical([
        Constraint::Length(find_h),
        Constraint::Min(4),
        Constraint::Length(7),
    ])
    .areas(area);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {service} "), t.style(Slot::Title)),
        Span::styled(format!("{} keys · ", grid.keys.len()), t.style(Slot::Muted)),
        if findings.is_empty() {
            Span::styled("no drift between regions", t.style(Slot::Ok))
        } else {
            Span::styled(
                plural(findings.len(), "drift finding", "drift findings"),
                t.style(Slot::Drift),
            )
        },
        Span::styled("  (values are never shown)", t.style(Slot::Muted)),
        Span::styled(more, t.style(Slot::Muted)),
    ])];
    // Regions that could not be read: their secrets are missing from the grid.
    for r in failed.iter().take(3) {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<14}", "unreadable"), t.style(Slot::Error)),
            Span::raw(format!("{}  ", sanitize(&r.region))),
            Span::styled(sanitize(&r.error).into_owned(), t.style(Slot::Muted)),
        ]));
    }
    for d in findings.iter().take(6) {
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {:<14}", kind_label(d.kind)),
                t.style(Slot::Drift),
            ),
            Span::raw(format!(
                "{}/{} in {}  ",
                sanitize(&d.env),
                sanitize(&d.key),
                d.regions.join(", ")
            )),
            Span::styled(sanitize(&d.detail).into_owned(), t.style(Slot::Muted)),
        ]));
    }
    f.render_widget(Paragraph::new(lines), head);

    // The grid: one row per key, one narrow column per cluster in scope.
    let height = table_area.height.saturating_sub(2) as usize;
    let mut pos = m.list;
    pos.scroll_into_view(height, rows.len());
    let shown: Vec<_> = cols.iter().map(|&c| grid.columns[c].clone()).collect();
    let (env_cells, region_cells) = cluster_headers(m, &shown, "key", true);
    let mut widths = vec![Constraint::Length(24)];
    widths.extend(cols.iter().map(|_| Constraint::Length(9)));
    let mut table_rows = vec![Row::new(region_cells).style(t.style(Slot::Muted))];
    for (n, &r) in rows.iter().enumerate().skip(pos.offset).take(height) {
        let key = &grid.keys[r];
        let drifted_here = |env: &str, region: &str| {
            findings
                .iter()
                .any(|d| d.key == *key && d.env == env && d.regions.iter().any(|x| x == region))
        };
        let mut cells = vec![Cell::from(sanitize(key).into_owned())];
        for &c in &cols {
            let col = &grid.columns[c];
            let odd = drifted_here(&col.env, &col.region);
            let cell = match &grid.cells[r][c] {
                Some(s) => Span::styled(
                    format!("● {}", s.version_id.chars().take(6).collect::<String>()),
                    if odd {
                        t.style(Slot::Drift)
                    } else {
                        t.style(Slot::Ok)
                    },
                ),
                None => Span::styled(
                    "○ —",
                    if odd {
                        t.style(Slot::Drift)
                    } else {
                        t.style(Slot::Muted)
                    },
                ),
            };
            let mut cell = Cell::from(cell);
            if n == pos.selected && Some(c) == selected_col {
                cell = cell.style(Style::default().add_modifier(Modifier::REVERSED));
            }
            cells.push(cell);
        }
        let mut row = Row::new(cells);
        if n == pos.selected {
            row = row.style(t.style(Slot::Selection));
        }
        table_rows.push(row);
    }
    f.render_widget(
        Table::new(table_rows, widths)
            .header(Row::new(env_cells))
            .column_spacing(1),
        table_area,
    );

    // A value revealed on purpose: readable for a few seconds, then masked again.
    if let Some((what, value, _until)) = &m.revealed {
        let line = Line::from(vec![
            Span::styled(
                format!(" {} = ", sanitize(what)),
                t.style(Slot::Warn).add_modifier(Modifier::BOLD),
            ),
            Span::styled(sanitize(value.expose()).into_owned(), t.style(Slot::Warn)),
            Span::styled(
                format!(
                    "   (revealed on purpose, audited; masked again after {} s)",
                    super::model::REVEAL_FOR.as_secs()
                ),
                t.style(Slot::Muted),
            ),
        ]);
        let [top, _] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(side_area);
        f.render_widget(Clear, top);
        f.render_widget(Paragraph::new(line), top);
        m.list = pos;
        return;
    }
    // The selected key across the regions of one environment.
    if let Some(&r) = rows.get(pos.selected) {
        let key = grid.keys[r].clone();
        // The selected cell's environment.
        let env = selected_col
            .map(|c| grid.columns[c].env.to_string())
            .or_else(|| m.scope.env.clone())
            .unwrap_or_default();
        let now = m.now();
        let mut lines = vec![Line::from(Span::styled(
            format!(" {env}/{service}/{key} by region "),
            t.style(Slot::Title),
        ))];
        for (region, side) in drift::side_by_side(list, &service, &env, &key) {
            let line = match side {
                None => Line::from(vec![
                    Span::raw(format!("  {region:<16}")),
                    Span::styled("missing", t.style(Slot::Drift)),
                ]),
                Some(s) => {
                    let same = match s.same_value_as_majority {
                        Some(true) => Span::styled("same value", t.style(Slot::Ok)),
                        Some(false) => Span::styled("value differs", t.style(Slot::Drift)),
                        None => Span::styled("value ?", t.style(Slot::Muted)),
                    };
                    let tags: Vec<String> = s
                        .tags
                        .iter()
                        .map(|(k, v)| format!("{}={}", sanitize(k), sanitize(v)))
                        .collect();
                    Line::from(vec![
                        Span::raw(format!("  {region:<16}")),
                        Span::raw(format!(
                            "{:<10}{:<12}{:>8} ago  ",
                            s.version_id.chars().take(8).collect::<String>(),
                            s.stages.join(","),
                            age(now - s.last_changed)
                        )),
                        same,
                        Span::styled(format!("  {}", tags.join(" ")), t.style(Slot::Muted)),
                    ])
                }
            };
            lines.push(line);
        }
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(t.style(Slot::Border)),
            ),
            side_area,
        );
    }
    m.list = pos;
}

/// "  clusters 1–5 of 9 (h/l)" when not every cluster fits.
fn cols_hint(first: usize, fit: usize, total: usize) -> String {
    if total <= fit {
        String::new()
    } else {
        format!(
            "  clusters {}–{} of {total} (h/l)",
            first + 1,
            (first + fit).min(total)
        )
    }
}

fn kind_label(k: DriftKind) -> &'static str {
    match k {
        DriftKind::Missing => "missing",
        DriftKind::Extra => "extra",
        DriftKind::ValueDiffers => "value differs",
        DriftKind::TagsDiffer => "tags differ",
    }
}

/// Flags (C10, read side): value and rollout per cluster, drift between the clusters
/// of an environment, changes pending until each cluster acknowledges them.
pub fn draw_flags(m: &mut Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let flags = match &m.flags {
        Remote::Ready(f) => f,
        Remote::Failed(e) => {
            f.render_widget(
                Paragraph::new(format!("Flags could not be read: {e}"))
                    .style(t.style(Slot::Error))
                    .wrap(Wrap { trim: true }),
                area,
            );
            return;
        }
        Remote::NotAsked => {
            f.render_widget(
                Paragraph::new("Reading the flags…").style(t.style(Slot::Muted)),
                area,
            );
            return;
        }
    };
    // Ephemeral environments hold no flags of their own.
    let topology = m.topology.permanent();
    let columns = flags::flag_columns(flags, &topology);
    let summary = flags::flag_summary(&flags::flag_matrix(flags, &topology));
    let rows = m.flag_rows();
    let cols: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| m.scope.contains(c))
        .map(|(i, _)| i)
        .collect();
    let [head, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let height = table_area.height.saturating_sub(2) as usize;
    let mut pos = m.list;
    pos.scroll_into_view(height, rows.len());
    let compact = area.width < 120;
    let cell_w: u16 = if compact { 8 } else { 11 };
    let fit = ((area.width.saturating_sub(29)) / (cell_w + 1)).max(1) as usize;
    m.matrix_col = m.matrix_col.min(cols.len().saturating_sub(fit));
    let more = cols_hint(m.matrix_col, fit, cols.len());
    let shown: Vec<usize> = cols.iter().copied().skip(m.matrix_col).take(fit).collect();
    let t = &m.theme;
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!(" {} flags  ", summary.flags), t.style(Slot::Title)),
            Span::styled(
                format!("{} drifted  ", summary.drifted),
                if summary.drifted > 0 {
                    t.style(Slot::Drift)
                } else {
                    t.style(Slot::Ok)
                },
            ),
            Span::styled(
                if summary.pending_flags == 0 {
                    "every change acknowledged".to_string()
                } else {
                    format!(
                        "{} waiting for {}",
                        summary.pending_flags,
                        plural(
                            summary.pending_clusters,
                            "cluster's acknowledgement",
                            "clusters' acknowledgements"
                        )
                    )
                },
                if summary.pending_flags > 0 {
                    t.style(Slot::Pending)
                } else {
                    t.style(Slot::Muted)
                },
            ),
            Span::styled(more, t.style(Slot::Muted)),
        ])),
        head,
    );
    let shown_cols: Vec<_> = shown.iter().map(|&c| columns[c].clone()).collect();
    let (env_cells, region_cells) = cluster_headers(m, &shown_cols, "flag", true);
    let mut widths = vec![Constraint::Length(28)];
    widths.extend(shown.iter().map(|_| Constraint::Length(cell_w)));
    let mut table_rows = vec![Row::new(region_cells).style(t.style(Slot::Muted))];
    for (n, r) in rows.iter().enumerate().skip(pos.offset).take(height) {
        let name_style = if r.drifted {
            t.style(Slot::Drift)
        } else {
            t.style(Slot::Text)
        };
        let mut cells = vec![Cell::from(Span::styled(
            sanitize(&r.name).into_owned(),
            name_style,
        ))];
        for &c in &shown {
            cells.push(match &r.cells[c] {
                None => Cell::from(Span::styled("·", t.style(Slot::Muted))),
                Some(cell) => {
                    let text = if cell.percentage >= 100 || compact {
                        sanitize(&cell.value).into_owned()
                    } else {
                        format!("{} {}%", sanitize(&cell.value), cell.percentage)
                    };
                    match &cell.pending {
                        Some(p) => Cell::from(Span::styled(
                            format!("→{}", sanitize(&p.value)),
                            t.style(Slot::Pending),
                        )),
                        None => Cell::from(text),
                    }
                }
            });
        }
        let mut row = Row::new(cells);
        if n == pos.selected {
            row = row.style(t.style(Slot::Selection));
        }
        table_rows.push(row);
    }
    f.render_widget(
        Table::new(table_rows, widths)
            .header(Row::new(env_cells))
            .column_spacing(1),
        table_area,
    );
    m.list = pos;
}

/// `n` in superscript digits (`⁺` past 9), one column wide.
fn superscript(n: usize) -> &'static str {
    const DIGITS: [&str; 10] = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"];
    DIGITS.get(n).copied().unwrap_or("⁺")
}
