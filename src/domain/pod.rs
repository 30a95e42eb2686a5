//! Why a pod is broken (C18): a pod's details as `kubectl describe` shows them, the
//! events of the pod and its owners, and log lines. Summaries only, never whole
//! Kubernetes objects; every string may come from a remote system and is sanitised
//! before it reaches a terminal (see [`crate::domain::text`]).

use serde::{Deserialize, Serialize};

use super::platform::{ClusterId, PodSummary, Timestamp};
use super::text::sanitize;

/// One condition of a pod (`Ready`, `ContainersReady`, `PodScheduled`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

/// How a container instance ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Termination {
    /// `OOMKilled`, `Error`, `Completed`.
    pub reason: String,
    pub exit_code: i32,
    /// The signal that ended it (9 for SIGKILL), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Termination {
    /// `OOMKilled (exit 137, signal 9)`.
    pub fn text(&self) -> String {
        let mut s = format!("{} (exit {}", self.reason, self.exit_code);
        if let Some(sig) = self.signal {
            s.push_str(&format!(", signal {sig}"));
        }
        s.push(')');
        s
    }
}

/// What a container is doing now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ContainerState {
    Running {
        since: Option<Timestamp>,
    },
    Waiting {
        reason: Option<String>,
        message: Option<String>,
    },
    Terminated(Termination),
    Unknown,
}

impl ContainerState {
    /// `Running`, `Waiting: CrashLoopBackOff`, `Terminated: OOMKilled (exit 137)`.
    pub fn text(&self) -> String {
        match self {
            ContainerState::Running { .. } => "Running".to_string(),
            ContainerState::Waiting { reason, .. } => match reason {
                Some(r) => format!("Waiting: {r}"),
                None => "Waiting".to_string(),
            },
            ContainerState::Terminated(t) => format!("Terminated: {}", t.text()),
            ContainerState::Unknown => "Unknown".to_string(),
        }
    }
}

/// Requests or limits of a container: the quantities as Kubernetes writes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

impl Resources {
    /// `cpu=250m memory=512Mi`, or `-`.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.cpu {
            parts.push(format!("cpu={c}"));
        }
        if let Some(m) = &self.memory {
            parts.push(format!("memory={m}"));
        }
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDetails {
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    pub ready: bool,
    pub restarts: u32,
    /// How the previous instance ended (what `--previous` logs lead up to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Termination>,
    pub requests: Resources,
    pub limits: Resources,
}

/// What owns a pod (a ReplicaSet, a StatefulSet, a Job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

/// A pod as `sphere describe pod` shows it: its summary and the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodDetails {
    #[serde(flatten)]
    pub summary: PodSummary,
    pub namespace: String,
    /// When the pod object was created (its age counts from it).
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PodCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRef>,
    pub containers: Vec<ContainerDetails>,
}

impl PodDetails {
    /// The containers' latest termination, when one ended (the crash's cause).
    pub fn last_termination(&self) -> Option<(&str, &Termination)> {
        self.containers
            .iter()
            .filter_map(|c| Some((c.name.as_str(), c.last_termination.as_ref()?)))
            .max_by_key(|(_, t)| t.finished_at)
    }

