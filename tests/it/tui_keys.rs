//! Key-sequence tests on the demo platform: feed keys, run `update` until idle, look
//! at the model and at the screen.

use sphere::tui::catalog::{Grouping, SortColumn};
use sphere::tui::command::Command;
use sphere::tui::harness::Harness;
use sphere::tui::model::{Layer, Msg, Route, Tab};

async fn demo() -> Harness {
    Harness::demo(120, 40).await.expect("demo platform opens")
}

#[tokio::test]
async fn catalog_is_full_and_live_at_start() {
    let mut h = demo().await;
    assert!(
        h.model.cat.rows.len() >= 40,
        "demo has at least 40 components"
    );
    let synced = h.model.live.synced.len();
    assert_eq!(synced, h.model.topology.cluster_count());
    let screen = h.render();
    assert!(screen.contains("live 9 clusters"), "{screen}");
    // Live status reached the rows: something is deployed somewhere.
    assert!(h.model.cat.rows.iter().any(|r| r.live.deployments > 0));
}

#[tokio::test]
async fn filter_narrows_then_enter_keeps_and_esc_clears() {
    let mut h = demo().await;
    let all = h.model.cat.rows.len();
    h.keys("/pay");
    assert!(h.model.cat.editing);
    assert_eq!(h.model.cat.filter, "pay");
    assert!(h.model.cat.matched > 0 && h.model.cat.matched < all);
    let first = h
        .model
        .cat
        .selected_row()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    assert!(first.contains("pay"), "best match first, got {first}");
    let screen = h.render();
    assert!(
        screen.contains(&format!("{} of {all}", h.model.cat.matched)),
        "{screen}"
    );
    h.keys("<Enter>");
    assert!(!h.model.cat.editing);
    assert_eq!(h.model.cat.filter, "pay");
    h.keys("<Esc>");
    assert_eq!(h.model.cat.filter, "");
    assert_eq!(h.model.cat.matched, all);
}

#[tokio::test]
async fn filter_backspace_and_escape_while_typing() {
    let mut h = demo().await;
    h.keys("/zzzq");
    assert_eq!(h.model.cat.matched, 0);
    assert!(h.render().contains("Nothing matches"));
    h.keys("<Backspace><Backspace><Backspace><Backspace>");
    assert_eq!(h.model.cat.filter, "");
    h.keys("x<Esc>");
    assert!(!h.model.cat.editing);
    assert_eq!(h.model.cat.filter, "");
}

#[tokio::test]
async fn sort_cycles_and_reverses() {
    let mut h = demo().await;
    assert_eq!(h.model.cat.sort, SortColumn::Name);
    h.keys("s");
    assert_eq!(h.model.cat.sort, SortColumn::Owner);
    let first = h.model.cat.selected_row().cloned();
    h.keys("ggS");
    assert!(h.model.cat.reverse);
    h.keys("gg");
    let top_reversed = h.model.cat.selected_row().cloned();
    assert_ne!(first.map(|r| r.owner), top_reversed.map(|r| r.owner));
    assert!(h.render().contains("owner▲"));
}

#[tokio::test]
async fn navigation_with_vim_keys_and_arrows() {
    let mut h = demo().await;
    h.keys("jjj");
    assert_eq!(h.model.cat.selected, 3);
    h.keys("<Up>k");
    assert_eq!(h.model.cat.selected, 1);
    h.keys("G");
    assert_eq!(h.model.cat.selected, h.model.cat.view_len() - 1);
    h.keys("gg");
    assert_eq!(h.model.cat.selected, 0);
}

#[tokio::test]
async fn open_detail_then_back() {
    let mut h = demo().await;
    h.keys("/payments<Enter>");
    let name = h
        .model
        .cat
        .selected_row()
        .map(|r| r.name.clone())
        .expect("a row");
    h.keys("<Enter>");
    assert_eq!(
        h.model.routes.last(),
        Some(&Route::Service(name.to_string()))
    );
    let screen = h.render();
    assert!(screen.contains("owner"), "{screen}");
    assert!(screen.contains("running in"), "{screen}");
    assert!(screen.contains("production/"), "{screen}");
    h.keys("<Esc>");
    assert!(h.model.routes.is_empty());
    // The filter survives the trip into the detail and back.
    assert_eq!(h.model.cat.filter, "payments");
}

#[tokio::test]
async fn help_overlay_lists_keymap_descriptions() {
    let mut h = demo().await;
    h.keys("?");
    assert!(matches!(h.model.top(), Some(Layer::Help { .. })));
    let screen = h.render();
    assert!(screen.contains(" keys "), "{screen}");
    assert!(screen.to_lowercase().contains("quit"), "{screen}");
    h.keys("<Esc>");
    assert!(h.model.top().is_none());
}

#[tokio::test]
async fn palette_runs_a_command() {
    let mut h = demo().await;
    h.keys(":group owner");
    assert!(matches!(h.model.top(), Some(Layer::Palette(_))));
    h.keys("<Enter>");
    assert!(h.model.top().is_none());
    assert_eq!(h.model.cat.group, Grouping::Owner);
    assert!(h.render().contains("▾ "));
}

#[tokio::test]
async fn grouping_key_cycles() {
    let mut h = demo().await;
    h.keys("o");
    assert_eq!(h.model.cat.group, Grouping::Owner);
    h.keys("o");
    assert_eq!(h.model.cat.group, Grouping::System);
    h.keys("o");
    assert_eq!(h.model.cat.group, Grouping::None);
}

#[tokio::test]
async fn scope_changes_live_status() {
    let mut h = demo().await;
    let before: u32 = h.model.cat.rows.iter().map(|r| r.live.deployments).sum();
    h.keys("e");
    assert_eq!(h.model.scope.env.as_deref(), Some("dev"));
    let after: u32 = h.model.cat.rows.iter().map(|r| r.live.deployments).sum();
    assert!(
        after < before,
        "dev alone has fewer deployments ({after} vs {before})"
    );
    assert!(h.render().contains("dev · all regions"));
    h.keys("eee");
    assert_eq!(h.model.scope.env, None);
}

#[tokio::test]
async fn tabs_switch_by_number_and_tab() {
    let mut h = demo().await;
    h.keys("2");
    assert_eq!(h.model.tab, Tab::Deployments);
    h.keys("<Tab>");
    assert_eq!(h.model.tab, Tab::Pods);
    h.keys("<BackTab><BackTab>");
    assert_eq!(h.model.tab, Tab::Catalog);
}

#[tokio::test]
async fn live_update_reaches_the_table() {
    let mut h = Harness::demo(120, 40).await.expect("demo");
    h.render();
    // A clock step produces events; pumping them marks the model dirty only when a
    // visible status changed, and the model stays consistent.
    let mut delivered = 0;
    for _ in 0..20 {
        h.sim.tick();
        delivered += h.pump();
    }
    assert!(delivered > 0, "ticks produce watch events");
}

#[tokio::test]
async fn quit_key() {
    let mut h = demo().await;
    h.keys("q");
    assert!(h.quit);
}

#[tokio::test]
async fn terminal_too_small_says_so() {
    let mut h = Harness::demo(40, 10).await.expect("demo");
    let screen = h.render();
    assert!(screen.contains("Terminal too small (40x10)"), "{screen}");
    assert!(screen.contains("sphere needs 60x12"), "{screen}");
}

#[tokio::test]
async fn matrix_rows_follow_the_catalog_filter_and_drift_toggle() {
    let mut h = demo().await;
    h.keys("2");
    assert_eq!(h.model.tab, Tab::Deployments);
    let all = h.model.matrix_rows().len();
    assert_eq!(all, h.model.cat.rows.len());
    let screen = h.render();
    assert!(screen.contains("drifted"), "{screen}");
    h.keys("d");
    let drifted = h.model.matrix_rows().len();
    assert!(drifted > 0 && drifted < all, "{drifted} of {all}");
    h.keys("d/pay<Enter>");
    assert!(h.model.matrix_rows().len() < all);
    assert_eq!(h.model.tab, Tab::Deployments, "filtering keeps the pane");
    h.keys("j<Enter>");
    assert!(matches!(h.model.routes.last(), Some(Route::Service(_))));
}

#[tokio::test]
async fn matrix_shows_the_seeded_lock_and_scrolls_columns() {
    let mut h = demo().await;
    assert!(!h.model.locks.is_empty(), "locks were read at start");
    // The matrix opens on production (where drift matters): back to the first cluster.
    h.keys("2hhhhhhhh/payments-api<Enter>");
    let screen = h.render();
    assert!(screen.contains("payments-api"), "{screen}");
    h.keys("lllllll");
    let screen = h.render();
    assert!(screen.contains("production"), "{screen}");
    assert_eq!(
        h.model.matrix.cell, 7,
        "the selected cell moved to production"
    );
    assert!(
        screen.contains('⊘'),
        "the lock shows in production: {screen}"
    );
}

#[tokio::test]
async fn pods_pane_follows_the_selected_service_and_updates_live() {
    let mut h = demo().await;
    h.keys("/reviews-service<Enter>3");
    assert_eq!(h.model.tab, Tab::Pods);
    assert_eq!(h.model.focus().as_deref(), Some("reviews-service"));
    let pods = h.model.pod_rows().len();
    assert!(pods > 0);
    assert!(h.model.pod_rows().iter().any(|p| p.crash_looping()));
    let screen = h.render();
    assert!(screen.contains("crash-looping"), "{screen}");
    assert!(screen.contains("CrashLoopBackOff"), "{screen}");
    // The clock runs: restarts climb on the crash-looping pod.
    let restarts = |h: &Harness| -> u32 {
        h.model
            .pod_rows()
            .iter()
            .filter(|p| p.crash_looping())
            .map(|p| p.restarts)
            .sum()
    };
    let before = restarts(&h);
    h.model.dirty = false;
    for _ in 0..10 {
        h.sim.tick();
        h.pump();
    }
    assert!(restarts(&h) > before, "restarts climbed");
    assert!(
        h.model.dirty,
        "a live update to the pane on screen asks for a frame"
    );
    // Scope narrows the pods.
    h.keys("eee");
    assert!(
        h.model
            .pod_rows()
            .iter()
            .all(|p| p.cluster.env == "production")
    );
}

