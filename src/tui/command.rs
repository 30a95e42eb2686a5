//! Every command the TUI runs, typed, and the one registry of them: name, what it does,
//! how its argument is parsed and where it applies. Keymap `run` values are parsed with
//! [`Command::parse`] when the keymap loads (an unknown one is a config problem naming the
//! file and line); the palette, help and footer hints are built from [`REGISTRY`].
//!
//! Commands that carry data only a chooser knows (`RollbackTo`, `LockAt`, `CopyText`, ...)
//! are built in code by the chooser and never parsed from text.

use std::fmt;

use crate::domain::ClusterId;
use crate::domain::access::Permission;

use super::catalog::{Grouping, SortColumn};

/// Lock or unlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockVerb {
    Lock,
    Unlock,
}

impl LockVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            LockVerb::Lock => "lock",
            LockVerb::Unlock => "unlock",
        }
    }
}

/// What `scope:` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeArg {
    Clear,
    Env(String),
    Region(String),
}

/// One command of the TUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    // Global.
    Quit,
    Suspend,
    Redraw,
    Noop,
    Help,
    Palette,
    Filter,
    Back,
    NextPane,
    PrevPane,
    /// Go to pane N (1-based, as the tabs are numbered).
    Pane(usize),
    Reload,
    // Lists.
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Open,
    ScopeEnvNext,
    ScopeRegionNext,
    Scope(ScopeArg),
    Lock,
    Unlock,
    // Matrix and grids.
    Rollback,
    ColLeft,
    ColRight,
    DriftOnly,
    // Catalog.
    ServiceCreate,
    SortNext,
    SortReverse,
    GroupNext,
    Sort(SortColumn),
    Group(Grouping),
    // Pods.
    Restart,
    Hpa,
    // Secrets.
    SecretReveal,
    SecretPut,
    SecretNew,
    SecretDelete,
    SecretCopy,
    // Flags.
    FlagSet,
    // Service view.
    CopyLink,
    // Logs (pods, pod view, service view, problems; the logs view).
    Logs,
    LogsPause,
    LogsWrap,
    LogsTimestamps,
    LogsEnd,
    LogsSearch,
    LogsNext,
    LogsPrev,
    LogsPrevious,
    // Typing a filter.
    FilterApply,
    FilterCancel,
    FilterClear,
    // Layers: palette, help, form, prompt, confirmation.
    PaletteRun,
    Close,
    NextField,
    PrevField,
    Confirm,
    Cancel,
    Submit,
    // The palette's own.
    LockAll,
    UnlockAll,
    AccessOperate,
    AccessSecrets,
    AccessApprove,
    EnvCreate,
    EnvList,
    EnvExtend,
    EnvDelete,
    ServiceCreateRetry,
    FreezeOn,
    FreezeOff,
    // Chooser items: built in code, never parsed.
    LockAt {
        verb: LockVerb,
        service: String,
        env: Option<String>,
        region: Option<String>,
    },
    RollbackTo {
        cluster: ClusterId,
        service: String,
        version: String,
    },
    EnvShow(String),
    EnvExtendOf(String),
    EnvDeleteOf(String),
    CopyText(String),
    AccessPick(u64),
    AccessDecide {
        id: u64,
        approve: bool,
    },
}

/// How a registry entry's argument is written after its name and a `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    None,
    /// `pane:3`
    Pane,
    /// `sort:owner`
    Sort,
    /// `group:system`
    Group,
    /// `scope:clear`, `scope:env:production`, `scope:region:eu-west-1`
    Scope,
}

/// Where a command is offered in the palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPalette {
    /// Never (it moves in a list, or belongs to a layer).
    No,
    /// When a key of the global, catalog, list or service-view sections runs it.
    Bound,
    /// Always, after the bound commands, in registry order.
    Always,
}

/// One entry of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub desc: &'static str,
    pub arg: Arg,
    /// The keymap sections it applies in (for the reader, and the help's layout).
    pub sections: &'static [&'static str],
    pub palette: InPalette,
    /// The short word for a footer hint.
    pub hint: &'static str,
    /// The footer hint's rank: lower ranks come first and are the last to be cut
    /// when the footer is narrow; 0 gives no hint.
    pub footer: u8,
    /// Where the view's own section (the innermost active one) is `.0`, the rank
    /// `.1` (0: no hint there) and the word `.2` (empty: [`Spec::hint`]) instead.
    pub footer_in: &'static [(&'static str, u8, &'static str)],
}

impl Spec {
    /// The footer hint's rank and word where `own` is the view's own section; `None`
    /// when the command has no hint there.
    pub fn footer_hint(&self, own: &str) -> Option<(u8, &'static str)> {
        let (rank, word) = match self.footer_in.iter().find(|(s, ..)| *s == own) {
            Some(&(_, rank, word)) if !word.is_empty() => (rank, word),
            Some(&(_, rank, _)) => (rank, self.hint),
            None => (self.footer, self.hint),
        };
        (rank > 0).then_some((rank, word))
    }
}

const fn spec(
    name: &'static str,
    desc: &'static str,
    sections: &'static [&'static str],
    palette: InPalette,
    hint: &'static str,
) -> Spec {
    Spec {
        name,
        desc,
        arg: Arg::None,
        sections,
        palette,
        hint,
        footer: 0,
        footer_in: &[],
    }
}

