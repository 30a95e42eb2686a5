//! The configured platform's sections of `config.toml`: `[[clusters]]`, `[kubernetes]`,
//! `[aws]`, `[github]`, `[kafka]` and `[webhook]`.
//!
//! A config that declares any of them is a *configured* platform: sphere then talks to
//! those systems and never silently falls back to the demo platform. A provider that is
//! not declared (no `[kafka]`, say) is shown as "not configured" in its panes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigProblem, PathSeg, value_problem};

/// One `[[clusters]]` entry: a region × environment pair and where its systems are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The region's name as the panes show it (`us-east-1`).
    pub region: String,
    /// The environment (`dev`, `staging`, `production`).
    pub env: String,
    /// The kube context in the kubeconfig. Default: the kubeconfig's current context.
    #[serde(default)]
    pub context: Option<String>,
    /// The kubeconfig file. Default: `$KUBECONFIG`, else `~/.kube/config`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Only this namespace is watched. Default: every namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The AWS region holding this cluster's secrets. Default: `region`.
    #[serde(default)]
    pub aws_region: Option<String>,
    /// The AWS profile for this cluster's secrets. Default: `[aws] profile`, else the
    /// AWS credential chain.
    #[serde(default)]
    pub aws_profile: Option<String>,
}

impl ClusterConfig {
    pub fn id(&self) -> crate::domain::ClusterId {
        crate::domain::ClusterId::new(self.env.clone(), self.region.clone())
    }

    /// The AWS region for this cluster's secrets.
    pub fn aws_region(&self) -> &str {
        self.aws_region.as_deref().unwrap_or(&self.region)
    }
}

/// `[kubernetes]`: how workloads map to services, and where locks live.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The label naming a workload's service, unless the catalog entity sets
    /// `backstage.io/kubernetes-id` or `backstage.io/kubernetes-label-selector`.
    /// Default `app.kubernetes.io/name`.
    pub service_label: String,
    /// The namespace holding sphere's lock object (one per cluster). Default `sphere-system`.
    pub lock_namespace: String,
    /// Seconds a request to one cluster may take. Default 10.
    pub timeout_seconds: u64,
    /// The image the golden path's first deployment of a new service runs, with
    /// `{service}` and `{version}` (`ghcr.io/acme/{service}:{version}`). Default
    /// `{service}:{version}`.
    pub image: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            service_label: "app.kubernetes.io/name".to_string(),
            lock_namespace: "sphere-system".to_string(),
            timeout_seconds: 10,
            image: "{service}:{version}".to_string(),
        }
    }
}

/// `[aws]`: AWS Secrets Manager. Credentials come from the AWS credential chain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsConfig {
    /// The profile for every region without its own `aws_profile`. Default: the chain's.
    pub profile: Option<String>,
    /// A different endpoint (LocalStack, moto, a VPC endpoint). Default: AWS's own.
    pub endpoint_url: Option<String>,
    /// Seconds a request to one region may take. Default 10.
    pub timeout_seconds: u64,
    /// Days a deleted secret can still be recovered, 7 to 30. Default 7.
    pub recovery_window_days: u32,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            profile: None,
            endpoint_url: None,
            timeout_seconds: 10,
            recovery_window_days: 7,
        }
    }
}

/// `[github]`: the org, its templates, the GitOps repository and the merge freeze. The
/// token comes from `GITHUB_TOKEN` or `GH_TOKEN`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GithubConfig {
    /// The organisation (`acme`).
    pub org: String,
    /// The API root. Default `https://api.github.com` (GitHub Enterprise:
    /// `https://HOST/api/v3`).
    pub api_url: Option<String>,
    /// Discover `catalog-info.yaml` in the org's repositories. Default true.
    pub discover_catalog: bool,
    /// Golden-path templates: template name → template repository (`acme/template-service`).
    pub templates: BTreeMap<String, String>,
    /// The GitOps repository (`deploy` or `acme/deploy`) holding the version each service
    /// runs per environment and region.
    pub gitops_repo: Option<String>,
    /// The path of a version file in the GitOps repository, with `{service}`, `{env}` and
    /// `{region}`. Default `apps/{service}/{env}/{region}/version`.
    pub version_path: String,
    /// The path of an HPA file in the GitOps repository (same placeholders), whose
    /// `minReplicas`/`maxReplicas` (top level or under `spec`) are compared with the live
    /// HPA; `None`: git holds no HPA bounds. E.g. `apps/{service}/{env}/{region}/hpa.yaml`.
    pub hpa_path: Option<String>,
    /// The org ruleset switched on for the merge freeze. Default `merge-freeze`.
    pub freeze_ruleset: String,
    /// Seconds one request may take. Default 15.
    pub timeout_seconds: u64,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            org: String::new(),
            api_url: None,
            discover_catalog: true,
            templates: BTreeMap::new(),
            gitops_repo: None,
            version_path: "apps/{service}/{env}/{region}/version".to_string(),
            hpa_path: None,
            freeze_ruleset: "merge-freeze".to_string(),
            timeout_seconds: 15,
        }
    }
}