#[tokio::test]
async fn audit_pane_reads_and_filters() {
    let mut h = demo().await;
    h.keys("6");
    let all = h.model.audit_rows().len();
    assert!(all >= 5);
    let screen = h.render();
    assert!(screen.contains("audit"), "{screen}");
    h.keys("/freeze<Enter>");
    let some = h.model.audit_rows().len();
    assert!(some > 0 && some < all);
    h.keys("<Esc>");
    assert_eq!(h.model.audit_rows().len(), all);
}

#[tokio::test]
async fn service_view_explains_lifecycle_and_readiness() {
    let mut h = demo().await;
    h.keys("/payments-api<Enter><Enter>");
    assert!(matches!(h.model.routes.last(), Some(Route::Service(s)) if s == "payments-api"));
    let report = h.model.report.ready().expect("the report was read");
    assert_eq!(report.stages.len(), 7);
    let score = report.score.as_ref().expect("a score");
    assert!(!score.rules.is_empty());
    h.keys("GG");
    let screen = h.render();
    assert!(screen.contains("readiness"), "{screen}");
    h.keys("gg");
    let screen = h.render();
    assert!(screen.contains("running in"), "{screen}");
    // catalog → service → pods of that service → back to the catalog.
    h.keys("3");
    assert_eq!(h.model.tab, Tab::Pods);
    assert_eq!(h.model.focus().as_deref(), Some("payments-api"));
    h.keys("1");
    assert_eq!(h.model.tab, Tab::Catalog);
}

#[tokio::test]
async fn secrets_pane_shows_drift_without_values() {
    let mut h = demo().await;
    h.keys("/api-gateway<Enter>4");
    assert_eq!(h.model.tab, Tab::Secrets);
    let keys = h.model.secret_keys();
    assert!(keys.len() >= 3, "{keys:?}");
    let screen = h.render();
    assert!(screen.contains("1 drift finding"), "{screen}");
    assert!(screen.contains("value differs"), "{screen}");
    assert!(screen.contains("by region"), "{screen}");
    // Drifted keys only.
    h.keys("d");
    let drifted = h.model.secret_keys();
    assert!(!drifted.is_empty() && drifted.len() < keys.len());
    // No value ever reaches the screen: the demo's values look like URLs or tokens.
    assert!(
        !screen.contains("postgres://") && !screen.contains("sk_live"),
        "{screen}"
    );
}

#[tokio::test]
async fn flags_pane_shows_drift_and_pending() {
    let mut h = demo().await;
    h.keys("5");
    let all = h.model.flag_rows().len();
    assert!(all >= 10);
    let screen = h.render();
    assert!(screen.contains("drifted"), "{screen}");
    assert!(screen.contains("waiting for"), "{screen}");
    h.keys("d");
    let drifted = h.model.flag_rows();
    assert!(!drifted.is_empty() && drifted.len() < all);
    assert!(drifted.iter().all(|r| r.drifted));
    h.keys("d/payments<Enter>");
    assert!(
        h.model
            .flag_rows()
            .iter()
            .all(|r| r.name.contains("payments"))
    );
}

#[tokio::test]
async fn copy_a_link_from_the_service_view() {
    let mut h = demo().await;
    h.keys("/payments-api<Enter><Enter>y");
    assert!(matches!(h.model.top(), Some(Layer::Palette(_))));
    assert!(h.render().contains("copy a link"));
    h.keys("<Enter>");
    assert_eq!(h.copied.len(), 1);
    assert!(h.copied[0].starts_with("https://"), "{:?}", h.copied);
    assert!(h.render().contains("copied https://"));
}

fn production_locks(h: &Harness, service: &str) -> usize {
    h.model
        .locks
        .iter()
        .filter(|l| l.service == service && l.env.as_deref() == Some("production"))
        .count()
}

#[tokio::test]
async fn lock_from_the_matrix_shows_the_icon_and_an_audit_record() {
    let mut h = demo().await;
    h.keys("2/cart-service<Enter>eee");
    assert_eq!(h.model.scope.env.as_deref(), Some("production"));
    let before = production_locks(&h, "cart-service");
    h.keys("L");
    // The matrix asks where: the selected cell or its environment (the scope is
    // production already, so nothing wider).
    let screen = h.render();
    assert!(
        screen.contains("Lock cart-service in production/us-east-1 (the selected cell)"),
        "{screen}"
    );
    assert!(
        screen.contains("Lock cart-service in production, every region"),
        "{screen}"
    );
    assert!(!screen.contains("everywhere"), "{screen}");
    h.keys("<Down><Enter>");
    assert!(matches!(h.model.top(), Some(Layer::Prompt(_))));
    assert!(h.render().contains("Lock cart-service in production"));
    h.keys("INC-7 bad deploy<Enter>");
    assert!(h.model.top().is_none());
    assert_eq!(production_locks(&h, "cart-service"), before + 1);
    let screen = h.render();
    assert!(screen.contains('⊘'), "{screen}");
    h.keys("6");
    let audit = h.model.audit_rows();
    assert!(
        audit
            .iter()
            .any(|r| r.action == "lock.add" && r.target.contains("cart-service")),
        "{audit:?}"
    );
    // And unlock it again: why (Enter: none), then production asks for the name to
    // be typed.
    h.keys("2U<Down><Enter><Enter>");
    assert!(
        matches!(h.model.top(), Some(Layer::Confirm(_))),
        "{:?}",
        h.model.top()
    );
    h.keys("cart-servic<Enter>");
    assert_eq!(
        production_locks(&h, "cart-service"),
        before + 1,
        "a wrong name does nothing"
    );
    h.keys("e<Enter>");
    assert!(h.model.top().is_none());
    assert_eq!(production_locks(&h, "cart-service"), before);
}

#[tokio::test]
async fn lock_one_cell_of_the_matrix_and_only_that_cell_shows_the_icon() {
    let mut h = demo().await;
    // staging/eu-west-1: the fifth cell (dev has three regions), counted from the
    // first (the matrix opens on production).
    h.keys("2hhhhhhhh/cart-service<Enter>llll");
    h.keys("L");
    let screen = h.render();
    assert!(
        screen.contains("everywhere: every environment and region"),
        "the scope is everything, so that is offered too: {screen}"
    );
    h.keys("<Enter>");
    assert!(
        h.render()
            .contains("Lock cart-service in staging · eu-west-1"),
        "{}",
        h.render()
    );
    h.keys("hold for QA<Enter>");
    let mine: Vec<_> = h
        .model
        .locks
        .iter()
        .filter(|l| l.service == "cart-service" && l.by == "you")
        .collect();
    assert_eq!(mine.len(), 1, "{:?}", h.model.locks);
    assert_eq!(mine[0].env.as_deref(), Some("staging"));
    assert_eq!(mine[0].region.as_deref(), Some("eu-west-1"));
    let row = h
        .render()
        .lines()
        .find(|l| l.starts_with("cart-service"))
        .map(str::to_string)
        .expect("the row");
    assert_eq!(row.matches('⊘').count(), 1, "one cell locked: {row}");
}

#[tokio::test]
async fn rollback_from_the_matrix_changes_the_version() {
    let mut h = demo().await;
    // The cell: production is the third environment, us-east-1 its first region,
    // counted from the first cluster (the matrix opens on production).
    h.keys("2hhhhhhhh/cart-service<Enter>llllll");
    let cluster = sphere::domain::ClusterId::new("production", "us-east-1");
    let version = |h: &Harness| {
        h.model
            .live
            .service("cart-service")
            .and_then(|s| s.deployment(&cluster))
            .map(|d| d.version.to_string())
            .expect("cart-service runs there")
    };
    let before = version(&h);
    h.keys("b");
    // Pick from the history: the newest earlier release is first.
    assert!(matches!(h.model.top(), Some(Layer::Palette(_))));
    assert!(h.render().contains("roll back cart-service"));
    h.keys("<Enter>");
    // Why, recorded with the rollback.
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("bad deploy<Enter>");
    assert!(matches!(h.model.top(), Some(Layer::Confirm(_))));
    assert!(h.render().contains("type cart-service"));
    h.keys("cart-service<Enter>");
    h.pump();
    assert_ne!(version(&h), before, "the rollback reached the cluster");
    assert!(h.render().contains(&version(&h)));
}

#[tokio::test]
async fn read_only_refuses_with_the_rule() {
    let mut h = demo().await;
    h.model.policy.read_only = true;
    let screen = h.render();
    let header = screen.lines().next().unwrap_or_default();
    let col = header.find("READ-ONLY").expect("the header says so");
    // In the error colour, reversed: the header's own colour must not paint over it.
    let x = header[..col].chars().count() as u16;
    let cell = &h.buffer()[(x, 0)];
    let error = h.model.theme.style(sphere::config::theme::Slot::Error);
    assert_eq!(cell.fg, error.fg.unwrap_or_default(), "{cell:?}");
    assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    h.keys("/cart-service<Enter>L reason<Enter>");
    let toast = h
        .model
        .toasts
        .last()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert!(toast.contains("read"), "{toast}");
    assert_eq!(production_locks(&h, "cart-service"), 0);
}