    /// The lines of `sphere describe pod`, sanitised, ages measured at `now`.
    pub fn describe(&self, now: Timestamp) -> Vec<String> {
        use super::text::{age, rfc3339};
        let s = &self.summary;
        let c = |t: &str| sanitize(t).into_owned();
        let mut out = vec![
            format!("Name:        {}", c(&s.name)),
            format!("Service:     {}", c(&s.service)),
            format!("Cluster:     {}", s.cluster),
            format!("Namespace:   {}", c(&self.namespace)),
            format!("Node:        {}", c(&s.node)),
            format!(
                "Created:     {} ({} ago)",
                rfc3339(self.created_at),
                age(now - self.created_at)
            ),
            format!("Phase:       {}", s.phase),
            format!(
                "IP:          {}",
                c(self.pod_ip.as_deref().unwrap_or("<none>"))
            ),
            format!(
                "Host IP:     {}",
                c(self.host_ip.as_deref().unwrap_or("<none>"))
            ),
            format!(
                "Owner:       {}",
                self.owner
                    .as_ref()
                    .map_or("<none>".to_string(), |o| c(&format!(
                        "{}/{}",
                        o.kind, o.name
                    )))
            ),
            "Conditions:".to_string(),
        ];
        for k in &self.conditions {
            let mut line = format!("  {:<17} {}", c(&k.kind), c(&k.status));
            if let Some(r) = &k.reason {
                line.push_str(&format!("  {}", c(r)));
            }
            if let Some(at) = k.since {
                line.push_str(&format!("  since {}", rfc3339(at)));
            }
            out.push(line);
        }
        out.push("Containers:".to_string());
        for k in &self.containers {
            out.push(format!("  {}:", c(&k.name)));
            out.push(format!("    Image:     {}", c(&k.image)));
            out.push(format!("    State:     {}", c(&k.state.text())));
            out.push(format!(
                "    Ready:     {}",
                if k.ready { "yes" } else { "no" }
            ));
            out.push(format!("    Restarts:  {}", k.restarts));
            match &k.last_termination {
                Some(t) => {
                    out.push(format!("    Last termination: {}", c(&t.text())));
                    if let Some(at) = t.finished_at {
                        out.push(format!(
                            "      finished {} ({} ago)",
                            rfc3339(at),
                            age(now - at)
                        ));
                    }
                    if let Some(m) = &t.message {
                        out.push(format!("      message: {}", c(m)));
                    }
                }
                None => out.push("    Last termination: <none>".to_string()),
            }
            out.push(format!("    Requests:  {}", c(&k.requests.text())));
            out.push(format!("    Limits:    {}", c(&k.limits.text())));
        }
        out
    }
}

/// What an event is about: a pod, or one of its owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventObject {
    pub kind: String,
    pub name: String,
}

/// One Kubernetes event (core/v1), summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEvent {
    pub cluster: ClusterId,
    /// When it last happened.
    pub at: Timestamp,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
    pub message: String,
    pub object: EventObject,
    /// How many times it happened.
    pub count: u32,
}

/// Newest first; ties in a stable order (object, reason).
pub fn sort_events(events: &mut [PodEvent]) {
    events.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| a.cluster.cmp(&b.cluster))
            .then_with(|| a.object.name.cmp(&b.object.name))
            .then_with(|| a.reason.cmp(&b.reason))
    });
}

/// What to read of a pod's logs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogQuery {
    /// The container (`None`: the pod's first).
    pub container: Option<String>,
    /// The previous (ended) instance of the container.
    pub previous: bool,
    /// Only lines of the last this many seconds.
    pub since_seconds: Option<i64>,
    /// Only the last this many lines (of each pod).
    pub tail: Option<u32>,
    /// Keep the stream open and tell new lines as they are written.
    pub follow: bool,
    /// Only lines written after this instant (nanoseconds since the epoch, exclusive):
    /// where a stream read before left off.
    pub after_ns: Option<i64>,
}

/// One log line, with where it came from. `text` is sanitised when the line is made
/// ([`LogLine::new`]), so it can be drawn as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written: nanoseconds since the Unix epoch.
    pub at_ns: i64,
    pub cluster: ClusterId,
    pub pod: String,
    pub container: String,
    pub text: String,
    /// A line sphere wrote about the stream itself (reconnected, the pod went away),
    /// not one the container wrote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
}

impl LogLine {
    /// A line as a container wrote it (sanitised here).
    pub fn new(at_ns: i64, cluster: &ClusterId, pod: &str, container: &str, text: &str) -> LogLine {
        LogLine {
            at_ns,
            cluster: cluster.clone(),
            pod: sanitize(pod).into_owned(),
            container: sanitize(container).into_owned(),
            text: sanitize(text).into_owned(),
            notice: false,
        }
    }

