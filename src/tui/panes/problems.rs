//! The problems pane: everything wrong in scope, worst first (`domain::problems`),
//! computed from what the model already holds — the live state from the watch, the
//! locks and freeze, the flags and the secrets drift as last read, the catalog's
//! errors — when that data changes (or the scope, or the minute), never per frame.
//! Enter goes deeper: a pod's problem to its pod, a service's to its service view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use crate::config::theme::Slot;
use crate::domain::ClusterId;
use crate::domain::problems::{Problem, ProblemInput, ProblemKind, Severity, Unreadable};
use crate::domain::text::{age, sanitize};
use crate::tui::command::Command;
use crate::tui::list::step;
use crate::tui::model::*;

/// One row of the pane: the problem, its strings sanitised, and the pod it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemRow {
    pub problem: Problem,
    /// The pod a crash loop or a not-ready pod is about (cluster, name).
    pub pod: Option<(ClusterId, String)>,
}

/// The rows as computed, and what they were computed for: the scope and the minute
/// (a pod becomes a problem after being not ready for a while).
#[derive(Debug, Clone, Default)]
pub struct ProblemsCache {
    pub rows: Vec<ProblemRow>,
    pub scope: crate::domain::Scope,
    pub minute: i64,
    /// The pane filter they were kept by.
    pub filter: String,
}

impl Model {
    /// Forget the computed problems: the data under them changed.
    pub(crate) fn problems_stale(&mut self) {
        self.problems = None;
    }

    /// The problems in scope, worst first, computed again only when stale.
    pub fn problem_rows(&mut self) -> &[ProblemRow] {
        let now = self.now();
        let fresh = self.problems.as_ref().is_some_and(|c| {
            c.scope == self.scope && c.minute == now / 60 && c.filter == self.pane_filter
        });
        if !fresh {
            let rows = self.compute_problems(now);
            self.problems = Some(ProblemsCache {
                rows,
                scope: self.scope.clone(),
                minute: now / 60,
                filter: self.pane_filter.clone(),
            });
        }
        self.problems.as_ref().map_or(&[], |c| &c.rows)
    }

    /// Problems found in the configuration files: kept in the problems pane, where they
    /// stay readable; the screen gets one short toast (a toast per problem covered an
    /// 80x24 screen and vanished).
    pub fn config_problems(&mut self, problems: Vec<String>) {
        let text = match problems.as_slice() {
            [] => return,
            [one] => format!("config: {one} (7 Problems keeps it)"),
            many => format!(
                "{} problems in the configuration: 7 Problems lists them",
                many.len()
            ),
        };
        self.toast(Level::Error, text);
        self.config_problems.extend(problems);
        self.problems_stale();
    }

    fn compute_problems(&self, now: i64) -> Vec<ProblemRow> {
        let mut unread = Vec::new();
        if let Some(e) = &self.catalog_error {
            unread.extend(Unreadable::of_catalog(Err(e.clone())));
        }
        if let Some(c) = &self.catalog {
            unread.extend(Unreadable::of_catalog(Ok(c)));
        }
        // Flags the config does not declare are not a problem (the pane says so).
        if let Remote::Failed(e) = &self.flags
            && !(self.unconfigured).contains(crate::tui::fetch::Fetch::Flags.name())
        {
            unread.push(Unreadable {
                what: "flags".into(),
                error: e.clone(),
                next: "sphere flag list".into(),
            });
        }
        let flag_drift = self
            .flags
            .ready()
            .map(|f| crate::domain::flags::flag_drift(f))
            .unwrap_or_default();
        let secret_drift: &[crate::domain::drift::DriftFinding] = self
            .secret_base
            .as_ref()
            .map_or(&[], |b| b.findings.as_slice());
        let list = crate::domain::problems::problems(&ProblemInput {
            live: &self.live,
            topology: &self.topology,
            scope: &self.scope,
            locks: &self.locks,
            freeze: Some(&self.freeze),
            secret_drift,
            flag_drift: &flag_drift,
            unread: &unread,
            now,
        });
        // The configuration's problems rank with the other errors: the file's name and
        // the key first (what fits a row), the whole path in the detail.
        let mut list = list;
        let at = list
            .iter()
            .position(|p| p.severity > Severity::Error)
            .unwrap_or(list.len());
        list.splice(
            at..at,
            self.config_problems.iter().map(|p| config_problem(p)),
        );
        let filter = self.pane_filter.to_lowercase();
        let kept = |p: &Problem| {
            filter.is_empty()
                || [&p.what, &p.place, &p.next]
                    .into_iter()
                    .chain(p.service.as_ref())
                    .any(|s| s.to_lowercase().contains(&filter))
        };
        list.into_iter()
            .filter(kept)
            .map(|p| {
                let pod = self.problem_pod(&p);
                ProblemRow {
                    problem: Problem {
                        what: sanitize(&p.what).into_owned(),
                        service: p.service.as_deref().map(|s| sanitize(s).into_owned()),
                        place: sanitize(&p.place).into_owned(),
                        next: sanitize(&p.next).into_owned(),
                        ..p
                    },
                    pod,
                }
            })
            .collect()
    }

