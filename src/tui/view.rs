//! Drawing. Reads the model (only the scroll offset is adjusted, as ratatui's own
//! stateful widgets do); builds widgets for visible rows only.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::actions::StepStatus;
use crate::config::keymap::format_keys;
use crate::config::theme::{Slot, Theme};
use crate::domain::catalog::{Entity, Kind, RelationKind};
use crate::domain::service::{Health, LiveStatus, ServiceRow};
use crate::domain::text::sanitize;

use super::catalog::{CatalogState, ViewItem};
use super::command::{Command, Context};
use super::model::{Level, Model, Overlay, Remote, Route, Tab};
use super::panes;

/// Smaller than this and sphere asks for a bigger terminal instead of drawing.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;
/// From this width the catalog shows system and lifecycle columns.
const WIDE: u16 = 100;
/// From this width the catalog shows the detail panel beside the table.
const SIDE_PANEL: u16 = 140;

pub fn draw(m: &mut Model, f: &mut Frame) {
    let area = f.area();
    let base = m.theme.style(Slot::Text);
    f.render_widget(Block::default().style(base), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small ({}x{}).\nsphere needs {MIN_WIDTH}x{MIN_HEIGHT}.",
            area.width, area.height
        );
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .style(m.theme.style(Slot::Warn)),
            area,
        );
        return;
    }
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(m, f, header);
    draw_tabs(m, f, tabs);
    match (m.routes.last().cloned(), m.tab) {
        (Some(Route::Service(name)), _) => draw_service(m, f, body, &name),
        (None, Tab::Catalog) => draw_catalog(m, f, body),
        (None, Tab::Deployments) => panes::draw_matrix(m, f, body),
        (None, Tab::Pods) => panes::draw_pods(m, f, body),
        (None, Tab::Audit) => panes::draw_audit(m, f, body),
        (None, Tab::Secrets) => panes::draw_secrets(m, f, body),
        (None, Tab::Flags) => panes::draw_flags(m, f, body),
    }
    draw_footer(m, f, footer);
    draw_progress(m, f, body);
    draw_toasts(m, f, body);
    match &m.overlay {
        Some(Overlay::Help { scroll }) => draw_help(m, f, area, *scroll),
        Some(Overlay::Palette(_)) => draw_palette(m, f, area),
        Some(Overlay::Form) => {
            if let Some(form) = &m.form {
                form.draw(&m.theme, f, area);
            }
        }
        Some(Overlay::Prompt(p)) => {
            // A secret value is typed masked: never drawn.
            let shown = if p.then.masked() {
                "•".repeat(p.input.chars().count())
            } else {
                p.input.clone()
            };
            draw_question(
                m,
                f,
                area,
                " action ",
                vec![Line::from(sanitize(&p.title).into_owned())],
                Some(&shown),
            )
        }
        Some(Overlay::Confirm(c)) => {
            let t = &m.theme;
            let mut lines = vec![Line::from(Span::styled(
                c.action.describe(),
                t.style(Slot::Warn).add_modifier(Modifier::BOLD),
            ))];
            let (ask, input) = match &c.confirm {
                crate::actions::Confirm::TypeToConfirm(word) => (
                    format!("This touches production or everything: type {word} and press Enter."),
                    Some(&c.input),
                ),
                _ => ("Go ahead? y / Enter: yes · n / Esc: no".to_string(), None),
            };
            lines.push(Line::from(Span::styled(ask, t.style(Slot::Text))));
            draw_question(m, f, area, " confirm ", lines, input)
        }
        None => {}
    }
}

