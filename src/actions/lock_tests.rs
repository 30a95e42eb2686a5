//! Locks that hold (issue 10, item 3) and every change explained (item 4): a target
//! holds a set of locks, an unlock removes only one's own, a lock stops sphere's own
//! mutations unless overridden on purpose, and audit records say what changed.

use super::tests::{audit, demo_policy, last, sim};
use super::*;
use crate::backend::Platform;
use crate::domain::{AuditRecord, ClusterId, Outcome, Scope};

const AMARA: &str = "amara.okafor";
const LUKAS: &str = "lukas.becker";

/// Dispatch as `who` with a reason and a lock override.
async fn act(
    p: &Platform,
    who: &str,
    action: Action,
    confirmed: bool,
    reason: Option<&str>,
    override_lock: Option<&str>,
) -> Result<Dispatched, DispatchError> {
    let ctx = PolicyContext::gather(p, demo_policy(), &action)
        .await
        .expect("gather")
        .with_intent(
            reason.map(str::to_string),
            override_lock.map(str::to_string),
        );
    let actor = Actor::resolve(who, &ctx.catalog, &ctx.policy);
    dispatch(p, &ctx, &actor, action, confirmed).await
}

fn lock_staging(reason: &str) -> Action {
    Action::Lock {
        service: "payments-api".into(),
        env: Some("staging".into()),
        region: None,
        reason: reason.into(),
    }
}

fn unlock_staging(all_holders: bool) -> Action {
    Action::Unlock {
        service: "payments-api".into(),
        env: Some("staging".into()),
        region: None,
        all_holders,
    }
}

async fn staging_cluster(p: &Platform) -> ClusterId {
    p.clusters
        .snapshot(&Scope::default())
        .await
        .expect("snapshot")
        .deployments
        .iter()
        .find(|d| d.service == "payments-api" && d.cluster.env == "staging")
        .map(|d| d.cluster.clone())
        .expect("runs in staging")
}

fn record(records: &[AuditRecord], id: u64) -> &AuditRecord {
    records.iter().find(|r| r.id == id).expect("the record")
}

#[tokio::test]
async fn a_second_lock_is_added_and_says_who_holds_the_first() {
    let (_s, p) = sim();
    act(&p, AMARA, lock_staging("INC-1"), false, None, None)
        .await
        .expect("first lock");
    let d = act(&p, LUKAS, lock_staging("release 7"), false, None, None)
        .await
        .expect("second lock");
    assert!(
        d.detail.contains("amara.okafor (INC-1)"),
        "the locker is told who holds it and why: {}",
        d.detail
    );
    let held: Vec<(String, String)> = p
        .ledger
        .locks()
        .await
        .expect("locks")
        .into_iter()
        .filter(|l| l.service == "payments-api" && l.env.as_deref() == Some("staging"))
        .map(|l| (l.by, l.reason))
        .collect();
    assert_eq!(held.len(), 2, "both holders keep their lock: {held:?}");
    let records = audit(&p).await;
    let r = record(&records, d.audit_id);
    assert_eq!(
        r.details.get("lock.others").map(String::as_str),
        Some("amara.okafor (INC-1) on payments-api@staging/*")
    );
    assert_eq!(
        r.details.get("lock.holder").map(String::as_str),
        Some("lukas.becker (release 7)")
    );
}

