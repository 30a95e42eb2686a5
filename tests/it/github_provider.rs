//! The GitHub provider against a real HTTP peer on loopback: wiremock serving GitHub's
//! REST answers in the shapes GitHub documents, reached through octocrab exactly as
//! GitHub would be (`api_url` points octocrab's base URI at the server).

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sphere::backend::DescriptorSource;
use sphere::backend::configured::ConfiguredCatalog;
use sphere::backend::github::GithubProvider;
use sphere::backend::{CatalogProvider, FreezeStore, ReposProvider};
use sphere::config::platform::GithubConfig;
use sphere::domain::catalog::{Catalog, Problem, Severity};
use sphere::domain::{ClusterId, Freeze};
use wiremock::matchers::{
    bearer_token, body_json, body_partial_json, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

const ORG: &str = "acme";

fn config(api: &str) -> GithubConfig {
    GithubConfig {
        org: ORG.to_string(),
        api_url: Some(api.to_string()),
        gitops_repo: Some("deploy".to_string()),
        templates: BTreeMap::from([("service".to_string(), "acme/template-service".to_string())]),
        timeout_seconds: 5,
        ..GithubConfig::default()
    }
}

fn provider(server: &MockServer) -> GithubProvider {
    GithubProvider::new(&config(&server.uri()), Some("test-token".to_string())).expect("provider")
}

// ---- GitHub's documented shapes -------------------------------------------------

pub(crate) fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// GitHub wraps base64 content at 60 characters with `\n`.
fn b64_wrapped(text: &str) -> String {
    let flat = b64(text.as_bytes());
    let mut out = String::new();
    for (i, c) in flat.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push('\n');
    out
}

fn user(base: &str, login: &str, kind: &str) -> Value {
    let u = format!("{base}/users/{login}");
    json!({
        "login": login,
        "id": 1001,
        "node_id": "MDEyOk9yZ2FuaXphdGlvbjEwMDE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/1001?v=4",
        "gravatar_id": "",
        "url": u,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind,
        "site_admin": false
    })
}

pub(crate) fn repo(base: &str, name: &str, id: u64) -> Value {
    let url = format!("{base}/repos/{ORG}/{name}");
    json!({
        "id": id,
        "node_id": "R_kgDOAbCdEf",
        "name": name,
        "full_name": format!("{ORG}/{name}"),
        "owner": user(base, ORG, "Organization"),
        "private": true,
        "html_url": format!("https://github.com/{ORG}/{name}"),
        "description": null,
        "fork": false,
        "url": url,
        "contents_url": format!("{url}/contents/{{+path}}"),
        "releases_url": format!("{url}/releases{{/id}}"),
        "tags_url": format!("{url}/tags"),
        "clone_url": format!("https://github.com/{ORG}/{name}.git"),
        "created_at": "2026-01-10T09:00:00Z",
        "updated_at": "2026-11-20T09:00:00Z",
        "pushed_at": "2026-11-20T09:00:00Z",
        "size": 120,
        "default_branch": "main",
        "archived": false,
        "disabled": false,
        "visibility": "private",
        "topics": [],
        "permissions": {"admin": true, "maintain": true, "push": true, "triage": true, "pull": true}
    })
}

pub(crate) fn content(base: &str, repo: &str, file_path: &str, text: &str, sha: &str) -> Value {
    let url = format!("{base}/repos/{ORG}/{repo}/contents/{file_path}?ref=main");
    let name = file_path.rsplit('/').next().unwrap();
    json!({
        "type": "file",
        "encoding": "base64",
        "size": text.len(),
        "name": name,
        "path": file_path,
        "content": b64_wrapped(text),
        "sha": sha,
        "url": url,
        "git_url": format!("{base}/repos/{ORG}/{repo}/git/blobs/{sha}"),
        "html_url": format!("https://github.com/{ORG}/{repo}/blob/main/{file_path}"),
        "download_url": format!("https://raw.githubusercontent.com/{ORG}/{repo}/main/{file_path}"),
        "_links": {
            "git": format!("{base}/repos/{ORG}/{repo}/git/blobs/{sha}"),
            "self": url,
            "html": format!("https://github.com/{ORG}/{repo}/blob/main/{file_path}")
        }
    })
}

pub(crate) fn dir_entry(base: &str, repo: &str, file_path: &str, sha: &str) -> Value {
    let mut v = content(base, repo, file_path, "", sha);
    let o = v.as_object_mut().unwrap();
    o.remove("content");
    o.remove("encoding");
    v
}

/// The answer to a contents PUT: the new content and the commit.
pub(crate) fn file_commit(base: &str, repo: &str, file_path: &str, text: &str, sha: &str) -> Value {
    let mut c = content(base, repo, file_path, text, sha);
    c.as_object_mut().unwrap().remove("content");
    c.as_object_mut().unwrap().remove("encoding");
    json!({
        "content": c,
        "commit": {
            "sha": "7638417db6d59f3c431d3e1f261cc637155684cd",
            "node_id": "MDY6Q29tbWl0NzYzODQxN2RiNmQ1OWYzYzQzMWQzZTFmMjYxY2M2MzcxNTU2ODRjZA==",
            "url": format!("{base}/repos/{ORG}/{repo}/git/commits/7638417db6d59f3c431d3e1f261cc637155684cd"),
            "html_url": format!("https://github.com/{ORG}/{repo}/git/commit/7638417db6d59f3c431d3e1f261cc637155684cd"),
            "author": {"date": "2026-11-30T04:40:00Z", "name": "sphere", "email": "sphere@example.com"},
            "committer": {"date": "2026-11-30T04:40:00Z", "name": "sphere", "email": "sphere@example.com"},
            "message": "Roll back",
            "tree": {"url": format!("{base}/repos/{ORG}/{repo}/git/trees/691272480426f78a0138979dd3ce63b77f706feb"), "sha": "691272480426f78a0138979dd3ce63b77f706feb"},
            "parents": [],
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
        }
    })
}

pub(crate) fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404"
    }))
}

