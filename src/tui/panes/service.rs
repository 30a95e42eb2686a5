//! The service view: one service's catalog entry, live state, lifecycle, score and
//! links (opened with Enter from the catalog, the matrix or the pods).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use crate::config::theme::Slot;
use crate::domain::catalog::{Entity, Kind, RelationKind};
use crate::domain::service::ServiceRow;
use crate::domain::text::sanitize;
use crate::tui::command::Command;
use crate::tui::model::*;
use crate::tui::panes::catalog::*;

impl Model {
    /// The service view's text: `None` when the service left the catalog.
    pub(crate) fn service_text(&self, name: &str) -> Option<Text<'static>> {
        let entity = self
            .catalog
            .as_ref()
            .and_then(|c| c.find(Some(&Kind::Component), name))?;
        let row = &self.cat.rows[self.cat.row_index(name)?];
        Some(detail_text(self, entity, row, true))
    }

    /// The view scrolls no further than its last line at the bottom.
    pub(crate) fn settle_service(&mut self, body: Rect, name: &str) {
        // Its "running in" lines are the pods pane's workload rows, for this service.
        self.refresh_pods();
        let inner = Block::default().borders(Borders::ALL).inner(body);
        let lines = self.service_text(name).map_or(0, |t| t.lines.len());
        self.detail_scroll = (self.detail_scroll).min(lines.saturating_sub(inner.height as usize));
    }
}

pub(crate) fn draw_service(m: &Model, f: &mut Frame, area: Rect, name: &str) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(m.theme.style(Slot::BorderFocus))
        .title(Span::styled(
            format!(" {name} "),
            m.theme.style(Slot::Title),
        ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    match m.service_text(name) {
        Some(text) => {
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: false })
                    .scroll((m.detail_scroll as u16, 0)),
                inner,
            );
        }
        None => f.render_widget(
            Paragraph::new(format!("{name} is no longer in the catalog."))
                .style(m.theme.style(Slot::Muted)),
            inner,
        ),
    }
}

/// Description, links, relations and where it runs.
pub(crate) fn detail_text(m: &Model, e: &Entity, row: &ServiceRow, full: bool) -> Text<'static> {
    let t = &m.theme;
    let label = |s: &str| Span::styled(format!("{s:<12}"), t.style(Slot::Muted));
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::from(vec![
        Span::styled(row.name.to_string(), t.style(Slot::Title)),
        Span::styled(
            format!("  {} · {}", row.spec_type, row.lifecycle),
            t.style(Slot::Muted),
        ),
    ]));
    // The description wrapped when the rows arrived: at most three lines.
    if let Some(blurb) = m.cat.row_index(&row.name).and_then(|i| m.cat.blurbs.get(i)) {
        lines.extend(blurb.iter().map(|l| Line::from(l.clone())));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        label("owner"),
        Span::styled(row.owner.to_string(), t.style(Slot::Accent)),
    ]));
    if !row.system.is_empty() {
        lines.push(Line::from(vec![
            label("system"),
            Span::raw(row.system.to_string()),
        ]));
    }
    let (status, slot) = status_cell(&row.live, m.scope_known());
    lines.push(Line::from(vec![
        label("status"),
        Span::styled(status, t.style(slot)),
    ]));
    let rel = |kind: RelationKind, filter: Option<&Kind>| -> Vec<String> {
        e.related(kind)
            .filter(|r| filter.is_none_or(|k| &r.kind == k))
            .map(|r| sanitize(&r.name).into_owned())
            .collect()
    };
    let depends: Vec<String> = e
        .related(RelationKind::DependsOn)
        .filter(|r| r.kind != Kind::Resource)
        .map(|r| sanitize(&r.name).into_owned())
        .collect();
    let sections = [
        ("depends on", depends),
        ("used by", rel(RelationKind::DependencyOf, None)),
        ("provides", rel(RelationKind::ProvidesApi, None)),
        ("consumes", rel(RelationKind::ConsumesApi, None)),
        (
            "resources",
            rel(RelationKind::DependsOn, Some(&Kind::Resource)),
        ),
    ];
    for (name, items) in sections {
        if items.is_empty() {
            continue;
        }
        lines.push(Line::from(vec![label(name), Span::raw(items.join(", "))]));
    }
    // The full view lists links from the report (config templates and catalog).
    if !full && !e.links.is_empty() {
        lines.push(Line::default());
        for l in &e.links {
            let title = sanitize(l.title.as_deref().unwrap_or("link")).into_owned();
            lines.push(Line::from(vec![
                label(&title.chars().take(11).collect::<String>()),
                Span::styled(sanitize(&l.url).into_owned(), t.style(Slot::Info)),
            ]));
        }
    }
    if full {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            "running in",
            t.style(Slot::Muted).add_modifier(Modifier::BOLD),
        )));
        // Built when the data arrived (`refresh_pods`, run by the settle step).
        let workloads = (m.pods.shows(&row.name))
            .then_some(m.pods.workloads.as_deref())
            .flatten()
            .unwrap_or_default();
        for w in workloads {
            lines.push(Line::from(vec![
                Span::raw(format!("  {:<26}", w.cluster.to_string())),
                Span::raw(format!("{:<12}", w.version)),
                Span::raw(format!("{:>3}/{:<3} ", w.ready, w.desired)),
                Span::styled(w.state.0.clone(), t.style(w.state.1)),
            ]));
        }
    }
    if full {
        report_lines(m, &row.name, &mut lines);
    }
    Text::from(lines)
}

