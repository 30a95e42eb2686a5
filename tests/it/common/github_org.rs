//! A GitHub org as GitHub serves it, on loopback (wiremock answering from state): the
//! org's repository listing (paginated, with `Link`), each repository, its files and
//! directories through the contents API (GET, and PUT with the blob sha), the whole tree
//! (`git/trees/REF?recursive=1`) and blobs by sha (`git/blobs/SHA`), its releases
//! and tags, `ETag`s on every answer and `304
//! Not Modified` to a matching `If-None-Match`, the rate-limit headers (a `304` does
//! not count, as on GitHub), and a counter of every request by kind. A push moves the
//! repository's `pushed_at`, as on GitHub.
//!
//! Shared by the provider tests and `benches/cost.rs` (which includes this file).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Requests by kind; `*_304` were answered `304 Not Modified`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub list: u64,
    pub list_304: u64,
    pub descriptor: u64,
    pub descriptor_304: u64,
    /// Other GETs (version files, repositories, releases...).
    pub other: u64,
    pub other_304: u64,
    pub writes: u64,
}

impl Counts {
    /// Every request.
    pub fn total(&self) -> u64 {
        self.list
            + self.list_304
            + self.descriptor
            + self.descriptor_304
            + self.other
            + self.other_304
            + self.writes
    }
    /// Requests that count against GitHub's rate limit (every one but a 304).
    pub fn charged(&self) -> u64 {
        self.list + self.descriptor + self.other + self.writes
    }
    pub fn since(&self, before: &Counts) -> Counts {
        Counts {
            list: self.list - before.list,
            list_304: self.list_304 - before.list_304,
            descriptor: self.descriptor - before.descriptor,
            descriptor_304: self.descriptor_304 - before.descriptor_304,
            other: self.other - before.other,
            other_304: self.other_304 - before.other_304,
            writes: self.writes - before.writes,
        }
    }
}

#[derive(Debug, Clone)]
struct Repo {
    id: u64,
    pushed: u64,
    /// path → (text, blob sha)
    files: BTreeMap<String, (String, String)>,
    /// Published releases' tags, oldest first.
    releases: Vec<String>,
}

#[derive(Debug)]
struct State {
    org: String,
    base: String,
    repos: BTreeMap<String, Repo>,
    clock: u64,
    counts: Counts,
    limit: u64,
    remaining: u64,
    /// Answer every request `429` with this `retry-after` (seconds) while set.
    throttle: Option<u64>,
}

/// The org; clones share it.
#[derive(Clone)]
pub struct GithubOrg {
    state: Arc<Mutex<State>>,
}

pub const DESCRIPTOR: &str = "catalog-info.yaml";

pub fn descriptor(name: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  \
         description: {name} does things\nspec:\n  type: service\n  lifecycle: production\n  \
         owner: group:default/payments\n"
    )
}

