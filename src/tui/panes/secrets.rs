//! The secrets pane: one service's keys by cluster (never values unless revealed on
//! purpose), drift findings, and the actions on the selected cell.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::actions::Action;
use crate::config::theme::Slot;
use crate::domain::drift::{self, DriftKind};
use crate::domain::text::{age, sanitize};
use crate::tui::command::*;
use crate::tui::format::*;
use crate::tui::model::*;
use crate::tui::panes::matrix::*;

/// Secrets of the focus service (C7, read side): drift findings, a key × cluster grid
/// (presence and version, never values), and the selected key side by side.
/// The secrets grid's state: the selected cell (what v, p, x and c act on) and the
/// first cluster column shown (follows the cell).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecretsPane {
    /// An index into the grid's columns in scope.
    pub cell: usize,
    pub col: usize,
}

/// The secrets pane's parts: drift findings (and unreadable regions) above, the grid,
/// the selected key by region under it; and the cluster columns that fit.
fn secrets_areas(area: Rect, findings: usize, failed: usize) -> ([Rect; 3], usize) {
    let fit = ((area.width.saturating_sub(25)) / 10).max(1) as usize;
    let find_h = (findings as u16).min(6) + (failed as u16).min(3) + 1;
    let areas = Layout::vertical([
        Constraint::Length(find_h),
        Constraint::Min(4),
        Constraint::Length(7),
    ])
    .areas(area);
    (areas, fit)
}

/// Rows of keys the grid shows (two header lines above them).
fn secrets_height(table: Rect) -> usize {
    table.height.saturating_sub(2) as usize
}

/// The first column shown so that column `cell` of `cols` is on screen.
pub(crate) fn scroll_cols(first: usize, cell: usize, fit: usize, cols: usize) -> usize {
    let mut first = first;
    if cell < first {
        first = cell;
    } else if cell >= first + fit {
        first = cell + 1 - fit;
    }
    first.min(cols.saturating_sub(fit))
}

impl Model {
    /// The grid's selected cell inside its columns and scrolled into view, the
    /// selected key inside the rows shown.
    pub(crate) fn settle_secrets(&mut self, body: Rect) {
        let Some(service) = self.focus() else {
            return;
        };
        if !matches!(&self.secrets, Remote::Ready((s, _)) if *s == service) {
            return;
        }
        let Some(view) = self.secret_view() else {
            return;
        };
        let cols = (view.grid.columns.iter())
            .filter(|c| self.scope.contains(c))
            .count();
        let ([_, table, _], fit) =
            secrets_areas(body, view.findings.len(), self.secrets_failed.len());
        let shown = view.rows.len();
        self.secrets_pane.cell = self.secrets_pane.cell.min(cols.saturating_sub(1));
        self.secrets_pane.col =
            scroll_cols(self.secrets_pane.col, self.secrets_pane.cell, fit, cols);
        self.list.scroll_into_view(secrets_height(table), shown);
    }
}

pub fn draw_secrets(m: &Model, f: &mut Frame, area: Rect) {
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
            let (text, slot) = match m.unconfigured.contains("secrets") {
                true => (format!("Secrets: {e}"), Slot::Muted),
                false => (format!("Secrets could not be read: {e}"), Slot::Error),
            };
            f.render_widget(
                Paragraph::new(text)
                    .style(t.style(slot))
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
    let Some(SecretView {
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
    let failed = &m.secrets_failed;
    let ([head, table_area, side_area], fit) = secrets_areas(area, findings.len(), failed.len());
    // Settled before the frame (the selected cell scrolled into view); clamped again
    // here on a copy, in case.
    let cell = m.secrets_pane.cell.min(cols.len().saturating_sub(1));
    let first = scroll_cols(m.secrets_pane.col, cell, fit, cols.len());
    let more = cols_hint(first, fit, cols.len());
    let selected_col = cols.get(cell).copied();
    let cols: Vec<usize> = cols.into_iter().skip(first).take(fit).collect();
    let t = &m.theme;

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
    let height = secrets_height(table_area);
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
                cell = cell.style(crate::tui::format::selected_cell_style(&m.theme));
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
                    REVEAL_FOR.as_secs()
                ),
                t.style(Slot::Muted),
            ),
        ]);
        // Wrapped over the panel: a long value is never cut at 80 columns.
        f.render_widget(Clear, side_area);
        f.render_widget(Paragraph::new(line).wrap(Wrap { trim: false }), side_area);
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
}