/// Locks, lifecycle stages, readiness and links of the open service.
pub(crate) fn report_lines(m: &Model, service: &str, lines: &mut Vec<Line<'static>>) {
    let t = &m.theme;
    let heading = |s: &str| {
        Line::from(Span::styled(
            s.to_string(),
            t.style(Slot::Muted).add_modifier(Modifier::BOLD),
        ))
    };
    let locks: Vec<_> = m
        .locks
        .iter()
        .filter(|l| l.service == service || l.service == crate::domain::Lock::ALL)
        .collect();
    if !locks.is_empty() {
        lines.push(Line::default());
        lines.push(heading("locks"));
        for l in locks {
            let where_ = format!(
                "{}/{}",
                l.env.as_deref().unwrap_or("every env"),
                l.region.as_deref().unwrap_or("every region")
            );
            lines.push(Line::from(vec![
                Span::styled("  ⊘ ", t.style(Slot::Locked)),
                Span::styled(format!("{where_:<28}"), t.style(Slot::Locked)),
                Span::raw(format!("{} — {}", sanitize(&l.by), sanitize(&l.reason))),
            ]));
        }
    }
    lines.push(Line::default());
    let r = match &m.report {
        Remote::Ready(r) if r.service == service => r,
        Remote::Failed(e) => {
            lines.push(Line::from(Span::styled(
                format!("lifecycle and readiness could not be read: {e}"),
                t.style(Slot::Error),
            )));
            return;
        }
        _ => {
            lines.push(Line::from(Span::styled(
                "reading lifecycle and readiness…",
                t.style(Slot::Muted),
            )));
            return;
        }
    };
    // What could not be read: those facts are unknown, and the stages and rules that
    // need them say so.
    for u in &r.facts.unread {
        lines.push(Line::from(Span::styled(
            format!("not read: {}: {}", sanitize(&u.source), sanitize(&u.reason)),
            t.style(Slot::Warn),
        )));
    }
    lines.push(heading("lifecycle"));
    for st in &r.stages {
        let (mark, slot) = if st.done {
            ("✓", Slot::Ok)
        } else {
            ("○", Slot::Warn)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {mark} "), t.style(slot)),
            Span::styled(format!("{:<16}", st.title), t.style(Slot::Text)),
            Span::styled(sanitize(&st.evidence).into_owned(), t.style(Slot::Muted)),
            Span::styled(format!("  ({})", st.source), t.style(Slot::Muted)),
        ]));
    }
    if let Some(next) = &r.next_step {
        lines.push(Line::from(vec![
            Span::styled("  next: ", t.style(Slot::Accent)),
            Span::raw(sanitize(next).into_owned()),
        ]));
    }
    if let Some(score) = &r.score {
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled(
                "readiness ",
                t.style(Slot::Muted).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                score.level.clone().unwrap_or_else(|| "no level".into()),
                t.style(if score.level.is_some() {
                    Slot::Accent
                } else {
                    Slot::Warn
                }),
            ),
            Span::styled(
                format!(
                    "  {}% ({} of {} rules)",
                    score.score, score.passed, score.total
                ),
                t.style(Slot::Muted),
            ),
        ]));
        for rule in &score.rules {
            let (mark, slot) = if rule.passed {
                ("✓", Slot::Ok)
            } else {
                ("✗", Slot::Error)
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {mark} "), t.style(slot)),
                Span::styled(
                    format!("{:<44} ", format!("{} ({})", rule.title, rule.level)),
                    t.style(Slot::Text),
                ),
                Span::styled(sanitize(&rule.why).into_owned(), t.style(Slot::Muted)),
            ]));
        }
    }
    if !r.links.is_empty() {
        lines.push(Line::default());
        lines.push(heading("links"));
        for l in &r.links {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<12}", sanitize(&l.name)), t.style(Slot::Muted)),
                Span::styled(sanitize(&l.url).into_owned(), t.style(Slot::Info)),
            ]));
        }
    }
}

