//! The help layer: every key of the keymap by section.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use crate::config::keymap::format_keys;
use crate::config::theme::Slot;
use crate::tui::command::*;
use crate::tui::model::*;
use crate::tui::view::*;

pub(crate) fn draw_help(m: &Model, f: &mut Frame, area: Rect, scroll: usize) {
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