fn draw_header(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let sep = Span::styled(" │ ", t.style(Slot::Muted));
    let mut left = vec![
        Span::styled(" sphere ", t.style(Slot::Title)),
        sep.clone(),
        Span::styled(
            if m.demo && m.platform_name != "demo" {
                format!("{} (demo)", m.platform_name)
            } else {
                m.platform_name.clone()
            },
            t.style(Slot::Accent),
        ),
        sep.clone(),
        Span::styled(m.user.clone(), t.style(Slot::Text)),
        sep,
        Span::styled(
            if m.policy.read_only {
                "READ-ONLY ".to_string()
            } else if !m.policy.read_only_envs.is_empty() {
                format!("read-only: {} ", m.policy.read_only_envs.join(","))
            } else {
                String::new()
            },
            t.style(Slot::Error)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::styled("scope ", t.style(Slot::Muted)),
        Span::styled(m.scope.to_string(), t.style(Slot::Accent)),
    ];
    // An incident lock on everything and the merge freeze hold for every service:
    // said once here, whatever the pane.
    let everything_holders = m
        .locks
        .iter()
        .filter(|l| l.service == crate::domain::Lock::ALL && l.env.is_none() && l.region.is_none())
        .count();
    let mut flags = Vec::new();
    if everything_holders > 0 {
        flags.push(Span::styled(
            "⊘ ALL LOCKED",
            t.style(Slot::Locked)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        // Held by more than one: each holder's unlock removes only their own.
        if everything_holders > 1 {
            flags.push(Span::styled(
                format!("×{everything_holders}"),
                t.style(Slot::Locked).add_modifier(Modifier::BOLD),
            ));
        }
        flags.push(Span::raw(" "));
    }
    if m.access_waiting > 0 {
        flags.push(Span::styled(
            format!("⚑ {} access", m.access_waiting),
            t.style(Slot::Warn).add_modifier(Modifier::BOLD),
        ));
        flags.push(Span::raw(" "));
    }
    if m.freeze.on {
        flags.push(Span::styled(
            "❄ FREEZE",
            t.style(Slot::Warn)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        flags.push(Span::raw(" "));
    }
    if let Some(n) = &m.notice {
        flags.push(Span::styled(
            format!("⚠ {n}"),
            t.style(Slot::Warn).add_modifier(Modifier::BOLD),
        ));
        flags.push(Span::raw(" "));
    }
    // Before the scope, which is the first to go when the line is too narrow.
    let at = left.len() - 2;
    left.splice(at..at, flags);
    let clusters = m.topology.cluster_count();
    let synced = m.live.synced.len();
    let (text, slot) = if !m.live.unreachable.is_empty() {
        (
            format!("{} clusters unreachable ", m.live.unreachable.len()),
            Slot::Error,
        )
    } else if synced < clusters {
        (format!("syncing {synced}/{clusters} "), Slot::Pending)
    } else {
        (format!("● live {clusters} clusters "), Slot::Ok)
    };
    // Too narrow: drop the word "scope", then the words of the lock and freeze marks
    // (their signs stay), then the cluster count, then the scope.
    let width = area.width as usize;
    let used = |l: &[Span]| l.iter().map(|s| s.width()).sum::<usize>();
    let mut text = text;
    if used(&left) + text.chars().count() + 1 > width {
        left.retain(|s| s.content != "scope ");
    }
    if used(&left) + text.chars().count() + 1 > width {
        for s in left.iter_mut() {
            if s.content == "⊘ ALL LOCKED" {
                s.content = "⊘ ALL".into();
            } else if s.content == "❄ FREEZE" {
                s.content = "❄".into();
            } else if s.content.starts_with("⚠ ") {
                s.content = "⚠".into();
            }
        }
    }
    if used(&left) + text.chars().count() + 1 > width {
        text = text.replace(&format!(" {clusters} clusters"), "");
    }
    if used(&left) + text.chars().count() + 1 > width {
        left.pop();
    }
    let right = Line::from(Span::styled(text, t.style(slot))).alignment(Alignment::Right);
    f.render_widget(
        Paragraph::new(Line::from(left)).style(t.style(Slot::Header)),
        area,
    );
    // Only the cells the sync state covers: a paragraph style over the whole line would
    // paint every span of the left part in the header's colour (READ-ONLY included).
    let right_w = (right.width() as u16).min(area.width);
    let right_area = Rect::new(area.right() - right_w, area.y, right_w, 1);
    f.render_widget(
        Paragraph::new(right).style(t.style(Slot::Header)),
        right_area,
    );
}

fn draw_tabs(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let mut spans = Vec::new();
    // A kept filter stays in sight: what the pane (and the matrix's drift summary)
    // counts is only what it matches.
    let filter_note = if m.routes.is_empty() && !m.editing() {
        let (filter, count) = if matches!(m.tab, Tab::Catalog | Tab::Deployments) {
            (
                m.cat.filter.trim(),
                format!(" {} of {}", m.cat.matched, m.cat.rows.len()),
            )
        } else {
            (m.pane_filter.trim(), String::new())
        };
        (!filter.is_empty()).then(|| format!(" /{}{count} ", sanitize(filter)))
    } else {
        None
    };
    let note_w = filter_note.as_ref().map_or(0, |n| n.chars().count() + 2);
    let full: usize = Tab::ALL.iter().map(|t| t.title().len() + 4).sum::<usize>();
    let narrow = full + note_w > area.width as usize;
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let title = if narrow && *tab != m.tab {
            &tab.title()[..3]
        } else {
            tab.title()
        };
        let style = if *tab == m.tab {
            t.style(Slot::TabActive)
        } else {
            t.style(Slot::Tab)
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, title), style));
    }
    if let Some(Route::Service(name)) = m.routes.last() {
        spans.push(Span::styled(" › ", t.style(Slot::Muted)));
        spans.push(Span::styled(name.clone(), t.style(Slot::Accent)));
    } else if let Some(note) = filter_note {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            note,
            t.style(Slot::Warn).add_modifier(Modifier::REVERSED),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    if m.editing() {
        let (text, count) = if m.pane_editing {
            (m.pane_filter.clone(), String::new())
        } else {
            (
                m.cat.filter.clone(),
                format!("  {} of {}", m.cat.matched, m.cat.rows.len()),
            )
        };
        let line = Line::from(vec![
            Span::styled("/", t.style(Slot::KeyHint)),
            Span::styled(text, t.style(Slot::Text)),
            Span::styled("▏", t.style(Slot::Accent)),
            Span::styled(count, t.style(Slot::Muted)),
            Span::styled("  enter keep · esc clear", t.style(Slot::Muted)),
        ]);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut spans = Vec::new();
    let pending = m.keys.pending();
    if !pending.is_empty() {
        let seq: Vec<String> = pending.iter().map(|k| k.to_string()).collect();
        spans.push(Span::styled(
            format!("{} … ", seq.join(" ")),
            t.style(Slot::Pending),
        ));
    }
    let mut width: usize = spans.iter().map(|s: &Span| s.width()).sum();
    let sections = m.sections();
    for (command, label) in footer_context(m).footer() {
        let Some(keys) = first_key(m, &sections, &command) else {
            continue;
        };
        let w = keys.chars().count() + label.chars().count() + 3;
        if width + w > area.width as usize {
            break;
        }
        width += w;
        spans.push(Span::styled(keys, t.style(Slot::KeyHint)));
        spans.push(Span::styled(format!(" {label}  "), t.style(Slot::Muted)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The URLs the current screen shows, to be made clickable (OSC 8).
pub fn visible_urls(m: &Model) -> Vec<String> {
    match (m.routes.last(), &m.report) {
        (Some(Route::Service(s)), Remote::Ready(r)) if r.service == *s => r
            .links
            .iter()
            .map(|l| sanitize(&l.url).into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// Where the footer's hints come from now (see [`Context::footer`]): the keys come
/// from the keymap, so a rebinding shows there too.
fn footer_context(m: &Model) -> Context {
    match (&m.overlay, m.routes.last(), m.tab) {
        (Some(Overlay::Help { .. }), _, _) => Context::Help,
        (Some(Overlay::Palette(_)), _, _) => Context::Palette,
        (Some(Overlay::Form), _, _) => Context::Form,
        (Some(Overlay::Prompt(_) | Overlay::Confirm(_)), _, _) => Context::Question,
        (None, Some(_), _) => Context::Service,
        (None, None, Tab::Catalog) => Context::Catalog,
        (None, None, Tab::Secrets) => Context::Secrets,
        (None, None, Tab::Flags) => Context::Flags,
        (None, None, Tab::Deployments) => Context::Deployments,
        (None, None, Tab::Pods) => Context::Pods,
        (None, None, _) => Context::Other,
    }
}

/// The first key bound to `command` in the active sections.
fn first_key(m: &Model, sections: &[&str], command: &Command) -> Option<String> {
    // The keymap holds commands as written, checked against the registry at load.
    let run = command.to_string();
    sections
        .iter()
        .flat_map(|s| m.keymap.section(s))
        .find(|b| b.run == run)
        .map(|b| format_keys(&b.on))
}

fn draw_catalog(m: &mut Model, f: &mut Frame, area: Rect) {
    if m.catalog.is_none() {
        let text = match &m.catalog_error {
            Some(e) => format!("The catalog could not be loaded: {e}"),
            None => "Loading the catalog…".to_string(),
        };
        f.render_widget(
            Paragraph::new(text)
                .style(m.theme.style(Slot::Muted))
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let (table_area, side) = if area.width >= SIDE_PANEL {
        let [a, b] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    draw_catalog_table(m, f, table_area);
    if let Some(side) = side {
        let entity = m
            .cat
            .selected_row()
            .and_then(|r| m.catalog.as_ref()?.find(Some(&Kind::Component), &r.name))
            .cloned();
        let block = Block::default()
            .borders(Borders::LEFT)
            .border_style(m.theme.style(Slot::Border));
        let inner = block.inner(side);
        f.render_widget(block, side);
        if let (Some(e), Some(row)) = (entity, m.cat.selected_row().cloned()) {
            f.render_widget(
                Paragraph::new(detail_text(m, &e, &row, false)).wrap(Wrap { trim: false }),
                inner,
            );
        }
    }
}

fn draw_catalog_table(m: &mut Model, f: &mut Frame, area: Rect) {
    let wide = area.width >= WIDE;
    let height = area.height.saturating_sub(1) as usize;
    let known = m.scope_known();
    m.cat.refresh_view();
    m.cat.scroll_into_view(height);
    let t = &m.theme;
    let sort = m.cat.sort.label();
    let arrow = if m.cat.reverse { "▲" } else { "▼" };
    let head = |label: &'static str| -> Cell<'static> {
        if label == sort {
            Cell::from(format!("{label}{arrow}"))
        } else {
            Cell::from(label)
        }
    };
    let mut headers = vec![head("name"), head("owner")];
    let mut widths = vec![Constraint::Fill(3), Constraint::Fill(2)];
    if wide {
        headers.push(head("system"));
        widths.push(Constraint::Fill(2));
    }
    headers.push(head("type"));
    widths.push(Constraint::Length(8));
    if wide {
        headers.push(head("lifecycle"));
        widths.push(Constraint::Length(12));
    }
    headers.push(head("regions"));
    widths.push(Constraint::Length(7));
    headers.push(head("status"));
    widths.push(Constraint::Length(17));

    let end = (m.cat.offset + height).min(m.cat.view.len());
    let visible: Vec<ViewItem> = m.cat.view[m.cat.offset..end].to_vec();
    let mut rows = Vec::with_capacity(visible.len());
    for (i, item) in visible.iter().enumerate() {
        let selected = m.cat.offset + i == m.cat.selected;
        match item {
            ViewItem::Group { label, count } => {
                rows.push(
                    Row::new(vec![Cell::from(Line::from(vec![
                        Span::styled(format!("▾ {label}"), m.theme.style(Slot::Accent)),
                        Span::styled(format!(" ({count})"), m.theme.style(Slot::Muted)),
                    ]))])
                    .style(m.theme.style(Slot::Header)),
                );
            }
            ViewItem::Row(idx) => {
                let r = m.cat.rows[*idx].clone();
                let name = highlighted(&mut m.cat, &m.theme, &r.name);
                let t = &m.theme;
                let mut cells = vec![Cell::from(name), Cell::from(r.owner.to_string())];
                if wide {
                    cells.push(Cell::from(r.system.to_string()));
                }
                cells.push(Cell::from(r.spec_type.to_string()));
                if wide {
                    cells.push(Cell::from(r.lifecycle.to_string()));
                }
                cells.push(Cell::from(regions_cell(&r.live, &m.topology.regions)));
                let (text, slot) = status_cell(&r.live, known);
                cells.push(Cell::from(Span::styled(text, t.style(slot))));
                let mut row = Row::new(cells);
                if selected {
                    row = row.style(t.style(Slot::Selection));
                }
                rows.push(row);
            }
        }
    }
    let table = Table::new(rows, widths)
        .header(Row::new(headers).style(t.style(Slot::Muted).add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    f.render_widget(table, area);
    if m.cat.view.is_empty() {
        let msg = if m.cat.rows.is_empty() {
            "The catalog has no components.".to_string()
        } else {
            format!("Nothing matches “{}”. Esc clears the filter.", m.cat.filter)
        };
        let [_, below] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        f.render_widget(Paragraph::new(msg).style(t.style(Slot::Muted)), below);
    }
}

/// The name with the filter's matched characters highlighted.
fn highlighted(cat: &mut CatalogState, theme: &Theme, name: &str) -> Line<'static> {
    let idx = cat.match_indices(name);
    if idx.is_empty() {
        return Line::from(name.to_string());
    }
    let hl = theme.style(Slot::Match);
    let spans: Vec<Span> = name
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if idx.binary_search(&(i as u32)).is_ok() {
                Span::styled(c.to_string(), hl)
            } else {
                Span::raw(c.to_string())
            }
        })
        .collect();
    Line::from(spans)
}

/// One dot per region in topology order (filled where deployed), or a count when
/// there are too many regions for dots.
fn regions_cell(live: &LiveStatus, all: &[String]) -> String {
    if all.len() <= 6 {
        all.iter()
            .map(|r| {
                if live.regions.iter().any(|x| x == r) {
                    '●'
                } else {
                    '○'
                }
            })
            .collect()
    } else {
        format!("{}/{}", live.regions.len(), all.len())
    }
}

/// A service's status; nothing seen in scope is "not deployed" only once every cluster
/// in scope has listed its workloads (`known`), else it is not known yet.
fn status_cell(live: &LiveStatus, known: bool) -> (String, Slot) {
    match live.health() {
        Health::Absent if !known => ("? unknown".into(), Slot::Muted),
        Health::Absent => ("– not deployed".into(), Slot::Muted),
        Health::Healthy => (format!("✓ {}/{}", live.ready, live.desired), Slot::Ok),
        Health::Rolling => (
            format!("⟳ rolling {}/{}", live.ready, live.desired),
            Slot::Pending,
        ),
        Health::Degraded => (
            format!("! {}/{} ready", live.ready, live.desired),
            Slot::Warn,
        ),
        Health::CrashLoop => (format!("✗ crashloop ×{}", live.crash_looping), Slot::Error),
    }
}

fn draw_service(m: &mut Model, f: &mut Frame, area: Rect, name: &str) {
    let entity = m
        .catalog
        .as_ref()
        .and_then(|c| c.find(Some(&Kind::Component), name))
        .cloned();
    let row = m.cat.row_index(name).map(|i| m.cat.rows[i].clone());
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
    match (entity, row) {
        (Some(e), Some(r)) => {
            let text = detail_text(m, &e, &r, true);
            let max = text.lines.len().saturating_sub(inner.height as usize);
            m.detail_scroll = m.detail_scroll.min(max);
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: false })
                    .scroll((m.detail_scroll as u16, 0)),
                inner,
            );
        }
        _ => f.render_widget(
            Paragraph::new(format!("{name} is no longer in the catalog."))
                .style(m.theme.style(Slot::Muted)),
            inner,
        ),
    }
}

/// Description, links, relations and where it runs.
fn detail_text(m: &Model, e: &Entity, row: &ServiceRow, full: bool) -> Text<'static> {
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
    if !row.description.is_empty() {
        lines.push(Line::from(row.description.to_string()));
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
        if let Some(live) = m.live.service(&row.name) {
            for d in live.deployments().filter(|d| m.scope.contains(d.cluster)) {
                let cluster = d.cluster;
                let crash = live.crash_loops(cluster);
                let (state, slot) = panes::deployment_state(&d, crash);
                lines.push(Line::from(vec![
                    Span::raw(format!("  {:<26}", cluster.to_string())),
                    Span::raw(format!("{:<12}", sanitize(d.version))),
                    Span::raw(format!("{:>3}/{:<3} ", d.ready, d.desired)),
                    Span::styled(state, t.style(slot)),
                ]));
            }
        }
    }
    if full {
        report_lines(m, &row.name, &mut lines);
    }
    Text::from(lines)
}

/// Locks, lifecycle stages, readiness and links of the open service.
fn report_lines(m: &Model, service: &str, lines: &mut Vec<Line<'static>>) {
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

/// The golden path's steps, top right of the body, ticking as each one ends.
fn draw_progress(m: &Model, f: &mut Frame, body: Rect) {
    let Some(p) = &m.progress else { return };
    let t = &m.theme;
    let width = 100.min(body.width.saturating_sub(2));
    let height = (p.steps.len() as u16 + 2).min(body.height);
    if width < 20 || height < 3 {
        return;
    }
    let area = Rect::new(
        body.right().saturating_sub(width + 1),
        body.y,
        width,
        height,
    );
    let running = p.running();
    let lines: Vec<Line> = p
        .steps
        .iter()
        .map(|(step, status, detail)| {
            let (mark, slot, note) = match status {
                Some(StepStatus::Done) => ("✓", Slot::Ok, detail.clone()),
                Some(StepStatus::AlreadyDone) => ("✓", Slot::Muted, "already done".to_string()),
                Some(StepStatus::Skipped) => ("–", Slot::Muted, "skipped".to_string()),
                Some(StepStatus::Failed(e)) => ("✗", Slot::Error, e.clone()),
                None if running == Some(*step) => ("⟳", Slot::Pending, "running…".to_string()),
                None => ("·", Slot::Muted, String::new()),
            };
            Line::from(vec![
                Span::styled(format!(" {mark} "), t.style(slot)),
                // The step's short name is the one `--from-step` takes.
                Span::styled(format!("{:<11}", step.as_str()), t.style(Slot::Text)),
                Span::styled(sanitize(&note).into_owned(), t.style(Slot::Muted)),
            ])
        })
        .collect();
    let (title, slot) = match &p.outcome {
        None => (format!(" creating {} ", p.service), Slot::Pending),
        Some(Ok(_)) => (format!(" {} created ✓ ", p.service), Slot::Ok),
        Some(Err(_)) => (
            format!(" {} stopped · palette: retry · Esc ", p.service),
            Slot::Error,
        ),
    };
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(t.style(slot))
                .title(Span::styled(sanitize(&title).into_owned(), t.style(slot))),
        ),
        area,
    );
}

fn draw_toasts(m: &Model, f: &mut Frame, body: Rect) {
    let mut y = body.bottom();
    for toast in m.toasts.iter().rev() {
        let width = (toast.text.chars().count() as u16 + 4).min(body.width.saturating_sub(2));
        let inner = width.saturating_sub(2).max(1);
        let lines = (toast.text.chars().count() as u16).div_ceil(inner).max(1);
        let h = (lines + 2).min(5);
        if y < body.y + h {
            break;
        }
        y -= h;
        let area = Rect::new(body.right().saturating_sub(width + 1), y, width, h);
        let slot = match toast.level {
            Level::Error => Slot::ToastError,
            Level::Info => Slot::ToastInfo,
        };
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(toast.text.clone())
                .wrap(Wrap { trim: true })
                .style(m.theme.style(slot))
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_type(BorderType::Rounded)
                        .border_style(m.theme.style(slot)),
                ),
            area,
        );
    }
}

fn draw_help(m: &Model, f: &mut Frame, area: Rect, scroll: usize) {
    let t = &m.theme;
    let mut lines: Vec<Line> = Vec::new();
    for section in [
        "global", "list", "catalog", "matrix", "pods", "secrets", "flags", "detail", "filter",
        "palette", "prompt", "confirm", "help",
    ] {
        let bindings = m.keymap.section(section);
        if bindings.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::default());
        }
        lines.push(Line::from(Span::styled(
            section.to_string(),
            t.style(Slot::Title),
        )));
        // One line per command, its keys joined; `pane:N` folded into one line.
        let mut seen: Vec<&str> = Vec::new();
        for b in bindings {
            let pane = matches!(Command::parse(&b.run), Ok(Command::Pane(_)));
            let run = if pane { "pane:N" } else { b.run.as_str() };
            if run == "noop" || seen.contains(&run) {
                continue;
            }
            seen.push(run);
            let (keys, desc) = if run == "pane:N" {
                let n = Tab::ALL.len();
                (format!("1…{n}"), "Go to pane N".to_string())
            } else {
                let keys: Vec<String> = bindings
                    .iter()
                    .filter(|x| x.run == b.run)
                    .map(|x| format_keys(&x.on))
                    .collect();
                (keys.join(" "), b.desc.clone())
            };
            // Always a space between the keys and what they do: a long key list
            // gets its own line.
            if keys.chars().count() > 18 {
                lines.push(Line::from(Span::styled(
                    format!("  {keys}"),
                    t.style(Slot::KeyHint),
                )));
                lines.push(Line::from(vec![
                    Span::raw(format!("  {:<18} ", "")),
                    Span::styled(desc, t.style(Slot::Text)),
                ]));
                continue;
            }
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<18} "), t.style(Slot::KeyHint)),
                Span::styled(desc, t.style(Slot::Text)),
            ]));
        }
    }
    let popup = centered(area, 72, area.height.saturating_sub(4));
    let inner_h = popup.height.saturating_sub(2) as usize;
    let max_scroll = lines.len().saturating_sub(inner_h);
    let scroll = scroll.min(max_scroll);
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).scroll((scroll as u16, 0)).block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(t.style(Slot::BorderFocus))
                .title(Span::styled(" keys ", t.style(Slot::Title)))
                .title_bottom(Line::from(Span::styled(
                    " j/k scroll · esc close ",
                    t.style(Slot::Muted),
                ))),
        ),
        popup,
    );
}