#[tokio::test]
async fn copy_a_missing_secret_and_the_drift_vanishes() {
    let mut h = demo().await;
    h.keys("/admin-portal<Enter>4");
    let missing = |h: &Harness| {
        let (svc, list) = h.model.secrets.ready().cloned().expect("secrets read");
        sphere::domain::drift::drift(&list, &h.model.topology)
            .into_iter()
            .filter(|d| d.service == svc && d.kind == sphere::domain::drift::DriftKind::Missing)
            .count()
    };
    let before = missing(&h);
    assert!(before > 0, "the demo has a missing secret for admin-portal");
    // Select the drifted key, then copy it where it is missing: why first.
    h.keys("d");
    h.keys("c");
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "a copy asks why, as `sphere secret copy --reason` takes one"
    );
    assert_eq!(missing(&h), before, "nothing copied before the answer");
    h.keys("INC-12 region rebuild<Enter>");
    assert_eq!(missing(&h), before - 1, "{:?}", h.model.toasts);
    h.keys("6");
    assert!(
        h.model
            .audit_rows()
            .iter()
            .any(|r| r.action == "secret.copy"
                && r.reason.as_deref() == Some("INC-12 region rebuild")),
        "the reason is in the audit"
    );
}

#[tokio::test]
async fn reveal_shows_the_value_for_a_while_and_put_is_typed_masked() {
    let mut h = demo().await;
    h.keys("/admin-portal<Enter>4eeer");
    h.keys("p");
    assert!(matches!(h.model.top(), Some(Layer::Prompt(_))));
    h.keys("s3cr3t-value");
    let screen = h.render();
    assert!(!screen.contains("s3cr3t-value"), "typed masked: {screen}");
    assert!(screen.contains("••••"), "{screen}");
    h.keys("<Enter>");
    // Why (recorded in the audit trail, never the value).
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("rotated<Enter>");
    // Production asks for the service name.
    answer_confirm(&mut h, "admin-portal<Enter>");
    h.keys("v");
    assert_no_confirm(&h);
    let screen = h.render();
    assert!(
        screen.contains("s3cr3t-value"),
        "revealed on purpose: {screen}"
    );
    // Masked again when the time is up.
    h.model
        .on_time(std::time::Instant::now() + std::time::Duration::from_secs(11));
    assert!(!h.render().contains("s3cr3t-value"));
    h.keys("6");
    assert!(
        h.model
            .audit_rows()
            .iter()
            .all(|r| !r.target.contains("s3cr3t")
                && !r.reason.as_deref().unwrap_or("").contains("s3cr3t"))
    );
}

#[tokio::test]
async fn create_a_new_secret_from_the_form_with_its_value_typed_masked() {
    let mut h = demo().await;
    // Scope dev / us-east-1: the form starts there.
    h.keys("/admin-portal<Enter>4er");
    h.keys("n");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    h.keys("bad-name");
    let screen = h.render();
    assert!(screen.contains("is not a secret name"), "{screen}");
    for _ in 0.."bad-name".len() {
        h.keys("<Backspace>");
    }
    h.keys("DATABASE_URL");
    let screen = h.render();
    assert!(screen.contains("exists already"), "{screen}");
    for _ in 0.."DATABASE_URL".len() {
        h.keys("<Backspace>");
    }
    h.keys("PARTNER_TOKEN<Tab>");
    assert_eq!(
        h.model.form().map(|f| f.value("env")).as_deref(),
        Some("dev")
    );
    h.keys("<Enter>");
    // The value comes next, in the masked prompt.
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?}",
        h.model.top()
    );
    assert!(
        h.render()
            .contains("dev/admin-portal/PARTNER_TOKEN in us-east-1")
    );
    h.keys("tok-9f8e7d");
    let screen = h.render();
    assert!(!screen.contains("tok-9f8e7d"), "typed masked: {screen}");
    h.keys("<Enter>");
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("<Enter>");
    assert_no_confirm(&h);
    let (_, list) = h.model.secrets.ready().cloned().expect("secrets read");
    let new: Vec<_> = list
        .iter()
        .filter(|s| s.key == "PARTNER_TOKEN")
        .map(|s| (s.env.as_str(), s.region.as_str(), s.service.as_str()))
        .collect();
    assert_eq!(
        new,
        vec![("dev", "us-east-1", "admin-portal")],
        "{:?}",
        h.model.toasts
    );
    assert!(h.render().contains("PARTNER_TOKEN"));
    h.keys("6");
    let audit = h.model.audit_rows();
    let put = audit
        .iter()
        .find(|r| r.action == "secret.put")
        .expect("audited");
    assert_eq!(put.target, "dev/admin-portal/PARTNER_TOKEN@us-east-1");
    assert!(!h.render().contains("tok-9f8e7d"));
}

#[tokio::test]
async fn the_service_in_focus_follows_from_the_matrix_to_the_pods_and_back() {
    let mut h = demo().await;
    h.keys("2jjjjjjj");
    let in_matrix = h.model.focus().expect("a row");
    assert_ne!(in_matrix, h.model.cat.rows[0].name.to_string());
    h.keys("3");
    assert_eq!(h.model.focus().as_deref(), Some(in_matrix.as_str()));
    assert!(
        h.render().contains(&format!(" {in_matrix} ")),
        "{}",
        h.render()
    );
    // And from the catalog into the matrix.
    h.keys("1jj");
    let in_catalog = h.model.focus().expect("a row");
    h.keys("2");
    assert_eq!(h.model.focus().as_deref(), Some(in_catalog.as_str()));
}

#[tokio::test]
async fn the_audit_pane_shows_the_selected_record_whole() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    h.keys("6");
    let first = h.model.audit_rows()[0].clone();
    let screen = h.render();
    assert!(
        screen.contains(&format!("#{} ", first.id)),
        "the detail names the record: {screen}"
    );
    let reason = first
        .reason
        .as_ref()
        .expect("the newest seeded record has a reason");
    let head: String = reason.chars().take(20).collect();
    assert!(screen.contains(&format!("why: {head}")), "{screen}");
}

#[tokio::test]
async fn the_rollback_chooser_marks_a_newer_version() {
    let mut h = demo().await;
    h.keys("2/cart-service<Enter>llllllb");
    let screen = h.render();
    assert!(
        !screen.contains("newer"),
        "nothing newer than what runs: {screen}"
    );
    // Why (optional), then the confirmation.
    h.keys("<Down><Enter><Enter>");
    answer_confirm(&mut h, "cart-service<Enter>");
    h.keys("b");
    let screen = h.render();
    assert!(screen.contains("(newer: rolls forward)"), "{screen}");
    // The first choice, under the cursor, still goes back.
    let Some(Layer::Palette(p)) = h.model.top() else {
        panic!("the chooser is open: {:?}", h.model.top());
    };
    let first = p.matches.first().map(|&i| p.items[i].label.clone());
    assert!(
        first.as_deref().is_some_and(|l| !l.contains("newer")),
        "{first:?}"
    );
}

#[tokio::test]
async fn secrets_act_on_the_selected_cell_of_the_grid() {
    let mut h = demo().await;
    // Every environment in scope; the fourth cell is staging/us-east-1.
    h.keys("/admin-portal<Enter>4lll");
    assert_eq!(
        h.model
            .secret_cell_cluster()
            .map(|c| c.to_string())
            .as_deref(),
        Some("staging/us-east-1")
    );
    assert!(
        h.render()
            .contains("staging/admin-portal/DATABASE_URL by region")
    );
    h.keys("v");
    assert_no_confirm(&h);
    let shown = h.model.revealed.as_ref().map(|(what, ..)| what.clone());
    assert_eq!(
        shown.as_deref(),
        Some("staging/admin-portal/DATABASE_URL@us-east-1"),
        "{:?}",
        h.model.toasts
    );
    // A new secret starts in the selected cell.
    h.keys("n");
    let form = h.model.form().expect("the form");
    assert_eq!(
        (form.value("env"), form.value("region")),
        ("staging".to_string(), "us-east-1".to_string())
    );
}

#[tokio::test]
async fn set_a_flag_and_see_it_pending() {
    let mut h = demo().await;
    h.keys("5/catalog.bulk<Enter>s");
    assert!(matches!(h.model.top(), Some(Layer::Prompt(_))));
    h.keys("on 25<Enter>");
    // Why, recorded with the change.
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("ramp up<Enter>");
    // Every environment at once: the flag's name is typed to confirm.
    assert!(matches!(h.model.top(), Some(Layer::Confirm(_))));
    assert!(h.render().contains("type catalog.bulk-editor"));
    h.keys("catalog.bulk-editor<Enter>");
    let rows = h.model.flag_rows();
    assert!(
        rows.iter()
            .any(|r| r.cells.iter().flatten().any(|c| c.pending.is_some())),
        "{:?}",
        h.model.toasts
    );
    assert!(h.render().contains('→'));
}

/// The flag prompt names a flag's declared variants; another value is refused naming them.
#[tokio::test]
async fn the_flag_prompt_names_the_declared_variants() {
    let mut h = demo().await;
    h.keys("5/payments.router<Enter>s");
    assert!(matches!(h.model.top(), Some(Layer::Prompt(_))));
    let screen = h.render();
    assert!(screen.contains("(one of v1,"), "{screen}");
    match h.model.top() {
        Some(Layer::Prompt(p)) => assert!(p.title.ends_with("(one of v1, v2, shadow)")),
        other => panic!("{other:?}"),
    }
    h.keys("v9<Enter>");
    // Why (Enter: no reason); then the value is refused, naming the variants.
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("<Enter>");
    let toast = last_toast(&h);
    assert!(toast.contains("takes one of v1, v2, shadow"), "{toast}");
}

