//! The deployments matrix: services by cluster, drift, locks; its rows (cached per
//! change of what they depend on), the lock places and the drawing.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::actions::Action;
use crate::config::theme::Slot;
use crate::domain::Scope;
use crate::domain::environment::short_remaining;
use crate::domain::matrix::{self, Cell as MatrixCell};
use crate::domain::text::sanitize;
use crate::domain::{Lock, RolloutState};
use crate::tui::command::*;
use crate::tui::format::*;
use crate::tui::list::step;
use crate::tui::model::*;
use crate::tui::panes::flags::superscript;

/// Width of a matrix cell: "4.18.1 6/6 ⟳" fits, a long version is cut.
pub(crate) const CELL_WIDE: u16 = 14;

pub(crate) const CELL_COMPACT: u16 = 9;

/// The deployments matrix's state: the selected service (row) and cluster (cell),
/// the first cluster column shown, and its rows, cached per change of what they
/// depend on.
#[derive(Debug, Default)]
pub struct MatrixPane {
    pub pos: ListPos,
    /// The first cluster column shown (horizontal scroll; follows the cell).
    pub col: usize,
    /// The selected cell's column (an index into the columns in scope).
    pub cell: usize,
    /// The user moved the selected cell: opening the pane leaves it there.
    pub(crate) cell_chosen: bool,
    /// The rows and drift summary, valid for one (view, live, scope, filter).
    pub(crate) cache: std::cell::RefCell<Option<MatrixCache>>,
}

/// The matrix's geometry at `area`: the summary line, the table, the name column's
/// width, the cluster columns that fit, their width, and the rows of services shown.
pub(crate) struct MatrixFit {
    pub summary: Rect,
    pub table: Rect,
    pub name_w: u16,
    pub fit: usize,
    pub cell_w: u16,
    pub compact: bool,
    pub height: usize,
}

pub(crate) fn matrix_fit(m: &Model, rows: &[usize], area: Rect) -> MatrixFit {
    let [summary, table] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
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
    MatrixFit {
        summary,
        table,
        name_w,
        fit,
        cell_w,
        compact,
        // Two header lines: environment, then region.
        height: table.height.saturating_sub(2) as usize,
    }
}

impl Model {
    /// The selected cell inside the columns and scrolled into view (the first column
    /// shown follows it), the selected service inside the rows and scrolled to.
    pub(crate) fn settle_matrix(&mut self, body: Rect) {
        let rows = self.matrix_view().rows;
        let columns = matrix::columns(&self.topology, &self.scope).len();
        let g = matrix_fit(self, &rows, body);
        self.matrix.cell = self.matrix.cell.min(columns.saturating_sub(1));
        self.matrix.col = crate::tui::panes::secrets::scroll_cols(
            self.matrix.col,
            self.matrix.cell,
            g.fit,
            columns,
        );
        self.matrix.pos.scroll_into_view(g.height, rows.len());
    }
}

