//! Ephemeral environments (C14): an environment made from an existing one for a
//! while (a pull request's review, a load test), in some or all of its regions, that
//! the platform removes when its time is up. Also the durations sphere reads and
//! shows: `30m`, `8h`, `7d`.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The longest name of an ephemeral environment (a Kubernetes namespace holds it with
/// a prefix, and a namespace name is at most 63 characters).
pub const MAX_NAME: usize = 40;

/// What a permanent environment is for, read from its name: organisations name them
/// `production`, `prod`, `prd`, `live`, `prod-eu`, `production-blue`; `staging`,
/// `stage`, `stg`, `preprod`, `uat`; `dev`, `development`, `sandbox`. The name's words
/// (split at anything not a letter or digit) decide, production first; `non-prod` and
/// `nonprod` are not production. `None`: the name says none of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    Dev,
    Staging,
    Production,
}

impl EnvKind {
    pub fn of(env: &str) -> Option<EnvKind> {
        let lower = env.to_ascii_lowercase();
        let words: Vec<&str> = (lower.split(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|w| !w.is_empty())
            .collect();
        let non = |i: usize| i > 0 && words[i - 1] == "non";
        let has =
            |names: &[&str]| (words.iter().enumerate()).any(|(i, w)| names.contains(w) && !non(i));
        if has(&["production", "prod", "prd", "live"]) {
            Some(EnvKind::Production)
        } else if has(&["staging", "stage", "stg", "preprod", "uat", "nonprod"])
            || (words.iter().enumerate()).any(|(i, w)| non(i) && *w == "prod")
        {
            Some(EnvKind::Staging)
        } else if has(&["dev", "development", "develop", "sandbox"]) {
            Some(EnvKind::Dev)
        } else {
            None
        }
    }

    /// The name sphere's own platforms (the demo) give it.
    pub fn canonical(self) -> &'static str {
        match self {
            EnvKind::Dev => "dev",
            EnvKind::Staging => "staging",
            EnvKind::Production => "production",
        }
    }

    /// The environment of `environments` that is this kind: the one named as sphere
    /// names it, else the first whose name says this kind, else the canonical name
    /// (which then has no deployment).
    pub fn in_environments(self, environments: &[String]) -> String {
        let canonical = self.canonical();
        (environments.iter().find(|e| *e == canonical))
            .or_else(|| environments.iter().find(|e| EnvKind::of(e) == Some(self)))
            .cloned()
            .unwrap_or_else(|| canonical.to_string())
    }
}

/// One ephemeral environment: where it came from, where it runs, who made it and when
/// it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EphemeralEnv {
    pub name: String,
    /// The environment it was created from (its deployments, at their versions then).
    pub from: String,
    /// The regions it spans, in topology order.
    pub regions: Vec<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    /// When the platform removes it (and everything in it).
    pub expires_at: Timestamp,
}

impl EphemeralEnv {
    /// Seconds left at `now` (negative once expired).
    pub fn remaining(&self, now: Timestamp) -> i64 {
        self.expires_at - now
    }

    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at <= now
    }
}

/// How the audit trail names an environment: `env:NAME`.
pub fn env_target(name: &str) -> String {
    format!("env:{name}")
}

/// Is `name` usable as an environment's name: `^[a-z0-9-]+$`, starting and ending
/// with a letter or digit (a DNS label, as a namespace needs), at most [`MAX_NAME`]
/// characters? The reason when not.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name is required".to_string());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("{name:?} is longer than {MAX_NAME} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "{name:?} may only hold lowercase letters, digits and - (^[a-z0-9-]+$)"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "{name:?} must start and end with a letter or digit"
        ));
    }
    // "all environments" and "any region" are how sphere speaks of every one.
    if ["all", "any"].contains(&name) {
        return Err(format!("{name:?} is reserved; pick another name"));
    }
    Ok(())
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// A duration as people type it: a whole number and a unit, `m` (minutes), `h`
/// (hours) or `d` (days), e.g. `30m`, `8h`, `7d`; or several of them, largest first
/// (`1d12h`). Seconds, or why not.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration is required, such as 30m, 8h or 7d".to_string());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_unit = i64::MAX;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            'm' => MINUTE,
            'h' => HOUR,
            'd' => DAY,
            _ => {
                return Err(format!(
                    "{s:?} is not a duration: use a number and m, h or d, such as 30m, 8h or 7d"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!(
                "{s:?} is not a duration: a number comes before each unit (30m, 8h, 7d)"
            ));
        }
        if unit >= last_unit {
            return Err(format!(
                "{s:?} is not a duration: give each unit once, largest first (1d12h)"
            ));
        }
        last_unit = unit;
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("{s:?} is too long a duration"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= 100 * 365 * DAY)
            .ok_or_else(|| format!("{s:?} is too long a duration"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!(
            "{s:?} has no unit: say {digits}m, {digits}h or {digits}d"
        ));
    }
    if total == 0 {
        return Err(format!("{s:?} is no time at all"));
    }
    Ok(total)
}

