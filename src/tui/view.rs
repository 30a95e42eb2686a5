//! Drawing. Reads the model (only the scroll offset is adjusted, as ratatui's own
//! stateful widgets do); builds widgets for visible rows only.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::config::theme::Slot;
use crate::domain::text::sanitize;

use super::model::{Model, Remote, Route, Tab};
use super::panes;
use super::panes::catalog::*;
use super::panes::service::*;
use super::shell::*;

/// Smaller than this and sphere asks for a bigger terminal instead of drawing.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;
/// From this width the catalog shows system and lifecycle columns.
pub(crate) const WIDE: u16 = 100;
/// From this width the catalog shows the detail panel beside the table.
pub(crate) const SIDE_PANEL: u16 = 140;

pub fn draw(m: &mut Model, f: &mut Frame) {
    let area = f.area();
    let base = m.theme.style(Slot::Text);
    f.render_widget(Block::default().style(base), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small ({}x{}).\nsphere needs {MIN_WIDTH}x{MIN_HEIGHT}.",
            area.width, area.height
        );
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .style(m.theme.style(Slot::Warn)),
            area,
        );
        return;
    }
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(m, f, header);
    draw_tabs(m, f, tabs);
    match (m.routes.last().cloned(), m.tab) {
        (Some(Route::Service(name)), _) => draw_service(m, f, body, &name),
        (Some(Route::Logs), _) => panes::logs::draw_logs(m, f, body),
        (Some(Route::Pod(cluster, name)), _) => panes::pod::draw_pod(m, f, body, &cluster, &name),
        (None, Tab::Catalog) => draw_catalog(m, f, body),
        (None, Tab::Deployments) => panes::draw_matrix(m, f, body),
        (None, Tab::Pods) => panes::draw_pods(m, f, body),
        (None, Tab::Audit) => panes::draw_audit(m, f, body),
        (None, Tab::Secrets) => panes::draw_secrets(m, f, body),
        (None, Tab::Flags) => panes::draw_flags(m, f, body),
        (None, Tab::Problems) => panes::problems::draw_problems(m, f, body),
    }
    draw_footer(m, f, footer);
    draw_progress(m, f, body);
    draw_toasts(m, f, body);
    // The layers over the panes, bottom to top.
    m.draw_layers(f, area);
}

/// The URLs the current screen shows, to be made clickable (OSC 8).
pub fn visible_urls(m: &Model) -> Vec<String> {
    match (m.routes.last(), &m.report) {
        (Some(Route::Service(s)), Remote::Ready(r)) if r.service == *s => r
            .links
            .iter()
            .map(|l| sanitize(&l.url).into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
