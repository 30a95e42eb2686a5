//! The golden-path form (C4): a new service's name and description typed in
//! `ratatui-textarea` fields, owner and template picked from lists, database, cache
//! and replicas chosen with ←/→. It only collects values; the dispatcher validates
//! them again and runs the steps.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use crate::config::theme::{Slot, Theme};
use crate::domain::text::sanitize;

/// The fields, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Description,
    Owner,
    Template,
    Database,
    Cache,
    Replicas,
}

impl Field {
    const ALL: [Field; 7] = [
        Field::Name,
        Field::Description,
        Field::Owner,
        Field::Template,
        Field::Database,
        Field::Cache,
        Field::Replicas,
    ];

    fn label(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Description => "description",
            Field::Owner => "owner",
            Field::Template => "template",
            Field::Database => "database",
            Field::Cache => "cache",
            Field::Replicas => "replicas",
        }
    }
}

pub const DATABASES: [&str; 3] = ["none", "postgres", "mysql"];

pub struct ServiceForm {
    pub focus: Field,
    pub name: TextArea<'static>,
    pub description: TextArea<'static>,
    pub owners: Vec<String>,
    pub owner: usize,
    pub templates: Vec<String>,
    pub template: usize,
    pub database: usize,
    pub cache: bool,
    pub replicas: u8,
    /// Problems from the last submit, `field: reason`.
    pub errors: Vec<String>,
}

impl ServiceForm {
    pub fn new(owners: Vec<String>, templates: Vec<String>, preferred_owner: Option<&str>) -> Self {
        let owner = preferred_owner
            .and_then(|p| owners.iter().position(|o| o == p))
            .unwrap_or(0);
        let mut name = TextArea::default();
        name.set_placeholder_text("lowercase letters, digits and -");
        let mut description = TextArea::default();
        description.set_placeholder_text("what it does, in one line");
        ServiceForm {
            focus: Field::Name,
            name,
            description,
            owners,
            owner,
            templates,
            template: 0,
            database: 0,
            cache: false,
            replicas: 2,
            errors: Vec::new(),
        }
    }

    pub fn text(area: &TextArea<'static>) -> String {
        area.lines().join(" ").trim().to_string()
    }

    pub fn next_field(&mut self, forward: bool) {
        let i = Field::ALL
            .iter()
            .position(|f| *f == self.focus)
            .unwrap_or(0);
        let n = Field::ALL.len();
        self.focus = Field::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    /// ←/→ on a choice field.
    pub fn choose(&mut self, forward: bool) {
        let step = |i: usize, n: usize| {
            if n == 0 {
                0
            } else if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            }
        };
        match self.focus {
            Field::Owner => self.owner = step(self.owner, self.owners.len()),
            Field::Template => self.template = step(self.template, self.templates.len()),
            Field::Database => self.database = step(self.database, DATABASES.len()),
            Field::Cache => self.cache = !self.cache,
            Field::Replicas => {
                self.replicas = if forward {
                    (self.replicas + 1).min(10)
                } else {
                    self.replicas.saturating_sub(1).max(1)
                }
            }
            Field::Name | Field::Description => {}
        }
    }

    /// A key for the focused text field (one line: Enter never reaches it).
    pub fn type_key(&mut self, key: KeyEvent) {
        match self.focus {
            Field::Name => {
                self.name.input(key);
            }
            Field::Description => {
                self.description.input(key);
            }
            _ => {}
        }
    }

    pub fn is_text(&self) -> bool {
        matches!(self.focus, Field::Name | Field::Description)
    }

    pub fn draw(&self, theme: &Theme, f: &mut Frame, area: Rect) {
        let t = theme;
        let width = 72.min(area.width.saturating_sub(2));
        let height = (12 + self.errors.len() as u16).min(area.height.saturating_sub(2));
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
                " new service on the golden path ",
                t.style(Slot::Title),
            ))
            .title_bottom(Line::from(Span::styled(
                " Tab next · ←/→ choose · Enter create · Esc cancel ",
                t.style(Slot::Muted),
            )));
        let inner = block.inner(popup);
        f.render_widget(block, popup);
        let mut rows: Vec<Constraint> = Field::ALL.iter().map(|_| Constraint::Length(1)).collect();
        rows.push(Constraint::Min(0));
        let areas = Layout::vertical(rows).split(inner);
        for (i, field) in Field::ALL.iter().enumerate() {
            let [label, value] =
                Layout::horizontal([Constraint::Length(13), Constraint::Min(1)]).areas(areas[i]);
            let focused = *field == self.focus;
            let style = if focused {
                t.style(Slot::Accent).add_modifier(Modifier::BOLD)
            } else {
                t.style(Slot::Muted)
            };
            f.render_widget(
                Paragraph::new(format!(" {}", field.label())).style(style),
                label,
            );
            let choice = |s: String| {
                let text = if focused { format!("‹ {s} ›") } else { s };
                Paragraph::new(text).style(if focused {
                    t.style(Slot::Selection)
                } else {
                    t.style(Slot::Text)
                })
            };
            match field {
                Field::Name | Field::Description => {
                    let ta = if *field == Field::Name {
                        &self.name
                    } else {
                        &self.description
                    };
                    if focused {
                        f.render_widget(ta, value);
                    } else {
                        let text = ServiceForm::text(ta);
                        f.render_widget(
                            Paragraph::new(sanitize(&text).into_owned()).style(t.style(Slot::Text)),
                            value,
                        );
                    }
                }
                Field::Owner => f.render_widget(
                    choice(self.owners.get(self.owner).cloned().unwrap_or_default()),
                    value,
                ),
                Field::Template => f.render_widget(
                    choice(
                        self.templates
                            .get(self.template)
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    value,
                ),
                Field::Database => {
                    f.render_widget(choice(DATABASES[self.database].to_string()), value)
                }
                Field::Cache => f.render_widget(
                    choice(if self.cache { "yes" } else { "no" }.to_string()),
                    value,
                ),
                Field::Replicas => f.render_widget(choice(self.replicas.to_string()), value),
            }
        }
        if !self.errors.is_empty() {
            let lines: Vec<Line> = self
                .errors
                .iter()
                .map(|e| Line::from(Span::styled(format!(" ✗ {e}"), t.style(Slot::Error))))
                .collect();
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: true }),
                areas[Field::ALL.len()],
            );
        }
    }
}