fn sha_of(text: &str) -> String {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    format!("{:040x}", u128::from(h.finish()))
}

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unb64(text: &str) -> String {
    use base64::Engine;
    let flat: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(flat)
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

fn etag_of(body: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    format!("W/\"{:016x}\"", h.finish())
}

impl GithubOrg {
    /// An org of `n` repositories `svc-0000`…; every `with_descriptor`-th one (1: all)
    /// holds a `catalog-info.yaml`.
    pub async fn start(org: &str, n: usize, with_descriptor: usize) -> (MockServer, GithubOrg) {
        let server = MockServer::start().await;
        let mut repos = BTreeMap::new();
        for i in 0..n {
            let name = format!("svc-{i:04}");
            let mut files = BTreeMap::new();
            if with_descriptor > 0 && i % with_descriptor == 0 {
                let text = descriptor(&name);
                files.insert(DESCRIPTOR.to_string(), (text.clone(), sha_of(&text)));
            }
            repos.insert(
                name,
                Repo {
                    id: i as u64 + 1,
                    pushed: 0,
                    files,
                    releases: Vec::new(),
                },
            );
        }
        let org_state = GithubOrg {
            state: Arc::new(Mutex::new(State {
                org: org.to_string(),
                base: server.uri(),
                repos,
                clock: 0,
                counts: Counts::default(),
                limit: 5000,
                remaining: 5000,
                throttle: None,
            })),
        };
        Mock::given(wiremock::matchers::any())
            .respond_with(org_state.clone())
            .mount(&server)
            .await;
        (server, org_state)
    }

    pub fn counts(&self) -> Counts {
        self.state.lock().unwrap().counts
    }

    /// A repository (new or not) gets `path` with `text`, as a push does.
    pub fn push_file(&self, repo: &str, path: &str, text: &str) {
        let mut s = self.state.lock().unwrap();
        s.clock += 1;
        let clock = s.clock;
        let id = s.repos.len() as u64 + 1;
        let r = s.repos.entry(repo.to_string()).or_insert(Repo {
            id,
            pushed: 0,
            files: BTreeMap::new(),
            releases: Vec::new(),
        });
        r.files
            .insert(path.to_string(), (text.to_string(), sha_of(text)));
        r.pushed = clock;
    }

    /// A push to `repo` that changes no file discovery reads.
    pub fn push(&self, repo: &str) {
        let mut s = self.state.lock().unwrap();
        s.clock += 1;
        let clock = s.clock;
        if let Some(r) = s.repos.get_mut(repo) {
            r.pushed = clock;
        }
    }

    /// `repo` publishes a release tagged `tag` (GitHub moves no `pushed_at` for it).
    pub fn publish(&self, repo: &str, tag: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(r) = s.repos.get_mut(repo) {
            r.releases.push(tag.to_string());
        }
    }

    /// What remains of the rate limit, and the limit.
    pub fn set_remaining(&self, remaining: u64) {
        self.state.lock().unwrap().remaining = remaining;
    }

    /// Answer everything `429` with `retry-after` (`None`: answer again).
    pub fn throttle(&self, retry_after: Option<u64>) {
        self.state.lock().unwrap().throttle = retry_after;
    }

    pub fn file(&self, repo: &str, path: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.repos.get(repo)?.files.get(path).map(|(t, _)| t.clone())
    }
}

fn repo_json(base: &str, org: &str, name: &str, r: &Repo) -> Value {
    let url = format!("{base}/repos/{org}/{name}");
    json!({
        "id": r.id,
        "node_id": "R_kgDOAbCdEf",
        "name": name,
        "full_name": format!("{org}/{name}"),
        "owner": user_json(base, org, "Organization"),
        "private": true,
        "html_url": format!("https://github.com/{org}/{name}"),
        "description": null,
        "fork": false,
        "url": url,
        "created_at": "2026-01-10T09:00:00Z",
        "updated_at": "2026-11-20T09:00:00Z",
        "pushed_at": format!("2026-11-20T{:02}:{:02}:{:02}Z", 9 + r.pushed / 3600, (r.pushed / 60) % 60, r.pushed % 60),
        "size": 120,
        "default_branch": "main",
        "archived": false,
        "disabled": false,
        "visibility": "private"
    })
}

fn content_json(base: &str, org: &str, repo: &str, path: &str, text: &str, sha: &str) -> Value {
    let url = format!("{base}/repos/{org}/{repo}/contents/{path}?ref=main");
    json!({
        "type": "file",
        "encoding": "base64",
        "size": text.len(),
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "content": b64(text.as_bytes()),
        "sha": sha,
        "url": url,
        "git_url": format!("{base}/repos/{org}/{repo}/git/blobs/{sha}"),
        "html_url": format!("https://github.com/{org}/{repo}/blob/main/{path}"),
        "download_url": format!("https://raw.githubusercontent.com/{org}/{repo}/main/{path}"),
        "_links": {
            "git": format!("{base}/repos/{org}/{repo}/git/blobs/{sha}"),
            "self": url,
            "html": format!("https://github.com/{org}/{repo}/blob/main/{path}")
        }
    })
}

fn release_json(base: &str, org: &str, repo: &str, id: u64, tag: &str) -> Value {
    let url = format!("{base}/repos/{org}/{repo}/releases/{id}");
    let published = format!("2026-11-{:02}T09:00:00Z", 1 + id % 28);
    json!({
        "url": url,
        "html_url": format!("https://github.com/{org}/{repo}/releases/tag/{tag}"),
        "assets_url": format!("{url}/assets"),
        "upload_url": format!("https://uploads.github.com/repos/{org}/{repo}/releases/{id}/assets{{?name,label}}"),
        "tarball_url": format!("{base}/repos/{org}/{repo}/tarball/{tag}"),
        "zipball_url": format!("{base}/repos/{org}/{repo}/zipball/{tag}"),
        "id": id,
        "node_id": "MDc6UmVsZWFzZTE=",
        "tag_name": tag,
        "target_commitish": "main",
        "name": tag,
        "body": "",
        "draft": false,
        "prerelease": false,
        "created_at": published,
        "published_at": published,
        "author": user_json(base, "octocat", "User"),
        "assets": []
    })
}

/// A user or organisation as GitHub embeds one (a repository's owner, an author).
fn user_json(base: &str, login: &str, kind: &str) -> Value {
    let u = format!("{base}/users/{login}");
    json!({
        "login": login, "id": 1001, "node_id": "MDEyOk9yZ2FuaXphdGlvbjEwMDE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/1001?v=4", "gravatar_id": "",
        "url": u, "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": kind, "site_admin": false
    })
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404"
    }))
}