    /// A line sphere says about the stream (`notice`).
    pub fn notice(at_ns: i64, cluster: &ClusterId, pod: &str, text: &str) -> LogLine {
        LogLine {
            notice: true,
            ..LogLine::new(at_ns, cluster, pod, "", text)
        }
    }

    /// The short source prefix of a merged stream: `eu-west-1/abc12` (the region, and
    /// the pod name's last part), with the environment when `with_env`.
    pub fn source(&self, with_env: bool) -> String {
        let short = self.pod.rsplit('-').next().unwrap_or(&self.pod);
        if with_env {
            format!("{}/{}/{short}", self.cluster.env, self.cluster.region)
        } else {
            format!("{}/{short}", self.cluster.region)
        }
    }

    /// `2026-12-03T14:00:01.123Z` (milliseconds, UTC).
    pub fn time_text(&self) -> String {
        let secs = self.at_ns.div_euclid(1_000_000_000);
        let nanos = self.at_ns.rem_euclid(1_000_000_000) as u32;
        chrono::DateTime::from_timestamp(secs, nanos)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_else(|| secs.to_string())
    }
}

/// Parse a line of the log subresource read with `timestamps=true`:
/// `2026-12-03T14:00:01.123456789Z text`. The timestamp in nanoseconds and the text;
/// `None` when the line does not start with one.
pub fn split_timestamp(line: &str) -> Option<(i64, &str)> {
    let (ts, rest) = line.split_once(' ').unwrap_or((line, ""));
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some((t.timestamp_nanos_opt()?, rest))
}

/// `10m`, `2h`, `30s`, `1d` → seconds (for `--since`).
pub fn parse_since(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use a number and s, m, h or d (10m)"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} is not a duration: use a number and s, m, h or d (10m)"
            ));
        }
    };
    if n <= 0 {
        return Err(format!("{text:?}: the duration must be more than 0"));
    }
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_the_log_subresource_are_read() {
        let (ns, text) = split_timestamp("2026-12-03T14:00:01.5Z hello world").unwrap();
        assert_eq!(ns, 1_796_306_401_500_000_000);
        assert_eq!(text, "hello world");
        assert!(split_timestamp("no timestamp here").is_none());
    }

    #[test]
    fn lines_are_sanitised_and_have_a_short_source() {
        let c = ClusterId::new("production", "eu-west-1");
        let l = LogLine::new(
            0,
            &c,
            "cart-7d9f8b6c5d-x2k4q",
            "app",
            "\x1b[31mred\x1b]0;t\x07",
        );
        assert_eq!(l.text, "red");
        assert_eq!(l.source(false), "eu-west-1/x2k4q");
        assert_eq!(l.source(true), "production/eu-west-1/x2k4q");
        assert_eq!(l.time_text(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn since_durations() {
        assert_eq!(parse_since("10m"), Ok(600));
        assert_eq!(parse_since("2h"), Ok(7200));
        assert_eq!(parse_since("45"), Ok(45));
        assert!(parse_since("ten").is_err());
        assert!(parse_since("0s").is_err());
        assert!(parse_since("5w").is_err());
    }

    #[test]
    fn events_sort_newest_first() {
        let c = ClusterId::new("production", "eu-west-1");
        let ev = |at, reason: &str| PodEvent {
            cluster: c.clone(),
            at,
            kind: "Normal".into(),
            reason: reason.into(),
            message: String::new(),
            object: EventObject {
                kind: "Pod".into(),
                name: "p".into(),
            },
            count: 1,
        };
        let mut v = vec![ev(1, "Scheduled"), ev(3, "BackOff"), ev(2, "Started")];
        sort_events(&mut v);
        let r: Vec<&str> = v.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(r, ["BackOff", "Started", "Scheduled"]);
    }
}