    /// The pod a pod's problem is about: the service's pod in that cluster that the
    /// problem names.
    fn problem_pod(&self, p: &Problem) -> Option<(ClusterId, String)> {
        if !matches!(p.kind, ProblemKind::CrashLoop | ProblemKind::PodNotReady) {
            return None;
        }
        let svc = self.live.service(p.service.as_deref()?)?;
        svc.pods(&self.scope)
            .find(|pod| {
                pod.cluster.to_string() == p.place
                    && p.what.starts_with(&format!("pod {} ", pod.name))
            })
            .map(|pod| (pod.cluster.clone(), pod.name.to_string()))
    }

    /// The problems pane's own commands: moving in its rows, and Enter goes deeper.
    /// `None`: the app's.
    pub(crate) fn problems_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        if let Some(delta) = step(cmd) {
            let len = self.problem_rows().len();
            self.list.move_by(delta, len);
            return Some(vec![]);
        }
        (*cmd == Command::Open).then(|| self.open_problem())
    }

    /// Enter on a problem: a pod's problem opens its pod, a service's problem its
    /// service view; anything else says where to look.
    pub(crate) fn open_problem(&mut self) -> Vec<Effect> {
        let at = self.list.selected;
        let Some(row) = self.problem_rows().get(at).cloned() else {
            return vec![];
        };
        if let Some((cluster, name)) = row.pod {
            return self.open_pod(cluster, name);
        }
        match row.problem.service {
            Some(service) => self.open_service(service),
            None => {
                self.toast(Level::Info, format!("deeper: {}", row.problem.next));
                vec![]
            }
        }
    }
}

/// A problem of a configuration file (`FILE: key `K`: reason`) as a problems row.
fn config_problem(text: &str) -> Problem {
    let (file, rest) = text.split_once(": ").unwrap_or(("the configuration", text));
    let name = std::path::Path::new(file)
        .file_name()
        .map_or_else(|| file.to_owned(), |n| n.to_string_lossy().into_owned());
    Problem {
        severity: Severity::Error,
        kind: ProblemKind::Unreadable,
        what: format!("{name}: {rest}"),
        service: None,
        place: "config".into(),
        since: None,
        next: format!("fix {file}; sphere reads it at start"),
    }
}

fn severity_cell(s: Severity) -> (&'static str, Slot) {
    match s {
        Severity::Critical => ("crit", Slot::Error),
        Severity::Error => ("err", Slot::Warn),
        Severity::Warning => ("warn", Slot::Pending),
        Severity::Info => ("info", Slot::Muted),
    }
}

/// The list and, under it when there is room, the selected problem's detail.
fn problems_areas(area: Rect) -> [Rect; 2] {
    let detail_h = if area.height >= 12 { 3 } else { 0 };
    Layout::vertical([Constraint::Min(1), Constraint::Length(detail_h)]).areas(area)
}

/// Rows of problems the list shows (its title border and a header line above them).
fn problems_height(list: Rect) -> usize {
    Block::default()
        .borders(Borders::TOP)
        .inner(list)
        .height
        .saturating_sub(1) as usize
}

impl Model {
    /// The problems computed if stale (the data under them changed, or the minute),
    /// the selection inside them and scrolled into view.
    pub(crate) fn settle_problems(&mut self, body: Rect) {
        let len = self.problem_rows().len();
        if len == 0 {
            return;
        }
        let [list, _] = problems_areas(body);
        self.list.clamp(len);
        self.list.scroll_into_view(problems_height(list), len);
    }
}

