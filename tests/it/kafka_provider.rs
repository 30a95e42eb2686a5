//! The Kafka provider (flags and the audit trail) against a real broker (tansu) on
//! loopback, through rdkafka. The test plays each cluster's flag agent with the same
//! client: it reads the commands and publishes state records.

use std::time::{Duration, Instant};

use crate::common::kafka::{Agent, TIMEOUT, config, create_topics, read_raw, state};
use crate::common::peers;
use sphere::backend::kafka::{KafkaAudit, KafkaFlags, SPOOL_FILE};
use sphere::backend::{AuditStore, FlagsProvider};
use sphere::domain::{ClusterId, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_change_is_pending_until_each_cluster_acknowledges_it() {
    let cfg = config(peers::kafka(), &peers::unique("flags"));
    create_topics(&cfg).await;
    let eu = ClusterId::new("production", "eu-west-1");
    let us = ClusterId::new("production", "us-east-1");
    let other = ClusterId::new("staging", "elsewhere");
    let flags = KafkaFlags::new(&cfg, vec![eu.clone(), us.clone()]).expect("flags");
    let agent = Agent::new(&cfg);
    // Each cluster publishes what it runs; one cluster is not this platform's.
    agent.publish(&state("checkout", &eu, "off", 0, None)).await;
    agent.publish(&state("checkout", &us, "off", 0, None)).await;
    agent
        .publish(&state("checkout", &other, "on", 100, None))
        .await;

    let listed = flags.list().await.expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|f| f.value == "off" && f.pending.is_none())
    );

    flags
        .set("checkout", "on", Some(50), None)
        .await
        .expect("set everywhere");
    let sent = agent.commands().await;
    assert_eq!(sent.len(), 1);
    let (key, cmd) = &sent[0];
    assert_eq!(key, "checkout", "commands are keyed by flag");
    assert_eq!((cmd.value.as_str(), cmd.percentage), ("on", Some(50)));
    assert_eq!(
        cmd.clusters,
        vec!["production/eu-west-1", "production/us-east-1"]
    );
    assert!(cmd.sent_at > 0 && !cmd.id.is_empty());

    let listed = flags.list().await.expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for f in &listed {
        let p = f.pending.as_ref().expect("pending until acknowledged");
        assert_eq!((p.value.as_str(), p.percentage), ("on", 50));
        assert_eq!(f.value, "off", "still what the cluster runs");
    }

    // Only eu applies it and acknowledges.
    agent
        .publish(&state("checkout", &eu, "on", 50, Some(&cmd.id)))
        .await;
    let listed = flags.list().await.expect("list");
    let by = |c: &ClusterId| listed.iter().find(|f| &f.cluster == c).expect("cluster");
    assert_eq!(by(&eu).value, "on");
    assert_eq!(by(&eu).percentage, 50);
    assert_eq!(by(&eu).pending, None, "eu acknowledged");
    assert_eq!(by(&us).value, "off");
    assert!(by(&us).pending.is_some(), "us has not acknowledged");

    // A change to one cluster keeps its percentage.
    flags
        .set("checkout", "off", None, Some(&us))
        .await
        .expect("set one");
    let listed = flags.list().await.expect("list");
    let by = |c: &ClusterId| listed.iter().find(|f| &f.cluster == c).expect("cluster");
    let p = by(&us).pending.clone().expect("pending");
    assert_eq!((p.value.as_str(), p.percentage), ("off", 0));
    assert_eq!(by(&eu).pending, None, "eu was not targeted");
    let sent = agent.commands().await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].1.clusters, vec!["production/us-east-1"]);

    // us acknowledges the older command only: the newer one is still pending.
    agent
        .publish(&state("checkout", &us, "on", 50, Some(&cmd.id)))
        .await;
    let listed = flags.list().await.expect("list");
    let us_now = listed.iter().find(|f| f.cluster == us).expect("us");
    assert_eq!(us_now.value, "on");
    assert_eq!(
        us_now.pending.as_ref().map(|p| p.value.as_str()),
        Some("off")
    );
    agent
        .publish(&state("checkout", &us, "off", 50, Some(&sent[1].1.id)))
        .await;
    let listed = flags.list().await.expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|f| f.pending.is_none()), "{listed:?}");

    let e = flags.set("nope", "on", None, None).await.unwrap_err();
    assert!(e.to_string().contains("no flag nope"), "{e:#}");
    let e = flags
        .set("checkout", "on", None, Some(&other))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no flag checkout in staging/elsewhere"),
        "{e:#}"
    );
    assert_eq!(agent.commands().await.len(), 2, "nothing sent on an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_are_read_back_and_folded_by_id() {
    let cfg = config(peers::kafka(), &peers::unique("audit"));
    create_topics(&cfg).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = KafkaAudit::new(&cfg, dir.path().join("a").join(SPOOL_FILE)).expect("a");
    let b = KafkaAudit::new(&cfg, dir.path().join("b").join(SPOOL_FILE)).expect("b");

    let id1 = a
        .append_audit("ada", "lock", "cart", Some("release"), Outcome::Started)
        .await
        .expect("append");
    let id2 = a
        .append_audit("ada", "unlock", "cart", None, Outcome::Started)
        .await
        .expect("append");
    assert!(id2 > id1, "ids increase within a process");
    a.set_audit_outcome(id1, Outcome::Succeeded)
        .await
        .expect("outcome");
    let id3 = b
        .append_audit("bob", "restart", "payments", None, Outcome::Started)
        .await
        .expect("append from another process");
    assert!(id3 != id1 && id3 != id2);

    // b never wrote id1: it reads it back from the topic, and can set its outcome.
    b.set_audit_outcome(id1, Outcome::Failed("boom".into()))
        .await
        .expect("outcome of another process's record");
    let fresh = KafkaAudit::new(&cfg, dir.path().join("c").join(SPOOL_FILE)).expect("c");
    let all = fresh.audit(None).await.expect("read back");
    let ids: Vec<u64> = all.iter().map(|r| r.id).collect();
    let mut want = vec![id1, id2, id3];
    want.sort_unstable();
    assert_eq!(ids, want, "each record once, by id");
    let r1 = &all[ids.iter().position(|i| *i == id1).unwrap()];
    assert_eq!(
        r1.outcome,
        Outcome::Failed("boom".into()),
        "last write wins"
    );
    assert_eq!(r1.reason.as_deref(), Some("release"));
    assert_eq!((r1.actor.as_str(), r1.target.as_str()), ("ada", "cart"));

    let raw = read_raw(&cfg.properties["bootstrap.servers"], &cfg.audit_topic);
    assert_eq!(raw.len(), 5, "three appends and two outcomes");
    assert_eq!(raw[0].0, id1.to_string(), "keyed by id");

    let future = chrono::Utc::now().timestamp() + 3600;
    assert!(fresh.audit(Some(future)).await.expect("since").is_empty());
    assert_eq!(a.audit(Some(0)).await.expect("since").len(), 3);
    let e = a
        .set_audit_outcome(42, Outcome::Succeeded)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no audit record #42"), "{e:#}");
    assert!(
        !dir.path().join("a").join(SPOOL_FILE).exists(),
        "nothing spooled"
    );
}