pub(crate) fn release(
    base: &str,
    repo: &str,
    id: u64,
    tag: &str,
    published: &str,
    draft: bool,
) -> Value {
    let url = format!("{base}/repos/{ORG}/{repo}/releases/{id}");
    json!({
        "url": url,
        "html_url": format!("https://github.com/{ORG}/{repo}/releases/tag/{tag}"),
        "assets_url": format!("{url}/assets"),
        "upload_url": format!("https://uploads.github.com/repos/{ORG}/{repo}/releases/{id}/assets{{?name,label}}"),
        "tarball_url": format!("{base}/repos/{ORG}/{repo}/tarball/{tag}"),
        "zipball_url": format!("{base}/repos/{ORG}/{repo}/zipball/{tag}"),
        "id": id,
        "node_id": "MDc6UmVsZWFzZTE=",
        "tag_name": tag,
        "target_commitish": "main",
        "name": tag,
        "body": "",
        "draft": draft,
        "prerelease": false,
        "created_at": published,
        "published_at": if draft { Value::Null } else { json!(published) },
        "author": user(base, "octocat", "User"),
        "assets": []
    })
}

fn tag(base: &str, repo: &str, name: &str) -> Value {
    json!({
        "name": name,
        "commit": {"sha": "c5b97d5ae6c19d5c5df71a34c7fbeeda2479ccbc", "url": format!("{base}/repos/{ORG}/{repo}/commits/c5b97d5ae6c19d5c5df71a34c7fbeeda2479ccbc")},
        "zipball_url": format!("{base}/repos/{ORG}/{repo}/zipball/{name}"),
        "tarball_url": format!("{base}/repos/{ORG}/{repo}/tarball/{name}"),
        "node_id": "MDM6UmVmcmVmcy90YWdzL3YxLjAuMA=="
    })
}

fn ruleset(base: &str, id: u64, name: &str, enforcement: &str, updated: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "target": "branch",
        "source_type": "Organization",
        "source": ORG,
        "enforcement": enforcement,
        "node_id": "RRS_lACkVXNlcgQB",
        "_links": {
            "self": {"href": format!("{base}/orgs/{ORG}/rulesets/{id}")},
            "html": {"href": format!("https://github.com/organizations/{ORG}/settings/rules/{id}")}
        },
        "created_at": "2026-06-01T12:00:00Z",
        "updated_at": updated
    })
}

fn descriptor(name: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  \
         description: {name} does things\nspec:\n  type: service\n  lifecycle: production\n  \
         owner: group:default/payments\n"
    )
}

// ---- mock builders ----------------------------------------------------------------

const DESCRIPTOR_SHA: &str = "3d21ec53a331a6f037a91c368710b99387d012c1";

/// A 200 answer with a JSON body.
pub(crate) fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A GET of `p` (more matchers may follow).
pub(crate) fn get(p: impl Into<String>) -> MockBuilder {
    Mock::given(method("GET")).and(path(p.into()))
}

/// A PUT to `p` (more matchers may follow).
fn put(p: impl Into<String>) -> MockBuilder {
    Mock::given(method("PUT")).and(path(p.into()))
}

/// `b` answers 404 once, before any less urgent mock of the same request answers.
fn not_found_at_first(b: MockBuilder) -> Mock {
    b.respond_with(not_found())
        .up_to_n_times(1)
        .with_priority(1)
}

/// The JSON bodies of the PUTs the server received, in order.
async fn put_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The org's repository list: one page of `names`, numbered from 1.
pub(crate) fn org_repos(base: &str, names: &[&str]) -> Mock {
    let repos: Vec<Value> = (1..).zip(names).map(|(id, n)| repo(base, n, id)).collect();
    get(format!("/orgs/{ORG}/repos")).respond_with(ok(json!(repos)))
}

/// A GET of `name`'s `catalog-info.yaml`.
fn descriptor_request(name: &str) -> MockBuilder {
    get(format!("/repos/{ORG}/{name}/contents/catalog-info.yaml"))
}

/// `name`'s `catalog-info.yaml` holding `text`.
fn descriptor_response(base: &str, name: &str, text: &str) -> ResponseTemplate {
    ok(content(
        base,
        name,
        "catalog-info.yaml",
        text,
        DESCRIPTOR_SHA,
    ))
}

/// `name`'s repository serves a valid descriptor of `name`.
fn serve_descriptor(base: &str, name: &str) -> Mock {
    descriptor_request(name).respond_with(descriptor_response(base, name, &descriptor(name)))
}

/// The org's rulesets: just the one named `name`.
pub(crate) fn org_rulesets(
    base: &str,
    id: u64,
    name: &str,
    enforcement: &str,
    updated: &str,
) -> Mock {
    get(format!("/orgs/{ORG}/rulesets")).respond_with(ok(json!([ruleset(
        base,
        id,
        name,
        enforcement,
        updated
    )])))
}

/// A provider whose requests time out after one second.
fn impatient_provider(api: &str) -> GithubProvider {
    let mut cfg = config(api);
    cfg.timeout_seconds = 1;
    GithubProvider::new(&cfg, None).expect("provider")
}

/// The catalog with `github` as its only discovery.
async fn discovered_catalog(github: Arc<GithubProvider>) -> Arc<Catalog> {
    ConfiguredCatalog {
        roots: Vec::new(),
        discovered: Some(github),
        registered: None,
    }
    .load()
    .await
    .expect("catalog")
}