pub fn draw_problems(m: &Model, f: &mut Frame, area: Rect) {
    let now = m.now();
    // Computed by `settle` before the frame, never here.
    let rows: &[ProblemRow] = m.problems.as_ref().map_or(&[], |c| &c.rows);
    let t = &m.theme;
    let crit = rows
        .iter()
        .filter(|r| r.problem.severity == Severity::Critical)
        .count();
    let mut title = vec![
        Span::styled(" problems ", t.style(Slot::Title)),
        Span::styled(
            format!("{} in {} ", rows.len(), m.scope),
            t.style(Slot::Muted),
        ),
    ];
    if crit > 0 {
        title.push(Span::styled(
            format!("{crit} critical "),
            t.style(Slot::Error),
        ));
    }
    if !m.pane_filter.is_empty() {
        title.push(Span::styled(
            format!("/{} ", sanitize(&m.pane_filter)),
            t.style(Slot::Accent),
        ));
    }
    let [list_area, detail_area] = problems_areas(area);
    let detail_h = detail_area.height;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.style(Slot::Border))
        .title(Line::from(title));
    let inner = block.inner(list_area);
    f.render_widget(block, list_area);
    if rows.is_empty() {
        f.render_widget(
            Paragraph::new(format!("Nothing wrong in {}.", m.scope)).style(t.style(Slot::Ok)),
            inner,
        );
        return;
    }
    let height = problems_height(list_area);
    // Settled before the frame; clamped again here on a copy, in case.
    let mut pos = m.list;
    pos.clamp(rows.len());
    pos.scroll_into_view(height, rows.len());
    let narrow = inner.width < 110;
    let mut header = vec!["sev", "what"];
    let mut widths = vec![Constraint::Length(4), Constraint::Fill(1)];
    if !narrow {
        header.push("service");
        widths.push(Constraint::Length(22));
    }
    header.extend(["where", "since"]);
    let place_w: u16 = if narrow { 14 } else { 26 };
    widths.extend([Constraint::Length(place_w), Constraint::Length(7)]);
    let mut table_rows = Vec::new();
    for (i, r) in rows.iter().enumerate().skip(pos.offset).take(height) {
        let p = &r.problem;
        let (sev, slot) = severity_cell(p.severity);
        let cluster = |at: &str| match at.split_once('/') {
            Some((env, region)) => {
                crate::tui::format::cluster_label(env, region, place_w.into(), narrow)
            }
            None => at.to_string(),
        };
        let place = match p.place.split_once('@') {
            // A lock's target (`service@env/region`): narrow, its cluster when what
            // names the service already.
            Some((service, at)) if narrow && p.what.contains(service) => cluster(at),
            Some(_) => p.place.clone(),
            None => cluster(&p.place),
        };
        // Narrow: the service goes before what, unless what names it already.
        let what = match (&p.service, narrow) {
            (Some(s), true) if !p.what.contains(s.as_str()) => format!("{s}: {}", p.what),
            _ => p.what.clone(),
        };
        let since = p.since.map_or("-".to_string(), |s| {
            if s <= now {
                age(now - s)
            } else {
                format!("in {}", age(s - now))
            }
        });
        let mut cells = vec![
            Cell::from(Span::styled(sev, t.style(slot))),
            Cell::from(what),
        ];
        if !narrow {
            cells.push(Cell::from(p.service.clone().unwrap_or_else(|| "-".into())));
        }
        cells.extend([Cell::from(place), Cell::from(since)]);
        let mut row = Row::new(cells);
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
    // Under the list, the selected problem whole and the command that goes deeper.
    if detail_h > 0
        && let Some(r) = rows.get(pos.selected)
    {
        let p = &r.problem;
        let deeper = if r.pod.is_some() || p.service.is_some() {
            "Enter"
        } else {
            "run"
        };
        let text = vec![
            Line::from(Span::styled(p.what.clone(), t.style(Slot::Text))),
            Line::from(vec![
                Span::styled(format!("{deeper} · "), t.style(Slot::Muted)),
                Span::styled(p.next.clone(), t.style(Slot::Accent)),
            ]),
        ];
        f.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: true }).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(t.style(Slot::Border)),
            ),
            detail_area,
        );
    }
}

impl Model {
    /// A message that may change what the problems are: forget them, and draw again
    /// when the problems pane is on screen and the watch moved.
    pub(crate) fn on_problem_data(&mut self, msg: &Msg) {
        match msg {
            Msg::Cluster(_) => {
                self.problems_stale();
                if self.tab == Tab::Problems && self.routes.is_empty() {
                    self.dirty = true;
                }
            }
            Msg::Fetched(_) | Msg::CatalogLoaded(_) => self.problems_stale(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::problems::ProblemKind;
    use crate::tui::harness::Harness;

    #[tokio::test]
    async fn config_problems_are_one_toast_and_every_one_stays_in_the_pane() {
        let mut h = Harness::demo(80, 24).await.expect("demo platform opens");
        let before = h.model.toasts.len();
        let problems: Vec<String> = (1..=6)
            .map(|i| format!("/etc/sphere/keymap.toml: keys.k{i}: unknown command \"nope{i}\""))
            .collect();
        h.model.config_problems(problems);
        assert_eq!(h.model.toasts.len(), before + 1, "one toast, not six");
        assert!(
            h.model
                .toasts
                .last()
                .is_some_and(|t| t.text.contains("6 problems"))
        );
        let kept: Vec<&str> = h
            .model
            .problem_rows()
            .iter()
            .filter(|r| r.problem.kind == ProblemKind::Unreadable && r.problem.place == "config")
            .map(|r| r.problem.what.as_str())
            .filter(|w| w.starts_with("keymap.toml: keys.k"))
            .collect();
        assert_eq!(kept.len(), 6, "every problem is listed: {kept:?}");
    }
}
