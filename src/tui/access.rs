//! Access requests an owner can act on (C15): the header says how many wait for the
//! user, and a picker lists them — who asks, for what, where, why and when — with
//! approve or deny and a reason. Built from the palette (a chooser) and the prompt
//! layers; the dispatcher still decides who may approve.

use crate::actions::{Action, Actor};
use crate::domain::access::{AccessRequest, AccessStatus};
use crate::domain::catalog::Kind;
use crate::domain::text::{age, sanitize};

use super::command::Command;
use super::model::{Effect, Level, Model, PaletteItem, PaletteState, Pending};

impl Model {
    /// The pending requests the user may decide: on a service they (or one of their
    /// Groups) own, or any when they are a platform admin. Oldest first.
    pub fn decidable_requests(&self) -> Vec<&AccessRequest> {
        let Some(catalog) = &self.catalog else {
            return Vec::new();
        };
        let me = Actor::resolve(&self.user, catalog, &self.policy);
        self.access
            .iter()
            .filter(|r| r.status == AccessStatus::Pending)
            .filter(|r| {
                me.admin
                    || catalog
                        .find(Some(&Kind::Component), &r.service)
                        .and_then(|e| e.owner.as_ref())
                        .is_some_and(|o| match o.kind {
                            Kind::Group => me.groups.iter().any(|g| *g == *o.name),
                            _ => *o.name == *me.name,
                        })
            })
            .collect()
    }

    /// The access requests as last read; the header's count follows.
    pub(super) fn set_access(&mut self, requests: Vec<AccessRequest>) {
        if requests != self.access {
            self.access = requests;
            self.recount_access();
        }
    }

    /// Count the requests waiting for the user again (new requests, a new catalog).
    pub(super) fn recount_access(&mut self) {
        let n = self.decidable_requests().len();
        if n != self.access_waiting {
            self.access_waiting = n;
            self.dirty = true;
        }
    }

    /// One line about a request: who asks for what, where, why and when.
    fn request_line(&self, r: &AccessRequest) -> String {
        let env = r
            .env
            .as_deref()
            .map_or_else(|| "every env".to_string(), |e| sanitize(e).into_owned());
        format!(
            "#{} {} asks {} on {} in {} · “{}” · {} ago",
            r.id,
            sanitize(&r.requester),
            r.permission,
            sanitize(&r.service),
            env,
            sanitize(&r.reason),
            age(self.now() - r.at),
        )
    }

    /// `access_approve`: the picker of the requests waiting for the user.
    pub(super) fn open_access_picker(&mut self) -> Vec<Effect> {
        let items: Vec<PaletteItem> = self
            .decidable_requests()
            .into_iter()
            .map(|r| PaletteItem {
                label: self.request_line(r),
                command: Command::AccessPick(r.id),
                keys: String::new(),
            })
            .collect();
        if items.is_empty() {
            self.toast(
                Level::Info,
                "no access request waits for you (`sphere access list --pending` shows every one)",
            );
            return vec![Effect::Fetch(super::fetch::Fetch::Access)];
        }
        self.open_palette(PaletteState {
            title: format!(
                " {} access request{} waiting for you: Enter to decide ",
                items.len(),
                if items.len() == 1 { "" } else { "s" }
            ),
            items,
            wide: true,
            ..PaletteState::default()
        });
        vec![]
    }

    /// A request chosen in the picker: approve or deny it.
    pub(super) fn access_pick(&mut self, id: u64) {
        let Some(r) = self.access.iter().find(|r| r.id == id) else {
            self.toast(Level::Error, format!("access request #{id} is gone"));
            return;
        };
        let line = self.request_line(r);
        let who = sanitize(&r.requester).into_owned();
        let items = vec![
            PaletteItem {
                label: format!("approve: grant {who} {}", r.permission),
                command: Command::AccessDecide { id, approve: true },
                keys: String::new(),
            },
            PaletteItem {
                label: format!("deny: {who} gets nothing"),
                command: Command::AccessDecide { id, approve: false },
                keys: String::new(),
            },
        ];
        self.open_palette(PaletteState {
            title: format!(" {line} "),
            items,
            wide: true,
            ..PaletteState::default()
        });
    }

    /// Approve or deny request `id`: ask why first.
    pub(super) fn access_decide(&mut self, id: u64, approve: bool) {
        let line = self
            .access
            .iter()
            .find(|r| r.id == id)
            .map(|r| self.request_line(r))
            .unwrap_or_else(|| format!("#{id}"));
        let verb = if approve { "Approve" } else { "Deny" };
        self.prompt(
            format!("{verb} {line} — why? (Enter: no reason)"),
            Pending::Decide { id, approve },
        );
    }
}

/// The action a decision's prompt completes.
pub(super) fn decision(id: u64, approve: bool, reason: String) -> Action {
    if approve {
        Action::AccessApprove { id, reason }
    } else {
        Action::AccessDeny { id, reason }
    }
}