#[tokio::test]
async fn create_a_service_through_the_form_and_find_it_in_the_catalog() {
    let mut h = demo().await;
    h.keys("n");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    let screen = h.render();
    assert!(
        screen.contains("new service on the golden path"),
        "{screen}"
    );
    // A bad name is refused in the form, naming the field.
    h.keys("Bad Name<Enter>");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    assert!(h.render().contains("name"), "the error names the field");
    for _ in 0.."Bad Name".len() {
        h.keys("<Backspace>");
    }
    h.keys("ledger-exporter<Tab>Exports ledger entries<Tab><Right><Tab><Tab><Right><Enter>");
    // Why first, as `sphere service create --reason` takes one.
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?}",
        h.model.top()
    );
    assert!(
        h.model.cat.row_index("ledger-exporter").is_none(),
        "not yet"
    );
    h.keys("exports for finance<Enter>");
    assert!(h.model.top().is_none(), "{:?}", h.model.toasts);
    let row = h.model.cat.row_index("ledger-exporter");
    assert!(row.is_some(), "in the catalog: {:?}", h.model.toasts);
    h.pump();
    let live = h.model.cat.rows[row.unwrap_or(0)].live.clone();
    assert!(live.deployments > 0, "deployed to dev: {live:?}");
    h.keys("6");
    assert!(h.model.audit_rows().iter().any(
        |r| r.action == "service.create" && r.reason.as_deref() == Some("exports for finance")
    ));
}

#[tokio::test]
async fn a_refused_non_owner_requests_access_and_an_owner_approves() {
    let mut h = demo().await;
    // Act as a member of another team: locking payments-api is refused.
    h.model.user = "sofia.moreno".into();
    h.keys("/payments-api<Enter>eeeLhold deploys<Enter>");
    let toast = h
        .model
        .toasts
        .last()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert!(toast.contains("request access"), "{toast}");
    // The refusal offers the request on the spot; Esc declines it.
    let screen = h.render();
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?}",
        h.model.top()
    );
    assert!(screen.contains("Request operate on it"), "{screen}");
    h.keys("<Esc>");
    assert!(h.model.top().is_none());
    // The palette asks for it too.
    h.keys(":Request access to operate");
    let screen = h.render();
    assert!(screen.contains("Request access to operate"), "{screen}");
    let Some(Layer::Palette(p)) = h.model.top() else {
        panic!("the palette is open: {:?}", h.model.top());
    };
    let top = p
        .matches
        .first()
        .map(|&i| h.model.palette[i].command.clone());
    assert_eq!(top, Some(Command::AccessOperate), "{screen}");
    h.keys("<Enter>");
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?}",
        h.model.top()
    );
    h.keys("need to hold deploys<Enter>");
    let platform = h.sim.platform();
    let requests = futures::executor::block_on(platform.ledger.access_requests()).expect("read");
    let req = requests
        .iter()
        .find(|r| r.requester == "sofia.moreno" && r.service == "payments-api")
        .unwrap_or_else(|| {
            panic!(
                "a request was made: {:?} {:?}",
                h.model.toasts,
                h.model.top()
            )
        });
    // An owner (the demo's admin) approves it, from the picker of waiting requests.
    h.model.user = "you".into();
    h.keys(&format!(
        ":Access requests waiting<Enter>#{}<Enter><Enter>fine<Enter>",
        req.id
    ));
    h.model.user = "sofia.moreno".into();
    let before = h.model.locks.len();
    h.keys("Lhold deploys<Enter>");
    assert_no_confirm(&h);
    assert_eq!(h.model.locks.len(), before + 1, "{:?}", h.model.toasts);
}

#[tokio::test]
async fn a_refused_secret_reveal_becomes_an_access_request_when_answered() {
    let mut h = demo().await;
    h.model.user = "sofia.moreno".into();
    h.keys("/payments-api<Enter>4er");
    h.keys("v");
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?} {:?}",
        h.model.top(),
        h.model.toasts
    );
    assert!(h.render().contains("Request read-secrets on it"));
    h.keys("debugging a 401<Enter>");
    let platform = h.sim.platform();
    let requests = futures::executor::block_on(platform.ledger.access_requests()).expect("read");
    let req = requests
        .iter()
        .find(|r| r.requester == "sofia.moreno" && r.service == "payments-api")
        .expect("a request was made");
    assert_eq!(req.permission.as_str(), "read-secrets");
    assert_eq!(req.reason, "debugging a 401");
    assert!(last_toast(&h).contains("pending"), "{}", last_toast(&h));
}

/// An owner sees that requests wait (a header mark), picks one from a list that says
/// who asks for what, where, why and when, and approves or denies it with a reason.
#[tokio::test]
async fn an_owner_sees_waiting_requests_and_decides_them_in_a_picker() {
    let mut h = demo().await;
    h.keys("/payments-api<Enter>");
    // Two users who do not own payments-api ask to operate it.
    for (who, why) in [
        ("sofia.moreno", "hold deploys"),
        ("ahmed.karim", "restart a pod"),
    ] {
        h.model.user = who.into();
        h.keys(&format!(":Request access to operate<Enter>{why}<Enter>"));
    }
    let requests = |h: &Harness| {
        futures::executor::block_on(h.sim.platform().ledger.access_requests()).expect("read")
    };
    let made: Vec<_> = requests(&h)
        .into_iter()
        .filter(|r| r.status.as_str() == "pending")
        .collect();
    assert_eq!(made.len(), 2, "{:?}", h.model.toasts);
    // A requester owns nothing they asked for: no mark for them.
    assert!(!h.render().contains("⚑"), "{}", h.render());
    // The admin (an owner of everything) sees the mark.
    h.model.user = "you".into();
    let catalog = futures::executor::block_on(h.sim.platform().catalog.load()).expect("catalog");
    h.model.update(Msg::CatalogLoaded(Ok(catalog)));
    let screen = h.render();
    let waiting = made.len();
    assert!(screen.contains(&format!("⚑ {waiting} access")), "{screen}");
    h.keys(":Access requests waiting<Enter>");
    let screen = h.render();
    assert!(matches!(h.model.top(), Some(Layer::Palette(_))), "{screen}");
    let r = &made[0];
    for part in [
        format!("#{}", r.id),
        "sofia.moreno asks operate on".to_string(),
        r.service.clone(),
        format!("“{}”", r.reason),
        " ago".to_string(),
    ] {
        assert!(screen.contains(&part), "{part:?} not in {screen}");
    }
    // Deny the first with a reason.
    h.keys(&format!("#{}<Enter>", r.id));
    let screen = h.render();
    assert!(
        screen.contains("approve: grant sofia.moreno operate"),
        "{screen}"
    );
    h.keys("deny<Enter>");
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?}",
        h.model.top()
    );
    h.keys("not during the freeze<Enter>");
    let after = requests(&h);
    let decided = after.iter().find(|x| x.id == r.id).expect("still listed");
    assert_eq!(decided.status.as_str(), "denied", "{:?}", h.model.toasts);
    let audit = futures::executor::block_on(h.sim.platform().ledger.audit(None)).expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "access.deny"
                && a.reason.as_deref() == Some("not during the freeze")),
        "{audit:?}"
    );
    // The mark counts one less.
    let screen = h.render();
    assert!(screen.contains("⚑ 1 access"), "{screen}");
}

/// An admin acting as someone else in the TUI (`--as` on a configured platform): the
/// audit trail names both.
#[tokio::test]
async fn an_impersonated_action_is_audited_under_both_names() {
    let mut h = demo().await;
    h.model.user = "amara.okafor".into();
    h.model.impersonator = Some("ada".into());
    h.keys("/payments-api<Enter>Lhold for INC-3<Enter>");
    assert_no_confirm(&h);
    let audit = futures::executor::block_on(h.sim.platform().ledger.audit(None)).expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "lock.add" && a.actor == "ada as amara.okafor"),
        "{audit:?} {:?}",
        h.model.toasts
    );
}

/// The toast most recently shown.
/// The action waits for a confirmation (the demo's policy asks for this one): answer it.
fn answer_confirm(h: &mut Harness, answer: &str) {
    assert!(
        matches!(h.model.top(), Some(Layer::Confirm(_))),
        "a confirmation is asked: {:?} {:?}",
        h.model.top(),
        h.model.toasts
    );
    h.keys(answer);
}

/// The action ran without a confirmation (the demo's policy asks none for it).
fn assert_no_confirm(h: &Harness) {
    assert!(
        !matches!(h.model.top(), Some(Layer::Confirm(_))),
        "no confirmation is asked: {:?}",
        h.model.top()
    );
}

