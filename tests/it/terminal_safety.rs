//! Nothing from data reaches the terminal: a catalog whose every text field holds
//! escape sequences (CSI, OSC, C1 controls, bidi overrides), and actions whose
//! reasons do too, then every CLI command's table output checked byte by byte.

use std::path::PathBuf;

use crate::common::*;

/// A character that must never reach a terminal from data.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/escapes")
}

fn assert_clean(args: &[&str], out: &std::process::Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        if let Some((i, c)) = text.char_indices().find(|(_, c)| unsafe_char(*c)) {
            let from = text[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
            panic!(
                "`sphere {}` wrote {c:?} to {stream}, after {:?}",
                args.join(" "),
                &text[from..i]
            );
        }
    }
}

#[test]
fn no_command_lets_an_escape_sequence_from_data_reach_the_terminal() {
    let dir = tmp();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[catalog]\npaths = [{:?}]\n[policy]\nadmins = [\"you\"]\n",
            fixture().display().to_string()
        ),
    )
    .expect("config");
    let evil = "INC\x1b]0;PWNED\x07-7 \x1b[2J\u{202E}x\u{9b}1m";
    // Actions whose free text is data for every later command.
    let actions: Vec<Vec<&str>> = vec![
        vec![
            "lock", "evil-api", "--env", "staging", "--reason", evil, "--yes",
        ],
        vec![
            "access",
            "request",
            "evil-api",
            "--permission",
            "operate",
            "--reason",
            evil,
            "--as",
            "eve",
        ],
        vec!["freeze", "on", "--reason", evil, "--yes"],
    ];
    for args in &actions {
        let out = sphere(&dir, args);
        assert_clean(args, &out);
    }
    let reads: Vec<Vec<&str>> = vec![
        vec!["catalog", "list", "--kind", "all"],
        vec!["catalog", "show", "evil-api"],
        vec!["catalog", "show", "evil-worker"],
        vec!["catalog", "show", "evil-team"],
        vec!["catalog", "show", "eve"],
        vec!["catalog", "show", "evil-system"],
        vec!["catalog", "show", "evil-api-http"],
        vec!["score"],
        vec!["score", "evil-api"],
        vec!["explain", "evil-api"],
        vec!["explain", "evil-worker"],
        vec!["deploy", "matrix"],
        vec!["pods", "evil-api"],
        vec!["secret", "list", "evil-api"],
        vec!["secret", "drift"],
        vec!["flag", "list"],
        vec!["audit"],
        vec![
            "lock",
            "check",
            "evil-api",
            "--env",
            "staging",
            "--region",
            "us-east-1",
        ],
        vec!["freeze", "status"],
        vec!["access", "list"],
        vec!["access", "list", "--pending"],
        vec!["env", "list"],
        vec!["problems"],
        vec!["events", "evil-api"],
        vec!["logs", "evil-api", "--tail", "2"],
        vec!["describe", "pod", "evil\x1b[2J-pod"],
        // Refusals and errors name data too.
        vec!["logs", "evil-api", "--env", "production", "--as", "eve"],
        vec![
            "lock", "evil-api", "--env", "staging", "--reason", evil, "--as", "eve", "--yes",
        ],
        vec![
            "restart",
            "evil-api",
            "--env",
            "production",
            "--region",
            "us-east-1",
            "--as",
            "eve",
        ],
    ];
    for args in &reads {
        let out = sphere(&dir, args);
        assert_clean(args, &out);
    }
    // The data is there to be shown (without its escapes): the checks above saw it.
    let out = sphere(&dir, &["catalog", "show", "evil-api"]);
    assert!(stdout(&out).contains("Takes"), "{}", stdout(&out));
    let out = sphere(&dir, &["audit"]);
    assert!(stdout(&out).contains("INC"), "{}", stdout(&out));
}