/// `[kafka]`: flags and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// librdkafka properties; `bootstrap.servers` is required.
    pub properties: BTreeMap<String, String>,
    /// Flag changes are produced here, keyed by flag. Default `sphere.flags.commands`.
    pub flag_commands_topic: String,
    /// The compacted topic where clusters publish each flag's state and acknowledgements.
    /// Default `sphere.flags.state`.
    pub flag_state_topic: String,
    /// Audit records. Default `sphere.audit`.
    pub audit_topic: String,
    /// Seconds a produce or read may take before the broker counts as unreachable. Default 5.
    pub timeout_seconds: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            properties: BTreeMap::new(),
            flag_commands_topic: "sphere.flags.commands".to_string(),
            flag_state_topic: "sphere.flags.state".to_string(),
            audit_topic: "sphere.audit".to_string(),
            timeout_seconds: 5,
        }
    }
}

/// `[webhook]`: a JSON message on chosen actions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST. Empty: no webhook.
    pub url: String,
    /// Which actions notify: `rollback`, `lock-all`, `unlock-all`, `freeze`. Default
    /// `["rollback", "lock-all"]`.
    pub events: Vec<String>,
    /// Seconds the POST may take. Default 5.
    pub timeout_seconds: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: String::new(),
            events: vec!["rollback".to_string(), "lock-all".to_string()],
            timeout_seconds: 5,
        }
    }
}

/// Everything a configured platform declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformConfig<'a> {
    pub clusters: &'a [ClusterConfig],
    pub kubernetes: &'a KubernetesConfig,
    pub aws: Option<&'a AwsConfig>,
    pub github: Option<&'a GithubConfig>,
    pub kafka: Option<&'a KafkaConfig>,
    pub webhook: Option<&'a WebhookConfig>,
}

/// Checks the platform sections after deserializing; a bad entry is reported and dropped
/// (a duplicate cluster) or its value replaced by the default.
pub(crate) fn validate(file: &Path, src: &str, config: &mut super::Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut index = 0;
    config.clusters.retain(|c| {
        let i = index;
        index += 1;
        for (key, value) in [("region", &c.region), ("env", &c.env)] {
            if value.trim().is_empty() {
                problems.push(value_problem(
                    file,
                    src,
                    &[
                        PathSeg::Key("clusters"),
                        PathSeg::Index(i),
                        PathSeg::Key(key),
                    ],
                    format_args!("`{key}` is empty; this cluster is ignored"),
                ));
                return false;
            }
        }
        if !seen.insert((c.env.clone(), c.region.clone())) {
            problems.push(value_problem(
                file,
                src,
                &[PathSeg::Key("clusters"), PathSeg::Index(i)],
                format_args!(
                    "{}/{} is declared twice; the first one is used",
                    c.env, c.region
                ),
            ));
            return false;
        }
        true
    });
    if let Some(aws) = &mut config.aws
        && !(7..=30).contains(&aws.recovery_window_days)
    {
        problems.push(value_problem(
            file,
            src,
            &[PathSeg::Key("aws"), PathSeg::Key("recovery_window_days")],
            format_args!(
                "{} is out of range 7..=30 (AWS's limits); using 7",
                aws.recovery_window_days
            ),
        ));
        aws.recovery_window_days = 7;
    }
    if let Some(github) = &config.github
        && github.org.trim().is_empty()
    {
        problems.push(value_problem(
            file,
            src,
            &[PathSeg::Key("github")],
            "`org` is required; GitHub is not used",
        ));
        config.github = None;
    }
    if let Some(kafka) = &config.kafka
        && !kafka.properties.contains_key("bootstrap.servers")
    {
        problems.push(value_problem(
            file,
            src,
            &[PathSeg::Key("kafka"), PathSeg::Key("properties")],
            "`bootstrap.servers` is required; Kafka is not used",
        ));
        config.kafka = None;
    }
    if let Some(webhook) = &config.webhook
        && !(webhook.url.starts_with("http://") || webhook.url.starts_with("https://"))
    {
        problems.push(value_problem(
            file,
            src,
            &[PathSeg::Key("webhook"), PathSeg::Key("url")],
            format_args!("{:?} is not an http(s) URL; no webhook", webhook.url),
        ));
        config.webhook = None;
    }
    problems
}
