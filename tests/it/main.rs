//! The integration tests, one binary: each module below was its own test crate.
//! One link instead of twenty keeps CI's disk and link time small; the modules
//! still run in parallel and share nothing but `common`.

// Test code: the helpers in `common` (peers, fake hosts) stop the test with their
// message when their set-up fails, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod access_cli;
mod actions_cli;
mod agent;
mod agent_client;
mod agent_failures;
mod aws_provider;
mod catalog_cli;
mod catalog_corpus;
mod catalog_fixtures;
mod demo_catalog;
mod diagnose_cli;
mod diagnose_kube;
mod drift_alerts;
mod drift_cli;
mod e2e_configured;
mod env_cli;
mod footer_keys;
mod gapped_topology;
mod github_provider;
mod golden_cli;
mod golden_configured;
mod kafka_provider;
mod kube_provider;
mod policy_corners;
mod port_import;
mod score_cli;
mod secret_actions_cli;
mod smoke_tmux;
mod startup_tui;
mod state_cli;
mod terminal_safety;
mod tui_diagnose;
mod tui_keys;
mod tui_snapshots;