/// A footer hint for `s`: its rank, and its rank and word in given sections.
const fn footer(
    mut s: Spec,
    rank: u8,
    footer_in: &'static [(&'static str, u8, &'static str)],
) -> Spec {
    s.footer = rank;
    s.footer_in = footer_in;
    s
}

const fn with_arg(mut s: Spec, arg: Arg) -> Spec {
    s.arg = arg;
    s
}

use InPalette::{Always, Bound, No};

const GLOBAL: &[&str] = &["global"];
const LIST: &[&str] = &["list", "filter"];
const MATRIX: &[&str] = &["matrix"];
const LAYERS: &[&str] = &["help", "palette", "form", "prompt", "confirm"];

/// Every command a keymap may name, in the palette's order for those it always offers.
pub const REGISTRY: &[Spec] = &[
    footer(spec("quit", "Quit", GLOBAL, Bound, "quit"), 60, &[]),
    spec(
        "suspend",
        "Suspend sphere (fg to come back)",
        GLOBAL,
        No,
        "suspend",
    ),
    spec("redraw", "Redraw the screen", GLOBAL, No, "redraw"),
    spec("noop", "Unbind the key", GLOBAL, No, ""),
    footer(
        spec("help", "Show the keys", GLOBAL, Bound, "help"),
        55,
        &[],
    ),
    footer(
        spec(
            "palette",
            "Open the command palette",
            GLOBAL,
            No,
            "commands",
        ),
        50,
        &[],
    ),
    footer(
        spec("filter", "Filter the list", GLOBAL, Bound, "filter"),
        30,
        &[("secrets", 0, ""), ("detail", 0, ""), ("pod", 0, "")],
    ),
    footer(
        spec("back", "Back / close", &["global", "detail"], Bound, "back"),
        0,
        &[("detail", 15, ""), ("pod", 15, ""), ("logs", 15, "")],
    ),
    footer(
        spec("next_pane", "Next pane", GLOBAL, Bound, "next pane"),
        0,
        &[("problems", 45, ""), ("list", 45, "")],
    ),
    spec("prev_pane", "Previous pane", GLOBAL, Bound, "previous pane"),
    spec(
        "reload",
        "Read the pane's data again",
        GLOBAL,
        Bound,
        "reload",
    ),
    footer(
        spec("down", "Move down", LIST, Bound, "down"),
        0,
        &[
            ("palette", 12, "next"),
            ("help", 14, "scroll"),
            ("detail", 16, "scroll"),
            ("pod", 16, "scroll"),
        ],
    ),
    spec("up", "Move up", LIST, Bound, "up"),
    spec("page_down", "Page down", LIST, Bound, "page down"),
    spec("page_up", "Page up", LIST, Bound, "page up"),
    spec("top", "Go to the first row", LIST, Bound, "top"),
    spec("bottom", "Go to the last row", LIST, Bound, "bottom"),
    footer(
        spec("open", "Open the selected row", LIST, Bound, "open"),
        0,
        &[
            ("problems", 29, "deeper"),
            ("catalog", 31, ""),
            ("matrix", 31, ""),
        ],
    ),
    footer(
        spec(
            "scope_env_next",
            "Next environment scope",
            LIST,
            Bound,
            "env",
        ),
        40,
        &[("detail", 0, ""), ("pod", 0, ""), ("logs", 0, "")],
    ),
    footer(
        spec(
            "scope_region_next",
            "Next region scope",
            LIST,
            Bound,
            "region",
        ),
        41,
        &[("detail", 0, ""), ("pod", 0, ""), ("logs", 0, "")],
    ),
    footer(
        spec(
            "lock",
            "Lock the selected service in the current scope",
            LIST,
            Bound,
            "lock",
        ),
        0,
        &[("pods", 22, ""), ("matrix", 34, "")],
    ),
    spec(
        "unlock",
        "Unlock the selected service in the current scope",
        LIST,
        Bound,
        "unlock",
    ),
    footer(
        spec(
            "rollback",
            "Roll back the selected cell: pick the version from its history",
            MATRIX,
            Bound,
            "roll back",
        ),
        0,
        &[("matrix", 35, "")],
    ),
    spec(
        "col_left",
        "Select the cluster to the left",
        MATRIX,
        No,
        "left",
    ),
    footer(
        spec(
            "col_right",
            "Select the cluster to the right",
            MATRIX,
            No,
            "scroll",
        ),
        0,
        &[("matrix", 32, "")],
    ),
    footer(
        spec(
            "drift_only",
            "Show only drifted services, or all",
            MATRIX,
            Bound,
            "drift only",
        ),
        33,
        &[],
    ),
    footer(
        spec(
            "sort_next",
            "Sort by the next column",
            &["catalog"],
            Bound,
            "sort",
        ),
        36,
        &[],
    ),
    spec(
        "sort_reverse",
        "Reverse the sort",
        &["catalog"],
        Bound,
        "reverse",
    ),
    footer(
        spec(
            "group_next",
            "Group by none / owner / system",
            &["catalog"],
            Bound,
            "group",
        ),
        37,
        &[],
    ),
    footer(
        spec(
            "restart",
            "Restart the selected pod's deployment",
            &["pods"],
            Bound,
            "restart",
        ),
        20,
        &[],
    ),
    footer(
        spec(
            "hpa",
            "Set the selected pod's HPA bounds",
            &["pods"],
            Bound,
            "hpa",
        ),
        21,
        &[],
    ),
    footer(
        spec(
            "secret_reveal",
            "Reveal the selected secret in the selected cell",
            &["secrets"],
            Bound,
            "reveal",
        ),
        20,
        &[],
    ),
    footer(
        spec(
            "secret_put",
            "Put a new value of the selected secret",
            &["secrets"],
            Bound,
            "put",
        ),
        21,
        &[],
    ),
    footer(
        spec("secret_new", "New secret", &["secrets"], Bound, "new"),
        22,
        &[],
    ),
    footer(
        spec(
            "secret_delete",
            "Delete the selected secret in the selected cell",
            &["secrets"],
            Bound,
            "delete",
        ),
        24,
        &[],
    ),
    footer(
        spec(
            "secret_copy",
            "Fix drift: copy the selected secret",
            &["secrets"],
            Bound,
            "copy to missing",
        ),
        23,
        &[],
    ),
    footer(
        spec(
            "flag_set",
            "Set the selected flag's value and rollout in the scope",
            &["flags"],
            Bound,
            "set",
        ),
        20,
        &[],
    ),
    spec(
        "copy_link",
        "Copy one of the service's links",
        &["detail"],
        Bound,
        "copy link",
    ),
    spec(
        "logs",
        "Logs: the pod's, or every pod of the service merged across regions",
        &["pods", "detail", "problems"],
        Bound,
        "logs",
    ),
    footer(
        spec(
            "logs_pause",
            "Pause / resume the logs",
            &["logs"],
            Bound,
            "pause",
        ),
        20,
        &[],
    ),
    footer(
        spec(
            "logs_wrap",
            "Wrap long lines or not",
            &["logs"],
            Bound,
            "wrap",
        ),
        25,
        &[],
    ),
    footer(
        spec(
            "logs_timestamps",
            "Show / hide the timestamps",
            &["logs"],
            Bound,
            "timestamps",
        ),
        26,
        &[],
    ),
    footer(
        spec(
            "logs_end",
            "Jump to the end and follow",
            &["logs"],
            Bound,
            "follow",
        ),
        21,
        &[],
    ),
    footer(
        spec("logs_search", "Search the logs", &["logs"], Bound, "search"),
        22,
        &[],
    ),
    footer(
        spec("logs_next", "Next match", &["logs"], Bound, "next"),
        23,
        &[],
    ),
    spec("logs_prev", "Previous match", &["logs"], Bound, "previous"),
    footer(
        spec(
            "logs_previous",
            "The previous container's logs (the crash's last lines), or back to the live ones",
            &["logs"],
            Bound,
            "previous container",
        ),
        24,
        &[],
    ),
    spec(
        "filter_apply",
        "Keep the filter, back to the list",
        &["filter"],
        No,
        "keep",
    ),
    spec(
        "filter_cancel",
        "Clear the filter, back to the list",
        &["filter"],
        No,
        "clear",
    ),
    spec(
        "filter_clear",
        "Clear the typed text",
        &["filter"],
        No,
        "clear text",
    ),
    footer(
        spec(
            "palette_run",
            "Run the selected command",
            &["palette"],
            No,
            "run",
        ),
        10,
        &[],
    ),
    footer(spec("close", "Close", LAYERS, No, "close"), 13, &[]),
    footer(
        spec("next_field", "Next field", &["form"], No, "next field"),
        10,
        &[],
    ),
    spec(
        "prev_field",
        "Previous field",
        &["form"],
        No,
        "previous field",
    ),
    footer(
        spec("confirm", "Confirm", LAYERS, No, "accept"),
        11,
        &[("form", 11, "submit")],
    ),
    footer(spec("cancel", "Cancel", LAYERS, No, "cancel"), 13, &[]),
    spec("submit", "Submit the form", &["form"], No, "submit"),
    // The palette offers these always, in this order.
    with_arg(
        spec("pane", "Go to the pane", GLOBAL, Always, "pane"),
        Arg::Pane,
    ),
    with_arg(spec("scope", "Scope", GLOBAL, Always, "scope"), Arg::Scope),
    spec(
        "lock_all",
        "Lock every service everywhere (incident)",
        GLOBAL,
        Always,
        "lock all",
    ),
    spec(
        "unlock_all",
        "Release the incident lock",
        GLOBAL,
        Always,
        "unlock all",
    ),
    spec(
        "service_create",
        "New service: create one on the golden path (a form)",
        &["catalog"],
        Always,
        "new",
    ),
    spec(
        "access_operate",
        "Request access to operate the selected service",
        GLOBAL,
        Always,
        "access",
    ),
    spec(
        "access_secrets",
        "Request access to read the selected service's secrets",
        GLOBAL,
        Always,
        "access",
    ),
    spec(
        "access_approve",
        "Access requests waiting for you: approve or deny (who, what, where, why)",
        GLOBAL,
        Always,
        "decide",
    ),
    spec(
        "env_create",
        "env create: an ephemeral environment with a TTL",
        GLOBAL,
        Always,
        "env create",
    ),
    spec(
        "env_list",
        "env list: ephemeral environments and expiry",
        GLOBAL,
        Always,
        "env list",
    ),
    spec(
        "env_extend",
        "env extend: more time for an environment",
        GLOBAL,
        Always,
        "env extend",
    ),
    spec(
        "env_delete",
        "env delete: remove an environment now",
        GLOBAL,
        Always,
        "env delete",
    ),
    spec(
        "service_create_retry",
        "Retry the last service creation (resumes at the failed step)",
        GLOBAL,
        Always,
        "retry",
    ),
    spec("freeze_on", "Merge freeze on", GLOBAL, Always, "freeze"),
    spec("freeze_off", "Merge freeze off", GLOBAL, Always, "thaw"),
    with_arg(
        spec(
            "group",
            "Group the catalog by",
            &["catalog"],
            Always,
            "group",
        ),
        Arg::Group,
    ),
    with_arg(
        spec("sort", "Sort the catalog by", &["catalog"], Always, "sort"),
        Arg::Sort,
    ),
];

