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

/// The help's lines at `width` columns: the sections of the pane it was opened from
/// first (innermost first), then the others; descriptions wrapped, never cut.
pub(crate) fn help_lines(m: &Model, width: usize) -> Vec<Line<'static>> {
    let t = &m.theme;
    let mut order: Vec<&str> = m.help_from.clone();
    for section in [
        "global", "list", "catalog", "matrix", "pods", "secrets", "flags", "detail", "filter",
        "palette", "prompt", "confirm", "help",
    ] {
        if !order.contains(&section) {
            order.push(section);
        }
    }
    // Sections only a user's keymap has come last, so their keys can be found too.
    for section in m.keymap.section_names() {
        if !order.contains(&section) {
            order.push(section);
        }
    }
    const KEYS_W: usize = 18;
    let desc_w = width.saturating_sub(KEYS_W + 3).max(10);
    let mut lines: Vec<Line> = Vec::new();
    for section in order {
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
        // One line per command and description, its keys joined; the digit keys of
        // `pane:N` folded into one line (any other key to a pane keeps its own line).
        let digit_pane = |b: &crate::config::Binding| {
            matches!(Command::parse(&b.run), Ok(Command::Pane(n))
                if format_keys(&b.on) == n.to_string())
        };
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for b in bindings {
            let pane = digit_pane(b);
            let run = if pane { "pane:N" } else { b.run.as_str() };
            let desc = if pane { "" } else { b.desc.as_str() };
            if run == "noop" || seen.contains(&(run, desc)) {
                continue;
            }
            seen.push((run, desc));
            let (keys, desc) = if pane {
                let n = Tab::ALL.len();
                (format!("1…{n}"), "Go to pane N".to_string())
            } else {
                let keys: Vec<String> = bindings
                    .iter()
                    .filter(|x| x.run == b.run && x.desc == b.desc && !digit_pane(x))
                    .map(|x| format_keys(&x.on))
                    .collect();
                (keys.join(" "), b.desc.clone())
            };
            let wrapped = wrap_words(&desc, desc_w);
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
