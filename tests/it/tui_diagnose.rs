//! Key-sequence tests of the diagnosis panes on the demo platform: the problems pane,
//! the pod view and the logs view.

use sphere::domain::problems::ProblemKind;
use sphere::tui::command::{Command, ScopeArg};
use sphere::tui::harness::Harness;
use sphere::tui::model::{Route, Tab};

async fn demo() -> Harness {
    Harness::demo(120, 40).await.expect("demo platform opens")
}

#[tokio::test]
async fn tui_problems_pane_names_the_crash_looping_pod_worst_first() {
    let mut h = demo().await;
    h.keys("7");
    assert_eq!(h.model.tab, Tab::Problems);
    let rows = h.model.problem_rows().to_vec();
    let first = rows.first().expect("the demo has problems");
    assert_eq!(first.problem.kind, ProblemKind::CrashLoop, "worst first");
    let (cluster, pod) = first.pod.clone().expect("a crash loop names its pod");
    let screen = h.render();
    assert!(screen.contains("Problems"), "{screen}");
    assert!(
        screen.contains(&format!("pod {pod} crash-looping")),
        "{screen}"
    );
    assert!(screen.contains(&cluster.to_string()), "{screen}");
    assert!(screen.contains("crit"), "{screen}");
    // The same facts as `sphere problems`: every crash-looping pod of the live state.
    let crash: usize = h
        .model
        .live
        .services()
        .map(|s| s.pods(&h.model.scope).filter(|p| p.crash_looping()).count())
        .sum();
    assert_eq!(
        rows.iter()
            .filter(|r| r.problem.kind == ProblemKind::CrashLoop)
            .count(),
        crash
    );
}

#[tokio::test]
async fn tui_problems_are_recomputed_when_the_scope_changes() {
    let mut h = demo().await;
    h.keys("7");
    let all = h.model.problem_rows().len();
    h.model.run(Command::Scope(ScopeArg::Env("staging".into())));
    let dev = h.model.problem_rows().to_vec();
    assert!(dev.len() < all, "{} of {all}", dev.len());
    assert!(
        dev.iter()
            .all(|r| !r.problem.place.starts_with("production")),
        "{dev:?}"
    );
}

#[tokio::test]
async fn tui_enter_on_a_service_problem_opens_its_service_view() {
    let mut h = demo().await;
    h.keys("7");
    let rows = h.model.problem_rows().to_vec();
    let at = rows
        .iter()
        .position(|r| r.pod.is_none() && r.problem.service.is_some())
        .expect("a service's problem");
    for _ in 0..at {
        h.keys("j");
    }
    h.keys("<Enter>");
    assert_eq!(
        h.model.routes.last(),
        Some(&Route::Service(rows[at].problem.service.clone().unwrap()))
    );
}

#[tokio::test]
async fn tui_problems_filter_keeps_the_matching_rows() {
    let mut h = demo().await;
    h.keys("7");
    let all = h.model.problem_rows().len();
    h.keys("/reviews<Enter>");
    let kept = h.model.problem_rows().to_vec();
    assert!(
        !kept.is_empty() && kept.len() < all,
        "{} of {all}",
        kept.len()
    );
    assert!(kept.iter().all(|r| r.problem.what.contains("reviews")
        || r.problem.service.as_deref() == Some("reviews-service")));
    let screen = h.render();
    assert!(screen.contains("/reviews"), "{screen}");
    assert!(
        screen.contains("<Enter> deeper") || screen.contains("deeper"),
        "{screen}"
    );
}

#[tokio::test]
async fn tui_enter_on_the_crash_loop_shows_its_pod_oom_killed() {
    let mut h = demo().await;
    h.keys("7");
    let (cluster, pod) = h.model.problem_rows()[0].pod.clone().expect("a pod");
    h.keys("<Enter>");
    assert_eq!(
        h.model.routes.last(),
        Some(&Route::Pod(cluster.clone(), pod.clone()))
    );
    let view = h.model.pod_view.ready().expect("the pod was read").clone();
    assert_eq!(view.details.summary.name, pod);
    let screen = h.render();
    assert!(screen.contains(&format!("pod {pod}")), "{screen}");
    assert!(
        screen.contains("Last termination: OOMKilled (exit 137"),
        "{screen}"
    );
    assert!(screen.contains("CrashLoopBackOff"), "{screen}");
    // The events, newest first, below the containers.
    let events = view.events.as_ref().expect("the owner reads the events");
    assert!(!events.is_empty());
    assert!(events.windows(2).all(|w| w[0].at >= w[1].at));
    h.keys("G");
    let screen = h.render();
    assert!(screen.contains("Events (newest first):"), "{screen}");
    h.keys("<Esc>");
    assert_eq!(h.model.routes.last(), None);
    assert_eq!(h.model.tab, Tab::Problems);
}

#[tokio::test]
async fn tui_enter_in_the_pods_pane_opens_the_pod_view() {
    let mut h = demo().await;
    h.keys("/reviews-service<Enter>3");
    let rows = h.model.pod_rows();
    let first = (rows[0].cluster.clone(), rows[0].name.to_string());
    drop(rows);
    h.keys("<Enter>");
    assert_eq!(
        h.model.routes.last(),
        Some(&Route::Pod(first.0, first.1.clone()))
    );
    let screen = h.render();
    assert!(screen.contains("Containers:"), "{screen}");
    assert!(screen.contains("Requests:"), "{screen}");
}

