//! Reducer tests: a message in, the effects `update` asks for out. Nothing is carried
//! out here (no runner, no provider call): these pin what each key and answer asks the
//! loop to do.

use crossterm::event::Event;

use crate::actions::{Action, Confirm};
use crate::domain::ClusterId;

use super::command::Command;
use super::fetch::{Fetch, Fetched};
use super::harness::{Harness, parse_keys};
use super::model::{ConfirmState, Effect, Layer, Msg, Route, Tab, Why};

async fn demo() -> Harness {
    Harness::demo(120, 40).await.expect("demo platform opens")
}

/// The effects of typing `keys`, none carried out.
fn press(h: &mut Harness, keys: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for k in parse_keys(keys).expect("keys") {
        out.extend(h.model.update(Msg::Term(Event::Key(k))));
    }
    out
}

#[tokio::test]
async fn going_to_a_pane_asks_for_its_reads_and_quit_asks_to_quit() {
    let mut h = demo().await;
    assert_eq!(
        press(&mut h, "6"),
        vec![Effect::Fetch(Fetch::Audit), Effect::Fetch(Fetch::Access)]
    );
    assert_eq!(
        press(&mut h, "5"),
        vec![Effect::Fetch(Fetch::Flags), Effect::Fetch(Fetch::Access)]
    );
    assert_eq!(
        press(&mut h, "2"),
        vec![
            Effect::Fetch(Fetch::Locks),
            Effect::Fetch(Fetch::Declared),
            Effect::Fetch(Fetch::Access)
        ]
    );
    assert_eq!(press(&mut h, "3"), vec![Effect::Fetch(Fetch::Access)]);
    assert_eq!(press(&mut h, "1"), vec![Effect::Fetch(Fetch::Access)]);
    // Moving and typing a filter ask for nothing.
    assert_eq!(press(&mut h, "jjk/pay<Enter>"), vec![]);
    assert_eq!(press(&mut h, "q"), vec![Effect::Quit]);
}

#[tokio::test]
async fn opening_a_service_asks_for_its_report() {
    let mut h = demo().await;
    let name = h.model.focus().expect("a selected service");
    assert_eq!(
        press(&mut h, "<Enter>"),
        vec![Effect::Fetch(Fetch::Report(name))]
    );
}

#[tokio::test]
async fn roll_back_reads_the_history_then_asks_why_then_acts() {
    let mut h = demo().await;
    press(&mut h, "2");
    let service = h.model.focus().expect("a row");
    // The selected cell (the matrix opens on production, not on the first cluster).
    let cluster = crate::domain::matrix::columns(&h.model.topology, &h.model.scope)
        [h.model.matrix.cell]
        .clone();
    assert_eq!(
        press(&mut h, "b"),
        vec![Effect::Fetch(Fetch::Releases(
            service.clone(),
            cluster.clone()
        ))]
    );
    // The history arrives: a chooser of typed commands opens, nothing runs yet.
    let releases = vec!["1.0.0".to_string(), "1.1.0".to_string()];
    let effects = h.model.update(Msg::Fetched(Ok(Fetched::Releases(
        service.clone(),
        cluster.clone(),
        releases,
    ))));
    assert_eq!(effects, vec![]);
    let Some(Layer::Palette(p)) = h.model.top() else {
        panic!("a chooser: {:?}", h.model.top());
    };
    assert!(!p.items.is_empty(), "the chooser offers the releases");
    assert!(
        p.items.iter().all(|i| matches!(
            &i.command,
            Command::RollbackTo { service: s, cluster: c, .. } if *s == service && *c == cluster
        )),
        "{:?}",
        p.items
    );
    // Enter picks; the prompt asks why; Enter with a reason hands the action over.
    assert_eq!(press(&mut h, "<Enter>"), vec![]);
    assert!(matches!(h.model.top(), Some(Layer::Prompt(_))));
    let effects = press(&mut h, "bad deploy<Enter>");
    let [
        Effect::ActWhy {
            action: Action::Rollback { to: Some(_), .. },
            confirmed: false,
            why,
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}");
    };
    assert_eq!(why.reason.as_deref(), Some("bad deploy"));
}

