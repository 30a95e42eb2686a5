//! The audit pane: the trail newest first, filtered, the selected record whole.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use crate::config::theme::Slot;
use crate::domain::text::{age, sanitize};
use crate::domain::{AuditRecord, Outcome};
use crate::tui::model::*;

/// The table and, under it when there is room, the selected record whole.
fn audit_areas(area: Rect) -> [Rect; 2] {
    let detail_h = if area.height >= 12 { 4 } else { 0 };
    Layout::vertical([Constraint::Min(1), Constraint::Length(detail_h)]).areas(area)
}

/// Rows of records the table shows (a header line and a border above them).
fn audit_height(table: Rect) -> usize {
    table.height.saturating_sub(2) as usize
}

impl Model {
    pub(crate) fn settle_audit(&mut self, body: Rect) {
        if self.audit.ready().is_none() {
            return;
        }
        let len = self.audit_rows().len();
        let [table, _] = audit_areas(body);
        self.list.scroll_into_view(audit_height(table), len);
    }
}

pub fn draw_audit(m: &Model, f: &mut Frame, area: Rect) {
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
    let [area, detail_area] = audit_areas(area);
    let detail_h = detail_area.height;
    let height = audit_height(area);
    // Settled before the frame; clamped again here on a copy, in case.
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
}

/// One audit record in full: who did what to what, when, why, and how it ended.
pub(crate) fn audit_detail<'a>(
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

impl Model {
    /// Rows of the audit pane, newest first, filtered by the pane filter.
    pub fn audit_rows(&self) -> Vec<&AuditRecord> {
        let f = self.pane_filter.to_lowercase();
        self.audit
            .ready()
            .map(|a| {
                a.iter()
                    .filter(|r| {
                        f.is_empty()
                            || [&r.actor, &r.action, &r.target]
                                .iter()
                                .any(|s| s.to_lowercase().contains(&f))
                            || r.reason
                                .as_ref()
                                .is_some_and(|s| s.to_lowercase().contains(&f))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

// ---- The audit pane's keys.

impl Model {
    /// The audit pane's own commands: moving in its records. `None`: the app's.
    pub(crate) fn audit_command(
        &mut self,
        cmd: &crate::tui::command::Command,
    ) -> Option<Vec<Effect>> {
        let delta = crate::tui::list::step(cmd)?;
        let len = self.audit_rows().len();
        self.list.move_by(delta, len);
        Some(vec![])
    }
}