fn last_toast(h: &Harness) -> String {
    h.model
        .toasts
        .last()
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Open the new-environment form from the palette and create `name` from staging in
/// eu-west-1 for three days.
fn create_env_from_the_palette(h: &mut Harness, name: &str) {
    h.keys(":env create");
    let Some(Layer::Palette(p)) = h.model.top() else {
        panic!("the palette is open: {:?}", h.model.top());
    };
    let top = p
        .matches
        .first()
        .map(|&i| h.model.palette[i].command.clone());
    assert_eq!(top, Some(Command::EnvCreate));
    h.keys("<Enter>");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    // name, then from (staging is offered first), region (every, us-east-1,
    // eu-west-1), ttl (1d offered).
    h.keys(&format!(
        "{name}<Tab><Tab><Right><Right><Tab><Backspace><Backspace>3d<Enter>"
    ));
    // Why (Enter: no reason), as `sphere env create --reason` takes it.
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("<Enter>");
    assert!(
        h.model.top().is_none(),
        "{:?}",
        h.model.form().map(|f| &f.errors)
    );
}

#[tokio::test]
async fn create_an_environment_from_the_palette_and_see_it_in_the_matrix() {
    let mut h = demo().await;
    h.keys(":env create<Enter>");
    let screen = h.render();
    assert!(screen.contains("new ephemeral environment"), "{screen}");
    assert!(
        screen.contains("≤ 14d"),
        "the policy's maximum is shown: {screen}"
    );
    // Checked as it is typed, naming the field.
    h.keys("PR_1");
    let screen = h.render();
    assert!(screen.contains("✗ name:"), "{screen}");
    h.keys("<Backspace><Backspace><Backspace><Backspace><Esc>");
    assert!(
        h.model.top().is_none() && h.model.form().is_none(),
        "Esc cancels"
    );

    create_env_from_the_palette(&mut h, "pr-42");
    assert!(
        last_toast(&h).contains("created pr-42 from staging in eu-west-1"),
        "{}",
        last_toast(&h)
    );
    // The watch tells of it: a column of its own, only in eu-west-1.
    let e = h
        .model
        .topology
        .ephemeral("pr-42")
        .cloned()
        .expect("in the topology");
    assert_eq!(e.regions, ["eu-west-1"]);
    let pr = sphere::domain::ClusterId::new("pr-42", "eu-west-1");
    let staging = sphere::domain::ClusterId::new("staging", "eu-west-1");
    let copied = h
        .model
        .live
        .services()
        .filter_map(|s| {
            let a = s.deployment(&pr)?.version.to_string();
            Some((a, s.deployment(&staging)?.version.to_string()))
        })
        .collect::<Vec<_>>();
    assert!(!copied.is_empty());
    assert!(copied.iter().all(|(a, b)| a == b), "at staging's versions");

    // From the environments list to the matrix, scoped to it, with its time left.
    h.keys(":env list<Enter>");
    let screen = h.render();
    assert!(
        (screen.contains("pr-42  ⏳2d23h59m") || screen.contains("pr-42  ⏳3d"))
            && screen.contains("from staging"),
        "{screen}"
    );
    h.keys("<Enter>");
    assert_eq!(h.model.tab, Tab::Deployments);
    assert_eq!(h.model.scope.env.as_deref(), Some("pr-42"));
    let screen = h.render();
    assert!(screen.contains("pr-42"), "{screen}");
    // Three days less the seconds the test took.
    let left = |s: &str, region: &str| {
        s.contains(&format!("{region} ⏳2d")) || s.contains(&format!("{region} ⏳3d"))
    };
    assert!(left(&screen, "eu-west-1"), "{screen}");
    let version = h
        .model
        .live
        .service("admin-portal")
        .and_then(|s| s.deployment(&pr))
        .expect("admin-portal runs in pr")
        .version
        .to_string();
    let row = screen.lines().find(|l| l.starts_with("admin-portal"));
    assert!(
        row.is_some_and(|r| r.contains(version.as_str())),
        "{screen}"
    );

    // At 80x24 the short form fits a compact column.
    h.resize(80, 24);
    let screen = h.render();
    assert!(left(&screen, "euw1"), "{screen}");

    h.keys("6");
    assert!(
        h.model
            .audit_rows()
            .iter()
            .any(|r| r.action == "env.create" && r.target == "env:pr-42")
    );
}

#[tokio::test]
async fn extend_and_delete_from_the_palette_and_expiry_on_the_clock() {
    let mut h = demo().await;
    create_env_from_the_palette(&mut h, "pr-7");
    let was = h.model.topology.ephemeral("pr-7").map(|e| e.expires_at);

    // Extend: pick the environment, then say how much more.
    h.keys(":env extend<Enter>");
    assert!(h.render().contains("give which environment more time"));
    h.keys("<Enter>");
    assert!(matches!(h.model.top(), Some(Layer::Prompt(_))));
    assert!(h.render().contains("Give pr-7 more time"));
    h.keys("2x<Enter>");
    assert!(last_toast(&h).contains("invalid by"), "{}", last_toast(&h));
    h.keys(":env extend<Enter><Enter>1d<Enter>");
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("review runs late<Enter>");
    assert!(
        last_toast(&h).contains("pr-7 now expires in"),
        "{}",
        last_toast(&h)
    );
    let audit = futures::executor::block_on(h.sim.platform().ledger.audit(None)).expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r.reason.as_deref() == Some("review runs late")),
        "the reason is recorded: {audit:?}"
    );
    let now = h.model.topology.ephemeral("pr-7").map(|e| e.expires_at);
    assert_eq!(
        now,
        was.map(|t| t + 86_400),
        "the watch told of the new expiry"
    );

    // Delete asks why (Enter: no reason), then asks first; n keeps it.
    h.keys(":env delete<Enter><Enter>");
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("<Enter>");
    assert!(
        matches!(h.model.top(), Some(Layer::Confirm(_))),
        "{:?}",
        h.model.top()
    );
    h.keys("n");
    assert!(h.model.topology.ephemeral("pr-7").is_some());

    // The demo's clock: when the time is up the environment leaves the matrix.
    create_env_from_the_palette(&mut h, "pr-8");
    h.keys(":env list<Enter>");
    h.keys("<Down><Enter>");
    assert_eq!(h.model.scope.env.as_deref(), Some("pr-8"));
    h.sim.advance_clock(3 * 86_400).expect("advance");
    h.pump();
    assert!(h.model.topology.ephemeral("pr-8").is_none());
    assert_eq!(
        h.model.scope.env, None,
        "the scope falls back to everything"
    );
    h.model.toasts.clear();
    assert!(!h.render().contains("pr-8"));
    assert!(
        h.model.topology.ephemeral("pr-7").is_some(),
        "pr-7 has a day more"
    );
    h.keys("6");
    assert!(
        h.model
            .audit_rows()
            .iter()
            .any(|r| r.actor == "system" && r.action == "env.expire" && r.target == "env:pr-8")
    );

    // And delete (why: done with it) confirmed with y.
    h.keys(":env delete<Enter><Enter>done with it<Enter>y");
    h.pump();
    assert!(
        h.model.topology.ephemeral("pr-7").is_none(),
        "{}",
        last_toast(&h)
    );
    assert!(h.model.topology.ephemeral.is_empty());
}

#[tokio::test]
async fn hpa_bounds_in_a_small_form_checked_as_typed() {
    let mut h = demo().await;
    h.keys("/payments-api<Enter>3ee");
    assert_eq!(h.model.scope.env.as_deref(), Some("staging"));
    let pod = h
        .model
        .pod_rows()
        .first()
        .map(|p| (p.service.to_string(), p.cluster.clone()));
    let (service, cluster) = pod.expect("a pod in staging");
    let hpa = |h: &Harness| {
        let x = h
            .model
            .live
            .service(&service)
            .and_then(|s| s.hpa(&cluster))
            .expect("an HPA");
        (x.min, x.max)
    };
    let before = hpa(&h);
    h.keys("H");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    let screen = h.render();
    assert!(
        screen.contains(&format!("HPA of {service} in {cluster}")),
        "{screen}"
    );
    assert!(screen.contains("policy allows 1..20"), "{screen}");
    assert!(
        screen.contains(&format!("now {}..{}", before.0, before.1)),
        "{screen}"
    );

    // Esc cancels, nothing changes.
    h.keys("<Esc>");
    assert!(h.model.top().is_none());
    h.keys("H");
    let clear = "<Backspace><Backspace><Backspace>";
    h.keys(&format!("{clear}0"));
    assert!(h.render().contains("✗ min: 0 is below the policy bound 1"));
    h.keys(&format!("{clear}x"));
    assert!(h.render().contains("is not a whole number"));
    h.keys(&format!("{clear}3<Tab>{clear}50"));
    assert!(
        h.render()
            .contains("✗ max: 50 is above the policy bound 20")
    );
    h.keys(&format!("{clear}2"));
    assert!(h.render().contains("✗ min: min 3 is above max 2"));
    // Enter with a problem keeps the form open.
    h.keys("<Enter>");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    h.keys(&format!("{clear}9<Enter>"));
    // Why (recorded in the audit trail), then the confirmation.
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("black friday<Enter>");
    // Staging is not production: a plain yes.
    assert!(
        matches!(h.model.top(), Some(Layer::Confirm(_))),
        "{:?}",
        h.model.top()
    );
    h.keys("y");
    h.pump();
    assert_eq!(hpa(&h), (3, 9), "{}", last_toast(&h));
    h.keys("6");
    assert!(h.model.audit_rows().iter().any(|r| r.action == "hpa.patch"));
}

#[tokio::test]
async fn the_golden_path_shows_each_step_as_it_ends_and_resumes_after_a_failure() {
    use sphere::actions::{StepReport, StepStatus};
    use sphere::domain::golden::Step;
    use sphere::tui::model::Msg;
    let mut h = demo().await;
    h.keys("n");
    h.keys("fraud-scorer<Tab>Scores payments<Tab><Right>");
    // Submit, answer why by hand, and look at the panel between steps.
    assert!(h.model.run(Command::Confirm).is_empty(), "why first");
    h.keys("fraud scoring for INC-3");
    let effects = h.model.run(Command::Confirm);
    assert_eq!(effects.len(), 1, "the action");
    let screen = h.render();
    assert!(screen.contains("creating fraud-scorer"), "{screen}");
    assert!(screen.contains("⟳ repository"), "{screen}");
    h.model.update(Msg::Progress(StepReport {
        step: Step::Repository,
        status: StepStatus::Done,
        detail: "created northwind/fraud-scorer".into(),
        audit_id: Some(1),
    }));
    let screen = h.render();
    assert!(screen.contains("✓ repository created"), "{screen}");
    assert!(screen.contains("⟳ ci"), "{screen}");
    assert!(screen.contains("· deploy-dev"), "{screen}");

    // Now for real, with the registration failing: the run stops there.
    h.sim.fail_next("register");
    h.apply(effects);
    let failed: Vec<_> = h
        .progress_seen
        .iter()
        .filter(|r| matches!(r.status, StepStatus::Failed(_)))
        .map(|r| r.step)
        .collect();
    assert_eq!(failed, [Step::Register], "{:?}", h.progress_seen);
    let screen = h.render();
    assert!(screen.contains("fraud-scorer stopped"), "{screen}");
    assert!(screen.contains("✗ register"), "{screen}");
    assert!(screen.contains("· deploy-dev"), "{screen}");

    // Retry from the palette: what is done stays done, the rest runs.
    h.progress_seen.clear();
    h.keys(":Retry the last service creation<Enter>");
    let screen = h.render();
    assert!(screen.contains("fraud-scorer created ✓"), "{screen}");
    assert!(screen.contains("already done"), "{screen}");
    assert!(screen.contains("✓ deploy-dev"), "{screen}");
    assert_eq!(h.progress_seen.len(), 5);
    assert!(h.model.cat.row_index("fraud-scorer").is_some());
}

