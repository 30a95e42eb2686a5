//! The golden path through the dispatcher, on the demo platform (in memory).

use super::tests::{audit, demo_policy as policy, sim};
use super::*;
use crate::backend::Platform;
use crate::domain::catalog::Kind;
use crate::domain::golden::{CI_PATH, DESCRIPTOR_PATH, Database, ServiceRequest, Step};
use crate::domain::{AuditRecord, Outcome, Scope};

fn request() -> ServiceRequest {
    let mut r = ServiceRequest::new("fraud-scorer", "payments");
    r.description = "Scores card payments for fraud.".into();
    r.database = Some(Database::Postgres);
    r.cache = true;
    r.replicas = 3;
    r
}

fn create(r: &ServiceRequest) -> Action {
    Action::ServiceCreate {
        request: r.clone(),
        from_step: None,
    }
}

async fn go(
    p: &Platform,
    who: &str,
    action: Action,
) -> (Result<Dispatched, DispatchError>, Vec<StepReport>) {
    let ctx = PolicyContext::gather(p, policy(), &action)
        .await
        .expect("gather");
    let actor = Actor::resolve(who, &ctx.catalog, &ctx.policy);
    let mut seen = Vec::new();
    let r = dispatch_with_progress(p, &ctx, &actor, action, false, &mut |s| {
        seen.push(s.clone())
    })
    .await;
    (r, seen)
}

async fn dev_deployments(p: &Platform, name: &str) -> Vec<(String, u32)> {
    let snap = p
        .clusters
        .snapshot(&Scope::default())
        .await
        .expect("snapshot");
    snap.deployments
        .iter()
        .filter(|d| d.service == name)
        .map(|d| (d.cluster.to_string(), d.desired))
        .collect()
}

#[tokio::test]
async fn the_happy_path_creates_everything_and_audits_each_step() {
    let (_s, p) = sim();
    let r = request();
    let (res, seen) = go(&p, "amara.okafor", create(&r)).await;
    let done = res.expect("created");
    let steps: Vec<(Step, StepStatus)> = seen.iter().map(|s| (s.step, s.status.clone())).collect();
    assert_eq!(
        steps,
        Step::ALL.map(|s| (s, StepStatus::Done)).to_vec(),
        "every step ran, in order, and was reported as it ended"
    );
    assert_eq!(done.steps, seen);
    // Repository, workflow, descriptor.
    let repo = p.repos.repo("northwind/fraud-scorer").await.expect("repo");
    assert!(repo.as_ref().is_some_and(|r| r.exists), "{repo:?}");
    assert_eq!(repo.map(|r| r.workflows), Some(vec!["ci.yaml".to_string()]));
    let ci = p
        .repos
        .file("northwind/fraud-scorer", CI_PATH)
        .await
        .expect("ci");
    assert_eq!(ci, Some(r.ci_workflow()));
    let desc = p
        .repos
        .file("northwind/fraud-scorer", DESCRIPTOR_PATH)
        .await
        .expect("descriptor");
    assert_eq!(desc, Some(r.descriptor()));
    // Registered: the catalog serves the Component, its owner and its resources.
    let catalog = p.catalog.load().await.expect("catalog");
    let c = catalog
        .find(Some(&Kind::Component), "fraud-scorer")
        .expect("registered");
    assert_eq!(c.owner.as_ref().map(|o| o.name.as_str()), Some("payments"));
    assert!(
        catalog
            .find(Some(&Kind::Resource), "fraud-scorer-db")
            .is_some()
    );
    assert!(
        catalog
            .find(Some(&Kind::Resource), "fraud-scorer-cache")
            .is_some()
    );
    // Deployed to dev in every region with the requested replicas, nowhere else.
    let deps = dev_deployments(&p, "fraud-scorer").await;
    let regions = p.clusters.topology().regions.len();
    assert_eq!(deps.len(), regions, "{deps:?}");
    assert!(
        deps.iter().all(|(c, n)| c.starts_with("dev/") && *n == 3),
        "{deps:?}"
    );
    // One Started→Succeeded record per step, the step in the target.
    let records = audit(&p).await;
    let ours: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.action == "service.create" && r.target.starts_with("fraud-scorer"))
        .collect();
    let targets: Vec<&str> = ours.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "fraud-scorer/repository",
            "fraud-scorer/ci",
            "fraud-scorer/descriptor",
            "fraud-scorer/register",
            "fraud-scorer/deploy-dev"
        ]
    );
    assert!(
        ours.iter()
            .all(|r| r.outcome == Outcome::Succeeded && r.actor == "amara.okafor")
    );
    assert_eq!(done.audit_id, ours[4].id);
}

