//! The layers over the panes, one file each: help, the palette and its choosers, the
//! prompt, the confirmation and the form. They are a stack ([`Layers`]): the top one
//! gets each key first and consumes it, passes it on (to the layer below, at last to
//! the pane), or closes; the stack draws bottom to top. A destructive action always
//! passes the confirmation layer: it is the only place an action is handed over
//! `confirmed`.

pub mod confirm;
pub mod form;
pub mod help;
pub mod palette;
pub mod prompt;

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nucleo_matcher::Matcher;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::command::Command;
use super::form::Form;
use super::model::{Effect, Level, Model};

pub use confirm::ConfirmState;
pub use palette::{PaletteItem, PaletteState};
pub use prompt::{Pending, PromptState};

/// One layer over the panes.
pub enum Layer {
    /// The keys, scrolled `scroll` lines.
    Help { scroll: usize },
    /// The `:` palette, or a chooser.
    Palette(PaletteState),
    /// A line of text the next action needs (a reason, HPA bounds).
    Prompt(PromptState),
    /// An action waiting for the user's yes, or for the name typed.
    Confirm(ConfirmState),
    /// A form (golden path, HPA bounds, new environment, new secret).
    Form(Box<Form>),
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Help { scroll } => f.debug_struct("Help").field("scroll", scroll).finish(),
            Layer::Palette(p) => f.debug_tuple("Palette").field(p).finish(),
            Layer::Prompt(p) => f.debug_tuple("Prompt").field(p).finish(),
            Layer::Confirm(c) => f.debug_tuple("Confirm").field(c).finish(),
            // A form's values may be half-typed secrets' names: its title says enough.
            Layer::Form(form) => f.debug_tuple("Form").field(&form.title).finish(),
        }
    }
}

/// What reaches a layer: a command the keymap resolved in the layer's sections, or a
/// key no binding took (text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Command(Command),
    Key(KeyEvent),
}

/// What a layer did with an input.
#[derive(Debug)]
pub enum Step {
    /// Taken: nothing below sees it; the effects go to the loop.
    Consumed(Vec<Effect>),
    /// Not this layer's: the layer below (at last the pane) gets it.
    Pass,
    /// Taken, and the layer stays; the model carries out what follows.
    Then(After),
    /// Taken, and the layer is done: it leaves the stack, then the model carries out
    /// what follows.
    Close(After),
}

/// What the model does after a layer took an input (what a layer cannot do alone).
#[derive(Debug)]
pub enum After {
    Nothing,
    /// Run a command (the palette's choice) on what is under the layer.
    Run(Command),
    /// A prompt's answer: build the action it completes.
    Answer(Pending, String),
    /// Hand these to the loop.
    Effects(Vec<Effect>),
    Toast(Level, &'static str),
    ToastText(Level, String),
    /// Check the open form again (a key changed it).
    CheckForm,
    /// Submit the open form.
    SubmitForm,
}

/// What the layers read of the model while they handle an input.
pub struct Ctx<'a> {
    /// The `:` palette's commands.
    pub commands: &'a [PaletteItem],
    pub matcher: &'a mut Matcher,
    /// How far the help can scroll at the last drawn size.
    pub help_max: usize,
}

/// Commands every layer lets through to the app: they change nothing under it.
pub(crate) fn passes_every_layer(cmd: &Command) -> bool {
    matches!(cmd, Command::Suspend | Command::Redraw)
}

/// A typed character, or Backspace (`None`); `Err` for any other key.
pub(crate) fn text_key(ev: &KeyEvent) -> Result<Option<char>, ()> {
    match ev.code {
        KeyCode::Char(c)
            if !ev
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Ok(Some(c))
        }
        KeyCode::Backspace => Ok(None),
        _ => Err(()),
    }
}

/// Type `ev` into `line`; false when it is no text key.
pub(crate) fn edit_line(line: &mut String, ev: &KeyEvent) -> bool {
    match text_key(ev) {
        Ok(Some(c)) => line.push(c),
        Ok(None) => {
            line.pop();
        }
        Err(()) => return false,
    }
    true
}

impl Layer {
    /// The keymap sections that resolve keys while this layer is on top, innermost
    /// first.
    pub fn sections(&self) -> Vec<&'static str> {
        match self {
            Layer::Help { .. } => vec!["help", "global"],
            Layer::Palette(_) => vec!["palette"],
            Layer::Prompt(_) => vec!["prompt"],
            Layer::Form(_) => vec!["form"],
            Layer::Confirm(c) => c.sections(),
        }
    }

    /// Handle one input.
    pub fn on_input(&mut self, input: &Input, ctx: &mut Ctx) -> Step {
        match self {
            Layer::Help { scroll } => help::on_input(scroll, input, ctx.help_max),
            Layer::Palette(p) => p.on_input(input, ctx),
            Layer::Prompt(p) => p.on_input(input),
            Layer::Confirm(c) => c.on_input(input),
            Layer::Form(f) => form::on_input(f, input),
        }
    }

    /// Ctrl-U: clear the typed line (the palette, a prompt, a typed confirmation, a
    /// form's text field), as in a shell. False when the layer has no such line.
    pub fn clear_line(&mut self) -> bool {
        match self {
            Layer::Palette(p) => {
                p.input.clear();
                true
            }
            Layer::Prompt(p) => {
                p.input.clear();
                true
            }
            Layer::Confirm(c) if c.typed() => {
                c.input.clear();
                true
            }
            // The text area would undo one edit instead.
            Layer::Form(f) => f.clear_focused(),
            _ => false,
        }
    }

    pub fn draw(&self, m: &Model, f: &mut Frame, area: Rect) {
        match self {
            Layer::Help { scroll } => help::draw_help(m, f, area, *scroll),
            Layer::Palette(p) => palette::draw_palette(m, p, f, area),
            Layer::Form(form) => form.draw(&m.theme, f, area),
            Layer::Prompt(p) => prompt::draw_prompt(m, p, f, area),
            Layer::Confirm(c) => confirm::draw_confirm(m, c, f, area),
        }
    }
}

