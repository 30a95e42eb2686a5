//! `config.toml`: every key is optional; a missing file means the defaults.
//!
//! `assets/config.sample.toml` lists every key with its default and an explanation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use super::platform::{
    AwsConfig, ClusterConfig, GithubConfig, KafkaConfig, KubernetesConfig, PlatformConfig,
    WebhookConfig,
};
use super::{ConfigProblem, PathSeg, Paths, parse_toml_lenient, read_optional, value_problem};
use crate::domain::environment::parse_duration;

/// sphere's settings, from `config.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The theme: a built-in one (`dark`, `light`, `high-contrast`, `mono`) or the name of a
    /// file `<config dir>/themes/<name>.toml`. `NO_COLOR` forces `mono`. Default `dark`.
    pub theme: String,
    /// The actor name recorded in the audit log. On a configured platform only a fallback:
    /// the identity its systems authenticate comes first (see `cli::operator`). Default:
    /// `$USER`; on the demo platform `you`. Use [`Config::actor`] to read it.
    pub user: Option<String>,
    /// The name shown in the header. Default: the platform's own name (`demo` on the demo).
    pub platform_name: Option<String>,
    /// The most frames drawn per second, 1 to 60. Default 30. Lower it over slow links.
    pub max_fps: u16,
    /// How long a toast stays on screen, in seconds. Default 5.
    pub toast_seconds: u64,
    /// The embedded demo platform.
    pub demo: DemoConfig,
    /// Where the catalog comes from and how it is shown.
    pub catalog: CatalogConfig,
    /// Link templates, name → URL, with `{service}`, `{owner}`, `{system}`, `{env}` and
    /// `{region}` placeholders.
    pub links: BTreeMap<String, String>,
    /// Who may do what: admins, read-only environments, the readiness gate, HPA bounds.
    pub policy: PolicyConfig,
    /// `[[clusters]]`: a configured platform's region × environment pairs, each with its
    /// kube context and AWS region. Declaring any makes sphere a configured platform.
    pub clusters: Vec<ClusterConfig>,
    /// `[kubernetes]`: service label, lock namespace, timeout.
    pub kubernetes: KubernetesConfig,
    /// `[aws]`: AWS Secrets Manager settings (profile, endpoint, timeout, recovery window).
    pub aws: Option<AwsConfig>,
    /// `[github]`: org, templates, GitOps repository, merge-freeze ruleset.
    pub github: Option<GithubConfig>,
    /// `[kafka]`: librdkafka properties and the flag and audit topics.
    pub kafka: Option<KafkaConfig>,
    /// `[webhook]`: a JSON message on rollback and lock-all.
    pub webhook: Option<WebhookConfig>,
    /// `[agent]`: what `sphere agent` watches and where it publishes.
    pub agent: Option<super::agent::AgentConfig>,
    /// `[source]`: read the platform from `sphere agent`'s topics (`agent = BROKER`).
    #[serde(rename = "source")]
    pub agent_source: Option<super::agent::SourceConfig>,
    /// The file these settings were read from; `None` when no file was read.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[demo]`: the embedded demo platform.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// The random seed: the same seed gives the same demo. Default 42.
    pub seed: u64,
    /// How fast the demo lives (rollouts, restarts, acks): 1.0 is real time, 0 freezes it,
    /// 2.0 runs twice as fast. Must be ≥ 0. Default 1.0.
    pub pace: f64,
}

/// `[catalog]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// Backstage descriptor files or directories to read the catalog from instead of the demo's.
    /// Relative paths are relative to the config file. Default: none (the demo catalog).
    pub paths: Vec<PathBuf>,
    /// How the catalog table is grouped at start: `none`, `owner` or `system`. Default `none`.
    pub group_by: GroupBy,
}

