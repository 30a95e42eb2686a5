//! Key-sequence tests on the demo platform: feed keys, run `update` until idle, look
//! at the model and at the screen.

use sphere::tui::catalog::{Grouping, SortColumn};
use sphere::tui::harness::Harness;
use sphere::tui::model::{Overlay, Route, Tab};

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
    assert_eq!(h.model.cat.selected, h.model.cat.view.len() - 1);
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
    assert_eq!(h.model.routes.last(), Some(&Route::Service(name.clone())));
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
    assert!(matches!(h.model.overlay, Some(Overlay::Help { .. })));
    let screen = h.render();
    assert!(screen.contains(" keys "), "{screen}");
    assert!(screen.to_lowercase().contains("quit"), "{screen}");
    h.keys("<Esc>");
    assert!(h.model.overlay.is_none());
}

#[tokio::test]
async fn palette_runs_a_command() {
    let mut h = demo().await;
    h.keys(":group owner");
    assert!(matches!(h.model.overlay, Some(Overlay::Palette(_))));
    h.keys("<Enter>");
    assert!(h.model.overlay.is_none());
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
    h.keys("2/payments-api<Enter>");
    let screen = h.render();
    assert!(screen.contains("payments-api"), "{screen}");
    h.keys("lllllll");
    let screen = h.render();
    assert!(screen.contains("production"), "{screen}");
    assert_eq!(
        h.model.matrix_cell, 7,
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
    assert!(matches!(h.model.overlay, Some(Overlay::Palette(_))));
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
    assert!(matches!(h.model.overlay, Some(Overlay::Prompt(_))));
    assert!(h.render().contains("Lock cart-service"));
    h.keys("INC-7 bad deploy<Enter>");
    assert!(h.model.overlay.is_none());
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
    // And unlock it again: production asks for the name to be typed.
    h.keys("2U");
    assert!(
        matches!(h.model.overlay, Some(Overlay::Confirm(_))),
        "{:?}",
        h.model.overlay
    );
    h.keys("cart-servic<Enter>");
    assert_eq!(
        production_locks(&h, "cart-service"),
        before + 1,
        "a wrong name does nothing"
    );
    h.keys("e<Enter>");
    assert!(h.model.overlay.is_none());
    assert_eq!(production_locks(&h, "cart-service"), before);
}

#[tokio::test]
async fn rollback_from_the_matrix_changes_the_version() {
    let mut h = demo().await;
    // The cell: production is the third environment, us-east-1 its first region.
    h.keys("2/cart-service<Enter>llllll");
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
    assert!(matches!(h.model.overlay, Some(Overlay::Palette(_))));
    assert!(h.render().contains("roll back cart-service"));
    h.keys("<Enter>");
    assert!(matches!(h.model.overlay, Some(Overlay::Confirm(_))));
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
    assert!(h.render().contains("READ-ONLY"));
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
    // Select the drifted key, then copy it where it is missing.
    h.keys("d");
    h.keys("c");
    assert_eq!(missing(&h), before - 1, "{:?}", h.model.toasts);
    h.keys("6");
    assert!(
        h.model
            .audit_rows()
            .iter()
            .any(|r| r.action == "secret.copy")
    );
}

#[tokio::test]
async fn reveal_shows_the_value_for_a_while_and_put_is_typed_masked() {
    let mut h = demo().await;
    h.keys("/admin-portal<Enter>4eeer");
    h.keys("p");
    assert!(matches!(h.model.overlay, Some(Overlay::Prompt(_))));
    h.keys("s3cr3t-value");
    let screen = h.render();
    assert!(!screen.contains("s3cr3t-value"), "typed masked: {screen}");
    assert!(screen.contains("••••"), "{screen}");
    h.keys("<Enter>");
    // Production asks for the service name.
    if matches!(h.model.overlay, Some(Overlay::Confirm(_))) {
        h.keys("admin-portal<Enter>");
    }
    h.keys("v");
    if matches!(h.model.overlay, Some(Overlay::Confirm(_))) {
        h.keys("admin-portal<Enter>");
    }
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
async fn set_a_flag_and_see_it_pending() {
    let mut h = demo().await;
    h.keys("5/catalog.bulk<Enter>s");
    assert!(matches!(h.model.overlay, Some(Overlay::Prompt(_))));
    h.keys("on 25<Enter>");
    // Every environment at once: the flag's name is typed to confirm.
    assert!(matches!(h.model.overlay, Some(Overlay::Confirm(_))));
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

#[tokio::test]
async fn create_a_service_through_the_form_and_find_it_in_the_catalog() {
    let mut h = demo().await;
    h.keys("n");
    assert!(matches!(h.model.overlay, Some(Overlay::Form)));
    let screen = h.render();
    assert!(
        screen.contains("new service on the golden path"),
        "{screen}"
    );
    // A bad name is refused in the form, naming the field.
    h.keys("Bad Name<Enter>");
    assert!(matches!(h.model.overlay, Some(Overlay::Form)));
    assert!(h.render().contains("name"), "the error names the field");
    for _ in 0.."Bad Name".len() {
        h.keys("<Backspace>");
    }
    h.keys("ledger-exporter<Tab>Exports ledger entries<Tab><Right><Tab><Tab><Right><Enter>");
    assert!(h.model.overlay.is_none(), "{:?}", h.model.toasts);
    let row = h.model.cat.row_index("ledger-exporter");
    assert!(row.is_some(), "in the catalog: {:?}", h.model.toasts);
    h.pump();
    let live = h.model.cat.rows[row.unwrap_or(0)].live.clone();
    assert!(live.deployments > 0, "deployed to dev: {live:?}");
    h.keys("6");
    assert!(
        h.model
            .audit_rows()
            .iter()
            .any(|r| r.action == "service.create")
    );
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
    // Ask for access from the palette.
    h.keys(":Request access to operate");
    let screen = h.render();
    assert!(screen.contains("Request access to operate"), "{screen}");
    if let Some(Overlay::Palette(p)) = &h.model.overlay {
        let top = p
            .matches
            .first()
            .map(|&i| h.model.palette[i].command.clone());
        assert_eq!(top.as_deref(), Some("access_operate"), "{screen}");
    }
    h.keys("<Enter>");
    assert!(
        matches!(h.model.overlay, Some(Overlay::Prompt(_))),
        "{:?}",
        h.model.overlay
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
                h.model.toasts, h.model.overlay
            )
        });
    // An owner (the demo's admin) approves it.
    h.model.user = "you".into();
    h.keys(&format!(
        ":Approve an access request<Enter>{}<Enter>",
        req.id
    ));
    h.model.user = "sofia.moreno".into();
    let before = h.model.locks.len();
    h.keys("Lhold deploys<Enter>");
    if matches!(h.model.overlay, Some(Overlay::Confirm(_))) {
        h.keys("payments-api<Enter>");
    }
    assert_eq!(h.model.locks.len(), before + 1, "{:?}", h.model.toasts);
}
