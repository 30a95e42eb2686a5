//! `sphere score` and `sphere explain` through the built binary, on the demo platform,
//! with every directory in a temporary one.

use std::process::{Command, Output};

use serde_json::Value;

fn sphere(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sphere"))
        .args(args)
        .env("SPHERE_DATA_DIR", dir.path().join("data"))
        .env("SPHERE_CONFIG_DIR", dir.path().join("config"))
        .env("SPHERE_STATE_DIR", dir.path().join("state"))
        .env_remove("SPHERE_CONFIG")
        .output()
        .expect("sphere runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn score_lists_every_service_with_a_level_and_they_differ() {
    let dir = tmp();
    let v = json(&sphere(&dir, &["score", "--output", "json"]));
    assert_eq!(v["scorecard"]["identifier"], "production-readiness");
    let services = v["services"].as_array().expect("services");
    assert!(services.len() >= 30, "{} services", services.len());
    let mut levels = std::collections::BTreeSet::new();
    let mut scores = std::collections::BTreeSet::new();
    for s in services {
        let obj = s.as_object().expect("object");
        assert!(obj.contains_key("level"), "{s}");
        assert!(s["service"].is_string());
        levels.insert(s["level"].to_string());
        scores.insert(s["score"].as_u64().expect("score"));
    }
    // The demo is deliberately imperfect: some reach Gold, some nothing at all.
    assert!(levels.contains("\"Gold\""), "{levels:?}");
    assert!(levels.contains("null"), "{levels:?}");
    assert!(levels.len() >= 3, "{levels:?}");
    assert!(scores.len() >= 3, "{scores:?}");
    assert!(
        services.iter().any(|s| s["service"] == "payments-api"),
        "payments-api listed"
    );
}

#[test]
fn score_of_one_service_has_every_rule_with_why() {
    let dir = tmp();
    let v = json(&sphere(
        &dir,
        &["score", "payments-api", "--output", "json"],
    ));
    assert_eq!(v["service"], "payments-api");
    let rules = v["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 8);
    for r in rules {
        for key in ["identifier", "title", "level"] {
            assert!(r[key].is_string(), "{key} in {r}");
        }
        assert!(r["passed"].is_boolean(), "{r}");
        assert!(
            r["why"].as_str().is_some_and(|w| !w.is_empty()),
            "why in {r}"
        );
    }
    assert_eq!(v["total"], 8);
    assert!(v.get("level").is_some());
}

#[test]
fn score_table_and_a_custom_scorecard() {
    let dir = tmp();
    let out = sphere(&dir, &["score", "payments-api"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Owner set"), "{text}");
    assert!(text.contains("WHY"), "{text}");

    let card = dir.path().join("card.json");
    std::fs::write(
        &card,
        r#"{"identifier": "mini", "levels": [{"title": "Ok"}], "rules": [
            {"identifier": "named", "title": "Named", "level": "Ok",
             "query": {"combinator": "or", "conditions": [
                {"property": "name", "operator": "beginsWith", "value": "payments"},
                {"property": "tags", "operator": "contains", "value": "critical"}]}}]}"#,
    )
    .expect("write");
    let path = card.to_str().expect("utf-8 path");
    let v = json(&sphere(
        &dir,
        &[
            "score",
            "payments-api",
            "--scorecard",
            path,
            "--output",
            "json",
        ],
    ));
    assert_eq!(v["level"], "Ok");
    assert_eq!(v["scorecard"]["identifier"], "mini");

    std::fs::write(&card, r#"{"identifier": "bad", "levels": [{"title": "Ok"}], "rules": [{"identifier": "x", "level": "Gold", "query": {"combinator": "and", "conditions": []}}]}"#).expect("write");
    let out = sphere(&dir, &["score", "--scorecard", path]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("card.json"), "{err}");
    assert!(err.contains("$.rules[0].level"), "{err}");
}

#[test]
fn explain_prints_every_section_and_the_dig_deeper_commands() {
    let dir = tmp();
    let out = sphere(&dir, &["explain", "payments-api"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for section in [
        "OWNER",
        "RELATIONS",
        "LINKS",
        "RUNS IN",
        "RESOURCES",
        "SECRETS",
        "LOCKS",
        "LIFECYCLE",
        "SCORE",
        "DIG DEEPER",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(section)),
            "section {section} missing:\n{text}"
        );
    }
    for cmd in [
        "sphere pods payments-api --env production",
        "sphere secret drift payments-api",
        "sphere score payments-api",
        "sphere catalog show payments-api",
        "sphere problems --env production",
        "sphere describe pod POD --env production",
        "sphere events payments-api --env production",
        "sphere logs payments-api --env production",
        "sphere logs POD --env production --previous",
        // Who may read logs in production, and how anyone else asks.
        "members of group:default/payments",
        "sphere access request payments-api --permission read-logs --env production",
    ] {
        assert!(text.contains(cmd), "{cmd} missing");
    }
    assert!(text.contains("payments-db"), "resources");
    assert!(
        text.contains("DATABASE_URL") || text.contains("API_KEY"),
        "secret names"
    );
    // Not a terminal: no escape sequences at all.
    assert!(!text.contains('\x1b'), "escape sequences in piped output");
}

fn walk<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push((format!("{path}.{k}"), x));
                walk(x, format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn explain_json_never_carries_a_secret_value() {
    let dir = tmp();
    let v = json(&sphere(
        &dir,
        &["explain", "payments-api", "--output", "json"],
    ));
    let secrets = v["secrets"].as_array().expect("secrets");
    assert!(!secrets.is_empty());
    for s in secrets {
        let keys: Vec<&str> = s
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["env", "key", "last_changed", "name", "region", "version_id"],
            "{s}"
        );
    }
    let mut all = Vec::new();
    walk(&v, "$".into(), &mut all);
    for (path, _) in &all {
        let last = path.rsplit('.').next().unwrap_or("");
        assert!(
            !["value", "value_hash", "secret_value"].contains(&last),
            "{path} in explain output"
        );
    }
    assert_eq!(v["service"], "payments-api");
    assert!(
        v["lifecycle_stages"]["stages"]
            .as_array()
            .is_some_and(|s| s.len() == 7)
    );
    assert!(v["score"]["rules"].as_array().is_some_and(|r| r.len() == 8));
    // pods, problems, describe, events, logs, previous logs, secret drift, score, catalog.
    assert!(v["dig_deeper"].as_array().is_some_and(|d| d.len() == 9));
    assert_eq!(v["read_logs"]["permission"], "read-logs");
    assert!(
        v["read_logs"]["request"]
            .as_str()
            .is_some_and(|r| r.contains("--permission read-logs")),
        "{}",
        v["read_logs"]
    );
    assert!(v["deployments"].as_array().is_some_and(|d| !d.is_empty()));
    assert!(
        v["owner"]["members"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn unknown_service_exits_1() {
    let dir = tmp();
    for args in [
        &["explain", "no-such-service"][..],
        &["score", "no-such-service"][..],
        &["explain", "no-such-service", "--output", "json"][..],
    ] {
        let out = sphere(&dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no-such-service"), "{err}");
        assert!(out.stdout.is_empty());
    }
}