#[tokio::test]
async fn unlock_removes_ones_own_and_others_only_on_purpose() {
    let (_s, p) = sim();
    act(&p, AMARA, lock_staging("INC-1"), false, None, None)
        .await
        .expect("amara locks");
    act(&p, LUKAS, lock_staging("release 7"), false, None, None)
        .await
        .expect("lukas locks");
    // Lukas's unlock removes his lock only.
    let d = act(&p, LUKAS, unlock_staging(false), true, None, None)
        .await
        .expect("unlock");
    assert!(
        d.detail.contains("still locked by amara.okafor"),
        "{}",
        d.detail
    );
    let by: Vec<String> = p
        .ledger
        .locks()
        .await
        .expect("locks")
        .into_iter()
        .filter(|l| l.service == "payments-api" && l.env.as_deref() == Some("staging"))
        .map(|l| l.by)
        .collect();
    assert_eq!(by, ["amara.okafor"]);
    // Again: only Amara's lock is left, which his unlock does not remove.
    let err = act(&p, LUKAS, unlock_staging(false), true, None, None)
        .await
        .expect_err("not his");
    match err {
        DispatchError::Refused {
            refusal: Refusal::Invalid { field, message },
            ..
        } => {
            assert_eq!(field, "all_holders");
            assert!(message.contains("amara.okafor (INC-1)"), "{message}");
        }
        e => panic!("{e:?}"),
    }
    // Removing another's lock needs a reason ...
    let err = act(&p, LUKAS, unlock_staging(true), true, None, None)
        .await
        .expect_err("no reason");
    assert!(err.to_string().contains("needs a reason"), "{err}");
    // ... and a typed confirmation naming whose locks go.
    let err = act(
        &p,
        LUKAS,
        unlock_staging(true),
        false,
        Some("amara is on leave"),
        None,
    )
    .await
    .expect_err("needs confirmation");
    assert_eq!(
        err,
        DispatchError::NeedsConfirmation(Confirm::TypeToConfirm("amara.okafor".into()))
    );
    let d = act(
        &p,
        LUKAS,
        unlock_staging(true),
        true,
        Some("amara is on leave"),
        None,
    )
    .await
    .expect("removed");
    assert!(
        !p.ledger
            .locks()
            .await
            .expect("locks")
            .iter()
            .any(|l| l.service == "payments-api" && l.env.as_deref() == Some("staging"))
    );
    let records = audit(&p).await;
    let r = record(&records, d.audit_id);
    assert_eq!(r.reason.as_deref(), Some("amara is on leave"));
    assert_eq!(
        r.details.get("lock.removed").map(String::as_str),
        Some("amara.okafor (INC-1) on payments-api@staging/*")
    );
}

#[tokio::test]
async fn a_lock_stops_a_rollback_until_overridden_and_the_override_is_audited() {
    let (_s, p) = sim();
    let c = staging_cluster(&p).await;
    let rollback = Action::Rollback {
        service: "payments-api".into(),
        cluster: c.clone(),
        to: None,
    };
    act(
        &p,
        "you",
        Action::LockAll {
            reason: "INC-9 outage".into(),
        },
        true,
        None,
        None,
    )
    .await
    .expect("lock all");
    let err = act(&p, AMARA, rollback.clone(), true, Some("bad deploy"), None)
        .await
        .expect_err("locked");
    let DispatchError::Refused { refusal, audit_id } = &err else {
        panic!("{err:?}");
    };
    assert!(refusal.is_lock(), "{refusal}");
    let text = refusal.to_string();
    assert!(
        text.contains("you (INC-9 outage)") && text.contains("--override-lock"),
        "the refusal names the lock and the way out: {text}"
    );
    let records = audit(&p).await;
    let r = record(&records, audit_id.expect("the refusal is audited"));
    assert!(matches!(r.outcome, Outcome::Refused(_)));
    assert_eq!(r.reason.as_deref(), Some("bad deploy"));
    assert!(r.details.get("locks").is_some_and(|l| l.contains("you")));
    // An override needs its reason.
    let err = act(&p, AMARA, rollback.clone(), true, None, Some("  "))
        .await
        .expect_err("empty override");
    assert!(err.to_string().contains("override"), "{err}");
    // Overridden on purpose: it runs, and the record says so.
    let before = p
        .clusters
        .snapshot(&Scope::default())
        .await
        .expect("snap")
        .deployments
        .into_iter()
        .find(|d| d.service == "payments-api" && d.cluster == c)
        .expect("dep")
        .version;
    let d = act(
        &p,
        AMARA,
        rollback,
        true,
        Some("bad deploy"),
        Some("the bad release pages every minute"),
    )
    .await
    .expect("overridden");
    assert!(d.detail.contains("lock overridden"), "{}", d.detail);
    let records = audit(&p).await;
    let r = record(&records, d.audit_id);
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(
        r.details.get("override.reason").map(String::as_str),
        Some("the bad release pages every minute")
    );
    assert!(
        r.details
            .get("override.locks")
            .is_some_and(|l| l.contains("you (INC-9 outage)"))
    );
    assert_eq!(r.details.get("version.from"), Some(&before));
    assert!(r.details.contains_key("version.to"));
}

