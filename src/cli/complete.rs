//! Dynamic shell completion (`COMPLETE=bash sphere` prints the shell's hook): the
//! values of `SERVICE`, `--env` and `--region` come from the platform sphere would open,
//! read cheaply: the configured `[[clusters]]` and `[catalog] paths`, else the demo's
//! topology and embedded catalog. Nothing is asked of a remote system.

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use super::Cli;
use crate::backend::facts::is_service;
use crate::config::{Config, Paths};
use crate::domain::catalog::load::{FsReader, load};

/// Complete the command line when the shell asks (`COMPLETE` set), then exit; else
/// return at once.
pub fn complete_if_asked() {
    clap_complete::CompleteEnv::with_factory(command).complete();
}

/// `sphere completions SHELL`: the shell's hook for dynamic completion (what
/// `COMPLETE=SHELL sphere` prints), calling `completer` back for every TAB.
pub fn write_registration(
    shell: clap_complete::Shell,
    completer: &str,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let name = shell.to_string();
    let Some(hook) = shells.completer(&name) else {
        return Err(std::io::Error::other(format!(
            "no dynamic completion for {name}"
        )));
    };
    hook.write_registration("COMPLETE", "sphere", "sphere", completer, out)
}

/// The command with value candidates on every `SERVICE`, `--env` and `--region`.
pub fn command() -> clap::Command {
    with_candidates(Cli::command(), config)
}

/// `cmd` and its subcommands with candidates from the config `read` gives.
fn with_candidates(cmd: clap::Command, read: fn() -> Config) -> clap::Command {
    let offer = move |of: fn(&Config) -> Vec<String>| {
        ArgValueCandidates::new(move || {
            of(&read())
                .into_iter()
                .map(CompletionCandidate::new)
                .collect::<Vec<_>>()
        })
    };
    let cmd = cmd.mut_args(|arg| match arg.get_id().as_str() {
        "service" => arg.add(offer(services)),
        "env" => arg.add(offer(environments)),
        "region" => arg.add(offer(regions)),
        _ => arg,
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names.into_iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| with_candidates(sub, read))
    })
}

/// The config sphere would read (problems ignored: completion says nothing).
fn config() -> Config {
    let Ok(paths) = Paths::discover() else {
        return Config::default();
    };
    let explicit = std::env::var_os("SPHERE_CONFIG").map(std::path::PathBuf::from);
    Config::load(&paths, explicit.as_deref()).0
}

fn services(config: &Config) -> Vec<String> {
    let catalog = if config.catalog.paths.is_empty() {
        crate::backend::catalog::demo_catalog()
    } else {
        load(&config.catalog.paths, &FsReader)
    };
    let mut names: Vec<String> = catalog
        .entities()
        .iter()
        .filter(|e| is_service(e))
        .map(|e| e.name.to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn environments(config: &Config) -> Vec<String> {
    if config.clusters.is_empty() {
        return crate::backend::sim::topology_for(&Default::default()).environments;
    }
    let mut envs: Vec<String> = Vec::new();
    for c in &config.clusters {
        if !envs.contains(&c.env) {
            envs.push(c.env.clone());
        }
    }
    envs
}

fn regions(config: &Config) -> Vec<String> {
    if config.clusters.is_empty() {
        return crate::backend::sim::topology_for(&Default::default()).regions;
    }
    let mut regions: Vec<String> = Vec::new();
    for c in &config.clusters {
        if !regions.contains(&c.region) {
            regions.push(c.region.clone());
        }
    }
    regions
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::{Cli, with_candidates};
    use crate::config::Config;

    /// What the shell gets for `sphere ARGS<TAB>` (the last word is completed), with no
    /// config of the user's: the demo.
    fn complete(args: &[&str]) -> Vec<String> {
        let mut cmd = with_candidates(Cli::command(), Config::default);
        let words: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        let index = words.len() - 1;
        clap_complete::engine::complete(&mut cmd, words, index, None)
            .unwrap()
            .into_iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_registration_calls_sphere_back_for_every_completion() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh] {
            let mut out = Vec::new();
            super::write_registration(shell, "/usr/bin/sphere", &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("COMPLETE=") && text.contains("/usr/bin/sphere"),
                "{text}"
            );
        }
    }

    #[test]
    fn services_environments_and_regions_of_the_demo_are_offered() {
        let services = complete(&["sphere", "pods", "checkout-"]);
        assert_eq!(services, ["checkout-service", "checkout-web"]);
        let envs = complete(&["sphere", "pods", "checkout-service", "--env", ""]);
        assert_eq!(envs, ["dev", "staging", "production"]);
        let regions = complete(&["sphere", "pods", "checkout-service", "--region", "eu"]);
        assert!(
            regions.iter().all(|r| r.starts_with("eu")) && !regions.is_empty(),
            "{regions:?}"
        );
    }
}
