//! The palette layer: the `:` command palette (built from the command registry) and
//! the choosers that reuse it (rollback target, lock place, links, access requests).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Clear, Paragraph, Row, Table};

use crate::config::keymap::format_keys;
use crate::config::theme::Slot;
use crate::tui::command::*;
use crate::tui::model::*;
use crate::tui::panes::catalog::{Grouping, SortColumn};
use nucleo_matcher::Utf32Str;
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};

pub(crate) fn draw_palette(m: &Model, f: &mut Frame, area: Rect) {
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

impl Model {
    /// The `:` palette, from the command registry: the commands a key of the global,
    /// catalog, list or service-view sections runs (with the key and its desc), then
    /// those the registry always offers, their arguments spelled out.
    pub(crate) fn build_palette(&self) -> Vec<PaletteItem> {
        use crate::tui::command::{Arg, InPalette, REGISTRY};
        let mut items: Vec<PaletteItem> = Vec::new();
        for section in ["global", "catalog", "list", "detail"] {
            for b in self.keymap.section(section) {
                let Ok(command) = Command::parse(&b.run) else {
                    continue;
                };
                let offered = command
                    .spec()
                    .is_some_and(|s| s.palette != InPalette::No && s.arg != Arg::Pane);
                if !offered || items.iter().any(|i| i.command == command) {
                    continue;
                }
                items.push(PaletteItem {
                    label: b.desc.clone(),
                    command,
                    keys: format_keys(&b.on),
                });
            }
        }
        // A command a key already runs is listed once, with its key.
        let mut add = |label: String, command: Command| {
            if items.iter().any(|i| i.command == command) {
                return;
            }
            items.push(PaletteItem {
                label,
                command,
                keys: String::new(),
            })
        };
        for spec in REGISTRY.iter().filter(|s| s.palette == InPalette::Always) {
            match spec.arg {
                Arg::Pane => {
                    for (i, t) in Tab::ALL.iter().enumerate() {
                        add(
                            format!("Go to the {} pane", t.title()),
                            Command::Pane(i + 1),
                        );
                    }
                }
                Arg::Scope => {
                    for e in &self.topology.environments {
                        add(
                            format!("Scope: environment {e}"),
                            Command::Scope(ScopeArg::Env(e.clone())),
                        );
                    }
                    for r in &self.topology.regions {
                        add(
                            format!("Scope: region {r}"),
                            Command::Scope(ScopeArg::Region(r.clone())),
                        );
                    }
                    add("Scope: everything".into(), Command::Scope(ScopeArg::Clear));
                }
                Arg::Group => {
                    for g in [Grouping::None, Grouping::Owner, Grouping::System] {
                        add(format!("{} {}", spec.desc, g.label()), Command::Group(g));
                    }
                }
                Arg::Sort => {
                    for c in SortColumn::ALL {
                        add(format!("{} {}", spec.desc, c.label()), Command::Sort(c));
                    }
                }
                Arg::None => {
                    if let Ok(c) = Command::parse(spec.name) {
                        add(spec.desc.to_string(), c);
                    }
                }
            }
        }
        items
    }

    pub(crate) fn refilter_palette(&mut self) {
        let Some(Overlay::Palette(p)) = &mut self.overlay else {
            return;
        };
        let pattern = Pattern::parse(&p.input, CaseMatching::Smart, Normalization::Smart);
        let mut buf = Vec::new();
        let mut scored: Vec<(usize, u32)> = p
            .items(&self.palette)
            .iter()
            .enumerate()
            .filter_map(|(i, it)| {
                let hay = format!("{} {}", it.label, it.command);
                pattern
                    .score(Utf32Str::new(&hay, &mut buf), &mut self.matcher)
                    .map(|s| (i, s))
            })
            .collect();
        if !p.input.is_empty() {
            scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        p.matches = scored.into_iter().map(|(i, _)| i).collect();
        p.selected = p.selected.min(p.matches.len().saturating_sub(1));
    }
}
