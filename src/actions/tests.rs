//! Dispatcher tests on the demo platform (in memory, clock stopped).

use super::*;
use crate::backend::Platform;
use crate::backend::sim::{Sim, SimOptions};
use crate::config::settings::PolicyConfig;
use crate::domain::{AuditRecord, ClusterId, Outcome, Scope};

pub(super) fn sim() -> (Sim, Platform) {
    let opts = SimOptions {
        pace: 0.0,
        ..SimOptions::default()
    };
    let sim = Sim::open(opts, crate::backend::catalog::demo_catalog()).expect("open");
    let p = sim.platform();
    (sim, p)
}

pub(super) fn demo_policy() -> Policy {
    Policy::from_config(&PolicyConfig::default(), true, false)
}

pub(super) async fn audit(p: &Platform) -> Vec<AuditRecord> {
    p.ledger.audit(None).await.expect("audit")
}

pub(super) async fn go(
    p: &Platform,
    policy: Policy,
    who: &str,
    action: Action,
    confirmed: bool,
) -> Result<Dispatched, DispatchError> {
    let ctx = PolicyContext::gather(p, policy, &action)
        .await
        .expect("gather");
    let actor = Actor::resolve(who, &ctx.catalog, &ctx.policy);
    dispatch(p, &ctx, &actor, action, confirmed).await
}

/// `go` under the demo's default policy.
pub(super) async fn go_demo(
    p: &Platform,
    who: &str,
    action: Action,
    confirmed: bool,
) -> Result<Dispatched, DispatchError> {
    go(p, demo_policy(), who, action, confirmed).await
}

/// A cluster where the service runs (production when asked and possible).
async fn cluster_of(p: &Platform, service: &str, env: &str) -> ClusterId {
    let snap = p
        .clusters
        .snapshot(&Scope::default())
        .await
        .expect("snapshot");
    snap.deployments
        .iter()
        .find(|d| d.service == service && d.cluster.env == env)
        .map(|d| d.cluster.clone())
        .expect("runs there")
}

async fn version(p: &Platform, service: &str, c: &ClusterId) -> String {
    let snap = p
        .clusters
        .snapshot(&Scope::default())
        .await
        .expect("snapshot");
    snap.deployments
        .iter()
        .find(|d| d.service == service && &d.cluster == c)
        .map(|d| d.version.clone())
        .expect("deployment")
}

pub(super) fn lock(service: &str, env: Option<&str>) -> Action {
    Action::Lock {
        service: service.into(),
        env: env.map(str::to_string),
        region: None,
        reason: "INC-1".into(),
    }
}

/// The audit record could not be written, so nothing was recorded and nothing done.
pub(super) fn assert_nothing_done_without_audit(err: &DispatchError) {
    assert!(
        matches!(
            err,
            DispatchError::Audit {
                audit_id: None,
                done: false,
                ..
            }
        ),
        "{err:?}"
    );
}

pub(super) fn last(records: &[AuditRecord]) -> &AuditRecord {
    records.last().expect("a record")
}

#[tokio::test]
async fn owner_locks_and_the_audit_says_succeeded() {
    let (_s, p) = sim();
    let d = go(
        &p,
        demo_policy(),
        "amara.okafor",
        lock("payments-api", Some("staging")),
        false,
    )
    .await
    .expect("lock needs no confirmation");
    let records = audit(&p).await;
    let r = last(&records);
    assert_eq!(r.id, d.audit_id);
    assert_eq!(
        (r.actor.as_str(), r.action.as_str()),
        ("amara.okafor", "lock.add")
    );
    assert_eq!(r.target, "payments-api@staging/*");
    assert_eq!(r.reason.as_deref(), Some("INC-1"));
    assert_eq!(r.outcome, Outcome::Succeeded);
    let locks = p.ledger.locks().await.expect("locks");
    assert!(locks.iter().any(|l| l.service == "payments-api"
        && l.env.as_deref() == Some("staging")
        && l.by == "amara.okafor"));
}

#[tokio::test]
async fn a_non_owner_is_refused_and_the_refusal_is_audited() {
    let (_s, p) = sim();
    let before = p.ledger.locks().await.expect("locks").len();
    let err = go(
        &p,
        demo_policy(),
        "sofia.moreno",
        lock("payments-api", Some("dev")),
        true,
    )
    .await
    .expect_err("refused");
    let DispatchError::Refused { refusal, audit_id } = err else {
        panic!("{err:?}")
    };
    assert_eq!(refusal.rule(), "ownership");
    let text = refusal.to_string();
    assert!(
        text.contains("group:payments") && text.contains("admin"),
        "{text}"
    );
    let records = audit(&p).await;
    let r = last(&records);
    assert_eq!(Some(r.id), audit_id);
    assert!(matches!(&r.outcome, Outcome::Refused(why) if why.contains("ownership")));
    assert_eq!(p.ledger.locks().await.expect("locks").len(), before);
}