#[tokio::test]
async fn the_holder_may_roll_back_under_their_own_lock() {
    let (_s, p) = sim();
    let c = staging_cluster(&p).await;
    act(&p, AMARA, lock_staging("INC-1"), false, None, None)
        .await
        .expect("lock");
    let rollback = Action::Rollback {
        service: "payments-api".into(),
        cluster: c.clone(),
        to: None,
    };
    // Someone else is stopped ...
    let err = act(&p, LUKAS, rollback.clone(), true, None, None)
        .await
        .expect_err("locked by amara");
    assert!(
        matches!(&err, DispatchError::Refused { refusal, .. } if refusal.is_lock()),
        "{err:?}"
    );
    // ... the holder is not (an emergency rollback by the one who locked).
    act(&p, AMARA, rollback, true, None, None)
        .await
        .expect("her own lock");
    // Restarts and HPA edits are stopped as rollbacks are.
    let err = act(
        &p,
        LUKAS,
        Action::Restart {
            service: "payments-api".into(),
            cluster: c,
        },
        true,
        None,
        None,
    )
    .await
    .expect_err("locked");
    assert!(
        matches!(&err, DispatchError::Refused { refusal, .. } if refusal.is_lock()),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_audit_says_what_changed() {
    let (_s, p) = sim();
    let snap = p.clusters.snapshot(&Scope::default()).await.expect("snap");
    let h = snap
        .hpas
        .iter()
        .find(|x| x.service == "payments-api")
        .expect("an hpa")
        .clone();
    let d = act(
        &p,
        AMARA,
        Action::SetHpa {
            service: "payments-api".into(),
            cluster: h.cluster.clone(),
            min: 2,
            max: 7,
        },
        true,
        Some("black friday"),
        None,
    )
    .await
    .expect("hpa");
    let records = audit(&p).await;
    let r = record(&records, d.audit_id);
    assert_eq!(r.reason.as_deref(), Some("black friday"));
    assert_eq!(
        r.details.get("hpa.from"),
        Some(&format!("{}..{}", h.min, h.max))
    );
    assert_eq!(r.details.get("hpa.to").map(String::as_str), Some("2..7"));
    // A reason longer than the limit is refused as input.
    let err = act(
        &p,
        AMARA,
        Action::SetHpa {
            service: "payments-api".into(),
            cluster: h.cluster.clone(),
            min: 2,
            max: 7,
        },
        true,
        Some(&"x".repeat(501)),
        None,
    )
    .await
    .expect_err("too long");
    assert!(err.to_string().contains("reason"), "{err}");
    // A secret write records the version written.
    let c = staging_cluster(&p).await;
    let d = act(
        &p,
        AMARA,
        Action::SecretPut {
            service: "payments-api".into(),
            env: c.env.to_string(),
            region: c.region.to_string(),
            key: "NEW_TOKEN".into(),
            value: crate::domain::SecretValue::new("s3cret".to_string()),
        },
        true,
        None,
        None,
    )
    .await
    .expect("put");
    let records = audit(&p).await;
    let r = record(&records, d.audit_id);
    assert!(
        r.details
            .get("secret.version.to")
            .is_some_and(|v| !v.is_empty()),
        "{:?}",
        r.details
    );
    assert!(
        !serde_json::to_string(r).expect("json").contains("s3cret"),
        "never the value"
    );
    assert_eq!(last(&records).id, d.audit_id);
}
