//! Running the golden path (`Action::ServiceCreate`), step by step.
//!
//! Audit: one record per step that runs — action `service.create`, target
//! `NAME/STEP` (`fraud-scorer/register`), `Started` then `Succeeded` or
//! `Failed(error)`. A step already done (as the providers say: the repository exists,
//! the file holds the same content, the entity is registered from this location, the
//! dev deployments exist) is not run and not audited; when every step was done already,
//! one `service.create` record on `NAME` says so.
//!
//! The first failing step stops the run: the steps before it stay done (each is whole
//! on its own), the ones after it are not attempted. Running the same request again
//! skips what is done and resumes at the failed step; nothing is duplicated.

use serde::Serialize;

use super::Action;
use super::dispatch::{DispatchError, Dispatched};
use super::policy::Actor;
use crate::backend::Platform;
use crate::domain::catalog::Kind;
use crate::domain::golden::{
    CI_PATH, DESCRIPTOR_PATH, DEV_ENV, FIRST_VERSION, ServiceRequest, Step,
};
use crate::domain::{ClusterId, Outcome, Scope};

/// What became of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "error", rename_all = "snake_case")]
pub enum StepStatus {
    /// It ran now and succeeded.
    Done,
    /// It was done before; nothing ran.
    AlreadyDone,
    /// Before `from_step`: not looked at.
    Skipped,
    /// It ran and failed (the error); the run stopped here.
    Failed(String),
}

/// One step's report, as the dispatcher tells it while the path runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    pub step: Step,
    #[serde(flatten)]
    pub status: StepStatus,
    /// What happened, for people.
    pub detail: String,
    /// The step's audit record, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<u64>,
}

fn dev_clusters(platform: &Platform) -> Vec<ClusterId> {
    platform
        .clusters
        .topology()
        .clusters()
        .filter(|c| c.env == DEV_ENV)
        .collect()
}

/// The dev clusters the service does not run in yet.
async fn missing_deployments(platform: &Platform, name: &str) -> anyhow::Result<Vec<ClusterId>> {
    let scope = Scope {
        env: Some(DEV_ENV.to_string()),
        region: None,
    };
    let snapshot = platform.clusters.snapshot(&scope).await?;
    Ok(dev_clusters(platform)
        .into_iter()
        .filter(|c| {
            !snapshot
                .deployments
                .iter()
                .any(|d| d.service == name && &d.cluster == c)
        })
        .collect())
}

/// Is the step done already? Asked of the providers, never remembered.
async fn is_done(platform: &Platform, req: &ServiceRequest, step: Step) -> anyhow::Result<bool> {
    let slug = req.slug();
    Ok(match step {
        Step::Repository => platform.repos.repo(&slug).await?.is_some_and(|r| r.exists),
        Step::Ci => platform.repos.file(&slug, CI_PATH).await? == Some(req.ci_workflow()),
        Step::Descriptor => {
            platform.repos.file(&slug, DESCRIPTOR_PATH).await? == Some(req.descriptor())
        }
        Step::Register => {
            let catalog = platform.catalog.load().await?;
            catalog.entities().iter().any(|e| {
                e.kind == Kind::Component
                    && e.name == req.name
                    // Registered by sphere, or found by discovery in its repository.
                    && req.registered_from(&e.source.file)
                    && e.description.as_deref().unwrap_or("") == req.description
                    && e.owner.as_ref().is_some_and(|o| o.name == req.owner)
            })
        }
        Step::DeployDev => missing_deployments(platform, &req.name).await?.is_empty(),
    })
}

/// Run one step (it is not done); what it did.
async fn run_step(platform: &Platform, req: &ServiceRequest, step: Step) -> anyhow::Result<String> {
    let slug = req.slug();
    match step {
        Step::Repository => {
            platform
                .repos
                .create_from_template(&slug, &req.template, &req.template_values())
                .await?;
            Ok(format!("created {slug} from {}", req.template))
        }
        Step::Ci => {
            platform
                .repos
                .write_file(&slug, CI_PATH, &req.ci_workflow())
                .await?;
            Ok(format!("wrote {CI_PATH}"))
        }
        Step::Descriptor => {
            platform
                .repos
                .write_file(&slug, DESCRIPTOR_PATH, &req.descriptor())
                .await?;
            Ok(format!("wrote {DESCRIPTOR_PATH}"))
        }
        Step::Register => {
            platform
                .catalog
                .register(&req.descriptor(), &req.location())
                .await?;
            Ok(format!("registered {}", req.location()))
        }
        Step::DeployDev => {
            let missing = missing_deployments(platform, &req.name).await?;
            for c in &missing {
                platform
                    .clusters
                    .create_deployment(&req.name, c, FIRST_VERSION, u32::from(req.replicas))
                    .await?;
            }
            let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
            Ok(format!(
                "{FIRST_VERSION} with {} replica{} in {}",
                req.replicas,
                if req.replicas == 1 { "" } else { "s" },
                names.join(", ")
            ))
        }
    }
}

