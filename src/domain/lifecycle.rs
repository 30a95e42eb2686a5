//! Capability C3: where a service stands in its lifecycle — design review, repository,
//! CI/CD, dev environment, resources, staging, production — each stage derived from
//! evidence in the real systems and shown with its source, plus the next step.
//!
//! Pure: it takes a [`ServiceEvidence`] (plain borrowed data that the backend's
//! `facts` module gathers) and never does I/O. The same evidence feeds the readiness
//! score (`domain::score`).

use crate::domain::environment::EnvKind;
use serde::Serialize;

use super::catalog::Entity;
use super::platform::{DeploymentSummary, SecretMeta, Topology};

/// The annotation naming a service's design document.
pub const DESIGN_DOC_ANNOTATION: &str = "sphere.dev/design-doc";
/// The annotation naming a service's repository (`org/name`).
pub const REPO_SLUG_ANNOTATION: &str = "github.com/project-slug";

/// What the repository host said about the service's repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoEvidence<'a> {
    pub exists: bool,
    pub default_branch: &'a str,
    pub workflows: &'a [String],
}

/// Whether the service's core packages are current, and how that is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CorePackages {
    pub current: bool,
    pub evidence: String,
}

/// A source of facts that could not be read this time: what it is and why. The facts
/// it would have given are unknown, not absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Unread {
    /// `repository`, `secrets`, `secrets in production/eu-west-1`, `locks`.
    pub source: String,
    pub reason: String,
}

impl Unread {
    pub fn new(source: impl Into<String>, reason: impl Into<String>) -> Self {
        Unread {
            source: source.into(),
            reason: reason.into(),
        }
    }
}

/// Everything the lifecycle and the score look at, borrowed from the gathered facts.
#[derive(Debug, Clone, Copy)]
pub struct ServiceEvidence<'a> {
    pub entity: &'a Entity,
    /// `github.com/project-slug`, when annotated.
    pub repo_slug: Option<&'a str>,
    /// `None` when there is no slug or the host does not know the repository.
    pub repo: Option<RepoEvidence<'a>>,
    /// This service's deployments, every cluster.
    pub deployments: &'a [DeploymentSummary],
    /// Names of the Resource entities it depends on that exist in the catalog.
    pub resources: &'a [String],
    /// References of the Resources it depends on that the catalog does not have.
    pub missing_resources: &'a [String],
    /// This service's secrets (metadata only), every region.
    pub secrets: &'a [SecretMeta],
    pub topology: &'a Topology,
    /// `None` when nothing says whether its core packages are current.
    pub core_packages: Option<&'a CorePackages>,
    /// Sources that could not be read: what they would have said is unknown.
    pub unread: &'a [Unread],
}

impl ServiceEvidence<'_> {
    /// Why `source` (or any source beginning with it) could not be read, if it could not.
    pub fn unread(&self, source: &str) -> Option<String> {
        let reasons: Vec<String> = (self.unread.iter())
            .filter(|u| u.source.starts_with(source))
            .map(|u| format!("{}: {}", u.source, u.reason))
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// Regions (in topology order) where the service has a deployment in `env`.
    pub fn regions_in(&self, env: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .topology
            .regions
            .iter()
            .filter(|r| {
                self.deployments
                    .iter()
                    .any(|d| d.cluster.env == env && &d.cluster.region == *r)
            })
            .cloned()
            .collect();
        // Regions outside the topology still count (a configured platform may lag).
        for d in self.deployments.iter().filter(|d| d.cluster.env == env) {
            if !out.iter().any(|r| d.cluster.region == *r) {
                out.push(d.cluster.region.to_string());
            }
        }
        out
    }
}

/// The stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageId {
    DesignReview,
    Repository,
    CiCd,
    DevEnvironment,
    Resources,
    Staging,
    Production,
}

