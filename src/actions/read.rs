//! Reading what a service's pods say (C18, seed 004): logs and events in production
//! are for the owning Group and platform admins, or whoever holds a granted, unexpired
//! `read-logs` access request; everyone else is refused with how to ask. Outside
//! production anyone may read. Every read is audited (who read which service's logs or
//! events, where, when), never what was read.

use anyhow::Result;

use super::policy::{Actor, Refusal, is_production};
use crate::backend::Platform;
use crate::backend::facts::is_service;
use crate::domain::access::{AccessRequest, Permission};
use crate::domain::catalog::{Catalog, Kind};
use crate::domain::{Outcome, Timestamp};

/// What is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    Logs,
    Events,
}

impl ReadKind {
    /// The audit trail's action name: `logs.read`, `events.read`.
    pub fn audit_name(self) -> &'static str {
        match self {
            ReadKind::Logs => "logs.read",
            ReadKind::Events => "events.read",
        }
    }
}

/// May `actor` read `service`'s logs and events in the environments `envs`? Pure.
/// `owner` is the service's owner as (name, kind); `access` the ledger's requests.
pub fn may_read(
    actor: &Actor,
    service: &str,
    owner: Option<&(String, String)>,
    envs: &[&str],
    access: &[AccessRequest],
    now: Timestamp,
) -> Result<(), Refusal> {
    let guarded: Vec<&str> = envs.iter().copied().filter(|e| is_production(e)).collect();
    if guarded.is_empty() || actor.admin {
        return Ok(());
    }
    let owns = match owner {
        Some((name, kind)) if kind == "group" => actor.groups.iter().any(|g| g == name),
        Some((name, _)) => *name == actor.name,
        None => false,
    };
    let granted = access
        .iter()
        .any(|r| r.allows(&actor.name, service, Permission::ReadLogs, &guarded, now));
    if owns || granted {
        return Ok(());
    }
    Err(Refusal::NotOwner {
        actor: actor.name.clone(),
        service: service.to_string(),
        owner: owner.map(|(n, k)| format!("{k}:{n}")),
        permission: Permission::ReadLogs,
    })
}

/// The owner of a service as (name, kind), from the catalog.
pub fn owner_of(catalog: &Catalog, service: &str) -> Option<(String, String)> {
    let e = catalog
        .find(Some(&Kind::Component), service)
        .filter(|e| is_service(e))?;
    e.owner
        .as_ref()
        .map(|o| (o.name.to_string(), o.kind.as_str().to_lowercase()))
}

