//! The prompt and confirmation layers: a line of text an action needs, or the user's
//! yes (or the name typed) before a destructive action.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::config::theme::Slot;
use crate::tui::model::*;
use crate::tui::view::*;

/// A small box over the screen: a question and, when it wants text, the input line.
pub(crate) fn draw_question(
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