impl StageId {
    pub const ALL: [StageId; 7] = [
        StageId::DesignReview,
        StageId::Repository,
        StageId::CiCd,
        StageId::DevEnvironment,
        StageId::Resources,
        StageId::Staging,
        StageId::Production,
    ];

    pub fn title(self) -> &'static str {
        match self {
            StageId::DesignReview => "design review",
            StageId::Repository => "repository",
            StageId::CiCd => "CI/CD",
            StageId::DevEnvironment => "dev environment",
            StageId::Resources => "resources",
            StageId::Staging => "staging",
            StageId::Production => "production",
        }
    }
}

/// One stage: done or not, what was found, where, and what to do when missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub id: StageId,
    pub title: &'static str,
    pub done: bool,
    /// What was found (or looked for and not found).
    pub evidence: String,
    /// Where the evidence comes from: `catalog`, `GitHub` or `Kubernetes`.
    pub source: String,
    /// What to do to complete the stage; `None` once it is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub todo: Option<String>,
}

const CATALOG: &str = "catalog";
const GITHUB: &str = "GitHub";
const KUBERNETES: &str = "Kubernetes";

fn stage(id: StageId, done: bool, evidence: String, source: &str, todo: String) -> Stage {
    Stage {
        id,
        title: id.title(),
        done,
        evidence,
        source: source.to_string(),
        todo: (!done).then_some(todo),
    }
}

/// Derive every stage, in order.
pub fn stages(ev: &ServiceEvidence) -> Vec<Stage> {
    StageId::ALL.iter().map(|&id| derive(id, ev)).collect()
}

fn derive(id: StageId, ev: &ServiceEvidence) -> Stage {
    let name = &ev.entity.name;
    match id {
        StageId::DesignReview => {
            if let Some(url) = ev.entity.annotation(DESIGN_DOC_ANNOTATION) {
                stage(
                    id,
                    true,
                    format!("design doc {url} (annotation {DESIGN_DOC_ANNOTATION})"),
                    CATALOG,
                    String::new(),
                )
            } else if let Some(l) = ev.entity.links.iter().find(|l| {
                l.title
                    .as_deref()
                    .is_some_and(|t| t.to_lowercase().contains("design"))
            }) {
                let title = l.title.as_deref().unwrap_or("design");
                stage(
                    id,
                    true,
                    format!("design doc {} (link {title:?})", l.url),
                    CATALOG,
                    String::new(),
                )
            } else {
                stage(
                    id,
                    false,
                    format!("no {DESIGN_DOC_ANNOTATION} annotation and no link titled design"),
                    CATALOG,
                    format!(
                        "write a design doc and annotate {DESIGN_DOC_ANNOTATION}: <url> in {name}'s catalog-info.yaml"
                    ),
                )
            }
        }
        StageId::Repository => match (ev.repo_slug, ev.repo) {
            (None, _) => stage(
                id,
                false,
                format!("no {REPO_SLUG_ANNOTATION} annotation"),
                CATALOG,
                format!(
                    "annotate {REPO_SLUG_ANNOTATION}: <org>/<repo> in {name}'s catalog-info.yaml"
                ),
            ),
            (Some(slug), Some(r)) if r.exists => stage(
                id,
                true,
                format!("repository {slug} (default branch {})", r.default_branch),
                GITHUB,
                String::new(),
            ),
            (Some(slug), None) if ev.unread("repository").is_some() => stage(
                id,
                false,
                format!(
                    "repository {slug} unknown: {}",
                    ev.unread("repository").unwrap_or_default()
                ),
                GITHUB,
                "check the [github] settings and the token, then look again".to_string(),
            ),
            (Some(slug), _) => stage(
                id,
                false,
                format!("repository {slug} not found"),
                GITHUB,
                format!("create the repository {slug} (or fix {REPO_SLUG_ANNOTATION})"),
            ),
        },
        StageId::CiCd => {
            let slug = ev.repo_slug.unwrap_or("the repository");
            match ev.repo.filter(|r| r.exists) {
                Some(r) if !r.workflows.is_empty() => {
                    let noun = if r.workflows.len() == 1 {
                        "workflow"
                    } else {
                        "workflows"
                    };
                    stage(
                        id,
                        true,
                        format!("{noun} {} in {slug}", r.workflows.join(", ")),
                        GITHUB,
                        String::new(),
                    )
                }
                Some(_) => stage(
                    id,
                    false,
                    format!("no workflow in {slug}"),
                    GITHUB,
                    format!("add a CI workflow under .github/workflows/ in {slug}"),
                ),
                None if ev.unread("repository").is_some() => stage(
                    id,
                    false,
                    format!(
                        "workflows unknown: {}",
                        ev.unread("repository").unwrap_or_default()
                    ),
                    GITHUB,
                    "check the [github] settings and the token, then look again".to_string(),
                ),
                None => stage(
                    id,
                    false,
                    "no repository to look for workflows in".to_string(),
                    GITHUB,
                    "create the repository first, then add a CI workflow under .github/workflows/"
                        .to_string(),
                ),
            }
        }
        StageId::DevEnvironment => env_stage(id, ev, EnvKind::Dev),
        StageId::Resources => {
            if !ev.missing_resources.is_empty() {
                stage(
                    id,
                    false,
                    format!(
                        "depends on {} which the catalog does not have",
                        ev.missing_resources.join(", ")
                    ),
                    CATALOG,
                    format!(
                        "provision {} and register it in the catalog",
                        ev.missing_resources.join(", ")
                    ),
                )
            } else if ev.resources.is_empty() {
                stage(
                    id,
                    true,
                    "no resources needed (dependsOn names no Resource)".to_string(),
                    CATALOG,
                    String::new(),
                )
            } else {
                stage(
                    id,
                    true,
                    format!("resources {} in the catalog", ev.resources.join(", ")),
                    CATALOG,
                    String::new(),
                )
            }
        }
        StageId::Staging => env_stage(id, ev, EnvKind::Staging),
        StageId::Production => env_stage(id, ev, EnvKind::Production),
    }
}