impl Command {
    /// Parse a keymap's `run` value (`quit`, `pane:3`, `sort:owner`, `scope:env:dev`).
    /// The error says what is wrong and, for an unknown name, the names there are.
    pub fn parse(text: &str) -> Result<Command, String> {
        let text = text.trim();
        let (name, arg) = match text.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        let Some(spec) = REGISTRY.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = REGISTRY.iter().map(|s| s.name).collect();
            return Err(format!(
                "unknown command {text:?}; the commands are {}",
                names.join(", ")
            ));
        };
        let needs = |what: &str| format!("{name} needs an argument: {what}");
        Ok(match (spec.arg, arg) {
            (Arg::None, Some(_)) => return Err(format!("{name} takes no argument")),
            (Arg::None, None) => Self::plain(name).ok_or_else(|| needs("none"))?,
            (Arg::Pane, Some(n)) => match n.parse::<usize>() {
                Ok(n) if (1..=super::model::Tab::ALL.len()).contains(&n) => Command::Pane(n),
                _ => {
                    return Err(format!(
                        "no pane {n:?}; the panes are 1 to {}",
                        super::model::Tab::ALL.len()
                    ));
                }
            },
            (Arg::Sort, Some(c)) => Command::Sort(SortColumn::parse(c).ok_or_else(|| {
                let cols: Vec<&str> = SortColumn::ALL.iter().map(|c| c.label()).collect();
                format!("cannot sort by {c:?}; the columns are {}", cols.join(", "))
            })?),
            (Arg::Group, Some(g)) => Command::Group(
                Grouping::parse(g)
                    .ok_or_else(|| format!("cannot group by {g:?}; use none, owner or system"))?,
            ),
            (Arg::Scope, Some("clear")) => Command::Scope(ScopeArg::Clear),
            (Arg::Scope, Some(a)) => match a.split_once(':') {
                Some(("env", e)) if !e.is_empty() => Command::Scope(ScopeArg::Env(e.into())),
                Some(("region", r)) if !r.is_empty() => Command::Scope(ScopeArg::Region(r.into())),
                _ => return Err(needs("clear, env:NAME or region:NAME")),
            },
            (Arg::Pane, None) => return Err(needs("a pane number (pane:3)")),
            (Arg::Sort, None) => return Err(needs("a column (sort:owner)")),
            (Arg::Group, None) => return Err(needs("none, owner or system (group:owner)")),
            (Arg::Scope, None) => return Err(needs("clear, env:NAME or region:NAME")),
        })
    }

    /// The commands without an argument, by name.
    fn plain(name: &str) -> Option<Command> {
        use Command::*;
        Some(match name {
            "quit" => Quit,
            "suspend" => Suspend,
            "redraw" => Redraw,
            "noop" => Noop,
            "help" => Help,
            "palette" => Palette,
            "filter" => Filter,
            "back" => Back,
            "next_pane" => NextPane,
            "prev_pane" => PrevPane,
            "reload" => Reload,
            "down" => Down,
            "up" => Up,
            "page_down" => PageDown,
            "page_up" => PageUp,
            "top" => Top,
            "bottom" => Bottom,
            "open" => Open,
            "scope_env_next" => ScopeEnvNext,
            "scope_region_next" => ScopeRegionNext,
            "lock" => Lock,
            "unlock" => Unlock,
            "rollback" => Rollback,
            "col_left" => ColLeft,
            "col_right" => ColRight,
            "drift_only" => DriftOnly,
            "service_create" => ServiceCreate,
            "sort_next" => SortNext,
            "sort_reverse" => SortReverse,
            "group_next" => GroupNext,
            "restart" => Restart,
            "hpa" => Hpa,
            "secret_reveal" => SecretReveal,
            "secret_put" => SecretPut,
            "secret_new" => SecretNew,
            "secret_delete" => SecretDelete,
            "secret_copy" => SecretCopy,
            "flag_set" => FlagSet,
            "copy_link" => CopyLink,
            "logs" => Logs,
            "logs_pause" => LogsPause,
            "logs_wrap" => LogsWrap,
            "logs_timestamps" => LogsTimestamps,
            "logs_end" => LogsEnd,
            "logs_search" => LogsSearch,
            "logs_next" => LogsNext,
            "logs_prev" => LogsPrev,
            "logs_previous" => LogsPrevious,
            "filter_apply" => FilterApply,
            "filter_cancel" => FilterCancel,
            "filter_clear" => FilterClear,
            "palette_run" => PaletteRun,
            "close" => Close,
            "next_field" => NextField,
            "prev_field" => PrevField,
            "confirm" => Confirm,
            "cancel" => Cancel,
            "submit" => Submit,
            "lock_all" => LockAll,
            "unlock_all" => UnlockAll,
            "access_operate" => AccessOperate,
            "access_secrets" => AccessSecrets,
            "access_approve" => AccessApprove,
            "env_create" => EnvCreate,
            "env_list" => EnvList,
            "env_extend" => EnvExtend,
            "env_delete" => EnvDelete,
            "service_create_retry" => ServiceCreateRetry,
            "freeze_on" => FreezeOn,
            "freeze_off" => FreezeOff,
            _ => return None,
        })
    }

    /// The registry entry of this command (`None` for a chooser's item).
    pub fn spec(&self) -> Option<&'static Spec> {
        use Command::*;
        if matches!(
            self,
            LockAt { .. }
                | RollbackTo { .. }
                | EnvShow(_)
                | EnvExtendOf(_)
                | EnvDeleteOf(_)
                | CopyText(_)
                | AccessPick(_)
                | AccessDecide { .. }
        ) {
            return None;
        }
        let name = self.to_string();
        let name = name.split(':').next().unwrap_or_default();
        REGISTRY.iter().find(|s| s.name == name)
    }

    /// The access a request command asks for.
    pub fn permission(&self) -> Option<Permission> {
        match self {
            Command::AccessOperate => Some(Permission::Operate),
            Command::AccessSecrets => Some(Permission::ReadSecrets),
            _ => None,
        }
    }
}

