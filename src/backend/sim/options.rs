//! How the demo platform is opened: its [`Scale`], its [`SimOptions`] and the
//! topology a scale makes.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::domain::Topology;

/// How big the demo platform is. `None` keeps the demo's natural size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scale {
    pub services: Option<usize>,
    pub clusters: Option<usize>,
    pub pods: Option<usize>,
}

impl Scale {
    /// Parse `services=10000,clusters=60,pods=50000` (any subset, any order).
    pub fn parse(s: &str) -> Result<Scale, String> {
        let mut scale = Scale::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "`{part}`: expected key=value (services, clusters or pods)"
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            let n: usize = value
                .parse()
                .map_err(|_| format!("`{part}`: `{value}` is not a whole number"))?;
            if n == 0 {
                return Err(format!("`{part}`: must be at least 1"));
            }
            let slot = match key {
                "services" => &mut scale.services,
                "clusters" => &mut scale.clusters,
                "pods" => &mut scale.pods,
                _ => {
                    return Err(format!(
                        "`{part}`: unknown key `{key}` (expected services, clusters or pods)"
                    ));
                }
            };
            if slot.is_some() {
                return Err(format!("`{part}`: `{key}` is given twice"));
            }
            *slot = Some(n);
        }
        Ok(scale)
    }
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Scale, String> {
        Scale::parse(s)
    }
}

/// How to open the demo platform.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    pub scale: Scale,
    /// Clock speed: 1.0 ticks every 2 s, 0 never ticks by itself.
    pub pace: f64,
    /// Where the durable state lives; `None` keeps everything in memory.
    pub state_path: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 42,
            scale: Scale::default(),
            pace: 1.0,
            state_path: None,
        }
    }
}

const REAL_REGIONS: &[&str] = &[
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-west-2",
    "eu-central-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
    "eu-north-1",
    "ap-south-1",
    "us-east-2",
    "eu-west-2",
    "ap-southeast-1",
    "ap-northeast-2",
    "eu-west-3",
    "us-west-1",
    "af-south-1",
    "me-south-1",
];

/// Three environments; three regions, or ceil(clusters / 3) at scale.
pub(crate) fn topology_for(scale: &Scale) -> Topology {
    let n = scale.clusters.map(|c| c.div_ceil(3)).unwrap_or(3).max(1);
    let regions = (0..n)
        .map(|i| {
            REAL_REGIONS
                .get(i)
                .map(|r| r.to_string())
                .unwrap_or_else(|| format!("region-{}", i + 1))
        })
        .collect();
    Topology {
        regions,
        environments: vec!["dev".into(), "staging".into(), "production".into()],
        ..Default::default()
    }
}
