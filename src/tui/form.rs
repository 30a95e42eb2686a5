//! Forms: a few fields in a popup, typed in `ratatui-textarea` fields or chosen from
//! lists with ←/→, checked as they are typed. The golden-path form (C4), the HPA
//! bounds (C6) and a new ephemeral environment (C14) are forms. A form only collects
//! values and shows what is wrong with them; the model builds the action, and the
//! dispatcher checks it again.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use crate::config::theme::{Slot, Theme};
use crate::domain::ClusterId;
use crate::domain::text::sanitize;

/// What a submitted form becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKind {
    /// A new service on the golden path.
    Service,
    /// New replica bounds for a service's HPA in one cluster.
    Hpa { service: String, cluster: ClusterId },
    /// A new ephemeral environment.
    Environment,
    /// Where a new secret of `service` goes; its value is asked next, typed masked.
    Secret { service: String },
}

/// How a field takes its value.
pub enum FieldKind {
    /// Typed text (one line: Enter never reaches it).
    Text(Box<TextArea<'static>>),
    /// One of `options`, moved through with ←/→ (round when `wrap`).
    Choice {
        options: Vec<String>,
        selected: usize,
        wrap: bool,
    },
}

pub struct Field {
    /// Its name, shown as its label and used in error messages (`name: ...`).
    pub name: &'static str,
    pub kind: FieldKind,
    /// Shown after the value, dimmed: a bound, a hint.
    pub note: String,
    /// Changed since the form opened: its problems are shown as it is typed.
    pub touched: bool,
}

impl Field {
    pub fn text(name: &'static str, value: &str, placeholder: &str) -> Field {
        let mut ta = TextArea::from([value.to_string()]);
        ta.move_cursor(ratatui_textarea::CursorMove::End);
        ta.set_placeholder_text(placeholder.to_string());
        Field {
            name,
            kind: FieldKind::Text(Box::new(ta)),
            note: String::new(),
            touched: false,
        }
    }