/// The golden path, after the policy allowed it (see the module's documentation).
pub(super) async fn create_service(
    platform: &Platform,
    actor: &Actor,
    action: &Action,
    req: &ServiceRequest,
    from: Option<Step>,
    // The reason and the details every step's record carries.
    (reason, details): (Option<&str>, &crate::domain::Details),
    on_step: &mut (dyn FnMut(&StepReport) + Send),
) -> Result<Dispatched, DispatchError> {
    // The repository goes in the platform's organisation.
    let req = &req.clone().or_org(platform.repos.org());
    // A service made before with other settings is not made over by a re-run: its
    // descriptor would be overwritten. (`--from-step` asks for exactly that.)
    if from.is_none()
        && let Ok(Some(existing)) = platform.repos.file(&req.slug(), DESCRIPTOR_PATH).await
        && existing != req.descriptor()
    {
        return Err(DispatchError::Refused {
            refusal: super::Refusal::Invalid {
                field: "settings".to_string(),
                message: format!(
                    "{} was created already with other settings ({}'s {DESCRIPTOR_PATH} differs); re-run with the same settings to resume, change the descriptor in its repository, or pass --from-step descriptor to write this one over it",
                    req.name,
                    req.slug()
                ),
            },
            audit_id: None,
        });
    }
    let ledger = &platform.ledger;
    let audit_name = action.audit_name();
    let mut reports: Vec<StepReport> = Vec::new();
    let mut last_audit = None;
    let mut report = |r: StepReport, reports: &mut Vec<StepReport>| {
        on_step(&r);
        reports.push(r);
    };
    for step in req.steps() {
        if from.is_some_and(|f| step < f) {
            report(
                StepReport {
                    step,
                    status: StepStatus::Skipped,
                    detail: "skipped (before the step asked for)".to_string(),
                    audit_id: None,
                },
                &mut reports,
            );
            continue;
        }
        let target = format!("{}/{}", req.name, step);
        let done = is_done(platform, req, step).await;
        if let Ok(true) = done {
            report(
                StepReport {
                    step,
                    status: StepStatus::AlreadyDone,
                    detail: "already done".to_string(),
                    audit_id: None,
                },
                &mut reports,
            );
            continue;
        }
        let audit_id = ledger
            .append_audit_with(
                &actor.recorded(),
                audit_name,
                &target,
                reason,
                details,
                Outcome::Started,
            )
            .await
            .map_err(|e| DispatchError::Audit {
                audit_id: None,
                done: false,
                error: format!("{e:#}; the step {step} was not run"),
            })?;
        last_audit = Some(audit_id);
        let result = match done {
            Err(e) => Err(e.context(format!("checking whether {step} is done"))),
            Ok(_) => run_step(platform, req, step).await,
        };
        let (outcome, status, detail) = match &result {
            Ok(detail) => (Outcome::Succeeded, StepStatus::Done, detail.clone()),
            Err(e) => {
                let error = format!("{e:#}");
                (
                    Outcome::Failed(error.clone()),
                    StepStatus::Failed(error.clone()),
                    error,
                )
            }
        };
        let ok = result.is_ok();
        let outcome_written = ledger.set_audit_outcome(audit_id, outcome).await;
        report(
            StepReport {
                step,
                status,
                detail: detail.clone(),
                audit_id: Some(audit_id),
            },
            &mut reports,
        );
        if let Err(e) = outcome_written {
            return Err(DispatchError::Audit {
                audit_id: Some(audit_id),
                done: ok,
                error: format!(
                    "{e:#}; the record #{audit_id} still says started, the step {step} {}",
                    if ok { "was done" } else { "failed" }
                ),
            });
        }
        if !ok {
            return Err(DispatchError::Failed {
                audit_id,
                error: format!("step {step}: {detail}; run it again to resume from {step}"),
            });
        }
    }
    let ran: Vec<&str> = reports
        .iter()
        .filter(|r| r.status == StepStatus::Done)
        .map(|r| r.step.as_str())
        .collect();
    let audit_id = match last_audit {
        Some(id) => id,
        None => {
            // The user's reason stays the reason; that nothing ran is a detail.
            let mut details = details.clone();
            details.insert(
                "steps".to_string(),
                "every step was already done".to_string(),
            );
            ledger
                .append_audit_with(
                    &actor.recorded(),
                    audit_name,
                    &req.name,
                    reason,
                    &details,
                    Outcome::Succeeded,
                )
                .await
        }
        .map_err(|e| DispatchError::Audit {
            audit_id: None,
            done: true,
            error: format!("{e:#}"),
        })?,
    };
    Ok(Dispatched {
        audit_id,
        action: action.clone(),
        detail: match ran.len() {
            0 => format!(
                "{} is created; all {} steps were done already",
                req.name,
                reports.len()
            ),
            n => format!(
                "{} is created ({n} of {} steps ran now: {})",
                req.name,
                reports.len(),
                ran.join(", ")
            ),
        },
        revealed: None,
        steps: reports,
        request_id: None,
    })
}
