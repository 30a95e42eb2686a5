//! Ephemeral environments (C14) and access-grant expiry through the dispatcher, on the
//! demo platform (in memory, its clock moved forward by hand: no sleeping).

use super::tests::{
    access_request, ask_operate, assert_nothing_done_without_audit, audit, demo_policy, go,
    go_demo, invalid, last, last_access_id, lock, refused_rule, sim,
};
use super::*;
use crate::backend::Platform;
use crate::config::settings::{AccessRule, PolicyConfig};
use crate::domain::access::Permission;
use crate::domain::environment::EphemeralEnv;
use crate::domain::{ClusterEvent, Outcome, Scope};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

fn create(name: &str, from: &str, region: Option<&str>, ttl: i64) -> Action {
    Action::EnvCreate {
        name: name.into(),
        from: from.into(),
        region: region.map(str::to_string),
        ttl_seconds: ttl,
    }
}

fn extend(name: &str, by: i64) -> Action {
    Action::EnvExtend {
        name: name.into(),
        by_seconds: by,
    }
}

fn delete(name: &str) -> Action {
    Action::EnvDelete { name: name.into() }
}

async fn env(p: &Platform, name: &str) -> Option<EphemeralEnv> {
    p.clusters
        .environments()
        .await
        .expect("environments")
        .into_iter()
        .find(|e| e.name == name)
}

/// (service, region, version) of every deployment in `env`, sorted.
async fn deployments(p: &Platform, env: &str) -> Vec<(String, String, String)> {
    let snap = p
        .clusters
        .snapshot(&env_scope(env))
        .await
        .expect("snapshot");
    let mut out: Vec<_> = snap
        .deployments
        .into_iter()
        .map(|d| (d.service, d.cluster.region.to_string(), d.version))
        .collect();
    out.sort();
    out
}

/// Every region of `env`.
fn env_scope(env: &str) -> Scope {
    Scope {
        env: Some(env.into()),
        region: None,
    }
}

/// The cluster events the watch holds now, without waiting for more.
fn drain<S: futures::Stream<Item = ClusterEvent> + Unpin>(watch: &mut S) -> Vec<ClusterEvent> {
    use futures::StreamExt;
    let mut events = Vec::new();
    while let Some(Some(ev)) =
        futures::FutureExt::now_or_never(tokio::task::unconstrained(watch.next()))
    {
        events.push(ev);
    }
    events
}

/// `name` is gone: not listed, no deployment left, not in the topology.
async fn assert_env_gone(p: &Platform, name: &str) {
    assert!(env(p, name).await.is_none(), "{name} is still listed");
    assert!(
        deployments(p, name).await.is_empty(),
        "{name} still has workloads"
    );
    assert!(
        !p.clusters
            .topology()
            .environments
            .contains(&name.to_string())
    );
}

