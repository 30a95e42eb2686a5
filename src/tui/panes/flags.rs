//! The flags pane: each flag's value by cluster, drift, pending rollouts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use crate::config::theme::Slot;
use crate::domain::flags;
use crate::domain::text::sanitize;
use crate::tui::format::*;
use crate::tui::model::*;
use crate::tui::panes::matrix::*;

/// Flags (C10, read side): value and rollout per cluster, drift between the clusters
/// of an environment, changes pending until each cluster acknowledges them.
/// The flags grid's state: the first cluster column shown (h/l scroll it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagsPane {
    pub col: usize,
}

/// The summary line and the table under it.
fn flags_areas(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area)
}

/// (rows of flags the table shows, cluster columns that fit, cell width).
fn flags_fit(area: Rect) -> (usize, usize, u16) {
    let [_, table_area] = flags_areas(area);
    let compact = area.width < 120;
    let cell_w: u16 = if compact { 8 } else { 11 };
    let fit = ((area.width.saturating_sub(29)) / (cell_w + 1)).max(1) as usize;
    (table_area.height.saturating_sub(2) as usize, fit, cell_w)
}

impl Model {
    /// The flags' cluster columns in scope (indices into `flag_columns`).
    fn flag_cols(&self, flags: &[crate::domain::FlagState]) -> Vec<usize> {
        let topology = self.topology.permanent();
        flags::flag_columns(flags, &topology)
            .iter()
            .enumerate()
            .filter(|(_, c)| self.scope.contains(c))
            .map(|(i, _)| i)
            .collect()
    }

    pub(crate) fn settle_flags(&mut self, body: Rect) {
        let Some(flags) = self.flags.ready() else {
            return;
        };
        let cols = self.flag_cols(flags).len();
        let len = self.flag_rows().len();
        let (height, fit, _) = flags_fit(body);
        self.list.scroll_into_view(height, len);
        self.flags_pane.col = self.flags_pane.col.min(cols.saturating_sub(fit));
    }
}

pub fn draw_flags(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let flags = match &m.flags {
        Remote::Ready(f) => f,
        Remote::Failed(e) => {
            let (text, slot) = match m
                .unconfigured
                .contains(crate::tui::fetch::Fetch::Flags.name())
            {
                true => (format!("Flags: {e}"), Slot::Muted),
                false => (format!("Flags could not be read: {e}"), Slot::Error),
            };
            f.render_widget(
                Paragraph::new(text)
                    .style(t.style(slot))
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
    let summary = flags::flag_summary(&m.flag_table);
    let rows = m.flag_rows();
    let cols = m.flag_cols(flags);
    let [head, table_area] = flags_areas(area);
    let (height, fit, cell_w) = flags_fit(area);
    let compact = area.width < 120;
    // Settled before the frame; clamped again here on a copy, in case.
    let mut pos = m.list;
    pos.scroll_into_view(height, rows.len());
    let col = m.flags_pane.col.min(cols.len().saturating_sub(fit));
    let more = cols_hint(col, fit, cols.len());
    let shown: Vec<usize> = cols.iter().copied().skip(col).take(fit).collect();
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
}

/// `n` in superscript digits (`⁺` past 9), one column wide.
pub(crate) fn superscript(n: usize) -> &'static str {
    const DIGITS: [&str; 10] = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"];
    DIGITS.get(n).copied().unwrap_or("⁺")
}

impl Model {
    /// The flags pane's rows: filtered by name, drifted only when asked.
    pub fn flag_rows(&self) -> Vec<crate::domain::flags::FlagRow> {
        let f = self.pane_filter.to_lowercase();
        self.flag_table
            .iter()
            .filter(|r| f.is_empty() || r.name.to_lowercase().contains(&f))
            .filter(|r| !self.drift_only || r.drifted)
            .cloned()
            .collect()
    }

    /// `s`: ask the selected flag's new value and rollout in the scope.
    pub(crate) fn ask_flag_value(&mut self) {
        let rows = self.flag_rows();
        let Some(row) = rows.get(self.list.selected) else {
            self.toast(Level::Error, "select a flag");
            return;
        };
        // A flag that declares its variants takes only those: say which.
        let variants = self
            .flags
            .ready()
            .and_then(|all| {
                all.iter()
                    .find(|f| f.name == row.name && !f.variants.is_empty())
            })
            .map(|f| {
                let v: Vec<String> = f
                    .variants
                    .iter()
                    .map(|v| sanitize(v).into_owned())
                    .collect();
                format!(" (one of {})", v.join(", "))
            })
            .unwrap_or_default();
        let title = format!(
            "Set {} in {}: VALUE [PERCENT]{variants}",
            sanitize(&row.name),
            self.scope
        );
        self.prompt(
            title,
            Pending::FlagSet {
                name: row.name.clone(),
            },
        );
    }
}

// ---- The flags pane's keys.

impl Model {
    /// The flags pane's own commands: moving in its flags, `h`/`l` scroll the grid
    /// by a column, `s` sets the selected flag. `None`: the app's.
    pub(crate) fn flags_command(
        &mut self,
        cmd: &crate::tui::command::Command,
    ) -> Option<Vec<Effect>> {
        use crate::tui::command::Command;
        if let Some(delta) = crate::tui::list::step(cmd) {
            let len = self.flag_rows().len();
            self.list.move_by(delta, len);
            return Some(vec![]);
        }
        match cmd {
            Command::ColLeft => self.flags_pane.col = self.flags_pane.col.saturating_sub(1),
            Command::ColRight => {
                let cols = crate::domain::matrix::columns(&self.topology, &self.scope).len();
                self.flags_pane.col = (self.flags_pane.col + 1).min(cols.saturating_sub(1));
            }
            Command::FlagSet => self.ask_flag_value(),
            _ => return None,
        }
        Some(vec![])
    }
}
