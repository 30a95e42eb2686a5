//! Reads the panes ask for, run off the UI task. Each result comes back as a `Msg`;
//! a read that fails or takes too long comes back as an error for the pane to show.

use std::time::Duration;

use crate::actions::{
    Action, Actor, DispatchError, Policy, PolicyContext, Refusal, StepReport,
    dispatch_with_progress,
};
use crate::backend::Platform;
use crate::backend::facts::{ServiceFacts, gather};
use crate::domain::lifecycle::{self, Stage};
use crate::domain::links::{LinkVars, ServiceLink, service_links};
use crate::domain::score::{self, ScoreResult};
use crate::domain::{AuditRecord, FlagState, Freeze, Lock, RegionFailure, SecretMeta};

use super::model::{Msg, Why};

/// How long one provider read may take before the pane shows an error.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    Locks,
    /// The merge freeze (a GitHub ruleset): read apart from the locks, less often, and
    /// its failure hides no lock.
    Freeze,
    /// What the GitOps repository declares (the matrix marks cells out of sync).
    Declared,
    /// Every access request (the header marks those waiting for the user).
    Access,
    Audit,
    Flags,
    /// Every secret of one service, in every region.
    Secrets(String),
    /// What the service view shows: lifecycle, readiness, links.
    Report(String),
    /// A service's release history, to pick a rollback target in one cluster.
    Releases(String, crate::domain::ClusterId),
}

impl Fetch {
    /// The read's name, as a problem about it is told ("locks: ...").
    pub fn name(&self) -> &'static str {
        match self {
            Fetch::Locks => "locks",
            Fetch::Freeze => "freeze",
            Fetch::Declared => "git",
            Fetch::Access => "access requests",
            Fetch::Audit => "audit",
            Fetch::Flags => "flags",
            Fetch::Secrets(_) => "secrets",
            Fetch::Report(_) => "service",
            Fetch::Releases(..) => "releases",
        }
    }
}

/// The service view's data: the facts, and what they mean.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceReport {
    pub service: String,
    pub facts: ServiceFacts,
    pub stages: Vec<Stage>,
    pub next_step: Option<String>,
    pub score: Option<ScoreResult>,
    pub links: Vec<ServiceLink>,
}

#[derive(Debug)]
pub enum Fetched {
    /// The locks (shown in the header when they hold).
    Locks(Vec<Lock>),
    /// The merge freeze (shown in the header when it holds).
    Freeze(Freeze),
    /// `None`: there is no GitOps repository to compare with.
    Declared(Option<crate::domain::drift::GitDeclared>),
    Access(Vec<crate::domain::access::AccessRequest>),
    /// The audit trail, and what of it waits to reach its store (see
    /// [`crate::backend::AuditStore::backlog`]).
    Audit(Vec<AuditRecord>, Option<String>),
    Flags(Vec<FlagState>),
    /// A service's secrets, and the regions that could not be read.
    Secrets(String, Vec<SecretMeta>, Vec<RegionFailure>),
    Report(Box<ServiceReport>),
    Releases(String, crate::domain::ClusterId, Vec<String>),
}

impl Fetched {
    /// The name of the read it answers ([`Fetch::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            Fetched::Locks(_) => Fetch::Locks.name(),
            Fetched::Freeze(_) => Fetch::Freeze.name(),
            Fetched::Declared(_) => Fetch::Declared.name(),
            Fetched::Access(_) => Fetch::Access.name(),
            Fetched::Audit(..) => Fetch::Audit.name(),
            Fetched::Flags(_) => Fetch::Flags.name(),
            Fetched::Secrets(..) => "secrets",
            Fetched::Report(_) => "service",
            Fetched::Releases(..) => "releases",
        }
    }
}

/// Gather a service's facts and derive its lifecycle, score and links.
async fn report(platform: &Platform, service: &str) -> anyhow::Result<ServiceReport> {
    let catalog = platform.catalog.load().await?;
    let facts = gather(platform, &catalog, service).await?;
    let names = facts.resource_names();
    let ev = facts.evidence(&names);
    let stages = lifecycle::stages(&ev);
    let next_step = lifecycle::next_step(&stages);
    let score = score::builtin_scorecard()
        .ok()
        .map(|card| score::evaluate(&card, &score::properties(&ev)));
    // The first region production runs in (not one it has no cluster in).
    let prod_regions = ev.regions_in("production");
    let region = (prod_regions.first())
        .or(facts.topology.regions_of("production").first())
        .cloned();
    let vars = LinkVars::for_entity(&facts.entity, Some("production"), region.as_deref());
    let (links, _) = service_links(&platform.link_templates, &facts.entity, &vars);
    Ok(ServiceReport {
        service: service.to_string(),
        facts,
        stages,
        next_step,
        score,
        links,
    })
}

