//! The shell around the panes: header, tabs, footer hints (from the command
//! registry), the golden path's progress and the toasts.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::actions::StepStatus;
use crate::config::theme::Slot;
use crate::domain::text::sanitize;
use crate::tui::command::*;
use crate::tui::model::*;

pub(crate) fn draw_header(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let sep = Span::styled(" │ ", t.style(Slot::Muted));
    let mut left = vec![
        Span::styled(" sphere ", t.style(Slot::Title)),
        sep.clone(),
        Span::styled(
            if m.demo && m.platform_name != "demo" {
                format!("{} (demo)", m.platform_name)
            } else {
                m.platform_name.clone()
            },
            t.style(Slot::Accent),
        ),
        sep.clone(),
        Span::styled(m.user.clone(), t.style(Slot::Text)),
        sep,
        Span::styled(
            if m.policy.read_only {
                "READ-ONLY ".to_string()
            } else if !m.policy.read_only_envs.is_empty() {
                format!("read-only: {} ", m.policy.read_only_envs.join(","))
            } else {
                String::new()
            },
            t.style(Slot::Error)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::styled("scope ", t.style(Slot::Muted)),
        Span::styled(m.scope.to_string(), t.style(Slot::Accent)),
    ];
    // An incident lock on everything and the merge freeze hold for every service:
    // said once here, whatever the pane.
    let everything_holders = m
        .locks
        .iter()
        .filter(|l| l.service == crate::domain::Lock::ALL && l.env.is_none() && l.region.is_none())
        .count();
    let mut flags = Vec::new();
    if everything_holders > 0 {
        flags.push(Span::styled(
            "⊘ ALL LOCKED",
            t.style(Slot::Locked)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        // Held by more than one: each holder's unlock removes only their own.
        if everything_holders > 1 {
            flags.push(Span::styled(
                format!("×{everything_holders}"),
                t.style(Slot::Locked).add_modifier(Modifier::BOLD),
            ));
        }
        flags.push(Span::raw(" "));
    }
    if m.access_waiting > 0 {
        flags.push(Span::styled(
            format!("⚑ {} access", m.access_waiting),
            t.style(Slot::Warn).add_modifier(Modifier::BOLD),
        ));
        flags.push(Span::raw(" "));
    }
    if m.freeze.on {
        flags.push(Span::styled(
            "❄ FREEZE",
            t.style(Slot::Warn)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        flags.push(Span::raw(" "));
    }
    if let Some(n) = &m.notice {
        flags.push(Span::styled(
            format!("⚠ {n}"),
            t.style(Slot::Warn).add_modifier(Modifier::BOLD),
        ));
        flags.push(Span::raw(" "));
    }
    // Before the scope, which is the first to go when the line is too narrow.
    let at = left.len() - 2;
    left.splice(at..at, flags);
    let clusters = m.topology.cluster_count();
    let synced = m.live.synced.len();
    // Read from `sphere agent` ([source] agent): its data not current is "stale", not
    // the clusters unreachable.
    let agent_stale = !m.live.unreachable.is_empty()
        && (m.live.unreachable.values())
            .all(|e| e.starts_with(crate::backend::agent_source::STALE));
    let (text, slot) = if agent_stale {
        (
            format!("{} clusters stale ", m.live.unreachable.len()),
            Slot::Warn,
        )
    } else if !m.live.unreachable.is_empty() {
        (
            format!("{} clusters unreachable ", m.live.unreachable.len()),
            Slot::Error,
        )
    } else if synced < clusters {
        (format!("syncing {synced}/{clusters} "), Slot::Pending)
    } else {
        (format!("● live {clusters} clusters "), Slot::Ok)
    };
    // Too narrow: drop the word "scope", then the words of the lock and freeze marks
    // (their signs stay), then the cluster count, then the scope.
    let width = area.width as usize;
    let used = |l: &[Span]| l.iter().map(|s| s.width()).sum::<usize>();
    let mut text = text;
    if used(&left) + text.chars().count() + 1 > width {
        left.retain(|s| s.content != "scope ");
    }
    if used(&left) + text.chars().count() + 1 > width {
        for s in left.iter_mut() {
            if s.content == "⊘ ALL LOCKED" {
                s.content = "⊘ ALL".into();
            } else if s.content == "❄ FREEZE" {
                s.content = "❄".into();
            } else if s.content.starts_with("⚠ ") {
                s.content = "⚠".into();
            }
        }
    }
    if used(&left) + text.chars().count() + 1 > width {
        text = text.replace(&format!(" {clusters} clusters"), "");
    }
    if used(&left) + text.chars().count() + 1 > width {
        left.pop();
    }
    let right = Line::from(Span::styled(text, t.style(slot))).alignment(Alignment::Right);
    f.render_widget(
        Paragraph::new(Line::from(left)).style(t.style(Slot::Header)),
        area,
    );
    // Only the cells the sync state covers: a paragraph style over the whole line would
    // paint every span of the left part in the header's colour (READ-ONLY included).
    let right_w = (right.width() as u16).min(area.width);
    let right_area = Rect::new(area.right() - right_w, area.y, right_w, 1);
    f.render_widget(
        Paragraph::new(right).style(t.style(Slot::Header)),
        right_area,
    );
}

pub(crate) fn draw_tabs(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let mut spans = Vec::new();
    // A kept filter stays in sight: what the pane (and the matrix's drift summary)
    // counts is only what it matches.
    let filter_note = if m.routes.is_empty() && !m.editing() {
        let (filter, count) = if matches!(m.tab, Tab::Catalog | Tab::Deployments) {
            (
                m.cat.filter.trim(),
                format!(" {} of {}", m.cat.matched, m.cat.rows.len()),
            )
        } else {
            (m.pane_filter.trim(), String::new())
        };
        (!filter.is_empty()).then(|| format!(" /{}{count} ", sanitize(filter)))
    } else {
        None
    };
    let note_w = filter_note.as_ref().map_or(0, |n| n.chars().count() + 2);
    let full: usize = Tab::ALL.iter().map(|t| t.title().len() + 4).sum::<usize>();
    let narrow = full + note_w > area.width as usize;
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let title = if narrow && *tab != m.tab {
            &tab.title()[..3]
        } else {
            tab.title()
        };
        let style = if *tab == m.tab {
            t.style(Slot::TabActive)
        } else {
            t.style(Slot::Tab)
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, title), style));
    }
    if let Some(Route::Service(name)) = m.routes.last() {
        spans.push(Span::styled(" › ", t.style(Slot::Muted)));
        spans.push(Span::styled(name.clone(), t.style(Slot::Accent)));
    } else if let Some(note) = filter_note {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            note,
            t.style(Slot::Warn).add_modifier(Modifier::REVERSED),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub(crate) fn draw_footer(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    if m.editing() {
        let (text, count) = if m.pane_editing {
            (m.pane_filter.clone(), String::new())
        } else {
            (
                m.cat.filter.clone(),
                format!("  {} of {}", m.cat.matched, m.cat.rows.len()),
            )
        };
        let line = Line::from(vec![
            Span::styled("/", t.style(Slot::KeyHint)),
            Span::styled(text, t.style(Slot::Text)),
            Span::styled("▏", t.style(Slot::Accent)),
            Span::styled(count, t.style(Slot::Muted)),
            Span::styled("  enter keep · esc clear", t.style(Slot::Muted)),
        ]);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut spans = Vec::new();
    let pending = m.keys.pending();
    if !pending.is_empty() {
        let seq: Vec<String> = pending.iter().map(|k| k.to_string()).collect();
        spans.push(Span::styled(
            format!("{} … ", seq.join(" ")),
            t.style(Slot::Pending),
        ));
    }
    let mut width: usize = spans.iter().map(|s: &Span| s.width()).sum();
    let mut sections = m.sections();
    // A layer's footer names the layer's own keys only.
    if m.layers.top().is_some() {
        sections.truncate(1);
    }
    for hint in footer_hints(&m.keymap, &sections) {
        let w = hint.keys.chars().count() + hint.word.chars().count() + 3;
        if width + w > area.width as usize {
            break;
        }
        width += w;
        spans.push(Span::styled(hint.keys, t.style(Slot::KeyHint)));
        spans.push(Span::styled(
            format!(" {}  ", hint.word),
            t.style(Slot::Muted),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The golden path's steps, top right of the body, ticking as each one ends.
pub(crate) fn draw_progress(m: &Model, f: &mut Frame, body: Rect) {
    let Some(p) = &m.progress else { return };
    let t = &m.theme;
    let width = 100.min(body.width.saturating_sub(2));
    let height = (p.steps.len() as u16 + 2).min(body.height);
    if width < 20 || height < 3 {
        return;
    }
    let area = Rect::new(
        body.right().saturating_sub(width + 1),
        body.y,
        width,
        height,
    );
    let running = p.running();
    let lines: Vec<Line> = p
        .steps
        .iter()
        .map(|(step, status, detail)| {
            let (mark, slot, note) = match status {
                Some(StepStatus::Done) => ("✓", Slot::Ok, detail.clone()),
                Some(StepStatus::AlreadyDone) => ("✓", Slot::Muted, "already done".to_string()),
                Some(StepStatus::Skipped) => ("–", Slot::Muted, "skipped".to_string()),
                Some(StepStatus::Failed(e)) => ("✗", Slot::Error, e.clone()),
                None if running == Some(*step) => ("⟳", Slot::Pending, "running…".to_string()),
                None => ("·", Slot::Muted, String::new()),
            };
            Line::from(vec![
                Span::styled(format!(" {mark} "), t.style(slot)),
                // The step's short name is the one `--from-step` takes.
                Span::styled(format!("{:<11}", step.as_str()), t.style(Slot::Text)),
                Span::styled(sanitize(&note).into_owned(), t.style(Slot::Muted)),
            ])
        })
        .collect();
    let (title, slot) = match &p.outcome {
        None => (format!(" creating {} ", p.service), Slot::Pending),
        Some(Ok(_)) => (format!(" {} created ✓ ", p.service), Slot::Ok),
        Some(Err(_)) => (
            format!(" {} stopped · palette: retry · Esc ", p.service),
            Slot::Error,
        ),
    };
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(t.style(slot))
                .title(Span::styled(sanitize(&title).into_owned(), t.style(slot))),
        ),
        area,
    );
}

pub(crate) fn draw_toasts(m: &Model, f: &mut Frame, body: Rect) {
    // Toasts take at most half the body (newest at the bottom), so the pane stays
    // readable; what does not fit is counted on one line above them.
    let top = body.bottom().saturating_sub(body.height.div_ceil(2));
    let mut y = body.bottom();
    let mut shown = 0;
    for toast in m.toasts.iter().rev() {
        let width = (toast.text.chars().count() as u16 + 4).min(body.width.saturating_sub(2));
        let inner = width.saturating_sub(2).max(1);
        let lines = (toast.text.chars().count() as u16).div_ceil(inner).max(1);
        let h = (lines + 2).min(5);
        // Room for the "more" line unless this is the last toast.
        let reserve = u16::from(shown + 1 < m.toasts.len());
        if y < top + h + reserve {
            break;
        }
        y -= h;
        shown += 1;
        let area = Rect::new(body.right().saturating_sub(width + 1), y, width, h);
        let slot = match toast.level {
            Level::Error => Slot::ToastError,
            Level::Info => Slot::ToastInfo,
        };
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(toast.text.clone())
                .wrap(Wrap { trim: true })
                .style(m.theme.style(slot))
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_type(BorderType::Rounded)
                        .border_style(m.theme.style(slot)),
                ),
            area,
        );
    }
    let hidden = m.toasts.len() - shown;
    if hidden > 0 && y > body.y {
        let text = format!(" +{hidden} more (all in the log) ");
        let width = (text.chars().count() as u16).min(body.width.saturating_sub(2));
        let area = Rect::new(body.right().saturating_sub(width + 1), y - 1, width, 1);
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(text).style(m.theme.style(Slot::ToastInfo)),
            area,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{ClusterEvent, ClusterId};
    use crate::tui::harness::Harness;

    /// Read from the agent, a cluster whose data the agent has not kept current is
    /// "stale", not unreachable; a cluster that is itself unreachable still says so.
    #[tokio::test]
    async fn the_header_says_stale_when_the_agents_data_is_old() {
        let mut h = Harness::demo(100, 24).await.expect("demo platform opens");
        h.pump();
        let cluster = ClusterId::new("production", "eu-west-1");
        h.model.live.apply(ClusterEvent::Unreachable {
            cluster: cluster.clone(),
            error: format!(
                "{}: the agent last read the clusters 2m ago",
                crate::backend::agent_source::STALE
            ),
        });
        let screen = h.render();
        let header = screen.lines().next().unwrap_or_default();
        assert!(header.contains("1 clusters stale"), "{header}");
        h.model.live.apply(ClusterEvent::Unreachable {
            cluster,
            error: "connection refused".into(),
        });
        let screen = h.render();
        let header = screen.lines().next().unwrap_or_default();
        assert!(header.contains("1 clusters unreachable"), "{header}");
    }
}
