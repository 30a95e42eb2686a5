//! The form layer: a form (its fields and drawing are `tui/form.rs`; what each form
//! asks and becomes is `tui/forms.rs`) on the stack.

use crossterm::event::KeyCode;

use crate::tui::command::Command;
use crate::tui::form::Form;

use super::{After, Input, Step, passes_every_layer};

/// The form takes every key: moves between fields, Enter submits, Esc leaves, ←/→
/// choose, the rest is typed into the focused field; it passes only what changes
/// nothing under it (suspend, redraw).
pub(crate) fn on_input(form: &mut Form, input: &Input) -> Step {
    use Command as C;
    match input {
        Input::Key(ev) => {
            match ev.code {
                KeyCode::Left | KeyCode::Right if !form.is_text() => {
                    form.choose(ev.code == KeyCode::Right);
                }
                _ => form.type_key(*ev),
            }
            Step::Then(After::CheckForm)
        }
        Input::Command(C::Cancel | C::Back | C::Close) => Step::Close(After::Nothing),
        Input::Command(C::NextField | C::Down) => {
            form.next_field(true);
            Step::Consumed(vec![])
        }
        Input::Command(C::PrevField | C::Up) => {
            form.next_field(false);
            Step::Consumed(vec![])
        }
        Input::Command(C::Confirm | C::Submit) => Step::Then(After::SubmitForm),
        Input::Command(c) if passes_every_layer(c) => Step::Pass,
        Input::Command(_) => Step::Consumed(vec![]),
    }
}
