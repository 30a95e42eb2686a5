//! Capability C10: feature flags across clusters — the matrix and its drift. Pure.
//!
//! A flag is *drifted* when, inside one environment, its clusters disagree on the current
//! value or rollout percentage. Pending (sent, not yet acknowledged) changes are shown
//! beside the current value and do not count as drift: they are a change in flight.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::platform::{ClusterId, FlagState, PendingFlag, Topology};

/// One flag in one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagCell {
    pub value: String,
    pub percentage: u8,
    /// A change sent to this cluster and not yet acknowledged.
    pub pending: Option<PendingFlag>,
}

/// One flag: a cell per column of [`flag_columns`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagRow {
    pub name: String,
    pub cells: Vec<Option<FlagCell>>,
    /// Value or percentage differ across the clusters of one environment.
    pub drifted: bool,
}

/// The matrix's columns: the topology's clusters in its order, then any cluster a flag
/// names that the topology does not know (sorted).
pub fn flag_columns(flags: &[FlagState], topology: &Topology) -> Vec<ClusterId> {
    let mut cols: Vec<ClusterId> = topology.clusters().collect();
    let extra: BTreeSet<ClusterId> = flags
        .iter()
        .map(|f| f.cluster.clone())
        .filter(|c| !cols.contains(c))
        .collect();
    cols.extend(extra);
    cols
}

/// Every flag (sorted by name) with its state in each column of [`flag_columns`].
pub fn flag_matrix(flags: &[FlagState], topology: &Topology) -> Vec<FlagRow> {
    let cols = flag_columns(flags, topology);
    let mut rows: BTreeMap<&str, Vec<Option<FlagCell>>> = BTreeMap::new();
    for f in flags {
        let cells = rows
            .entry(f.name.as_str())
            .or_insert_with(|| vec![None; cols.len()]);
        if let Some(i) = cols.iter().position(|c| c == &f.cluster) {
            cells[i] = Some(FlagCell {
                value: f.value.clone(),
                percentage: f.percentage,
                pending: f.pending.clone(),
            });
        }
    }
    let drifted: BTreeSet<String> = flag_drift(flags).into_iter().map(|d| d.name).collect();
    rows.into_iter()
        .map(|(name, cells)| FlagRow {
            drifted: drifted.contains(name),
            name: name.to_string(),
            cells,
        })
        .collect()
}

/// One flag whose clusters disagree inside one environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FlagDrift {
    pub name: String,
    pub env: String,
    /// Each distinct `(value, percentage)` with the regions that have it, most common first
    /// (ties by value).
    pub variants: Vec<FlagVariant>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FlagVariant {
    pub value: String,
    pub percentage: u8,
    pub regions: Vec<String>,
}

/// Every (flag, environment) whose clusters disagree, sorted by flag then environment.
pub fn flag_drift(flags: &[FlagState]) -> Vec<FlagDrift> {
    // (name, env) -> (value, pct) -> regions
    type Variants<'a> = BTreeMap<(&'a str, u8), Vec<String>>;
    let mut by: BTreeMap<(&str, &str), Variants<'_>> = BTreeMap::new();
    for f in flags {
        by.entry((&f.name, &f.cluster.env))
            .or_default()
            .entry((&f.value, f.percentage))
            .or_default()
            .push(f.cluster.region.to_string());
    }
    let mut out = Vec::new();
    for ((name, env), variants) in by {
        if variants.len() < 2 {
            continue;
        }
        let mut vs: Vec<FlagVariant> = variants
            .into_iter()
            .map(|((value, percentage), mut regions)| {
                regions.sort();
                FlagVariant {
                    value: value.to_string(),
                    percentage,
                    regions,
                }
            })
            .collect();
        vs.sort_by(|a, b| b.regions.len().cmp(&a.regions.len()).then(a.cmp(b)));
        out.push(FlagDrift {
            name: name.to_string(),
            env: env.to_string(),
            variants: vs,
        });
    }
    out
}