#[tokio::test]
async fn platform_wide_actions_are_for_admins() {
    let (_s, p) = sim();
    for action in [
        Action::LockAll { reason: "x".into() },
        Action::UnlockAll { all_holders: false },
        Action::FreezeOn { reason: "x".into() },
        Action::FreezeOff,
    ] {
        let err = go(&p, demo_policy(), "amara.okafor", action.clone(), true)
            .await
            .expect_err("refused");
        assert!(
            matches!(
                &err,
                DispatchError::Refused {
                    refusal: Refusal::AdminOnly { .. },
                    audit_id: Some(_)
                }
            ),
            "{action:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn read_only_global_refuses_even_admins_and_per_env_spares_admins() {
    let (_s, p) = sim();
    let mut policy = demo_policy();
    policy.read_only = true;
    let err = go(&p, policy, "you", lock("payments-api", None), true)
        .await
        .expect_err("ro");
    assert!(matches!(
        err,
        DispatchError::Refused {
            refusal: Refusal::ReadOnly { env: None },
            ..
        }
    ));

    let mut policy = demo_policy();
    policy.read_only_envs = vec!["production".into()];
    let err = go(
        &p,
        policy.clone(),
        "amara.okafor",
        lock("payments-api", Some("production")),
        true,
    )
    .await
    .expect_err("ro env");
    let DispatchError::Refused { refusal, .. } = err else {
        panic!()
    };
    assert_eq!(
        refusal,
        Refusal::ReadOnly {
            env: Some("production".into())
        }
    );
    assert!(refusal.to_string().contains("read_only_envs"));
    // Staging stays writable for the owner; production for the admin.
    go(
        &p,
        policy.clone(),
        "amara.okafor",
        lock("payments-api", Some("staging")),
        true,
    )
    .await
    .expect("owner in staging");
    go(
        &p,
        policy,
        "you",
        lock("payments-api", Some("production")),
        true,
    )
    .await
    .expect("admin in production");
}

#[tokio::test]
async fn the_readiness_gate_refuses_unlock_and_rollback_into_production() {
    let (_s, p) = sim();
    // legacy-billing reaches no level (see `sphere score`).
    go(&p, demo_policy(), "you", lock("legacy-billing", None), true)
        .await
        .expect("lock");
    let err = go(
        &p,
        demo_policy(),
        "you",
        Action::Unlock {
            service: "legacy-billing".into(),
            env: Some("production".into()),
            region: None,
            all_holders: false,
        },
        true,
    )
    .await
    .expect_err("gate");
    let DispatchError::Refused {
        refusal:
            Refusal::Readiness {
                failing,
                threshold,
                level,
                ..
            },
        audit_id,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(threshold, "Bronze");
    assert_eq!(level, &None);
    assert!(!failing.is_empty());
    assert!(err.to_string().contains("readiness gate"), "{err}");
    assert!(audit_id.is_some());
    // Unlocking in dev is not gated.
    go(
        &p,
        demo_policy(),
        "you",
        Action::Unlock {
            service: "legacy-billing".into(),
            env: Some("dev".into()),
            region: None,
            all_holders: false,
        },
        true,
    )
    .await
    .expect("dev unlock");
    // No gate when the threshold is switched off.
    let mut open = demo_policy();
    open.readiness_threshold = None;
    go(
        &p,
        open,
        "you",
        Action::Unlock {
            service: "legacy-billing".into(),
            env: Some("production".into()),
            region: None,
            all_holders: false,
        },
        true,
    )
    .await
    .expect("no gate");
}

#[tokio::test]
async fn invalid_input_names_the_field_and_changes_nothing() {
    let (_s, p) = sim();
    let c = cluster_of(&p, "payments-api", "staging").await;
    let cases = [
        (lock("no-such-service", None), "service"),
        (
            Action::Lock {
                service: "payments-api".into(),
                env: Some("qa".into()),
                region: None,
                reason: "x".into(),
            },
            "env",
        ),
        (
            Action::Unlock {
                service: "payments-api".into(),
                env: None,
                region: Some("mars-1".into()),
                all_holders: false,
            },
            "region",
        ),
        (
            Action::Lock {
                service: "payments-api".into(),
                env: None,
                region: None,
                reason: "  ".into(),
            },
            "reason",
        ),
        (
            Action::FreezeOn {
                reason: String::new(),
            },
            "reason",
        ),
        (
            Action::SetHpa {
                service: "payments-api".into(),
                cluster: c.clone(),
                min: 0,
                max: 3,
            },
            "min",
        ),
        (
            Action::SetHpa {
                service: "payments-api".into(),
                cluster: c.clone(),
                min: 2,
                max: 99,
            },
            "max",
        ),
        (
            Action::SetHpa {
                service: "payments-api".into(),
                cluster: c.clone(),
                min: 5,
                max: 3,
            },
            "min",
        ),
        (
            Action::Rollback {
                service: "payments-api".into(),
                cluster: c.clone(),
                to: Some("0.0.0-nope".into()),
            },
            "to",
        ),
        (
            Action::Restart {
                service: "payments-api".into(),
                cluster: ClusterId::new("staging", "nowhere"),
            },
            "region",
        ),
    ];
    let before = audit(&p).await.len();
    let locks = p.ledger.locks().await.expect("locks");
    for (action, field) in cases {
        let err = go(&p, demo_policy(), "you", action.clone(), true)
            .await
            .expect_err("invalid");
        match err {
            DispatchError::Refused {
                refusal: Refusal::Invalid { field: f, .. },
                audit_id: None,
            } => {
                assert_eq!(f, field, "{action:?}")
            }
            other => panic!("{action:?}: {other:?}"),
        }
    }
    assert_eq!(
        audit(&p).await.len(),
        before,
        "invalid input is not audited"
    );
    assert_eq!(p.ledger.locks().await.expect("locks"), locks);
}

#[tokio::test]
async fn confirmation_is_required_before_anything_is_recorded() {
    let (_s, p) = sim();
    let before = audit(&p).await.len();
    let c = cluster_of(&p, "payments-api", "production").await;
    let cases = [
        (
            Action::LockAll {
                reason: "incident".into(),
            },
            Confirm::TypeToConfirm("lock all".into()),
        ),
        (
            Action::UnlockAll { all_holders: false },
            Confirm::TypeToConfirm("unlock all".into()),
        ),
        (
            Action::Restart {
                service: "payments-api".into(),
                cluster: c.clone(),
            },
            Confirm::TypeToConfirm("payments-api".into()),
        ),
        (
            Action::Unlock {
                service: "payments-api".into(),
                env: Some("dev".into()),
                region: None,
                all_holders: false,
            },
            Confirm::YesNo,
        ),
        (Action::FreezeOff, Confirm::YesNo),
    ];
    for (action, want) in cases {
        let err = go(&p, demo_policy(), "you", action.clone(), false)
            .await
            .expect_err("confirm");
        assert_eq!(err, DispatchError::NeedsConfirmation(want), "{action:?}");
    }
    assert_eq!(audit(&p).await.len(), before);
    assert!(Confirm::TypeToConfirm("lock all".into()).accepts("lock all\n"));
    assert!(!Confirm::TypeToConfirm("payments-api".into()).accepts("y"));
    assert!(Confirm::YesNo.accepts("Y") && !Confirm::YesNo.accepts(""));
}

#[tokio::test]
async fn every_action_runs_and_is_visible() {
    let (_s, p) = sim();
    let admin = demo_policy();
    // Lock all / unlock all.
    go(
        &p,
        admin.clone(),
        "you",
        Action::LockAll {
            reason: "INC-9".into(),
        },
        true,
    )
    .await
    .expect("lock all");
    assert!(
        p.ledger
            .locks()
            .await
            .expect("locks")
            .iter()
            .any(|l| l.service == "*")
    );
    go(
        &p,
        admin.clone(),
        "you",
        Action::UnlockAll { all_holders: false },
        true,
    )
    .await
    .expect("unlock all");
    assert!(
        !p.ledger
            .locks()
            .await
            .expect("locks")
            .iter()
            .any(|l| l.service == "*")
    );
    // Freeze.
    go(
        &p,
        admin.clone(),
        "you",
        Action::FreezeOn {
            reason: "release".into(),
        },
        true,
    )
    .await
    .expect("on");
    let f = p.ledger.freeze().await.expect("freeze");
    assert!(f.on && f.by.as_deref() == Some("you") && f.reason.as_deref() == Some("release"));
    go(&p, admin.clone(), "you", Action::FreezeOff, true)
        .await
        .expect("off");
    assert!(!p.ledger.freeze().await.expect("freeze").on);
    // Rollback to the previous release (by the owner, in staging).
    let c = cluster_of(&p, "payments-api", "staging").await;
    let was = version(&p, "payments-api", &c).await;
    let d = go(
        &p,
        admin.clone(),
        "amara.okafor",
        Action::Rollback {
            service: "payments-api".into(),
            cluster: c.clone(),
            to: None,
        },
        true,
    )
    .await
    .expect("rollback");
    let releases = p.repos.releases("payments-api").await.expect("releases");
    let i = releases
        .iter()
        .position(|r| *r == was)
        .expect("current is a release");
    assert_eq!(version(&p, "payments-api", &c).await, releases[i - 1]);
    assert!(d.detail.contains(&was), "{}", d.detail);
    // Restart.
    go(
        &p,
        admin.clone(),
        "you",
        Action::Restart {
            service: "payments-api".into(),
            cluster: c.clone(),
        },
        true,
    )
    .await
    .expect("restart");
    // HPA.
    let h = p.clusters.snapshot(&Scope::default()).await.expect("snap");
    let hc = h
        .hpas
        .iter()
        .find(|x| x.service == "payments-api")
        .expect("an hpa")
        .cluster
        .clone();
    go(
        &p,
        admin,
        "you",
        Action::SetHpa {
            service: "payments-api".into(),
            cluster: hc.clone(),
            min: 2,
            max: 7,
        },
        true,
    )
    .await
    .expect("hpa");
    let h = p.clusters.snapshot(&Scope::default()).await.expect("snap");
    let hpa = h
        .hpas
        .iter()
        .find(|x| x.service == "payments-api" && x.cluster == hc)
        .expect("hpa");
    assert_eq!((hpa.min, hpa.max), (2, 7));
    let names: Vec<String> = audit(&p)
        .await
        .iter()
        .rev()
        .take(7)
        .map(|r| r.action.clone())
        .collect();
    assert_eq!(
        names,
        [
            "hpa.patch",
            "deployment.restart",
            "deployment.rollback",
            "freeze.off",
            "freeze.on",
            "unlock.all",
            "lock.all"
        ]
    );
    let records = audit(&p).await;
    assert!(records.len() >= 7, "{records:?}");
    assert!(
        records
            .iter()
            .rev()
            .take(7)
            .all(|r| r.outcome == Outcome::Succeeded)
    );
}

#[tokio::test]
async fn a_provider_failure_is_recorded_and_leaves_nothing_half_done() {
    let (s, p) = sim();
    let c = cluster_of(&p, "payments-api", "staging").await;
    let was = version(&p, "payments-api", &c).await;
    s.fail_next("rollback");
    let err = go(
        &p,
        demo_policy(),
        "you",
        Action::Rollback {
            service: "payments-api".into(),
            cluster: c.clone(),
            to: None,
        },
        true,
    )
    .await
    .expect_err("fails");
    let DispatchError::Failed { audit_id, error } = &err else {
        panic!("{err:?}")
    };
    assert!(error.contains("injected failure of rollback"), "{error}");
    let records = audit(&p).await;
    let r = records.iter().find(|r| r.id == *audit_id).expect("record");
    assert_eq!(r.outcome, Outcome::Failed(error.clone()));
    assert_eq!(
        version(&p, "payments-api", &c).await,
        was,
        "nothing changed"
    );

    // The same for a lock, a restart and an HPA patch.
    for (op, action) in [
        ("add_lock", lock("payments-api", Some("dev"))),
        (
            "restart",
            Action::Restart {
                service: "payments-api".into(),
                cluster: c.clone(),
            },
        ),
        ("set_freeze", Action::FreezeOn { reason: "x".into() }),
    ] {
        let locks = p.ledger.locks().await.expect("locks");
        s.fail_next(op);
        let err = go(&p, demo_policy(), "you", action, true)
            .await
            .expect_err(op);
        assert!(
            matches!(&err, DispatchError::Failed { error, .. } if error.contains(op)),
            "{err:?}"
        );
        assert!(matches!(last(&audit(&p).await).outcome, Outcome::Failed(_)));
        assert_eq!(p.ledger.locks().await.expect("locks"), locks);
        assert!(!p.ledger.freeze().await.expect("freeze").on);
    }

    // The audit trail down: nothing is done at all.
    let before = audit(&p).await.len();
    s.fail_next("append_audit");
    let err = go(
        &p,
        demo_policy(),
        "you",
        lock("payments-api", Some("dev")),
        true,
    )
    .await
    .expect_err("audit");
    assert_nothing_done_without_audit(&err);
    assert_eq!(audit(&p).await.len(), before);
    assert!(
        !p.ledger
            .locks()
            .await
            .expect("locks")
            .iter()
            .any(|l| l.service == "payments-api" && l.env.as_deref() == Some("dev"))
    );

    // `Started` is written before the provider call: with the outcome write failing,
    // the record still says started.
    s.fail_next("set_audit_outcome");
    let err = go(
        &p,
        demo_policy(),
        "you",
        lock("payments-api", Some("dev")),
        true,
    )
    .await
    .expect_err("outcome");
    let DispatchError::Audit {
        audit_id: Some(id),
        done: true,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    let r = audit(&p)
        .await
        .into_iter()
        .find(|r| r.id == id)
        .expect("record");
    assert_eq!(r.outcome, Outcome::Started);
}

#[test]
fn actions_describe_and_target_themselves() {
    let a = Action::Rollback {
        service: "cart".into(),
        cluster: ClusterId::new("production", "eu-west-1"),
        to: None,
    };
    assert_eq!(a.target(), "cart@production/eu-west-1");
    assert!(a.describe().contains("previous release"));
    assert_eq!(Action::LockAll { reason: "x".into() }.target(), "*@*/*");
    let json = serde_json::to_string(&lock("cart", None)).expect("json");
    assert!(json.contains("\"action\":\"lock\""), "{json}");
}

#[test]
fn actors_get_groups_from_the_catalog_and_admin_from_the_policy() {
    let catalog = crate::backend::catalog::demo_catalog();
    let policy = demo_policy();
    let you = Actor::resolve("you", &catalog, &policy);
    assert!(you.admin && you.groups == ["platform"]);
    let amara = Actor::resolve_as("amara.okafor", &catalog, &policy).expect("user");
    assert!(!amara.admin && amara.groups == ["payments"]);
    assert!(
        matches!(Actor::resolve_as("nobody", &catalog, &policy), Err(Refusal::Invalid { field, .. }) if field == "as")
    );
    let by_group = Policy {
        admins: vec!["group:payments".into()],
        ..policy
    };
    assert!(Actor::resolve("amara.okafor", &catalog, &by_group).admin);
    assert!(
        Policy::default().admins.is_empty(),
        "no admins off the demo"
    );
}

// ---- Secrets and flags (C7, C10) ----

const VALUE: &str = "s3cr3t-Value-9f2c";

fn put(service: &str, env: &str, region: &str, key: &str, value: &str) -> Action {
    Action::SecretPut {
        service: service.into(),
        env: env.into(),
        region: region.into(),
        key: key.into(),
        value: crate::domain::SecretValue::new(value),
    }
}

fn secret_action(kind: &str, service: &str, env: &str, region: &str, key: &str) -> Action {
    let (service, env, region, key) = (service.into(), env.into(), region.into(), key.into());
    match kind {
        "delete" => Action::SecretDelete {
            service,
            env,
            region,
            key,
        },
        _ => Action::SecretReveal {
            service,
            env,
            region,
            key,
        },
    }
}

fn flag_set(name: &str, value: &str, pct: Option<u8>, env: Option<&str>) -> Action {
    Action::FlagSet {
        name: name.into(),
        value: value.into(),
        percentage: pct,
        env: env.map(str::to_string),
        region: None,
    }
}

async fn has_secret(p: &Platform, service: &str, env: &str, region: &str, key: &str) -> bool {
    p.secrets
        .list(Some(service))
        .await
        .expect("list")
        .iter()
        .any(|m| m.env == env && m.region == region && m.key == key)
}

/// Nothing recorded may contain the value: not the audit trail, not the action's JSON.
async fn assert_no_value_recorded(p: &Platform, value: &str) {
    let json = serde_json::to_string(&audit(p).await).expect("json");
    assert!(!json.contains(value), "the audit trail holds the value");
    let debug = format!("{:?}", audit(p).await);
    assert!(!debug.contains(value));
}

pub(super) fn refused_rule(err: &DispatchError) -> &'static str {
    match err {
        DispatchError::Refused { refusal, .. } => refusal.rule(),
        other => panic!("not refused: {other:?}"),
    }
}

fn invalid_field(err: &DispatchError) -> String {
    invalid(err).0
}

/// The field and message of an invalid input, which is refused unaudited.
pub(super) fn invalid(err: &DispatchError) -> (String, String) {
    match err {
        DispatchError::Refused {
            refusal: Refusal::Invalid { field, message },
            audit_id: None,
        } => (field.clone(), message.clone()),
        other => panic!("not an unaudited invalid input: {other:?}"),
    }
}

#[tokio::test]
async fn an_owner_puts_a_secret_and_no_record_holds_the_value() {
    let (_s, p) = sim();
    let action = put("payments-api", "staging", "eu-west-1", "NEW_TOKEN", VALUE);
    let json = serde_json::to_string(&action).expect("json");
    assert!(json.contains("\"***\"") && !json.contains(VALUE), "{json}");
    assert!(!format!("{action:?}").contains(VALUE));
    let d = go(&p, demo_policy(), "amara.okafor", action, false)
        .await
        .expect("a new staging secret needs no confirmation");
    assert!(!format!("{d:?}").contains(VALUE));
    assert!(!serde_json::to_string(&d).expect("json").contains(VALUE));
    let records = audit(&p).await;
    let r = last(&records);
    assert_eq!(r.id, d.audit_id);
    assert_eq!(r.action, "secret.put");
    assert_eq!(r.target, "staging/payments-api/NEW_TOKEN@eu-west-1");
    assert_eq!(r.outcome, Outcome::Succeeded);
    let metas = p.secrets.list(Some("payments-api")).await.expect("list");
    let m = metas
        .iter()
        .find(|m| m.key == "NEW_TOKEN" && m.region == "eu-west-1")
        .expect("created");
    assert_eq!(m.name, "staging/payments-api/NEW_TOKEN");
    assert_eq!(m.tags.get("team").map(String::as_str), Some("payments"));
    assert_eq!(m.tags.get("managed-by").map(String::as_str), Some("sphere"));
    let v = p
        .secrets
        .reveal("payments-api", "staging", "eu-west-1", "NEW_TOKEN")
        .await
        .expect("reveal");
    assert_eq!(v.expose(), VALUE);
    assert_no_value_recorded(&p, VALUE).await;
}

#[tokio::test]
async fn secret_put_refuses_bad_input_non_owners_and_read_only() {
    let (_s, p) = sim();
    for (key, value, field) in [
        ("lower_case", VALUE, "key"),
        ("1ABC", VALUE, "key"),
        ("A-B", VALUE, "key"),
        ("", VALUE, "key"),
        ("GOOD_KEY", "", "value"),
    ] {
        let err = go(
            &p,
            demo_policy(),
            "you",
            put("payments-api", "staging", "eu-west-1", key, value),
            true,
        )
        .await
        .expect_err("invalid");
        assert_eq!(invalid_field(&err), field, "{key:?} {value:?}");
    }
    let err = go(
        &p,
        demo_policy(),
        "you",
        put("payments-api", "staging", "mars-1", "GOOD_KEY", VALUE),
        true,
    )
    .await
    .expect_err("invalid region");
    assert_eq!(invalid_field(&err), "region");

    let err = go(
        &p,
        demo_policy(),
        "sofia.moreno",
        put("payments-api", "staging", "eu-west-1", "GOOD_KEY", VALUE),
        true,
    )
    .await
    .expect_err("not the owner");
    assert_eq!(refused_rule(&err), "ownership");
    let mut ro = demo_policy();
    ro.read_only = true;
    let err = go(
        &p,
        ro,
        "you",
        put("payments-api", "staging", "eu-west-1", "GOOD_KEY", VALUE),
        true,
    )
    .await
    .expect_err("read-only");
    assert_eq!(refused_rule(&err), "read_only");
    let mut ro_prod = demo_policy();
    ro_prod.read_only_envs = vec!["production".into()];
    let err = go(
        &p,
        ro_prod,
        "amara.okafor",
        put("payments-api", "production", "eu-west-1", "GOOD_KEY", VALUE),
        true,
    )
    .await
    .expect_err("production read-only");
    assert_eq!(refused_rule(&err), "read_only");
    assert!(!has_secret(&p, "payments-api", "staging", "eu-west-1", "GOOD_KEY").await);
    assert_no_value_recorded(&p, VALUE).await;
}

#[tokio::test]
async fn overwriting_a_production_secret_needs_the_service_name_typed() {
    let (_s, p) = sim();
    // The demo's incident lock on payments-api in production/eu-west-1 stops secret
    // writes there (a lock holds for sphere's own changes): released first, so this
    // tests the confirmation alone.
    p.ledger
        .remove_locks("payments-api", Some("production"), None, None)
        .await
        .expect("unlock");
    let existing = put("payments-api", "production", "eu-west-1", "API_KEY", VALUE);
    let err = go(&p, demo_policy(), "you", existing.clone(), false)
        .await
        .expect_err("needs confirmation");
    assert_eq!(
        err,
        DispatchError::NeedsConfirmation(Confirm::TypeToConfirm("payments-api".into()))
    );
    // A new production secret, or an overwrite in staging, does not.
    go(
        &p,
        demo_policy(),
        "you",
        put(
            "payments-api",
            "production",
            "eu-west-1",
            "BRAND_NEW",
            VALUE,
        ),
        false,
    )
    .await
    .expect("new");
    go(
        &p,
        demo_policy(),
        "you",
        put("payments-api", "staging", "eu-west-1", "API_KEY", VALUE),
        false,
    )
    .await
    .expect("staging overwrite");
    go(&p, demo_policy(), "you", existing, true)
        .await
        .expect("confirmed");
    let v = p
        .secrets
        .reveal("payments-api", "production", "eu-west-1", "API_KEY")
        .await
        .expect("reveal");
    assert_eq!(v.expose(), VALUE);
}

#[tokio::test]
async fn secret_delete_confirms_and_removes_only_that_region() {
    let (_s, p) = sim();
    let staging = secret_action("delete", "payments-api", "staging", "eu-west-1", "API_KEY");
    assert_eq!(
        go(&p, demo_policy(), "amara.okafor", staging.clone(), false)
            .await
            .expect_err("confirm"),
        DispatchError::NeedsConfirmation(Confirm::YesNo)
    );
    let prod = secret_action(
        "delete",
        "payments-api",
        "production",
        "eu-west-1",
        "API_KEY",
    );
    assert_eq!(
        go(&p, demo_policy(), "amara.okafor", prod, false)
            .await
            .expect_err("confirm"),
        DispatchError::NeedsConfirmation(Confirm::TypeToConfirm("payments-api".into()))
    );
    let err = go(&p, demo_policy(), "sofia.moreno", staging.clone(), true)
        .await
        .expect_err("not the owner");
    assert_eq!(refused_rule(&err), "ownership");
    assert!(has_secret(&p, "payments-api", "staging", "eu-west-1", "API_KEY").await);

    let d = go(&p, demo_policy(), "amara.okafor", staging.clone(), true)
        .await
        .expect("deleted");
    assert_eq!(last(&audit(&p).await).action, "secret.delete");
    assert_eq!(last(&audit(&p).await).id, d.audit_id);
    assert!(!has_secret(&p, "payments-api", "staging", "eu-west-1", "API_KEY").await);
    assert!(has_secret(&p, "payments-api", "staging", "us-east-1", "API_KEY").await);
    // Gone now: deleting again is invalid input naming the key.
    let err = go(&p, demo_policy(), "amara.okafor", staging, true)
        .await
        .expect_err("missing");
    assert_eq!(invalid_field(&err), "key");
}

#[tokio::test]
async fn reveal_returns_the_value_and_audits_without_it() {
    let (_s, p) = sim();
    go(
        &p,
        demo_policy(),
        "you",
        put("payments-api", "dev", "us-east-1", "REVEAL_ME", VALUE),
        true,
    )
    .await
    .expect("put");
    let action = secret_action("reveal", "payments-api", "dev", "us-east-1", "REVEAL_ME");
    let d = go(&p, demo_policy(), "amara.okafor", action.clone(), false)
        .await
        .expect("a reveal needs no confirmation");
    assert_eq!(d.revealed.as_ref().map(|v| v.expose()), Some(VALUE));
    assert!(!format!("{d:?}").contains(VALUE));
    assert!(!serde_json::to_string(&d).expect("json").contains(VALUE));
    let records = audit(&p).await;
    let r = last(&records);
    assert_eq!(
        (r.action.as_str(), r.target.as_str(), &r.outcome),
        (
            "secret.reveal",
            "dev/payments-api/REVEAL_ME@us-east-1",
            &Outcome::Succeeded
        )
    );
    let err = go(&p, demo_policy(), "sofia.moreno", action, false)
        .await
        .expect_err("not the owner");
    let DispatchError::Refused { audit_id, .. } = &err else {
        panic!("{err:?}")
    };
    let records = audit(&p).await;
    let r = last(&records);
    assert_eq!(Some(r.id), *audit_id);
    assert_eq!(r.action, "secret.reveal");
    assert!(matches!(r.outcome, Outcome::Refused(_)));
    assert_no_value_recorded(&p, VALUE).await;
}

#[tokio::test]
async fn copy_fixes_a_missing_secret_and_refuses_naming_the_side() {
    let (_s, p) = sim();
    let topo = p.clusters.topology();
    let findings = crate::domain::drift::drift(&p.secrets.list(None).await.expect("list"), &topo);
    let f = findings
        .iter()
        .find(|f| f.kind == crate::domain::drift::DriftKind::Missing && f.regions.len() == 1)
        .expect("the demo has a missing secret")
        .clone();
    let to = f.regions[0].clone();
    let from = p
        .secrets
        .list(Some(&f.service))
        .await
        .expect("list")
        .into_iter()
        .find(|m| m.env == f.env && m.key == f.key)
        .expect("a source")
        .region;
    let copy = |from: &str, to: &str| Action::SecretCopy {
        service: f.service.clone(),
        env: f.env.clone(),
        key: f.key.clone(),
        from: from.into(),
        to: to.into(),
    };
    // Backwards: the source is the missing side.
    let err = go(&p, demo_policy(), "you", copy(&to, &from), true)
        .await
        .expect_err("source missing");
    assert_eq!(invalid_field(&err), "from");
    let d = go(&p, demo_policy(), "you", copy(&from, &to), false)
        .await
        .expect("copied");
    assert_eq!(last(&audit(&p).await).action, "secret.copy");
    assert_eq!(last(&audit(&p).await).id, d.audit_id);
    let after = crate::domain::drift::drift(&p.secrets.list(None).await.expect("list"), &topo);
    assert!(
        !after.iter().any(|g| g.service == f.service
            && g.env == f.env
            && g.key == f.key
            && g.kind == crate::domain::drift::DriftKind::Missing),
        "{after:?}"
    );
    // Again: the target has it now.
    let err = go(&p, demo_policy(), "you", copy(&from, &to), true)
        .await
        .expect_err("target exists");
    assert_eq!(invalid_field(&err), "to");
}

#[tokio::test]
async fn flag_set_by_prefix_group_is_pending_in_scope_only() {
    let (_s, p) = sim();
    let d = go(
        &p,
        demo_policy(),
        "amara.okafor",
        flag_set("payments.apple-pay", "on", Some(50), Some("staging")),
        true,
    )
    .await
    .expect("payments.* is amara's group's");
    let records = audit(&p).await;
    let r = last(&records);
    assert_eq!(r.id, d.audit_id);
    assert_eq!(
        (r.action.as_str(), r.target.as_str()),
        ("flag.set", "payments.apple-pay@staging/*")
    );
    let flags = p.flags.list().await.expect("flags");
    let mine: Vec<_> = flags
        .iter()
        .filter(|f| f.name == "payments.apple-pay")
        .collect();
    assert!(!mine.is_empty());
    for f in mine {
        let pending = f.pending.as_ref().map(|p| (p.value.as_str(), p.percentage));
        if f.cluster.env == "staging" {
            assert_eq!(pending, Some(("on", 50)), "{f:?}");
        } else {
            assert_eq!(pending, None, "{f:?}");
        }
    }
}

#[tokio::test]
async fn flag_set_refuses_other_groups_flags_unknown_flags_and_bad_percentages() {
    let (_s, p) = sim();
    let err = go(
        &p,
        demo_policy(),
        "amara.okafor",
        flag_set("checkout.new-flow", "on", None, Some("dev")),
        true,
    )
    .await
    .expect_err("not amara's");
    assert_eq!(refused_rule(&err), "ownership");
    let DispatchError::Refused { refusal, audit_id } = &err else {
        panic!()
    };
    assert!(refusal.to_string().contains("checkout.new-flow"));
    assert_eq!(Some(last(&audit(&p).await).id), *audit_id);
    let err = go(
        &p,
        demo_policy(),
        "you",
        flag_set("no.such-flag", "on", None, None),
        true,
    )
    .await
    .expect_err("unknown");
    assert_eq!(invalid_field(&err), "name");
    let err = go(
        &p,
        demo_policy(),
        "you",
        flag_set("checkout.new-flow", "on", Some(101), None),
        true,
    )
    .await
    .expect_err("percentage");
    assert_eq!(invalid_field(&err), "percentage");
    let mut ro = demo_policy();
    ro.read_only = true;
    let err = go(
        &p,
        ro,
        "you",
        flag_set("checkout.new-flow", "on", None, Some("dev")),
        true,
    )
    .await
    .expect_err("read-only");
    assert_eq!(refused_rule(&err), "read_only");
    // Everywhere or production: type the flag's name; another env: y/N.
    for (env, confirm) in [
        (None, Confirm::TypeToConfirm("checkout.new-flow".into())),
        (
            Some("production"),
            Confirm::TypeToConfirm("checkout.new-flow".into()),
        ),
        (Some("dev"), Confirm::YesNo),
    ] {
        assert_eq!(
            go(
                &p,
                demo_policy(),
                "you",
                flag_set("checkout.new-flow", "on", None, env),
                false,
            )
            .await
            .expect_err("confirm"),
            DispatchError::NeedsConfirmation(confirm)
        );
    }
    let flags = p.flags.list().await.expect("flags");
    let mine: Vec<_> = flags
        .iter()
        .filter(|f| f.name == "checkout.new-flow")
        .collect();
    assert!(!mine.is_empty(), "{flags:?}");
    assert!(
        mine.iter().all(|f| f.pending.is_none()),
        "nothing was sent: {mine:?}"
    );
}

#[test]
fn flag_ownership_is_by_group_prefix_and_a_dot() {
    let actor = |groups: &[&str], admin| Actor {
        name: "x".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        admin,
        by: None,
    };
    assert!(may_set_flag(
        &actor(&["payments"], false),
        "payments.router"
    ));
    assert!(!may_set_flag(&actor(&["pay"], false), "payments.router"));
    assert!(!may_set_flag(&actor(&["payments"], false), "payments"));
    assert!(!may_set_flag(&actor(&["payments"], false), "checkout.x"));
    assert!(may_set_flag(&actor(&[], true), "checkout.x"));
    assert!(valid_secret_key("A_1") && !valid_secret_key("a") && !valid_secret_key("_A"));
}

#[tokio::test]
async fn injected_failures_of_secret_and_flag_calls_are_recorded_and_change_nothing() {
    let (s, p) = sim();
    let cases = [
        (
            "put_secret",
            put("payments-api", "staging", "eu-west-1", "FAILS", VALUE),
        ),
        (
            "delete_secret",
            secret_action("delete", "payments-api", "staging", "eu-west-1", "API_KEY"),
        ),
        (
            "reveal_secret",
            secret_action("reveal", "payments-api", "staging", "eu-west-1", "API_KEY"),
        ),
        (
            "set_flag",
            flag_set("payments.apple-pay", "on", Some(1), Some("dev")),
        ),
    ];
    for (op, action) in cases {
        s.fail_next(op);
        let err = go(&p, demo_policy(), "you", action, true)
            .await
            .expect_err(op);
        let DispatchError::Failed { audit_id, error } = &err else {
            panic!("{op}: {err:?}")
        };
        assert!(error.contains(op), "{error}");
        let records = audit(&p).await;
        let r = records.iter().find(|r| r.id == *audit_id).expect("record");
        assert_eq!(r.outcome, Outcome::Failed(error.clone()));
    }
    assert!(!has_secret(&p, "payments-api", "staging", "eu-west-1", "FAILS").await);
    assert!(has_secret(&p, "payments-api", "staging", "eu-west-1", "API_KEY").await);
    let flags = p.flags.list().await.expect("flags");
    let mine: Vec<_> = flags
        .iter()
        .filter(|f| f.name == "payments.apple-pay")
        .collect();
    assert!(!mine.is_empty(), "{flags:?}");
    assert!(mine.iter().all(|f| f.pending.is_none()), "{mine:?}");
    // A copy fails the same way.
    let topo = p.clusters.topology();
    let f = crate::domain::drift::drift(&p.secrets.list(None).await.expect("list"), &topo)
        .into_iter()
        .find(|f| f.kind == crate::domain::drift::DriftKind::Missing && f.regions.len() == 1)
        .expect("missing");
    let from = topo
        .regions
        .iter()
        .find(|r| !f.regions.contains(r))
        .expect("a region that has it")
        .clone();
    s.fail_next("copy_secret");
    let err = go(
        &p,
        demo_policy(),
        "you",
        Action::SecretCopy {
            service: f.service.clone(),
            env: f.env.clone(),
            key: f.key.clone(),
            from,
            to: f.regions[0].clone(),
        },
        true,
    )
    .await
    .expect_err("copy fails");
    assert!(matches!(err, DispatchError::Failed { .. }), "{err:?}");
    assert!(!has_secret(&p, &f.service, &f.env, &f.regions[0], &f.key).await);
    assert_no_value_recorded(&p, VALUE).await;
}

// Access requests (C15).

pub(super) fn ask_operate(service: &str) -> Action {
    Action::AccessRequest {
        service: service.into(),
        permission: crate::domain::access::Permission::Operate,
        env: None,
        reason: "INC-7: on call for checkout".into(),
    }
}

pub(super) async fn access_request(p: &Platform, id: u64) -> crate::domain::access::AccessRequest {
    p.ledger
        .access_requests()
        .await
        .expect("requests")
        .into_iter()
        .find(|r| r.id == id)
        .expect("the request")
}

async fn request_status(p: &Platform, id: u64) -> crate::domain::access::AccessStatus {
    access_request(p, id).await.status
}

pub(super) async fn last_access_id(p: &Platform) -> u64 {
    p.ledger
        .access_requests()
        .await
        .expect("requests")
        .last()
        .map(|r| r.id)
        .expect("a request")
}

#[tokio::test]
async fn an_owner_asking_is_granted_by_ownership() {
    use crate::domain::access::{AccessStatus, GrantHow};
    let (_s, p) = sim();
    let d = go(
        &p,
        demo_policy(),
        "amara.okafor",
        ask_operate("payments-api"),
        false,
    )
    .await
    .expect("asking needs no confirmation");
    assert!(d.detail.contains("granted (ownership)"), "{}", d.detail);
    let id = last_access_id(&p).await;
    assert_eq!(
        request_status(&p, id).await,
        AccessStatus::Granted {
            by: "amara.okafor".into(),
            how: GrantHow::Auto("ownership".into())
        }
    );
    assert_eq!(last(&audit(&p).await).action, "access.request");
}

#[tokio::test]
async fn a_team_rule_grants_at_once_and_the_grant_lets_the_actor_act() {
    use crate::config::settings::AccessRule;
    use crate::domain::access::{AccessStatus, GrantHow, Permission};
    let (_s, p) = sim();
    let cfg = PolicyConfig {
        access_rules: vec![AccessRule {
            team: "checkout".into(),
            permission: Permission::Operate,
            env: None,
        }],
        ..PolicyConfig::default()
    };
    let policy = Policy::from_config(&cfg, true, false);
    let lock_it = lock("payments-api", Some("staging"));
    let err = go(&p, policy.clone(), "sofia.moreno", lock_it.clone(), false)
        .await
        .expect_err("not an owner yet");
    assert!(
        err.to_string()
            .contains("sphere access request payments-api --permission operate"),
        "{err}"
    );
    go(
        &p,
        policy.clone(),
        "sofia.moreno",
        ask_operate("payments-api"),
        false,
    )
    .await
    .expect("granted by the team rule");
    let id = last_access_id(&p).await;
    assert_eq!(
        request_status(&p, id).await,
        AccessStatus::Granted {
            by: "sofia.moreno".into(),
            how: GrantHow::Auto("team".into())
        }
    );
    go(&p, policy, "sofia.moreno", lock_it, false)
        .await
        .expect("the grant stands in for ownership");
}

#[tokio::test]
async fn a_request_waits_for_an_owner_who_approves_it() {
    use crate::domain::access::{AccessStatus, GrantHow};
    let (_s, p) = sim();
    let d = go(
        &p,
        demo_policy(),
        "sofia.moreno",
        ask_operate("payments-api"),
        false,
    )
    .await
    .expect("asked");
    assert!(d.detail.contains("pending"), "{}", d.detail);
    let id = last_access_id(&p).await;
    assert_eq!(request_status(&p, id).await, AccessStatus::Pending);

    // Pending is not granted.
    let lock_it = lock("payments-api", Some("dev"));
    go(&p, demo_policy(), "sofia.moreno", lock_it.clone(), false)
        .await
        .expect_err("still pending");

    go(
        &p,
        demo_policy(),
        "amara.okafor",
        Action::AccessApprove {
            id,
            reason: String::new(),
        },
        false,
    )
    .await
    .expect("an owner approves");
    assert_eq!(
        request_status(&p, id).await,
        AccessStatus::Granted {
            by: "amara.okafor".into(),
            how: GrantHow::Approved
        }
    );
    assert_eq!(last(&audit(&p).await).action, "access.approve");
    go(&p, demo_policy(), "sofia.moreno", lock_it, false)
        .await
        .expect("granted now");

    // Decided once.
    let err = go(
        &p,
        demo_policy(),
        "amara.okafor",
        Action::AccessDeny {
            id,
            reason: String::new(),
        },
        false,
    )
    .await
    .expect_err("already granted");
    assert!(err.to_string().contains("already granted"), "{err}");
}

#[tokio::test]
async fn only_an_owner_or_an_admin_decides_and_a_denial_grants_nothing() {
    use crate::domain::access::AccessStatus;
    let (_s, p) = sim();
    go(
        &p,
        demo_policy(),
        "sofia.moreno",
        ask_operate("payments-api"),
        false,
    )
    .await
    .expect("asked");
    let id = last_access_id(&p).await;
    let err = go(
        &p,
        demo_policy(),
        "sofia.moreno",
        Action::AccessApprove {
            id,
            reason: String::new(),
        },
        false,
    )
    .await
    .expect_err("not an owner");
    match err {
        DispatchError::Refused {
            refusal: Refusal::NotApprover { .. },
            audit_id: Some(_),
        } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(request_status(&p, id).await, AccessStatus::Pending);
    go(
        &p,
        demo_policy(),
        "you",
        Action::AccessDeny {
            id,
            reason: String::new(),
        },
        false,
    )
    .await
    .expect("an admin denies");
    assert_eq!(
        request_status(&p, id).await,
        AccessStatus::Denied { by: "you".into() }
    );
    go(
        &p,
        demo_policy(),
        "sofia.moreno",
        lock("payments-api", Some("dev")),
        false,
    )
    .await
    .expect_err("denied");
}

#[tokio::test]
async fn read_secrets_is_not_operate_and_a_grant_is_scoped_to_its_env() {
    use crate::domain::access::Permission;
    let (_s, p) = sim();
    go(
        &p,
        demo_policy(),
        "sofia.moreno",
        Action::AccessRequest {
            service: "payments-api".into(),
            permission: Permission::ReadSecrets,
            env: Some("staging".into()),
            reason: "debugging".into(),
        },
        false,
    )
    .await
    .expect("asked");
    let id = last_access_id(&p).await;
    go(
        &p,
        demo_policy(),
        "amara.okafor",
        Action::AccessApprove {
            id,
            reason: String::new(),
        },
        false,
    )
    .await
    .expect("approved");
    go(
        &p,
        demo_policy(),
        "sofia.moreno",
        lock("payments-api", Some("staging")),
        false,
    )
    .await
    .expect_err("read-secrets does not operate");
}