// ---- The service view's keys.

impl Model {
    /// The service view's own commands: its scroll (`q`, `h`, Esc go back: the app's
    /// `back`). `None`: the app's.
    pub(crate) fn service_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        self.detail_scroll_command(cmd).then(Vec::new)
    }

    /// The moving keys scroll a detail view (the service view, the pod view) by a
    /// line, a page of ten, or to either end (`settle` stops it at the last line).
    pub(crate) fn detail_scroll_command(&mut self, cmd: &Command) -> bool {
        let s = self.detail_scroll;
        self.detail_scroll = match cmd {
            Command::Down => s + 1,
            Command::Up => s.saturating_sub(1),
            Command::PageDown => s + 10,
            Command::PageUp => s.saturating_sub(10),
            Command::Top => 0,
            Command::Bottom => usize::MAX / 2,
            _ => return false,
        };
        true
    }

    /// Enter on a service (the catalog's, the matrix's selected one): its view.
    pub(crate) fn open_focus(&mut self) -> Vec<Effect> {
        match self.focus() {
            Some(name) => self.open_service(name),
            None => vec![],
        }
    }

    /// Open the service view of `name`, and read its report.
    pub(crate) fn open_service(&mut self, name: String) -> Vec<Effect> {
        self.routes.push(Route::Service(name.clone()));
        self.detail_scroll = 0;
        self.report = Remote::NotAsked;
        // The view's reads, and its next poll a slow poll from now (not the poll the
        // pane below had due, which may be a second away).
        self.pane_reads()
    }

    /// `y`: choose one of the open service's links to copy.
    pub(crate) fn copy_link(&mut self) {
        let links: Vec<PaletteItem> = self
            .report
            .ready()
            .map(|r| {
                r.links
                    .iter()
                    .map(|l| PaletteItem {
                        label: format!("{}  {}", sanitize(&l.name), sanitize(&l.url)),
                        command: Command::CopyText(l.url.clone()),
                        keys: String::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if links.is_empty() {
            self.toast(Level::Info, "no links to copy here");
        } else {
            self.open_palette(PaletteState {
                items: links,
                title: " copy a link ".into(),
                ..PaletteState::default()
            });
        }
    }
}