pub(crate) fn kind_label(k: DriftKind) -> &'static str {
    match k {
        DriftKind::Missing => "missing",
        DriftKind::Extra => "extra",
        DriftKind::ValueDiffers => "value differs",
        DriftKind::TagsDiffer => "tags differ",
    }
}

/// What the secrets pane derives from a read, once, when it arrives: the service's
/// drift findings and its key × cluster grid.
#[derive(Debug, Clone)]
pub struct SecretBase {
    pub service: String,
    pub findings: Vec<crate::domain::drift::DriftFinding>,
    pub grid: crate::domain::drift::SecretGrid,
}

impl SecretBase {
    pub fn new(
        service: &str,
        list: &[crate::domain::SecretMeta],
        topology: &crate::domain::Topology,
    ) -> SecretBase {
        let findings = crate::domain::drift::drift(list, topology)
            .into_iter()
            .filter(|d| d.service == service)
            .collect();
        // Ephemeral environments hold no flags or secrets of their own: the grids
        // span the permanent ones.
        let grid = crate::domain::drift::grid(list, &topology.permanent(), service);
        SecretBase {
            service: service.to_string(),
            findings,
            grid,
        }
    }
}

/// What the secrets pane shows, computed once per use (see `Model::secret_view`): it
/// borrows the grid and findings built when the secrets arrived (nothing copied per
/// frame).
pub struct SecretView<'a> {
    pub service: &'a str,
    pub findings: Vec<&'a crate::domain::drift::DriftFinding>,
    pub grid: &'a crate::domain::drift::SecretGrid,
    /// Indices into `grid.keys` of the rows shown.
    pub rows: Vec<usize>,
}

/// Copy a secret from one region to another of its environment: why first (recorded
/// in the audit, as `sphere secret copy --reason` is), then as the policy says.
fn copy_secret(
    m: &mut Model,
    service: String,
    env: String,
    key: String,
    from: String,
    to: String,
) -> Vec<Effect> {
    m.ask_why(Action::SecretCopy {
        service,
        env,
        key,
        from,
        to,
    })
}