/// Counts for a header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FlagSummary {
    pub flags: usize,
    pub drifted: usize,
    /// Flags with at least one unacknowledged change.
    pub pending_flags: usize,
    /// Clusters still to acknowledge a change, over all flags.
    pub pending_clusters: usize,
}

pub fn flag_summary(rows: &[FlagRow]) -> FlagSummary {
    let pending = |r: &FlagRow| {
        r.cells
            .iter()
            .flatten()
            .filter(|c| c.pending.is_some())
            .count()
    };
    FlagSummary {
        flags: rows.len(),
        drifted: rows.iter().filter(|r| r.drifted).count(),
        pending_flags: rows.iter().filter(|r| pending(r) > 0).count(),
        pending_clusters: rows.iter().map(pending).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        Topology {
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            environments: vec!["staging".into(), "production".into()],
            ..Default::default()
        }
    }

    fn flag(name: &str, env: &str, region: &str, value: &str, pct: u8) -> FlagState {
        FlagState {
            name: name.into(),
            cluster: ClusterId::new(env, region),
            value: value.into(),
            percentage: pct,
            pending: None,
            variants: Vec::new(),
        }
    }

    fn everywhere(name: &str, value: &str, pct: u8) -> Vec<FlagState> {
        topo()
            .clusters()
            .map(|c| flag(name, &c.env, &c.region, value, pct))
            .collect()
    }

    #[test]
    fn same_everywhere_is_not_drift_even_across_envs() {
        let mut f = everywhere("a", "on", 100);
        // staging differs from production: not drift (drift is inside one environment)
        for x in f.iter_mut().filter(|x| x.cluster.env == "staging") {
            x.percentage = 5;
        }
        let rows = flag_matrix(&f, &topo());
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].drifted);
        assert!(flag_drift(&f).is_empty());
    }

    #[test]
    fn percentage_or_value_difference_is_drift() {
        let mut f = everywhere("pct", "on", 25);
        f[3].percentage = 50; // production/eu-west-1
        let mut v = everywhere("val", "on", 25);
        v[0].value = "off".into(); // staging/us-east-1
        f.extend(v);
        let rows = flag_matrix(&f, &topo());
        assert!(rows.iter().all(|r| r.drifted));
        let d = flag_drift(&f);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].name.as_str(), d[0].env.as_str()),
            ("pct", "production")
        );
        assert_eq!(d[0].variants[0].percentage, 25);
        assert_eq!(d[0].variants[0].regions, vec!["us-east-1"]);
        assert_eq!(d[0].variants[1].percentage, 50);
        assert_eq!((d[1].name.as_str(), d[1].env.as_str()), ("val", "staging"));
    }

    #[test]
    fn pending_is_shown_and_is_not_drift() {
        let mut f = everywhere("a", "off", 0);
        f[2].pending = Some(PendingFlag {
            value: "on".into(),
            percentage: 100,
            sent_at: 10,
        });
        let rows = flag_matrix(&f, &topo());
        assert!(!rows[0].drifted);
        let cols = flag_columns(&f, &topo());
        assert_eq!(cols[2], ClusterId::new("production", "us-east-1"));
        let cell = rows[0].cells[2].as_ref().unwrap();
        assert_eq!(cell.value, "off");
        assert_eq!(cell.pending.as_ref().unwrap().value, "on");
        let s = flag_summary(&rows);
        assert_eq!(
            s,
            FlagSummary {
                flags: 1,
                drifted: 0,
                pending_flags: 1,
                pending_clusters: 1
            }
        );
    }

    #[test]
    fn missing_clusters_are_empty_cells_and_unknown_clusters_get_a_column() {
        let f = vec![
            flag("a", "production", "us-east-1", "on", 1),
            flag("a", "qa", "mars-1", "on", 1),
        ];
        let cols = flag_columns(&f, &topo());
        assert_eq!(cols.len(), 5);
        assert_eq!(cols[4], ClusterId::new("qa", "mars-1"));
        let rows = flag_matrix(&f, &topo());
        assert_eq!(rows[0].cells.iter().filter(|c| c.is_some()).count(), 2);
    }
}