/// The stack of layers, bottom first.
#[derive(Debug, Default)]
pub struct Layers {
    stack: Vec<Layer>,
}

impl Layers {
    pub fn top(&self) -> Option<&Layer> {
        self.stack.last()
    }

    pub fn top_mut(&mut self) -> Option<&mut Layer> {
        self.stack.last_mut()
    }

    pub fn push(&mut self, layer: Layer) {
        self.stack.push(layer);
    }

    /// Close the top layer.
    pub fn pop(&mut self) -> Option<Layer> {
        self.stack.pop()
    }

    pub fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }

    pub fn len(&self) -> usize {
        self.stack.len()
    }

    /// Bottom to top.
    pub fn iter(&self) -> impl Iterator<Item = &Layer> {
        self.stack.iter()
    }

    /// The topmost form.
    pub fn form(&self) -> Option<&Form> {
        self.stack.iter().rev().find_map(|l| match l {
            Layer::Form(f) => Some(f.as_ref()),
            _ => None,
        })
    }

    pub fn form_mut(&mut self) -> Option<&mut Form> {
        self.stack.iter_mut().rev().find_map(|l| match l {
            Layer::Form(f) => Some(f.as_mut()),
            _ => None,
        })
    }

    /// Take the topmost form off the stack, with where it was (see [`Layers::put_form`]).
    pub(crate) fn take_form(&mut self) -> Option<(usize, Box<Form>)> {
        let i = self
            .stack
            .iter()
            .rposition(|l| matches!(l, Layer::Form(_)))?;
        match self.stack.remove(i) {
            Layer::Form(f) => Some((i, f)),
            _ => None,
        }
    }

    /// Put a form taken with [`Layers::take_form`] back where it was.
    pub(crate) fn put_form(&mut self, i: usize, form: Box<Form>) {
        let i = i.min(self.stack.len());
        self.stack.insert(i, Layer::Form(form));
    }

    /// The palette on top, if the top is one.
    pub fn palette_mut(&mut self) -> Option<&mut PaletteState> {
        match self.stack.last_mut() {
            Some(Layer::Palette(p)) => Some(p),
            _ => None,
        }
    }
}

impl Model {
    /// The layer on top (keys go to it first), if any.
    pub fn top(&self) -> Option<&Layer> {
        self.layers.top()
    }

    /// The open form (the topmost one).
    pub fn form(&self) -> Option<&Form> {
        self.layers.form()
    }

    /// Give one input to the stack, top first; what every layer passes reaches the
    /// pane.
    pub(crate) fn dispatch(&mut self, input: Input) -> Vec<Effect> {
        let mut i = self.layers.len();
        while i > 0 {
            i -= 1;
            let mut ctx = Ctx {
                commands: &self.palette,
                matcher: &mut self.matcher,
                help_max: self.help_max.get(),
            };
            let step = self.layers.stack[i].on_input(&input, &mut ctx);
            match step {
                Step::Pass => continue,
                Step::Consumed(effects) => return effects,
                Step::Then(after) => return self.after(after),
                Step::Close(after) => {
                    self.layers.stack.remove(i);
                    self.keys.reset();
                    return self.after(after);
                }
            }
        }
        match input {
            Input::Command(cmd) => self.run_pane(cmd),
            Input::Key(ev) => {
                self.type_text(&ev);
                vec![]
            }
        }
    }

    fn after(&mut self, after: After) -> Vec<Effect> {
        match after {
            After::Nothing => vec![],
            After::Run(cmd) => self.run(cmd),
            After::Answer(then, input) => {
                let effects = self.complete_prompt(then, input);
                // The action is handed over: the form it came from (under its
                // prompts) is done.
                let handed = effects.iter().any(|e| match e {
                    Effect::Act { action, .. } | Effect::ActWhy { action, .. } => {
                        matches!(self.layers.top(), Some(Layer::Form(f)) if f.makes(action))
                    }
                    _ => false,
                });
                if handed {
                    self.layers.pop();
                }
                effects
            }
            After::Effects(effects) => effects,
            After::Toast(level, text) => {
                self.toast(level, text);
                vec![]
            }
            After::ToastText(level, text) => {
                self.toast(level, text);
                vec![]
            }
            After::CheckForm => {
                self.check_form();
                vec![]
            }
            After::SubmitForm => self.submit_form(),
        }
    }

    /// Draw the stack, bottom to top.
    pub(crate) fn draw_layers(&self, f: &mut Frame, area: Rect) {
        for layer in self.layers.iter() {
            layer.draw(self, f, area);
        }
    }
}
