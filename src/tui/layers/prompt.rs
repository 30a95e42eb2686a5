//! The prompt layer: a line of text an action needs (a reason, a value, a duration).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::actions::Action;
use crate::config::theme::Slot;
use crate::domain::text::sanitize;
use crate::tui::command::Command;
use crate::tui::model::*;
use crate::tui::view::*;

use super::{After, Input, Step, passes_every_layer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptState {
    pub title: String,
    pub input: String,
    pub then: Pending,
}

/// The action a prompt's answer completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Lock {
        service: String,
        env: Option<String>,
        region: Option<String>,
    },
    LockAll,
    FreezeOn,
    /// More time for an ephemeral environment: the answer is a duration.
    EnvExtend {
        name: String,
    },
    SecretPut {
        service: String,
        env: String,
        region: String,
        key: String,
    },
    FlagSet {
        name: String,
    },
    Access {
        service: String,
        permission: crate::domain::access::Permission,
    },
    /// Why (optional): the answer is the reason the action is recorded with.
    Why(Box<Action>),
    /// Override a lock: the answer is the override's reason (empty: leave it).
    Override(Box<Action>, Why),
    /// Approve (or deny) access request `id`: the answer is the reason.
    Decide {
        id: u64,
        approve: bool,
    },
    /// What to search the logs view for.
    LogsSearch,
}

impl Pending {
    /// Is the answer a secret value (typed masked, never drawn)?
    pub fn masked(&self) -> bool {
        matches!(self, Pending::SecretPut { .. })
    }
}

impl PromptState {
    /// The prompt takes every key: Enter answers, Esc leaves, the rest is text; it
    /// passes only what changes nothing under it (suspend, redraw).
    pub(crate) fn on_input(&mut self, input: &Input) -> Step {
        use Command as C;
        match input {
            Input::Key(ev) => {
                super::edit_line(&mut self.input, ev);
            }
            Input::Command(C::Cancel | C::Back | C::Close) => return Step::Close(After::Nothing),
            Input::Command(C::Confirm) => {
                return Step::Close(After::Answer(
                    self.then.clone(),
                    self.input.trim().to_string(),
                ));
            }
            Input::Command(c) if passes_every_layer(c) => return Step::Pass,
            Input::Command(_) => {}
        }
        Step::Consumed(vec![])
    }
}

pub(crate) fn draw_prompt(m: &Model, p: &PromptState, f: &mut Frame, area: Rect) {
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
