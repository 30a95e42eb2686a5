//! Reducer tests: a message in, the effects `update` asks for out. Nothing is carried
//! out here (no runner, no provider call): these pin what each key and answer asks the
//! loop to do.

use crossterm::event::Event;

use crate::actions::{Action, Confirm};
use crate::domain::ClusterId;

use super::command::Command;
use super::fetch::{Fetch, Fetched};
use super::harness::{Harness, parse_keys};
use super::model::{ConfirmState, Effect, Layer, Msg, Tab, Why};

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
        vec![Effect::Fetch(Fetch::Locks), Effect::Fetch(Fetch::Access)]
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