impl fmt::Display for Command {
    /// The command as a keymap writes it; a chooser's item as a readable line (matched by
    /// the palette's filter, never parsed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Command::*;
        let plain = match self {
            Pane(n) => return write!(f, "pane:{n}"),
            Sort(c) => return write!(f, "sort:{}", c.label()),
            Group(g) => return write!(f, "group:{}", g.label()),
            Scope(ScopeArg::Clear) => "scope:clear",
            Scope(ScopeArg::Env(e)) => return write!(f, "scope:env:{e}"),
            Scope(ScopeArg::Region(r)) => return write!(f, "scope:region:{r}"),
            LockAt {
                verb,
                service,
                env,
                region,
            } => {
                return write!(
                    f,
                    "{}_at:{service}:{}:{}",
                    verb.as_str(),
                    env.as_deref().unwrap_or_default(),
                    region.as_deref().unwrap_or_default()
                );
            }
            RollbackTo {
                cluster,
                service,
                version,
            } => {
                return write!(
                    f,
                    "rollback_to:{}:{}:{service}:{version}",
                    cluster.env, cluster.region
                );
            }
            EnvShow(n) => return write!(f, "env_show:{n}"),
            EnvExtendOf(n) => return write!(f, "env_extend:{n}"),
            EnvDeleteOf(n) => return write!(f, "env_delete:{n}"),
            CopyText(t) => return write!(f, "copy:{t}"),
            AccessPick(id) => return write!(f, "access_pick:{id}"),
            AccessDecide { id, approve } => {
                return write!(
                    f,
                    "access_decide:{id}:{}",
                    if *approve { "approve" } else { "deny" }
                );
            }
            Quit => "quit",
            Suspend => "suspend",
            Redraw => "redraw",
            Noop => "noop",
            Help => "help",
            Palette => "palette",
            Filter => "filter",
            Back => "back",
            NextPane => "next_pane",
            PrevPane => "prev_pane",
            Reload => "reload",
            Down => "down",
            Up => "up",
            PageDown => "page_down",
            PageUp => "page_up",
            Top => "top",
            Bottom => "bottom",
            Open => "open",
            ScopeEnvNext => "scope_env_next",
            ScopeRegionNext => "scope_region_next",
            Lock => "lock",
            Unlock => "unlock",
            Rollback => "rollback",
            ColLeft => "col_left",
            ColRight => "col_right",
            DriftOnly => "drift_only",
            ServiceCreate => "service_create",
            SortNext => "sort_next",
            SortReverse => "sort_reverse",
            GroupNext => "group_next",
            Restart => "restart",
            Hpa => "hpa",
            SecretReveal => "secret_reveal",
            SecretPut => "secret_put",
            SecretNew => "secret_new",
            SecretDelete => "secret_delete",
            SecretCopy => "secret_copy",
            FlagSet => "flag_set",
            CopyLink => "copy_link",
            Logs => "logs",
            LogsPause => "logs_pause",
            LogsWrap => "logs_wrap",
            LogsTimestamps => "logs_timestamps",
            LogsEnd => "logs_end",
            LogsSearch => "logs_search",
            LogsNext => "logs_next",
            LogsPrev => "logs_prev",
            LogsPrevious => "logs_previous",
            FilterApply => "filter_apply",
            FilterCancel => "filter_cancel",
            FilterClear => "filter_clear",
            PaletteRun => "palette_run",
            Close => "close",
            NextField => "next_field",
            PrevField => "prev_field",
            Confirm => "confirm",
            Cancel => "cancel",
            Submit => "submit",
            LockAll => "lock_all",
            UnlockAll => "unlock_all",
            AccessOperate => "access_operate",
            AccessSecrets => "access_secrets",
            AccessApprove => "access_approve",
            EnvCreate => "env_create",
            EnvList => "env_list",
            EnvExtend => "env_extend",
            EnvDelete => "env_delete",
            ServiceCreateRetry => "service_create_retry",
            FreezeOn => "freeze_on",
            FreezeOff => "freeze_off",
        };
        f.write_str(plain)
    }
}