/// A golden-path run that fails at a step is kept (per user, in the state directory)
/// and offered by the next sphere as `retry`; success forgets it.
#[tokio::test]
async fn a_failed_golden_path_is_offered_again_after_a_restart() {
    use sphere::config::retry::RetryStore;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RetryStore::in_dir(dir.path());
    let mut h = demo().await;
    h.model.retry_store = Some(store.clone());
    h.sim.fail_next("register");
    h.keys("nfraud-scorer<Tab>Scores payments<Tab><Right><Enter>INC-3<Enter>");
    assert!(h.render().contains("✗ register"), "{}", h.render());
    let kept = store
        .load("you")
        .expect("readable")
        .expect("kept after the failure");
    assert_eq!(kept.request.name, "fraud-scorer");
    assert_eq!(kept.request.description, "Scores payments");
    assert_eq!(kept.step.as_deref(), Some("register"));
    assert_eq!(store.load("amara.okafor").expect("readable"), None);
    drop(h);

    // A new sphere: the request kept for this user is offered at start.
    let mut h = demo().await;
    h.model.retry_store = Some(store.clone());
    h.model.offer_retry(kept);
    assert!(
        last_toast(&h).contains("creating fraud-scorer failed at register: `:retry` resumes it"),
        "{}",
        last_toast(&h)
    );
    h.keys(":retry<Enter>");
    let screen = h.render();
    assert!(screen.contains("fraud-scorer created ✓"), "{screen}");
    assert!(h.model.cat.row_index("fraud-scorer").is_some());
    assert_eq!(
        store.load("you").expect("readable"),
        None,
        "forgotten once it succeeded"
    );
}

#[tokio::test]
async fn an_environment_arriving_while_the_palette_is_open_keeps_its_choice() {
    use sphere::actions::Action;
    use sphere::tui::model::Effect;
    let mut h = demo().await;
    h.keys(":Release the incident lock");
    // Another process (here: the dispatcher straight away) creates an environment;
    // the palette gains a "Scope: environment" entry before the chosen one.
    h.apply(vec![Effect::Act {
        action: Action::EnvCreate {
            name: "pr-1".into(),
            from: "dev".into(),
            region: None,
            ttl_seconds: 3_600,
        },
        confirmed: false,
    }]);
    h.pump();
    assert!(h.model.topology.ephemeral("pr-1").is_some());
    assert!(matches!(h.model.top(), Some(Layer::Palette(_))));
    h.keys("<Enter>");
    // "Release the incident lock" asks why, then to type `unlock all`: the same
    // command ran.
    assert!(
        h.render().contains("release the lock on every service"),
        "{:?}",
        h.model.top()
    );
    h.keys("<Enter>");
    assert!(h.render().contains("unlock all"), "{:?}", h.model.top());
}

#[tokio::test]
async fn copy_goes_to_the_empty_cell_when_the_majority_rules_see_no_drift() {
    let mut h = demo().await;
    // A key in one region of production only: by the majority rules an extra, not a
    // missing one; the grid still shows the other regions empty, and `c` fills one.
    let p = h.sim.platform();
    let regions = h.model.topology.regions_of("production").to_vec();
    p.secrets
        .put(
            "admin-portal",
            "production",
            &regions[0],
            "ONLY_HERE",
            sphere::domain::SecretValue::new("v1".to_string()),
        )
        .await
        .expect("put");
    h.keys("/admin-portal<Enter>4");
    h.keys("e");
    while h.model.scope.env.as_deref() != Some("production") {
        h.keys("e");
    }
    let held = |h: &Harness| {
        let (_, list) = h.model.secrets.ready().cloned().expect("secrets read");
        list.iter()
            .filter(|s| s.key == "ONLY_HERE" && s.env == "production")
            .count()
    };
    assert_eq!(held(&h), 1);
    // Select the key, then copy.
    let view = h.model.secret_view().expect("view");
    let row = (view.rows.iter())
        .position(|&i| view.grid.keys[i] == "ONLY_HERE")
        .expect("the key is listed");
    for _ in 0..row {
        h.keys("j");
    }
    h.keys("c<Enter>");
    assert_no_confirm(&h);
    assert_eq!(held(&h), 2, "{:?}", h.model.toasts);
}

#[tokio::test]
async fn the_header_says_when_everything_is_locked_or_merges_are_frozen() {
    let mut h = demo().await;
    let header = |h: &mut Harness| h.render().lines().next().unwrap_or_default().to_string();
    assert!(!header(&mut h).contains("FREEZE"));
    h.keys(":Merge freeze on<Enter>release week<Enter>");
    assert!(header(&mut h).contains("❄ FREEZE"), "{:?}", h.model.toasts);
    h.keys(":Lock every service everywhere<Enter>INC-9<Enter>");
    // Everything: the words are typed to confirm.
    answer_confirm(&mut h, "lock all<Enter>");
    assert!(
        header(&mut h).contains("⊘ ALL LOCKED"),
        "{:?}",
        h.model.toasts
    );
    // Each asks why first (recorded in the audit trail).
    h.keys(":Release the incident lock<Enter>");
    assert!(h.render().contains("why?"), "{:?}", h.model.top());
    h.keys("INC-9 over<Enter>");
    answer_confirm(&mut h, "unlock all<Enter>");
    h.keys(":Merge freeze off<Enter><Enter>");
    answer_confirm(&mut h, "y");
    let line = header(&mut h);
    assert!(
        !line.contains("FREEZE") && !line.contains("ALL LOCKED"),
        "{line}"
    );
}

#[tokio::test]
async fn the_matrix_summary_fits_a_narrow_terminal_in_short_words() {
    let mut h = Harness::demo(64, 24).await.expect("demo");
    create_env_from_the_palette(&mut h, "pr-64");
    h.keys("2");
    let screen = h.render();
    let summary = screen.lines().nth(2).unwrap_or_default().to_string();
    assert!(summary.starts_with("drifted: "), "short words: {summary:?}");
    assert!(
        summary.contains("h/l"),
        "the column range is whole: {summary:?}"
    );
}

#[tokio::test]
async fn a_narrow_header_keeps_the_scope_beside_the_freeze_mark() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    h.keys(":Merge freeze on<Enter>release week<Enter>");
    h.model.user = "amara.okafor".into();
    h.model.policy.read_only = true;
    let screen = h.render();
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains('❄'), "{header}");
    assert!(header.contains("all envs · all regions"), "{header}");
}

#[tokio::test]
async fn a_kept_filter_stays_in_sight_in_the_catalog_and_the_matrix() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    h.keys("/admin-portal<Enter>");
    let tabs = |h: &mut Harness| h.render().lines().nth(1).unwrap_or_default().to_string();
    assert!(
        tabs(&mut h).contains("/admin-portal 1 of"),
        "{}",
        tabs(&mut h)
    );
    h.keys("2");
    assert!(
        tabs(&mut h).contains("/admin-portal 1 of"),
        "{}",
        tabs(&mut h)
    );
    h.keys("1<Esc>");
    h.keys("/<Esc>");
    assert!(!tabs(&mut h).contains("/admin-portal"), "{}", tabs(&mut h));
}

#[tokio::test]
async fn the_selected_pod_stays_selected_when_the_list_moves_under_it() {
    let mut h = demo().await;
    h.keys("/cart-service<Enter>3jjj");
    let chosen = h.model.pods.key.clone().expect("a pod is chosen");
    // The live list re-sorts (a pod before it starts crash-looping, say): its index
    // moves, the choice does not.
    h.model.pods.pos.selected = 0;
    h.render();
    let rows = h.model.pod_rows();
    let at = rows
        .iter()
        .position(|r| *r.cluster == chosen.0 && r.name == chosen.1)
        .expect("still listed");
    assert_eq!(h.model.pods.pos.selected, at);
}

#[tokio::test]
async fn ctrl_u_clears_the_palette_line_and_long_labels_end_in_an_ellipsis() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    h.keys(":lock all");
    h.keys("<C-u>");
    match h.model.top() {
        Some(Layer::Palette(p)) => assert_eq!(p.input, ""),
        other => panic!("the palette stays open: {other:?}"),
    }
    h.keys("copy one of");
    let screen = h.render();
    let line = screen
        .lines()
        .find(|l| l.contains("Copy one of the service"))
        .expect("the command is listed")
        .to_string();
    assert!(line.contains('…'), "{line}");
}

