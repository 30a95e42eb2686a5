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