#[tokio::test]
async fn a_confirmation_hands_the_action_over_confirmed_or_cancels_it() {
    let mut h = demo().await;
    let action = Action::Restart {
        service: "payments-api".into(),
        cluster: ClusterId::new("production", "eu-west-1"),
    };
    let why = Why {
        reason: Some("stuck".into()),
        override_lock: None,
    };
    h.model.update(Msg::NeedsConfirm(
        action.clone(),
        Confirm::TypeToConfirm("payments-api".into()),
        why.clone(),
    ));
    assert!(matches!(h.model.top(), Some(Layer::Confirm(_))));
    // The wrong name confirms nothing.
    assert_eq!(press(&mut h, "payments<Enter>"), vec![]);
    assert!(matches!(
        h.model.top(),
        Some(Layer::Confirm(ConfirmState { input, .. })) if input == "payments"
    ));
    assert_eq!(
        press(&mut h, "-api<Enter>"),
        vec![Effect::ActWhy {
            action: action.clone(),
            confirmed: true,
            why: why.clone(),
        }]
    );
    h.model
        .update(Msg::NeedsConfirm(action, Confirm::YesNo, why));
    assert_eq!(press(&mut h, "n"), vec![]);
    assert!(h.model.top().is_none());
}

#[tokio::test]
async fn an_action_done_reads_what_it_changed() {
    let mut h = demo().await;
    press(&mut h, "6");
    assert_eq!(h.model.tab, Tab::Audit);
    assert_eq!(
        h.model.update(Msg::Acted(Ok("done".into()))),
        vec![
            Effect::Fetch(Fetch::Locks),
            Effect::Fetch(Fetch::Freeze),
            Effect::Fetch(Fetch::Access),
            Effect::Fetch(Fetch::Audit),
            Effect::ReloadCatalog,
            Effect::Fetch(Fetch::Audit),
            Effect::Fetch(Fetch::Access),
        ]
    );
    assert_eq!(
        h.model.update(Msg::Acted(Err("refused".into()))),
        vec![Effect::Fetch(Fetch::Audit)]
    );
}

#[tokio::test]
async fn a_copied_link_is_one_copy_effect() {
    let mut h = demo().await;
    assert_eq!(
        h.model
            .run(Command::CopyText("https://runbooks.example/pay".into())),
        vec![Effect::Copy("https://runbooks.example/pay".into())]
    );
}

#[tokio::test]
async fn a_key_the_top_layer_does_not_take_passes_through_it() {
    let mut h = demo().await;
    press(&mut h, "?");
    assert!(matches!(h.model.top(), Some(Layer::Help { .. })));
    // The help does not use Ctrl-L or Ctrl-Z: they pass through it to the app.
    assert_eq!(press(&mut h, "<C-l>"), vec![Effect::ClearScreen]);
    assert_eq!(press(&mut h, "<C-z>"), vec![Effect::Suspend]);
    assert!(matches!(h.model.top(), Some(Layer::Help { .. })));
    // What it takes stops there: `j` scrolls the help, not the list under it.
    let selected = h.model.cat.selected_row().map(|r| r.name.to_string());
    assert_eq!(press(&mut h, "j"), vec![]);
    assert!(matches!(h.model.top(), Some(Layer::Help { scroll: 1 })));
    assert_eq!(
        h.model.cat.selected_row().map(|r| r.name.to_string()),
        selected
    );
}

#[tokio::test]
async fn esc_closes_only_the_top_layer() {
    let mut h = demo().await;
    // The golden-path form, then a confirmation arrives over it.
    press(&mut h, "n");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    h.model.update(Msg::NeedsConfirm(
        Action::Restart {
            service: "payments-api".into(),
            cluster: ClusterId::new("production", "eu-west-1"),
        },
        Confirm::YesNo,
        Why::default(),
    ));
    assert_eq!(h.model.layers.len(), 2);
    assert!(matches!(h.model.top(), Some(Layer::Confirm(_))));
    // Esc: the confirmation goes, the form is still there, as typed.
    assert_eq!(press(&mut h, "<Esc>"), vec![]);
    assert!(
        matches!(h.model.top(), Some(Layer::Form(_))),
        "{:?}",
        h.model.top()
    );
    assert_eq!(h.model.layers.len(), 1);
    assert_eq!(press(&mut h, "<Esc>"), vec![]);
    assert!(h.model.top().is_none());
    // A prompt from the palette: the palette closes as its command runs; the prompt
    // is the one layer, and Esc leaves it.
    press(&mut h, ":freeze on");
    assert!(matches!(h.model.top(), Some(Layer::Palette(_))));
    press(&mut h, "<Enter>");
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?}",
        h.model.top()
    );
    assert_eq!(h.model.layers.len(), 1);
    press(&mut h, "<Esc>");
    assert!(h.model.top().is_none());
}