#[tokio::test]
async fn a_lock_held_by_another_asks_for_an_override_that_is_audited() {
    let mut h = demo().await;
    h.sim
        .platform()
        .ledger
        .add_lock(sphere::domain::Lock {
            service: sphere::domain::Lock::ALL.into(),
            env: None,
            region: None,
            reason: "INC-9".into(),
            by: "amara.okafor".into(),
            at: 0,
        })
        .await
        .expect("lock");
    h.keys("2hhhhhhhh/cart-service<Enter>llllll");
    let cluster = sphere::domain::ClusterId::new("production", "us-east-1");
    let version = |h: &Harness| {
        h.model
            .live
            .service("cart-service")
            .and_then(|s| s.deployment(&cluster))
            .map(|d| d.version.to_string())
            .expect("cart-service runs there")
    };
    let before = version(&h);
    h.keys("b<Enter>bad deploy<Enter>");
    // Refused by the lock: the prompt names it and asks for the override's reason.
    match h.model.top() {
        Some(Layer::Prompt(p)) => {
            assert!(p.title.contains("amara.okafor (INC-9)"), "{}", p.title);
            assert!(p.title.contains("Override"), "{}", p.title);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(version(&h), before, "nothing changed yet");
    h.keys("pages every minute<Enter>");
    assert!(
        matches!(h.model.top(), Some(Layer::Confirm(_))),
        "{:?}",
        h.model.top()
    );
    h.keys("cart-service<Enter>");
    h.pump();
    assert_ne!(version(&h), before, "overridden on purpose");
    let records = h.sim.platform().ledger.audit(None).await.expect("audit");
    let r = records
        .iter()
        .rev()
        .find(|r| {
            r.action == "deployment.rollback" && r.outcome == sphere::domain::Outcome::Succeeded
        })
        .expect("the rollback's record");
    assert_eq!(r.reason.as_deref(), Some("bad deploy"));
    assert_eq!(
        r.details.get("override.reason").map(String::as_str),
        Some("pages every minute")
    );
    assert!(
        records.iter().any(|r| r.action == "deployment.rollback"
            && matches!(r.outcome, sphere::domain::Outcome::Refused(_))),
        "the refusal is audited"
    );
}

/// A service seen in no cluster is "not deployed" only once every cluster in scope has
/// listed its workloads; while one is unreachable (or not synced yet) it is unknown.
#[tokio::test]
async fn a_service_seen_nowhere_is_unknown_until_every_cluster_in_scope_answered() {
    let mut h = demo().await;
    h.keys("/cart-service<Enter>");
    h.model.cat.set_live(
        "cart-service",
        sphere::domain::service::LiveStatus::default(),
    );
    let screen = h.render();
    assert!(screen.contains("– not deployed"), "{screen}");
    let cluster = h.model.topology.clusters().next().expect("a cluster");
    h.model
        .live
        .unreachable
        .insert(cluster, "connection refused".into());
    h.model.dirty = true;
    let screen = h.render();
    assert!(screen.contains("? unknown"), "{screen}");
    assert!(!screen.contains("not deployed"), "{screen}");
}

/// Left alone on a pane for longer than its refresh interval, sphere reads again and,
/// nothing having changed, writes nothing to the terminal (no redraw every 5 s).
#[tokio::test]
async fn an_idle_pane_writes_nothing_to_the_terminal() {
    use sphere::tui::model::{POLL, SLOW_POLL};
    use std::time::{Duration, Instant};
    let mut h = demo().await;
    for (key, tab, every) in [
        ("6", Tab::Audit, POLL),
        ("5", Tab::Flags, POLL),
        ("4", Tab::Secrets, SLOW_POLL),
        ("2", Tab::Deployments, POLL),
        ("3", Tab::Pods, POLL),
    ] {
        h.keys(key);
        assert_eq!(h.model.tab, tab);
        h.model.toasts.clear();
        let start = Instant::now();
        assert!(
            h.tick(start) > 0,
            "{tab:?}: the pane's first frame is written"
        );
        let (mut written, mut polls) = (0, 0);
        for s in 1..=2 * every.as_secs() + 1 {
            let due = h.model.poll_at;
            written += h.tick(start + Duration::from_secs(s));
            if h.model.poll_at != due {
                polls += 1;
            }
        }
        assert!(polls >= 2, "{tab:?}: read again {polls} times");
        assert_eq!(written, 0, "{tab:?}: bytes written while idle");
    }
}

#[tokio::test]
async fn the_palette_quits_only_when_quit_is_typed() {
    let mut h = demo().await;
    // Quit is the palette's first entry: a bare Enter must not leave the app.
    h.keys(":<Enter>");
    assert!(!h.quit, "`:` then Enter quit the app");
    h.keys("<Esc>");
    h.keys(":qu<Enter>");
    assert!(!h.quit, "a fuzzy match is not a typed quit");
    h.keys("<Esc>");
    h.keys(":quit<Enter>");
    assert!(h.quit, "typing quit quits");
}

#[tokio::test]
async fn q_in_the_service_view_goes_back_instead_of_quitting() {
    let mut h = demo().await;
    h.keys("<Enter>");
    assert!(matches!(h.model.routes.last(), Some(Route::Service(_))));
    h.keys("q");
    assert!(!h.quit, "q in a nested view quit the app");
    assert!(h.model.routes.is_empty(), "q goes back to the catalog");
    h.keys("q");
    assert!(h.quit, "q on a top pane still quits");
}

/// The modifiers of each cell of screen line `y`.
fn line_modifiers(h: &Harness, y: u16) -> Vec<ratatui::style::Modifier> {
    let b = h.buffer();
    (0..b.area.width).map(|x| b[(x, y)].modifier).collect()
}

/// The line of the screen that shows the selected row: the one reversed from `x0`.
fn selected_line(h: &Harness, x0: u16) -> u16 {
    let b = h.buffer();
    (3..b.area.height)
        .find(|&y| {
            (x0..x0 + 8).all(|x| {
                b[(x, y)]
                    .modifier
                    .contains(ratatui::style::Modifier::REVERSED)
            })
        })
        .expect("a reversed (selected) row")
}

/// With NO_COLOR (the mono theme) moving the selected cell along its row changes how
/// the row looks: the cell stands out of the reversed row.
fn assert_selected_cell_shows_in_mono(h: &mut Harness) {
    let empty = sphere::config::Paths::in_dir(std::path::Path::new("/nonexistent/sphere-mono"));
    let (mono, _) = sphere::config::theme::load_theme(
        "mono",
        &empty,
        sphere::config::theme::ColorSupport::None,
    );
    h.model.theme = mono;
    h.render();
    let y = selected_line(h, 1);
    let before = line_modifiers(h, y);
    h.keys("l");
    h.render();
    let after = line_modifiers(h, y);
    assert_ne!(
        before, after,
        "the selected cell cannot be told apart in the reversed row"
    );
    // And in the row some cells are not reversed while the name is: the cell shows.
    assert!(
        after
            .iter()
            .any(|m| !m.contains(ratatui::style::Modifier::REVERSED)),
        "{after:?}"
    );
}

#[tokio::test]
async fn with_no_color_the_selected_matrix_cell_stands_out() {
    let mut h = demo().await;
    h.keys("2");
    assert_eq!(h.model.tab, Tab::Deployments);
    assert_selected_cell_shows_in_mono(&mut h);
}

#[tokio::test]
async fn with_no_color_the_selected_secret_cell_stands_out() {
    let mut h = demo().await;
    h.keys("4");
    assert_eq!(h.model.tab, Tab::Secrets);
    assert_selected_cell_shows_in_mono(&mut h);
}

#[tokio::test]
async fn slash_starts_a_fresh_filter_and_esc_keeps_the_selected_service() {
    let mut h = demo().await;
    h.keys("/pay<Enter>");
    h.keys("/x");
    assert_eq!(h.model.cat.filter, "x", "`/` appended to the old filter");
    h.keys("<Esc>/pay<Enter>jj");
    let chosen = h.model.cat.selected_row().map(|r| r.name.clone());
    assert!(chosen.is_some());
    h.keys("<Esc>");
    assert_eq!(h.model.cat.filter, "");
    assert_eq!(
        h.model.cat.selected_row().map(|r| r.name.clone()),
        chosen,
        "Esc moved the selection off the service"
    );
}

#[tokio::test]
async fn a_filter_ranks_exact_then_prefix_names_and_selects_the_best() {
    let mut h = demo().await;
    // Stand on a worse match first: the filter must still select the best one.
    h.keys("/payments-sdk<Enter><Esc>");
    assert_eq!(
        h.model
            .cat
            .selected_row()
            .map(|r| r.name.to_string())
            .as_deref(),
        Some("payments-sdk")
    );
    // payments-sdk still matches `payments-a` (fuzzily), but payments-api is the best.
    h.keys("/payments-a");
    let names: Vec<String> = h
        .model
        .cat
        .view_items()
        .into_iter()
        .filter_map(|v| match v {
            sphere::tui::catalog::ViewItem::Row(i) => Some(h.model.cat.rows[i].name.to_string()),
            _ => None,
        })
        .collect();
    let selected = h.model.cat.selected_row().map(|r| r.name.to_string());
    assert_eq!(selected.as_deref(), Some(names[0].as_str()), "{names:?}");
    assert_eq!(names[0], "payments-api", "{names:?}");
    assert!(names.iter().any(|n| n == "payments-sdk"), "{names:?}");
    let last_prefix = names.iter().rposition(|n| n.starts_with("payments-a"));
    let first_other = names.iter().position(|n| !n.starts_with("payments-a"));
    if let (Some(p), Some(o)) = (last_prefix, first_other) {
        assert!(p < o, "a fuzzy match ranks above a prefix match: {names:?}");
    }
}

#[tokio::test]
async fn the_service_view_lists_environments_in_the_platform_order() {
    let mut h = demo().await;
    h.keys("/payments-api<Enter><Enter>");
    assert!(matches!(h.model.routes.last(), Some(Route::Service(_))));
    let screen = h.render();
    let envs = h.model.topology.environments.clone();
    let first_line_of = |env: &str| {
        screen.lines().position(|l| {
            l.trim_start_matches('│')
                .trim_start()
                .starts_with(&format!("{env}/"))
        })
    };
    let at: Vec<usize> = envs.iter().filter_map(|e| first_line_of(e)).collect();
    assert!(at.len() >= 2, "deployed in several environments: {screen}");
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "environments not in the platform's order {envs:?}: {screen}"
    );
}

#[tokio::test]
async fn ctrl_u_clears_a_form_field_like_the_palette_line() {
    let mut h = demo().await;
    h.keys("n");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    h.keys("billing-two");
    let name = |h: &Harness| h.model.form().map(|f| f.value("name"));
    assert_eq!(name(&h).as_deref(), Some("billing-two"));
    h.keys("<C-u>");
    assert_eq!(name(&h).as_deref(), Some(""), "Ctrl-U must clear the line");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
}

#[tokio::test]
async fn esc_then_a_key_reported_as_alt_key_are_two_presses() {
    let mut h = demo().await;
    assert_eq!(h.model.cat.selected, 0);
    // A quick Esc then j arrives from the terminal as Alt+j.
    h.keys(":<A-j>");
    assert!(h.model.top().is_none(), "the Esc closed the palette");
    assert_eq!(h.model.cat.selected, 1, "the j moved the selection");
}

fn help_scroll(h: &Harness) -> usize {
    match h.model.top() {
        Some(Layer::Help { scroll }) => *scroll,
        other => panic!("the help is open: {other:?}"),
    }
}

#[tokio::test]
async fn help_g_and_end_reach_the_bottom_and_k_comes_back() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    h.keys("?");
    h.render();
    h.keys("G");
    let bottom = help_scroll(&h);
    assert!(bottom > 0, "G did nothing");
    h.render();
    h.keys("k");
    assert_eq!(help_scroll(&h), bottom - 1, "k after G moves up at once");
    h.keys("gg<End>");
    assert_eq!(help_scroll(&h), bottom, "End did nothing");
}