/// One hint of the footer: a command, the first key that runs it in the view, and
/// its word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterHint {
    pub command: Command,
    /// The key sequence, as the keymap writes it (`gg`, `<C-d>`).
    pub keys: String,
    pub word: &'static str,
    pub rank: u8,
}

/// The footer's hints for the active `sections` (innermost first, as the keys
/// resolve), from the keymap and the registry: every command a key of these sections
/// runs whose registry entry gives it a hint in the view's own section (the first),
/// by rank (ties in keymap order), each with its first key. A key an inner section
/// binds to something else does not run the command here (`q` goes back in the
/// service view): it is no hint for it. So a user's binding, or a new command with a
/// rank, shows without a list to edit.
pub fn footer_hints(keymap: &crate::config::Keymap, sections: &[&str]) -> Vec<FooterHint> {
    let Some(own) = sections.first() else {
        return Vec::new();
    };
    let mut hints: Vec<FooterHint> = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        for b in keymap.section(section) {
            let shadowed = sections[..i]
                .iter()
                .flat_map(|s| keymap.section(s))
                .any(|inner| inner.on == b.on && inner.run != b.run);
            if shadowed {
                continue;
            }
            let Ok(command) = Command::parse(&b.run) else {
                continue;
            };
            if hints.iter().any(|h| h.command == command) {
                continue;
            }
            let Some((rank, word)) = command.spec().and_then(|s| s.footer_hint(own)) else {
                continue;
            };
            hints.push(FooterHint {
                command,
                keys: crate::config::keymap::format_keys(&b.on),
                word,
                rank,
            });
        }
    }
    hints.sort_by_key(|h| h.rank);
    hints
}

