//! [`plan`] on hand-built contexts: no platform, no I/O. One refusal and one pass per
//! phase (the sim-backed tests in `actions/tests.rs` cover the same rules end to end).

use std::sync::Arc;

use super::{
    Actor, Confirm, Policy, PolicyContext, Readiness, Refusal, Subject, covering_locks, plan,
};
use crate::actions::Action;
use crate::domain::access::{AccessRequest, AccessStatus, GrantHow, Permission};
use crate::domain::catalog::Catalog;
use crate::domain::{ClusterId, Lock, Topology};

const NOW: i64 = 1_000_000;

fn topology() -> Topology {
    Topology {
        regions: vec!["eu-west-1".into(), "us-east-1".into()],
        environments: vec!["dev".into(), "staging".into(), "production".into()],
        ..Default::default()
    }
}

/// `payments`, owned by the group `team-pay`, running 1.2.0 (after 1.0.0 and 1.1.0)
/// in staging and production of eu-west-1.
fn payments() -> Subject {
    let staging = ClusterId::new("staging", "eu-west-1");
    let production = ClusterId::new("production", "eu-west-1");
    Subject {
        name: "payments".into(),
        owner: Some(("team-pay".into(), "group".into())),
        deployments: vec![
            (staging.clone(), "1.2.0".into()),
            (production.clone(), "1.2.0".into()),
        ],
        hpas: vec![staging.clone()],
        hpa_bounds: vec![(staging, 2, 4)],
        releases: vec!["1.0.0".into(), "1.1.0".into(), "1.2.0".into()],
        readiness: None,
    }
}

fn ctx() -> PolicyContext {
    PolicyContext {
        policy: Policy::default(),
        topology: topology(),
        catalog: Arc::new(Catalog::from_resolved(Vec::new(), Vec::new())),
        subject: Some(payments()),
        secrets: Vec::new(),
        flags: Vec::new(),
        access: Vec::new(),
        now: NOW,
        repo_org: None,
        locks: Vec::new(),
        locks_error: None,
        reason: None,
        override_lock: None,
    }
}

fn actor(name: &str, groups: &[&str]) -> Actor {
    Actor {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        admin: false,
        by: None,
    }
}

/// A member of the owning group.
fn owner() -> Actor {
    actor("ada", &["team-pay"])
}

fn admin() -> Actor {
    Actor {
        admin: true,
        ..actor("root", &[])
    }
}

fn restart(env: &str) -> Action {
    Action::Restart {
        service: "payments".into(),
        cluster: ClusterId::new(env, "eu-west-1"),
    }
}

fn rollback(env: &str, to: Option<&str>) -> Action {
    Action::Rollback {
        service: "Payments".into(),
        cluster: ClusterId::new(env, "eu-west-1"),
        to: to.map(str::to_string),
    }
}

fn lock(service: &str, env: Option<&str>, by: &str) -> Lock {
    Lock {
        service: service.into(),
        env: env.map(str::to_string),
        region: None,
        reason: "release train".into(),
        by: by.into(),
        at: NOW - 60,
    }
}

// 1. Validate and resolve.

#[test]
fn resolve_refuses_a_rollback_to_a_version_not_in_the_history() {
    let refusal = plan(&ctx(), &owner(), &rollback("staging", Some("9.9.9"))).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, message }
            if field == "to" && message.contains("1.0.0, 1.1.0, 1.2.0")),
        "{refusal:?}"
    );
}

#[test]
fn resolve_refuses_a_cluster_the_service_does_not_run_in() {
    let refusal = plan(&ctx(), &owner(), &restart("dev")).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, .. } if field == "cluster"),
        "{refusal:?}"
    );
}

#[test]
fn resolve_names_the_service_as_the_catalog_does_and_rolls_back_one_release() {
    let p = plan(&ctx(), &owner(), &rollback("staging", None)).unwrap();
    assert_eq!(
        p.action,
        Action::Rollback {
            service: "payments".into(),
            cluster: ClusterId::new("staging", "eu-west-1"),
            to: Some("1.1.0".into()),
        }
    );
    assert_eq!(p.from_version.as_deref(), Some("1.2.0"));
    assert_eq!(
        p.details.get("version.from").map(String::as_str),
        Some("1.2.0")
    );
    assert_eq!(
        p.details.get("version.to").map(String::as_str),
        Some("1.1.0")
    );
}