/// A duration the way [`parse_duration`] reads it: `7d`, `1d12h`, `8h`, `30m`
/// (rounded down to the minute; under a minute `0m`).
pub fn format_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / DAY, (s % DAY) / HOUR, (s % HOUR) / MINUTE);
    let mut out = String::new();
    if d > 0 {
        out.push_str(&format!("{d}d"));
    }
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 || out.is_empty() {
        out.push_str(&format!("{m}m"));
    }
    out
}

/// Time left, in the fewest characters, the one way every view shows it (the TUI's
/// `⏳` and the CLI's `EXPIRES IN`): `2d`, `23h`, `59m`, `<1m`, or `0m` once it is up.
/// Rounded to the nearest unit, the largest one that reads at least 1 after rounding
/// (an environment made for 2d reads `2d` until 1d12h is left: 47h59m is `2d`, not
/// `1d`); never `0m` while time remains (under half a minute reads `<1m`). The exact
/// moment is in the `expires_at` each view shows next to it.
pub fn short_remaining(seconds: i64) -> String {
    // Halves round up: `(s + unit / 2) / unit`.
    let nearest = |s: i64, unit: i64| (s + unit / 2) / unit;
    match seconds {
        s if s <= 0 => "0m".to_string(),
        s if nearest(s, MINUTE) == 0 => "<1m".to_string(),
        s if nearest(s, MINUTE) < 60 => format!("{}m", nearest(s, MINUTE)),
        s if nearest(s, HOUR) < 24 => format!("{}h", nearest(s, HOUR)),
        s => format!("{}d", nearest(s, DAY)),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_environment_is_known_by_the_words_of_its_name() {
        use super::EnvKind::*;
        for (name, kind) in [
            ("production", Some(Production)),
            ("prod", Some(Production)),
            ("PRD", Some(Production)),
            ("live", Some(Production)),
            ("prod-eu", Some(Production)),
            ("production-29390-0", Some(Production)),
            ("eu_prod", Some(Production)),
            ("preprod", Some(Staging)),
            ("non-prod", Some(Staging)),
            ("nonprod", Some(Staging)),
            ("staging", Some(Staging)),
            ("stg-2", Some(Staging)),
            ("uat", Some(Staging)),
            ("dev", Some(Dev)),
            ("sandbox", Some(Dev)),
            ("pr-42", None),
            ("productionproduction", None),
            ("products", None),
        ] {
            assert_eq!(super::EnvKind::of(name), kind, "{name}");
        }
        let envs: Vec<String> = ["dev-eu", "stg", "prd"].map(String::from).into();
        assert_eq!(Production.in_environments(&envs), "prd");
        assert_eq!(Staging.in_environments(&envs), "stg");
        assert_eq!(Dev.in_environments(&envs), "dev-eu");
        let envs: Vec<String> = ["prod-canary", "production"].map(String::from).into();
        assert_eq!(
            Production.in_environments(&envs),
            "production",
            "the exact name first"
        );
        assert_eq!(
            Staging.in_environments(&envs),
            "staging",
            "none: the canonical name"
        );
    }

    use super::*;

    #[test]
    fn durations_read_minutes_hours_days_and_combinations() {
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("8h"), Ok(28_800));
        assert_eq!(parse_duration(" 7d "), Ok(604_800));
        assert_eq!(parse_duration("1d12h"), Ok(129_600));
        assert_eq!(parse_duration("2H"), Ok(7_200));
        for bad in [
            "",
            "7",
            "d",
            "7w",
            "7 d",
            "-1d",
            "0h",
            "12h1d",
            "1h1h",
            "9999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(parse_duration("7").unwrap_err().contains("7d"));
    }

    #[test]
    fn durations_format_as_they_parse() {
        for s in ["30m", "8h", "7d", "1d12h", "2d3h4m"] {
            assert_eq!(format_duration(parse_duration(s).unwrap_or(0)), s);
        }
        assert_eq!(format_duration(59), "0m");
        assert_eq!(format_duration(-5), "0m");
    }

    #[test]
    fn remaining_time_is_short_and_rounded_to_the_nearest_unit() {
        // Made for 2d, a moment later: 2d, as the CLI said when it was made.
        assert_eq!(short_remaining(2 * DAY - 1), "2d");
        assert_eq!(short_remaining(2 * DAY - MINUTE), "2d");
        assert_eq!(short_remaining(DAY + 12 * HOUR), "2d");
        assert_eq!(short_remaining(DAY + 12 * HOUR - 1), "1d");
        assert_eq!(short_remaining(14 * DAY), "14d");
        // 23h59m is a day, not "24h"; 23h29m is 23h.
        assert_eq!(short_remaining(23 * HOUR + 59 * MINUTE), "1d");
        assert_eq!(short_remaining(23 * HOUR + 29 * MINUTE), "23h");
        assert_eq!(short_remaining(59 * MINUTE + 59), "1h");
        assert_eq!(short_remaining(90 * MINUTE), "2h");
        assert_eq!(short_remaining(89 * MINUTE), "1h");
        assert_eq!(short_remaining(59 * MINUTE + 29), "59m");
        assert_eq!(short_remaining(45), "1m");
        // Never 0 while time remains.
        assert_eq!(short_remaining(29), "<1m");
        assert_eq!(short_remaining(1), "<1m");
        assert_eq!(short_remaining(0), "0m");
        assert_eq!(short_remaining(-100), "0m");
    }

    #[test]
    fn names_are_dns_labels() {
        assert!(check_name("pr-1234").is_ok());
        assert!(check_name("a").is_ok());
        for bad in [
            "", "PR-1", "pr_1", "pr 1", "-pr", "pr-", "ünï", "all", "any",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
        assert!(check_name("Pr").unwrap_err().contains("^[a-z0-9-]+$"));
    }

    #[test]
    fn a_topology_spans_its_ephemeral_environments_in_their_regions_only() {
        use crate::domain::{ClusterId, Topology};
        let base = Topology {
            regions: vec![
                "us-east-1".into(),
                "eu-west-1".into(),
                "ap-southeast-2".into(),
            ],
            environments: vec!["staging".into(), "production".into()],
            ..Default::default()
        };
        let pr = EphemeralEnv {
            name: "pr-1".into(),
            from: "staging".into(),
            regions: vec!["ap-southeast-2".into(), "us-east-1".into()],
            created_by: "you".into(),
            created_at: 0,
            expires_at: 10,
        };
        let mut t = base.with_ephemeral(std::slice::from_ref(&pr));
        assert_eq!(t.environments, ["staging", "production", "pr-1"]);
        assert_eq!(
            t.regions_of("pr-1"),
            ["us-east-1", "ap-southeast-2"],
            "topology order"
        );
        assert_eq!(t.regions_of("staging").len(), 3);
        assert_eq!(t.cluster_count(), 8);
        assert_eq!(t.clusters().count(), 8);
        assert!(t.has_cluster(&ClusterId::new("pr-1", "us-east-1")));
        assert!(!t.has_cluster(&ClusterId::new("pr-1", "eu-west-1")));
        assert_eq!(t.permanent(), base);

        // Changed in place, then removed; a permanent environment is never removed.
        let mut later = pr.clone();
        later.expires_at = 99;
        t.set_ephemeral(later);
        assert_eq!(t.ephemeral("pr-1").map(|e| e.expires_at), Some(99));
        assert_eq!(t.environments.len(), 3);
        assert!(!t.remove_ephemeral("staging"));
        assert!(t.remove_ephemeral("pr-1"));
        assert_eq!(t, base);
    }

    #[test]
    fn expiry_is_by_the_clock_given() {
        let e = EphemeralEnv {
            name: "pr-1".into(),
            from: "staging".into(),
            regions: vec!["eu-west-1".into()],
            created_by: "you".into(),
            created_at: 0,
            expires_at: 100,
        };
        assert_eq!(e.remaining(40), 60);
        assert!(!e.expired(99));
        assert!(e.expired(100));
    }
}