/// The keymap sections in the registry's order (each where a command of it first
/// names it), then any other section a keymap has: the order of the help and of the
/// README's keymap table.
pub fn section_order(keymap: &crate::config::Keymap) -> Vec<&str> {
    let mut order: Vec<&str> = Vec::new();
    for s in REGISTRY.iter().flat_map(|s| s.sections.iter().copied()) {
        if !order.contains(&s) {
            order.push(s);
        }
    }
    for s in keymap.section_names() {
        if !order.contains(&s) {
            order.push(s);
        }
    }
    order
}

/// One row of the keymap by section and command: every key of the section running
/// it with the same words, and those words (the keymap's, else the registry's). A
/// user's binding with words of its own has its own row, under its command. The digit
/// keys of `pane:N` are one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub section: String,
    /// Each key sequence that runs it here (the digits, for `pane:N`).
    pub keys: Vec<Vec<crate::config::Key>>,
    /// The command as a keymap writes it (`pane:N` for the digits).
    pub run: String,
    pub desc: String,
}

impl KeyRow {
    /// The digit keys of the panes, folded into one row.
    pub fn is_panes(&self) -> bool {
        self.run == "pane:N"
    }
}

/// The keymap's rows, section by section in [`section_order`], commands in the order
/// the section binds them first; `noop` entries are left out.
pub fn key_rows(keymap: &crate::config::Keymap) -> Vec<KeyRow> {
    let digit_pane = |b: &crate::config::Binding| {
        matches!(Command::parse(&b.run), Ok(Command::Pane(n))
            if crate::config::keymap::format_keys(&b.on) == n.to_string())
    };
    let mut rows: Vec<KeyRow> = Vec::new();
    for section in section_order(keymap) {
        let start = rows.len();
        let mut digits: Vec<Vec<crate::config::Key>> = Vec::new();
        for b in keymap.section(section) {
            if b.run == "noop" {
                continue;
            }
            if digit_pane(b) {
                digits.push(b.on.clone());
                continue;
            }
            let desc = if b.desc.is_empty() {
                Command::parse(&b.run)
                    .ok()
                    .and_then(|c| c.spec())
                    .map_or(String::new(), |s| s.desc.to_string())
            } else {
                b.desc.clone()
            };
            match rows[start..]
                .iter_mut()
                .find(|r| r.run == b.run && r.desc == desc)
            {
                Some(row) => row.keys.push(b.on.clone()),
                None => rows.push(KeyRow {
                    section: section.to_string(),
                    keys: vec![b.on.clone()],
                    run: b.run.clone(),
                    desc,
                }),
            }
        }
        if !digits.is_empty() {
            rows.push(KeyRow {
                section: section.to_string(),
                keys: digits,
                run: "pane:N".into(),
                desc: "Go to pane N".into(),
            });
        }
    }
    rows
}

