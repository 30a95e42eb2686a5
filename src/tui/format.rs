//! Shared formatting for the panes: short cluster, environment and region names,
//! plurals, deployment states.

use crate::config::theme::Slot;
use crate::domain::RolloutState;

/// `1 drift finding`, `3 drift findings`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// One deployment's state in a word or two, and the colour to draw it in.
pub fn deployment_state(
    d: &crate::domain::service::DeploymentRow<'_>,
    crash: u32,
) -> (String, Slot) {
    match d.rollout {
        _ if crash > 0 => (format!("crashloop ×{crash}"), Slot::Error),
        RolloutState::Complete if d.ready >= d.desired => ("ready".into(), Slot::Ok),
        RolloutState::Complete => ("degraded".into(), Slot::Warn),
        RolloutState::Progressing => (
            format!("rolling {}/{}", d.updated, d.desired),
            Slot::Pending,
        ),
        RolloutState::Stalled => ("stalled".into(), Slot::Error),
    }
}

/// A cluster's name in at most `width` columns: `env/region`, or short (`prod·euw1`)
/// when `short`. When it does not fit, the environment is cut (`producti…/us-east-1`),
/// never the region first, so the clusters of one long-named environment stay apart.
pub fn cluster_label(env: &str, region: &str, width: usize, short: bool) -> String {
    let (env, sep, region) = if short {
        (short_env(env), '·', short_region(region))
    } else {
        (env, '/', region.to_string())
    };
    let full = env.chars().count() + 1 + region.chars().count();
    if full <= width {
        return format!("{env}{sep}{region}");
    }
    // Room for the environment: the width less the separator, the region and `…`.
    let room = width.saturating_sub(region.chars().count() + 2);
    if room == 0 {
        return format!("{env}{sep}{region}").chars().take(width).collect();
    }
    let cut: String = env.chars().take(room).collect();
    format!("{cut}…{sep}{region}")
}

pub fn short_env(env: &str) -> &str {
    match env {
        "production" => "prod",
        "staging" => "stg",
        other => other,
    }
}

/// `us-east-1` → `use1`, `ap-southeast-2` → `apse2`, `eu-central-1` → `euc1`.
pub fn short_region(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    if parts.len() < 3 {
        return region.to_string();
    }
    let dir = |w: &str| -> String {
        match w {
            "northeast" => "ne".into(),
            "northwest" => "nw".into(),
            "southeast" => "se".into(),
            "southwest" => "sw".into(),
            w => w.chars().take(1).collect(),
        }
    };
    let middle: String = parts[1..parts.len() - 1].iter().map(|w| dir(w)).collect();
    format!("{}{middle}{}", parts[0], parts[parts.len() - 1])
}

/// "  clusters 1–5 of 9 (h/l)" when not every cluster fits.
pub(crate) fn cols_hint(first: usize, fit: usize, total: usize) -> String {
    if total <= fit {
        String::new()
    } else {
        format!(
            "  clusters {}–{} of {total} (h/l)",
            first + 1,
            (first + fit).min(total)
        )
    }
}

/// The selected cell of a selected row (the matrix, the secrets grid): the cell every
/// rollback, reveal, put, delete and copy acts on. Reversed against a coloured row; when
/// the row itself is reversed (the mono theme, `NO_COLOR`) the cell is drawn the other
/// way round, bold and underlined, so it still stands out.
pub(crate) fn selected_cell_style(t: &crate::config::theme::Theme) -> ratatui::style::Style {
    use ratatui::style::{Modifier, Style};
    if t.style(Slot::Selection)
        .add_modifier
        .contains(Modifier::REVERSED)
    {
        Style::default()
            .remove_modifier(Modifier::REVERSED)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    } else {
        Style::default().add_modifier(Modifier::REVERSED)
    }
}

/// `text` wrapped at word boundaries into lines of at most `width` characters (a word
/// longer than a line is split). Cheap and plain: for help and descriptions.
pub(crate) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if len > 0 {
                lines.push(std::mem::take(&mut line));
                len = 0;
            }
            lines.push(word.drain(..width).collect());
        }
        if word.is_empty() {
            continue;
        }
        if len > 0 && len + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        len += word.len();
        line.extend(word);
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod wrap_tests {
    use super::{cluster_label, wrap_words};

    #[test]
    fn a_cluster_label_cuts_the_environment_not_the_region() {
        assert_eq!(
            cluster_label("production", "eu-west-1", 13, true),
            "prod·euw1"
        );
        assert_eq!(
            cluster_label("production", "eu-west-1", 26, false),
            "production/eu-west-1"
        );
        // A long environment: its clusters stay apart by region.
        assert_eq!(
            cluster_label("production-2931", "us-east-1", 13, true),
            "product…·use1"
        );
        assert_eq!(
            cluster_label("production-2931", "eu-west-1", 13, true),
            "product…·euw1"
        );
        assert_eq!(
            cluster_label("production-blue-green", "ap-southeast-2", 26, false),
            "production…/ap-southeast-2"
        );
        assert_eq!(
            cluster_label("production-blue-green", "ap-southeast-2", 26, false)
                .chars()
                .count(),
            26
        );
        // No room for the environment at all: the start of the whole name.
        assert_eq!(
            cluster_label("staging", "ap-southeast-2", 8, false),
            "staging/"
        );
    }

    #[test]
    fn wraps_at_words_and_splits_a_long_word() {
        assert_eq!(wrap_words("a bb ccc dd", 6), ["a bb", "ccc dd"]);
        assert_eq!(wrap_words("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap_words("", 5), [""]);
    }
}