/// The refusal and its audit id, or a panic naming what came instead.
fn refusal(err: &DispatchError) -> (&Refusal, Option<u64>) {
    match err {
        DispatchError::Refused { refusal, audit_id } => (refusal, *audit_id),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn an_environment_copies_its_source_at_its_versions_and_its_pods_come_up() {
    let (s, p) = sim();
    let before = p.now();
    let d = go_demo(
        &p,
        "you",
        create("pr-1234", "staging", None, 7 * DAY),
        false,
    )
    .await
    .expect("creating needs no confirmation");
    assert!(
        d.detail.contains("created pr-1234 from staging"),
        "{}",
        d.detail
    );

    // Audited: the record is the dispatcher's, started then succeeded.
    let records = audit(&p).await;
    let r = last(&records);
    assert_eq!(r.id, d.audit_id);
    assert_eq!(
        (r.actor.as_str(), r.action.as_str(), r.target.as_str()),
        ("you", "env.create", "env:pr-1234")
    );
    assert_eq!(r.outcome, Outcome::Succeeded);

    // Its own environment, in every region of staging, with the expiry asked for.
    let e = env(&p, "pr-1234").await.expect("listed");
    let topo = p.clusters.topology();
    assert_eq!(e.regions, topo.regions);
    assert_eq!((e.from.as_str(), e.created_by.as_str()), ("staging", "you"));
    assert!((e.expires_at - before - 7 * DAY).abs() <= 2, "{e:?}");
    assert!(topo.environments.contains(&"pr-1234".to_string()));
    assert_eq!(topo.ephemeral("pr-1234"), Some(&e));

    // Every staging deployment, at the version staging runs now.
    let source: Vec<_> = deployments(&p, "staging").await;
    let copy: Vec<_> = deployments(&p, "pr-1234").await;
    assert!(!copy.is_empty());
    assert_eq!(copy, source);

    // Pods come up as the demo's clock ticks.
    let pods = |p: &Platform| {
        let p = p.clone();
        async move {
            let scope = env_scope("pr-1234");
            p.clusters.snapshot(&scope).await.expect("snapshot").pods
        }
    };
    assert!(pods(&p).await.is_empty(), "no pod before the first tick");
    s.tick();
    s.tick();
    let up = pods(&p).await;
    assert!(!up.is_empty(), "pods appear");
    assert!(up.iter().all(|x| x.cluster.env == "pr-1234"));
}

#[tokio::test]
async fn one_region_copies_only_that_region_and_the_watch_tells_of_it() {
    let (_s, p) = sim();
    let mut watch = p.clusters.watch();
    drain(&mut watch); // the initial listing
    let load_test = create("load-test", "production", Some("eu-west-1"), 8 * HOUR);
    go_demo(&p, "you", load_test, false).await.expect("created");
    let e = env(&p, "load-test").await.expect("listed");
    assert_eq!(e.regions, ["eu-west-1"]);
    let copy = deployments(&p, "load-test").await;
    assert!(!copy.is_empty());
    assert!(copy.iter().all(|(_, r, _)| r == "eu-west-1"));
    assert_eq!(p.clusters.topology().regions_of("load-test"), ["eu-west-1"]);

    // The environment is told before anything in it, then its one cluster syncs.
    let events = drain(&mut watch);
    let at = |f: &dyn Fn(&ClusterEvent) -> bool| events.iter().position(f);
    let told = at(&|e| matches!(e, ClusterEvent::Environment(x) if x.name == "load-test"))
        .expect("environment event");
    let synced =
        at(&|e| matches!(e, ClusterEvent::Synced(c) if c.env == "load-test")).expect("synced");
    let first_deployment =
        at(&|e| matches!(e, ClusterEvent::Deployment(d) if d.cluster.env == "load-test"))
            .expect("deployments");
    assert!(told < synced && told < first_deployment, "{events:?}");
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let (_s, p) = sim();
    let records = audit(&p).await.len();
    for (action, field, says) in [
        (create("PR_1", "staging", None, DAY), "name", "^[a-z0-9-]+$"),
        (
            create("staging", "dev", None, DAY),
            "name",
            "exists already",
        ),
        (
            create("pr-1", "qa", None, DAY),
            "from",
            "not an environment",
        ),
        (
            create("pr-1", "staging", Some("mars-1"), DAY),
            "region",
            "does not span",
        ),
        (create("pr-1", "staging", None, 0), "ttl", "give some time"),
        (
            create("pr-1", "staging", None, 15 * DAY),
            "ttl",
            "above the policy maximum 14d",
        ),
        (extend("pr-9", DAY), "name", "no ephemeral environment"),
        (extend("staging", DAY), "name", "permanent"),
        (delete("production"), "name", "permanent"),
    ] {
        let err = go_demo(&p, "you", action.clone(), true)
            .await
            .expect_err("invalid");
        let (f, message) = invalid(&err);
        assert_eq!(f, field, "{action:?}: {message}");
        assert!(message.contains(says), "{action:?}: {message}");
    }
    assert_eq!(
        audit(&p).await.len(),
        records,
        "invalid input is not audited"
    );
    assert!(p.clusters.environments().await.expect("envs").is_empty());

    // The maximum comes from the policy.
    let cfg = PolicyConfig {
        env_ttl_max: "1d".into(),
        ..PolicyConfig::default()
    };
    let policy = Policy::from_config(&cfg, true, false);
    let two_days = create("pr-1", "staging", None, 2 * DAY);
    let err = go(&p, policy, "you", two_days, true)
        .await
        .expect_err("above 1d");
    assert!(invalid(&err).1.contains("maximum 1d"), "{err}");
}

#[tokio::test]
async fn read_only_and_actors_in_no_team_are_refused_and_the_refusal_is_audited() {
    let (_s, p) = sim();
    let mut ro = demo_policy();
    ro.read_only = true;
    let err = go(&p, ro, "you", create("pr-1", "staging", None, DAY), true)
        .await
        .expect_err("read-only");
    let (refused, audit_id) = refusal(&err);
    assert_eq!(refused, &Refusal::ReadOnly { env: None });
    let r = last(&audit(&p).await).clone();
    assert_eq!(Some(r.id), audit_id);
    assert_eq!(
        (r.action.as_str(), r.target.as_str()),
        ("env.create", "env:pr-1")
    );
    assert!(matches!(r.outcome, Outcome::Refused(_)));

    // Someone no catalog Group lists (e.g. a $USER unknown to the catalog).
    let err = go_demo(&p, "visitor", create("pr-1", "staging", None, DAY), true)
        .await
        .expect_err("in no team");
    let (refused, audit_id) = refusal(&err);
    assert!(matches!(refused, Refusal::NoTeam { .. }), "{refused:?}");
    assert_eq!(refused.rule(), "ownership");
    assert!(audit_id.is_some());
    assert!(env(&p, "pr-1").await.is_none());

    // An environment in `read_only_envs` is for admins only.
    let mut ro_env = demo_policy();
    ro_env.read_only_envs = vec!["pr-2".into()];
    let pr2 = create("pr-2", "staging", None, DAY);
    let err = go(&p, ro_env, "amara.okafor", pr2, true)
        .await
        .expect_err("read-only env");
    assert!(err.to_string().contains("read_only_envs"), "{err}");
}

#[tokio::test]
async fn only_the_creator_or_an_admin_extends_or_deletes_and_delete_is_confirmed() {
    let (_s, p) = sim();
    let preview = create("pay-preview", "staging", Some("us-east-1"), 2 * DAY);
    go_demo(&p, "amara.okafor", preview, false)
        .await
        .expect("a team member creates");
    let was = env(&p, "pay-preview").await.expect("listed");
    assert_eq!(was.created_by, "amara.okafor");

    // Another team's member may not touch it.
    for action in [extend("pay-preview", DAY), delete("pay-preview")] {
        let err = go_demo(&p, "sofia.moreno", action, true)
            .await
            .expect_err("not the creator");
        let (refused, audit_id) = refusal(&err);
        assert!(
            matches!(refused, Refusal::NotCreator { creator, .. } if creator == "amara.okafor"),
            "{refused:?}"
        );
        assert!(audit_id.is_some(), "the refusal is audited");
    }

    // The creator extends it, by exactly what was asked.
    let d = go_demo(&p, "amara.okafor", extend("pay-preview", DAY), false)
        .await
        .expect("extended");
    let now = env(&p, "pay-preview").await.expect("listed");
    assert_eq!(now.expires_at, was.expires_at + DAY);
    assert_eq!(last(&audit(&p).await).action, "env.extend");
    assert!(
        d.detail.contains("pay-preview now expires in"),
        "{}",
        d.detail
    );

    // Not past the policy's maximum: it says how much more is allowed.
    let err = go_demo(&p, "amara.okafor", extend("pay-preview", 12 * DAY), false)
        .await
        .expect_err("too long");
    let (field, message) = invalid(&err);
    assert_eq!(field, "by");
    assert!(message.contains("at most 11d"), "{message}");

    // Deleting asks first and records nothing until confirmed.
    let records = audit(&p).await.len();
    let err = go_demo(&p, "you", delete("pay-preview"), false)
        .await
        .expect_err("needs a yes");
    assert!(matches!(
        err,
        DispatchError::NeedsConfirmation(Confirm::YesNo)
    ));
    assert_eq!(audit(&p).await.len(), records);
    assert!(env(&p, "pay-preview").await.is_some());

    // An admin may delete anyone's; everything in it goes.
    let d = go_demo(&p, "you", delete("pay-preview"), true)
        .await
        .expect("deleted");
    assert!(d.detail.contains("deleted pay-preview"), "{}", d.detail);
    assert_env_gone(&p, "pay-preview").await;
    let r = last(&audit(&p).await).clone();
    assert_eq!(
        (r.action.as_str(), r.outcome),
        ("env.delete", Outcome::Succeeded)
    );
}

#[tokio::test]
async fn injected_failures_are_recorded_and_leave_nothing_half_done() {
    let (s, p) = sim();
    s.fail_next("create_environment");
    let pr7 = || create("pr-7", "staging", None, DAY);
    let err = go_demo(&p, "you", pr7(), true).await.expect_err("fails");
    let DispatchError::Failed { audit_id, error } = &err else {
        panic!("{err:?}")
    };
    assert!(
        error.contains("injected failure of create_environment"),
        "{error}"
    );
    let r = last(&audit(&p).await).clone();
    assert_eq!(r.id, *audit_id);
    assert_eq!(r.outcome, Outcome::Failed(error.clone()));
    assert!(env(&p, "pr-7").await.is_none());
    assert!(deployments(&p, "pr-7").await.is_empty());

    // The audit trail first: when it cannot be written nothing is created.
    s.fail_next("append_audit");
    let err = go_demo(&p, "you", pr7(), true)
        .await
        .expect_err("no audit, no action");
    assert_nothing_done_without_audit(&err);
    assert!(env(&p, "pr-7").await.is_none());

    go_demo(&p, "you", pr7(), true).await.expect("created");
    let was = env(&p, "pr-7").await.expect("listed");
    for (op, action) in [
        ("extend_environment", extend("pr-7", HOUR)),
        ("delete_environment", delete("pr-7")),
    ] {
        s.fail_next(op);
        let err = go_demo(&p, "you", action, true).await.expect_err(op);
        assert!(
            matches!(&err, DispatchError::Failed { error, .. } if error.contains(op)),
            "{err:?}"
        );
        assert!(matches!(last(&audit(&p).await).outcome, Outcome::Failed(_)));
        assert_eq!(env(&p, "pr-7").await.as_ref(), Some(&was), "unchanged");
        assert!(!deployments(&p, "pr-7").await.is_empty());
    }
}

#[tokio::test]
async fn the_demo_clock_removes_an_environment_when_its_time_is_up() {
    let (s, p) = sim();
    go_demo(&p, "you", create("pr-5", "dev", None, HOUR), false)
        .await
        .expect("created");
    assert!(!deployments(&p, "pr-5").await.is_empty());
    let mut watch = p.clusters.watch();
    drain(&mut watch);

    s.advance_clock(59 * 60).expect("advance");
    s.tick();
    assert!(env(&p, "pr-5").await.is_some(), "a minute to go");

    s.advance_clock(60).expect("advance");
    assert_env_gone(&p, "pr-5").await; // when its time is up, with its workloads
    let r = last(&audit(&p).await).clone();
    assert_eq!(
        (r.actor.as_str(), r.action.as_str(), r.target.as_str()),
        ("system", "env.expire", "env:pr-5")
    );
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|x| x.contains("created by you from dev"))
    );

    // Watchers hear the clock move and the environment go.
    let events = drain(&mut watch);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClusterEvent::Clock(t) if *t >= p.now() - 2))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClusterEvent::EnvironmentDeleted { name } if name == "pr-5"))
    );
    assert!(events.iter().any(
        |e| matches!(e, ClusterEvent::DeploymentDeleted { cluster, .. } if cluster.env == "pr-5")
    ));
}

