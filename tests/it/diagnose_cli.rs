//! Why it is broken, on the demo through the binary (issue 13): `sphere problems`
//! names the crash-looping pod and the command that goes deeper; that command shows
//! the crash's own last lines; `describe pod`, `events`, the merged and followed logs;
//! and the ownership rule on production logs, refused then granted.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// The crash-looping production pod `sphere problems` names first: (problem, pod, env,
/// region).
fn first_crash(dir: &tempfile::TempDir) -> (serde_json::Value, String, String, String) {
    let out = sphere(dir, &["problems", "--output", "json"]);
    assert_eq!(code(&out), 1, "problems exit 1: {}", stderr(&out));
    let v = json(&out);
    let first = v["problems"][0].clone();
    assert_eq!(first["kind"], "crash_loop", "{first}");
    assert_eq!(first["severity"], "critical");
    let what = first["what"].as_str().unwrap();
    let pod = what.split_whitespace().nth(1).unwrap().to_string();
    let place = first["where"].as_str().unwrap();
    let (env, region) = place.split_once('/').unwrap();
    (first.clone(), pod, env.to_string(), region.to_string())
}

#[test]
fn problems_name_the_crash_loop_and_its_command_shows_the_crash() {
    let dir = tmp();
    let (first, pod, env, region) = first_crash(&dir);
    let next = first["next"].as_str().unwrap();
    assert_eq!(
        next,
        format!("sphere logs {pod} --env {env} --region {region} --previous")
    );
    // The command that goes deeper, as printed.
    let args: Vec<&str> = next.split_whitespace().skip(1).collect();
    let out = sphere(&dir, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default();
    let what = first["what"].as_str().unwrap();
    if what.contains("OOMKilled") {
        assert!(last.contains("OutOfMemoryError"), "{text}");
    } else {
        assert!(last.contains("SIGTERM"), "{text}");
    }
    assert!(text.lines().next().unwrap().contains("Starting "), "{text}");

    // describe pod: the same termination, with its exit code and signal.
    let out = sphere(
        &dir,
        &[
            "describe", "pod", &pod, "--env", &env, "--region", &region, "--output", "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let d = json(&out);
    assert_eq!(d["name"], pod.as_str());
    assert_eq!(d["waiting"], "CrashLoopBackOff");
    let t = &d["containers"][0]["last_termination"];
    if what.contains("OOMKilled") {
        assert_eq!(
            (t["reason"].as_str(), t["exit_code"].as_i64()),
            (Some("OOMKilled"), Some(137))
        );
        assert_eq!(t["signal"], 9);
    } else {
        assert_eq!(t["exit_code"], 143);
    }
    assert!(d["containers"][0]["limits"]["memory"].is_string());
    assert_eq!(d["owner"]["kind"], "ReplicaSet");
    let out = sphere(&dir, &["describe", "pod", &pod]);
    assert_eq!(code(&out), 0, "the name alone finds it: {}", stderr(&out));
    assert!(
        stdout(&out).contains("Last termination: "),
        "{}",
        stdout(&out)
    );

    // The pods table shows the last termination beside the waiting reason.
    let service = first["service"].as_str().unwrap();
    let out = sphere(&dir, &["pods", service, "--env", &env, "--region", &region]);
    let table = stdout(&out);
    assert!(
        table.lines().next().unwrap().contains("LAST TERMINATION"),
        "{table}"
    );
    let row = table.lines().find(|l| l.contains(&pod)).unwrap();
    assert!(
        row.contains("CrashLoopBackOff") && row.contains(t["reason"].as_str().unwrap()),
        "{row}"
    );

    // Events of the service there, newest first, the crash's back-off among them.
    let out = sphere(
        &dir,
        &[
            "events", service, "--env", &env, "--region", &region, "--output", "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ev = json(&out);
    let ev = ev.as_array().unwrap();
    assert!(
        ev.windows(2)
            .all(|w| w[0]["at"].as_i64() >= w[1]["at"].as_i64())
    );
    assert!(
        ev.iter()
            .any(|e| e["reason"] == "BackOff" && e["object"]["name"] == pod.as_str()),
        "{ev:?}"
    );
    // The same for the pod alone: only it and its owners.
    let out = sphere(&dir, &["events", &pod, "--output", "json"]);
    let ev = json(&out);
    let ev = ev.as_array().unwrap();
    assert!(
        ev.iter()
            .any(|e| e["reason"] == "BackOff" && e["object"]["name"] == pod.as_str()),
        "the pod's own events: {ev:?}"
    );
    assert!(
        ev.iter()
            .all(|e| e["object"]["name"] == pod.as_str() || e["object"]["kind"] != "Pod")
    );
}

#[test]
fn a_service_logs_merge_across_regions_in_time_order() {
    let dir = tmp();
    let out = sphere(
        &dir,
        &["logs", "payments-api", "--env", "production", "--tail", "3"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let times: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "time order across pods: {text}");
    let regions: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().split('/').next().unwrap())
        .collect();
    assert_eq!(regions.len(), 3, "three regions: {text}");
    // --grep keeps the matching lines only.
    let out = sphere(
        &dir,
        &[
            "logs",
            "payments-api",
            "--env",
            "production",
            "--since",
            "1h",
            "--grep",
            "GET /healthz",
        ],
    );
    let text = stdout(&out);
    assert!(!text.is_empty());
    assert!(text.lines().all(|l| l.contains("GET /healthz")), "{text}");
    // An unknown pod is a usage error.
    let out = sphere(&dir, &["logs", "no-such-pod-abc"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn followed_logs_grow_with_the_demo_clock() {
    let dir = tmp();
    let started = chrono::Utc::now();
    let mut child = command(
        &dir,
        &[
            "logs",
            "payments-api",
            "--env",
            "staging",
            "--tail",
            "1",
            "-f",
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("sphere runs");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut new = None;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            let at = chrono::DateTime::parse_from_rfc3339(l.split(' ').next().unwrap()).unwrap();
            if at > started {
                new = Some(l.clone());
                seen.push(l);
                break;
            }
            seen.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        new.is_some(),
        "a line written after the start arrives: {seen:?}"
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no line twice: {seen:?}");
}

#[test]
fn production_logs_are_for_owners_others_are_refused_until_granted() {
    let dir = tmp();
    let read = |who: &str, env: &str| {
        sphere(
            &dir,
            &[
                "logs",
                "payments-api",
                "--env",
                env,
                "--tail",
                "1",
                "--as",
                who,
            ],
        )
    };
    let out = read("sofia.moreno", "production");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sphere access request payments-api --permission read-logs"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "nothing read: {}", stdout(&out));
    let out = sphere(
        &dir,
        &[
            "events",
            "payments-api",
            "--env",
            "production",
            "--as",
            "sofia.moreno",
        ],
    );
    assert_eq!(code(&out), 4, "events too: {}", stderr(&out));
    // Outside production anyone may; the owner may anywhere.
    assert_eq!(code(&read("sofia.moreno", "staging")), 0);
    assert_eq!(code(&read("amara.okafor", "production")), 0);

    let out = sphere(
        &dir,
        &[
            "access",
            "request",
            "payments-api",
            "--permission",
            "read-logs",
            "--env",
            "production",
            "--reason",
            "INC-41 on call",
            "--as",
            "sofia.moreno",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let list = json(&sphere(&dir, &["access", "list", "--output", "json"]));
    let id = list[0]["id"].as_u64().unwrap().to_string();
    assert_eq!(list[0]["permission"], "read-logs");
    let out = sphere(&dir, &["access", "approve", &id, "--as", "amara.okafor"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = read("sofia.moreno", "production");
    assert_eq!(code(&out), 0, "granted: {}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.is_empty());

    // Audited: who read which service's logs where, refused or not; never the lines.
    let audit = json(&sphere(&dir, &["audit", "--output", "json"]));
    let reads: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "logs.read" && r["who"] == "sofia.moreno")
        .collect();
    assert!(reads.iter().any(|r| r["outcome"] == "refused"), "{audit}");
    let ok = reads
        .iter()
        .find(|r| {
            r["outcome"] == "succeeded" && r["target"].as_str().unwrap().contains("production")
        })
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        ok["target"]
            .as_str()
            .unwrap()
            .starts_with("payments-api@production/")
    );
    let line = text.lines().next().unwrap();
    let logged = line.splitn(3, ' ').nth(2).unwrap();
    assert!(
        !audit.to_string().contains(logged),
        "no log text in the audit"
    );
}

#[test]
fn a_catalog_file_that_cannot_be_read_is_a_problem() {
    let dir = tmp();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::write(
        catalog.join("good.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: cart}\n\
         spec: {type: service, lifecycle: production, owner: shop}\n",
    )
    .unwrap();
    std::fs::write(catalog.join("broken.yaml"), "apiVersion: [unclosed\n").unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("[catalog]\npaths = [{:?}]\n", catalog.display().to_string()),
    )
    .unwrap();
    let out = sphere(&dir, &["problems", "--output", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v = json(&out);
    let row = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "unreadable")
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        row["where"].as_str().unwrap().ends_with("broken.yaml"),
        "{row}"
    );
    assert_eq!(row["severity"], "error");
    assert_eq!(row["next"], "sphere catalog validate");
}