/// An answer to send: status, body, extra headers; or a finished error answer.
type Answer = Result<(u16, Vec<u8>, Vec<(String, String)>), ResponseTemplate>;

#[derive(Clone, Copy)]
enum Kind {
    List,
    Descriptor,
    Other,
}

impl Respond for GithubOrg {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().unwrap();
        let reset = chrono::Utc::now().timestamp() + 3600;
        if let Some(after) = s.throttle {
            s.counts.other += 1;
            return ResponseTemplate::new(429)
                .insert_header("retry-after", after.to_string().as_str())
                .insert_header("x-ratelimit-limit", s.limit.to_string().as_str())
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit"}));
        }
        let path = req.url.path().to_string();
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let (org, base) = (s.org.clone(), s.base.clone());
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
        let (kind, answer): (Kind, Answer) = match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["orgs", o, "repos"]) if *o == org => {
                let per_page: usize = query
                    .get("per_page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(30);
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let all: Vec<Value> = (s.repos.iter())
                    .map(|(n, r)| repo_json(&base, &org, n, r))
                    .collect();
                let pages = all.len().div_ceil(per_page).max(1);
                let items: Vec<Value> = all
                    .into_iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .collect();
                let mut headers = Vec::new();
                if page < pages {
                    let link =
                        |p: usize| format!("{base}/orgs/{org}/repos?per_page={per_page}&page={p}");
                    headers.push((
                        "link".to_string(),
                        format!(
                            "<{}>; rel=\"next\", <{}>; rel=\"last\"",
                            link(page + 1),
                            link(pages)
                        ),
                    ));
                }
                (
                    Kind::List,
                    Ok((200, serde_json::to_vec(&items).unwrap(), headers)),
                )
            }
            ("GET", ["repos", o, repo, "contents", file]) if *o == org => {
                let kind = if *file == DESCRIPTOR {
                    Kind::Descriptor
                } else {
                    Kind::Other
                };
                let dir = format!("{file}/");
                match s.repos.get(*repo) {
                    Some(r) if r.files.contains_key(*file) => {
                        let (text, sha) = &r.files[*file];
                        let body = content_json(&base, &org, repo, file, text, sha);
                        (
                            kind,
                            Ok((200, serde_json::to_vec(&body).unwrap(), Vec::new())),
                        )
                    }
                    // A directory: its entries (files directly in it).
                    Some(r) if r.files.keys().any(|p| p.starts_with(&dir)) => {
                        let entries: Vec<Value> = (r.files.iter())
                            .filter(|(p, _)| {
                                p.strip_prefix(&dir).is_some_and(|rest| !rest.contains('/'))
                            })
                            .map(|(p, (text, sha))| {
                                let mut e = content_json(&base, &org, repo, p, text, sha);
                                let e_obj = e.as_object_mut().unwrap();
                                e_obj.remove("content");
                                e_obj.remove("encoding");
                                e
                            })
                            .collect();
                        (
                            kind,
                            Ok((200, serde_json::to_vec(&entries).unwrap(), Vec::new())),
                        )
                    }
                    _ => (kind, Err(not_found())),
                }
            }
            ("PUT", ["repos", o, repo, "contents", file]) if *o == org => {
                s.counts.writes += 1;
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let text = unb64(body["content"].as_str().unwrap_or_default());
                let given = body["sha"].as_str().map(str::to_string);
                let (repo, file) = (repo.to_string(), file.to_string());
                let Some(r) = s.repos.get(&repo) else {
                    return not_found();
                };
                let current = r.files.get(&file).map(|(_, sha)| sha.clone());
                if current != given {
                    return ResponseTemplate::new(409)
                            .set_body_json(json!({"message": format!("{file} does not match {}", given.unwrap_or_default())}));
                }
                drop(s);
                self.push_file(&repo, &file, &text);
                let sha = sha_of(&text);
                let mut c = content_json(&base, &org, &repo, &file, &text, &sha);
                c.as_object_mut().unwrap().remove("content");
                return ResponseTemplate::new(200).set_body_json(json!({
                        "content": c,
                        "commit": {
                            "sha": "7638417db6d59f3c431d3e1f261cc637155684cd",
                            "node_id": "MDY6Q29tbWl0",
                            "url": format!("{base}/repos/{org}/{repo}/git/commits/7638417db6d59f3c431d3e1f261cc637155684cd"),
                            "html_url": format!("https://github.com/{org}/{repo}/git/commit/7638417db6d59f3c431d3e1f261cc637155684cd"),
                            "author": {"date": "2026-11-30T04:40:00Z", "name": "sphere", "email": "sphere@example.com"},
                            "committer": {"date": "2026-11-30T04:40:00Z", "name": "sphere", "email": "sphere@example.com"},
                            "message": body["message"],
                            "tree": {"url": format!("{base}/repos/{org}/{repo}/git/trees/691272480426f78a0138979dd3ce63b77f706feb"), "sha": "691272480426f78a0138979dd3ce63b77f706feb"},
                            "parents": [],
                            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
                        }
                    }));
            }
            // The whole tree of the default branch (`main`; `recursive` lists every
            // file and directory), as GitHub answers it.
            ("GET", ["repos", o, repo, "git", rest]) if *o == org && rest.starts_with("trees/") => {
                match s.repos.get(*repo) {
                    Some(r) if rest == &"trees/main" => {
                        let mut dirs = std::collections::BTreeSet::new();
                        for p in r.files.keys() {
                            let mut at = p.as_str();
                            while let Some((d, _)) = at.rsplit_once('/') {
                                dirs.insert(d.to_string());
                                at = d;
                            }
                        }
                        let mut entries: Vec<Value> = dirs
                            .iter()
                            .map(|d| {
                                let sha = sha_of(d);
                                json!({"path": d, "mode": "040000", "type": "tree", "sha": sha,
                                       "url": format!("{base}/repos/{org}/{repo}/git/trees/{sha}")})
                            })
                            .collect();
                        entries.extend(r.files.iter().map(|(p, (text, sha))| {
                            json!({"path": p, "mode": "100644", "type": "blob", "sha": sha,
                                   "size": text.len(),
                                   "url": format!("{base}/repos/{org}/{repo}/git/blobs/{sha}")})
                        }));
                        entries.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
                        let body = json!({
                            "sha": sha_of(&format!("{:?}", r.files)),
                            "url": format!("{base}/repos/{org}/{repo}/git/trees/main"),
                            "tree": entries,
                            "truncated": false,
                        });
                        (
                            Kind::Other,
                            Ok((200, serde_json::to_vec(&body).unwrap(), Vec::new())),
                        )
                    }
                    _ => (Kind::Other, Err(not_found())),
                }
            }
            ("GET", ["repos", o, repo, "git", rest]) if *o == org && rest.starts_with("blobs/") => {
                let sha = &rest["blobs/".len()..];
                let found = s.repos.get(*repo).and_then(|r| {
                    r.files
                        .values()
                        .find(|(_, s)| s == sha)
                        .map(|(t, _)| t.clone())
                });
                match found {
                    Some(text) => {
                        let body = json!({
                            "sha": sha,
                            "node_id": "B_kwDOAAAAAA",
                            "size": text.len(),
                            "url": format!("{base}/repos/{org}/{repo}/git/blobs/{sha}"),
                            "content": b64(text.as_bytes()),
                            "encoding": "base64",
                        });
                        (
                            Kind::Other,
                            Ok((200, serde_json::to_vec(&body).unwrap(), Vec::new())),
                        )
                    }
                    None => (Kind::Other, Err(not_found())),
                }
            }
            ("GET", ["repos", o, repo, "releases"]) if *o == org => match s.repos.get(*repo) {
                Some(r) => {
                    // Newest first, as GitHub lists them.
                    let items: Vec<Value> = (r.releases.iter().enumerate().rev())
                        .map(|(i, tag)| release_json(&base, &org, repo, i as u64 + 1, tag))
                        .collect();
                    (
                        Kind::Other,
                        Ok((200, serde_json::to_vec(&items).unwrap(), Vec::new())),
                    )
                }
                None => (Kind::Other, Err(not_found())),
            },
            ("GET", ["repos", o, repo, "tags"]) if *o == org => match s.repos.get(*repo) {
                Some(_) => (Kind::Other, Ok((200, b"[]".to_vec(), Vec::new()))),
                None => (Kind::Other, Err(not_found())),
            },
            ("GET", ["repos", o, repo]) if *o == org => match s.repos.get(*repo) {
                Some(r) => {
                    let body = repo_json(&base, &org, repo, r);
                    (
                        Kind::Other,
                        Ok((200, serde_json::to_vec(&body).unwrap(), Vec::new())),
                    )
                }
                None => (Kind::Other, Err(not_found())),
            },
            _ => (Kind::Other, Err(not_found())),
        };
        let (status, body, headers) = match answer {
            Ok(a) => a,
            Err(r) => {
                s.counts.other += 1;
                return r;
            }
        };
        let etag = etag_of(&body);
        let matches = req
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == etag);
        let c = &mut s.counts;
        match (kind, matches) {
            (Kind::List, false) => c.list += 1,
            (Kind::List, true) => c.list_304 += 1,
            (Kind::Descriptor, false) => c.descriptor += 1,
            (Kind::Descriptor, true) => c.descriptor_304 += 1,
            (Kind::Other, false) => c.other += 1,
            (Kind::Other, true) => c.other_304 += 1,
        }
        if !matches {
            s.remaining = s.remaining.saturating_sub(1);
        }
        let mut t = if matches {
            ResponseTemplate::new(304)
        } else {
            ResponseTemplate::new(status).set_body_raw(body, "application/json; charset=utf-8")
        };
        t = t
            .insert_header("etag", etag.as_str())
            .insert_header("x-ratelimit-limit", s.limit.to_string().as_str())
            .insert_header("x-ratelimit-remaining", s.remaining.to_string().as_str())
            .insert_header("x-ratelimit-reset", reset.to_string().as_str());
        for (k, v) in headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        t
    }
}