#[tokio::test]
async fn an_expired_grant_no_longer_authorizes() {
    let (s, p) = sim();
    let cfg = PolicyConfig {
        access_rules: vec![AccessRule {
            team: "checkout".into(),
            permission: Permission::Operate,
            env: None,
        }],
        access_grant_ttl: "2h".into(),
        ..PolicyConfig::default()
    };
    let policy = Policy::from_config(&cfg, true, false);
    let lock_it = lock("payments-api", Some("staging"));
    let ask = ask_operate("payments-api");
    let d = go(&p, policy.clone(), "sofia.moreno", ask, false)
        .await
        .expect("granted by the team rule");
    assert!(d.detail.contains("for 2h"), "{}", d.detail);
    let grant = access_request(&p, last_access_id(&p).await).await;
    let expires = grant.expires_at.expect("a grant expires");
    assert!((expires - p.now() - 2 * HOUR).abs() <= 2, "{grant:?}");
    go(&p, policy.clone(), "sofia.moreno", lock_it.clone(), false)
        .await
        .expect("allowed while the grant lasts");

    s.advance_clock(2 * HOUR + 1).expect("advance");
    let err = go(&p, policy, "sofia.moreno", lock_it, false)
        .await
        .expect_err("expired");
    assert_eq!(refused_rule(&err), "ownership", "{err:?}");
}

#[tokio::test]
async fn an_approved_grant_expires_after_the_policy_ttl() {
    let (_s, p) = sim();
    go_demo(&p, "sofia.moreno", ask_operate("payments-api"), false)
        .await
        .expect("pending");
    let id = last_access_id(&p).await;
    let d = go_demo(
        &p,
        "you",
        Action::AccessApprove {
            id,
            reason: String::new(),
        },
        false,
    )
    .await
    .expect("approved");
    assert!(d.detail.contains("granted for 8h"), "{}", d.detail);
    let r = access_request(&p, id).await;
    let left = r.expires_at.expect("expires") - p.now();
    assert!((8 * HOUR - 2..=8 * HOUR).contains(&left), "{left}");
}
