//! The help layer: every key of the keymap by section.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use crate::config::keymap::format_keys;
use crate::config::theme::Slot;
use crate::tui::command::*;
use crate::tui::format::wrap_words;
use crate::tui::model::*;
use crate::tui::view::*;

use super::{After, Input, Step, passes_every_layer};

/// The help takes its scroll keys and its close keys; it passes what changes nothing
/// under it (suspend, redraw), and ignores the rest (it has no text).
pub(crate) fn on_input(scroll: &mut usize, input: &Input, max: usize) -> Step {
    use Command as C;
    let Input::Command(cmd) = input else {
        return Step::Consumed(vec![]);
    };
    match cmd {
        C::Down => *scroll = (*scroll + 1).min(max),
        C::Up => *scroll = scroll.saturating_sub(1),
        C::PageDown => *scroll = (*scroll + 10).min(max),
        C::PageUp => *scroll = scroll.saturating_sub(10),
        C::Top => *scroll = 0,
        C::Bottom => *scroll = max,
        C::Quit | C::Back | C::Help | C::Close => return Step::Close(After::Nothing),
        c if passes_every_layer(c) => return Step::Pass,
        _ => {}
    }
    Step::Consumed(vec![])
}

/// The help's lines at `width` columns, generated from the keymap and the command
/// registry (the rows of [`key_rows`], as the README's table): the sections of the pane
/// it was opened from first (innermost first), then the others in the registry's
/// order; descriptions wrapped, never cut.
pub(crate) fn help_lines(m: &Model, width: usize) -> Vec<Line<'static>> {
    let t = &m.theme;
    let mut order: Vec<&str> = m.help_from.clone();
    for section in section_order(&m.keymap) {
        if !order.contains(&section) {
            order.push(section);
        }
    }
    let rows = key_rows(&m.keymap);
    const KEYS_W: usize = 18;
    let desc_w = width.saturating_sub(KEYS_W + 3).max(10);
    let mut lines: Vec<Line> = Vec::new();
    for section in order {
        let mut here = rows.iter().filter(|r| r.section == section).peekable();
        if here.peek().is_none() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::default());
        }
        lines.push(Line::from(Span::styled(
            section.to_string(),
            t.style(Slot::Title),
        )));
        // One line per command and description, its keys joined; the digit keys of
        // `pane:N` folded into one line.
        for row in here {
            let keys: Vec<String> = row.keys.iter().map(|k| format_keys(k)).collect();
            let keys = match (row.is_panes(), keys.first(), keys.last()) {
                (true, Some(first), Some(last)) if keys.len() > 1 => format!("{first}…{last}"),
                _ => keys.join(" "),
            };
            let wrapped = wrap_words(&row.desc, desc_w);
            // Always a space between the keys and what they do: a long key list
            // gets its own line.
            let mut rest = wrapped.into_iter();
            if keys.chars().count() > KEYS_W {
                lines.push(Line::from(Span::styled(
                    format!("  {keys}"),
                    t.style(Slot::KeyHint),
                )));
            } else {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {keys:<KEYS_W$} "), t.style(Slot::KeyHint)),
                    Span::styled(rest.next().unwrap_or_default(), t.style(Slot::Text)),
                ]));
            }
            for more in rest {
                lines.push(Line::from(vec![
                    Span::raw(format!("  {:<KEYS_W$} ", "")),
                    Span::styled(more, t.style(Slot::Text)),
                ]));
            }
        }
    }
    lines
}

pub(crate) fn draw_help(m: &Model, f: &mut Frame, area: Rect, scroll: usize) {
    let t = &m.theme;
    let popup = centered(area, 72, area.height.saturating_sub(4));
    let lines = help_lines(m, popup.width.saturating_sub(2) as usize);
    let inner_h = popup.height.saturating_sub(2) as usize;
    let max_scroll = lines.len().saturating_sub(inner_h);
    // The layout tells the layer how far it can scroll (for G/End and k after them).
    m.help_max.set(max_scroll);
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
