//! Reducer tests: a message in, the effects `update` asks for out. Nothing is carried
//! out here (no runner, no provider call): these pin what each key and answer asks the
//! loop to do.

use crossterm::event::Event;

use crate::actions::{Action, Confirm};
use crate::domain::ClusterId;

use super::command::Command;
use super::fetch::{Fetch, Fetched};
use super::harness::{Harness, parse_keys};
use super::model::{ConfirmState, Effect, Msg, Overlay, Tab, Why};

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
    let Some(Overlay::Palette(p)) = &h.model.overlay else {
        panic!("a chooser: {:?}", h.model.overlay);
    };
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
    assert!(matches!(h.model.overlay, Some(Overlay::Prompt(_))));
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
    assert!(matches!(h.model.overlay, Some(Overlay::Confirm(_))));
    // The wrong name confirms nothing.
    assert_eq!(press(&mut h, "payments<Enter>"), vec![]);
    assert!(matches!(
        &h.model.overlay,
        Some(Overlay::Confirm(ConfirmState { input, .. })) if input == "payments"
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
    assert!(h.model.overlay.is_none());
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
