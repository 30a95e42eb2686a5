//! The notification webhook, against a real HTTP server on loopback (wiremock).

use std::sync::Arc;

use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::tests::{audit, demo_policy, sim};
use super::*;
use crate::backend::Platform;
use crate::backend::webhook::Webhook;
use crate::config::settings::WebhookConfig;
use crate::domain::Outcome;

fn with_webhook(p: &mut Platform, url: String, events: &[&str]) {
    let config = WebhookConfig {
        url,
        events: events.iter().map(|e| e.to_string()).collect(),
        timeout_seconds: 2,
    };
    p.webhook = Some(Arc::new(Webhook::new(&config).expect("webhook")));
}

async fn run(p: &Platform, action: Action) -> Result<Dispatched, DispatchError> {
    let ctx = PolicyContext::gather(p, demo_policy(), &action)
        .await
        .expect("gather");
    let actor = Actor::resolve("you", &ctx.catalog, &ctx.policy);
    dispatch(p, &ctx, &actor, action, true).await
}

#[tokio::test]
async fn lock_all_posts_the_message_and_plain_locks_do_not() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/sphere"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(serde_json::json!({
            "event": "lock-all",
            "platform": "demo",
            "actor": "you",
            "target": "*@*/*",
            "reason": "INC-7 payments down",
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let (_sim, mut p) = sim();
    with_webhook(
        &mut p,
        format!("{}/hooks/sphere", server.uri()),
        &["lock-all"],
    );
    run(
        &p,
        Action::LockAll {
            reason: "INC-7 payments down".into(),
        },
    )
    .await
    .expect("lock all");
    // A lock on one service is not a configured event: nothing more is sent.
    run(
        &p,
        Action::Lock {
            service: "cart-service".into(),
            env: Some("dev".into()),
            region: None,
            reason: "testing".into(),
        },
    )
    .await
    .expect("lock");
    server.verify().await;
    let records = audit(&p).await;
    assert!(
        records.iter().all(|r| r.action != "webhook.notify"),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_failing_webhook_keeps_the_action_and_is_audited() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let (_sim, mut p) = sim();
    with_webhook(&mut p, format!("{}/hook", server.uri()), &["lock-all"]);
    let done = run(
        &p,
        Action::LockAll {
            reason: "INC-8".into(),
        },
    )
    .await
    .expect("the action itself succeeds");
    let records = audit(&p).await;
    let lock = records
        .iter()
        .find(|r| r.id == done.audit_id)
        .expect("record");
    assert_eq!(lock.outcome, Outcome::Succeeded);
    let failed = records
        .iter()
        .find(|r| r.action == "webhook.notify")
        .expect("the failure is in the audit trail");
    assert_eq!(failed.target, "lock-all *@*/*");
    match &failed.outcome {
        Outcome::Failed(why) => assert!(why.contains("500"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(
        p.ledger
            .locks()
            .await
            .expect("locks")
            .iter()
            .any(|l| l.service == "*"),
        "the lock stays"
    );
}
