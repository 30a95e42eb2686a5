//! The logs of many pods as one stream (C18): every pod of a service, across pods,
//! clusters and regions, merged in time order, each line carrying its source. For the
//! CLI (printed as it comes) and a pane (through [`into_channel`], a bounded channel
//! read without ever blocking the UI loop).

use std::sync::Arc;

use anyhow::Result;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc;

use super::ClusterProvider;
use crate::domain::ClusterId;
use crate::domain::pod::{LogLine, LogQuery};

/// How many pods are opened at once.
const CONCURRENCY: usize = 16;

/// One pod to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub cluster: ClusterId,
    pub pod: String,
}

/// The lines of every source, merged: first what each has written (with `query.tail`
/// and `query.since_seconds` per pod) in time order; then, with `query.follow`, each
/// pod's new lines as they come (each pod resuming right after its last line told, so
/// nothing is told twice). A source that cannot be read is told as a
/// [`LogLine::notice`] in its place; an `Err` only when no source could be read.
pub async fn merged(
    clusters: Arc<dyn ClusterProvider>,
    sources: Vec<LogSource>,
    query: LogQuery,
) -> Result<BoxStream<'static, LogLine>> {
    let backlog_query = LogQuery {
        follow: false,
        ..query.clone()
    };
    let opened: Vec<(LogSource, Result<Vec<LogLine>>)> = stream::iter(sources)
        .map(|s| {
            let clusters = clusters.clone();
            let q = backlog_query.clone();
            async move {
                let r = match clusters.logs(&s.cluster, &s.pod, &q).await {
                    Ok(lines) => Ok(lines.collect::<Vec<_>>().await),
                    Err(e) => Err(e),
                };
                (s, r)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    if !opened.is_empty() && opened.iter().all(|(_, r)| r.is_err()) {
        let first = opened.into_iter().find_map(|(s, r)| {
            r.err().map(|e| {
                e.context(format!(
                    "reading the logs of pod {} in {}",
                    s.pod, s.cluster
                ))
            })
        });
        if let Some(e) = first {
            return Err(e);
        }
        anyhow::bail!("no logs could be read");
    }
    let mut lines = Vec::new();
    let mut readable = Vec::new();
    for (s, r) in opened {
        match r {
            Ok(l) => {
                let last = l.last().map(|l| l.at_ns);
                lines.extend(l);
                readable.push((s, last));
            }
            Err(e) => lines.push(LogLine::notice(
                0,
                &s.cluster,
                &s.pod,
                &format!("the logs of pod {} cannot be read: {e:#}", s.pod),
            )),
        }
    }
    // Stable: one pod's lines keep their order when two share a timestamp.
    lines.sort_by_key(|l| l.at_ns);
    let backlog = stream::iter(lines);
    if !query.follow || query.previous {
        return Ok(backlog.boxed());
    }
    let mut follows = Vec::new();
    for (s, last) in readable {
        let q = LogQuery {
            follow: true,
            after_ns: last.or(query.after_ns),
            // Nothing told yet for this pod: only what it writes from now on.
            tail: if last.is_none() { Some(0) } else { None },
            since_seconds: None,
            ..query.clone()
        };
        match clusters.logs(&s.cluster, &s.pod, &q).await {
            Ok(st) => follows.push(st),
            Err(e) => follows.push(
                stream::iter([LogLine::notice(
                    0,
                    &s.cluster,
                    &s.pod,
                    &format!("following pod {} failed: {e:#}", s.pod),
                )])
                .boxed(),
            ),
        }
    }
    Ok(backlog.chain(stream::select_all(follows)).boxed())
}

/// Hand a stream's lines to a bounded channel from a task of their own (for a pane:
/// the loop drains what is there with `try_recv`, never waiting). When the reader is
/// slower than the stream the task waits, so memory stays bounded; it ends when the
/// stream does or the receiver is dropped.
pub fn into_channel(
    mut lines: BoxStream<'static, LogLine>,
    capacity: usize,
) -> (mpsc::Receiver<LogLine>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let task = tokio::spawn(async move {
        while let Some(l) = lines.next().await {
            if tx.send(l).await.is_err() {
                break;
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{Sim, SimOptions};
    use crate::domain::Scope;

    fn demo() -> Sim {
        let catalog = crate::backend::catalog::demo_catalog();
        // The clock stopped, so two reads see the same lines.
        Sim::open_at(
            SimOptions {
                pace: 0.0,
                ..SimOptions::default()
            },
            catalog,
            Some(1_796_306_400_000),
        )
        .expect("demo")
    }

    #[tokio::test]
    async fn every_pod_of_a_service_merges_in_time_order_across_regions() {
        let sim = demo();
        let platform = sim.platform();
        let snap = platform
            .clusters
            .snapshot(&Scope {
                env: Some("production".into()),
                region: None,
            })
            .await
            .unwrap();
        let service = &snap.deployments[0].service;
        let sources: Vec<LogSource> = snap
            .pods
            .iter()
            .filter(|p| &p.service == service)
            .map(|p| LogSource {
                cluster: p.cluster.clone(),
                pod: p.name.clone(),
            })
            .collect();
        assert!(sources.len() > 1, "a service with several pods");
        let query = LogQuery {
            tail: Some(5),
            ..LogQuery::default()
        };
        let lines: Vec<LogLine> = merged(platform.clusters.clone(), sources.clone(), query)
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(lines.len(), sources.len() * 5);
        assert!(lines.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
        let pods: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.pod.as_str()).collect();
        assert_eq!(pods.len(), sources.len());
        // A pane reads the same through a channel.
        let st = merged(
            platform.clusters.clone(),
            sources,
            LogQuery {
                tail: Some(5),
                ..LogQuery::default()
            },
        )
        .await
        .unwrap();
        let (mut rx, task) = into_channel(st, 4);
        let mut got = Vec::new();
        while let Some(l) = rx.recv().await {
            got.push(l);
        }
        task.await.unwrap();
        assert_eq!(got, lines);
    }
}