/// The stage of the platform's environment of `kind` (its own name for it: `prd`,
/// `stg`, `production-eu`, see [`EnvKind`]).
fn env_stage(id: StageId, ev: &ServiceEvidence, kind: EnvKind) -> Stage {
    let env = kind.in_environments(&ev.topology.environments);
    let env = env.as_str();
    let regions = ev.regions_in(env);
    if regions.is_empty() {
        return stage(
            id,
            false,
            format!("no deployment in {env}"),
            KUBERNETES,
            format!("deploy {} to {env}", ev.entity.name),
        );
    }
    let versions: Vec<&str> = {
        let mut v: Vec<&str> = ev
            .deployments
            .iter()
            .filter(|d| d.cluster.env == env)
            .map(|d| d.version.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    // Of the regions the environment runs in, not of every region.
    let total = ev.topology.regions_of(env).len().max(regions.len());
    stage(
        id,
        true,
        format!(
            "deployed in {env} in {} ({} of {total} regions), version {}",
            regions.join(", "),
            regions.len(),
            versions.join(", ")
        ),
        KUBERNETES,
        String::new(),
    )
}

/// The first stage not done, as "stage: what to do". `None` when every stage is done.
pub fn next_step(stages: &[Stage]) -> Option<String> {
    stages.iter().find(|s| !s.done).map(|s| {
        format!(
            "{}: {}",
            s.title,
            s.todo.as_deref().unwrap_or("complete this stage")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::{Kind, Link, Source};
    use crate::domain::platform::{ClusterId, RolloutState};

    fn entity() -> Entity {
        Entity {
            kind: Kind::Component,
            namespace: "default".into(),
            name: "payments-api".into(),
            title: None,
            description: Some("Card payments".into()),
            labels: Default::default(),
            annotations: Default::default(),
            tags: vec![],
            links: vec![],
            spec_type: Some("service".into()),
            lifecycle: Some("production".into()),
            owner: None,
            part_of: None,
            relations: vec![],
            spec: Default::default(),
            source: Source::default(),
        }
    }

    fn dep(env: &str, region: &str) -> DeploymentSummary {
        DeploymentSummary {
            service: "payments-api".into(),
            cluster: ClusterId::new(env, region),
            version: "1.4.0".into(),
            desired: 3,
            ready: 3,
            updated: 3,
            rollout: RolloutState::Complete,
            updated_at: 0,
        }
    }

    fn topo() -> Topology {
        Topology {
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            environments: vec!["dev".into(), "staging".into(), "production".into()],
            ..Default::default()
        }
    }

    fn ev<'a>(
        e: &'a Entity,
        topology: &'a Topology,
        deployments: &'a [DeploymentSummary],
    ) -> ServiceEvidence<'a> {
        ServiceEvidence {
            entity: e,
            repo_slug: None,
            repo: None,
            deployments,
            resources: &[],
            missing_resources: &[],
            secrets: &[],
            topology,
            core_packages: None,
            unread: &[],
        }
    }

    fn get(stages: &[Stage], id: StageId) -> &Stage {
        stages.iter().find(|s| s.id == id).expect("stage present")
    }

    #[test]
    fn empty_service_starts_at_design_review() {
        let e = entity();
        let t = topo();
        let st = stages(&ev(&e, &t, &[]));
        assert_eq!(st.len(), 7);
        let done: Vec<bool> = st.iter().map(|s| s.done).collect();
        // Only "resources" holds: none are needed.
        assert_eq!(done, [false, false, false, false, true, false, false]);
        let next = next_step(&st).expect("a next step");
        assert!(next.starts_with("design review: "), "{next}");
        assert!(next.contains(DESIGN_DOC_ANNOTATION), "{next}");
        assert_eq!(get(&st, StageId::Repository).source, "catalog");
    }

    #[test]
    fn design_doc_from_annotation_or_link() {
        let mut e = entity();
        e.annotations
            .insert(DESIGN_DOC_ANNOTATION.into(), "https://docs/x".into());
        let t = topo();
        let s = derive(StageId::DesignReview, &ev(&e, &t, &[]));
        assert!(s.done);
        assert!(s.evidence.contains("https://docs/x"), "{}", s.evidence);
        assert_eq!(s.source, "catalog");
        assert_eq!(s.todo, None);

        let mut e = entity();
        e.links.push(Link {
            url: "https://docs/y".into(),
            title: Some("Design Doc".into()),
            icon: None,
        });
        let s = derive(StageId::DesignReview, &ev(&e, &t, &[]));
        assert!(s.done && s.evidence.contains("https://docs/y"), "{s:?}");
    }

    #[test]
    fn repository_and_ci_from_github() {
        let e = entity();
        let t = topo();
        let wf = vec![".github/workflows/ci.yaml".to_string()];
        let mut v = ev(&e, &t, &[]);
        v.repo_slug = Some("northwind/payments-api");
        let s = derive(StageId::Repository, &v);
        assert!(!s.done);
        assert!(s.evidence.contains("not found"), "{}", s.evidence);
        assert!(s.todo.as_deref().is_some_and(|t| t.contains("create")));

        v.repo = Some(RepoEvidence {
            exists: true,
            default_branch: "main",
            workflows: &wf,
        });
        let s = derive(StageId::Repository, &v);
        assert!(s.done);
        assert_eq!(s.source, "GitHub");
        let s = derive(StageId::CiCd, &v);
        assert!(s.done);
        assert_eq!(
            s.evidence,
            "workflow .github/workflows/ci.yaml in northwind/payments-api"
        );

        v.repo = Some(RepoEvidence {
            exists: true,
            default_branch: "main",
            workflows: &[],
        });
        let s = derive(StageId::CiCd, &v);
        assert!(!s.done);
        assert!(
            s.todo
                .as_deref()
                .is_some_and(|t| t.contains(".github/workflows"))
        );
    }

    #[test]
    fn environments_from_kubernetes() {
        let e = entity();
        let t = topo();
        let deps = [dep("dev", "us-east-1"), dep("production", "eu-west-1")];
        let st = stages(&ev(&e, &t, &deps));
        let dev = get(&st, StageId::DevEnvironment);
        assert!(dev.done);
        assert_eq!(dev.source, "Kubernetes");
        assert!(dev.evidence.contains("us-east-1"), "{}", dev.evidence);
        assert!(!get(&st, StageId::Staging).done);
        let prod = get(&st, StageId::Production);
        assert!(prod.done);
        assert!(
            prod.evidence.contains("1 of 2 regions"),
            "{}",
            prod.evidence
        );
        assert!(prod.evidence.contains("1.4.0"), "{}", prod.evidence);
    }

    #[test]
    fn resources_from_catalog() {
        let e = entity();
        let t = topo();
        let found = vec!["payments-db".to_string()];
        let missing = vec!["resource:default/payments-cache".to_string()];
        let mut v = ev(&e, &t, &[]);
        v.resources = &found;
        let s = derive(StageId::Resources, &v);
        assert!(s.done && s.evidence.contains("payments-db"), "{s:?}");
        v.missing_resources = &missing;
        let s = derive(StageId::Resources, &v);
        assert!(!s.done && s.evidence.contains("payments-cache"), "{s:?}");
    }

    #[test]
    fn next_step_is_the_first_missing_stage() {
        let mut e = entity();
        e.annotations
            .insert(DESIGN_DOC_ANNOTATION.into(), "https://docs/x".into());
        let t = topo();
        let wf = vec!["ci.yaml".to_string()];
        let deps = [dep("dev", "us-east-1"), dep("production", "us-east-1")];
        let mut v = ev(&e, &t, &deps);
        v.repo_slug = Some("northwind/payments-api");
        v.repo = Some(RepoEvidence {
            exists: true,
            default_branch: "main",
            workflows: &wf,
        });
        let st = stages(&v);
        assert_eq!(
            next_step(&st).as_deref(),
            Some("staging: deploy payments-api to staging")
        );
        let all_done: Vec<Stage> = st
            .into_iter()
            .map(|mut s| {
                s.done = true;
                s
            })
            .collect();
        assert_eq!(next_step(&all_done), None);
    }

    /// On a platform that is not a full grid (staging in eu-west-1 only), a service in
    /// every region its environments run in is in all of them: "1 of 1 regions" for
    /// staging, and all of production's, not "1 of 2" of a cluster that does not exist.
    #[test]
    fn region_totals_count_the_regions_an_environment_runs_in() {
        let e = entity();
        let t = Topology::from_clusters(&[
            ClusterId::new("production", "us-east-1"),
            ClusterId::new("production", "eu-west-1"),
            ClusterId::new("staging", "eu-west-1"),
        ]);
        let deps = [
            dep("staging", "eu-west-1"),
            dep("production", "us-east-1"),
            dep("production", "eu-west-1"),
        ];
        let v = ev(&e, &t, &deps);
        let s = derive(StageId::Staging, &v);
        assert!(s.evidence.contains("(1 of 1 regions)"), "{s:?}");
        let s = derive(StageId::Production, &v);
        assert!(s.evidence.contains("(2 of 2 regions)"), "{s:?}");
        let p = crate::domain::score::properties(&v);
        assert_eq!(p.get("all_regions_in_production"), &serde_json::json!(true));
        // Where production lacks a region it runs in, that region is missing.
        let v = ev(&e, &t, &deps[..2]);
        let p = crate::domain::score::properties(&v);
        assert_eq!(
            p.get("all_regions_in_production"),
            &serde_json::json!(false)
        );
    }
}
