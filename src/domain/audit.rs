//! Capability C13: reading the audit trail back — durations such as `30m` or `7d`, and
//! filters by time and text. Pure.

use super::platform::{AuditRecord, Details, Outcome, Timestamp};

/// Parse a duration: a positive whole number and a unit, `s` (seconds), `m` (minutes),
/// `h` (hours), `d` (days) or `w` (weeks): `30m`, `2h`, `7d`, `1w`. Returns seconds.
/// The error names the value.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "{s:?} is not a duration: use a number and a unit s, m, h, d or w (30m, 2h, 7d, 1w)"
        )
    };
    let unit = t.chars().last().ok_or_else(bad)?;
    let per: i64 = match unit.to_ascii_lowercase() {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(bad()),
    };
    let digits = &t[..t.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!(
            "{s:?} is not a duration: it must be more than zero"
        ));
    }
    n.checked_mul(per)
        .ok_or_else(|| format!("{s:?} is too long a duration"))
}

/// What to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Keep records at or after this time.
    pub since: Option<Timestamp>,
    /// Keep records whose actor, action, target, reason, outcome or details contain
    /// this text (case-insensitive).
    pub text: Option<String>,
}

impl AuditFilter {
    /// `since` as "this long before `now`".
    pub fn within(now: Timestamp, seconds: i64) -> AuditFilter {
        AuditFilter {
            since: Some(now.saturating_sub(seconds)),
            text: None,
        }
    }

    pub fn matches(&self, r: &AuditRecord) -> bool {
        if self.since.is_some_and(|t| r.at < t) {
            return false;
        }
        let Some(needle) = self.text.as_deref().map(str::to_lowercase) else {
            return true;
        };
        if needle.is_empty() {
            return true;
        }
        let outcome = outcome_text(&r.outcome);
        let change = change_text(&r.details);
        [
            r.actor.as_str(),
            r.action.as_str(),
            r.target.as_str(),
            r.reason.as_deref().unwrap_or(""),
            outcome.as_str(),
            change.as_str(),
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(&needle))
    }
}

/// What a record says changed, for people, in one line: a `NAME.from`/`NAME.to` pair
/// reads `NAME from → to`, any other detail `NAME: value`, joined by `; `
/// (`version 1.4.2 → 1.4.1; override: bob (INC-12)`). Empty when there are none.
pub fn change_text(details: &Details) -> String {
    let mut parts = Vec::new();
    for (k, v) in details {
        if let Some(name) = k.strip_suffix(".from") {
            let to = details
                .get(&format!("{name}.to"))
                .map(String::as_str)
                .unwrap_or("?");
            parts.push(format!("{name} {v} → {to}"));
        } else if let Some(name) = k.strip_suffix(".to") {
            if !details.contains_key(&format!("{name}.from")) {
                parts.push(format!("{name} → {v}"));
            }
        } else {
            parts.push(format!("{k}: {v}"));
        }
    }
    parts.join("; ")
}

/// `succeeded`, `failed: why`, ...
pub fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Started => "started".into(),
        Outcome::Succeeded => "succeeded".into(),
        Outcome::Failed(why) => format!("failed: {why}"),
        Outcome::Refused(why) => format!("refused: {why}"),
        Outcome::Interrupted(why) => format!("interrupted: {why}"),
    }
}

/// The records the filter keeps, newest first (by time, then id).
pub fn filter(records: &[AuditRecord], f: &AuditFilter) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = records.iter().filter(|r| f.matches(r)).cloned().collect();
    out.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("2h"), Ok(7_200));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("1w"), Ok(604_800));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration(" 3D "), Ok(259_200));
    }

    #[test]
    fn bad_durations_name_the_value() {
        for bad in [
            "", "m", "30", "-5m", "1.5h", "7 days", "3y", "ab", "0m", "+1h", "1é",
        ] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert!(parse_duration("99999999999999999w").is_err());
    }

    fn rec(id: u64, at: Timestamp, action: &str, outcome: Outcome) -> AuditRecord {
        AuditRecord {
            id,
            at,
            actor: "ada".into(),
            action: action.into(),
            target: format!("svc-{id}@production/us-east-1"),
            reason: Some("INC-1".into()),
            outcome,
            details: Details::new(),
        }
    }

    #[test]
    fn change_text_pairs_from_and_to() {
        let d: Details = [
            ("version.from", "1.4.2"),
            ("version.to", "1.4.1"),
            ("override", "bob (INC-12)"),
            ("hpa.to", "3..12"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            change_text(&d),
            "hpa → 3..12; override: bob (INC-12); version 1.4.2 → 1.4.1"
        );
        assert_eq!(change_text(&Details::new()), "");
        let mut r = rec(1, 1, "deployment.rollback", Outcome::Succeeded);
        r.details = d;
        let f = AuditFilter {
            since: None,
            text: Some("1.4.1".into()),
        };
        assert!(f.matches(&r), "details are searched");
    }

    #[test]
    fn filters_by_time_and_text_newest_first() {
        let rs = vec![
            rec(1, 100, "lock.add", Outcome::Succeeded),
            rec(2, 200, "secret.update", Outcome::Failed("Timeout".into())),
            rec(3, 300, "flag.set", Outcome::Succeeded),
        ];
        let ids = |v: Vec<AuditRecord>| v.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(filter(&rs, &AuditFilter::default())), vec![3, 2, 1]);
        assert_eq!(ids(filter(&rs, &AuditFilter::within(350, 150))), vec![3, 2]);
        let text = |t: &str| AuditFilter {
            since: None,
            text: Some(t.into()),
        };
        assert_eq!(ids(filter(&rs, &text("SECRET"))), vec![2]);
        assert_eq!(ids(filter(&rs, &text("timeout"))), vec![2]);
        assert_eq!(ids(filter(&rs, &text("svc-1@"))), vec![1]);
        assert_eq!(ids(filter(&rs, &text("nope"))), Vec::<u64>::new());
    }
}