/// The README's keymap table (Markdown), from the keymap and the registry.
pub fn keymap_table(keymap: &crate::config::Keymap) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let seq = |on: &[crate::config::Key]| {
        let keys: Vec<String> = on.iter().map(ToString::to_string).collect();
        format!("`{}`", cell(&keys.join(" ")))
    };
    let mut out = String::from("| section | key | command | what it does |\n|---|---|---|---|\n");
    for r in key_rows(keymap) {
        let keys = match (r.is_panes(), r.keys.first(), r.keys.last()) {
            (true, Some(first), Some(last)) if r.keys.len() > 1 => {
                format!("{} … {}", seq(first), seq(last))
            }
            _ => r.keys.iter().map(|k| seq(k)).collect::<Vec<_>>().join(", "),
        };
        out.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            r.section,
            keys,
            cell(&r.run),
            cell(&r.desc)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_name_parses_and_prints_back() {
        for s in REGISTRY {
            let text = match s.arg {
                Arg::None => s.name.to_string(),
                Arg::Pane => "pane:3".into(),
                Arg::Sort => "sort:owner".into(),
                Arg::Group => "group:system".into(),
                Arg::Scope => "scope:env:production".into(),
            };
            let c = Command::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(c.to_string(), text);
            assert_eq!(c.spec().map(|x| x.name), Some(s.name), "{text}");
            assert!(!s.desc.is_empty(), "{} has a desc", s.name);
        }
        assert_eq!(
            Command::parse("scope:region:eu-west-1"),
            Ok(Command::Scope(ScopeArg::Region("eu-west-1".into())))
        );
        assert_eq!(
            Command::parse("scope:clear"),
            Ok(Command::Scope(ScopeArg::Clear))
        );
    }

    #[test]
    fn unknown_names_and_bad_arguments_say_why() {
        for (text, says) in [
            ("qiut", "unknown command \"qiut\""),
            ("pane:9", "no pane \"9\""),
            ("pane", "pane needs an argument"),
            ("sort:colour", "cannot sort by \"colour\""),
            ("group:colour", "cannot group by \"colour\""),
            ("scope:galaxy:x", "scope needs an argument"),
            ("quit:now", "quit takes no argument"),
            // A chooser's items are typed, never parsed from a keymap.
            ("rollback_to:production:eu-west-1:x:1", "unknown command"),
            ("copy:https://x", "unknown command"),
        ] {
            let e = Command::parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn chooser_items_print_as_before_for_the_palette_filter() {
        let c = Command::RollbackTo {
            cluster: ClusterId::new("production", "eu-west-1"),
            service: "payments-api".into(),
            version: "1.2.3".into(),
        };
        assert_eq!(
            c.to_string(),
            "rollback_to:production:eu-west-1:payments-api:1.2.3"
        );
        assert!(c.spec().is_none());
    }

    /// The README's keymap table is the default keymap's: when a binding changes,
    /// this fails and prints the table to paste.
    #[test]
    fn the_readme_keymap_table_is_the_default_keymap() {
        let expected = keymap_table(&crate::config::Keymap::builtin());
        let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme =
            std::fs::read_to_string(readme_path).unwrap_or_else(|e| panic!("{readme_path}: {e}"));
        let header = "| section | key | command | what it does |";
        let table: String = readme
            .lines()
            .skip_while(|l| *l != header)
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            table == expected,
            "README.md's keymap table differs from keymaps/default.toml; replace it with:\n\n{expected}"
        );
    }

    #[test]
    fn the_keymap_table_lists_every_binding_under_its_command() {
        let rows = key_rows(&crate::config::Keymap::builtin());
        let quit = rows
            .iter()
            .find(|r| r.section == "global" && r.run == "quit")
            .expect("quit is bound");
        let keys = |r: &KeyRow| -> Vec<String> {
            r.keys
                .iter()
                .map(|k| crate::config::keymap::format_keys(k))
                .collect()
        };
        assert_eq!(keys(quit), ["q", "<C-c>"]);
        let panes = rows.iter().find(|r| r.is_panes()).expect("the panes row");
        assert_eq!(keys(panes), ["1", "2", "3", "4", "5", "6", "7"]);
        assert!(
            rows.iter()
                .any(|r| r.run == "top" && keys(r).contains(&"gg".to_string()))
        );
        // Every row's command is the registry's.
        for r in rows.iter().filter(|r| r.run != "pane:N") {
            assert!(Command::parse(&r.run).is_ok(), "{r:?}");
        }
    }

    /// A user's binding shows under its command, in its section: with the default's
    /// words it joins the command's keys; with words of its own it has its own row.
    #[test]
    fn a_user_binding_is_listed_under_its_command_in_its_section() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = crate::config::Paths::in_dir(dir.path());
        std::fs::create_dir_all(paths.keymap_file().parent().expect("a dir")).expect("dir");
        std::fs::write(
            paths.keymap_file(),
            "[[pods]]\non = \"o\"\nrun = \"logs\"\ndesc = \"The selected pod's logs\"\n\n\
             [[pods]]\non = \"K\"\nrun = \"restart\"\ndesc = \"Kick it\"\n",
        )
        .expect("write");
        let (keymap, problems) = crate::config::load_keymap(&paths);
        assert!(problems.is_empty(), "{problems:?}");
        let rows: Vec<KeyRow> = key_rows(&keymap)
            .into_iter()
            .filter(|r| r.section == "pods")
            .collect();
        let keys = |run: &str, desc: &str| -> Option<Vec<String>> {
            rows.iter()
                .find(|r| r.run == run && r.desc == desc)
                .map(|r| {
                    r.keys
                        .iter()
                        .map(|k| crate::config::keymap::format_keys(k))
                        .collect()
                })
        };
        assert_eq!(
            keys("logs", "The selected pod's logs"),
            Some(vec!["o".to_string(), "l".to_string()]),
            "{rows:?}"
        );
        assert_eq!(
            keys("restart", "Kick it"),
            Some(vec!["K".to_string()]),
            "{rows:?}"
        );
        assert_eq!(
            keys("restart", "Restart the selected pod's deployment"),
            Some(vec!["R".to_string()]),
            "{rows:?}"
        );
    }

    fn footer_line(keymap: &crate::config::Keymap, sections: &[&str]) -> String {
        footer_hints(keymap, sections)
            .iter()
            .map(|h| format!("{} {}", h.keys, h.word))
            .collect::<Vec<_>>()
            .join("  ")
    }

    /// The default keymap's footers, view by view, as the hand-written lists had them
    /// (secrets and flags now also hint the palette; flags hint the filter before
    /// drift, as the matrix does).
    #[test]
    fn the_footer_hints_come_from_the_registry_and_the_keymap() {
        let keymap = crate::config::Keymap::builtin();
        for (sections, line) in [
            (
                &["catalog", "list", "global"][..],
                "/ filter  <Enter> open  s sort  o group  e env  r region  : commands  ? help  q quit",
            ),
            (
                &["matrix", "list", "global"],
                "/ filter  <Enter> open  l scroll  d drift only  L lock  b roll back  e env  r region  : commands  ? help  q quit",
            ),
            (
                &["pods", "list", "global"],
                "R restart  H hpa  L lock  / filter  e env  r region  : commands  ? help  q quit",
            ),
            (
                &["secrets", "matrix", "list", "global"],
                "v reveal  p put  n new  c copy to missing  x delete  d drift only  e env  r region  : commands  ? help  q quit",
            ),
            (
                &["flags", "matrix", "list", "global"],
                "s set  / filter  d drift only  e env  r region  : commands  ? help  q quit",
            ),
            (
                &["problems", "list", "global"],
                "<Enter> deeper  / filter  e env  r region  <Tab> next pane  : commands  ? help  q quit",
            ),
            (
                &["list", "global"],
                "/ filter  e env  r region  <Tab> next pane  : commands  ? help  q quit",
            ),
            (
                &["detail", "list", "global"],
                "q back  j scroll  : commands  ? help  <C-c> quit",
            ),
            (
                &["pod", "detail", "list", "global"],
                "q back  j scroll  : commands  ? help  <C-c> quit",
            ),
            (
                &["logs", "list", "global"],
                "q back  <Space> pause  G follow  / search  n next  p previous container  w wrap  t timestamps  : commands  ? help  <C-c> quit",
            ),
            (&["help"], "<Esc> close  j scroll"),
            (&["palette"], "<Enter> run  <Down> next  <Esc> close"),
            (&["form"], "<Tab> next field  <Enter> submit  <Esc> cancel"),
            (&["confirm"], "y accept  n cancel"),
            (&["prompt"], "<Enter> accept  <Esc> cancel"),
        ] {
            assert_eq!(footer_line(&keymap, sections), line, "{sections:?}");
        }
    }

    /// A key an inner section takes is no hint for the outer command; the outer
    /// command's next key is.
    #[test]
    fn a_footer_hint_skips_keys_an_inner_section_takes() {
        let keymap = crate::config::Keymap::builtin();
        let hints = footer_hints(&keymap, &["help", "global"]);
        let key = |c: Command| {
            hints
                .iter()
                .find(|h| h.command == c)
                .map(|h| h.keys.clone())
        };
        assert_eq!(key(Command::Close).as_deref(), Some("<Esc>"), "{hints:?}");
        assert_eq!(
            key(Command::Quit).as_deref(),
            Some("<C-c>"),
            "q is taken by help, <C-c> still quits: {hints:?}"
        );
        assert_eq!(key(Command::Help), None, "? closes the help: {hints:?}");
        let hints = footer_hints(&keymap, &["list", "global"]);
        assert_eq!(
            hints
                .iter()
                .find(|h| h.command == Command::Help)
                .map(|h| h.keys.as_str()),
            Some("?"),
            "{hints:?}"
        );
        assert!(footer_hints(&keymap, &[]).is_empty());
    }

    /// Keys running one command in one section are one row of the help: the help's
    /// `q` and `<Esc>` close it; `j` and `<Down>`, `gg` and `<Home>` move in a list.
    #[test]
    fn a_key_row_holds_every_key_of_its_command_in_its_section() {
        let rows = key_rows(&crate::config::Keymap::builtin());
        let keys = |section: &str, run: &str| -> Vec<String> {
            rows.iter()
                .find(|r| r.section == section && r.run == run)
                .map(|r| {
                    r.keys
                        .iter()
                        .map(|k| crate::config::keymap::format_keys(k))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(keys("help", "close"), ["<Esc>", "q", "?"]);
        assert_eq!(keys("list", "down"), ["j", "<Down>"]);
        assert_eq!(keys("list", "top"), ["gg", "<Home>"]);
    }

    /// A user's binding of a command with a hint shows in the footer with the user's
    /// key, where the old key is unbound; and a command the user binds in a view
    /// that had no key for it gets its hint there.
    #[test]
    fn a_user_binding_shows_in_the_footer() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = crate::config::Paths::in_dir(dir.path());
        std::fs::create_dir_all(paths.keymap_file().parent().expect("a dir")).expect("dir");
        std::fs::write(
            paths.keymap_file(),
            "[[pods]]\non = \"K\"\nrun = \"restart\"\n\n\
             [[pods]]\non = \"R\"\nrun = \"noop\"\n\n\
             [[pods]]\non = \"d\"\nrun = \"drift_only\"\n",
        )
        .expect("write");
        let (keymap, problems) = crate::config::load_keymap(&paths);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            footer_line(&keymap, &["pods", "list", "global"]),
            "K restart  H hpa  L lock  / filter  d drift only  e env  r region  : commands  ? help  q quit"
        );
    }
}