#[tokio::test]
async fn a_destructive_command_from_the_palette_opens_the_confirm_layer() {
    let mut h = demo().await;
    // Lock every service: the palette asks why, then hands the action over
    // unconfirmed; nothing in the TUI confirms on its own.
    let effects = press(&mut h, ":lock every<Enter>incident<Enter>");
    assert_eq!(
        effects,
        vec![Effect::Act {
            action: Action::LockAll {
                reason: "incident".into()
            },
            confirmed: false,
        }]
    );
    // The dispatcher asks for the confirmation: the confirm layer opens with it.
    h.apply(effects);
    let Some(Layer::Confirm(c)) = h.model.top() else {
        panic!("the confirmation: {:?}", h.model.top());
    };
    assert!(matches!(c.action, Action::LockAll { .. }), "{c:?}");
    assert!(
        !h.model.locks.iter().any(|l| l.reason == "incident"),
        "{:?}",
        h.model.locks
    );
    // Esc leaves it: nothing changed.
    press(&mut h, "<Esc>");
    assert!(h.model.top().is_none());
}

#[tokio::test]
async fn a_form_stays_under_its_why_prompt_and_closes_when_the_action_is_handed_over() {
    let mut h = demo().await;
    press(&mut h, ":env create<Enter>");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    press(&mut h, "pr-7<Enter>");
    // Why? over the form: Esc comes back to the form as typed.
    assert!(
        matches!(h.model.top(), Some(Layer::Prompt(_))),
        "{:?}",
        h.model.top()
    );
    assert_eq!(h.model.layers.len(), 2);
    press(&mut h, "<Esc>");
    assert!(matches!(h.model.top(), Some(Layer::Form(_))));
    assert_eq!(
        h.model.form().map(|f| f.value("name")).as_deref(),
        Some("pr-7")
    );
    // Enter, then a reason: the action is handed over and the form is done.
    let effects = press(&mut h, "<Enter>preview<Enter>");
    let [Effect::ActWhy { action, why, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert!(
        matches!(action, Action::EnvCreate { name, .. } if name == "pr-7"),
        "{action:?}"
    );
    assert_eq!(why.reason.as_deref(), Some("preview"));
    assert!(h.model.top().is_none(), "{:?}", h.model.top());
}

// ---- Each pane's own keys (`panes/*.rs`): the pane on screen takes them.

/// Go to a pane and carry out the reads it asks for (its data arrives).
fn open_pane(h: &mut Harness, key: &str) {
    let reads = press(h, key);
    h.apply(reads);
}

#[tokio::test]
async fn h_and_l_move_the_cell_of_the_grid_on_screen_and_of_no_other() {
    let mut h = demo().await;
    open_pane(&mut h, "4");
    assert!(h.model.secret_columns().len() >= 2, "a grid to move in");
    let (matrix_cell, flags_col) = (h.model.matrix.cell, h.model.flags_pane.col);
    // The secrets grid: its cell moves; the matrix's and the flags' do not.
    assert_eq!(press(&mut h, "l"), vec![]);
    assert_eq!(h.model.secrets_pane.cell, 1);
    assert_eq!(
        h.model.secret_cell_cluster(),
        h.model.secret_columns().get(1).cloned()
    );
    assert_eq!(
        (h.model.matrix.cell, h.model.matrix.cell_chosen),
        (matrix_cell, false)
    );
    assert_eq!(h.model.flags_pane.col, flags_col);
    press(&mut h, "h");
    assert_eq!(h.model.secrets_pane.cell, 0);
    // The matrix (it opens on production, not the first column): its cell moves.
    open_pane(&mut h, "2");
    let opened_on = h.model.matrix.cell;
    assert!(opened_on > 0, "the matrix opens on production");
    press(&mut h, "l");
    press(&mut h, "h");
    press(&mut h, "h");
    assert_eq!(h.model.matrix.cell, opened_on - 1);
    assert!(h.model.matrix.cell_chosen);
    assert_eq!(h.model.secrets_pane.cell, 0);
    assert_eq!(h.model.flags_pane.col, flags_col);
    // The flags grid scrolls by a column; neither selected cell moves.
    open_pane(&mut h, "5");
    press(&mut h, "l");
    assert_eq!(h.model.flags_pane.col, flags_col + 1);
    assert_eq!(h.model.matrix.cell, opened_on - 1);
    assert_eq!(h.model.secrets_pane.cell, 0);
}

#[tokio::test]
async fn enter_on_a_problem_opens_what_it_is_about() {
    let mut h = demo().await;
    open_pane(&mut h, "7");
    let rows = h.model.problem_rows().to_vec();
    // A pod's problem: the pod view, read.
    let at = rows
        .iter()
        .position(|r| r.pod.is_some())
        .expect("a pod's problem");
    let (cluster, pod) = rows[at].pod.clone().expect("its pod");
    press(&mut h, &"j".repeat(at));
    assert_eq!(h.model.list.selected, at);
    assert_eq!(
        press(&mut h, "<Enter>"),
        vec![Effect::ReadPod {
            cluster: cluster.clone(),
            pod: pod.clone()
        }]
    );
    assert_eq!(h.model.routes.last(), Some(&Route::Pod(cluster, pod)));
    press(&mut h, "<Esc>");
    assert_eq!(h.model.routes.last(), None);
    // A service's problem (no pod): its service view, its report read.
    let at = (rows.iter())
        .position(|r| r.pod.is_none() && r.problem.service.is_some())
        .expect("a service's problem");
    let service = rows[at].problem.service.clone().expect("its service");
    press(&mut h, "gg");
    press(&mut h, &"j".repeat(at));
    assert_eq!(
        press(&mut h, "<Enter>"),
        vec![Effect::Fetch(Fetch::Report(service.clone()))]
    );
    assert_eq!(h.model.routes.last(), Some(&Route::Service(service)));
}

#[tokio::test]
async fn the_pod_view_scrolls_and_reads_its_pod_again_on_reload() {
    // Small enough that the pod's describe and events do not fit.
    let mut h = Harness::demo(80, 24).await.expect("demo platform opens");
    open_pane(&mut h, "3");
    let pod = h.model.pods.current().cloned().expect("a pod");
    let (cluster, name) = (pod.cluster.clone(), pod.name.clone());
    let read = press(&mut h, "<Enter>");
    assert_eq!(
        read,
        vec![Effect::ReadPod {
            cluster: cluster.clone(),
            pod: name.clone()
        }]
    );
    h.apply(read);
    let selected = h.model.pods.pos.selected;
    // j and k scroll the view, not the pods pane under it.
    assert_eq!(press(&mut h, "jj"), vec![]);
    assert_eq!(h.model.detail_scroll, 2);
    press(&mut h, "k");
    assert_eq!(h.model.detail_scroll, 1);
    assert_eq!(h.model.pods.pos.selected, selected);
    // Ctrl-R reads the pod again (and nothing else: the events read is audited).
    assert_eq!(
        press(&mut h, "<C-r>"),
        vec![Effect::ReadPod { cluster, pod: name }]
    );
}

#[tokio::test]
async fn the_service_view_scrolls_and_q_goes_back_to_the_same_row() {
    let mut h = demo().await;
    press(&mut h, "j");
    let name = h.model.focus().expect("a service");
    let read = press(&mut h, "<Enter>");
    assert_eq!(read, vec![Effect::Fetch(Fetch::Report(name.clone()))]);
    h.apply(read);
    // j scrolls the view; the catalog's selection stays; Enter opens nothing more.
    assert_eq!(press(&mut h, "jjj"), vec![]);
    assert_eq!(h.model.detail_scroll, 3);
    assert_eq!(press(&mut h, "<Enter>"), vec![]);
    assert_eq!(h.model.routes, vec![Route::Service(name.clone())]);
    assert_eq!(press(&mut h, "q"), vec![]);
    assert!(h.model.routes.is_empty());
    assert_eq!(h.model.focus(), Some(name));
}

#[tokio::test]
async fn the_matrix_offers_its_selected_cell_to_lock_and_the_catalog_the_scope() {
    let mut h = demo().await;
    let service = h.model.focus().expect("a service");
    // The catalog: the scope (everything), asked why at once.
    assert_eq!(press(&mut h, "L"), vec![]);
    let Some(Layer::Prompt(p)) = h.model.top() else {
        panic!("a prompt: {:?}", h.model.top());
    };
    assert!(
        p.title.starts_with(&format!("Lock {service} in ")),
        "{}",
        p.title
    );
    press(&mut h, "<Esc>");
    // The matrix: a chooser, the selected cell first.
    open_pane(&mut h, "2");
    let service = h.model.focus().expect("a service");
    let cell = crate::domain::matrix::columns(&h.model.topology, &h.model.scope)
        [h.model.matrix.cell]
        .clone();
    assert_eq!(press(&mut h, "L"), vec![]);
    let Some(Layer::Palette(p)) = h.model.top() else {
        panic!("a chooser: {:?}", h.model.top());
    };
    assert_eq!(
        p.items.first().map(|i| &i.command),
        Some(&Command::LockAt {
            verb: super::command::LockVerb::Lock,
            service,
            env: Some(cell.env.to_string()),
            region: Some(cell.region.to_string()),
        })
    );
}

#[tokio::test]
async fn moving_keys_move_the_list_of_the_pane_on_screen() {
    let mut h = demo().await;
    // The audit: its records.
    h.model.update(Msg::Acted(Ok("done".into())));
    open_pane(&mut h, "6");
    let records = h.model.audit_rows().len();
    assert!(records >= 2, "records to move in");
    let catalog = h.model.cat.selected_row().map(|r| r.name.to_string());
    press(&mut h, "G");
    assert_eq!(h.model.list.selected, records - 1);
    press(&mut h, "k");
    assert_eq!(h.model.list.selected, records - 2);
    // The flags: theirs, from the top.
    open_pane(&mut h, "5");
    assert_eq!(h.model.list.selected, 0);
    press(&mut h, "j");
    assert_eq!(h.model.list.selected, 1);
    // None of it moved the catalog.
    assert_eq!(
        h.model.cat.selected_row().map(|r| r.name.to_string()),
        catalog
    );
}

#[tokio::test]
async fn sort_from_the_palette_on_another_pane_orders_the_service_list() {
    let mut h = demo().await;
    let before = h.model.cat.sort;
    open_pane(&mut h, "5");
    press(&mut h, ":sort by the next<Enter>");
    assert!(h.model.top().is_none(), "{:?}", h.model.top());
    assert_ne!(h.model.cat.sort, before);
    assert_eq!(h.model.tab, Tab::Flags);
}

/// The freeze and the GitOps repository are GitHub reads: a pane that polls every few
/// seconds asks for them once a minute. A failed freeze read is told once and hides
/// no lock (they were one read before: a missing freeze ruleset hid every lock).
#[tokio::test]
async fn the_freeze_and_git_are_read_once_a_minute_and_a_failed_freeze_hides_no_lock() {
    use crate::domain::Lock;
    use crate::tui::model::GITHUB_POLL;
    use std::time::Instant;

    let mut h = demo().await;
    // At start: the locks, the freeze and the access requests.
    h.model.freeze_asked = None;
    assert_eq!(
        h.model.startup_effects(),
        vec![
            Effect::Fetch(Fetch::Locks),
            Effect::Fetch(Fetch::Freeze),
            Effect::Fetch(Fetch::Access)
        ]
    );
    // The matrix asks for git the first time, not the freeze (asked at start)...
    assert_eq!(
        press(&mut h, "2"),
        vec![
            Effect::Fetch(Fetch::Locks),
            Effect::Fetch(Fetch::Declared),
            Effect::Fetch(Fetch::Access)
        ]
    );
    // ...and at the next polls only the locks, until a minute has gone by.
    assert_eq!(
        h.model.pane_reads(),
        vec![Effect::Fetch(Fetch::Locks), Effect::Fetch(Fetch::Access)]
    );
    let a_minute_ago = Instant::now().checked_sub(GITHUB_POLL).expect("an instant");
    h.model.freeze_asked = Some(a_minute_ago);
    h.model.declared_asked = Some(a_minute_ago);
    assert_eq!(
        h.model.pane_reads(),
        vec![
            Effect::Fetch(Fetch::Locks),
            Effect::Fetch(Fetch::Freeze),
            Effect::Fetch(Fetch::Declared),
            Effect::Fetch(Fetch::Access)
        ]
    );

    // The freeze fails: told once, and the locks read beside it still land.
    let lock = Lock {
        service: "payments-api".into(),
        env: Some("production".into()),
        region: Some("us-east-1".into()),
        by: "ana".into(),
        reason: "incident".into(),
        at: 1,
    };
    let toasts = h.model.toasts.len();
    let fail = || Msg::Fetched(Err((Fetch::Freeze, "no answer within 10s".into())));
    h.model.update(fail());
    h.model
        .update(Msg::Fetched(Ok(Fetched::Locks(vec![lock.clone()]))));
    h.model.update(fail());
    assert_eq!(h.model.locks, vec![lock]);
    assert_eq!(
        h.model.toasts.len(),
        toasts + 1,
        "the same error is told once"
    );
    assert!(
        h.model
            .toasts
            .last()
            .is_some_and(|t| t.text.starts_with("freeze: "))
    );
    // Once the read succeeds again, a new failure is told again.
    h.model.update(Msg::Fetched(Ok(Fetched::Freeze(
        crate::domain::Freeze::default(),
    ))));
    h.model.update(fail());
    assert_eq!(h.model.toasts.len(), toasts + 2);
}
