//! The model and `update`: every key, provider result, timer and signal arrives as a
//! `Msg`; `update` changes the model and returns effects for the loop to carry out.
//! Nothing here touches the terminal or a provider.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use nucleo_matcher::{Config as MatcherConfig, Matcher};

use crate::actions::{Action, Policy, StepReport, StepStatus};
use crate::config::{Key, KeyMatcher, Keymap, Match, Theme};
use crate::domain::catalog::Catalog;
use crate::domain::environment::{format_duration, parse_duration};
use crate::domain::golden::{ServiceRequest, Step};
use crate::domain::service::{LiveState, rows_from_catalog};
use crate::domain::text::sanitize;
use crate::domain::{ClusterEvent, Scope, Topology};

use super::catalog::{CatalogState, Grouping};
use super::command::{Command, LockVerb, ScopeArg};
use super::fetch::{Fetch, Fetched, ServiceReport};
use super::layers::Input;
pub use super::layers::{
    ConfirmState, Layer, Layers, PaletteItem, PaletteState, Pending, PromptState,
};
pub use super::msg::{Effect, Level, Msg, Why};
pub use super::panes::matrix::MatrixCache;
pub use super::panes::secrets::SecretView;
use crate::domain::{AuditRecord, FlagState, Lock, SecretMeta};

/// How long a revealed secret stays readable before it is masked again.
pub const REVEAL_FOR: Duration = Duration::from_secs(10);

/// How often a pane that shows polled data (locks, audit, flags) reads it again.
pub const POLL: Duration = Duration::from_secs(5);

/// How often the secrets pane and the service view read again: each read lists every
/// region's secrets (and the service view asks GitHub), at the providers' per-call
/// price, for data that seldom changes.
pub const SLOW_POLL: Duration = Duration::from_secs(30);
/// How often the freeze and the GitOps repository (GitHub reads, counted against the
/// token's hourly limit) are read while a pane shows them.
pub const GITHUB_POLL: Duration = Duration::from_secs(60);

pub use super::list::ListPos;

/// Data a pane read from a provider: not asked yet, arrived, or failed.
#[derive(Debug, Clone, Default)]
pub enum Remote<T> {
    #[default]
    NotAsked,
    Ready(T),
    Failed(String),
}

impl<T> Remote<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Remote::Ready(t) => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Toast {
    pub level: Level,
    pub text: String,
    pub until: Instant,
}

/// The golden path while it runs and a while after: each step as it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The service being created.
    pub service: String,
    /// Every step, and what became of it (`None`: not ended yet).
    pub steps: Vec<(Step, Option<StepStatus>, String)>,
    /// Set when the run ended: what happened, or why it stopped.
    pub outcome: Option<Result<String, String>>,
    /// When the panel goes (a success, a while after; a failure stays until Esc).
    pub until: Option<Instant>,
}

impl Progress {
    pub fn new(request: &ServiceRequest) -> Progress {
        Progress {
            service: request.name.clone(),
            steps: request
                .steps()
                .into_iter()
                .map(|s| (s, None, String::new()))
                .collect(),
            outcome: None,
            until: None,
        }
    }

    pub(crate) fn report(&mut self, r: &StepReport) {
        if let Some(x) = self.steps.iter_mut().find(|x| x.0 == r.step) {
            x.1 = Some(r.status.clone());
            x.2 = r.detail.clone();
        }
    }

    /// The step running now: the first one not ended, while the run goes on.
    pub fn running(&self) -> Option<Step> {
        if self.outcome.is_some() {
            return None;
        }
        self.steps.iter().find(|x| x.1.is_none()).map(|x| x.0)
    }
}

/// The panes, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Catalog,
    Deployments,
    Pods,
    Secrets,
    Flags,
    Audit,
    Problems,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Catalog,
        Tab::Deployments,
        Tab::Pods,
        Tab::Secrets,
        Tab::Flags,
        Tab::Audit,
        Tab::Problems,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Catalog => "Catalog",
            Tab::Deployments => "Deployments",
            Tab::Pods => "Pods",
            Tab::Secrets => "Secrets",
            Tab::Flags => "Flags",
            Tab::Audit => "Audit",
            Tab::Problems => "Problems",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// A drill-down above the current tab; `Esc` pops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A service's full detail view.
    Service(String),
    /// One pod: describe and events (`panes/pod.rs`).
    Pod(crate::domain::ClusterId, String),
    /// The logs view (its state is `Model::logs`).
    Logs,
}

pub struct Model {
    pub platform_name: String,
    pub demo: bool,
    pub user: String,
    /// The admin acting as `user` (`--as` on a configured platform): the audit trail
    /// records both names.
    pub impersonator: Option<String>,
    pub topology: Topology,
    pub scope: Scope,
    pub catalog: Option<Arc<Catalog>>,
    pub catalog_error: Option<String>,
    /// Problems in the configuration files, found at start: kept for the problems pane
    /// (a toast only says how many).
    pub config_problems: Vec<String>,
    /// What the GitOps repository declares, as last read (the matrix's ⎇ marks).
    pub declared: Option<crate::domain::drift::GitDeclared>,
    /// The last error of each background read (locks, freeze, git, access requests),
    /// by the read's name: told once, not on every poll, and forgotten when the read
    /// succeeds again.
    pub fetch_errors: HashMap<&'static str, String>,
    /// Reads (by [`Fetch::name`]) of sources the configuration does not declare: the
    /// pane says what to add, and Problems does not count them.
    pub unconfigured: std::collections::BTreeSet<&'static str>,
    /// When the merge freeze and the GitOps repository were last asked for: both are
    /// GitHub reads, made at most once every [`GITHUB_POLL`].
    pub freeze_asked: Option<Instant>,
    pub declared_asked: Option<Instant>,
    /// What a provider says the header must show now (GitHub's rate limit reached).
    pub notice: Option<String>,
    pub live: LiveState,
    pub cat: CatalogState,
    pub tab: Tab,
    pub routes: Vec<Route>,
    /// Scroll position of the detail view on top of the route stack.
    pub detail_scroll: usize,
    /// The layers over the panes (help, palette, prompt, confirmation, form): the
    /// top one takes each key first.
    pub layers: Layers,
    pub toasts: Vec<Toast>,
    pub keymap: Keymap,
    pub keys: KeyMatcher,
    pub theme: Theme,
    pub palette: Vec<PaletteItem>,
    pub toast_ttl: Duration,
    pub locks: Vec<Lock>,
    /// The merge freeze, as last read.
    pub freeze: crate::domain::Freeze,
    /// Every access request, as last read.
    pub access: Vec<crate::domain::access::AccessRequest>,
    /// How many of them wait for the user to decide (shown in the header).
    pub access_waiting: usize,
    pub audit: Remote<Vec<AuditRecord>>,
    /// What of the audit trail waits to reach its store, and why.
    pub audit_backlog: Option<String>,
    pub flags: Remote<Vec<FlagState>>,
    /// The flags pane's rows (every flag by cluster), built when the flags arrive.
    pub flag_table: Vec<crate::domain::flags::FlagRow>,
    /// The secrets pane's drift findings and grid, derived when the secrets arrive.
    pub secret_base: Option<super::panes::secrets::SecretBase>,
    /// The secrets of one service.
    pub secrets: Remote<(String, Vec<SecretMeta>)>,
    /// The regions whose secrets the last read could not get (shown above the grid).
    pub secrets_failed: Vec<crate::domain::RegionFailure>,
    /// The open service view's lifecycle, score and links.
    pub report: Remote<Box<ServiceReport>>,
    /// The deployments matrix: selected row and cell, first column shown, its rows
    /// cached (`panes/matrix.rs`).
    pub matrix: super::panes::matrix::MatrixPane,
    /// The secrets grid's selected cell and first column shown (`panes/secrets.rs`).
    pub secrets_pane: super::panes::secrets::SecretsPane,
    /// The flags grid's first column shown (`panes/flags.rs`).
    pub flags_pane: super::panes::flags::FlagsPane,
    /// Show only services that drifted (the matrix) and keys that drifted (the
    /// secrets grid): one toggle, `d`, shared by both views.
    pub drift_only: bool,
    /// The pods pane: its selection, chosen pod and rows (`panes/pods.rs`).
    pub pods: super::panes::pods::PodsPane,
    pub list: ListPos,
    /// The filter of the panes that are not service lists (pods, secrets, flags, audit).
    pub pane_filter: String,
    pub pane_editing: bool,
    /// When the pane on screen reads its data again.
    pub poll_at: Option<Instant>,
    /// Fixed "now" (Unix seconds) for golden screens; the wall clock otherwise.
    pub now_override: Option<i64>,
    /// Bumped on every deployment event: versions (and so drift) may have changed.
    pub live_gen: u64,
    /// What the dispatcher checks every action against.
    pub policy: Policy,
    /// The golden path's steps while it runs.
    pub progress: Option<Progress>,
    /// How far the platform's clock is ahead of the wall clock (the demo's can be
    /// moved forward), in seconds.
    pub clock_offset: i64,
    /// The last service creation asked for, to retry from the step that failed.
    pub last_create: Option<crate::domain::golden::ServiceRequest>,
    /// Where a failed service creation is kept for a retry after a restart.
    pub retry_store: Option<crate::config::retry::RetryStore>,
    /// A secret value revealed on purpose, what it is, and when it is masked again.
    pub revealed: Option<(String, crate::domain::SecretValue, Instant)>,
    /// The keymap sections of the pane the help was opened from (shown first).
    pub(crate) help_from: Vec<&'static str>,
    /// How far the help can scroll at the last drawn size (set by its layout).
    pub(crate) help_max: std::cell::Cell<usize>,
    /// Something changed since the last frame.
    pub dirty: bool,
    pub(crate) matcher: Matcher,
    /// The problems pane's rows, computed when asked after the data under them changed.
    pub problems: Option<super::panes::problems::ProblemsCache>,
    /// The open pod view's pod, events included.
    pub pod_view: Remote<Box<super::panes::pod::PodView>>,
    /// The open logs view.
    pub logs: Option<super::panes::logs::LogView>,
    /// Numbers the logs views opened, so a late stream of a closed one is dropped.
    pub logs_seq: u64,
    /// The terminal's size (set at start and on every resize): what `settle` lays the
    /// panes out for, so selections and scroll offsets are right before any draw.
    pub screen: ratatui::layout::Rect,
}

