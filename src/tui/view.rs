//! Drawing. Reads the model and nothing else: selections and scroll offsets were
//! settled before (`Model::settle`, with the same `layout`), so drawing takes `&Model`;
//! builds widgets for visible rows only.

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

/// The screen's parts: header, tabs, the pane's body, footer; `None` when the screen
/// is too small to draw anything but a request for a bigger one. Pure: the draw and
/// the settle step (which scrolls each pane for the body it will have) both use it.
pub fn layout(area: Rect) -> Option<[Rect; 4]> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    Some(
        Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(area),
    )
}

pub fn draw(m: &Model, f: &mut Frame) {
    let area = f.area();
    let base = m.theme.style(Slot::Text);
    f.render_widget(Block::default().style(base), area);
    let Some([header, tabs, body, footer]) = layout(area) else {
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
    };
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

/// Reducer tests of the settle step: keys move selections, and the scroll offsets
/// follow at once for the screen's size, with no frame drawn.
#[cfg(test)]
mod settle_tests {
    use crossterm::event::Event;

    use crate::tui::harness::{Harness, parse_keys};
    use crate::tui::model::{Msg, Tab};

    fn press(h: &mut Harness, keys: &str) {
        for k in parse_keys(keys).expect("keys") {
            let effects = h.model.update(Msg::Term(Event::Key(k)));
            // Reads the keys ask for are answered (no frame is drawn by that).
            h.apply(effects);
        }
    }

    /// `selected` is inside the window of `height` rows from `offset`.
    fn shown(selected: usize, offset: usize, height: usize) -> bool {
        offset <= selected && selected < offset + height
    }

    #[tokio::test]
    async fn moving_past_the_screen_scrolls_the_catalog_without_a_draw() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        press(&mut h, &"j".repeat(30));
        // 24 rows: header, tabs, footer, and the table's header line.
        let (sel, off) = (h.model.cat.selected, h.model.cat.offset);
        assert!(sel >= 30, "moved: {sel}");
        assert!(off > 0 && shown(sel, off, 20), "offset {off} for {sel}");
        // A bigger screen shows more rows: the same selection, scrolled less.
        h.model.update(Msg::Term(Event::Resize(80, 50)));
        assert!(h.model.cat.offset < off, "{}", h.model.cat.offset);
        assert!(shown(sel, h.model.cat.offset, 46));
    }

    #[tokio::test]
    async fn the_matrix_scrolls_to_its_selected_row_and_cell_without_a_draw() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        press(&mut h, "2G");
        assert_eq!(h.model.tab, Tab::Deployments);
        let rows = h.model.matrix_rows().len();
        let pos = h.model.matrix.pos;
        assert_eq!(pos.selected, rows - 1);
        // The summary line and two header lines above the rows.
        assert!(shown(pos.selected, pos.offset, 24 - 3 - 3), "{pos:?}");
        // Back to the first cluster: the first column shown follows the cell.
        press(&mut h, &"h".repeat(9));
        assert_eq!((h.model.matrix.cell, h.model.matrix.col), (0, 0));
        press(&mut h, &"l".repeat(8));
        assert_eq!(h.model.matrix.cell, 8);
        assert!(h.model.matrix.col > 0, "scrolled to the last cluster");
    }

    #[tokio::test]
    async fn the_pods_pane_scrolls_to_its_selection_without_a_draw() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        press(&mut h, "/reviews-service<Enter>3G");
        let p = &h.model.pods;
        assert!(p.rows.len() > 10, "{}", p.rows.len());
        assert_eq!(p.pos.selected, p.rows.len() - 1);
        assert!(p.pos.offset > 0, "{:?}", p.pos);
        let chosen = p.key.clone().expect("the pod at the bottom is chosen");
        assert_eq!(p.rows[p.pos.selected].name, chosen.1);
    }

    #[tokio::test]
    async fn the_service_view_scrolls_no_further_than_its_last_line_without_a_draw() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        press(&mut h, "<Enter>");
        let name = h.model.focus().expect("a service open");
        let lines = h
            .model
            .service_text(&name)
            .expect("in the catalog")
            .lines
            .len();
        // The body less the view's border, top and bottom.
        let max = lines.saturating_sub(24 - 3 - 2);
        assert!(max > 0, "the view is longer than the screen: {lines} lines");
        press(&mut h, "G");
        assert_eq!(h.model.detail_scroll, max);
        // One line up from the bottom is one press (not thousands from far past it).
        press(&mut h, "k");
        assert_eq!(h.model.detail_scroll, max - 1);
    }

    /// The pods pane's rows are built when the watch changes its pods (then read by
    /// every frame): the crash loop's restarts climb in them, and the chosen pod's
    /// last termination is in its row.
    #[tokio::test]
    async fn pod_rows_follow_the_watch_and_carry_the_last_termination() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        press(&mut h, "/reviews-service<Enter>3");
        let crash = |h: &Harness| {
            h.model
                .pods
                .rows
                .iter()
                .find(|p| p.crash_looping)
                .cloned()
                .expect("a crash-looping pod")
        };
        let before = crash(&h);
        assert_eq!(before.termination_text(), "OOMKilled (137)");
        for _ in 0..10 {
            h.sim.tick();
            h.pump();
        }
        h.render();
        assert!(
            crash(&h).restarts > before.restarts,
            "rows rebuilt from the watch"
        );
    }

    /// The deployments beside the pods are rows built when the watch changes them:
    /// an HPA event about the service shows in the next frame's rows, and frames in
    /// between build nothing.
    #[tokio::test]
    async fn workload_rows_are_built_from_the_watch() {
        let mut h = Harness::demo(80, 24).await.expect("demo");
        press(&mut h, "/reviews-service<Enter>3");
        let first = h.model.pods.workloads.clone().expect("deployed");
        let cluster = first[0].cluster.clone();
        h.render();
        assert_eq!(
            h.model.pods.workloads.as_ref(),
            Some(&first),
            "nothing changed"
        );
        h.model
            .update(Msg::Cluster(crate::domain::ClusterEvent::Hpa(
                crate::domain::HpaSummary {
                    service: "reviews-service".into(),
                    cluster: cluster.clone(),
                    min: 2,
                    max: 97,
                    current: 5,
                    target_cpu: 70,
                    current_cpu: Some(41),
                },
            )));
        h.render();
        let now = h.model.pods.workloads.clone().expect("deployed");
        let row = now.iter().find(|w| w.cluster == cluster).expect("listed");
        assert_eq!(row.hpa, "2–97 now 5 cpu 41%/70%");
    }
}