/// Run one action through the dispatcher (policy, confirmation, audit, provider) as
/// `actor` (acting for `by` when an admin impersonates), off the UI task. The answer says what happened, or what it needs; a
/// multi-step action (the golden path) tells `on_step` as each step ends, and its
/// answer is `Msg::ServiceCreated`.
pub async fn act(
    platform: &Platform,
    policy: Policy,
    actor: &str,
    by: Option<String>,
    action: Action,
    confirmed: bool,
    on_step: &mut (dyn FnMut(&StepReport) + Send),
) -> Msg {
    act_why(
        platform,
        policy,
        actor,
        by,
        action,
        confirmed,
        Why::default(),
        on_step,
    )
    .await
}

/// [`act`] with the user's reason and lock override (`why`).
#[allow(clippy::too_many_arguments)]
pub async fn act_why(
    platform: &Platform,
    policy: Policy,
    actor: &str,
    by: Option<String>,
    action: Action,
    confirmed: bool,
    why: Why,
    on_step: &mut (dyn FnMut(&StepReport) + Send),
) -> Msg {
    let steps = matches!(action, Action::ServiceCreate { .. });
    let done = |r: Result<String, String>| {
        if steps {
            Msg::ServiceCreated(r)
        } else {
            Msg::Acted(r)
        }
    };
    let ctx = match tokio::time::timeout(
        TIMEOUT,
        PolicyContext::gather(platform, policy.clone(), &action),
    )
    .await
    {
        Ok(Ok(ctx)) => ctx.with_intent(why.reason.clone(), why.override_lock.clone()),
        Ok(Err(e)) => return done(Err(format!("{}: {e:#}", action.describe()))),
        Err(_) => {
            return done(Err(format!(
                "{}: no answer within {}s",
                action.describe(),
                TIMEOUT.as_secs()
            )));
        }
    };
    let mut who = Actor::resolve(actor, &ctx.catalog, &policy);
    who.by = by;
    match dispatch_with_progress(platform, &ctx, &who, action.clone(), confirmed, on_step).await {
        Ok(d) => match d.revealed {
            Some(value) => Msg::Revealed(d.action.target(), value),
            None => done(Ok(format!("{}: {}", d.action.describe(), d.detail))),
        },
        Err(DispatchError::NeedsConfirmation(c)) => Msg::NeedsConfirm(action, c, why),
        Err(DispatchError::Refused { refusal, .. }) if refusal.is_lock() && !steps => Msg::Locked {
            action,
            why,
            refusal: refusal.to_string(),
        },
        Err(DispatchError::Refused {
            refusal: Refusal::Invalid { field, message },
            ..
        }) if field == "all_holders" => {
            let action = match action {
                Action::Unlock {
                    service,
                    env,
                    region,
                    ..
                } => Action::Unlock {
                    service,
                    env,
                    region,
                    all_holders: true,
                },
                _ => Action::UnlockAll { all_holders: true },
            };
            Msg::OthersHold {
                action,
                refusal: message,
            }
        }
        Err(e) => match &e {
            DispatchError::Refused {
                refusal:
                    Refusal::NotOwner {
                        service,
                        permission,
                        ..
                    },
                ..
            } if !steps => Msg::NotOwner {
                service: service.clone(),
                permission: *permission,
                why: e.to_string(),
            },
            _ => done(Err(e.to_string())),
        },
    }
}

use crate::backend::configured::NotConfigured;