fn draw_palette(m: &Model, f: &mut Frame, area: Rect) {
    let Some(Overlay::Palette(p)) = &m.overlay else {
        return;
    };
    let t = &m.theme;
    let width = if p.wide { 110 } else { 70 }.min(area.width.saturating_sub(4));
    let height = 14.min(area.height.saturating_sub(4));
    let popup = Rect::new(area.x + (area.width - width) / 2, area.y + 2, width, height);
    f.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(t.style(Slot::BorderFocus))
        .title(Span::styled(
            if p.title.is_empty() {
                " command ".to_string()
            } else {
                p.title.clone()
            },
            t.style(Slot::Title),
        ));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let [input, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(":", t.style(Slot::KeyHint)),
            Span::raw(p.input.clone()),
            Span::styled("▏", t.style(Slot::Accent)),
        ])),
        input,
    );
    let h = list.height as usize;
    let offset = p.selected.saturating_sub(h.saturating_sub(1));
    let keys_w: u16 = if p.items(&m.palette).iter().any(|i| !i.keys.is_empty()) {
        12
    } else {
        0
    };
    // A label longer than its column ends in "…" rather than mid-word.
    let label_w = usize::from(list.width.saturating_sub(keys_w + 1)).max(1);
    let fit = |label: &str| -> String {
        if label.chars().count() <= label_w {
            label.to_string()
        } else {
            let mut s: String = label.chars().take(label_w.saturating_sub(1)).collect();
            s.push('…');
            s
        }
    };
    let rows: Vec<Row> = p
        .matches
        .iter()
        .skip(offset)
        .take(h)
        .enumerate()
        .filter_map(|(i, &idx)| {
            let it = p.items(&m.palette).get(idx)?;
            let row = Row::new(vec![
                Cell::from(fit(&it.label)),
                Cell::from(Span::styled(it.keys.clone(), t.style(Slot::KeyHint))),
            ]);
            Some(if offset + i == p.selected {
                row.style(t.style(Slot::Selection))
            } else {
                row
            })
        })
        .collect();
    f.render_widget(
        Table::new(rows, [Constraint::Fill(1), Constraint::Length(keys_w)]),
        list,
    );
}

/// A small box over the screen: a question and, when it wants text, the input line.
fn draw_question(
    m: &Model,
    f: &mut Frame,
    area: Rect,
    title: &'static str,
    mut lines: Vec<Line<'static>>,
    input: Option<&String>,
) {
    let t = &m.theme;
    if let Some(text) = input {
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled("› ", t.style(Slot::KeyHint)),
            Span::raw(text.clone()),
            Span::styled("▏", t.style(Slot::Accent)),
        ]));
    }
    let height = lines.len() as u16 + 4;
    let popup = centered(area, 76, height);
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(t.style(Slot::BorderFocus))
                .title(Span::styled(title, t.style(Slot::Title))),
        ),
        popup,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
