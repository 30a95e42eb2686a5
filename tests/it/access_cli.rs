//! `sphere access` through the binary: a non-owner is refused, asks, an owner approves,
//! and the same action then succeeds.

use crate::common::*;

#[test]
fn a_non_owner_asks_an_owner_approves_and_the_action_then_runs() {
    let dir = tmp();
    let lock = [
        "lock",
        "payments-api",
        "--env",
        "staging",
        "--reason",
        "INC-9",
        "--as",
        "sofia.moreno",
    ];
    let out = sphere(&dir, &lock);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sphere access request payments-api"),
        "{}",
        stderr(&out)
    );

    let out = sphere(
        &dir,
        &[
            "access",
            "request",
            "payments-api",
            "--permission",
            "operate",
            "--reason",
            "INC-9 on call",
            "--as",
            "sofia.moreno",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("pending"), "{}", stdout(&out));

    let list = json(&sphere(&dir, &["access", "list", "--output", "json"]));
    let req = &list[0];
    assert_eq!(req["requester"], "sofia.moreno");
    assert_eq!(req["permission"], "operate");
    assert_eq!(req["status"]["status"], "pending");
    let id = req["id"].as_u64().expect("an id").to_string();

    let out = sphere(&dir, &["access", "approve", &id, "--as", "sofia.moreno"]);
    assert_eq!(
        code(&out),
        4,
        "a requester cannot approve: {}",
        stderr(&out)
    );
    let out = sphere(&dir, &["access", "approve", &id, "--as", "amara.okafor"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let list = json(&sphere(&dir, &["access", "list", "--output", "json"]));
    assert_eq!(list[0]["status"]["status"], "granted");
    assert_eq!(list[0]["status"]["by"], "amara.okafor");

    let out = sphere(&dir, &lock);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let out = sphere(&dir, &["access", "approve", "999", "--as", "amara.okafor"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn a_request_in_json_carries_the_id_that_approve_takes() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &[
            "access",
            "request",
            "payments-api",
            "--permission",
            "read-secrets",
            "--reason",
            "debugging",
            "--as",
            "sofia.moreno",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec[0]["action"], "access.request");
    let id = rec[0]["request_id"]
        .as_u64()
        .expect("request_id")
        .to_string();
    let out = sphere(&dir, &["access", "approve", &id, "--as", "amara.okafor"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
