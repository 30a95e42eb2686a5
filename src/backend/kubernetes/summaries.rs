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

/// A pod as the workload watch decodes it: only what [`pod_summary`] and the watch read
/// (name, namespace, labels, creation time and resource version; the first container's
/// image; the node; the phase, the conditions' type and status, the start time and the
/// containers' restarts and state reasons), held in a [`Pod`] so one summary serves
/// both. The rest of what the API server sends (`managedFields`, annotations, owner
/// references, env, volumes, every other container) is skipped while parsing, never
/// allocated: at 50,000 pods the list's pages are decoded as they arrive and only
/// summaries stay.
#[derive(Clone, Debug, Default)]
pub(super) struct SlimPod(pub(super) Pod);

impl k8s_openapi::Resource for SlimPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for SlimPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

/// The wire form [`SlimPod`] reads: every field it does not name is skipped.
mod wire {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde::Deserialize;

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Pod {
        pub(super) metadata: Meta,
        pub(super) spec: Option<Spec>,
        pub(super) status: Option<Status>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Meta {
        pub(super) name: Option<String>,
        pub(super) generate_name: Option<String>,
        pub(super) namespace: Option<String>,
        pub(super) labels: Option<BTreeMap<String, String>>,
        pub(super) creation_timestamp: Option<Time>,
        pub(super) deletion_timestamp: Option<Time>,
        pub(super) resource_version: Option<String>,
        pub(super) uid: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Spec {
        /// Only the first container's image is kept (see [`FirstImage`]).
        pub(super) containers: FirstImage,
        pub(super) node_name: Option<String>,
    }

    /// The first container's image; the other containers are skipped.
    #[derive(Default)]
    pub(super) struct FirstImage(pub(super) Option<String>);

    impl<'de> Deserialize<'de> for FirstImage {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Seq;
            impl<'de> serde::de::Visitor<'de> for Seq {
                type Value = FirstImage;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a list of containers")
                }
                fn visit_unit<E>(self) -> Result<FirstImage, E> {
                    Ok(FirstImage(None))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<FirstImage, A::Error> {
                    let first = seq.next_element::<Container>()?.and_then(|c| c.image);
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(FirstImage(first))
                }
            }
            d.deserialize_any(Seq)
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct Container {
        pub(super) image: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Status {
        pub(super) phase: Option<String>,
        pub(super) conditions: Option<Vec<Condition>>,
        pub(super) container_statuses: Option<Vec<ContainerStatus>>,
        pub(super) start_time: Option<Time>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct Condition {
        #[serde(rename = "type")]
        pub(super) type_: String,
        pub(super) status: String,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct ContainerStatus {
        pub(super) restart_count: i32,
        pub(super) state: Option<State>,
        pub(super) last_state: Option<State>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct State {
        pub(super) waiting: Option<Reason>,
        pub(super) terminated: Option<Reason>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct Reason {
        pub(super) reason: Option<String>,
    }
}

impl<'de> serde::Deserialize<'de> for SlimPod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use k8s_openapi::api::core::v1::{
            Container, ContainerState, ContainerStateTerminated, ContainerStateWaiting,
            ContainerStatus, PodCondition, PodSpec, PodStatus,
        };
        let w = wire::Pod::deserialize(d)?;
        let m = w.metadata;
        let waiting = |r: Option<wire::Reason>| {
            r.map(|r| ContainerStateWaiting {
                reason: r.reason,
                ..ContainerStateWaiting::default()
            })
        };
        let terminated = |r: Option<wire::Reason>| {
            r.map(|r| ContainerStateTerminated {
                reason: r.reason,
                ..ContainerStateTerminated::default()
            })
        };
        let state = |s: Option<wire::State>| {
            s.map(|s| ContainerState {
                waiting: waiting(s.waiting),
                terminated: terminated(s.terminated),
                running: None,
            })
        };
        Ok(SlimPod(Pod {
            metadata: ObjectMeta {
                name: m.name,
                generate_name: m.generate_name,
                namespace: m.namespace,
                labels: m.labels,
                creation_timestamp: m.creation_timestamp,
                deletion_timestamp: m.deletion_timestamp,
                resource_version: m.resource_version,
                uid: m.uid,
                ..ObjectMeta::default()
            },
            spec: w.spec.map(|s| PodSpec {
                containers: (s.containers.0.into_iter())
                    .map(|image| Container {
                        image: Some(image),
                        ..Container::default()
                    })
                    .collect(),
                node_name: s.node_name,
                ..PodSpec::default()
            }),
            status: w.status.map(|s| PodStatus {
                phase: s.phase,
                conditions: s.conditions.map(|cs| {
                    (cs.into_iter())
                        .map(|c| PodCondition {
                            type_: c.type_,
                            status: c.status,
                            ..PodCondition::default()
                        })
                        .collect()
                }),
                container_statuses: s.container_statuses.map(|cs| {
                    (cs.into_iter())
                        .map(|c| ContainerStatus {
                            restart_count: c.restart_count,
                            state: state(c.state),
                            last_state: state(c.last_state),
                            ..ContainerStatus::default()
                        })
                        .collect()
                }),
                start_time: s.start_time,
                ..PodStatus::default()
            }),
        }))
    }
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

    /// A pod as an API server sends it: managed fields, annotations, owner references,
    /// two containers with env and mounts, volumes; `status` as given.
    fn server_pod(status: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "payments-7d9f-x2k4q",
                "generateName": "payments-7d9f-",
                "namespace": "apps",
                "uid": "5f0c1f1e-0d1a-4a8e-9d6b-3f1f2c9e8a11",
                "resourceVersion": "48211",
                "creationTimestamp": "2026-12-01T08:59:00Z",
                "labels": {"app.kubernetes.io/name": "payments", "pod-template-hash": "7d9f"},
                "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-01T08:58:00Z",
                                "prometheus.io/scrape": "true"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": "payments-7d9f", "uid": "u-1", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                                   "apiVersion": "v1", "time": "2026-12-01T08:59:00Z",
                                   "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}}]
            },
            "spec": {
                "nodeName": "node-7",
                "containers": [
                    {"name": "app", "image": "ghcr.io/acme/payments:1.4.2",
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                    {"name": "sidecar", "image": "envoy:1.30"}
                ],
                "volumes": [{"name": "data", "emptyDir": {}}]
            },
            "status": status
        })
    }

    fn summaries(json: serde_json::Value) -> (Option<PodSummary>, Option<PodSummary>, SlimPod) {
        let full: Pod = serde_json::from_value(json.clone()).expect("pod");
        let slim: SlimPod = serde_json::from_value(json).expect("slim pod");
        let cluster = ClusterId::new("production", "use1");
        let mapping = Mapping::by_label("app.kubernetes.io/name");
        (
            pod_summary(&full, &cluster, &mapping),
            pod_summary(&slim.0, &cluster, &mapping),
            slim,
        )
    }

    #[test]
    fn a_slim_pod_summarises_as_the_whole_pod_and_keeps_nothing_else() {
        let statuses = [
            serde_json::json!({
                "phase": "Running", "startTime": "2026-12-01T09:00:00Z",
                "conditions": [{"type": "Initialized", "status": "True"},
                               {"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2,
                                       "image": "ghcr.io/acme/payments:1.4.2", "imageID": "x",
                                       "state": {"running": {"startedAt": "2026-12-01T09:00:00Z"}},
                                       "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
                                      {"name": "sidecar", "ready": true, "restartCount": 1,
                                       "image": "envoy:1.30", "imageID": "y"}]
            }),
            serde_json::json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                "containerStatuses": [{"name": "app", "ready": false, "restartCount": 7,
                                       "image": "ghcr.io/acme/payments:1.4.2", "imageID": "x",
                                       "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                             "message": "back-off 5m0s"}}}]
            }),
            serde_json::json!({"phase": "Pending"}),
            serde_json::json!(null),
        ];
        for status in statuses {
            let (full, slim, pod) = summaries(server_pod(status.clone()));
            assert!(full.is_some(), "{status}");
            assert_eq!(full, slim, "{status}");
            let (meta, spec) = (&pod.0.metadata, pod.0.spec.as_ref().expect("spec"));
            assert_eq!(meta.resource_version.as_deref(), Some("48211"));
            assert!(meta.managed_fields.is_none() && meta.annotations.is_none());
            assert!(meta.owner_references.is_none());
            assert_eq!(spec.containers.len(), 1, "only the first container's image");
            assert!(spec.containers[0].env.is_none() && spec.volumes.is_none());
        }
        // A pod without a spec, or without containers, summarises the same too.
        let mut bare = server_pod(serde_json::json!({"phase": "Failed"}));
        bare["spec"] = serde_json::json!({"containers": null});
        let (full, slim, _) = summaries(bare.clone());
        assert_eq!(full.map(|s| s.version), Some(String::new()));
        assert_eq!(slim.map(|s| s.version), Some(String::new()));
        bare.as_object_mut().expect("object").remove("spec");
        let (full, slim, _) = summaries(bare);
        assert_eq!(full, slim);
    }

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