/// The catalog's problem for the descriptor of `repo`.
fn problem_of<'a>(catalog: &'a Catalog, repo: &str) -> Option<&'a Problem> {
    let file = format!("127.0.0.1/{ORG}/{repo}/catalog-info.yaml");
    catalog
        .problems
        .iter()
        .find(|p| p.file.as_os_str() == file.as_str())
}

fn assert_err_contains(err: &anyhow::Error, needle: &str) {
    assert!(format!("{err:#}").contains(needle), "{err:#}");
}

fn assert_quick(start: Instant) {
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

// ---- discovery ------------------------------------------------------------------

#[tokio::test]
async fn discovery_reads_every_page_skips_repos_without_a_descriptor_and_reports_bad_ones() {
    let server = MockServer::start().await;
    let base = server.uri();
    let page2 = format!("{base}/orgs/{ORG}/repos?per_page=100&page=2");
    get(format!("/orgs/{ORG}/repos"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ok(json!([
                repo(&base, "payments-api", 1),
                repo(&base, "docs-site", 2)
            ]))
            .insert_header(
                "link",
                format!("<{page2}>; rel=\"next\", <{page2}>; rel=\"last\"").as_str(),
            ),
        )
        .expect(2)
        .mount(&server)
        .await;
    get(format!("/orgs/{ORG}/repos"))
        .and(query_param("page", "2"))
        .respond_with(ok(json!([
            repo(&base, "ledger", 3),
            repo(&base, "broken-descriptor", 4)
        ])))
        .expect(2)
        .mount(&server)
        .await;
    // Read once: the second discovery finds every repository's `pushed_at` as it was
    // and reads no descriptor again (the provider remembers them).
    let serve = |name: &str, text: &str| {
        descriptor_request(name)
            .and(query_param("ref", "main"))
            .respond_with(descriptor_response(&base, name, text))
            .expect(1)
    };
    serve("payments-api", &descriptor("payments-api"))
        .mount(&server)
        .await;
    serve("ledger", &descriptor("ledger")).mount(&server).await;
    serve(
        "broken-descriptor",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: [unclosed\n",
    )
    .mount(&server)
    .await;
    descriptor_request("docs-site")
        .respond_with(not_found())
        .expect(1)
        .mount(&server)
        .await;

    // Discovered twice below (directly, then by the catalog): the org listed twice,
    // each descriptor read once.
    let github = Arc::new(provider(&server));
    let found = github.descriptors().await.expect("descriptors");
    let host = "127.0.0.1";
    let locations: Vec<&str> = found.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        locations,
        [
            format!("{host}/{ORG}/broken-descriptor/catalog-info.yaml"),
            format!("{host}/{ORG}/ledger/catalog-info.yaml"),
            format!("{host}/{ORG}/payments-api/catalog-info.yaml"),
        ]
    );
    assert_eq!(
        found[2].1,
        descriptor("payments-api"),
        "decoded from base64"
    );

    let catalog = discovered_catalog(github).await;
    let mut names: Vec<&str> = catalog.entities().iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    assert!(
        names.contains(&"payments-api") && names.contains(&"ledger"),
        "{names:?}"
    );
    let errors: Vec<_> = catalog
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].file,
        PathBuf::from(format!("{host}/{ORG}/broken-descriptor/catalog-info.yaml"))
    );
    let e = catalog
        .entities()
        .iter()
        .find(|e| e.name == "ledger")
        .unwrap();
    assert_eq!(
        e.source.file,
        PathBuf::from(format!("{host}/{ORG}/ledger/catalog-info.yaml"))
    );
}

#[tokio::test]
async fn a_descriptor_that_cannot_be_read_is_a_problem_of_its_location_and_the_rest_loads() {
    let server = MockServer::start().await;
    let base = server.uri();
    org_repos(&base, &["payments-api", "flaky"])
        .mount(&server)
        .await;
    serve_descriptor(&base, "payments-api").mount(&server).await;
    descriptor_request("flaky")
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by personal access token",
            "documentation_url": "https://docs.github.com/rest/repos/contents#get-repository-content",
            "status": "403"
        })))
        .mount(&server)
        .await;
    let catalog = discovered_catalog(Arc::new(provider(&server))).await;
    assert!(catalog.entities().iter().any(|e| e.name == "payments-api"));
    let p = problem_of(&catalog, "flaky").expect("a problem for the unreadable descriptor");
    assert_eq!(p.severity, Severity::Error);
    assert!(p.reason.contains("403"), "{}", p.reason);
    assert!(p.reason.contains("not accessible"), "{}", p.reason);
}

// ---- rollback -------------------------------------------------------------------

const VERSION_PATH: &str = "apps/payments-api/production/eu-west-1/version";

fn mount_version_file(server: &MockServer, sha: &str, text: &str) -> Mock {
    get(format!("/repos/{ORG}/deploy/contents/{VERSION_PATH}")).respond_with(ok(content(
        &server.uri(),
        "deploy",
        VERSION_PATH,
        text,
        sha,
    )))
}

