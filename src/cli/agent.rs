//! `sphere agent`: the headless process that watches the platform once and publishes it
//! to Kafka (see [`crate::agent`]). Runs until SIGTERM or ctrl-c.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::{Cli, Ctx, UsageError, build_direct};
use crate::config::agent::{SOURCES, is_agent_problem};

#[derive(Debug, Args)]
pub struct AgentArgs {}

pub async fn run(cli: &Cli, ctx: &Ctx, _args: &AgentArgs) -> Result<ExitCode> {
    let file = ctx
        .config
        .source
        .as_ref()
        .map_or_else(|| ctx.paths.config_file(), Clone::clone);
    // A headless process does not run on a guess: every [agent] problem (printed above,
    // each naming the file and the key) stops it.
    let problems = ctx.problems.iter().filter(|p| is_agent_problem(p)).count();
    if problems > 0 {
        return Err(UsageError(format!(
            "{}: [agent] has {problems} problem{} (above); the agent does not start",
            file.display(),
            if problems == 1 { "" } else { "s" }
        ))
        .into());
    }
    let Some(config) = ctx.config.agent.clone() else {
        return Err(UsageError(format!(
            "{}: there is no [agent] section: add one naming the broker ([agent.properties] \"bootstrap.servers\"; see the README's \"sphere agent\")",
            file.display()
        ))
        .into());
    };
    // Never from its own topics, whatever `[source]` says.
    let (platform, sim) = build_direct(cli, ctx).await?;
    let demo = platform.kind == crate::backend::PlatformKind::Demo;
    let sources = match &config.sources {
        Some(names) => SOURCES
            .into_iter()
            .filter(|s| names.iter().any(|n| n == s))
            .collect(),
        None => crate::agent::default_sources(&ctx.config, demo),
    };
    let hash_key = crate::agent::records::HashKey::load(
        std::env::var(crate::agent::records::HASH_KEY_ENV).ok(),
        &ctx.paths.state_dir.join("agent-hash.key"),
    )?;
    let opts = crate::agent::Options {
        config,
        kafka: ctx.config.kafka.clone(),
        sources,
        hash_key,
    };
    crate::agent::run(platform, sim, opts, crate::agent::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