pub fn draw_matrix(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let view = m.matrix_view();
    let rows = view.rows;
    let columns = matrix::columns(&m.topology, &m.scope);
    let MatrixFit {
        summary: summary_area,
        table: table_area,
        name_w,
        fit,
        cell_w,
        compact,
        height,
    } = matrix_fit(m, &rows, area);
    // Settled before the frame (the selected cell in view); clamped again here on a
    // copy, in case.
    let sel_cell = m.matrix.cell.min(columns.len().saturating_sub(1));
    let first_col =
        crate::tui::panes::secrets::scroll_cols(m.matrix.col, sel_cell, fit, columns.len());
    let mut pos = m.matrix.pos;
    pos.scroll_into_view(height, rows.len());
    let shown: Vec<_> = columns.iter().skip(first_col).take(fit).cloned().collect();

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
    // The rows on screen first: the summary explains the ⎇ mark when a cell shows it.
    let mut git_shown = false;
    let (env_cells, region_cells) = cluster_headers(m, &shown, "service", compact);
    let mut widths = vec![Constraint::Length(name_w)];
    widths.extend(shown.iter().map(|_| Constraint::Length(cell_w)));
    let header_style = t.style(Slot::Muted);
    let mut table_rows = vec![Row::new(region_cells).style(header_style)];
    let end = (pos.offset + height).min(rows.len());
    for (n, &i) in rows[pos.offset.min(end)..end].iter().enumerate() {
        let name = &m.cat.rows[i].name;
        let live = m.live.service(name);
        let selected = pos.offset + n == pos.selected;
        let mut cells = vec![Cell::from(name.to_string())];
        for (ci, c) in shown.iter().enumerate() {
            let mut data = matrix::cell(name, live.as_ref(), c, &m.locks);
            if let (Some(d), Some(declared)) = (data.as_mut(), &m.declared) {
                d.git = matrix::git_mark(name, live.as_ref(), c, declared);
                git_shown |= d.git.is_some();
            }
            let mut cell = matrix_cell(m, data.as_ref(), compact);
            if selected && first_col + ci == sel_cell {
                cell = cell.style(crate::tui::format::selected_cell_style(&m.theme));
            }
            cells.push(cell);
        }
        let mut row = Row::new(cells);
        if selected {
            row = row.style(m.theme.style(Slot::Selection));
        }
        table_rows.push(row);
    }
    let scrolled = columns.len() > shown.len();
    let (first, last) = (first_col + 1, first_col + shown.len());
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
        // What the ⎇ a cell on screen carries means.
        if git_shown {
            s.push(Span::styled(
                if short {
                    "  ⎇ git"
                } else {
                    "  ⎇ differs from git"
                },
                t.style(Slot::Muted),
            ));
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
pub(crate) fn cluster_headers(
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

pub(crate) fn matrix_cell(m: &Model, c: Option<&MatrixCell>, compact: bool) -> Cell<'static> {
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
    // Out of sync with git (the version or the HPA bounds): ⎇ after the version.
    if c.git.is_some() {
        spans.push(Span::styled("⎇", t.style(Slot::Drift)));
    }
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

/// The matrix rows and drift counts, computed once per change of what they depend on.
#[derive(Debug, Clone)]
pub struct MatrixCache {
    key: (u64, u64, Scope, bool),
    pub rows: Vec<usize>,
    /// Drifted services per environment in scope, over the catalog's filtered rows.
    pub drift: std::collections::BTreeMap<String, usize>,
}

impl Model {
    /// Rows of the matrix: the catalog's filtered, sorted services (indices into
    /// `cat.rows`), only drifted ones when asked.
    pub fn matrix_rows(&self) -> Vec<usize> {
        self.matrix_view().rows
    }

    /// The matrix's rows and drift summary, from the cache when nothing changed.
    pub fn matrix_view(&self) -> MatrixCache {
        let key = (
            self.cat.view_gen,
            self.live_gen,
            self.scope.clone(),
            self.drift_only,
        );
        if let Some(c) = self.matrix.cache.borrow().as_ref()
            && c.key == key
        {
            return c.clone();
        }
        let envs: Vec<&String> = self
            .topology
            .environments
            .iter()
            .filter(|e| self.scope.env.as_ref().is_none_or(|s| s == *e))
            .collect();
        let mut drift = std::collections::BTreeMap::new();
        let mut rows = Vec::new();
        for i in self.cat.ordered_rows() {
            let drifted: Vec<String> = self
                .live
                .service(&self.cat.rows[i].name)
                .map(|l| crate::domain::matrix::drifted_envs(&l, &self.topology))
                .unwrap_or_default()
                .into_iter()
                .filter(|e| envs.contains(&e))
                .collect();
            for e in &drifted {
                *drift.entry(e.clone()).or_insert(0usize) += 1;
            }
            if !self.drift_only || !drifted.is_empty() {
                rows.push(i);
            }
        }
        let cache = MatrixCache { key, rows, drift };
        *self.matrix.cache.borrow_mut() = Some(cache.clone());
        cache
    }

    /// Where the matrix's `L`/`U` can act: the selected cell, its environment, and the
    /// scope when that is wider still. `None` outside the matrix or without a cell.
    pub(crate) fn lock_places(&self, service: &str, verb: LockVerb) -> Option<Vec<PaletteItem>> {
        if self.tab != Tab::Deployments || !self.routes.is_empty() {
            return None;
        }
        let cell = crate::domain::matrix::columns(&self.topology, &self.scope)
            .get(self.matrix.cell)
            .cloned()?;
        let mut places: Vec<(Option<String>, Option<String>, String)> = vec![
            (
                Some(cell.env.to_string()),
                Some(cell.region.to_string()),
                format!("in {cell} (the selected cell)"),
            ),
            (
                Some(cell.env.to_string()),
                None,
                format!("in {}, every region", cell.env),
            ),
        ];
        let scope = (self.scope.env.clone(), self.scope.region.clone());
        if scope.0.is_none() {
            let wide = match &scope.1 {
                Some(r) => format!("in {r}, every environment"),
                None => "everywhere: every environment and region".to_string(),
            };
            places.push((None, scope.1, wide));
        }
        Some(
            places
                .into_iter()
                .map(|(env, region, label)| {
                    let mut verb_cap = verb.as_str().to_string();
                    verb_cap[..1].make_ascii_uppercase();
                    PaletteItem {
                        label: format!("{verb_cap} {} {label}", sanitize(service)),
                        command: Command::LockAt {
                            verb,
                            service: service.to_string(),
                            env,
                            region,
                        },
                        keys: String::new(),
                    }
                })
                .collect(),
        )
    }

    /// Lock (asks why first) or unlock `service` in `env`/`region` (`None`: every one).
    pub(crate) fn lock_at(
        &mut self,
        verb: LockVerb,
        service: String,
        env: Option<String>,
        region: Option<String>,
    ) -> Vec<Effect> {
        if verb == LockVerb::Unlock {
            return self.ask_why(Action::Unlock {
                service,
                env,
                region,
                all_holders: false,
            });
        }
        // A target holds a lock per holder: say who already holds one there, and why.
        let others: Vec<Lock> = self
            .locks
            .iter()
            .filter(|l| {
                l.service == service && l.env == env && l.region == region && l.by != self.user
            })
            .cloned()
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(
                " (already locked there by {}; your lock is added)",
                sanitize(&crate::actions::holders_text(&others))
            )
        };
        let title = format!(
            "Lock {service} in {}{also}: why?",
            crate::domain::Scope {
                env: env.clone(),
                region: region.clone()
            }
        );
        self.prompt(
            title,
            Pending::Lock {
                service,
                env,
                region,
            },
        );
        vec![]
    }
}

// ---- The matrix's keys.

impl Model {
    /// The matrix's own commands: moving in its rows, `h`/`l` the selected cell, `d`
    /// (which scrolls to the drift), Enter, and the selected cell as the place of a
    /// rollback and of a lock. `None`: the app's.
    pub(crate) fn matrix_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        if let Some(delta) = step(cmd) {
            let len = self.matrix_rows().len();
            self.matrix.pos.move_by(delta, len);
            return Some(vec![]);
        }
        match cmd {
            Command::Open => return Some(self.open_focus()),
            // They move the selected cell (the view scrolls to it).
            Command::ColLeft => {
                self.matrix.cell = self.matrix.cell.saturating_sub(1);
                self.matrix.cell_chosen = true;
            }
            Command::ColRight => {
                let cols = matrix::columns(&self.topology, &self.scope).len();
                self.matrix.cell = (self.matrix.cell + 1).min(cols.saturating_sub(1));
                self.matrix.cell_chosen = true;
            }
            Command::DriftOnly => {
                self.toggle_drift_only();
                // Showing the drift scrolls to where it is.
                if self.drift_only {
                    self.place_matrix_cell();
                }
            }
            Command::Rollback => {
                let cell = matrix::columns(&self.topology, &self.scope)
                    .get(self.matrix.cell)
                    .cloned();
                return Some(self.rollback_in(cell));
            }
            // The selected cell offers narrower places than the scope (no service, no
            // cell: the app's, in the scope).
            Command::Lock | Command::Unlock => {
                let verb = if *cmd == Command::Lock {
                    LockVerb::Lock
                } else {
                    LockVerb::Unlock
                };
                let service = self.focus()?;
                let items = self.lock_places(&service, verb)?;
                self.open_palette(PaletteState {
                    items,
                    title: format!(" {} {service} where? ", verb.as_str()),
                    ..PaletteState::default()
                });
            }
            _ => return None,
        }
        Some(vec![])
    }

    /// Put the matrix's selected cell, and its first shown column, on the environment
    /// where drift matters: production when it drifts or nothing does, else the first
    /// environment (in the platform's order) that drifts.
    pub(crate) fn place_matrix_cell(&mut self) {
        let columns = crate::domain::matrix::columns(&self.topology, &self.scope);
        let drift = self.matrix_view().drift;
        let drifts = |e: &str| drift.get(e).is_some_and(|n| *n > 0);
        let envs = &self.topology.environments;
        let production = (envs.iter())
            .find(|e| crate::actions::is_production(e))
            .or_else(|| {
                (envs.iter().rev()).find(|e| self.topology.ephemeral(e.as_str()).is_none())
            });
        let target = match production {
            Some(p) if drifts(p) || !envs.iter().any(|e| drifts(e)) => Some(p.clone()),
            _ => envs.iter().find(|e| drifts(e)).cloned(),
        };
        if let Some(env) = target
            && let Some(i) = columns.iter().position(|c| c.env == env)
        {
            self.matrix.cell = i;
            self.matrix.col = i;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{ClusterId, Topology};
    use crate::tui::command::Command;
    use crate::tui::harness::Harness;

    /// A platform that is not a full grid (the demo's clusters less staging outside
    /// us-east-1 and dev outside eu-west-1): the matrix has a column per cluster that
    /// exists and none for the others, although the demo runs services there; the
    /// header counts the clusters that exist, and region cycling skips the gaps.
    #[tokio::test]
    async fn the_matrix_shows_only_the_clusters_a_gapped_platform_has() {
        let mut h = Harness::demo(230, 30).await.expect("demo platform opens");
        let kept: Vec<ClusterId> = (h.model.topology.clusters())
            .filter(|c| match c.env.as_str() {
                "staging" => c.region.as_str() == "us-east-1",
                "dev" => c.region.as_str() == "eu-west-1",
                _ => true,
            })
            .collect();
        let regions = h.model.topology.regions.len();
        assert!(regions >= 2, "the demo spans regions");
        h.model.topology = Topology::from_clusters(&kept);
        h.model.restatus_all();
        h.keys("2");
        let screen = h.render();
        let expected = regions + 2;
        assert!(
            screen.contains(&format!("live {expected} clusters")),
            "{screen}"
        );
        let header = (screen.lines())
            .find(|l| l.trim_start().starts_with("service "))
            .unwrap_or_default();
        let shown: Vec<&str> = header.split_whitespace().skip(1).collect();
        let want: Vec<String> = (h.model.topology.clusters())
            .map(|c| c.region.to_string())
            .collect();
        assert_eq!(want.len(), expected);
        assert_eq!(shown, want, "{screen}");
        // Cycling regions in staging's scope stays where staging runs.
        h.model.scope.env = Some("staging".into());
        let effects = h.model.run(Command::ScopeRegionNext);
        h.apply(effects);
        assert_eq!(h.model.scope.region.as_deref(), Some("us-east-1"));
        let effects = h.model.run(Command::ScopeRegionNext);
        h.apply(effects);
        assert_eq!(h.model.scope.region, None, "back to every region");
        // And environments in eu-west-1's scope are those that run there.
        h.model.scope = Default::default();
        h.model.scope.region = Some("eu-west-1".into());
        let mut seen = Vec::new();
        loop {
            let effects = h.model.run(Command::ScopeEnvNext);
            h.apply(effects);
            match h.model.scope.env.clone() {
                Some(e) => seen.push(e),
                None => break,
            }
            assert!(seen.len() <= 3, "{seen:?}");
        }
        assert_eq!(seen, ["dev", "production"]);
    }

    /// The matrix reads what the demo's GitOps repository declares and marks exactly the
    /// cells that run another version than git says (or other HPA bounds).
    #[tokio::test]
    async fn cells_out_of_sync_with_git_carry_the_mark() {
        let mut h = Harness::demo(170, 48).await.expect("demo platform opens");
        h.keys("2");
        let declared = h
            .model
            .declared
            .clone()
            .expect("the demo declares what git holds");
        let screen = h.render();
        assert!(screen.contains("⎇ differs from git"), "{screen}");
        let mut marked = Vec::new();
        for line in screen
            .lines()
            .filter(|l| l.contains('⎇') && !l.contains("differs"))
        {
            let service = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            marked.push(service);
        }
        assert!(!marked.is_empty(), "no cell marked:\n{screen}");
        for service in &marked {
            let live = h.model.live.service(service);
            let out_of_sync = h.model.topology.clusters().any(|c| {
                crate::domain::matrix::git_mark(service, live.as_ref(), &c, &declared).is_some()
            });
            assert!(out_of_sync, "{service} marked but in sync with git");
        }
    }
}
