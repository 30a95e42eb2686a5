//! Text from remote systems, made safe to draw.

use std::borrow::Cow;

/// Strip escape sequences (CSI, OSC, ...) and every other control character from a
/// string that came from outside sphere, so it can never move the cursor, change
/// colours, set the window title or write to the clipboard when drawn.
///
/// Tabs become a space; newlines become a space too (one row per value in tables).
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_cleaning) {
        return Cow::Borrowed(s);
    }
    let spaced: String = s
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let stripped = strip_ansi_escapes::strip_str(&spaced);
    Cow::Owned(
        stripped
            .chars()
            .filter(|&c| !c.is_control() && !is_bidi_control(c))
            .collect(),
    )
}

/// Show a value whole but harmless on a terminal: every control character (C0, DEL,
/// C1) and bidirectional control is written as a visible escape (`\x1b`, `\r`,
/// `\u{202e}`); newlines and tabs stay as they are. For values shown on purpose (a revealed secret), where
/// [`sanitize`] would silently change what the user copies.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let escaped = |c: char| needs_cleaning(c) && !matches!(c, '\n' | '\t');
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if escaped(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if escaped(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_cleaning(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Bidirectional overrides can reorder what a reader sees (the "trojan source" trick).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// A duration in seconds the way a table shows an age: `40s`, `12m`, `3h5m`, `2d4h`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A timestamp in UTC as RFC 3339 (`2025-05-01T12:00:00Z`).
pub fn rfc3339(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(sanitize("payments-api"), Cow::Borrowed(_)));
    }

    #[test]
    fn strips_csi_osc_and_controls() {
        let evil = "ok\x1b[2J\x1b]0;pwned\x07\x1b]52;c;Zm9v\x07 done\x08\x00";
        assert_eq!(sanitize(evil), "ok done");
    }

    #[test]
    fn newlines_and_tabs_become_spaces() {
        assert_eq!(sanitize("a\nb\tc"), "a b c");
    }

    #[test]
    fn strips_bidi_overrides() {
        assert_eq!(sanitize("adm\u{202E}nimda"), "admnimda");
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(61), "1m");
        assert_eq!(age(3 * 3600 + 5 * 60), "3h5m");
        assert_eq!(age(2 * 86_400 + 4 * 3600), "2d4h");
    }

    #[test]
    fn escapes_controls_visibly_and_keeps_lines() {
        assert!(matches!(escape_controls("plain ✓"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\x1b]0;t\x07b\r\u{9b}c\u{202E}d\\e\nline2\tx"),
            "a\\x1b]0;t\\x07b\\r\\x9bc\\u{202e}d\\e\nline2\tx"
        );
        let shown = escape_controls("\x1b[2J\x00\x7f");
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
    }

    #[test]
    fn keeps_unicode() {
        assert_eq!(sanitize("café ✓ 東京"), "café ✓ 東京");
    }
}
