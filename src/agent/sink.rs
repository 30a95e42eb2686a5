//! What the webhook has been told, kept durably so that a restart neither loses an alert
//! nor sends one twice. Pure: no I/O.
//!
//! The findings topic is the queue: every finding record the webhook must hear of is
//! there (the latest per id) before it is POSTed. Beside them, under the key
//! [`SINK_KEY`], one record says what the webhook has taken: per open finding id, the
//! fingerprint of the record it was last told. It is rewritten after each delivery, so
//! on a start the alerts still owed are the topic's latest records whose fingerprint the
//! sink record does not hold (at least once: a crash between a POST and the rewrite
//! sends that one alert again; nothing else is sent twice).
//!
//! A finding that cleared is dropped from the sink record once its `cleared` was told,
//! and a `cleared` whose finding was never told is not told either: the record stays as
//! small as the open findings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::findings::{FindingRecord, FindingState};

/// The key of the webhook's sink record in the findings topic.
pub const SINK_KEY: &str = "sink/webhook";

/// The findings topic's keys that are no finding (the sinks' records).
pub fn is_sink_key(key: &str) -> bool {
    key.starts_with("sink/")
}

/// The sink record: what the webhook was told, by finding id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// Finding id → [`fingerprint`] of the record last told (POSTed, or counted in a
    /// rate-limit summary).
    pub told: BTreeMap<String, String>,
}

/// The record's state, time and content, without the silence mark (a silenced record
/// told when its silence ends is the same record).
pub fn fingerprint(r: &FindingRecord) -> String {
    let body = serde_json::to_vec(&(&r.state, &r.finding, r.at)).unwrap_or_default();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let state = match r.state {
        FindingState::Appeared => "appeared",
        FindingState::Changed => "changed",
        FindingState::Cleared => "cleared",
    };
    format!("{state}@{}#{hex}", r.at)
}

impl Delivered {
    /// Whether the webhook has taken `r` already.
    pub fn has(&self, r: &FindingRecord) -> bool {
        self.told.get(&r.finding.id) == Some(&fingerprint(r))
    }

    /// `r` was told (or counted in a summary, or will never be: a clearing while
    /// silenced): an open finding is remembered, a cleared one forgotten.
    pub fn mark(&mut self, r: &FindingRecord) {
        if r.state == FindingState::Cleared {
            self.told.remove(&r.finding.id);
        } else {
            self.told.insert(r.finding.id.clone(), fingerprint(r));
        }
    }

    /// Every finding record as told already: the start from a findings topic written
    /// before there was a sink record (an older agent told them, or no webhook was set).
    pub fn baseline<'a>(records: impl IntoIterator<Item = &'a FindingRecord>) -> Delivered {
        let mut d = Delivered::default();
        for r in records {
            d.mark(r);
        }
        d
    }

    /// The alerts still owed, oldest first, from the topic's latest records: not told
    /// yet, not silenced (a silenced one waits for its silence to end), and not a
    /// `cleared` of a finding never told.
    pub fn owed<'a>(
        &self,
        latest: impl IntoIterator<Item = &'a FindingRecord>,
    ) -> Vec<FindingRecord> {
        let mut out: Vec<FindingRecord> = latest
            .into_iter()
            .filter(|r| r.silenced.is_none() && !self.has(r))
            .filter(|r| r.state != FindingState::Cleared || self.told.contains_key(&r.finding.id))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.at, &a.finding.id).cmp(&(b.at, &b.finding.id)));
        out
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::findings::{Finding, FindingKind};

    fn rec(id: &str, state: FindingState, at: i64, silenced: bool) -> FindingRecord {
        FindingRecord {
            state,
            finding: Finding {
                id: id.into(),
                kind: FindingKind::Version,
                subject: "pay".into(),
                env: "production".into(),
                regions: vec!["eu-west-1".into()],
                detail: "d".into(),
            },
            at,
            silenced: silenced.then(|| "version/* (by a until t: r)".to_string()),
        }
    }

    #[test]
    fn what_is_owed_is_what_the_topic_holds_and_the_sink_record_does_not() {
        let a = rec("version/a/production", FindingState::Appeared, 10, false);
        let b = rec("version/b/production", FindingState::Appeared, 5, false);
        let mut d = Delivered::default();
        // Nothing told: both owed, oldest first.
        let owed: Vec<String> = d
            .owed([&a, &b])
            .iter()
            .map(|r| r.finding.id.clone())
            .collect();
        assert_eq!(owed, vec!["version/b/production", "version/a/production"]);
        d.mark(&b);
        assert_eq!(d.owed([&a, &b]), vec![a.clone()]);
        d.mark(&a);
        assert!(d.owed([&a, &b]).is_empty());
        // The same id told again later (changed): owed again.
        let a2 = rec("version/a/production", FindingState::Changed, 11, false);
        assert_eq!(d.owed([&a2, &b]), vec![a2.clone()]);
        // Survives the round trip through the topic.
        let back: Delivered = serde_json::from_slice(&d.to_json()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn a_cleared_finding_is_told_only_when_it_was_told_open_and_then_forgotten() {
        let mut d = Delivered::default();
        let open = rec("flag/x/production", FindingState::Appeared, 1, false);
        let gone = rec("flag/x/production", FindingState::Cleared, 2, false);
        assert!(
            d.owed([&gone]).is_empty(),
            "never told open: nothing to resolve"
        );
        d.mark(&open);
        assert_eq!(d.owed([&gone]), vec![gone.clone()]);
        d.mark(&gone);
        assert!(
            d.told.is_empty(),
            "a cleared finding is forgotten once told"
        );
        assert!(d.owed([&gone]).is_empty());
    }

    #[test]
    fn a_silenced_record_is_not_owed_and_the_same_record_told_later_matches() {
        let mut d = Delivered::default();
        let held = rec(
            "git/pay/production/eu-west-1",
            FindingState::Appeared,
            3,
            true,
        );
        assert!(d.owed([&held]).is_empty());
        let mut told = held.clone();
        told.silenced = None;
        d.mark(&told);
        assert!(
            d.has(&held),
            "the silence mark is not part of the fingerprint"
        );
        let base = Delivered::baseline([&held, &rec("v/x", FindingState::Cleared, 1, false)]);
        assert_eq!(base.told.len(), 1);
    }
}
