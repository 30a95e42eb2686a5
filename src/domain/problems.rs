//! Capability C17: everything wrong across every service and cluster in scope, worst
//! first. A pure function over what the panes already hold (the live state from the
//! watch, the locks, the freeze, the drift findings, the environments), so the pane
//! recomputes it when something changes and the CLI from one read.
//!
//! Each problem says what, where, since when (when known), and the one command that
//! goes deeper.

use std::collections::BTreeMap;

use serde::Serialize;

use super::drift::DriftFinding;
use super::flags::FlagDrift;
use super::matrix::drifted_envs;
use super::platform::{
    ClusterId, Freeze, Lock, PodPhase, RolloutState, Scope, Timestamp, Topology,
};
use super::service::LiveState;

/// How bad it is; the order is worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is down or failing now (crash loops, stalled rollouts).
    Critical,
    /// Capacity or visibility lost (not ready, below desired, unreadable sources).
    Error,
    /// Drift, limits reached, environments about to go.
    Warning,
    /// Deliberate states worth knowing (locks, the freeze).
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// What kind of problem; within a severity, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    CrashLoop,
    RolloutStalled,
    Unreadable,
    RolloutStuck,
    BelowDesired,
    PodNotReady,
    HpaAtMax,
    VersionDrift,
    SecretDrift,
    FlagDrift,
    EnvExpiring,
    Locked,
    Freeze,
}

/// One row of the problems view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub kind: ProblemKind,
    /// What is wrong, for people.
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Where: a cluster (`production/eu-west-1`), an environment, a lock's target.
    #[serde(rename = "where")]
    pub place: String,
    /// Since when it has been so, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The one command that goes deeper.
    pub next: String,
}

/// A source that could not be read: what, why, and the command that tells more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub what: String,
    pub error: String,
    pub next: String,
}

impl Unreadable {
    /// The catalog as a source, for the CLI and the pane alike: the error it could not
    /// be loaded with, else each descriptor file it could not read.
    pub fn of_catalog(catalog: Result<&super::catalog::Catalog, String>) -> Vec<Unreadable> {
        const NEXT: &str = "sphere catalog validate";
        match catalog {
            Err(error) => vec![Unreadable {
                what: "the catalog".into(),
                error,
                next: NEXT.into(),
            }],
            Ok(c) => c
                .problems
                .iter()
                .filter(|p| p.severity == super::catalog::Severity::Error)
                .map(|p| Unreadable {
                    what: format!("catalog file {}", p.file.display()),
                    error: p.reason.clone(),
                    next: NEXT.into(),
                })
                .collect(),
        }
    }
}

/// What the problems are computed over.
#[derive(Debug, Clone, Copy)]
pub struct ProblemInput<'a> {
    pub live: &'a LiveState,
    pub topology: &'a Topology,
    pub scope: &'a Scope,
    pub locks: &'a [Lock],
    pub freeze: Option<&'a Freeze>,
    pub secret_drift: &'a [DriftFinding],
    pub flag_drift: &'a [FlagDrift],
    /// Sources that could not be read (besides unreachable clusters, which the live
    /// state holds).
    pub unread: &'a [Unreadable],
    pub now: Timestamp,
}

/// A rollout still progressing after this long is stuck.
pub const STUCK_AFTER: i64 = 15 * 60;
/// A pod not ready for this long (and not crash-looping) is a problem.
pub const NOT_READY_AFTER: i64 = 3 * 60;
/// An ephemeral environment with less than this left is about to expire.
pub const EXPIRING_WITHIN: i64 = 2 * 3600;

fn flags_of(c: &ClusterId) -> String {
    format!("--env {} --region {}", c.env, c.region)
}

