//! Parsing the command line, with a tip for a mistyped long flag. clap suggests a flag
//! only above a Jaro similarity of 0.7, which a swap of two letters in a short name
//! misses (`--evn` is 0.56 from `--env`): then the closest flag of the command it was
//! given to, by edit distance, becomes the tip.

use std::ffi::OsString;

use clap::CommandFactory;
use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::Cli;

/// Parse `args` (the program name first), as `Cli::try_parse_from` does, adding the tip.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    Cli::try_parse_from(&args).map_err(|mut e| {
        suggest_flag(&mut e, &args);
        e
    })
}

/// An unknown `--flag` with no suggestion from clap gets the closest long flag (one or
/// two edits away, a swap counting one) of the subcommand it was given to.
fn suggest_flag(e: &mut clap::Error, args: &[OsString]) {
    if e.kind() != ErrorKind::UnknownArgument || e.get(ContextKind::SuggestedArg).is_some() {
        return;
    }
    let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidArg) else {
        return;
    };
    let Some(typed) = bad.strip_prefix("--") else {
        return;
    };
    let typed = typed.split('=').next().unwrap_or(typed).to_string();
    let mut cmd = Cli::command();
    cmd.build();
    let mut at = &cmd;
    for word in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = at.find_subcommand(word) {
            at = sub;
        }
    }
    let best = at
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|long| (strsim::damerau_levenshtein(&typed, long), long))
        .filter(|(d, long)| *d <= if long.len() > 5 { 2 } else { 1 })
        .min_by_key(|(d, _)| *d);
    if let Some((_, long)) = best {
        e.insert(
            ContextKind::SuggestedArg,
            ContextValue::String(format!("--{long}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_from;

    fn error_of(args: &[&str]) -> String {
        parse_from(args.iter().copied())
            .unwrap_err()
            .render()
            .to_string()
    }

    #[test]
    fn a_swapped_flag_gets_the_flag_of_its_subcommand_as_a_tip() {
        let text = error_of(&["sphere", "pods", "checkout-service", "--evn", "production"]);
        assert!(text.contains("unexpected argument '--evn'"), "{text}");
        assert!(
            text.contains("a similar argument exists: '--env'"),
            "{text}"
        );
        // One clap finds itself keeps its own tip, once.
        let text = error_of(&["sphere", "audit", "--sicne=2h"]);
        assert!(
            text.matches("a similar argument exists: '--since'").count() == 1,
            "{text}"
        );
    }

    #[test]
    fn a_flag_like_nothing_gets_no_tip() {
        let text = error_of(&["sphere", "pods", "checkout-service", "--banana"]);
        assert!(!text.contains("similar argument"), "{text}");
    }

    #[test]
    fn a_good_command_line_still_parses() {
        assert!(parse_from(["sphere", "pods", "checkout-service", "--env", "production"]).is_ok());
    }
}
