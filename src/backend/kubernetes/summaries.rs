//! Summaries: what the panes keep of a deployment, pod or HPA (the version from its
//! image, its rollout state, its service by the [`Mapping`]), from the Kubernetes object.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::ResourceExt;

use super::Mapping;
use super::watch::Known;
use crate::domain::{ClusterId, DeploymentSummary, HpaSummary, PodPhase, PodSummary, RolloutState};

pub(super) fn secs(t: &Time) -> i64 {
    t.0.as_second()
}

/// The version in an image reference: its tag (`registry:5000/team/app:1.4.2` → `1.4.2`),
/// else a short digest, else `latest`.
pub fn image_version(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    if let Some((_, tag)) = last.split_once(':') {
        return tag.to_string();
    }
    match digest {
        Some(d) => d
            .split_once(':')
            .map_or(d, |(_, h)| h)
            .chars()
            .take(12)
            .collect(),
        None => "latest".to_string(),
    }
}

/// How a deployment is known as an HPA's target: `namespace/name`.
pub(super) fn target_key(meta: &ObjectMeta) -> String {
    Known::key(meta)
}

/// The deployment an HPA scales, as [`target_key`] names it.
pub(super) fn hpa_target_key(h: &HorizontalPodAutoscaler) -> String {
    format!(
        "{}/{}",
        h.metadata.namespace.as_deref().unwrap_or(""),
        h.spec.scale_target_ref.name
    )
}

/// The service of a deployment: by its own labels, else its pod template's.
pub(super) fn deployment_service(d: &Deployment, mapping: &Mapping) -> Option<String> {
    mapping.service(d.metadata.labels.as_ref()).or_else(|| {
        let template = d.spec.template.metadata.as_ref()?;
        mapping.service(template.labels.as_ref())
    })
}

/// A deployment's summary, when it belongs to a service.
pub fn deployment_summary(
    d: &Deployment,
    cluster: &ClusterId,
    mapping: &Mapping,
) -> Option<DeploymentSummary> {
    let service = deployment_service(d, mapping)?;
    let status = d.status.as_ref();
    let version = d
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.as_deref())
        .map(image_version)
        .unwrap_or_default();
    let desired = d.spec.replicas.unwrap_or(1).max(0) as u32;
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0).max(0) as u32;
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0).max(0) as u32;
    let available = status
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
        .max(0) as u32;
    let total = status.and_then(|s| s.replicas).unwrap_or(0).max(0) as u32;
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let stalled = conditions.iter().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && (c.status.as_deref() == Some("False")
                || c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    });
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let generation = d.metadata.generation.unwrap_or(0);
    let rollout = if stalled {
        RolloutState::Stalled
    } else if observed >= generation
        && updated == desired
        && ready == desired
        && available == desired
        && total == desired
    {
        RolloutState::Complete
    } else {
        RolloutState::Progressing
    };
    let updated_at = conditions
        .iter()
        .filter_map(|c| {
            c.last_update_time
                .as_ref()
                .or(c.last_transition_time.as_ref())
        })
        .map(secs)
        .max()
        .or_else(|| d.metadata.creation_timestamp.as_ref().map(secs))
        .unwrap_or(0);
    Some(DeploymentSummary {
        service,
        cluster: cluster.clone(),
        version,
        desired,
        ready,
        updated,
        rollout,
        updated_at,
    })
}

/// A pod's summary, when it belongs to a service.
pub fn pod_summary(p: &Pod, cluster: &ClusterId, mapping: &Mapping) -> Option<PodSummary> {
    let service = mapping.service(p.metadata.labels.as_ref())?;
    let status = p.status.as_ref();
    let phase = match status.and_then(|s| s.phase.as_deref()) {
        Some("Pending") => PodPhase::Pending,
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        _ => PodPhase::Unknown,
    };
    let ready = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let restarts = containers
        .iter()
        .map(|c| c.restart_count.max(0) as u32)
        .sum();
    let waiting = containers
        .iter()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let last_termination = containers.iter().find_map(|c| {
        c.last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| c.state.as_ref()?.terminated.as_ref())?
            .reason
            .clone()
    });
    let version = p
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .map(image_version)
        .unwrap_or_default();
    Some(PodSummary {
        name: p.name_any(),
        service,
        cluster: cluster.clone(),
        phase,
        ready,
        restarts,
        started_at: status
            .and_then(|s| s.start_time.as_ref())
            .or(p.metadata.creation_timestamp.as_ref())
            .map(secs)
            .unwrap_or(0),
        node: p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        version,
        waiting,
        last_termination,
    })
}

/// The service an HPA scales: by its own labels, else the service of the deployment it
/// targets.
pub(super) fn hpa_service(
    h: &HorizontalPodAutoscaler,
    mapping: &Mapping,
    targets: &HashMap<String, String>,
) -> Option<String> {
    mapping.service(h.metadata.labels.as_ref()).or_else(|| {
        let target = &h.spec.scale_target_ref;
        if target.kind != "Deployment" {
            return None;
        }
        targets.get(&hpa_target_key(h)).cloned()
    })
}

/// An HPA's summary, when it belongs to a service.
pub fn hpa_summary(
    h: &HorizontalPodAutoscaler,
    cluster: &ClusterId,
    mapping: &Mapping,
    targets: &HashMap<String, String>,
) -> Option<HpaSummary> {
    let service = hpa_service(h, mapping, targets)?;
    let spec = &h.spec;
    let status = h.status.as_ref();
    let target_cpu = spec
        .metrics
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find_map(|m| {
            let r = m.resource.as_ref()?;
            (r.name == "cpu").then_some(r.target.average_utilization?)
        })
        .unwrap_or(0)
        .max(0) as u32;
    let current_cpu = status
        .and_then(|s| s.current_metrics.as_deref())
        .unwrap_or(&[])
        .iter()
        .find_map(|m| {
            let r = m.resource.as_ref()?;
            (r.name == "cpu").then_some(r.current.average_utilization?)
        })
        .map(|v| v.max(0) as u32);
    Some(HpaSummary {
        service,
        cluster: cluster.clone(),
        min: spec.min_replicas.unwrap_or(1).max(0) as u32,
        max: spec.max_replicas.max(0) as u32,
        current: status.and_then(|s| s.current_replicas).unwrap_or(0).max(0) as u32,
        target_cpu,
        current_cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_versions() {
        assert_eq!(image_version("ghcr.io/acme/payments:1.4.2"), "1.4.2");
        assert_eq!(image_version("registry:5000/team/app:2.0.0"), "2.0.0");
        assert_eq!(image_version("registry:5000/team/app"), "latest");
        assert_eq!(image_version("nginx"), "latest");
        assert_eq!(
            image_version("app@sha256:0123456789abcdef0123"),
            "0123456789ab"
        );
        assert_eq!(image_version("app:3.1@sha256:0123456789abcdef"), "3.1");
    }
}