/// Every problem in scope, worst first (severity, kind, then the oldest first, then
/// by place and service).
pub fn problems(input: &ProblemInput<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    let scope = input.scope;
    let now = input.now;
    let env_in_scope = |e: &str| scope.env.as_deref().is_none_or(|s| s == e);
    for svc in input.live.services() {
        let name = svc.name();
        for d in svc.deployments() {
            if !scope.contains(d.cluster) {
                continue;
            }
            let at = flags_of(d.cluster);
            let rollout = match d.rollout {
                RolloutState::Stalled => Some((
                    Severity::Critical,
                    ProblemKind::RolloutStalled,
                    format!(
                        "rollout of {} stalled ({}/{} ready)",
                        d.version, d.ready, d.desired
                    ),
                )),
                RolloutState::Progressing if now - d.updated_at > STUCK_AFTER => Some((
                    Severity::Error,
                    ProblemKind::RolloutStuck,
                    format!(
                        "rollout of {} stuck: {} of {} updated, {} ready",
                        d.version, d.updated, d.desired, d.ready
                    ),
                )),
                _ => None,
            };
            let rolling = d.rollout == RolloutState::Progressing;
            if let Some((severity, kind, what)) = rollout {
                out.push(Problem {
                    severity,
                    kind,
                    what,
                    service: Some(name.to_string()),
                    place: d.cluster.to_string(),
                    since: Some(d.updated_at),
                    next: format!("sphere events {name} {at}"),
                });
            } else if d.ready < d.desired && !rolling {
                out.push(Problem {
                    severity: Severity::Error,
                    kind: ProblemKind::BelowDesired,
                    what: format!("{} of {} replicas ready", d.ready, d.desired),
                    service: Some(name.to_string()),
                    place: d.cluster.to_string(),
                    since: Some(d.updated_at),
                    next: format!("sphere pods {name} {at}"),
                });
            }
            if let Some(h) = svc.hpa(d.cluster)
                && h.current >= h.max
            {
                out.push(Problem {
                    severity: Severity::Warning,
                    kind: ProblemKind::HpaAtMax,
                    what: format!(
                        "autoscaler at its maximum ({} of {} replicas{})",
                        h.current,
                        h.max,
                        h.current_cpu
                            .map(|c| format!(", CPU {c}% of {}%", h.target_cpu))
                            .unwrap_or_default()
                    ),
                    service: Some(name.to_string()),
                    place: d.cluster.to_string(),
                    since: None,
                    next: format!("sphere pods {name} {at}"),
                });
            }
        }
        for p in svc.pods(scope) {
            let at = flags_of(p.cluster);
            if p.crash_looping() {
                let why = p
                    .last_termination
                    .map(|t| format!(", last ended {t}"))
                    .unwrap_or_default();
                out.push(Problem {
                    severity: Severity::Critical,
                    kind: ProblemKind::CrashLoop,
                    what: format!(
                        "pod {} crash-looping ({} restarts{why})",
                        p.name, p.restarts
                    ),
                    service: Some(name.to_string()),
                    place: p.cluster.to_string(),
                    since: Some(p.started_at),
                    next: format!("sphere logs {} {at} --previous", p.name),
                });
            } else if !p.ready
                && matches!(p.phase, PodPhase::Running | PodPhase::Pending)
                && now - p.started_at > NOT_READY_AFTER
            {
                out.push(Problem {
                    severity: Severity::Error,
                    kind: ProblemKind::PodNotReady,
                    what: format!("pod {} not ready ({})", p.name, p.phase),
                    service: Some(name.to_string()),
                    place: p.cluster.to_string(),
                    since: Some(p.started_at),
                    next: format!("sphere describe pod {} {at}", p.name),
                });
            }
        }
        // Versions that differ across the regions of one environment (the matrix's
        // drift), with the regions of each version.
        let mut by_env: BTreeMap<String, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
        for env in drifted_envs(&svc, input.topology) {
            if env_in_scope(&env) {
                by_env.insert(env, BTreeMap::new());
            }
        }
        for d in svc.deployments() {
            if let Some(versions) = by_env.get_mut(d.cluster.env.as_str()) {
                versions
                    .entry(d.version)
                    .or_default()
                    .push(d.cluster.region.as_str());
            }
        }
        for (env, versions) in by_env {
            if versions.len() < 2 {
                continue;
            }
            let text: Vec<String> = versions
                .iter()
                .map(|(v, regions)| format!("{v} in {}", regions.join(", ")))
                .collect();
            out.push(Problem {
                severity: Severity::Warning,
                kind: ProblemKind::VersionDrift,
                what: format!("version drift: {}", text.join("; ")),
                service: Some(name.to_string()),
                next: format!("sphere deploy matrix --env {env}"),
                place: env,
                since: None,
            });
        }
    }
    for (cluster, error) in &input.live.unreachable {
        if scope.contains(cluster) {
            out.push(Problem {
                severity: Severity::Error,
                kind: ProblemKind::Unreadable,
                what: format!("cluster cannot be read: {error}"),
                service: None,
                place: cluster.to_string(),
                since: None,
                next: format!("sphere deploy matrix {}", flags_of(cluster)),
            });
        }
    }
    for u in input.unread {
        out.push(Problem {
            severity: Severity::Error,
            kind: ProblemKind::Unreadable,
            what: format!("{} cannot be read: {}", u.what, u.error),
            service: None,
            place: u.what.clone(),
            since: None,
            next: u.next.clone(),
        });
    }
    for f in input.secret_drift.iter().filter(|f| env_in_scope(&f.env)) {
        out.push(Problem {
            severity: Severity::Warning,
            kind: ProblemKind::SecretDrift,
            what: format!("secret {} {}: {}", f.key, f.kind, f.detail),
            service: Some(f.service.clone()),
            place: format!("{} ({})", f.env, f.regions.join(", ")),
            since: None,
            next: format!("sphere secret drift {} --env {}", f.service, f.env),
        });
    }
    for f in input.flag_drift.iter().filter(|f| env_in_scope(&f.env)) {
        let variants: Vec<String> = f
            .variants
            .iter()
            .map(|v| format!("{} {}% in {}", v.value, v.percentage, v.regions.join(", ")))
            .collect();
        out.push(Problem {
            severity: Severity::Warning,
            kind: ProblemKind::FlagDrift,
            what: format!("flag {} differs: {}", f.name, variants.join("; ")),
            service: None,
            place: f.env.clone(),
            since: None,
            next: format!("sphere flag list --env {}", f.env),
        });
    }
    for e in &input.topology.ephemeral {
        let left = e.remaining(now);
        if env_in_scope(&e.name) && left > 0 && left < EXPIRING_WITHIN {
            out.push(Problem {
                severity: Severity::Warning,
                kind: ProblemKind::EnvExpiring,
                what: format!(
                    "ephemeral environment {} expires in {} (created by {})",
                    e.name,
                    super::text::age(left),
                    e.created_by
                ),
                service: None,
                place: e.name.clone(),
                since: Some(e.expires_at),
                next: format!("sphere env extend {} --by 2h --reason TEXT", e.name),
            });
        }
    }
    for l in input.locks {
        if l.env.as_deref().is_some_and(|e| !env_in_scope(e)) {
            continue;
        }
        let all = l.service == Lock::ALL;
        out.push(Problem {
            severity: if all {
                Severity::Warning
            } else {
                Severity::Info
            },
            kind: ProblemKind::Locked,
            what: if all {
                format!("every service is locked by {}", l.holder())
            } else {
                format!("{} locked by {}", l.service, l.holder())
            },
            service: (!all).then(|| l.service.clone()),
            place: l.target(),
            since: Some(l.at),
            next: if all {
                "sphere unlock all".to_string()
            } else {
                format!("sphere lock check {}", l.service)
            },
        });
    }
    if let Some(f) = input.freeze.filter(|f| f.on) {
        out.push(Problem {
            severity: Severity::Info,
            kind: ProblemKind::Freeze,
            what: format!(
                "merge freeze on{}{}",
                f.by.as_ref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                f.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            service: None,
            place: "every repository".to_string(),
            since: f.at,
            next: "sphere freeze status".to_string(),
        });
    }
    out.sort_by(|a, b| {
        (a.severity, a.kind)
            .cmp(&(b.severity, b.kind))
            .then_with(|| {
                a.since
                    .unwrap_or(i64::MAX)
                    .cmp(&b.since.unwrap_or(i64::MAX))
            })
            .then_with(|| a.place.cmp(&b.place))
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.what.cmp(&b.what))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::environment::EphemeralEnv;
    use crate::domain::platform::{ClusterEvent, DeploymentSummary, HpaSummary, PodSummary};

    fn c(env: &str, region: &str) -> ClusterId {
        ClusterId::new(env, region)
    }

    fn dep(
        service: &str,
        cluster: ClusterId,
        version: &str,
        ready: u32,
        rollout: RolloutState,
    ) -> ClusterEvent {
        ClusterEvent::Deployment(DeploymentSummary {
            service: service.into(),
            cluster,
            version: version.into(),
            desired: 3,
            ready,
            updated: 3,
            rollout,
            updated_at: 1_000,
        })
    }

    fn pod(
        service: &str,
        name: &str,
        cluster: ClusterId,
        waiting: Option<&str>,
        ready: bool,
    ) -> ClusterEvent {
        ClusterEvent::Pod(PodSummary {
            name: name.into(),
            service: service.into(),
            cluster,
            phase: PodPhase::Running,
            ready,
            restarts: 7,
            started_at: 500,
            node: "n".into(),
            version: "1".into(),
            waiting: waiting.map(str::to_string),
            last_termination: waiting.map(|_| "OOMKilled".to_string()),
        })
    }

    fn live() -> LiveState {
        let mut l = LiveState::default();
        let (pe, pu) = (c("production", "eu-west-1"), c("production", "us-east-1"));
        for ev in [
            dep("cart", pe.clone(), "1.2.0", 3, RolloutState::Complete),
            dep("cart", pu.clone(), "1.1.0", 3, RolloutState::Complete),
            dep("search", pe.clone(), "2.0.0", 1, RolloutState::Stalled),
            dep("ledger", pu.clone(), "3.0.0", 2, RolloutState::Complete),
            dep(
                "auth",
                c("staging", "eu-west-1"),
                "1.0.0",
                3,
                RolloutState::Complete,
            ),
            pod(
                "cart",
                "cart-abc-1",
                pe.clone(),
                Some("CrashLoopBackOff"),
                false,
            ),
            pod("cart", "cart-abc-2", pe.clone(), None, true),
            pod("ledger", "ledger-abc-1", pu.clone(), None, false),
            ClusterEvent::Hpa(HpaSummary {
                service: "ledger".into(),
                cluster: pu.clone(),
                min: 1,
                max: 3,
                current: 3,
                target_cpu: 70,
                current_cpu: Some(95),
            }),
            ClusterEvent::Unreachable {
                cluster: c("staging", "us-east-1"),
                error: "connection refused".into(),
            },
        ] {
            l.apply(ev);
        }
        l
    }

    #[test]
    fn worst_first_with_the_command_that_goes_deeper() {
        let live = live();
        let mut topology = Topology {
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            environments: vec!["staging".into(), "production".into()],
            ..Default::default()
        };
        topology.set_ephemeral(EphemeralEnv {
            name: "pr-7".into(),
            from: "staging".into(),
            regions: vec!["eu-west-1".into()],
            created_by: "ada".into(),
            created_at: 0,
            expires_at: 10_000 + 1_800,
        });
        let lock = Lock {
            service: "cart".into(),
            env: Some("production".into()),
            region: None,
            reason: "INC-9".into(),
            by: "bob".into(),
            at: 9_000,
        };
        let input = ProblemInput {
            live: &live,
            topology: &topology,
            scope: &Scope::default(),
            locks: std::slice::from_ref(&lock),
            freeze: None,
            secret_drift: &[],
            flag_drift: &[],
            unread: &[],
            now: 10_000,
        };
        let ps = problems(&input);
        let kinds: Vec<ProblemKind> = ps.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [
                ProblemKind::CrashLoop,
                ProblemKind::RolloutStalled,
                ProblemKind::Unreadable,
                ProblemKind::BelowDesired,
                ProblemKind::PodNotReady,
                ProblemKind::HpaAtMax,
                ProblemKind::VersionDrift,
                ProblemKind::EnvExpiring,
                ProblemKind::Locked,
            ]
        );
        let crash = &ps[0];
        assert_eq!(crash.place, "production/eu-west-1");
        assert!(crash.what.contains("OOMKilled"), "{}", crash.what);
        assert_eq!(
            crash.next,
            "sphere logs cart-abc-1 --env production --region eu-west-1 --previous"
        );
        assert!(
            ps[6].what.contains("1.1.0 in us-east-1") && ps[6].what.contains("1.2.0 in eu-west-1")
        );
        // Scoped to staging: only staging's.
        let staging = Scope {
            env: Some("staging".into()),
            region: None,
        };
        let ps = problems(&ProblemInput {
            scope: &staging,
            ..input
        });
        let kinds: Vec<ProblemKind> = ps.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::Unreadable]);
    }

    #[test]
    fn nothing_wrong_is_no_problem() {
        let mut l = LiveState::default();
        l.apply(dep(
            "auth",
            c("staging", "eu-west-1"),
            "1.0.0",
            3,
            RolloutState::Complete,
        ));
        let topology = Topology::default();
        let input = ProblemInput {
            live: &l,
            topology: &topology,
            scope: &Scope::default(),
            locks: &[],
            freeze: Some(&Freeze::default()),
            secret_drift: &[],
            flag_drift: &[],
            unread: &[],
            now: 10_000,
        };
        assert!(problems(&input).is_empty());
    }
}