#[tokio::test]
async fn rollback_commits_the_version_with_the_file_sha() {
    let server = MockServer::start().await;
    let base = server.uri();
    mount_version_file(
        &server,
        "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
        "1.4.2\n",
    )
    .expect(1)
    .mount(&server)
    .await;
    put(format!("/repos/{ORG}/deploy/contents/{VERSION_PATH}"))
        .and(bearer_token("test-token"))
        .and(body_partial_json(json!({
            "sha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
            "content": b64(b"1.4.1\n"),
        })))
        .respond_with(ok(file_commit(
            &base,
            "deploy",
            VERSION_PATH,
            "1.4.1\n",
            "b2c3d4e5f60718293a4b5c6d7e8f901234567890",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let github = provider(&server);
    github
        .rollback(
            "payments-api",
            &ClusterId::new("production", "eu-west-1"),
            "1.4.1",
        )
        .await
        .expect("rollback");
    let body = put_bodies(&server).await.into_iter().next().expect("a PUT");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("payments-api")
            && message.contains("1.4.1")
            && message.contains("production/eu-west-1"),
        "{message}"
    );
}

#[tokio::test]
async fn a_stale_sha_is_a_concurrent_change_and_nothing_is_overwritten() {
    let server = MockServer::start().await;
    mount_version_file(
        &server,
        "0000000000000000000000000000000000000001",
        "1.4.2\n",
    )
    .mount(&server)
    .await;
    // Someone committed meanwhile: GitHub refuses the old sha.
    put(format!("/repos/{ORG}/deploy/contents/{VERSION_PATH}"))
        .and(body_partial_json(json!({"sha": "0000000000000000000000000000000000000001"})))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "message": format!("{VERSION_PATH} does not match 0000000000000000000000000000000000000001"),
            "documentation_url": "https://docs.github.com/rest/repos/contents#create-or-update-file-contents",
            "status": "409"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = provider(&server)
        .rollback(
            "payments-api",
            &ClusterId::new("production", "eu-west-1"),
            "1.4.1",
        )
        .await
        .expect_err("a conflict");
    let text = format!("{err:#}");
    assert!(text.contains("changed concurrently"), "{text}");
    assert!(
        text.contains(VERSION_PATH) && text.contains("acme/deploy"),
        "{text}"
    );
}

#[tokio::test]
async fn rollback_to_the_running_version_commits_nothing_and_a_missing_file_is_an_error() {
    let server = MockServer::start().await;
    mount_version_file(
        &server,
        "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
        "1.4.2\n",
    )
    .mount(&server)
    .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    get(format!(
        "/repos/{ORG}/deploy/contents/apps/payments-api/staging/eu-west-1/version"
    ))
    .respond_with(not_found())
    .mount(&server)
    .await;
    let github = provider(&server);
    github
        .rollback(
            "payments-api",
            &ClusterId::new("production", "eu-west-1"),
            "1.4.2",
        )
        .await
        .expect("no change needed");
    let err = github
        .rollback(
            "payments-api",
            &ClusterId::new("staging", "eu-west-1"),
            "1.4.1",
        )
        .await
        .expect_err("no version file");
    assert_err_contains(&err, "does not run in staging/eu-west-1");
}

// ---- releases -------------------------------------------------------------------

#[tokio::test]
async fn releases_are_oldest_first_without_drafts_and_fall_back_to_tags() {
    let server = MockServer::start().await;
    let base = server.uri();
    // GitHub lists newest first.
    let payments =
        |id, tag, published, draft| release(&base, "payments-api", id, tag, published, draft);
    get(format!("/repos/{ORG}/payments-api/releases"))
        .respond_with(ok(json!([
            payments(4, "v1.5.0", "2026-11-01T10:00:00Z", true),
            payments(3, "v1.4.2", "2026-10-20T10:00:00Z", false),
            payments(2, "v1.4.1", "2026-10-02T10:00:00Z", false),
            payments(1, "v1.4.0", "2026-09-15T10:00:00Z", false),
        ])))
        .mount(&server)
        .await;
    get(format!("/repos/{ORG}/legacy/releases"))
        .respond_with(ok(json!([])))
        .mount(&server)
        .await;
    get(format!("/repos/{ORG}/legacy/tags"))
        .respond_with(ok(json!([
            tag(&base, "legacy", "v2.10.0"),
            tag(&base, "legacy", "v2.9.1"),
            tag(&base, "legacy", "v2.9.0"),
        ])))
        .mount(&server)
        .await;
    get(format!("/repos/{ORG}/ghost/releases"))
        .respond_with(not_found())
        .mount(&server)
        .await;
    let github = provider(&server);
    assert_eq!(
        github.releases("payments-api").await.unwrap(),
        ["1.4.0", "1.4.1", "1.4.2"]
    );
    assert_eq!(
        github.releases("legacy").await.unwrap(),
        ["2.9.0", "2.9.1", "2.10.0"]
    );
    assert!(github.releases("ghost").await.unwrap().is_empty());
}

// ---- golden path: template, files, repository facts -----------------------------

#[tokio::test]
async fn create_from_template_and_write_file_are_idempotent() {
    let server = MockServer::start().await;
    let base = server.uri();
    let slug = "acme/fraud-scorer";
    let entry = |file_path, sha| dir_entry(&base, "fraud-scorer", file_path, sha);
    // Not there until generated.
    not_found_at_first(get("/repos/acme/fraud-scorer"))
        .mount(&server)
        .await;
    get("/repos/acme/fraud-scorer")
        .respond_with(ok(repo(&base, "fraud-scorer", 9)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/template-service/generate"))
        .and(body_json(json!({
            "owner": "acme",
            "name": "fraud-scorer",
            "description": "Scores payments for fraud",
            "private": true
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(repo(&base, "fraud-scorer", 9)))
        .expect(1)
        .mount(&server)
        .await;
    // GitHub fills the new repository after answering: empty at first, then the
    // template's files.
    get("/repos/acme/fraud-scorer/contents/")
        .respond_with(ok(json!([])))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    get("/repos/acme/fraud-scorer/contents/")
        .respond_with(ok(json!([entry(
            "README.md",
            "5555555555555555555555555555555555555555"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    let github = provider(&server);
    let values = BTreeMap::from([
        ("name".to_string(), "fraud-scorer".to_string()),
        (
            "description".to_string(),
            "Scores payments for fraud".to_string(),
        ),
    ]);
    github
        .create_from_template(slug, "service", &values)
        .await
        .expect("generated");
    github
        .create_from_template(slug, "service", &values)
        .await
        .expect("already there: nothing to do");
    let unknown = github
        .create_from_template("acme/other", "nope", &values)
        .await
        .expect_err("unknown template");
    assert_err_contains(&unknown, "no template named \"nope\"");

    // The CI workflow: created (no sha), then the same content commits nothing, then a
    // change replaces the blob by its sha.
    let ci = ".github/workflows/ci.yaml";
    let first = "name: ci\non: [push]\n";
    let second = "name: ci\non: [push, pull_request]\n";
    not_found_at_first(get(format!("/repos/acme/fraud-scorer/contents/{ci}")))
        .mount(&server)
        .await;
    get(format!("/repos/acme/fraud-scorer/contents/{ci}"))
        .respond_with(ok(content(
            &base,
            "fraud-scorer",
            ci,
            first,
            "1111111111111111111111111111111111111111",
        )))
        .mount(&server)
        .await;
    put(format!("/repos/acme/fraud-scorer/contents/{ci}"))
        .and(body_partial_json(json!({"content": b64(first.as_bytes())})))
        .respond_with(ResponseTemplate::new(201).set_body_json(file_commit(
            &base,
            "fraud-scorer",
            ci,
            first,
            "1111111111111111111111111111111111111111",
        )))
        .expect(1)
        .mount(&server)
        .await;
    put(format!("/repos/acme/fraud-scorer/contents/{ci}"))
        .and(body_partial_json(json!({
            "content": b64(second.as_bytes()),
            "sha": "1111111111111111111111111111111111111111"
        })))
        .respond_with(ok(file_commit(
            &base,
            "fraud-scorer",
            ci,
            second,
            "2222222222222222222222222222222222222222",
        )))
        .expect(1)
        .mount(&server)
        .await;
    assert!(github.write_file(slug, ci, first).await.expect("created"));
    assert!(
        !github
            .write_file(slug, ci, first)
            .await
            .expect("same content")
    );
    assert!(github.write_file(slug, ci, second).await.expect("updated"));
    let puts = put_bodies(&server).await;
    assert_eq!(puts.len(), 2);
    assert!(
        puts[0].get("sha").is_none(),
        "a new file carries no sha: {}",
        puts[0]
    );
    assert_eq!(github.file(slug, ci).await.unwrap().as_deref(), Some(first));
    assert_eq!(github.file(slug, "missing.txt").await.unwrap(), None);

    // The repository's facts: default branch and workflow files.
    get("/repos/acme/fraud-scorer/contents/.github/workflows")
        .and(query_param("ref", "main"))
        .respond_with(ok(json!([
            entry(ci, "1111111111111111111111111111111111111111"),
            entry(
                ".github/workflows/deploy.yml",
                "3333333333333333333333333333333333333333"
            ),
            entry(
                ".github/workflows/README.md",
                "4444444444444444444444444444444444444444"
            ),
        ])))
        .mount(&server)
        .await;
    let info = github.repo(slug).await.unwrap().expect("exists");
    assert!(info.exists);
    assert_eq!(info.slug, slug);
    assert_eq!(info.default_branch, "main");
    assert_eq!(info.workflows, ["ci.yaml", "deploy.yml"]);
    get("/repos/acme/nothing-here")
        .respond_with(not_found())
        .mount(&server)
        .await;
    assert_eq!(github.repo("acme/nothing-here").await.unwrap(), None);
    put("/repos/acme/nothing-here/contents/README.md")
        .respond_with(not_found())
        .mount(&server)
        .await;
    get("/repos/acme/nothing-here/contents/README.md")
        .respond_with(not_found())
        .mount(&server)
        .await;
    let err = github
        .write_file("acme/nothing-here", "README.md", "hi\n")
        .await
        .expect_err("no repository");
    assert_err_contains(&err, "there is no repository acme/nothing-here");
}

// ---- merge freeze ---------------------------------------------------------------

/// The org's rulesets as GitHub keeps them: a PUT changes what the next GET lists.
#[derive(Clone)]
struct Rulesets {
    base: String,
    freeze: Arc<Mutex<(String, String)>>, // (enforcement, updated_at)
}

impl Rulesets {
    fn list(&self) -> Value {
        let (enforcement, updated) = self.freeze.lock().unwrap().clone();
        json!([
            ruleset(
                &self.base,
                7,
                "require-reviews",
                "active",
                "2026-06-01T12:00:00Z"
            ),
            ruleset(&self.base, 42, "merge-freeze", &enforcement, &updated),
        ])
    }
}

impl Respond for Rulesets {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if req.method.as_str() == "PUT" {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let mut f = self.freeze.lock().unwrap();
            f.0 = body["enforcement"].as_str().unwrap().to_string();
            f.1 = "2026-11-30T05:00:00Z".to_string();
            return ok(ruleset(&self.base, 42, "merge-freeze", &f.0, &f.1));
        }
        ok(self.list())
    }
}

#[tokio::test]
async fn merge_freeze_switches_the_org_ruleset_on_and_off() {
    let server = MockServer::start().await;
    let state = Rulesets {
        base: server.uri(),
        freeze: Arc::new(Mutex::new((
            "disabled".to_string(),
            "2026-06-01T12:00:00Z".to_string(),
        ))),
    };
    get(format!("/orgs/{ORG}/rulesets"))
        .respond_with(state.clone())
        .mount(&server)
        .await;
    for enforcement in ["active", "disabled"] {
        put(format!("/orgs/{ORG}/rulesets/42"))
            .and(body_json(json!({ "enforcement": enforcement })))
            .respond_with(state.clone())
            .expect(1)
            .mount(&server)
            .await;
    }
    let github = provider(&server);
    assert!(!github.freeze().await.unwrap().on);
    github
        .set_freeze(Freeze {
            on: true,
            reason: Some("incident 4711".to_string()),
            by: Some("sre".to_string()),
            at: None,
        })
        .await
        .expect("freeze on");
    let on = github.freeze().await.unwrap();
    assert!(on.on);
    assert_eq!(on.at, Some(1_796_014_800), "the ruleset's update time");
    github
        .set_freeze(Freeze::default())
        .await
        .expect("freeze off");
    let off = github.freeze().await.unwrap();
    assert!(!off.on);
    assert_eq!(off.at, None);
}

#[tokio::test]
async fn a_missing_freeze_ruleset_reads_as_off_and_is_named_when_switched() {
    let server = MockServer::start().await;
    let base = server.uri();
    org_rulesets(
        &base,
        7,
        "require-reviews",
        "active",
        "2026-06-01T12:00:00Z",
    )
    .mount(&server)
    .await;
    let github = provider(&server);
    // Nothing to switch: the org is not frozen, and reading it is no error.
    let read = github.freeze().await.expect("no ruleset reads as off");
    assert_eq!(read, Freeze::default());
    // Switching it on names what is missing.
    let err = github
        .set_freeze(Freeze {
            on: true,
            ..Freeze::default()
        })
        .await
        .expect_err("no such ruleset");
    assert_err_contains(&err, "no ruleset named \"merge-freeze\"");
}

// ---- a peer that is down or slow ------------------------------------------------

#[tokio::test]
async fn a_refused_connection_is_a_clear_error_quickly() {
    let addr = common::peers::closed_addr();
    let github = GithubProvider::new(&config(&format!("http://{addr}")), None).expect("provider");
    let start = Instant::now();
    let err = github.repo("acme/payments-api").await.expect_err("refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("unreachable") && text.contains("acme/payments-api"),
        "{text}"
    );
    let err = github.freeze().await.expect_err("refused");
    assert_err_contains(&err, "rulesets of acme");
    let err = github.descriptors().await.expect_err("refused");
    assert_err_contains(&err, "repositories of acme");
    assert_quick(start);
}

#[tokio::test]
async fn a_slow_server_times_out_with_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let github = impatient_provider(&server.uri());
    let cluster = ClusterId::new("production", "eu-west-1");
    let start = Instant::now();
    let (freeze, rollback) = tokio::join!(
        github.set_freeze(Freeze {
            on: true,
            ..Freeze::default()
        }),
        github.rollback("payments-api", &cluster, "1.0.0"),
    );
    let freeze = format!("{:#}", freeze.expect_err("timed out"));
    assert!(
        freeze.contains("did not answer") && freeze.contains("within 1s"),
        "{freeze}"
    );
    let rollback = format!("{:#}", rollback.expect_err("timed out"));
    assert!(
        rollback.contains("did not answer") && rollback.contains(VERSION_PATH),
        "{rollback}"
    );
    assert_quick(start);
}

// ---- wired into the configured platform -------------------------------------------

#[tokio::test]
async fn a_configured_platform_uses_github_for_repos_freeze_and_catalog() {
    let server = MockServer::start().await;
    let base = server.uri();
    org_repos(&base, &["payments-api"]).mount(&server).await;
    serve_descriptor(&base, "payments-api").mount(&server).await;
    org_rulesets(&base, 42, "merge-freeze", "active", "2026-11-30T05:00:00Z")
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("[github]\norg = \"{ORG}\"\napi_url = \"{base}\"\ntimeout_seconds = 5\n");
    let (config, problems) =
        sphere::config::Config::from_str_at(&dir.path().join("config.toml"), &toml);
    assert!(problems.is_empty(), "{problems:?}");
    let platform = sphere::backend::configured::build(&config, dir.path())
        .await
        .expect("platform");
    let catalog = platform.catalog.load().await.unwrap();
    assert!(catalog.entities().iter().any(|e| e.name == "payments-api"));
    assert!(platform.ledger.freeze().await.unwrap().on);
    get(format!("/repos/{ORG}/payments-api"))
        .respond_with(ok(repo(&base, "payments-api", 1)))
        .mount(&server)
        .await;
    let info = platform.repos.repo("acme/payments-api").await.unwrap();
    assert_eq!(
        info.map(|i| (i.exists, i.default_branch, i.workflows.len())),
        Some((true, "main".to_string(), 0)),
        "no workflows directory: none"
    );
}

#[tokio::test]
async fn one_slow_repository_does_not_stall_discovery() {
    let server = MockServer::start().await;
    let base = server.uri();
    org_repos(&base, &["payments-api", "sluggish"])
        .mount(&server)
        .await;
    serve_descriptor(&base, "payments-api").mount(&server).await;
    descriptor_request("sluggish")
        .respond_with(
            descriptor_response(&base, "sluggish", &descriptor("sluggish"))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let github = impatient_provider(&base);
    let start = Instant::now();
    let catalog = discovered_catalog(Arc::new(github)).await;
    assert_quick(start);
    assert!(catalog.entities().iter().any(|e| e.name == "payments-api"));
    assert!(!catalog.entities().iter().any(|e| e.name == "sluggish"));
    let p = problem_of(&catalog, "sluggish").expect("the slow repository is a problem");
    assert!(p.reason.contains("did not answer"), "{}", p.reason);
}

/// A discovered repository's Component without `github.com/project-slug` is the
/// repository's (`ORG/REPO`), so the service view reads that repository; a slug the
/// descriptor names is kept, and other kinds in the file are left as they are.
#[tokio::test]
async fn a_discovered_component_without_a_slug_is_its_repositorys() {
    let server = MockServer::start().await;
    let base = server.uri();
    org_repos(&base, &["payments-api", "monorepo"])
        .mount(&server)
        .await;
    serve_descriptor(&base, "payments-api").mount(&server).await;
    let named = descriptor("checkout").replace(
        "  description:",
        "  annotations:\n    github.com/project-slug: acme/checkout-src\n  description:",
    );
    let api = "---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: payments-events\n\
               spec:\n  type: asyncapi\n  lifecycle: production\n  owner: group:default/payments\n  \
               definition: none\n";
    let text = format!("{named}---\n{}{api}", descriptor("cart"));
    descriptor_request("monorepo")
        .respond_with(descriptor_response(&base, "monorepo", &text))
        .mount(&server)
        .await;
    let catalog = discovered_catalog(Arc::new(provider(&server))).await;
    let slug = |name: &str| {
        let e = (catalog.entities().iter())
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} in the catalog: {:?}", catalog.problems));
        e.annotation("github.com/project-slug").map(str::to_string)
    };
    assert_eq!(slug("payments-api").as_deref(), Some("acme/payments-api"));
    assert_eq!(slug("cart").as_deref(), Some("acme/monorepo"));
    assert_eq!(slug("checkout").as_deref(), Some("acme/checkout-src"));
    assert_eq!(slug("payments-events"), None);
}

/// An org that cannot be listed is one problem on the org; the descriptor files of
/// `[catalog] paths` still load (and the services in them keep working).
#[tokio::test]
async fn an_org_that_cannot_be_listed_is_a_problem_and_the_files_still_load() {
    let server = MockServer::start().await;
    get(format!("/orgs/{ORG}/repos"))
        .respond_with(not_found())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(&file, descriptor("billing")).unwrap();
    let catalog = ConfiguredCatalog {
        roots: vec![file],
        discovered: Some(Arc::new(provider(&server))),
        registered: None,
    }
    .load()
    .await
    .expect("the catalog loads");
    assert!(catalog.find(None, "billing").is_some(), "{catalog:?}");
    let problem = (catalog.problems.iter())
        .find(|p| p.file.as_os_str() == format!("127.0.0.1/{ORG}").as_str())
        .unwrap_or_else(|| panic!("a problem on the org: {:?}", catalog.problems));
    assert_eq!(problem.severity, Severity::Error);
    assert!(problem.reason.contains("404"), "{}", problem.reason);
}

/// The actor on a configured platform is who the token belongs to: GET /user's login;
/// a token GitHub refuses authenticates nobody (the config's `user` then applies).
#[tokio::test]
async fn whoami_is_the_tokens_login() {
    let server = MockServer::start().await;
    get("/user")
        .and(bearer_token("test-token"))
        .respond_with(ok(json!({
            "login": "ada", "id": 7, "node_id": "U_7", "type": "User", "site_admin": false
        })))
        .mount(&server)
        .await;
    get("/user")
        .and(bearer_token("expired"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .mount(&server)
        .await;
    assert_eq!(
        provider(&server).whoami().await.expect("whoami").as_deref(),
        Some("ada")
    );
    let refused =
        GithubProvider::new(&config(&server.uri()), Some("expired".to_string())).expect("provider");
    assert_eq!(refused.whoami().await.expect("whoami"), None);
}

// ---- cost: conditional requests, the discovery memo, the rate limit ----------------

use crate::common::github_org::{DESCRIPTOR, GithubOrg, descriptor as org_descriptor};
use sphere::backend::github::cache::GithubCache;

fn org_provider(server: &MockServer, cache: Option<GithubCache>) -> GithubProvider {
    GithubProvider::with_cache(
        &config(&server.uri()),
        Some("test-token".to_string()),
        cache,
    )
    .expect("provider")
}

/// A restart with the cache present and nothing changed asks only whether the org's
/// listing changed (every page answered 304, free of the rate limit) and reads no
/// descriptor; then a changed descriptor, a push that changed none, and a new
/// repository cost one read each (the unchanged one a 304).
#[tokio::test]
async fn a_warm_start_reads_no_descriptor_and_only_changed_repositories_are_read() {
    let (server, org) = GithubOrg::start(ORG, 250, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let file = GithubProvider::cache_file(&config(&server.uri()), dir.path());

    let cold = org_provider(&server, Some(GithubCache::open(file.clone())));
    let found = cold.discover().await.expect("discovery");
    assert_eq!(found.found.len(), 125);
    let c = org.counts();
    assert_eq!((c.list, c.descriptor, c.other), (3, 125, 125), "{c:?}");
    drop(cold);

    // Another process, the same cache file.
    let before = org.counts();
    let warm = org_provider(&server, Some(GithubCache::open(file.clone())));
    let again = warm.discover().await.expect("discovery");
    assert_eq!(again, found);
    let c = org.counts().since(&before);
    assert_eq!(
        c,
        crate::common::github_org::Counts {
            list_304: 3,
            ..Default::default()
        },
        "a warm start lists conditionally and reads nothing else"
    );

    org.push_file(
        "svc-0002",
        DESCRIPTOR,
        &org_descriptor("svc-0002").replace("does things", "moved"),
    );
    org.push("svc-0004");
    org.push_file("svc-new", DESCRIPTOR, &org_descriptor("svc-new"));
    let before = org.counts();
    let changed = warm.discover().await.expect("discovery");
    let c = org.counts().since(&before);
    assert_eq!(
        (c.descriptor, c.descriptor_304, c.other),
        (2, 1, 0),
        "{c:?}"
    );
    assert_eq!(c.list + c.list_304, 3, "{c:?}");
    assert_eq!(changed.found.len(), 126);
    assert!(
        changed
            .found
            .iter()
            .any(|(l, t)| l.ends_with("/svc-0002/catalog-info.yaml") && t.contains("moved")),
        "the changed descriptor is read"
    );
}

/// Without the cache (as before), every discovery lists unconditionally and reads every
/// descriptor: what the cost benchmark's "before" measures.
#[tokio::test]
async fn without_the_cache_every_discovery_reads_everything() {
    let (server, org) = GithubOrg::start(ORG, 20, 1).await;
    // Little budget left changes nothing here: there is nothing remembered to show.
    org.set_remaining(50);
    let github = org_provider(&server, None);
    github.discover().await.expect("discovery");
    let second = github.discover().await.expect("discovery");
    assert_eq!(
        second.found.len(),
        20,
        "nothing remembered: everything read again"
    );
    let c = org.counts();
    assert_eq!(
        (c.list, c.list_304, c.descriptor, c.descriptor_304),
        (2, 0, 40, 0),
        "{c:?}"
    );
}

/// A 429 with `retry-after` stops every request until then: the next discovery asks
/// nothing (no tight loop), serves what was read before, and the notice says until
/// when. Little budget left: the org is not listed again for a while.
#[tokio::test]
async fn the_rate_limit_is_respected_and_said() {
    let (server, org) = GithubOrg::start(ORG, 10, 1).await;
    let github = org_provider(&server, Some(GithubCache::in_memory()));
    github.discover().await.expect("discovery");
    assert_eq!(github.notice(), None, "plenty left: nothing to say");

    org.throttle(Some(120));
    let before = org.counts();
    let d = github.discover().await.expect("what was read before");
    assert_eq!(d.found.len(), 10, "the descriptors read before are kept");
    assert!(d.failed[0].1.contains("429"), "{:?}", d.failed);
    assert_eq!(org.counts().since(&before).total(), 1, "asked once");
    let notice = github.notice().expect("a notice");
    assert!(notice.contains("paused until"), "{notice}");
    for _ in 0..3 {
        let d = github.discover().await.expect("kept");
        assert!(d.failed[0].1.contains("rate limit"), "{:?}", d.failed);
    }
    assert_eq!(
        org.counts().since(&before).total(),
        1,
        "not asked again before the time"
    );

    // Low budget: once listed, not again for LOW_BUDGET_REFRESH.
    let (server, org) = GithubOrg::start(ORG, 10, 1).await;
    org.set_remaining(50);
    let github = org_provider(&server, Some(GithubCache::in_memory()));
    github.discover().await.expect("discovery");
    let notice = github.notice().expect("a notice");
    assert!(notice.contains("requests left"), "{notice}");
    let before = org.counts();
    let d = github.discover().await.expect("discovery");
    assert_eq!(d.found.len(), 10);
    assert_eq!(
        org.counts().since(&before).total(),
        0,
        "slowed down: nothing asked"
    );
}

/// The service view's GitHub facts (issue 14): a repository with its workflows and its
/// releases are given again without asking GitHub within the TTL; after it, a steady
/// state makes only 304s (free of the rate limit), and the workflow directory of a
/// repository nothing was pushed to is not asked again; a push and a new release are
/// seen after the TTL. A repository without workflows or releases costs no charged
/// request in the steady state either.
#[tokio::test]
async fn service_facts_are_remembered_then_asked_only_conditionally() {
    let (server, org) = GithubOrg::start(ORG, 3, 1).await;
    org.push_file("svc-0001", ".github/workflows/ci.yml", "on: push\n");
    org.publish("svc-0001", "v1.0.0");
    let gh = org_provider(&server, Some(GithubCache::in_memory()));
    let read = || async {
        let with = gh.repo("svc-0001").await.expect("repo").expect("exists");
        let without = gh.repo("svc-0002").await.expect("repo").expect("exists");
        let releases = gh.releases("svc-0001").await.expect("releases");
        let none = gh.releases("svc-0002").await.expect("releases");
        (with.workflows, without.workflows, releases, none)
    };
    let first = read().await;
    assert_eq!(first.0, ["ci.yml"]);
    assert!(first.1.is_empty());
    assert_eq!(first.2, ["1.0.0"]);
    assert!(first.3.is_empty());

    // Within the TTL: nothing is asked.
    let before = org.counts();
    for _ in 0..10 {
        assert_eq!(read().await, first);
    }
    assert_eq!(
        org.counts().since(&before).total(),
        0,
        "asked within the TTL"
    );

    // After it, with nothing changed: only 304s, and no workflow directory asked.
    gh.set_facts_ttl(Duration::ZERO);
    let before = org.counts();
    for _ in 0..5 {
        assert_eq!(read().await, first);
    }
    let c = org.counts().since(&before);
    assert_eq!(c.charged(), 0, "a steady state is charged: {c:?}");
    // Per round: 2 repositories, 2 release listings, 1 tag listing (no releases).
    assert_eq!(c.other_304, 5 * 5, "{c:?}");

    // A push (a new workflow) and a new release are seen.
    org.push_file("svc-0001", ".github/workflows/deploy.yml", "on: release\n");
    org.publish("svc-0001", "v1.1.0");
    let before = org.counts();
    let now = read().await;
    assert_eq!(now.0, ["ci.yml", "deploy.yml"]);
    assert_eq!(now.2, ["1.0.0", "1.1.0"]);
    let c = org.counts().since(&before);
    // The pushed repository, its workflows and its releases: read again.
    assert_eq!(c.other, 3, "{c:?}");
}