pub struct ModelInit {
    pub platform_name: String,
    pub demo: bool,
    pub user: String,
    pub topology: Topology,
    pub keymap: Keymap,
    pub theme: Theme,
    pub toast_ttl: Duration,
    pub group: Grouping,
    pub policy: Policy,
    /// Where a failed service creation is kept across restarts, and the one kept for
    /// this user (offered as the `retry` command at start).
    pub retry_store: Option<crate::config::retry::RetryStore>,
    pub failed_create: Option<crate::config::retry::FailedCreate>,
}

impl Model {
    pub fn new(init: ModelInit) -> Model {
        let mut cat = CatalogState::default();
        cat.set_group(init.group);
        let mut m = Model {
            platform_name: sanitize(&init.platform_name).into_owned(),
            demo: init.demo,
            user: sanitize(&init.user).into_owned(),
            impersonator: None,
            topology: init.topology,
            scope: Scope::default(),
            catalog: None,
            catalog_error: None,
            config_problems: Vec::new(),
            declared: None,
            fetch_errors: HashMap::new(),
            unconfigured: Default::default(),
            freeze_asked: None,
            declared_asked: None,
            notice: None,
            live: LiveState::default(),
            cat,
            tab: Tab::Catalog,
            routes: Vec::new(),
            detail_scroll: 0,
            layers: Layers::default(),
            toasts: Vec::new(),
            keymap: init.keymap,
            keys: KeyMatcher::default(),
            theme: init.theme,
            palette: Vec::new(),
            toast_ttl: init.toast_ttl,
            locks: Vec::new(),
            freeze: crate::domain::Freeze::default(),
            access: Vec::new(),
            access_waiting: 0,
            audit: Remote::NotAsked,
            audit_backlog: None,
            flags: Remote::NotAsked,
            flag_table: Vec::new(),
            secret_base: None,
            secrets: Remote::NotAsked,
            secrets_failed: Vec::new(),
            report: Remote::NotAsked,
            matrix: Default::default(),
            secrets_pane: Default::default(),
            flags_pane: Default::default(),
            drift_only: false,
            pods: Default::default(),
            list: ListPos::default(),
            pane_filter: String::new(),
            pane_editing: false,
            poll_at: None,
            now_override: None,
            live_gen: 0,
            policy: init.policy,
            revealed: None,
            progress: None,
            clock_offset: 0,
            last_create: None,
            retry_store: init.retry_store,
            problems: None,
            pod_view: Remote::NotAsked,
            logs: None,
            logs_seq: 0,
            screen: ratatui::layout::Rect::default(),
            help_from: Vec::new(),
            help_max: std::cell::Cell::new(usize::MAX / 2),
            dirty: true,
            matcher: Matcher::new(MatcherConfig::DEFAULT),
        };
        m.palette = m.build_palette();
        if let Some(f) = init.failed_create {
            m.offer_retry(f);
        }
        m
    }

    /// At start: a service creation that failed before (kept across restarts) is
    /// offered again, as the `retry` command.
    pub fn offer_retry(&mut self, f: crate::config::retry::FailedCreate) {
        self.toast(
            Level::Info,
            format!(
                "creating {} failed{}: `:retry` resumes it",
                f.request.name,
                f.step.map(|s| format!(" at {s}")).unwrap_or_default()
            ),
        );
        self.last_create = Some(f.request);
    }