/// Run one read against the platform, with a timeout.
pub async fn fetch(platform: &Platform, what: Fetch) -> Msg {
    let label = what.name();
    let read = async {
        Ok::<Fetched, anyhow::Error>(match what.clone() {
            Fetch::Locks => Fetched::Locks(platform.ledger.locks().await?),
            Fetch::Freeze => Fetched::Freeze(platform.ledger.freeze().await?),
            Fetch::Declared => Fetched::Declared(platform.repos.declared().await?),
            Fetch::Access => Fetched::Access(platform.ledger.access_requests().await?),
            Fetch::Audit => {
                let (records, backlog) =
                    tokio::join!(platform.ledger.audit(None), platform.ledger.audit_backlog());
                let backlog = backlog.unwrap_or_else(|e| Some(format!("the audit journal: {e:#}")));
                Fetched::Audit(records?, backlog)
            }
            Fetch::Flags => Fetched::Flags(platform.flags.list().await?),
            Fetch::Secrets(s) => {
                let listing = platform.secrets.list_partial(Some(&s)).await?;
                Fetched::Secrets(s, listing.secrets, listing.failed)
            }
            Fetch::Report(s) => Fetched::Report(Box::new(report(platform, &s).await?)),
            Fetch::Releases(s, c) => {
                let list = platform.repos.releases(&s).await?;
                Fetched::Releases(s, c, list)
            }
        })
    };
    match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(f)) => Msg::Fetched(Ok(f)),
        // A source the config does not declare: said as such, not as a failure.
        Ok(Err(e)) if e.downcast_ref::<NotConfigured>().is_some() => {
            Msg::Unconfigured(what, format!("{e:#}"))
        }
        Ok(Err(e)) => Msg::Fetched(Err((what, format!("{e:#}")))),
        Err(_) => Msg::Fetched(Err((
            what,
            format!("{label}: no answer within {}s", TIMEOUT.as_secs()),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::harness::{Harness, parse_keys};
    use crate::tui::model::Effect;
    use crossterm::event::Event;

    /// A source the config does not declare is said as such: the flags pane tells what
    /// to add (not in the error colour) and Problems does not list it; a real failure
    /// of the same read is still a problem.
    #[tokio::test]
    async fn an_unconfigured_source_is_no_problem_but_a_failing_one_is() {
        use crate::backend::configured::Unconfigured;
        use crate::domain::problems::ProblemKind;
        let mut h = Harness::demo(120, 40).await.expect("demo");
        let platform = crate::backend::Platform {
            flags: std::sync::Arc::new(Unconfigured {
                what: "flags",
                section: "[kafka]",
                reason: None,
            }),
            ..h.sim.platform()
        };
        let answer = fetch(&platform, Fetch::Flags).await;
        assert!(
            matches!(&answer, Msg::Unconfigured(Fetch::Flags, t) if t.contains("add [kafka]")),
            "{answer:?}"
        );
        h.model.update(answer);
        let about_flags = |h: &mut Harness| {
            (h.model.problem_rows().iter())
                .filter(|r| r.problem.kind == ProblemKind::Unreadable && r.problem.place == "flags")
                .count()
        };
        assert_eq!(about_flags(&mut h), 0);
        h.model
            .update(Msg::Fetched(Err((Fetch::Flags, "broker away".into()))));
        assert_eq!(about_flags(&mut h), 1);
    }

    /// A pane's read that brings what is on screen already draws nothing (before,
    /// Audit, Flags and Secrets were drawn again on every 5 s read).
    #[tokio::test]
    async fn a_read_that_changed_nothing_draws_nothing() {
        let mut h = Harness::demo(120, 40).await.expect("demo");
        let platform = h.sim.platform();
        let service = h
            .model
            .catalog
            .as_ref()
            .and_then(|c| c.entities().first().map(|e| e.name.to_string()))
            .expect("a service");
        for what in [Fetch::Audit, Fetch::Flags, Fetch::Secrets(service)] {
            let first = fetch(&platform, what.clone()).await;
            h.model.update(first);
            assert!(h.model.dirty, "{what:?}: the first answer is drawn");
            h.model.dirty = false;
            let again = fetch(&platform, what.clone()).await;
            h.model.update(again);
            assert!(!h.model.dirty, "{what:?}: nothing changed, nothing drawn");
        }
    }

    /// `C-r` reads the catalog again from its sources; the same catalog coming back
    /// (a refresh that found nothing new) rebuilds and draws nothing.
    #[tokio::test]
    async fn reload_refreshes_the_catalog_and_the_same_catalog_draws_nothing() {
        let mut h = Harness::demo(120, 40).await.expect("demo");
        let key = parse_keys("<C-r>").expect("a key").remove(0);
        let effects = h.model.update(Msg::Term(Event::Key(key)));
        assert!(effects.contains(&Effect::RefreshCatalog), "{effects:?}");
        let held = h.model.catalog.clone().expect("catalog");
        h.model.dirty = false;
        let effects = h.model.update(Msg::CatalogLoaded(Ok(held)));
        assert!(effects.is_empty() && !h.model.dirty);
    }
}