    pub fn choice(name: &'static str, options: Vec<String>, selected: usize, wrap: bool) -> Field {
        let selected = selected.min(options.len().saturating_sub(1));
        Field {
            name,
            kind: FieldKind::Choice {
                options,
                selected,
                wrap,
            },
            note: String::new(),
            touched: false,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Field {
        self.note = note.into();
        self
    }

    /// The typed text (trimmed, lines joined), or the chosen option.
    pub fn value(&self) -> String {
        match &self.kind {
            FieldKind::Text(ta) => ta.lines().join(" ").trim().to_string(),
            FieldKind::Choice {
                options, selected, ..
            } => options.get(*selected).cloned().unwrap_or_default(),
        }
    }
}

/// A problem with one field (`field: reason`).
pub use crate::domain::golden::FieldError;

pub struct Form {
    pub kind: FormKind,
    pub title: String,
    /// A line under the title (the policy's bounds, the current values).
    pub help: String,
    /// The verb of Enter in the footer line: `create`, `set`.
    pub submit: &'static str,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// What is wrong now, checked after every key (see `Model::check_form`).
    pub errors: Vec<FieldError>,
    /// Enter was pressed: every problem is shown, touched or not.
    pub submitted: bool,
}

impl Form {
    pub fn new(kind: FormKind, title: impl Into<String>, submit: &'static str) -> Form {
        Form {
            kind,
            title: title.into(),
            help: String::new(),
            submit,
            fields: Vec::new(),
            focus: 0,
            errors: Vec::new(),
            submitted: false,
        }
    }

    pub fn field(mut self, f: Field) -> Form {
        self.fields.push(f);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Form {
        self.help = help.into();
        self
    }

    fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// A field's value (empty for an unknown field).
    pub fn value(&self, name: &str) -> String {
        self.get(name).map(Field::value).unwrap_or_default()
    }

    /// The index of a choice field's option.
    pub fn selected(&self, name: &str) -> usize {
        match self.get(name).map(|f| &f.kind) {
            Some(FieldKind::Choice { selected, .. }) => *selected,
            _ => 0,
        }
    }

    pub fn focused(&self) -> Option<&Field> {
        self.fields.get(self.focus)
    }

    pub fn next_field(&mut self, forward: bool) {
        let n = self.fields.len().max(1);
        self.focus = if forward {
            (self.focus + 1) % n
        } else {
            (self.focus + n - 1) % n
        };
    }

    /// ←/→ on a choice field.
    pub fn choose(&mut self, forward: bool) {
        let Some(f) = self.fields.get_mut(self.focus) else {
            return;
        };
        if let FieldKind::Choice {
            options,
            selected,
            wrap,
        } = &mut f.kind
        {
            let n = options.len();
            if n == 0 {
                return;
            }
            *selected = match (forward, *wrap) {
                (true, true) => (*selected + 1) % n,
                (false, true) => (*selected + n - 1) % n,
                (true, false) => (*selected + 1).min(n - 1),
                (false, false) => selected.saturating_sub(1),
            };
            f.touched = true;
        }
    }

    /// A key for the focused text field.
    pub fn type_key(&mut self, key: KeyEvent) {
        if let Some(f) = self.fields.get_mut(self.focus)
            && let FieldKind::Text(ta) = &mut f.kind
            && ta.input(key)
        {
            f.touched = true;
        }
    }

    /// Clear the focused text field (Ctrl-U, as in the palette and a shell); true when
    /// there was one.
    pub fn clear_focused(&mut self) -> bool {
        let Some(f) = self.fields.get_mut(self.focus) else {
            return false;
        };
        let FieldKind::Text(ta) = &mut f.kind else {
            return false;
        };
        ta.select_all();
        if ta.cut() {
            f.touched = true;
        }
        true
    }

    /// Pasted text into the focused text field (control characters stripped).
    pub fn paste(&mut self, text: &str) {
        if let Some(f) = self.fields.get_mut(self.focus)
            && let FieldKind::Text(ta) = &mut f.kind
        {
            ta.insert_str(sanitize(text));
            f.touched = true;
        }
    }

    /// Is `action` what this form becomes (its kind, whatever the values)?
    pub fn makes(&self, action: &crate::actions::Action) -> bool {
        use crate::actions::Action as A;
        matches!(
            (&self.kind, action),
            (FormKind::Service, A::ServiceCreate { .. })
                | (FormKind::Hpa { .. }, A::SetHpa { .. })
                | (FormKind::Environment, A::EnvCreate { .. })
                | (FormKind::Secret { .. }, A::SecretPut { .. })
        )
    }

    pub fn is_text(&self) -> bool {
        matches!(self.focused().map(|f| &f.kind), Some(FieldKind::Text(_)))
    }

    /// The problems to show: those of fields already changed, all once Enter was
    /// pressed.
    pub fn shown_errors(&self) -> Vec<&FieldError> {
        self.errors
            .iter()
            .filter(|e| {
                self.submitted
                    || self.fields.iter().any(|f| f.touched && f.name == e.field)
                    || !self.fields.iter().any(|f| f.name == e.field)
            })
            .collect()
    }

    pub fn draw(&self, theme: &Theme, f: &mut Frame, area: Rect) {
        let t = theme;
        let errors = self.shown_errors();
        let help = !self.help.is_empty();
        let width = 72.min(area.width.saturating_sub(2));
        // Each problem takes the lines it wraps to.
        let text_w = usize::from(width.saturating_sub(2)).max(1);
        let error_lines: usize = errors
            .iter()
            .map(|e| (e.to_string().chars().count() + 3).div_ceil(text_w))
            .sum();
        let height = (self.fields.len() as u16 + 2 + u16::from(help) + error_lines as u16)
            .min(area.height.saturating_sub(2));
        let popup = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        f.render_widget(Clear, popup);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(t.style(Slot::BorderFocus))
            .title(Span::styled(
                format!(" {} ", sanitize(&self.title)),
                t.style(Slot::Title),
            ))
            .title_bottom(Line::from(Span::styled(
                format!(
                    " Tab next · ←/→ choose · Enter {} · Esc cancel ",
                    self.submit
                ),
                t.style(Slot::Muted),
            )));
        let inner = block.inner(popup);
        f.render_widget(block, popup);
        let mut rows: Vec<Constraint> = Vec::new();
        if help {
            rows.push(Constraint::Length(1));
        }
        rows.extend(self.fields.iter().map(|_| Constraint::Length(1)));
        rows.push(Constraint::Min(0));
        let areas = Layout::vertical(rows).split(inner);
        if help {
            f.render_widget(
                Paragraph::new(format!(" {}", sanitize(&self.help))).style(t.style(Slot::Muted)),
                areas[0],
            );
        }
        let first = usize::from(help);
        let label_w = self
            .fields
            .iter()
            .map(|x| x.name.chars().count() as u16 + 3)
            .max()
            .unwrap_or(8)
            .max(8);
        for (i, field) in self.fields.iter().enumerate() {
            let note_w = if field.note.is_empty() {
                0
            } else {
                field.note.chars().count() as u16 + 2
            };
            let [label, value, note] = Layout::horizontal([
                Constraint::Length(label_w),
                Constraint::Min(1),
                Constraint::Length(note_w),
            ])
            .areas(areas[first + i]);
            let focused = i == self.focus;
            let wrong = errors.iter().any(|e| e.field == field.name);
            let style = if wrong {
                t.style(Slot::Error)
            } else if focused {
                t.style(Slot::Accent).add_modifier(Modifier::BOLD)
            } else {
                t.style(Slot::Muted)
            };
            f.render_widget(
                Paragraph::new(format!(" {}", field.name)).style(style),
                label,
            );
            match &field.kind {
                FieldKind::Text(ta) if focused => f.render_widget(&**ta, value),
                FieldKind::Text(_) => f.render_widget(
                    Paragraph::new(sanitize(&field.value()).into_owned())
                        .style(t.style(Slot::Text)),
                    value,
                ),
                FieldKind::Choice { .. } => {
                    let v = sanitize(&field.value()).into_owned();
                    let text = if focused { format!("‹ {v} ›") } else { v };
                    f.render_widget(
                        Paragraph::new(text).style(if focused {
                            t.style(Slot::Selection)
                        } else {
                            t.style(Slot::Text)
                        }),
                        value,
                    );
                }
            }
            if note_w > 0 {
                f.render_widget(
                    Paragraph::new(format!(" {}", field.note)).style(t.style(Slot::Muted)),
                    note,
                );
            }
        }
        if !errors.is_empty() {
            let lines: Vec<Line> = errors
                .iter()
                .map(|e| {
                    Line::from(Span::styled(
                        format!(" ✗ {}", sanitize(&e.to_string())),
                        t.style(Slot::Error),
                    ))
                })
                .collect();
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: true }),
                areas[first + self.fields.len()],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn fields_take_text_and_choices_and_only_touched_ones_show_their_problems() {
        let mut form = Form::new(FormKind::Environment, "t", "create")
            .field(Field::text("name", "", "a name"))
            .field(Field::choice(
                "from",
                vec!["dev".into(), "staging".into()],
                0,
                true,
            ))
            .field(Field::choice("n", vec!["1".into(), "2".into()], 1, false));
        form.errors = vec![
            FieldError {
                field: "name".into(),
                reason: "a name is required".into(),
            },
            FieldError {
                field: "from".into(),
                reason: "no".into(),
            },
        ];
        assert!(form.shown_errors().is_empty(), "nothing touched yet");
        form.type_key(key('p'));
        assert_eq!(form.value("name"), "p");
        assert_eq!(form.shown_errors().len(), 1);
        form.next_field(true);
        assert!(!form.is_text());
        form.choose(false);
        assert_eq!(form.value("from"), "staging", "wraps round");
        form.next_field(true);
        form.choose(true);
        assert_eq!(form.value("n"), "2", "stops at the end");
        form.next_field(true);
        assert_eq!(form.focus, 0, "Tab goes round");
        form.submitted = true;
        assert_eq!(form.shown_errors().len(), 2);
        form.paste("\u{1b}[31mx");
        assert_eq!(form.value("name"), "px");
    }
}