    /// The keymap sections that apply now, innermost first.
    pub fn sections(&self) -> Vec<&'static str> {
        if let Some(layer) = self.layers.top() {
            return layer.sections();
        }
        if self.editing() {
            return vec!["filter"];
        }
        match (self.routes.last(), self.tab) {
            (Some(Route::Service(_)), _) => vec!["detail", "list", "global"],
            (Some(Route::Pod(..)), _) => vec!["pod", "detail", "list", "global"],
            (Some(Route::Logs), _) => vec!["logs", "list", "global"],
            (None, Tab::Problems) => vec!["problems", "list", "global"],
            (None, Tab::Catalog) => vec!["catalog", "list", "global"],
            (None, Tab::Deployments) => vec!["matrix", "list", "global"],
            (None, Tab::Secrets) => vec!["secrets", "matrix", "list", "global"],
            (None, Tab::Flags) => vec!["flags", "matrix", "list", "global"],
            (None, Tab::Pods) => vec!["pods", "list", "global"],
            (None, _) => vec!["list", "global"],
        }
    }

    /// Is a filter being typed (the services filter, or a pane's own)?
    pub fn editing(&self) -> bool {
        self.layers.is_empty() && self.routes.is_empty() && (self.cat.editing || self.pane_editing)
    }

    /// Panes whose rows are services share the catalog's filter.
    pub fn uses_service_filter(&self) -> bool {
        matches!(self.tab, Tab::Catalog | Tab::Deployments)
    }

    /// The service the service-centric panes (pods, secrets) are about: the open
    /// service view, else the selection in the catalog or the matrix.
    pub fn focus(&self) -> Option<String> {
        if let Some(Route::Service(s)) = self.routes.last() {
            return Some(s.clone());
        }
        if self.tab == Tab::Deployments
            && let Some(&i) = self.matrix_rows().get(self.matrix.pos.selected)
        {
            return Some(self.cat.rows[i].name.to_string());
        }
        self.cat.selected_row().map(|r| r.name.to_string())
    }

    /// Is `service` the focus (see `focus`)? Without building the name, outside the matrix.
    pub(crate) fn is_focus(&self, service: &str) -> bool {
        if let Some(Route::Service(s)) = self.routes.last() {
            return s == service;
        }
        if self.tab == Tab::Deployments {
            return self.focus().as_deref() == Some(service);
        }
        self.cat.selected_row().is_some_and(|r| r.name == service)
    }

    /// Unix seconds now by the platform's clock (fixed in golden-screen tests).
    pub fn now(&self) -> i64 {
        self.now_override
            .unwrap_or_else(|| chrono::Utc::now().timestamp() + self.clock_offset)
    }

    /// What to read when sphere starts.
    pub fn startup_effects(&mut self) -> Vec<Effect> {
        self.freeze_asked = Some(Instant::now());
        vec![
            Effect::Fetch(Fetch::Locks),
            Effect::Fetch(Fetch::Freeze),
            Effect::Fetch(Fetch::Access),
        ]
    }

    /// `what` (the freeze or the GitOps repository, both GitHub reads) when it was not
    /// asked for within [`GITHUB_POLL`]: a pane polling every few seconds reads them
    /// once a minute.
    fn github_read(&mut self, what: Fetch) -> Option<Fetch> {
        let asked = match what {
            Fetch::Freeze => &mut self.freeze_asked,
            Fetch::Declared => &mut self.declared_asked,
            _ => return Some(what),
        };
        let now = Instant::now();
        if asked.is_some_and(|at| now.duration_since(at) < GITHUB_POLL) {
            return None;
        }
        *asked = Some(now);
        Some(what)
    }

    pub fn toast(&mut self, level: Level, text: impl Into<String>) {
        let text = sanitize(&text.into()).into_owned();
        tracing::info!(?level, %text, "toast");
        self.toasts.push(Toast {
            level,
            text,
            until: Instant::now() + self.toast_ttl,
        });
        if self.toasts.len() > 4 {
            self.toasts.remove(0);
        }
        self.dirty = true;
    }

    /// When the loop must wake up even if no message arrives (a toast to expire).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.toasts
            .iter()
            .map(|t| t.until)
            .chain(self.poll_at)
            .chain(self.progress.as_ref().and_then(|p| p.until))
            .chain(self.logs_deadline())
            .min()
    }

    /// Drop expired toasts; read the pane's data again when its poll is due.
    pub fn on_time(&mut self, now: Instant) -> Vec<Effect> {
        self.drain_logs();
        if self.revealed.as_ref().is_some_and(|r| r.2 <= now) {
            self.revealed = None;
            self.dirty = true;
        }
        if self
            .progress
            .as_ref()
            .and_then(|p| p.until)
            .is_some_and(|u| u <= now)
        {
            self.progress = None;
            self.dirty = true;
        }
        let before = self.toasts.len();
        self.toasts.retain(|t| t.until > now);
        if self.toasts.len() != before {
            self.dirty = true;
        }
        match self.poll_at {
            Some(at) if at <= now => {
                self.poll_at = None;
                self.pane_reads()
            }
            _ => vec![],
        }
    }

    /// The reads the pane on screen needs, and when to poll again.
    pub fn pane_reads(&mut self) -> Vec<Effect> {
        if let Some(Route::Service(s)) = self.routes.last() {
            self.poll_at = Some(Instant::now() + SLOW_POLL);
            return vec![Effect::Fetch(Fetch::Report(s.clone()))];
        }
        let every = if self.tab == Tab::Secrets {
            SLOW_POLL
        } else {
            POLL
        };
        let mut reads = match self.tab {
            Tab::Deployments => [
                Some(Fetch::Locks),
                self.github_read(Fetch::Freeze),
                self.github_read(Fetch::Declared),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Tab::Audit => vec![Fetch::Audit],
            Tab::Flags => vec![Fetch::Flags],
            Tab::Secrets => self.focus().map(Fetch::Secrets).into_iter().collect(),
            Tab::Catalog | Tab::Pods => vec![],
            Tab::Problems => [
                Some(Fetch::Locks),
                self.github_read(Fetch::Freeze),
                Some(Fetch::Flags),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        // The header marks the access requests waiting for the user, whatever the pane
        // (a read that changes nothing draws nothing).
        reads.push(Fetch::Access);
        self.poll_at = (!reads.is_empty()).then(|| Instant::now() + every);
        reads.into_iter().map(Effect::Fetch).collect()
    }

    pub(crate) fn on_fetched(&mut self, res: Result<Fetched, (Fetch, String)>) {
        match res {
            Ok(Fetched::Locks(l)) => {
                self.fetch_errors.remove(Fetch::Locks.name());
                if l != self.locks {
                    self.locks = l;
                    self.dirty = true;
                }
            }
            Ok(Fetched::Freeze(freeze)) => {
                self.fetch_errors.remove(Fetch::Freeze.name());
                if freeze != self.freeze {
                    self.freeze = freeze;
                    self.dirty = true;
                }
            }
            Ok(Fetched::Declared(d)) => {
                self.fetch_errors.remove(Fetch::Declared.name());
                if d != self.declared {
                    self.declared = d;
                    self.dirty = true;
                }
            }
            // Drawn again only when the read changed something.
            Ok(Fetched::Access(requests)) => {
                self.fetch_errors.remove(Fetch::Access.name());
                self.set_access(requests);
            }
            Ok(Fetched::Audit(mut a, backlog)) => {
                a.sort_by(|x, y| y.at.cmp(&x.at).then(y.id.cmp(&x.id)));
                if self.audit.ready() != Some(&a) || self.audit_backlog != backlog {
                    self.audit = Remote::Ready(a);
                    self.audit_backlog = backlog;
                    self.dirty = true;
                }
            }
            Ok(Fetched::Flags(f)) => {
                if self.flags.ready() != Some(&f) {
                    // The pane's rows are built here, when the data arrives, not per
                    // frame.
                    self.flag_table =
                        crate::domain::flags::flag_matrix(&f, &self.topology.permanent());
                    self.flags = Remote::Ready(f);
                    self.dirty = true;
                }
            }
            Ok(Fetched::Secrets(svc, list, failed)) => {
                let read = (svc, list);
                if self.secrets.ready() != Some(&read) || self.secrets_failed != failed {
                    // Drift and the grid are derived here, when the data arrives, not
                    // per frame.
                    self.secret_base = Some(super::panes::secrets::SecretBase::new(
                        &read.0,
                        &read.1,
                        &self.topology,
                    ));
                    self.secrets = Remote::Ready(read);
                    self.secrets_failed = failed;
                    self.dirty = true;
                }
            }
            Ok(Fetched::Releases(service, cluster, releases)) => {
                let current = self
                    .live
                    .service(&service)
                    .and_then(|s| s.deployment(&cluster))
                    .map(|d| d.version.to_string());
                // The previous release first, then older ones; the running version is
                // not offered, and those released after it come last, marked: going
                // there rolls forward.
                let running = current
                    .as_ref()
                    .and_then(|c| releases.iter().position(|v| v == c));
                let (older, newer): (Vec<_>, Vec<_>) = releases
                    .iter()
                    .enumerate()
                    .rev()
                    .filter(|(_, v)| Some(*v) != current.as_ref())
                    .partition(|(i, _)| running.is_none_or(|r| *i < r));
                let items: Vec<PaletteItem> = older
                    .into_iter()
                    .chain(newer.into_iter().rev())
                    .map(|(i, v)| PaletteItem {
                        label: format!(
                            "{} → {}{}",
                            current.as_deref().unwrap_or("?"),
                            sanitize(v),
                            if running.is_some_and(|r| i > r) {
                                "  (newer: rolls forward)"
                            } else {
                                ""
                            }
                        ),
                        command: Command::RollbackTo {
                            cluster: cluster.clone(),
                            service: service.clone(),
                            version: v.clone(),
                        },
                        keys: String::new(),
                    })
                    .collect();
                if items.is_empty() {
                    self.toast(Level::Error, format!("{service} has no earlier release"));
                } else {
                    self.open_palette(PaletteState {
                        items,
                        title: format!(" roll back {service} in {cluster} to "),
                        ..PaletteState::default()
                    });
                }
                self.dirty = true;
            }
            Ok(Fetched::Report(r)) => {
                // Only the service still open: a late answer for another is stale.
                // Drawn again only when the read changed something.
                if matches!(self.routes.last(), Some(Route::Service(s)) if *s == r.service)
                    && self.report.ready() != Some(&r)
                {
                    self.report = Remote::Ready(r);
                    self.dirty = true;
                }
            }
            Err((what, e)) => {
                let e = sanitize(&e).into_owned();
                match what {
                    // Background reads: told once per new error (panes poll them), and
                    // what was last read stays (a failed freeze hides no lock).
                    Fetch::Locks | Fetch::Freeze | Fetch::Declared | Fetch::Access => {
                        let name = what.name();
                        if self.fetch_errors.get(name) != Some(&e) {
                            let about = match what {
                                Fetch::Declared => "the GitOps repository",
                                _ => name,
                            };
                            self.toast(Level::Error, format!("{about}: {e}"));
                            self.fetch_errors.insert(name, e);
                        }
                        return;
                    }
                    Fetch::Audit => self.audit = Remote::Failed(e),
                    Fetch::Flags => {
                        self.flags = Remote::Failed(e);
                        self.flag_table.clear();
                    }
                    Fetch::Secrets(_) => {
                        self.secrets = Remote::Failed(e);
                        self.secret_base = None;
                    }
                    Fetch::Report(_) => self.report = Remote::Failed(e),
                    Fetch::Releases(..) => self.toast(Level::Error, format!("releases: {e}")),
                }
                self.dirty = true;
            }
        }
    }

    /// Apply one message, then settle the pane on screen (its selection and scroll
    /// offset for the screen's size): what the next frame draws is decided here, never
    /// in the draw. Watch events are many and change no selection: the pane settles
    /// for them once, before the frame that follows (`app::frame`).
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let settle = !matches!(msg, Msg::Cluster(_));
        let effects = self.reduce(msg);
        if settle {
            self.settle();
        }
        effects
    }

    /// Keep the pane on screen consistent with the screen's size: rows built, the
    /// selection inside the list, the scroll offsets showing it. Pure layout
    /// (`view::layout` and each pane's own) decides the sizes, as the draw does.
    pub fn settle(&mut self) {
        let Some([_, _, body, _]) = super::view::layout(self.screen) else {
            return;
        };
        match (self.routes.last().cloned(), self.tab) {
            (Some(Route::Service(name)), _) => self.settle_service(body, &name),
            (Some(Route::Pod(..)), _) => self.settle_pod(body),
            (Some(Route::Logs), _) => {}
            (None, Tab::Catalog) => self.settle_catalog(body),
            (None, Tab::Deployments) => self.settle_matrix(body),
            (None, Tab::Pods) => self.settle_pods(body),
            (None, Tab::Audit) => self.settle_audit(body),
            (None, Tab::Secrets) => self.settle_secrets(body),
            (None, Tab::Flags) => self.settle_flags(body),
            (None, Tab::Problems) => self.settle_problems(body),
        }
    }

    fn reduce(&mut self, msg: Msg) -> Vec<Effect> {
        self.on_problem_data(&msg);
        match msg {
            Msg::Term(Event::Key(k)) if k.kind != KeyEventKind::Release => self.on_key(k),
            Msg::Term(Event::Resize(w, h)) => {
                self.screen = ratatui::layout::Rect::new(0, 0, w, h);
                self.dirty = true;
                vec![]
            }
            Msg::Term(Event::Paste(text)) => {
                self.on_paste(&text);
                vec![]
            }
            Msg::Term(_) => vec![],
            Msg::Cluster(ev) => {
                // The open pod view reads its pod again when the watch says it changed.
                let reread = self.pod_view_changed_by(&ev);
                self.on_cluster(ev);
                reread
                    .map(|(cluster, pod)| Effect::ReadPod { cluster, pod })
                    .into_iter()
                    .collect()
            }
            Msg::CatalogLoaded(Ok(catalog)) => {
                // The very catalog held already (a refresh that found nothing new):
                // nothing to rebuild or draw (the waiting requests are counted again,
                // which draws only when the count moved).
                if self
                    .catalog
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(c, &catalog))
                    && self.catalog_error.is_none()
                {
                    self.recount_access();
                    return vec![];
                }
                self.set_catalog(catalog);
                self.recount_access();
                vec![]
            }
            Msg::Notice(n) => {
                let n = n.map(|n| sanitize(&n).into_owned());
                if n != self.notice {
                    self.notice = n;
                    self.dirty = true;
                }
                vec![]
            }
            Msg::CatalogLoaded(Err(e)) => {
                self.catalog_error = Some(sanitize(&e).into_owned());
                self.toast(Level::Error, format!("catalog: {e}"));
                vec![]
            }
            Msg::Toast(level, text) => {
                self.toast(level, text);
                vec![]
            }
            Msg::Fetched(res) => {
                let name = match &res {
                    Ok(f) => f.name(),
                    Err((what, _)) => what.name(),
                };
                self.unconfigured.remove(name);
                self.on_fetched(res);
                vec![]
            }
            Msg::Unconfigured(what, text) => {
                let changed = self.unconfigured.insert(what.name());
                self.on_fetched(Err((what, text)));
                self.dirty |= changed;
                vec![]
            }
            Msg::Acted(Ok(what)) => {
                self.toast(Level::Info, what);
                // What the action changed shows at once: locks, audit, the pane, and
                // the catalog (the golden path registers a service).
                // The freeze and git too: the action may have changed them.
                self.freeze_asked = Some(Instant::now());
                self.declared_asked = None;
                let mut e = vec![
                    Effect::Fetch(Fetch::Locks),
                    Effect::Fetch(Fetch::Freeze),
                    Effect::Fetch(Fetch::Access),
                    Effect::Fetch(Fetch::Audit),
                    Effect::ReloadCatalog,
                ];
                e.extend(self.pane_reads());
                e
            }
            Msg::Acted(Err(why)) => {
                self.toast(Level::Error, why);
                vec![Effect::Fetch(Fetch::Audit)]
            }
            Msg::Progress(r) => {
                if let Some(p) = &mut self.progress {
                    p.report(&r);
                    self.dirty = true;
                }
                vec![]
            }
            Msg::ServiceCreated(res) => {
                if let Some(p) = &mut self.progress {
                    p.until = res.is_ok().then(|| Instant::now() + self.toast_ttl);
                    p.outcome = Some(res.clone());
                }
                self.reduce(Msg::Acted(res))
            }
            Msg::Revealed(what, value) => {
                self.revealed = Some((what, value, Instant::now() + REVEAL_FOR));
                self.dirty = true;
                vec![Effect::Fetch(Fetch::Audit)]
            }
            Msg::NotOwner {
                why,
                service,
                permission,
            } => {
                self.toast(Level::Error, why);
                self.ask_access(service, permission, true);
                vec![Effect::Fetch(Fetch::Audit)]
            }
            Msg::NeedsConfirm(action, confirm, why) => {
                // On top of whatever is open: Esc comes back to it.
                self.layers.push(Layer::Confirm(ConfirmState {
                    action,
                    confirm,
                    input: String::new(),
                    why,
                }));
                self.dirty = true;
                vec![]
            }
            Msg::Locked {
                action,
                why,
                refusal,
            } => {
                self.prompt(
                    format!(
                        "{}. Override the lock? Type why (audited as an override), Esc to leave it",
                        sanitize(&refusal)
                    ),
                    Pending::Override(Box::new(action), why),
                );
                self.dirty = true;
                vec![Effect::Fetch(Fetch::Audit)]
            }
            Msg::OthersHold { action, refusal } => {
                self.prompt(
                    format!(
                        "{}. To remove their locks too, type why (a typed confirmation naming them follows), Esc to keep them",
                        sanitize(&refusal)
                    ),
                    Pending::Why(Box::new(action)),
                );
                self.dirty = true;
                vec![]
            }
            Msg::LogsOpened { id, res } => {
                self.on_logs_opened(id, res);
                vec![]
            }
            Msg::PodRead { cluster, pod, res } => {
                self.on_pod_read(cluster, pod, res);
                vec![]
            }
            Msg::Quit => vec![Effect::Quit],
        }
    }

    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        let mut rows = rows_from_catalog(&catalog);
        for r in &mut rows {
            r.live = self
                .live
                .status(&r.name, &self.scope, &self.topology.regions);
        }
        self.cat.set_rows(rows);
        let errors = catalog.problems.len();
        if errors > 0 {
            self.toast(
                Level::Error,
                format!(
                    "catalog: {errors} problem{} (run `sphere catalog validate`)",
                    if errors == 1 { "" } else { "s" }
                ),
            );
        }
        self.catalog = Some(catalog);
        self.catalog_error = None;
        self.dirty = true;
    }

    pub(crate) fn on_cluster(&mut self, ev: ClusterEvent) {
        match ev {
            ClusterEvent::Environment(e) => {
                self.topology.set_ephemeral(e);
                self.palette = self.build_palette();
                // An open palette's matches index the old list.
                self.refilter_palette();
                self.dirty = true;
                return;
            }
            ClusterEvent::EnvironmentDeleted { name } => {
                if self.topology.remove_ephemeral(&name) {
                    self.live.synced.retain(|c| c.env != name);
                    if self.scope.env.as_deref() == Some(name.as_str()) {
                        self.scope.env = None;
                        self.matrix.cell = 0;
                        self.restatus_all();
                    }
                    self.palette = self.build_palette();
                    self.refilter_palette();
                    self.dirty = true;
                }
                return;
            }
            ClusterEvent::Clock(t) => {
                self.clock_offset = t - chrono::Utc::now().timestamp();
                self.dirty = true;
                return;
            }
            _ => {}
        }
        let synced = matches!(
            ev,
            ClusterEvent::Synced(_) | ClusterEvent::Unreachable { .. }
        );
        // Does the event concern the one service on screen (pods pane, service view)?
        let shows_one_service = self.tab == Tab::Pods || !self.routes.is_empty();
        let about_focus = shows_one_service && {
            let about = match &ev {
                ClusterEvent::Pod(p) => Some(p.service.as_str()),
                ClusterEvent::Hpa(h) => Some(h.service.as_str()),
                ClusterEvent::PodDeleted { cluster, name } => {
                    self.live.pod(cluster, name).map(|p| p.service)
                }
                _ => None,
            };
            about.is_some_and(|a| self.is_focus(a))
        };
        if self.pods.touched_by(&ev) {
            self.pods.mark_stale();
        }
        let deployment = matches!(
            ev,
            ClusterEvent::Deployment(_) | ClusterEvent::DeploymentDeleted { .. }
        );
        if deployment {
            self.live_gen += 1;
        }
        let all_synced = |m: &Model| m.live.synced.len() >= m.topology.cluster_count();
        let was_synced = synced && all_synced(self);
        if let Some(service) = self.live.apply(ev) {
            let st = self
                .live
                .status(&service, &self.scope, &self.topology.regions);
            if self.cat.set_live(&service, st) {
                self.dirty = true;
            }
        }
        if synced && !was_synced && all_synced(self) {
            // The initial listing is in: its lists stop growing now.
            self.live.shrink_to_fit();
        }
        if synced
            || (deployment && (self.tab == Tab::Deployments || shows_one_service))
            || about_focus
        {
            self.dirty = true;
        }
    }

    /// Recompute every row's live status (after the scope changed).
    pub(crate) fn restatus_all(&mut self) {
        let names: Vec<String> = self.cat.rows.iter().map(|r| r.name.to_string()).collect();
        for n in names {
            let st = self.live.status(&n, &self.scope, &self.topology.regions);
            self.cat.set_live(&n, st);
        }
        self.cat.refresh_view();
        self.dirty = true;
    }

    pub(crate) fn on_paste(&mut self, text: &str) {
        let clean = sanitize(text);
        match self.layers.top_mut() {
            Some(Layer::Form(form)) => {
                form.paste(&clean);
                self.check_form();
            }
            Some(Layer::Palette(p)) => {
                p.input.push_str(&clean);
                self.refilter_palette();
            }
            None if self.cat.editing => {
                let f = format!("{}{}", self.cat.filter, clean);
                self.cat.set_filter(f);
            }
            _ => {}
        }
        self.dirty = true;
    }

    /// Does any section of the keymap start a binding with `key`?
    fn binds_anywhere(&self, key: Key) -> bool {
        (self.keymap.section_names())
            .flat_map(|s| self.keymap.section(s))
            .any(|b| b.on.first() == Some(&key))
    }

    pub(crate) fn on_key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        // Ctrl-U clears a typed line of the layer on top (the palette, a prompt, a
        // typed confirmation, a form's text field), as in a shell; elsewhere it stays a
        // key of the keymap.
        if ev.code == KeyCode::Char('u')
            && ev.modifiers.contains(KeyModifiers::CONTROL)
            && self.layers.top_mut().is_some_and(|l| l.clear_line())
        {
            self.refilter_palette();
            self.check_form();
            self.dirty = true;
            return vec![];
        }
        // A terminal sends Esc then a key typed quickly after it as one Alt+key: when
        // no binding takes that Alt+key, it is the two presses it was.
        if ev.modifiers.contains(KeyModifiers::ALT)
            && matches!(ev.code, KeyCode::Char(_))
            && !self.binds_anywhere(Key::from_event(&ev))
        {
            let mut effects = self.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
            let mut bare = ev;
            bare.modifiers.remove(KeyModifiers::ALT);
            effects.extend(self.on_key(bare));
            return effects;
        }
        let key = Key::from_event(&ev);
        // The keymap reads the key in the sections of the layer on top (or the pane's).
        let sections = self.sections();
        let matched = self.keys.feed(&self.keymap, &sections, key);
        self.dirty = true;
        match matched {
            Match::Run(cmd) => match Command::parse(&cmd) {
                Ok(cmd) => self.dispatch(Input::Command(cmd)),
                // The keymap was checked when it loaded: only a keymap built in code
                // can get here.
                Err(why) => {
                    self.toast(Level::Error, why);
                    vec![]
                }
            },
            Match::Pending => vec![],
            Match::None => self.dispatch(Input::Key(ev)),
        }
    }

    /// Keys that no binding and no layer took: text for the pane's filter.
    pub(crate) fn type_text(&mut self, ev: &KeyEvent) {
        if !self.editing() {
            return;
        }
        let ch = match super::layers::text_key(ev) {
            Ok(ch) => ch,
            Err(()) => return,
        };
        if self.pane_editing {
            match ch {
                Some(c) => self.pane_filter.push(c),
                None => {
                    if self.pane_filter.pop().is_none() {
                        self.pane_editing = false;
                    }
                }
            }
            self.list = ListPos::default();
            self.pods.reset_selection();
            return;
        }
        let mut f = self.cat.filter.clone();
        match ch {
            Some(c) => f.push(c),
            None => {
                if f.pop().is_none() {
                    self.cat.editing = false;
                }
            }
        }
        self.cat.set_filter(f);
    }

    /// Run one command, from the keymap or the palette: the layers first (the top one
    /// takes it or passes it on), then the pane.
    pub fn run(&mut self, cmd: Command) -> Vec<Effect> {
        self.dirty = true;
        self.dispatch(Input::Command(cmd))
    }

    /// Run a command no layer took, on the pane (or the app).
    pub(crate) fn run_pane(&mut self, cmd: Command) -> Vec<Effect> {
        use Command as C;
        self.dirty = true;
        if self.editing() {
            let pane = self.pane_editing;
            match cmd {
                C::Back | C::FilterCancel => {
                    self.cat.editing = false;
                    self.pane_editing = false;
                    if pane {
                        self.pane_filter.clear();
                    } else {
                        self.cat.set_filter(String::new());
                    }
                    return vec![];
                }
                C::Open | C::FilterApply => {
                    self.cat.editing = false;
                    self.pane_editing = false;
                    return vec![];
                }
                C::FilterClear => {
                    if pane {
                        self.pane_filter.clear();
                    } else {
                        self.cat.set_filter(String::new());
                    }
                    return vec![];
                }
                _ => {}
            }
        }
        // The route on top (logs, pod view, service view), else the pane on screen,
        // takes its own commands first: each in its file under `panes/`.
        if let Some(effects) = self.screen_command(&cmd) {
            return effects;
        }
        match cmd {
            C::Quit => return vec![Effect::Quit],
            C::Suspend => return vec![Effect::Suspend],
            C::Redraw => return vec![Effect::ClearScreen],
            C::Noop => {}
            C::Help => {
                // The help opens on the keys of the pane it was asked from.
                self.help_from = self.sections();
                self.help_max.set(usize::MAX / 2);
                self.layers.push(Layer::Help { scroll: 0 });
            }
            C::Palette => {
                self.open_palette(PaletteState::default());
            }
            C::Filter => {
                self.routes.clear();
                // `/` starts a fresh filter (typing never appends to the last one); the
                // selection stays where it was until the new text ranks the rows.
                if self.uses_service_filter() {
                    self.cat.set_filter(String::new());
                    self.cat.editing = true;
                } else {
                    self.pane_filter.clear();
                    self.list = ListPos::default();
                    self.pods.reset_selection();
                    self.pane_editing = true;
                }
            }
            C::Back if self.progress.as_ref().is_some_and(|p| p.outcome.is_some()) => {
                self.progress = None;
            }
            C::Back => {
                if self.routes.pop().is_none() {
                    if !self.pane_filter.is_empty() && !self.uses_service_filter() {
                        self.pane_filter.clear();
                    } else if !self.cat.filter.is_empty() {
                        self.cat.set_filter(String::new());
                    }
                }
            }
            C::NextPane => {
                return self.set_tab(Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()]);
            }
            C::PrevPane => {
                return self
                    .set_tab(Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]);
            }
            C::Pane(n) => match n.checked_sub(1).and_then(|i| Tab::ALL.get(i)) {
                Some(&t) => return self.set_tab(t),
                None => self.toast(Level::Error, format!("no pane {n}")),
            },
            C::Logs => return self.logs_here(),
            // A pane's own commands, taken above by the pane (or route) on screen:
            // nothing where it is not (the moving keys, Enter, a grid's columns, the
            // pods', secrets' and flags' actions).
            C::Down
            | C::Up
            | C::PageDown
            | C::PageUp
            | C::Top
            | C::Bottom
            | C::Open
            | C::ColLeft
            | C::ColRight
            | C::Restart
            | C::Hpa
            | C::SecretReveal
            | C::SecretPut
            | C::SecretDelete
            | C::SecretCopy
            | C::SecretNew
            | C::FlagSet => {}
            // The logs view's own (taken by `logs_command` while it is open).
            C::LogsPause
            | C::LogsWrap
            | C::LogsTimestamps
            | C::LogsEnd
            | C::LogsSearch
            | C::LogsNext
            | C::LogsPrev
            | C::LogsPrevious => {}
            // One toggle for the matrix and the secrets and flags grids (the matrix
            // also scrolls to the drift: `matrix_command`).
            C::DriftOnly => self.toggle_drift_only(),
            // The service list's order: the catalog's, which the matrix shows too; the
            // palette offers these on every pane.
            C::SortNext | C::SortReverse | C::GroupNext | C::Sort(_) | C::Group(_) => {
                self.cat.order_command(&cmd);
            }
            C::ScopeEnvNext => {
                self.matrix.cell = 0;
                self.secrets_pane.cell = 0;
                // The environments that run in the scope's region (all of them when
                // no region is in scope): no scope without a cluster.
                let envs: Vec<String> = match &self.scope.region {
                    Some(r) => self.topology.environments_in(r).cloned().collect(),
                    None => self.topology.environments.clone(),
                };
                self.scope.env = cycle(&envs, self.scope.env.take());
                self.restatus_all();
            }
            C::ScopeRegionNext => {
                self.matrix.cell = 0;
                self.secrets_pane.cell = 0;
                // The regions the scope's environment runs in.
                let regions = self.topology.regions_in(self.scope.env.as_deref());
                self.scope.region = cycle(regions, self.scope.region.take());
                self.restatus_all();
            }
            C::Scope(ScopeArg::Clear) => {
                self.scope = Scope::default();
                self.restatus_all();
            }
            C::Scope(ScopeArg::Env(e)) => {
                if !self.topology.environments.contains(&e) {
                    self.toast(Level::Error, format!("unknown environment {e:?}"));
                } else if let Some(r) = &self.scope.region
                    && !self.topology.regions_of(&e).contains(r)
                {
                    let msg = format!("{e} does not run in {r} (scope region)");
                    self.toast(Level::Error, msg);
                } else {
                    self.scope.env = Some(e);
                    self.restatus_all();
                }
            }
            C::Scope(ScopeArg::Region(r)) => {
                if !self.topology.regions.contains(&r) {
                    self.toast(Level::Error, format!("unknown region {r:?}"));
                } else if let Some(e) = &self.scope.env
                    && !self.topology.regions_of(e).contains(&r)
                {
                    let msg = format!("{e} does not run in {r} (scope environment)");
                    self.toast(Level::Error, msg);
                } else {
                    self.scope.region = Some(r);
                    self.restatus_all();
                }
            }
            C::Reload => {
                let mut e = self.pane_reads();
                e.push(Effect::RefreshCatalog);
                return e;
            }
            // In the scope (the matrix offers its selected cell first: `matrix_command`).
            C::Lock | C::Unlock => {
                let verb = if cmd == C::Lock {
                    LockVerb::Lock
                } else {
                    LockVerb::Unlock
                };
                let Some(service) = self.focus() else {
                    self.toast(
                        Level::Error,
                        format!("select a service to {}", verb.as_str()),
                    );
                    return vec![];
                };
                let (env, region) = (self.scope.env.clone(), self.scope.region.clone());
                return self.lock_at(verb, service, env, region);
            }
            C::LockAt {
                verb,
                service,
                env,
                region,
            } => return self.lock_at(verb, service, env, region),
            C::LockAll => self.prompt(
                "Lock every service everywhere (incident): why?".into(),
                Pending::LockAll,
            ),
            C::UnlockAll => {
                return self.ask_why(Action::UnlockAll { all_holders: false });
            }
            C::FreezeOn => self.prompt("Merge freeze on: why?".into(), Pending::FreezeOn),
            C::FreezeOff => return self.ask_why(Action::FreezeOff),
            // The scope when it is one cluster (the matrix rolls back its selected
            // cell: `matrix_command`).
            C::Rollback => {
                let cluster = (self.scope.env.clone())
                    .zip(self.scope.region.clone())
                    .map(|(e, r)| crate::domain::ClusterId::new(e, r));
                return self.rollback_in(cluster);
            }
            C::RollbackTo {
                cluster,
                service,
                version,
            } => {
                return self.ask_why(Action::Rollback {
                    service,
                    cluster,
                    to: Some(version),
                });
            }
            C::ServiceCreate => self.open_service_form(),
            C::EnvCreate => self.open_env_form(),
            C::EnvList | C::EnvExtend | C::EnvDelete => return self.env_command(&cmd),
            C::EnvShow(name) => {
                if self.topology.environments.contains(&name) {
                    self.scope.env = Some(name);
                    self.matrix.cell = 0;
                    self.restatus_all();
                    return self.set_tab(Tab::Deployments);
                }
                self.toast(Level::Error, format!("unknown environment {name:?}"));
            }
            C::EnvExtendOf(name) => return self.ask_env_extend(&name),
            C::EnvDeleteOf(name) => return self.ask_why(Action::EnvDelete { name }),
            C::AccessOperate | C::AccessSecrets => {
                let Some(service) = self.focus() else {
                    self.toast(Level::Error, "select a service first");
                    return vec![];
                };
                if let Some(permission) = cmd.permission() {
                    self.ask_access(service, permission, false);
                }
            }
            C::AccessApprove => return self.open_access_picker(),
            C::AccessPick(id) => self.access_pick(id),
            C::AccessDecide { id, approve } => self.access_decide(id, approve),
            C::ServiceCreateRetry => {
                let Some(request) = self.last_create.clone() else {
                    self.toast(Level::Info, "no service creation to retry");
                    return vec![];
                };
                self.progress = Some(Progress::new(&request));
                return vec![Effect::Act {
                    action: Action::ServiceCreate {
                        request,
                        from_step: None,
                    },
                    confirmed: false,
                }];
            }
            // The service view's `y`; the palette offers it everywhere.
            C::CopyLink => self.copy_link(),
            C::CopyText(text) => {
                let text = sanitize(&text).into_owned();
                self.toast(Level::Info, format!("copied {text}"));
                return vec![Effect::Copy(text)];
            }
            // The layers' own commands do nothing without their layer.
            C::FilterApply
            | C::FilterCancel
            | C::FilterClear
            | C::PaletteRun
            | C::Close
            | C::NextField
            | C::PrevField
            | C::Confirm
            | C::Cancel
            | C::Submit => {}
        }
        vec![]
    }

    /// The commands of what is on screen: the route on top (logs, pod view, service
    /// view), else the pane of the tab. `None`: not one of its own, the app's then.
    fn screen_command(&mut self, cmd: &Command) -> Option<Vec<Effect>> {
        match (self.routes.last(), self.tab) {
            (Some(Route::Logs), _) => self.logs_command(cmd),
            (Some(Route::Pod(..)), _) => self.pod_command(cmd),
            (Some(Route::Service(_)), _) => self.service_command(cmd),
            (None, Tab::Catalog) => self.catalog_command(cmd),
            (None, Tab::Deployments) => self.matrix_command(cmd),
            (None, Tab::Pods) => self.pods_command(cmd),
            (None, Tab::Secrets) => self.secrets_command(cmd),
            (None, Tab::Flags) => self.flags_command(cmd),
            (None, Tab::Audit) => self.audit_command(cmd),
            (None, Tab::Problems) => self.problems_command(cmd),
        }
    }

    /// `d`: only what drifted (the matrix's services, the secrets' keys, the flags),
    /// or everything; the matrix's selection starts again at the top.
    pub(crate) fn toggle_drift_only(&mut self) {
        self.drift_only = !self.drift_only;
        self.matrix.pos = ListPos::default();
    }

    /// Roll `focus` back in `cluster`: read its history, whose answer opens a chooser
    /// of versions.
    pub(crate) fn rollback_in(&mut self, cluster: Option<crate::domain::ClusterId>) -> Vec<Effect> {
        let (Some(service), Some(cluster)) = (self.focus(), cluster) else {
            self.toast(
                Level::Error,
                "roll back in one cluster: select a cell in the matrix, or set the scope to one environment and region",
            );
            return vec![];
        };
        vec![Effect::Fetch(Fetch::Releases(service, cluster))]
    }

    pub(crate) fn set_tab(&mut self, tab: Tab) -> Vec<Effect> {
        if tab != self.tab {
            self.pane_filter.clear();
            self.list = ListPos::default();
            // The service in focus stays in focus: the matrix and the catalog
            // select the same one.
            if self.routes.is_empty() {
                if self.tab == Tab::Deployments {
                    if let Some(name) = self.focus() {
                        self.cat.select_name(&name);
                    }
                } else if tab == Tab::Deployments
                    && let Some(row) = self.cat.selected_row()
                    && let Some(i) = self.cat.row_index(&row.name)
                    && let Some(pos) = self.matrix_rows().iter().position(|&r| r == i)
                {
                    self.matrix.pos.selected = pos;
                }
            }
        }
        let opening_matrix = tab == Tab::Deployments && self.tab != Tab::Deployments;
        self.tab = tab;
        if opening_matrix && !self.matrix.cell_chosen {
            self.place_matrix_cell();
        }
        self.routes.clear();
        self.cat.editing = false;
        self.pane_editing = false;
        self.pane_reads()
    }

    /// Ask why, then request `permission` on `service` in the scope's environment;
    /// `refused`: it follows a refusal, and Esc declines.
    pub(crate) fn ask_access(
        &mut self,
        service: String,
        permission: crate::domain::access::Permission,
        refused: bool,
    ) {
        let (p, scope) = (permission.as_str(), &self.scope);
        let title = if refused {
            format!(
                "You may not do this to {service}. Request {p} on it in {scope} (an owner approves, or a rule grants it)? Why — or Esc:"
            )
        } else {
            format!("Request {p} on {service} in {scope}: why?")
        };
        self.prompt(
            title,
            Pending::Access {
                service,
                permission,
            },
        );
    }

    /// The palette's environment commands: the list (choose one to see it in the
    /// matrix), more time, delete. Extend and delete act on the scope's environment
    /// when it is an ephemeral one, else ask which.
    pub(crate) fn env_command(&mut self, cmd: &Command) -> Vec<Effect> {
        if self.topology.ephemeral.is_empty() {
            self.toast(
                Level::Info,
                "no ephemeral environment: `env create` from the palette makes one",
            );
            return vec![];
        }
        let scoped = self
            .scope
            .env
            .as_ref()
            .filter(|e| self.topology.ephemeral(e).is_some())
            .cloned();
        match (cmd.clone(), scoped) {
            (Command::EnvExtend, Some(name)) => return self.ask_env_extend(&name),
            (Command::EnvDelete, Some(name)) => return self.run(Command::EnvDeleteOf(name)),
            _ => {}
        }
        let now = self.now();
        let (verb, title): (fn(String) -> Command, _) = match cmd {
            Command::EnvExtend => (Command::EnvExtendOf, " give which environment more time? "),
            Command::EnvDelete => (Command::EnvDeleteOf, " delete which environment? "),
            _ => (
                Command::EnvShow,
                " ephemeral environments: Enter shows one in the matrix ",
            ),
        };
        let items = self
            .topology
            .ephemeral
            .iter()
            .map(|e| PaletteItem {
                label: format!(
                    "{}  ⏳{}  from {} · {} · by {}",
                    sanitize(&e.name),
                    crate::domain::environment::short_remaining(e.remaining(now)),
                    sanitize(&e.from),
                    e.regions
                        .iter()
                        .map(|r| super::format::short_region(&sanitize(r)))
                        .collect::<Vec<_>>()
                        .join(","),
                    sanitize(&e.created_by)
                ),
                command: verb(e.name.clone()),
                keys: String::new(),
            })
            .collect();
        self.open_palette(PaletteState {
            items,
            title: title.to_string(),
            ..PaletteState::default()
        });
        vec![]
    }

    /// Ask how much more time an ephemeral environment gets.
    pub(crate) fn ask_env_extend(&mut self, name: &str) -> Vec<Effect> {
        let Some(e) = self.topology.ephemeral(name) else {
            self.toast(
                Level::Error,
                format!("{name:?} is not an ephemeral environment"),
            );
            return vec![];
        };
        let left = e.remaining(self.now());
        let title = format!(
            "Give {name} more time ({} left, at most {} in all): e.g. 1d, 8h, 30m",
            format_duration(left),
            format_duration(self.policy.env_ttl_max)
        );
        self.prompt(
            title,
            Pending::EnvExtend {
                name: name.to_string(),
            },
        );
        vec![]
    }

    /// Whether every cluster in scope has listed its workloads and none is unreachable:
    /// only then is a service seen nowhere "not deployed" rather than unknown.
    pub(crate) fn scope_known(&self) -> bool {
        let scope = &self.scope;
        if self.live.unreachable.keys().any(|c| scope.contains(c)) {
            return false;
        }
        let synced = self
            .live
            .synced
            .iter()
            .filter(|c| scope.contains(c))
            .count();
        // Counted without building a ClusterId per cluster: this runs on every draw.
        let expected: usize = self
            .topology
            .environments
            .iter()
            .filter(|e| scope.env.as_ref().is_none_or(|s| s == *e))
            .map(|e| {
                let regions = self.topology.regions_of(e).iter();
                regions
                    .filter(|r| scope.region.as_ref().is_none_or(|s| s == *r))
                    .count()
            })
            .sum();
        synced >= expected
    }

    /// Ask why (optional, recorded in the audit trail), then hand the action over.
    pub(crate) fn ask_why(&mut self, action: Action) -> Vec<Effect> {
        let title = format!(
            "{}: why? (recorded in the audit trail; Enter: no reason)",
            sanitize(&action.describe())
        );
        self.prompt(title, Pending::Why(Box::new(action)));
        vec![]
    }

    pub(crate) fn prompt(&mut self, title: String, then: Pending) {
        self.layers.push(Layer::Prompt(PromptState {
            title,
            input: String::new(),
            then,
        }));
    }

    /// Build the action a prompt's answer completes.
    pub(crate) fn complete_prompt(&mut self, then: Pending, input: String) -> Vec<Effect> {
        let action = match then {
            Pending::LogsSearch => {
                self.logs_search(input);
                return vec![];
            }
            Pending::Why(action) => {
                // The golden path's steps show as they end, from the answer on.
                if let Action::ServiceCreate {
                    request,
                    from_step: None,
                } = action.as_ref()
                {
                    self.last_create = Some(request.clone());
                    self.progress = Some(Progress::new(request));
                }
                return vec![Effect::ActWhy {
                    action: *action,
                    confirmed: false,
                    why: Why {
                        reason: (!input.is_empty()).then_some(input),
                        override_lock: None,
                    },
                }];
            }
            Pending::Override(action, why) => {
                if input.is_empty() {
                    self.toast(Level::Info, "the lock stays: nothing changed");
                    return vec![];
                }
                return vec![Effect::ActWhy {
                    action: *action,
                    confirmed: false,
                    why: Why {
                        override_lock: Some(input),
                        ..why
                    },
                }];
            }
            Pending::Lock {
                service,
                env,
                region,
            } => Action::Lock {
                service,
                env,
                region,
                reason: input,
            },
            Pending::LockAll => Action::LockAll { reason: input },
            Pending::FreezeOn => Action::FreezeOn { reason: input },
            Pending::SecretPut {
                service,
                env,
                region,
                key,
            } => Action::SecretPut {
                service,
                env,
                region,
                key,
                value: crate::domain::SecretValue::new(input),
            },
            Pending::FlagSet { name } => {
                let mut words = input.split_whitespace();
                let value = words.next().unwrap_or_default().to_string();
                let percentage = match words.next().map(|p| p.trim_end_matches('%').parse::<u8>()) {
                    None => None,
                    Some(Ok(p)) => Some(p),
                    Some(Err(_)) => {
                        self.toast(
                            Level::Error,
                            format!("flag: {input:?} — use VALUE [PERCENT]"),
                        );
                        return vec![];
                    }
                };
                Action::FlagSet {
                    name,
                    value,
                    percentage,
                    env: self.scope.env.clone(),
                    region: self.scope.region.clone(),
                }
            }
            Pending::Access {
                service,
                permission,
            } => Action::AccessRequest {
                service,
                permission,
                env: self.scope.env.clone(),
                reason: input,
            },
            Pending::Decide { id, approve } => super::access::decision(id, approve, input),
            Pending::EnvExtend { name } => match parse_duration(&input) {
                Ok(by) => Action::EnvExtend {
                    name,
                    by_seconds: by,
                },
                Err(why) => {
                    self.toast(Level::Error, format!("invalid by: {why}"));
                    return vec![];
                }
            },
        };
        // A flag change, a secret's new value and an environment's extension ask why
        // too, as `sphere flag set`, `secret put` and `env extend` take `--reason`.
        if matches!(
            action,
            Action::FlagSet { .. } | Action::SecretPut { .. } | Action::EnvExtend { .. }
        ) {
            return self.ask_why(action);
        }
        vec![Effect::Act {
            action,
            confirmed: false,
        }]
    }
}

/// all → first → ... → last → all.
pub(crate) fn cycle(options: &[String], current: Option<String>) -> Option<String> {
    match current {
        None => options.first().cloned(),
        Some(c) => {
            let i = options.iter().position(|o| *o == c)?;
            options.get(i + 1).cloned()
        }
    }
}
