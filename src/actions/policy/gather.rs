//! The I/O half of the policy: read what [`plan`](super::plan) decides on.

use anyhow::Result;

use super::readiness::gated;
use super::{Policy, PolicyContext, Readiness, Subject};
use crate::actions::Action;
use crate::backend::facts::{gather, is_service};
use crate::backend::{Platform, WorkloadRead};
use crate::domain::ClusterSnapshot;
use crate::domain::catalog::Kind;
use crate::domain::score::{builtin_scorecard, evaluate, properties};

impl PolicyContext {
    /// Read what the policy needs for `action` from the platform.
    pub async fn gather(
        platform: &Platform,
        policy: Policy,
        action: &Action,
    ) -> Result<PolicyContext> {
        let catalog = platform.catalog.load().await?;
        // Environment actions read the environments as they are now (on the demo,
        // reading them also removes the expired ones).
        // Any other action may name an ephemeral environment too; when they cannot be
        // read it still runs on the clusters alone.
        let topology = match action {
            Action::EnvCreate { .. } | Action::EnvExtend { .. } | Action::EnvDelete { .. } => {
                platform.topology_now().await?
            }
            _ => platform.topology_or_clusters().await,
        };
        let all_access = platform.ledger.access_requests().await?;
        // Deciding a request is about the service it asks for.
        let service = match action {
            Action::AccessApprove { id, .. } | Action::AccessDeny { id, .. } => all_access
                .iter()
                .find(|r| r.id == *id)
                .map(|r| r.service.clone()),
            _ => action.service().map(str::to_string),
        };
        let subject = match service.as_deref() {
            Some(name) => match catalog.find(Some(&Kind::Component), name) {
                Some(e) if is_service(e) => {
                    let name = e.name.clone();
                    let owner = e
                        .owner
                        .as_ref()
                        .map(|o| (o.name.to_string(), o.kind.as_str().to_lowercase()));
                    // Only what the action's own checks read (issue 14): the service's
                    // workloads on the cluster it acts on (where it runs and which
                    // version, for a restart or a rollback; its HPA and bounds, for
                    // an HPA change), never the platform's.
                    let workloads = match action {
                        Action::Restart { cluster, .. } | Action::Rollback { cluster, .. } => {
                            Some((cluster, WorkloadRead::default()))
                        }
                        Action::SetHpa { cluster, .. } => {
                            Some((cluster, WorkloadRead { hpas: true }))
                        }
                        _ => None,
                    };
                    let snapshot = match workloads {
                        Some((cluster, read)) => {
                            platform
                                .clusters
                                .service_workloads(&name, cluster, read)
                                .await?
                        }
                        None => ClusterSnapshot::default(),
                    };
                    let deployments = snapshot
                        .deployments
                        .iter()
                        .filter(|d| d.service == name)
                        .map(|d| (d.cluster.clone(), d.version.clone()))
                        .collect();
                    let hpas = snapshot
                        .hpas
                        .iter()
                        .filter(|h| h.service == name)
                        .map(|h| h.cluster.clone())
                        .collect();
                    let hpa_bounds = snapshot
                        .hpas
                        .iter()
                        .filter(|h| h.service == name)
                        .map(|h| (h.cluster.clone(), h.min, h.max))
                        .collect();
                    // Only a rollback reads the release history.
                    let releases = match action {
                        Action::Rollback { .. } => platform.repos.releases(&name).await?,
                        _ => Vec::new(),
                    };
                    let readiness = match &policy.readiness_threshold {
                        Some(t) if gated(action, &topology) => {
                            let card = builtin_scorecard()?;
                            let facts = gather(platform, &catalog, &name).await?;
                            let names = facts.resource_names();
                            let result = evaluate(&card, &properties(&facts.evidence(&names)));
                            Some(Readiness::assess(&card, &result, t))
                        }
                        _ => None,
                    };
                    Some(Subject {
                        name: name.to_string(),
                        owner,
                        deployments,
                        hpas,
                        hpa_bounds,
                        releases,
                        readiness,
                    })
                }
                _ => None,
            },
            None => None,
        };
        let secrets = match (action, &subject) {
            (
                Action::SecretPut { .. }
                | Action::SecretDelete { .. }
                | Action::SecretReveal { .. }
                | Action::SecretCopy { .. },
                Some(s),
            ) => platform.secrets.list(Some(&s.name)).await?,
            _ => Vec::new(),
        };
        let flags = match action {
            Action::FlagSet { .. } => platform.flags.list().await?,
            _ => Vec::new(),
        };
        let access = match (action, &subject) {
            (Action::AccessApprove { .. } | Action::AccessDeny { .. }, _) => all_access,
            (_, Some(s)) => all_access
                .into_iter()
                .filter(|r| r.service == s.name)
                .collect(),
            _ => Vec::new(),
        };
        let (locks, locks_error) = match platform.ledger.locks_now().await {
            Ok(l) => (l, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        Ok(PolicyContext {
            locks,
            locks_error,
            reason: None,
            override_lock: None,
            policy,
            topology,
            catalog,
            subject,
            secrets,
            flags,
            access,
            now: platform.now(),
            repo_org: platform.repos.org(),
        })
    }
}
