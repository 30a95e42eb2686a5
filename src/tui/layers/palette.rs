//! The palette layer: the `:` command palette (built from the command registry) and
//! the choosers that reuse it (rollback target, lock place, links, access requests).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Clear, Paragraph, Row, Table};

use crate::config::keymap::format_keys;
use crate::config::theme::Slot;
use crate::tui::command::*;
use crate::tui::layers::Layer;
use crate::tui::model::*;
use crate::tui::panes::catalog::{Grouping, SortColumn};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Matcher, Utf32Str};

use super::{After, Ctx, Input, Step, passes_every_layer};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaletteState {
    pub input: String,
    pub selected: usize,
    /// Indices into the palette's items that match the input, best first.
    pub matches: Vec<usize>,
    /// A chooser of its own (links to copy, ...); empty for the command palette.
    pub items: Vec<PaletteItem>,
    pub title: String,
    /// Drawn as wide as the screen allows (up to 110 columns): its items are long
    /// lines (the access requests waiting for a decision).
    pub wide: bool,
}

/// One entry of the `:` palette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaletteItem {
    pub label: String,
    pub command: Command,
    pub keys: String,
}

impl PaletteState {
    /// The item list this palette chooses from.
    pub fn items<'a>(&'a self, commands: &'a [PaletteItem]) -> &'a [PaletteItem] {
        if self.items.is_empty() {
            commands
        } else {
            &self.items
        }
    }

    /// The palette takes every key: its moves, Enter, close, and text; it passes only
    /// what changes nothing under it (suspend, redraw).
    pub(crate) fn on_input(&mut self, input: &Input, ctx: &mut Ctx) -> Step {
        use Command as C;
        let cmd = match input {
            Input::Key(ev) => {
                if super::edit_line(&mut self.input, ev) {
                    self.refilter(ctx);
                }
                return Step::Consumed(vec![]);
            }
            Input::Command(cmd) => cmd,
        };
        match cmd {
            C::Down => {
                self.selected = (self.selected + 1).min(self.matches.len().saturating_sub(1))
            }
            C::Up => self.selected = self.selected.saturating_sub(1),
            C::Back | C::Quit | C::Close => return Step::Close(After::Nothing),
            C::Open | C::PaletteRun => {
                let chosen = self
                    .matches
                    .get(self.selected)
                    .and_then(|&i| self.items(ctx.commands).get(i))
                    .map(|it| it.command.clone());
                // Leaving the app from the palette takes the word typed out, never a
                // bare Enter on the first entry or a fuzzy match.
                let typed_quit = self.input.trim().eq_ignore_ascii_case("quit");
                if chosen == Some(C::Quit) && !typed_quit {
                    return Step::Then(After::Toast(Level::Info, "type quit to leave sphere"));
                }
                return Step::Close(chosen.map_or(After::Nothing, After::Run));
            }
            c if passes_every_layer(c) => return Step::Pass,
            _ => {}
        }
        Step::Consumed(vec![])
    }

    /// Match the items against the input, best first.
    pub(crate) fn refilter(&mut self, ctx: &mut Ctx) {
        refilter(self, ctx.commands, ctx.matcher);
    }
}

fn refilter(p: &mut PaletteState, commands: &[PaletteItem], matcher: &mut Matcher) {
    let pattern = Pattern::parse(&p.input, CaseMatching::Smart, Normalization::Smart);
    let mut buf = Vec::new();
    let mut scored: Vec<(usize, u32)> = p
        .items(commands)
        .iter()
        .enumerate()
        .filter_map(|(i, it)| {
            let hay = format!("{} {}", it.label, it.command);
            pattern
                .score(Utf32Str::new(&hay, &mut buf), matcher)
                .map(|s| (i, s))
        })
        .collect();
    if !p.input.is_empty() {
        scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    p.matches = scored.into_iter().map(|(i, _)| i).collect();
    p.selected = p.selected.min(p.matches.len().saturating_sub(1));
}

pub(crate) fn draw_palette(m: &Model, p: &PaletteState, f: &mut Frame, area: Rect) {
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

    /// Open a palette (the `:` one when `p` has no items of its own) on top.
    pub(crate) fn open_palette(&mut self, mut p: PaletteState) {
        refilter(&mut p, &self.palette, &mut self.matcher);
        self.layers.push(Layer::Palette(p));
    }

    /// Match the palette on top again (its input changed outside a key: a paste, Ctrl-U).
    pub(crate) fn refilter_palette(&mut self) {
        if let Some(p) = self.layers.palette_mut() {
            refilter(p, &self.palette, &mut self.matcher);
        }
    }
}
