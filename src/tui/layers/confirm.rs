//! The confirmation layer: the user's yes (or the name typed) before a destructive
//! action. Every action the dispatcher says needs a confirmation comes here
//! (`Msg::NeedsConfirm`), and this is the only place an action is handed over
//! `confirmed`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::actions::{Action, Confirm};
use crate::config::theme::Slot;
use crate::tui::command::Command;
use crate::tui::model::*;

use super::prompt::draw_question;
use super::{After, Input, Step, passes_every_layer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmState {
    pub action: Action,
    pub confirm: Confirm,
    pub input: String,
    /// The reason and override it runs with.
    pub why: Why,
}

impl ConfirmState {
    /// Is the confirmation a word typed (rather than a yes)?
    pub fn typed(&self) -> bool {
        matches!(self.confirm, Confirm::TypeToConfirm(_))
    }

    /// A typed confirmation reads keys as a prompt does (`y` and `n` are letters).
    pub fn sections(&self) -> Vec<&'static str> {
        if self.typed() {
            vec!["prompt"]
        } else {
            vec!["confirm"]
        }
    }

    /// The confirmation takes every key: yes hands the action over confirmed, no
    /// leaves it; it passes only what changes nothing under it (suspend, redraw).
    pub(crate) fn on_input(&mut self, input: &Input) -> Step {
        use Command as C;
        match input {
            Input::Key(ev) => {
                if self.typed() {
                    super::edit_line(&mut self.input, ev);
                }
            }
            Input::Command(C::Cancel | C::Back | C::Close) => {
                return Step::Close(After::Toast(Level::Info, "cancelled: nothing changed"));
            }
            Input::Command(C::Confirm) => {
                let ok = !self.typed() || self.confirm.accepts(self.input.trim());
                if !ok {
                    return Step::Then(After::ToastText(
                        Level::Error,
                        format!("not confirmed: {}", self.confirm),
                    ));
                }
                return Step::Close(After::Effects(vec![Effect::ActWhy {
                    action: self.action.clone(),
                    confirmed: true,
                    why: self.why.clone(),
                }]));
            }
            Input::Command(c) if passes_every_layer(c) => return Step::Pass,
            Input::Command(_) => {}
        }
        Step::Consumed(vec![])
    }
}

pub(crate) fn draw_confirm(m: &Model, c: &ConfirmState, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let mut lines = vec![Line::from(Span::styled(
        c.action.describe(),
        t.style(Slot::Warn).add_modifier(Modifier::BOLD),
    ))];
    let (ask, input) = match &c.confirm {
        Confirm::TypeToConfirm(word) => (
            format!("This touches production or everything: type {word} and press Enter."),
            Some(&c.input),
        ),
        _ => ("Go ahead? y / Enter: yes · n / Esc: no".to_string(), None),
    };
    lines.push(Line::from(Span::styled(ask, t.style(Slot::Text))));
    draw_question(m, f, area, " confirm ", lines, input)
}