/// `[policy]`: the rules every action passes (see `actions::Policy`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Platform admins, who act on every service and are exempt from `read_only_envs`:
    /// catalog User names (`ada`) or Groups (`group:platform`, every member). Default: on
    /// the demo platform `["you"]`, so a new user can try every action; otherwise none.
    pub admins: Option<Vec<String>>,
    /// Environments where nobody but an admin may change anything. Default: none.
    pub read_only_envs: Vec<String>,
    /// The readiness level (a level of the scorecard, e.g. `Bronze`) a service needs before
    /// it may be unlocked or rolled back in production. Empty: no gate. Default `Bronze`.
    pub readiness_threshold: String,
    /// The least `min` an HPA may be given. At least 1. Default 1.
    pub hpa_min: u32,
    /// The most `max` an HPA may be given. Default 20.
    pub hpa_max: u32,
    /// Access requests granted at once (besides the owners' own): a member of `team`
    /// asking for `permission` (`operate` or `read-secrets`) on any service, in `env`
    /// when given. For example `[{ team = "sre", permission = "operate" }]`. Any other
    /// request waits for an owner of the service or an admin. Default: none.
    pub access_rules: Vec<AccessRule>,
    /// How long a granted access request lasts: a number and `m`, `h` or `d` (`30m`,
    /// `8h`, `7d`). After it, the grant no longer authorizes. Default `8h`.
    pub access_grant_ttl: String,
    /// The longest an ephemeral environment may live: its TTL at creation, and what
    /// is left after an extension, are at most this (`m`, `h` or `d`). Default `14d`.
    pub env_ttl_max: String,
}

/// One `[policy] access_rules` entry: requests auto-granted by team.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// The Group whose members are granted (its catalog name, e.g. `sre`).
    pub team: String,
    /// What is granted: `operate`, `read-secrets` or `read-logs`.
    pub permission: crate::domain::access::Permission,
    /// Only requests for this environment; absent: any.
    #[serde(default)]
    pub env: Option<String>,
}

/// Default for [`PolicyConfig::hpa_min`].
pub const DEFAULT_HPA_MIN: u32 = 1;
/// Default for [`PolicyConfig::hpa_max`].
pub const DEFAULT_HPA_MAX: u32 = 20;
/// Default for [`PolicyConfig::access_grant_ttl`].
pub const DEFAULT_ACCESS_GRANT_TTL: &str = "8h";
/// Default for [`PolicyConfig::env_ttl_max`].
pub const DEFAULT_ENV_TTL_MAX: &str = "14d";

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            admins: None,
            read_only_envs: Vec::new(),
            readiness_threshold: "Bronze".to_string(),
            hpa_min: DEFAULT_HPA_MIN,
            hpa_max: DEFAULT_HPA_MAX,
            access_rules: Vec::new(),
            access_grant_ttl: DEFAULT_ACCESS_GRANT_TTL.to_string(),
            env_ttl_max: DEFAULT_ENV_TTL_MAX.to_string(),
        }
    }
}

/// How the catalog table is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    #[default]
    None,
    Owner,
    System,
}

/// Default for [`Config::max_fps`].
pub const DEFAULT_MAX_FPS: u16 = 30;
/// Default for [`DemoConfig::pace`].
pub const DEFAULT_PACE: f64 = 1.0;

impl Default for Config {
    fn default() -> Self {
        Config {
            theme: "dark".to_string(),
            user: None,
            platform_name: None,
            max_fps: DEFAULT_MAX_FPS,
            toast_seconds: 5,
            demo: DemoConfig::default(),
            catalog: CatalogConfig::default(),
            links: BTreeMap::new(),
            policy: PolicyConfig::default(),
            clusters: Vec::new(),
            kubernetes: KubernetesConfig::default(),
            aws: None,
            github: None,
            kafka: None,
            webhook: None,
            agent: None,
            agent_source: None,
            source: None,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 42,
            pace: DEFAULT_PACE,
        }
    }
}