impl Model {
    /// The secrets grid's columns in scope, in its order.
    pub fn secret_columns(&self) -> Vec<crate::domain::ClusterId> {
        self.secret_view()
            .map(|v| {
                v.grid
                    .columns
                    .iter()
                    .filter(|c| self.scope.contains(c))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The cluster of the secrets grid's selected cell.
    pub fn secret_cell_cluster(&self) -> Option<crate::domain::ClusterId> {
        let cols = self.secret_columns();
        cols.get(self.secrets_pane.cell.min(cols.len().saturating_sub(1)))
            .cloned()
    }

    /// Secrets pane actions on the selected key, in the selected cell's environment and
    /// region. `c` copies into the selected cell when it is empty, else to the region
    /// the key's drift finding says is missing it.
    pub(crate) fn secret_action(&mut self, cmd: &Command) -> Vec<Effect> {
        let (Some(view), Some((_, list))) = (self.secret_view(), self.secrets.ready()) else {
            self.toast(Level::Error, "the secrets are not read yet");
            return vec![];
        };
        let list = list.clone();
        let service = view.service.to_string();
        let selected = view.rows.get(self.list.selected).map(|&i| {
            let key = view.grid.keys[i].clone();
            let findings: Vec<_> = (view.findings.iter())
                .filter(|d| d.key == key)
                .map(|&d| d.clone())
                .collect();
            (key, findings)
        });
        let Some((key, findings)) = selected else {
            self.toast(Level::Error, "select a secret");
            return vec![];
        };
        let cell = self.secret_cell_cluster();
        if *cmd == Command::SecretCopy
            && let Some(c) = &cell
        {
            // The selected cell is empty and another region of its environment holds
            // the key: copy it there.
            let (env, to) = (c.env.to_string(), c.region.to_string());
            let holders: Vec<&str> = list
                .iter()
                .filter(|s| s.service == service && s.env == env && s.key == key)
                .map(|s| s.region.as_str())
                .collect();
            if !holders.contains(&to.as_str())
                && let Some(from) = holders.first().map(|r| r.to_string())
            {
                return copy_secret(self, service, env, key, from, to);
            }
        }
        let env = self
            .scope
            .env
            .clone()
            .or_else(|| findings.first().map(|d| d.env.clone()))
            .or_else(|| cell.as_ref().map(|c| c.env.to_string()));
        let Some(env) = env else {
            self.toast(Level::Error, "no cluster in scope");
            return vec![];
        };
        if *cmd == Command::SecretCopy {
            let missing = findings
                .iter()
                .find(|d| d.env == env && d.kind == crate::domain::drift::DriftKind::Missing)
                .and_then(|d| d.regions.first().cloned());
            // Not drift by the majority rules (say, the service's secrets are all in one
            // region so far), but absent from a region of the environment in scope: the
            // empty cell the grid shows is where it goes.
            let absent = || {
                let held = |r: &String| {
                    list.iter().any(|s| {
                        s.service == service && s.env == env && s.key == key && &s.region == r
                    })
                };
                (self.topology.regions_of(&env).iter())
                    .filter(|r| self.scope.region.as_ref().is_none_or(|s| s == *r))
                    .find(|r| !held(r))
                    .cloned()
            };
            let Some(to) = missing.or_else(absent) else {
                self.toast(
                    Level::Info,
                    format!("{key} is in every region of {env} already"),
                );
                return vec![];
            };
            let from = list
                .iter()
                .find(|s| s.service == service && s.env == env && s.key == key)
                .map(|s| s.region.clone())
                .unwrap_or_default();
            return copy_secret(self, service, env, key, from, to);
        }
        // Reveal, put and delete act on the selected cell.
        let Some(c) = cell else {
            self.toast(Level::Error, "no cluster in scope");
            return vec![];
        };
        let (env, region) = (c.env.to_string(), c.region.to_string());
        match cmd {
            Command::SecretReveal => vec![Effect::Act {
                action: Action::SecretReveal {
                    service,
                    env,
                    region,
                    key,
                },
                confirmed: false,
            }],
            Command::SecretDelete => self.ask_why(Action::SecretDelete {
                service,
                env,
                region,
                key,
            }),
            _ => {
                self.ask_secret_value(service, env, region, key);
                vec![]
            }
        }
    }

    /// The masked prompt for a secret's value; Enter puts it.
    pub(crate) fn ask_secret_value(
        &mut self,
        service: String,
        env: String,
        region: String,
        key: String,
    ) {
        let title = format!("New value of {env}/{service}/{key} in {region} (typed masked)");
        self.prompt(
            title,
            Pending::SecretPut {
                service,
                env,
                region,
                key,
            },
        );
    }

    /// The secrets pane's keys for the focus service: filtered by name, only those
    /// with drift in scope when asked.
    pub fn secret_keys(&self) -> Vec<String> {
        self.secret_view()
            .map(|v| v.rows.iter().map(|&i| v.grid.keys[i].clone()).collect())
            .unwrap_or_default()
    }

    /// The secrets pane's data, derived once: the focus service's drift findings in
    /// scope, its key × cluster grid, and the grid rows shown (filter, drifted only).
    pub fn secret_view(&self) -> Option<SecretView<'_>> {
        let base = self.secret_base.as_ref()?;
        let service = &base.service;
        let findings: Vec<&crate::domain::drift::DriftFinding> = base
            .findings
            .iter()
            .filter(|d| self.scope.env.as_ref().is_none_or(|e| *e == d.env))
            .collect();
        let grid = &base.grid;
        let f = self.pane_filter.to_lowercase();
        let rows = (0..grid.keys.len())
            .filter(|&i| {
                let k = &grid.keys[i];
                (f.is_empty() || k.to_lowercase().contains(&f))
                    && (!self.drift_only || findings.iter().any(|d| d.key == *k))
            })
            .collect();
        Some(SecretView {
            service,
            findings,
            grid,
            rows,
        })
    }
}

// ---- The secrets pane's keys.

impl Model {
    /// The secrets pane's own commands: moving in its keys, `h`/`l` move the grid's
    /// selected cell (what `v`, `p`, `x` and `c` act on), the actions, and `n` a new
    /// secret. `None`: the app's.
    pub(crate) fn secrets_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        if let Some(delta) = crate::tui::list::step(cmd) {
            let len = self.secret_keys().len();
            self.list.move_by(delta, len);
            return Some(vec![]);
        }
        match cmd {
            Command::ColLeft => {
                self.secrets_pane.cell = self.secrets_pane.cell.saturating_sub(1);
            }
            Command::ColRight => {
                let cols = self.secret_columns().len();
                self.secrets_pane.cell = (self.secrets_pane.cell + 1).min(cols.saturating_sub(1));
            }
            Command::SecretReveal
            | Command::SecretPut
            | Command::SecretDelete
            | Command::SecretCopy => return Some(self.secret_action(cmd)),
            Command::SecretNew => match self.focus() {
                Some(service) => self.open_secret_form(service),
                None => self.toast(Level::Error, "select a service first"),
            },
            _ => return None,
        }
        Some(vec![])
    }
}
