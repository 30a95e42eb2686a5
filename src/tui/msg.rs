//! What arrives at the TUI (`Msg`) and what `update` asks the loop to do (`Effect`).
//! Every key, provider answer, watch event, timer and signal is a `Msg`; the one
//! effect runner (`app::run_effect`) carries out the `Effect`s, in the app and in the
//! test harness alike.

use std::sync::Arc;

use crossterm::event::Event;

use crate::actions::{Action, Confirm, StepReport};
use crate::domain::ClusterEvent;
use crate::domain::catalog::Catalog;

use super::fetch::{Fetch, Fetched};

/// Everything that can happen.
#[derive(Debug)]
pub enum Msg {
    Term(Event),
    Cluster(ClusterEvent),
    CatalogLoaded(Result<Arc<Catalog>, String>),
    /// What the header must say about a provider now (`None`: nothing).
    Notice(Option<String>),
    Toast(Level, String),
    /// A read a pane asked for: its result, or the read and why it failed.
    Fetched(Result<Fetched, (Fetch, String)>),
    /// A read of a source the configuration does not declare (what to add to it).
    Unconfigured(Fetch, String),
    /// An action ran (what happened), or was refused or failed (why).
    Acted(Result<String, String>),
    /// A step of the golden path ended (while it runs).
    Progress(StepReport),
    /// The golden path ended: what happened, or why it stopped.
    ServiceCreated(Result<String, String>),
    /// The action needs this confirmation before it runs (with the reason and
    /// override it was asked with).
    NeedsConfirm(Action, Confirm, Why),
    /// Refused because a lock covers the target: the refusal (naming the holders and
    /// why), to override on purpose with a reason or leave.
    Locked {
        action: Action,
        why: Why,
        refusal: String,
    },
    /// An unlock found only other holders' locks: the action that removes them too,
    /// and what the refusal said (naming them).
    OthersHold {
        action: Action,
        refusal: String,
    },
    /// Refused because the actor does not own the service: the refusal, and the access
    /// that would allow it, to ask for on the spot (C15).
    NotOwner {
        why: String,
        service: String,
        permission: crate::domain::access::Permission,
    },
    /// A secret revealed on purpose (audited): shown for a few seconds, then masked.
    Revealed(String, crate::domain::SecretValue),
    /// SIGTERM, SIGHUP: leave cleanly.
    Quit,
    /// A logs view's stream opened ([`Effect::OpenLogs`]): its bounded channel and
    /// task, or why it could not be read.
    LogsOpened {
        id: u64,
        #[allow(clippy::type_complexity)]
        res: Result<
            (
                tokio::sync::mpsc::Receiver<crate::domain::pod::LogLine>,
                tokio::task::JoinHandle<()>,
            ),
            String,
        >,
    },
    /// A pod view's read ([`Effect::ReadPod`]): the pod's details and events, or why
    /// they could not be read.
    PodRead {
        cluster: crate::domain::ClusterId,
        pod: String,
        res: Result<Box<super::panes::pod::PodView>, String>,
    },
}

/// What `update` asks the loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    Suspend,
    /// Forget what is on screen and draw everything again.
    ClearScreen,
    /// Read something from the platform; the answer arrives as `Msg::Fetched`.
    Fetch(Fetch),
    /// Put text on the clipboard of the terminal (OSC 52: works over SSH).
    Copy(String),
    /// Hand an action to the dispatcher; `confirmed` once the user confirmed it.
    Act {
        action: Action,
        confirmed: bool,
    },
    /// [`Effect::Act`] with the user's reason and lock override.
    ActWhy {
        action: Action,
        confirmed: bool,
        why: Why,
    },
    /// Read the catalog again (an action registered or changed an entity).
    ReloadCatalog,
    /// Read the catalog again from its sources now (`C-r`), not from what is held.
    RefreshCatalog,
    /// Read a pod for the pod view (its events as the user: audited, and refused in
    /// production to whoever does not own the service); the answer is `Msg::PodRead`.
    ReadPod {
        cluster: crate::domain::ClusterId,
        pod: String,
    },
    /// Open a logs view's stream (authorised and audited as the user); the answer
    /// is `Msg::LogsOpened` (and `Msg::NotOwner` when refused for want of access).
    OpenLogs(super::panes::logs::LogsRequest),
}

/// Why the user acts (recorded in the audit trail), and the reason to override a lock
/// (`--reason` and `--override-lock` in the CLI).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Why {
    pub reason: Option<String>,
    pub override_lock: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}