#[test]
fn resolve_refuses_hpa_bounds_outside_the_policy_and_takes_those_inside() {
    let hpa = |min, max| Action::SetHpa {
        service: "payments".into(),
        cluster: ClusterId::new("staging", "eu-west-1"),
        min,
        max,
    };
    let c = ctx();
    let too_many = c.policy.hpa_max + 1;
    let refusal = plan(&c, &owner(), &hpa(2, too_many)).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, .. } if field == "max"),
        "{refusal:?}"
    );
    let p = plan(&c, &owner(), &hpa(3, 5)).unwrap();
    assert_eq!(p.details.get("hpa.from").map(String::as_str), Some("2..4"));
    assert_eq!(p.details.get("hpa.to").map(String::as_str), Some("3..5"));
}

// 2. Read-only.

#[test]
fn read_only_mode_refuses_everyone_even_an_admin() {
    let mut c = ctx();
    c.policy.read_only = true;
    assert_eq!(
        plan(&c, &admin(), &restart("staging")).unwrap_err(),
        Refusal::ReadOnly { env: None }
    );
}

#[test]
fn a_read_only_environment_refuses_an_owner_and_passes_an_admin() {
    let mut c = ctx();
    c.policy.read_only_envs = vec!["production".into()];
    assert_eq!(
        plan(&c, &owner(), &restart("production")).unwrap_err(),
        Refusal::ReadOnly {
            env: Some("production".into())
        }
    );
    assert!(plan(&c, &owner(), &restart("staging")).is_ok());
    assert!(plan(&c, &admin(), &restart("production")).is_ok());
}

// 3. Ownership.

#[test]
fn ownership_refuses_someone_outside_the_owning_group() {
    let refusal = plan(&ctx(), &actor("bob", &["team-search"]), &restart("staging")).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::NotOwner {
            actor: "bob".into(),
            service: "payments".into(),
            owner: Some("group:team-pay".into()),
            permission: Permission::Operate,
        }
    );
}

#[test]
fn ownership_passes_a_granted_unexpired_request_for_that_environment_only() {
    let mut c = ctx();
    c.access = vec![AccessRequest {
        id: 7,
        requester: "bob".into(),
        service: "payments".into(),
        permission: Permission::Operate,
        env: Some("staging".into()),
        reason: "on call".into(),
        status: AccessStatus::Granted {
            by: "ada".into(),
            how: GrantHow::Approved,
        },
        at: NOW - 10,
        expires_at: Some(NOW + 3_600),
    }];
    let bob = actor("bob", &["team-search"]);
    assert!(plan(&c, &bob, &restart("staging")).is_ok());
    assert!(matches!(
        plan(&c, &bob, &restart("production")),
        Err(Refusal::NotOwner { .. })
    ));
    // Expired: it stands in for nothing.
    c.now = NOW + 3_601;
    assert!(matches!(
        plan(&c, &bob, &restart("staging")),
        Err(Refusal::NotOwner { .. })
    ));
}

#[test]
fn ownership_keeps_platform_wide_actions_to_admins() {
    let action = Action::FreezeOn {
        reason: "incident".into(),
    };
    assert_eq!(
        plan(&ctx(), &owner(), &action).unwrap_err(),
        Refusal::AdminOnly {
            action: action.audit_name().into()
        }
    );
    assert!(plan(&ctx(), &admin(), &action).is_ok());
}

// 4. The readiness gate.

fn gated_ctx(readiness: Option<Readiness>) -> PolicyContext {
    let mut c = ctx();
    c.policy.readiness_threshold = Some("Silver".into());
    c.subject.as_mut().expect("ctx() has a subject").readiness = readiness;
    c
}

#[test]
fn the_readiness_gate_fails_closed_when_readiness_was_not_assessed() {
    let refusal = plan(&gated_ctx(None), &owner(), &rollback("production", None)).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::Readiness {
            service: "payments".into(),
            level: None,
            threshold: "Silver".into(),
            failing: vec!["readiness was not assessed".into()],
        }
    );
    // Outside production there is no gate.
    assert!(plan(&gated_ctx(None), &owner(), &rollback("staging", None)).is_ok());
}