#[tokio::test]
async fn a_failure_at_register_stops_there_and_a_rerun_resumes_without_duplicates() {
    let (s, p) = sim();
    let r = request();
    s.fail_next("register");
    let (res, seen) = go(&p, "amara.okafor", create(&r)).await;
    let Err(DispatchError::Failed { audit_id, error }) = res else {
        panic!("expected a failure, got {res:?}");
    };
    assert!(error.contains("register"), "{error}");
    let statuses: Vec<(Step, bool)> = seen
        .iter()
        .map(|s| (s.step, matches!(s.status, StepStatus::Failed(_))))
        .collect();
    assert_eq!(
        statuses,
        [
            (Step::Repository, false),
            (Step::Ci, false),
            (Step::Descriptor, false),
            (Step::Register, true)
        ],
        "the run stops at the failed step"
    );
    let records = audit(&p).await;
    let failed = records.iter().find(|x| x.id == audit_id).expect("record");
    assert_eq!(failed.target, "fraud-scorer/register");
    assert!(matches!(&failed.outcome, Outcome::Failed(e) if e.contains("injected")));
    // Nothing after the failed step happened.
    let catalog = p.catalog.load().await.expect("catalog");
    assert!(
        catalog
            .find(Some(&Kind::Component), "fraud-scorer")
            .is_none()
    );
    assert!(dev_deployments(&p, "fraud-scorer").await.is_empty());

    // Again: the done steps are skipped, register and deploy-dev run.
    let before = audit(&p).await.len();
    let (res, seen) = go(&p, "amara.okafor", create(&r)).await;
    res.expect("resumed and completed");
    let statuses: Vec<(Step, StepStatus)> =
        seen.iter().map(|s| (s.step, s.status.clone())).collect();
    assert_eq!(
        statuses,
        [
            (Step::Repository, StepStatus::AlreadyDone),
            (Step::Ci, StepStatus::AlreadyDone),
            (Step::Descriptor, StepStatus::AlreadyDone),
            (Step::Register, StepStatus::Done),
            (Step::DeployDev, StepStatus::Done)
        ]
    );
    let records = audit(&p).await;
    let new: Vec<&str> = records[before..]
        .iter()
        .map(|r| r.target.as_str())
        .collect();
    assert_eq!(new, ["fraud-scorer/register", "fraud-scorer/deploy-dev"]);
    let repo = p.repos.repo("northwind/fraud-scorer").await.expect("repo");
    assert_eq!(repo.map(|r| r.workflows), Some(vec!["ci.yaml".to_string()]));
    let catalog = p.catalog.load().await.expect("catalog");
    let n = catalog
        .entities()
        .iter()
        .filter(|e| e.name == "fraud-scorer")
        .count();
    assert_eq!(n, 1, "registered once");
    assert!(
        !catalog
            .problems
            .iter()
            .any(|x| x.reason.contains("duplicate")),
        "{:?}",
        catalog.problems
    );
    let regions = p.clusters.topology().regions.len();
    assert_eq!(dev_deployments(&p, "fraud-scorer").await.len(), regions);

    // A third run changes nothing and says so in one record.
    let before = audit(&p).await.len();
    let (res, _) = go(&p, "amara.okafor", create(&r)).await;
    res.expect("nothing to do");
    let records = audit(&p).await;
    assert_eq!(records.len(), before + 1);
    assert_eq!(records[before].target, "fraud-scorer");
    assert_eq!(dev_deployments(&p, "fraud-scorer").await.len(), regions);
}

#[tokio::test]
async fn a_non_member_of_the_owner_is_refused_and_nothing_changes() {
    let (_s, p) = sim();
    let (res, seen) = go(&p, "sofia.moreno", create(&request())).await;
    let Err(DispatchError::Refused { refusal, audit_id }) = res else {
        panic!("expected a refusal, got {res:?}");
    };
    assert_eq!(refusal.rule(), "ownership");
    assert!(refusal.to_string().contains("group:payments"), "{refusal}");
    assert!(audit_id.is_some(), "the refusal is audited");
    assert!(seen.is_empty());
    assert!(
        p.repos
            .repo("northwind/fraud-scorer")
            .await
            .expect("repo")
            .is_none()
    );
    // The admin (the demo user `you`) may create for any group.
    let (res, _) = go(&p, "you", create(&request())).await;
    res.expect("admins may");
}

#[tokio::test]
async fn invalid_fields_are_named_and_nothing_is_attempted() {
    let (_s, p) = sim();
    for (mutate, field) in [
        (
            Box::new(|r: &mut ServiceRequest| r.name = "Bad_Name".into())
                as Box<dyn Fn(&mut ServiceRequest)>,
            "name",
        ),
        (Box::new(|r| r.name = "cart-service".into()), "name"),
        (Box::new(|r| r.owner = "nobody".into()), "owner"),
        (Box::new(|r| r.template = "cobol".into()), "template"),
        (Box::new(|r| r.replicas = 11), "replicas"),
    ] {
        let mut r = request();
        mutate(&mut r);
        let (res, _) = go(&p, "amara.okafor", create(&r)).await;
        match res {
            Err(DispatchError::Refused {
                refusal: Refusal::Invalid { field: f, .. },
                audit_id: None,
            }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let bad_step = Action::ServiceCreate {
        request: request(),
        from_step: Some("deploy-prod".into()),
    };
    let (res, _) = go(&p, "amara.okafor", bad_step).await;
    assert!(
        matches!(&res, Err(DispatchError::Refused { refusal: Refusal::Invalid { field, .. }, .. }) if field == "from_step"),
        "{res:?}"
    );
    assert!(
        audit(&p)
            .await
            .iter()
            .all(|r| !(r.action == "service.create" && r.target.starts_with("fraud-scorer")))
    );
}

#[tokio::test]
async fn a_run_with_nothing_left_to_do_keeps_the_users_reason() {
    let (_s, p) = sim();
    let r = request();
    go(&p, "amara.okafor", create(&r)).await.0.expect("created");
    let before = audit(&p).await.len();
    let action = create(&r);
    let mut ctx = PolicyContext::gather(&p, policy(), &action)
        .await
        .expect("gather");
    ctx.reason = Some("re-run after the incident review".into());
    let actor = Actor::resolve("amara.okafor", &ctx.catalog, &ctx.policy);
    dispatch(&p, &ctx, &actor, action, false)
        .await
        .expect("nothing to do");
    let records = audit(&p).await;
    assert_eq!(records.len(), before + 1, "one record says so");
    let last = &records[before];
    assert_eq!(last.target, "fraud-scorer");
    assert_eq!(
        last.reason.as_deref(),
        Some("re-run after the incident review"),
        "the user's reason is the record's reason"
    );
    assert_eq!(
        last.details.get("steps").map(String::as_str),
        Some("every step was already done")
    );
}