/// Decide whether `actor` may read `service`'s logs or events in the environments
/// `envs` ([`may_read`] over a fresh read of the ledger), and audit the read or its
/// refusal on `target` (`service@env/region, ...`). `Ok(Err(refusal))` when refused;
/// `Err` when the decision or its audit could not be made (then nothing is read:
/// reading unaudited is not allowed).
pub async fn authorize_read(
    platform: &Platform,
    catalog: &Catalog,
    actor: &Actor,
    service: &str,
    envs: &[&str],
    target: &str,
    kind: ReadKind,
) -> Result<Result<(), Refusal>> {
    let owner = owner_of(catalog, service);
    let access = platform.ledger.access_requests().await?;
    let decision = may_read(
        actor,
        service,
        owner.as_ref(),
        envs,
        &access,
        platform.now(),
    );
    let outcome = match &decision {
        Ok(()) => Outcome::Succeeded,
        Err(r) => Outcome::Refused(r.to_string()),
    };
    platform
        .ledger
        .append_audit(&actor.recorded(), kind.audit_name(), target, None, outcome)
        .await?;
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::{AccessStatus, GrantHow};

    fn actor(name: &str, groups: &[&str], admin: bool) -> Actor {
        Actor {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            admin,
            by: None,
        }
    }

    fn grant(who: &str, env: Option<&str>, expires_at: Option<Timestamp>) -> AccessRequest {
        AccessRequest {
            id: 1,
            requester: who.into(),
            service: "cart".into(),
            permission: Permission::ReadLogs,
            env: env.map(str::to_string),
            reason: "INC-7".into(),
            status: AccessStatus::Granted {
                by: "ada".into(),
                how: GrantHow::Approved,
            },
            at: 0,
            expires_at,
        }
    }

    #[test]
    fn production_logs_are_for_owners_admins_and_grants() {
        let owner = ("shop".to_string(), "group".to_string());
        let o = Some(&owner);
        let prod = ["production"];
        assert!(may_read(&actor("ada", &["shop"], false), "cart", o, &prod, &[], 10).is_ok());
        assert!(may_read(&actor("root", &[], true), "cart", o, &prod, &[], 10).is_ok());
        let bob = actor("bob", &["payments"], false);
        // Outside production anyone may.
        assert!(may_read(&bob, "cart", o, &["staging"], &[], 10).is_ok());
        let refused = may_read(&bob, "cart", o, &["staging", "production"], &[], 10).unwrap_err();
        let text = refused.to_string();
        assert!(text.contains("--permission read-logs"), "{text}");
        assert!(text.contains("group:shop"), "{text}");
        // A grant lets him, until it expires; a grant for another permission does not.
        let g = [grant("bob", Some("production"), Some(20))];
        assert!(may_read(&bob, "cart", o, &prod, &g, 10).is_ok());
        assert!(may_read(&bob, "cart", o, &prod, &g, 20).is_err());
        let mut other = grant("bob", None, None);
        other.permission = Permission::ReadSecrets;
        assert!(may_read(&bob, "cart", o, &prod, &[other], 10).is_err());
    }

    /// `[policy] access_rules` with `permission = "read-logs"` grants a team member's
    /// request at once; the grant then lets them read production logs, and both the
    /// refused and the allowed read are in the audit trail.
    #[tokio::test]
    async fn a_team_rule_grants_read_logs_and_reads_are_audited() {
        use crate::actions::Action;
        use crate::actions::policy::Policy;
        use crate::actions::tests::{audit, go, sim};
        use crate::config::settings::{AccessRule, PolicyConfig};
        let (_s, p) = sim();
        let cfg = PolicyConfig {
            access_rules: vec![AccessRule {
                team: "checkout".into(),
                permission: Permission::ReadLogs,
                env: Some("production".into()),
            }],
            ..PolicyConfig::default()
        };
        let policy = Policy::from_config(&cfg, true, false);
        let catalog = p.catalog.load().await.unwrap();
        let sofia = Actor::resolve("sofia.moreno", &catalog, &policy);
        let envs = ["production"];
        let target = "payments-api@production/eu-west-1";
        let read = || {
            authorize_read(
                &p,
                &catalog,
                &sofia,
                "payments-api",
                &envs,
                target,
                ReadKind::Logs,
            )
        };
        let refused = read().await.unwrap().unwrap_err();
        assert!(
            refused.to_string().contains("--permission read-logs"),
            "{refused}"
        );
        let ask = Action::AccessRequest {
            service: "payments-api".into(),
            permission: Permission::ReadLogs,
            env: Some("production".into()),
            reason: "INC-41".into(),
        };
        go(&p, policy.clone(), "sofia.moreno", ask, false)
            .await
            .unwrap();
        let requests = p.ledger.access_requests().await.unwrap();
        assert!(
            matches!(&requests.last().unwrap().status,
                AccessStatus::Granted { how: GrantHow::Auto(rule), .. } if rule == "team"),
            "{requests:?}"
        );
        read().await.unwrap().expect("granted by the team rule");
        let reads: Vec<_> = audit(&p)
            .await
            .into_iter()
            .filter(|r| r.action == "logs.read")
            .collect();
        assert_eq!(reads.len(), 2);
        assert!(matches!(reads[0].outcome, Outcome::Refused(_)));
        assert_eq!(reads[1].outcome, Outcome::Succeeded);
        assert_eq!(
            (reads[1].actor.as_str(), reads[1].target.as_str()),
            ("sofia.moreno", target)
        );
    }
}