#[test]
fn the_readiness_gate_passes_a_service_at_the_threshold() {
    let ready = Readiness {
        level: Some("Silver".into()),
        passes: true,
        failing: Vec::new(),
    };
    let p = plan(
        &gated_ctx(Some(ready)),
        &owner(),
        &rollback("production", None),
    )
    .unwrap();
    assert_eq!(p.confirm, Confirm::TypeToConfirm("payments".into()));
}

// 5. Whose locks an unlock removes.

fn unlock(all_holders: bool) -> Action {
    Action::Unlock {
        service: "payments".into(),
        env: Some("staging".into()),
        region: None,
        all_holders,
    }
}

#[test]
fn an_unlock_refuses_to_remove_only_someone_elses_lock() {
    let mut c = ctx();
    c.locks = vec![lock("payments", Some("staging"), "grace")];
    let refusal = plan(&c, &owner(), &unlock(false)).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, message }
            if field == "all_holders" && message.contains("grace")),
        "{refusal:?}"
    );
    // Every holder's, on purpose, needs a reason.
    let refusal = plan(&c, &owner(), &unlock(true)).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, .. } if field == "reason"),
        "{refusal:?}"
    );
}

#[test]
fn an_unlock_of_every_holder_with_a_reason_names_them_to_confirm() {
    let mut c = ctx().with_intent(Some("grace is on leave".into()), None);
    c.locks = vec![
        lock("payments", Some("staging"), "grace"),
        lock("payments", Some("staging"), "ada"),
    ];
    let p = plan(&c, &owner(), &unlock(true)).unwrap();
    assert_eq!(p.confirm, Confirm::TypeToConfirm("grace".into()));
    assert_eq!(p.reason.as_deref(), Some("grace is on leave"));
    let removed = p.details.get("lock.removed").cloned().unwrap_or_default();
    assert!(
        removed.contains("grace") && removed.contains("ada"),
        "{removed}"
    );
    // Only their own: the other holder's lock is kept, and said so.
    let p = plan(&c, &owner(), &unlock(false)).unwrap();
    assert_eq!(p.confirm, Confirm::YesNo);
    assert!(p.details["lock.kept"].contains("grace"));
}

// 6. Locks.

#[test]
fn a_lock_by_someone_else_stops_a_restart_but_never_its_holder() {
    let mut c = ctx();
    c.locks = vec![lock("payments", Some("staging"), "grace")];
    let refusal = plan(&c, &owner(), &restart("staging")).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Locked { target, locks, .. }
            if target == "payments@staging/eu-west-1" && locks.len() == 1),
        "{refusal:?}"
    );
    // Another environment is not covered.
    assert!(plan(&c, &owner(), &restart("production")).is_ok());
    // The holder acts through their own lock.
    let grace = actor("grace", &["team-pay"]);
    assert!(
        plan(&c, &grace, &restart("staging"))
            .unwrap()
            .overridden
            .is_empty()
    );
}

#[test]
fn locks_that_cannot_be_read_stop_a_restart_unless_overridden_with_a_reason() {
    let mut c = ctx();
    c.locks_error = Some("the cluster is unreachable".into());
    assert!(matches!(
        plan(&c, &owner(), &restart("staging")),
        Err(Refusal::LocksUnknown { .. })
    ));
    let blank = c.clone().with_intent(None, Some("  ".into()));
    let refusal = plan(&blank, &owner(), &restart("staging")).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, .. } if field == "override_lock"),
        "{refusal:?}"
    );
    let c = c.with_intent(None, Some("hotfix".into()));
    let p = plan(&c, &owner(), &restart("staging")).unwrap();
    assert_eq!(p.override_reason.as_deref(), Some("hotfix"));
    assert_eq!(
        p.details.get("override.locks").map(String::as_str),
        Some("locks unknown (the cluster is unreachable)")
    );
}

#[test]
fn covering_locks_leave_out_actions_no_lock_stops() {
    let mut c = ctx();
    c.locks = vec![lock(Lock::ALL, None, "grace")];
    let freeze = Action::FreezeOn {
        reason: "incident".into(),
    };
    assert_eq!(covering_locks(&c, &freeze), None);
    let (target, locks) = covering_locks(&c, &restart("production")).unwrap();
    assert_eq!(target, "payments@production/eu-west-1");
    assert_eq!(locks.len(), 1);
}