#[tokio::test]
async fn help_opens_on_the_current_panes_keys_and_wraps_long_lines() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    h.keys("<Enter>?");
    let screen = h.render();
    let first = |s: &str| screen.lines().position(|l| l.contains(&format!("│{s} ")));
    let (detail, global) = (first("detail"), first("global"));
    assert!(
        detail.is_some(),
        "the service view's keys show first: {screen}"
    );
    assert!(
        global.is_none_or(|g| Some(g) > detail),
        "global before the pane's keys: {screen}"
    );
    // "Copy one of the service's links (OSC 52, works over SSH)" is longer than the
    // help is wide: it wraps rather than being cut.
    assert!(screen.contains("SSH)"), "{screen}");
}

#[tokio::test]
async fn a_user_binding_has_its_own_line_in_the_help() {
    let dir = tempfile::tempdir().expect("tmp");
    let paths = sphere::config::Paths::in_dir(dir.path());
    std::fs::create_dir_all(dir.path().join("config")).expect("dir");
    std::fs::write(
        paths.keymap_file(),
        "[[global]]\non = \"<C-p>\"\nrun = \"pane:2\"\ndesc = \"Straight to the deployments\"\n\n\
         [[global]]\non = \"Z\"\nrun = \"quit\"\ndesc = \"Leave right now\"\n",
    )
    .expect("write");
    let (keymap, problems) = sphere::config::load_keymap(&paths);
    assert!(problems.is_empty(), "{problems:?}");
    let mut h = Harness::demo(140, 120).await.expect("demo");
    h.model.keymap = keymap;
    h.keys("?");
    let screen = h.render();
    assert!(screen.contains("Straight to the deployments"), "{screen}");
    assert!(screen.contains("Leave right now"), "{screen}");
}

fn selected_matrix_env(h: &Harness) -> String {
    let columns = sphere::domain::matrix::columns(&h.model.topology, &h.model.scope);
    columns[h.model.matrix.cell].env.to_string()
}

#[tokio::test]
async fn at_80_columns_the_matrix_opens_on_production_and_d_scrolls_back_to_it() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    h.keys("2");
    assert_eq!(selected_matrix_env(&h), "production");
    let screen = h.render();
    let header = screen.lines().nth(3).unwrap_or_default().to_string();
    assert!(
        header.contains("prod"),
        "production columns in sight: {screen}"
    );
    h.keys("hhhhhhhhh");
    assert_ne!(selected_matrix_env(&h), "production");
    h.keys("d");
    assert_eq!(
        selected_matrix_env(&h),
        "production",
        "d scrolls to the drift"
    );
    let screen = h.render();
    let header = screen.lines().nth(3).unwrap_or_default().to_string();
    assert!(header.contains("prod"), "{screen}");
}

#[tokio::test]
async fn only_the_odd_region_of_a_drifted_environment_is_marked() {
    let h = demo().await;
    let service = "api-gateway";
    let live = h.model.live.service(service).expect("deployed");
    let prod: Vec<_> = h
        .model
        .topology
        .clusters()
        .filter(|c| c.env == "production")
        .collect();
    let cells: Vec<_> = prod
        .iter()
        .map(|c| {
            sphere::domain::matrix::cell(service, Some(&live), c, &h.model.locks).expect("a cell")
        })
        .collect();
    let versions: Vec<&str> = cells.iter().map(|c| c.version.as_str()).collect();
    let count = |v: &str| versions.iter().filter(|x| **x == v).count();
    assert!(
        versions.iter().any(|v| count(v) == 1) && versions.iter().any(|v| count(v) > 1),
        "api-gateway has one odd region in production: {versions:?}"
    );
    for c in &cells {
        assert_eq!(
            c.drift,
            count(&c.version) == 1,
            "only the odd region is marked: {versions:?}"
        );
    }
}

#[tokio::test]
async fn a_huge_description_shows_three_lines_ending_in_an_ellipsis() {
    let mut h = demo().await;
    let catalog = h.model.catalog.clone().expect("a catalog");
    let mut entities = catalog.entities().to_vec();
    let e = entities
        .iter_mut()
        .find(|e| e.name.as_str() == "payments-api")
        .expect("payments-api");
    // A hostile catalog: 2 MB of description.
    e.description = Some("flood ".repeat(350_000).into());
    let hostile = sphere::domain::catalog::Catalog::from_resolved(entities, vec![]);
    h.model
        .update(Msg::CatalogLoaded(Ok(std::sync::Arc::new(hostile))));
    h.keys("/payments-api<Enter><Enter>");
    assert!(matches!(h.model.routes.last(), Some(Route::Service(_))));
    let screen = h.render();
    let flooded = screen.lines().filter(|l| l.contains("flood flood")).count();
    assert!(
        (1..=3).contains(&flooded),
        "{flooded} lines of description: {screen}"
    );
    assert!(screen.contains("flood…"), "{screen}");
    assert!(
        screen.contains("owner"),
        "the rest of the view shows: {screen}"
    );
}

#[tokio::test]
async fn at_160_columns_the_catalog_keeps_system_and_lifecycle_beside_the_side_panel() {
    let mut h = Harness::demo(160, 48).await.expect("demo");
    let screen = h.render();
    let header = screen
        .lines()
        .find(|l| l.contains("name") && l.contains("owner"))
        .unwrap_or_default()
        .to_string();
    assert!(header.contains("system"), "{screen}");
    assert!(header.contains("lifecycle"), "{screen}");
}

#[tokio::test]
async fn the_pods_panes_deployments_are_in_the_platform_order() {
    let mut h = demo().await;
    h.keys("/payments-api<Enter>3");
    let screen = h.render();
    let below: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("deployments · hpa"))
        .collect();
    assert!(!below.is_empty(), "{screen}");
    let first = |env: &str| below.iter().position(|l| l.contains(&format!("{env}·")));
    let at: Vec<usize> = ["dev", "stg", "prod"]
        .iter()
        .filter_map(|e| first(e))
        .collect();
    assert_eq!(at.len(), 3, "{screen}");
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{screen}");
}

#[tokio::test]
async fn at_160_columns_the_pods_side_panel_shows_whole_hpa_lines() {
    let mut h = Harness::demo(160, 48).await.expect("demo");
    h.keys("/payments-api<Enter>3");
    let screen = h.render();
    let hpa_lines: Vec<&str> = screen.lines().filter(|l| l.contains(" now ")).collect();
    assert!(!hpa_lines.is_empty(), "{screen}");
    for l in hpa_lines {
        assert!(
            l.trim_end().ends_with("%/70%"),
            "the HPA column is cut: {l}"
        );
    }
}

#[tokio::test]
async fn a_long_revealed_value_wraps_at_80_columns() {
    let mut h = Harness::demo(80, 24).await.expect("demo");
    let long = format!("{}-END", "v".repeat(150));
    h.keys("/admin-portal<Enter>4eeer");
    h.keys("p");
    h.keys(&long);
    h.keys("<Enter>rotated<Enter>");
    answer_confirm(&mut h, "admin-portal<Enter>");
    h.keys("v");
    assert_no_confirm(&h);
    let screen = h.render();
    assert!(screen.contains("-END"), "the value is cut: {screen}");
}

#[tokio::test]
async fn toasts_take_at_most_half_the_screen_and_count_the_rest() {
    use sphere::tui::model::Level;
    let mut h = demo().await;
    h.resize(80, 24);
    for what in ["locks", "access requests", "read-only"] {
        h.model.toast(
            Level::Error,
            format!(
                "{what}: the demo state /tmp/x/state-42.json ends early at byte 24 (line 1, column 25), 25 bytes in all: it looks truncated; nothing was changed"
            ),
        );
    }
    let screen = h.render();
    let lines: Vec<&str> = screen.lines().collect();
    // The body is everything between the two header lines and the footer.
    let body = &lines[2..lines.len() - 1];
    let covered = body
        .iter()
        .filter(|l| l.contains('│') || l.contains('╭') || l.contains('╰'))
        .count();
    assert!(
        covered <= body.len().div_ceil(2),
        "{covered} of {} body rows covered:\n{screen}",
        body.len()
    );
    assert!(screen.contains("read-only"), "the newest shows: {screen}");
    assert!(
        screen.contains("+1 more"),
        "the hidden one is counted: {screen}"
    );
}

#[tokio::test]
async fn the_pods_pane_lists_clusters_in_the_platforms_order() {
    let mut h = demo().await;
    h.keys("/admin-portal<Enter>3");
    let ranks: Vec<_> = h
        .model
        .pod_rows()
        .iter()
        .filter(|p| !p.crash_looping() && p.ready)
        .map(|p| h.model.topology.cluster_rank(p.cluster))
        .collect();
    assert!(ranks.len() > 3, "{ranks:?}");
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "healthy pods follow the platform's order (dev·use1, dev·euw1, …): {ranks:?}"
    );
}