/// Tick until the logs view holds a line with `text` (the stream runs in a task of its
/// own), or fail after a few seconds.
fn wait_for_line(h: &mut Harness, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        h.tick(std::time::Instant::now());
        let v = h.model.logs.as_ref().expect("the logs view is open");
        if let Some(e) = &v.error {
            panic!("the logs could not be read: {e}");
        }
        if v.lines.iter().any(|l| l.text.contains(text)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no line with {text:?}: {:?}",
            v.lines.iter().rev().take(5).collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_l_on_the_crash_loop_shows_its_logs_and_p_the_crash() {
    let mut h = demo().await;
    h.keys("7");
    let (_, pod) = h.model.problem_rows()[0].pod.clone().expect("a pod");
    h.keys("<Enter>l");
    assert_eq!(h.model.routes.last(), Some(&Route::Logs));
    wait_for_line(&mut h, "");
    let screen = h.render();
    assert!(screen.contains(&format!("logs {pod}")), "{screen}");
    assert!(screen.contains("following"), "{screen}");
    assert!(
        screen.contains("<Space> pause"),
        "the footer names the view's keys: {screen}"
    );
    // The previous container: the crash's own last lines.
    h.keys("p");
    wait_for_line(&mut h, "OutOfMemoryError");
    let screen = h.render();
    assert!(screen.contains("(previous)"), "{screen}");
    assert!(screen.contains("OutOfMemoryError"), "{screen}");
    // It opens on the crash's last lines, on a small screen too.
    h.resize(80, 24);
    let screen = h.render();
    assert!(screen.contains("OutOfMemoryError"), "at 80x24: {screen}");
    h.resize(120, 40);
    // Timestamps, pause, search.
    h.keys("t");
    assert!(h.render().contains("Z "), "timestamps shown");
    h.keys("/Starting<Enter>");
    let v = h.model.logs.as_ref().unwrap();
    assert!(!v.follow);
    assert!(
        v.lines[v.top].text.contains("Starting"),
        "{:?}",
        v.lines[v.top]
    );
    h.keys("G");
    assert!(h.model.logs.as_ref().unwrap().follow);
    h.keys("<Space>");
    assert!(h.render().contains("paused"));
    h.keys("<Esc>");
    assert!(h.model.logs.is_none(), "closing the view ends its stream");
    assert!(matches!(h.model.routes.last(), Some(Route::Pod(..))));
    // `q` goes back from the logs too (as from every nested view), never quits.
    h.keys("l");
    assert_eq!(h.model.routes.last(), Some(&Route::Logs));
    h.keys("q");
    assert!(!h.quit, "q in the logs view quit sphere");
    assert!(matches!(h.model.routes.last(), Some(Route::Pod(..))));
    h.keys("q");
    assert!(!h.quit, "q in the pod view quit sphere");
    assert!(h.model.routes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_service_logs_merge_every_pod_with_a_source_prefix() {
    let mut h = demo().await;
    h.keys("/reviews-service<Enter><Enter>");
    assert!(matches!(h.model.routes.last(), Some(Route::Service(_))));
    h.keys("l");
    let v = h.model.logs.as_ref().expect("the logs view");
    let pods = v.req.sources.len();
    assert!(pods > 1, "{pods} pods");
    let regions: std::collections::BTreeSet<_> = v
        .req
        .sources
        .iter()
        .map(|(c, _)| c.region.clone())
        .collect();
    assert!(regions.len() > 1, "{regions:?}");
    wait_for_line(&mut h, "");
    let screen = h.render();
    assert!(screen.contains(&format!("{pods} pods")), "{screen}");
    // Each line names its source: region (and environment) and the pod's suffix.
    let first = h.model.logs.as_ref().unwrap().lines[0].clone();
    assert!(
        screen.contains(&first.source(true)) || screen.contains(&first.source(false)),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_a_non_owner_in_production_is_refused_the_logs_and_offered_access() {
    let mut h = demo().await;
    // An admin acting as someone outside the owning group (`--as`).
    h.model.user = "nobody.outside".into();
    h.model.impersonator = Some("you".into());
    h.keys("7");
    let row = h.model.problem_rows()[0].clone();
    assert!(row.problem.place.starts_with("production"), "{row:?}");
    h.keys("l");
    let v = h.model.logs.as_ref().expect("the logs view");
    let error = v.error.clone().expect("refused");
    assert!(error.contains("refused"), "{error}");
    assert!(v.lines.is_empty());
    // The access request is offered on the spot, for read-logs.
    let overlay = format!("{:?}", h.model.top());
    assert!(overlay.contains("ReadLogs"), "{overlay}");
    let audit = futures::executor::block_on(h.sim.platform().ledger.audit(None)).expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "logs.read"
            && a.actor.contains("nobody.outside")
            && matches!(a.outcome, sphere::domain::Outcome::Refused(_))),
        "{audit:?}"
    );
}