/// Polls `f` until it is true, for at most `limit`.
async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_spools_while_the_broker_is_down_and_replays_exactly_once() {
    let mut broker = peers::OwnedBroker::start(peers::free_port());
    let cfg = config(&broker.addr(), &peers::unique("spool"));
    create_topics(&cfg).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join(SPOOL_FILE);
    let audit = KafkaAudit::new(&cfg, &spool).expect("audit");
    let bound = Duration::from_secs(TIMEOUT + 2);

    let before = audit
        .append_audit("ada", "lock", "cart", None, Outcome::Succeeded)
        .await
        .expect("append");
    assert!(!spool.exists(), "delivered, not spooled");

    broker.stop();
    let start = Instant::now();
    let b = audit
        .append_audit("ada", "lock-all", "*", Some("incident"), Outcome::Started)
        .await
        .expect("spooled append");
    let c = audit
        .append_audit("bob", "restart", "payments", None, Outcome::Started)
        .await
        .expect("spooled append");
    audit
        .set_audit_outcome(b, Outcome::Succeeded)
        .await
        .expect("spooled outcome");
    assert!(
        start.elapsed() < bound,
        "three writes during an outage took {:?}",
        start.elapsed()
    );
    let journal: Vec<(u64, Outcome)> = audit
        .journal()
        .expect("journal")
        .into_iter()
        .map(|r| (r.id, r.outcome))
        .collect();
    assert_eq!(
        journal,
        vec![
            (b, Outcome::Started),
            (c, Outcome::Started),
            (b, Outcome::Succeeded)
        ]
    );

    // While down: what this process knows and the journal still show.
    let start = Instant::now();
    let shown = audit.audit(None).await.expect("audit while down");
    assert!(start.elapsed() < bound * 2, "took {:?}", start.elapsed());
    let ids: Vec<u64> = shown.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![before, b, c]);
    assert_eq!(shown[1].outcome, Outcome::Succeeded);
    let snapshot = std::fs::read(&spool).expect("journal file");
    // The panes and `sphere audit` say what waits, and why.
    let backlog = audit
        .backlog()
        .await
        .expect("backlog")
        .expect("records wait");
    assert!(
        backlog.contains("2 audit record(s) wait in") && backlog.contains("Kafka"),
        "{backlog}"
    );

    // The broker returns (memory storage: empty, so its topic is created again).
    broker.resume();
    create_topics(&cfg).await;
    // The next append that reaches the broker replays the journal first. (The client
    // may need a moment to reconnect: an append before that is journaled too.)
    let mut after = Vec::new();
    let start = Instant::now();
    while after.is_empty() || spool.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the journal was not replayed"
        );
        wait_until("the back-off to end", bound, || !audit.backing_off()).await;
        after.push(
            audit
                .append_audit("cy", "unlock-all", "*", None, Outcome::Started)
                .await
                .expect("append after the outage"),
        );
    }
    assert_eq!(
        audit.backlog().await.expect("backlog"),
        None,
        "nothing waits"
    );
    let raw = read_raw(&broker.addr(), &cfg.audit_topic);
    let keys: Vec<String> = raw.iter().map(|(k, _)| k.clone()).collect();
    let mut want = vec![b.to_string(), c.to_string(), b.to_string()];
    want.extend(after.iter().map(u64::to_string));
    assert_eq!(
        keys, want,
        "replayed in order, once, before the new records"
    );

    // A replay cut short: the records went out but the journal was not trimmed (the
    // process died). The next process sends them again; the fold hides the copies.
    std::fs::write(&spool, &snapshot).expect("restore the journal");
    let next = KafkaAudit::new(&cfg, &spool).expect("next process");
    let shown = next.audit(None).await.expect("audit after replay");
    assert!(!spool.exists(), "replayed on audit()");
    let raw = read_raw(&broker.addr(), &cfg.audit_topic);
    assert_eq!(
        raw.len(),
        want.len() + 3,
        "the journal was sent a second time"
    );
    let ids: Vec<u64> = shown.iter().map(|r| r.id).collect();
    let mut once = vec![b, c];
    once.extend(&after);
    assert_eq!(ids, once, "each record exactly once");
    assert_eq!(shown[0].outcome, Outcome::Succeeded, "b's last write wins");
    assert_eq!(shown[1].outcome, Outcome::Started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_down_or_silent_fails_within_the_timeout() {
    for addr in [peers::closed_addr(), peers::silent_addr()] {
        let cfg = config(&addr.to_string(), "down");
        let flags = KafkaFlags::new(&cfg, vec![]).expect("flags");
        let start = Instant::now();
        let e = flags.list().await.expect_err("no broker");
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(TIMEOUT + 1),
            "{addr}: failed after {took:?}"
        );
        let msg = format!("{e:#}");
        assert!(
            msg.contains(&addr.to_string())
                && (msg.contains("down.state") || msg.contains("down.commands")),
            "the error names the broker and the topic: {msg}"
        );

        // The audit trail spools, and shows the journal while the broker is away.
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = KafkaAudit::new(&cfg, dir.path().join(SPOOL_FILE)).expect("audit");
        let start = Instant::now();
        let id = audit
            .append_audit("ada", "lock", "cart", None, Outcome::Started)
            .await
            .expect("spooled");
        assert!(start.elapsed() < Duration::from_secs(TIMEOUT + 2));
        let shown = audit.audit(None).await.expect("the journal shows");
        assert_eq!(shown.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id]);
        let fresh = KafkaAudit::new(&cfg, dir.path().join("other.jsonl")).expect("audit");
        let e = fresh.audit(None).await.expect_err("nothing to show");
        assert!(format!("{e:#}").contains("down.audit"), "{e:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_kafka_gets_the_kafka_flags_and_audit_trail() {
    let addr = peers::closed_addr();
    let src = format!(
        "[[clusters]]\nregion = \"eu-west-1\"\nenv = \"production\"\n\n\
         [kafka]\nproperties = {{ \"bootstrap.servers\" = \"{addr}\" }}\n\
         flag_state_topic = \"cfg.state\"\ntimeout_seconds = 1\n"
    );
    let (config, problems) =
        sphere::config::Config::from_str_at(std::path::Path::new("config.toml"), &src);
    assert!(problems.is_empty(), "{problems:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let platform = sphere::backend::configured::build(&config, dir.path())
        .await
        .expect("platform");
    let e = platform.flags.list().await.expect_err("no broker");
    assert!(
        format!("{e:#}").contains(&addr.to_string()),
        "the Kafka flags provider answers, not `not configured`: {e:#}"
    );
    platform
        .ledger
        .append_audit("ada", "lock", "cart", None, Outcome::Started)
        .await
        .expect("spooled");
    assert!(
        dir.path().join(SPOOL_FILE).is_file(),
        "the journal lives in the data dir"
    );
}