// 7. Confirmation.

#[test]
fn confirmation_is_yes_no_outside_production_and_typed_in_it() {
    assert_eq!(
        plan(&ctx(), &owner(), &restart("staging")).unwrap().confirm,
        Confirm::YesNo
    );
    assert_eq!(
        plan(&ctx(), &owner(), &restart("production"))
            .unwrap()
            .confirm,
        Confirm::TypeToConfirm("payments".into())
    );
    let lock_it = Action::Lock {
        service: "payments".into(),
        env: None,
        region: None,
        reason: "release train".into(),
    };
    assert_eq!(
        plan(&ctx(), &owner(), &lock_it).unwrap().confirm,
        Confirm::None
    );
}

/// A platform that names its production otherwise (`prd`, `prod-eu`, `live`) is
/// protected as `production` is; `preprod` and `non-prod` are not production.
#[test]
fn production_by_another_name_is_typed_to_confirm() {
    let typed = Confirm::TypeToConfirm("payments".into());
    for (env, confirm) in [
        ("prd", typed.clone()),
        ("prod-eu", typed.clone()),
        ("live", typed.clone()),
        ("production-blue", typed),
        ("preprod", Confirm::YesNo),
        ("non-prod", Confirm::YesNo),
    ] {
        let mut c = ctx();
        let cluster = ClusterId::new(env, "eu-west-1");
        c.topology = Topology::from_clusters(std::slice::from_ref(&cluster));
        if let Some(s) = c.subject.as_mut() {
            s.deployments.push((cluster, "1.2.0".into()));
        }
        assert_eq!(
            plan(&c, &owner(), &restart(env)).unwrap().confirm,
            confirm,
            "{env}"
        );
    }
}

// The actor's own reason, checked before anything else.

#[test]
fn a_reason_of_only_control_characters_is_refused_before_the_action_is_read() {
    let mut c = ctx();
    c.reason = Some("\u{1b}[2J".into());
    let refusal = plan(&c, &owner(), &restart("nowhere")).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, .. } if field == "reason"),
        "{refusal:?}"
    );
}

/// A platform that is not a full grid: dev in us-east-1 only, staging in eu-west-1
/// only (payments runs there), production in both.
fn gapped_ctx() -> PolicyContext {
    let mut c = ctx();
    c.topology = Topology::from_clusters(&[
        ClusterId::new("dev", "us-east-1"),
        ClusterId::new("staging", "eu-west-1"),
        ClusterId::new("production", "eu-west-1"),
        ClusterId::new("production", "us-east-1"),
    ]);
    c
}

fn lock_in(env: Option<&str>, region: &str) -> Action {
    Action::Lock {
        service: "payments".into(),
        env: env.map(str::to_string),
        region: Some(region.into()),
        reason: "release train".into(),
    }
}

#[test]
fn a_cluster_the_platform_does_not_have_is_refused_by_name() {
    let c = gapped_ctx();
    let refusal = plan(&c, &owner(), &restart("dev")).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { field, message }
            if field == "region" && message.contains("dev does not run in eu-west-1: use one of us-east-1")),
        "{refusal:?}"
    );
    let refusal = plan(&c, &owner(), &lock_in(Some("staging"), "us-east-1")).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::Invalid { message, .. }
            if message.contains("staging does not run in us-east-1")),
        "{refusal:?}"
    );
    assert!(plan(&c, &owner(), &lock_in(Some("staging"), "eu-west-1")).is_ok());
    // What removes what is there already stays possible (a lock taken before).
    let unlock = Action::Unlock {
        service: "payments".into(),
        env: Some("staging".into()),
        region: Some("us-east-1".into()),
        all_holders: false,
    };
    assert!(plan(&c, &owner(), &unlock).is_ok());
}

#[test]
fn a_read_only_environment_stops_a_region_wide_lock_only_where_it_runs() {
    let mut c = gapped_ctx();
    c.policy.read_only_envs = vec!["staging".into()];
    assert!(plan(&c, &owner(), &lock_in(None, "us-east-1")).is_ok());
    assert_eq!(
        plan(&c, &owner(), &lock_in(None, "eu-west-1")).unwrap_err(),
        Refusal::ReadOnly {
            env: Some("staging".into())
        }
    );
}