impl Config {
    /// Loads `explicit` (from `--config FILE` / `SPHERE_CONFIG`) or else `config.toml` in the
    /// config dir. Never fails: problems are returned beside the settings, and whatever was
    /// wrong is replaced by its default (a file that does not parse: all defaults).
    pub fn load(paths: &Paths, explicit: Option<&Path>) -> (Config, Vec<ConfigProblem>) {
        let file = explicit.map_or_else(|| paths.config_file(), Path::to_path_buf);
        let src = match read_optional(&file) {
            Ok(Some(src)) => src,
            Ok(None) if explicit.is_some() => {
                return (
                    Config::default(),
                    vec![ConfigProblem::file(&file, "file not found")],
                );
            }
            Ok(None) => return (Config::default(), Vec::new()),
            Err(problem) => return (Config::default(), vec![problem]),
        };
        Self::from_str_at(&file, &src)
    }

    /// Parses the text of a config file named `file`.
    pub fn from_str_at(file: &Path, src: &str) -> (Config, Vec<ConfigProblem>) {
        let (config, mut problems) = parse_toml_lenient::<Config>(file, src);
        let Some(mut config) = config else {
            if let Some(p) = problems.last_mut() {
                p.reason
                    .push_str("; the file is not used, every key has its default");
            }
            return (Config::default(), problems);
        };
        config.source = Some(file.to_path_buf());
        if !(1..=60).contains(&config.max_fps) {
            problems.push(value_problem(
                file,
                src,
                &[PathSeg::Key("max_fps")],
                format_args!(
                    "{} is out of range 1..=60; using {DEFAULT_MAX_FPS}",
                    config.max_fps
                ),
            ));
            config.max_fps = DEFAULT_MAX_FPS;
        }
        if !(config.demo.pace >= 0.0 && config.demo.pace.is_finite()) {
            problems.push(value_problem(
                file,
                src,
                &[PathSeg::Key("demo"), PathSeg::Key("pace")],
                format_args!("{} must be ≥ 0; using {DEFAULT_PACE}", config.demo.pace),
            ));
            config.demo.pace = DEFAULT_PACE;
        }
        // The readiness gate names a level of the scorecard, in any case.
        let threshold = config.policy.readiness_threshold.trim().to_string();
        if !threshold.is_empty()
            && let Ok(card) = crate::domain::score::builtin_scorecard()
        {
            match card
                .levels
                .iter()
                .find(|l| l.title.eq_ignore_ascii_case(&threshold))
            {
                Some(level) => config.policy.readiness_threshold = level.title.clone(),
                None => {
                    let levels: Vec<&str> = card.levels.iter().map(|l| l.title.as_str()).collect();
                    problems.push(value_problem(
                        file,
                        src,
                        &[PathSeg::Key("policy"), PathSeg::Key("readiness_threshold")],
                        format_args!(
                            "{threshold:?} is not a level of the scorecard ({}); until it names one, production unlocks and rollbacks are refused (the gate fails closed)",
                            levels.join(", ")
                        ),
                    ));
                }
            }
        }
        if config.theme.trim().is_empty() {
            problems.push(value_problem(
                file,
                src,
                &[PathSeg::Key("theme")],
                "empty theme name; using dark",
            ));
            config.theme = "dark".to_string();
        }
        if config.policy.hpa_min < 1 || config.policy.hpa_min > config.policy.hpa_max {
            problems.push(value_problem(
                file,
                src,
                &[PathSeg::Key("policy"), PathSeg::Key("hpa_min")],
                format_args!(
                    "HPA bounds {}..{} are not 1 ≤ hpa_min ≤ hpa_max; using {DEFAULT_HPA_MIN}..{DEFAULT_HPA_MAX}",
                    config.policy.hpa_min, config.policy.hpa_max
                ),
            ));
            config.policy.hpa_min = DEFAULT_HPA_MIN;
            config.policy.hpa_max = DEFAULT_HPA_MAX;
        }
        problems.extend(super::platform::validate(file, src, &mut config));
        problems.extend(super::agent::validate(file, src, &config));
        problems.extend(super::agent::validate_source(file, src, &mut config));
        for (key, value, default) in [
            (
                "access_grant_ttl",
                &mut config.policy.access_grant_ttl,
                DEFAULT_ACCESS_GRANT_TTL,
            ),
            (
                "env_ttl_max",
                &mut config.policy.env_ttl_max,
                DEFAULT_ENV_TTL_MAX,
            ),
        ] {
            if let Err(why) = parse_duration(value) {
                problems.push(value_problem(
                    file,
                    src,
                    &[PathSeg::Key("policy"), PathSeg::Key(key)],
                    format_args!("{why}; using {default}"),
                ));
                *value = default.to_string();
            }
        }
        if let Some(dir) = file.parent() {
            for cluster in &mut config.clusters {
                if let Some(path) = cluster.kubeconfig.as_mut() {
                    let home = std::env::var_os("HOME").map(PathBuf::from);
                    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), home) {
                        *path = home.join(rest);
                    } else if path.is_relative() {
                        *path = dir.join(&*path);
                    }
                }
            }
            for path in &mut config.catalog.paths {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        }
        (config, problems)
    }

    /// Whether this config declares a platform of its own (clusters, AWS, GitHub or
    /// Kafka): then sphere talks to those systems and never falls back to the demo.
    pub fn is_configured_platform(&self) -> bool {
        !self.clusters.is_empty()
            || self.aws.is_some()
            || self.github.is_some()
            || self.kafka.is_some()
    }

    /// The configured platform's sections.
    pub fn platform(&self) -> PlatformConfig<'_> {
        PlatformConfig {
            clusters: &self.clusters,
            kubernetes: &self.kubernetes,
            aws: self.aws.as_ref(),
            github: self.github.as_ref(),
            kafka: self.kafka.as_ref(),
            webhook: self.webhook.as_ref(),
        }
    }

    /// Whether the user configured anything (a file was read).
    pub fn has_file(&self) -> bool {
        self.source.is_some()
    }

    /// The `[policy]` checked against the platform's environments: every environment
    /// the config names (`read_only_envs`, `access_rules[].env`) must be one of them.
    ///
    /// The read-only guard fails closed: a name that matches an environment only in
    /// case (`Production`) is a problem and protects that environment; a name that is no
    /// environment at all is a problem and makes every environment read-only (for all
    /// but admins) until it is fixed, since the environment it meant is unknown. An
    /// access rule naming an unknown environment matches nothing (it grants nothing).
    pub fn policy_for_environments(
        &self,
        environments: &[String],
    ) -> (PolicyConfig, Vec<ConfigProblem>) {
        let mut policy = self.policy.clone();
        let mut problems = Vec::new();
        let file = self
            .source
            .clone()
            .unwrap_or_else(|| PathBuf::from("config.toml"));
        let known = environments.join(", ");
        let mut unknown = false;
        for (i, name) in self.policy.read_only_envs.iter().enumerate() {
            if environments.iter().any(|e| e == name) {
                continue;
            }
            let key = format!("policy.read_only_envs[{i}]");
            match environments.iter().find(|e| e.eq_ignore_ascii_case(name)) {
                Some(e) => {
                    problems.push(ConfigProblem::key(
                        &file,
                        key,
                        format!(
                            "{name:?} is not an environment, {e:?} is (environment names are exact); {e} is read-only as meant, write {e:?} to silence this"
                        ),
                    ));
                    policy.read_only_envs.push(e.clone());
                }
                None => {
                    problems.push(ConfigProblem::key(
                        &file,
                        key,
                        format!(
                            "{name:?} is not an environment of the platform ({known}); until it names one, every environment is read-only for all but admins (the guard fails closed)"
                        ),
                    ));
                    unknown = true;
                }
            }
        }
        if unknown {
            policy.read_only_envs.extend(environments.iter().cloned());
        }
        let mut seen = std::collections::BTreeSet::new();
        policy.read_only_envs.retain(|e| seen.insert(e.clone()));
        for (i, rule) in self.policy.access_rules.iter().enumerate() {
            if let Some(env) = &rule.env
                && !environments.iter().any(|e| e == env)
            {
                problems.push(ConfigProblem::key(
                    &file,
                    format!("policy.access_rules[{i}].env"),
                    format!(
                        "{env:?} is not an environment of the platform ({known}); this rule grants nothing until it names one"
                    ),
                ));
            }
        }
        (policy, problems)
    }

    /// The actor name for the audit log: `user` if set, else `you` on the demo platform,
    /// else `$USER`, else `you`.
    pub fn actor(&self, demo: bool) -> String {
        if let Some(user) = self.user.as_deref().filter(|u| !u.trim().is_empty()) {
            return user.to_string();
        }
        if demo {
            return "you".to_string();
        }
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "you".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../assets/config.sample.toml");

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let file = dir.join(name);
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(&file, text).expect("write");
        file
    }

    #[test]
    fn defaults_when_no_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        let (config, problems) = Config::load(&paths, None);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config, Config::default());
        assert!(!config.has_file());
        assert_eq!(config.theme, "dark");
        assert_eq!(config.max_fps, 30);
        assert_eq!(config.demo.seed, 42);
    }

    #[test]
    fn explicit_missing_file_is_a_problem() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        let missing = tmp.path().join("nope.toml");
        let (config, problems) = Config::load(&paths, Some(&missing));
        assert_eq!(config, Config::default());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("nope.toml"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn reads_the_default_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        let file = write(
            &paths.config_dir,
            "config.toml",
            "theme = \"light\"\n[catalog]\npaths = [\"cat\"]\ngroup_by = \"owner\"\n",
        );
        let (config, problems) = Config::load(&paths, None);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.theme, "light");
        assert_eq!(config.catalog.group_by, GroupBy::Owner);
        assert_eq!(config.catalog.paths, vec![paths.config_dir.join("cat")]);
        assert_eq!(config.source.as_deref(), Some(file.as_path()));
        assert!(config.has_file());
    }

    #[test]
    fn unknown_key_names_the_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = write(tmp.path(), "c.toml", "theme = \"light\"\n[demo]\nsed = 1\n");
        let (config, problems) = Config::load(&Paths::in_dir(tmp.path()), Some(&file));
        assert_eq!(config.theme, "light", "the rest of the file applies");
        assert_eq!(problems.len(), 1);
        let shown = problems[0].to_string();
        assert_eq!(problems[0].key.as_deref(), Some("demo.sed"), "{shown}");
        assert!(shown.contains("c.toml"), "{shown}");
        assert!(shown.contains("unknown field `sed`"), "{shown}");
        assert!(shown.contains("line 3"), "{shown}");
    }

    #[test]
    fn unknown_and_mistyped_keys_are_left_out_and_the_policy_still_applies() {
        let src = "bogus_key = 1\nuser = \"amara.okafor\"\nmax_fps = \"fast\"\n\
                   [policy]\nreadonly_envs = [\"production\"]\nread_only_envs = [\"production\"]\n\
                   hpa_max = 8\n";
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), src);
        assert_eq!(config.user.as_deref(), Some("amara.okafor"));
        assert_eq!(config.policy.read_only_envs, vec!["production".to_string()]);
        assert_eq!(config.policy.hpa_max, 8);
        assert_eq!(config.max_fps, DEFAULT_MAX_FPS);
        let mut keys: Vec<_> = problems.iter().filter_map(|p| p.key.as_deref()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["bogus_key", "max_fps", "policy.readonly_envs"],
            "{problems:?}"
        );
        let typo = problems
            .iter()
            .find(|p| p.key.as_deref() == Some("policy.readonly_envs"))
            .expect("named");
        assert!(typo.reason.contains("line 5"), "{typo}");
        assert!(
            typo.reason.contains("left out (its default applies)"),
            "{typo}"
        );
    }

    #[test]
    fn the_readiness_threshold_is_a_level_in_any_case() {
        let (config, problems) = Config::from_str_at(
            Path::new("c.toml"),
            "[policy]\nreadiness_threshold = \"gold\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.policy.readiness_threshold, "Gold");
        let (_, problems) = Config::from_str_at(
            Path::new("c.toml"),
            "[policy]\nreadiness_threshold = \"Platinum\"\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        let shown = problems[0].to_string();
        assert!(shown.contains("policy.readiness_threshold"), "{shown}");
        assert!(shown.contains("Bronze, Silver, Gold"), "{shown}");
        assert!(shown.contains("line 2"), "{shown}");
    }

    #[test]
    fn syntax_error_is_a_problem_with_defaults() {
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), "theme = \n");
        assert_eq!(config, Config::default());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].reason.contains("line 1"), "{}", problems[0]);
    }

    #[test]
    fn out_of_range_values_use_their_default() {
        let src = "max_fps = 0\ntoast_seconds = 9\n[demo]\npace = -1.5\n";
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), src);
        assert_eq!(config.max_fps, DEFAULT_MAX_FPS);
        assert_eq!(config.demo.pace, DEFAULT_PACE);
        assert_eq!(config.toast_seconds, 9, "valid keys are kept");
        let keys: Vec<_> = problems.iter().filter_map(|p| p.key.as_deref()).collect();
        assert_eq!(keys, ["max_fps", "demo.pace"]);
        assert!(problems[0].reason.contains("line 1"), "{}", problems[0]);
        assert!(problems[1].reason.contains("line 4"), "{}", problems[1]);
    }

    #[test]
    fn policy_bounds_out_of_order_use_the_defaults() {
        let src = "[policy]\nhpa_min = 9\nhpa_max = 3\nread_only_envs = [\"production\"]\n";
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), src);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key.as_deref(), Some("policy.hpa_min"));
        assert_eq!(
            (config.policy.hpa_min, config.policy.hpa_max),
            (DEFAULT_HPA_MIN, DEFAULT_HPA_MAX)
        );
        assert_eq!(config.policy.read_only_envs, ["production"]);
    }

    #[test]
    fn durations_that_do_not_parse_name_the_key_and_use_the_default() {
        let src = "[policy]\naccess_grant_ttl = \"8 hours\"\nenv_ttl_max = \"0d\"\n";
        let (config, problems) = Config::from_str_at(Path::new("c.toml"), src);
        let keys: Vec<_> = problems.iter().filter_map(|p| p.key.as_deref()).collect();
        assert_eq!(keys, ["policy.access_grant_ttl", "policy.env_ttl_max"]);
        assert!(problems[0].reason.contains("line 2"), "{}", problems[0]);
        assert!(problems[0].reason.contains("using 8h"), "{}", problems[0]);
        assert!(problems[1].reason.contains("using 14d"), "{}", problems[1]);
        assert_eq!(config.policy.access_grant_ttl, DEFAULT_ACCESS_GRANT_TTL);
        assert_eq!(config.policy.env_ttl_max, DEFAULT_ENV_TTL_MAX);
        let (config, problems) = Config::from_str_at(
            Path::new("c.toml"),
            "[policy]\naccess_grant_ttl = \"30m\"\nenv_ttl_max = \"1d12h\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            (
                config.policy.access_grant_ttl.as_str(),
                config.policy.env_ttl_max.as_str()
            ),
            ("30m", "1d12h")
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let src = "[catalog]\ngroup_by = \"team\"\n";
        let (_, problems) = Config::from_str_at(Path::new("c.toml"), src);
        assert_eq!(problems[0].key.as_deref(), Some("catalog.group_by"));
    }

    /// The sample with its commented-out `# key = value` examples switched on.
    fn sample_uncommented() -> String {
        SAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with('[') => rest,
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn sample_config_parses_with_every_key() {
        let (config, problems) = Config::from_str_at(Path::new("config.sample.toml"), SAMPLE);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            Config {
                source: None,
                links: BTreeMap::new(),
                ..config.clone()
            },
            Config::default(),
            "the sample sets every key to its default"
        );
        assert!(config.links.contains_key("repo"));

        let full = sample_uncommented();
        let (config, problems) = Config::from_str_at(Path::new("config.sample.toml"), &full);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(config.user.is_some() && config.platform_name.is_some());
        assert!(config.policy.admins.is_some());
        let table: toml::Table = toml::from_str(&full).expect("sample is toml");
        for key in [
            "theme",
            "user",
            "platform_name",
            "max_fps",
            "toast_seconds",
            "demo",
            "catalog",
            "links",
            "policy",
            "clusters",
            "kubernetes",
            "aws",
            "github",
            "kafka",
            "webhook",
        ] {
            assert!(table.contains_key(key), "sample lacks `{key}`");
        }
        assert!(config.is_configured_platform());
        // Every key of the platform sections is in the sample, set to a non-default
        // value or its default: nothing is left for the reader to guess.
        let cluster = &config.clusters[0];
        assert!(cluster.context.is_some() && cluster.kubeconfig.is_some());
        assert!(cluster.namespace.is_some() && cluster.aws_region.is_some());
        assert!(cluster.aws_profile.is_some());
        assert_eq!(config.kubernetes, KubernetesConfig::default());
        let aws = config.aws.as_ref().expect("[aws]");
        assert!(aws.profile.is_some() && aws.endpoint_url.is_some());
        let github = config.github.as_ref().expect("[github]");
        assert!(github.api_url.is_some() && github.gitops_repo.is_some());
        assert!(!github.templates.is_empty());
        let kafka = config.kafka.as_ref().expect("[kafka]");
        assert!(kafka.properties.contains_key("bootstrap.servers"));
        assert!(config.webhook.is_some());
    }

    fn envs() -> Vec<String> {
        ["dev", "staging", "production"].map(String::from).to_vec()
    }

    #[test]
    fn a_misspelt_read_only_env_is_a_problem_and_still_protects() {
        let src = "[policy]\nread_only_envs = [\"Production\"]\n";
        let (config, problems) = Config::from_str_at(Path::new("/c/config.toml"), src);
        assert!(problems.is_empty(), "{problems:?}");
        let (policy, problems) = config.policy_for_environments(&envs());
        assert_eq!(problems.len(), 1, "{problems:?}");
        let shown = problems[0].to_string();
        assert!(
            shown.starts_with("/c/config.toml: key `policy.read_only_envs[0]`"),
            "{shown}"
        );
        assert!(
            shown.contains("\"Production\" is not an environment"),
            "{shown}"
        );
        assert!(policy.read_only_envs.contains(&"production".to_string()));
        assert!(!policy.read_only_envs.contains(&"staging".to_string()));
    }

    #[test]
    fn an_unknown_read_only_env_makes_every_environment_read_only() {
        let src = "[policy]\nread_only_envs = [\"prdo\", \"staging\"]\n\
                   access_rules = [{ team = \"sre\", permission = \"operate\", env = \"prod\" }]\n";
        let (config, problems) = Config::from_str_at(Path::new("/c/config.toml"), src);
        assert!(problems.is_empty(), "{problems:?}");
        let (policy, problems) = config.policy_for_environments(&envs());
        let keys: Vec<_> = problems.iter().filter_map(|p| p.key.clone()).collect();
        assert_eq!(
            keys,
            ["policy.read_only_envs[0]", "policy.access_rules[0].env"],
            "{problems:?}"
        );
        assert!(
            problems[0].reason.contains("fails closed"),
            "{}",
            problems[0]
        );
        for e in envs() {
            assert!(policy.read_only_envs.contains(&e), "{e} is writable");
        }
        // Names that are environments pass without a word.
        let ok = Config::from_str_at(
            Path::new("c.toml"),
            "[policy]\nread_only_envs = [\"production\"]\n",
        )
        .0;
        let (policy, problems) = ok.policy_for_environments(&envs());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(policy.read_only_envs, ["production"]);
    }

    #[test]
    fn actor_prefers_the_configured_user() {
        let config = Config {
            user: Some("ada".into()),
            ..Config::default()
        };
        assert_eq!(config.actor(true), "ada");
        assert_eq!(Config::default().actor(true), "you");
    }
}
