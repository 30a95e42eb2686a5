//! GitHub through octocrab: the catalog descriptors discovered in the org's
//! repositories, the repositories themselves (golden path, lifecycle evidence), the
//! release history and rollback commits to the GitOps repository, and the merge freeze
//! as an org ruleset switched on and off.
//!
//! Every request has its own time limit (`[github] timeout_seconds`); an error names
//! what was asked of GitHub (the repository, the file, the ruleset). The token comes
//! from `GITHUB_TOKEN` or `GH_TOKEN` and is never logged.
//!
//! Decisions, as the traits leave them open:
//! - **Releases** are the service repository's (`ORG/SERVICE`) published releases,
//!   oldest first by publication time (drafts left out, pre-releases kept). A repository
//!   without releases falls back to its tags, ordered by their version numbers. A leading
//!   `v` before a digit is dropped (`v1.4.2` is `1.4.2`), because deployments run image
//!   tags, which carry none. No repository: no releases.
//! - **Rollback** reads the version file at `version_path` on the GitOps repository's
//!   default branch and writes the new version with the file's blob sha: a change made
//!   since the read makes GitHub refuse (409, or 422 when the file appeared meanwhile)
//!   and the rollback fails as "changed concurrently"; nothing is overwritten. The same
//!   version commits nothing. No version file: the service does not run there (an error).
//! - **What git declares** (git-vs-live drift): the whole tree of the GitOps
//!   repository's default branch in one request (`git/trees/BRANCH?recursive=1`, asked
//!   conditionally: unchanged, it costs nothing), the paths matched against
//!   `version_path` and `hpa_path`, and only the blobs not read before fetched (by sha:
//!   a blob never changes, so each is read once per process). A truncated tree (over
//!   GitHub's 100,000 entries) is an error rather than a partial answer; so is an HPA
//!   file without `maxReplicas`, naming the file.
//! - **Templates**: `create_from_template` generates the repository from the template
//!   repository (`[github] templates` maps a template's name to it; a name with a `/`
//!   is taken as the repository itself), private, with the `description` value. GitHub
//!   renders nothing: the other values go into the files the golden path writes next.
//! - **Merge freeze**: on when the org ruleset named `freeze_ruleset` is enforced
//!   (`active`), off when it is `disabled` (or `evaluate`). A ruleset keeps no reason
//!   or author: `freeze()` gives on/off and, when on, `at` = the ruleset's last update;
//!   who froze and why are in the audit trail. To be switched the ruleset must exist
//!   (create it disabled, with the rules the freeze should enforce); sphere only
//!   switches it. An org without it is not frozen.
//!
//! Cost (see [`cache`]): every GET goes out conditionally (`If-None-Match`) when GitHub
//! gave an `ETag` before, and a `304` is answered from the cache (GitHub does not count
//! it against the rate limit). Discovery reads a repository's descriptor only when the
//! repository's `pushed_at` or default branch moved since it was last read; the cache
//! is kept in the cache directory, so a restart with nothing changed reads none.
//!
//! Rate limit: every answer's `x-ratelimit-remaining`/`x-ratelimit-reset` is noted. With
//! less than a tenth of the limit left, discovery refreshes at most every
//! [`LOW_BUDGET_REFRESH`] (the descriptors read before are used meanwhile) and reads
//! one repository at a time; a `429` or a `403` saying the limit is reached (or a
//! `retry-after`) stops every request until the time GitHub gave: they fail at once,
//! saying until when, and nothing is retried in a loop. [`GithubProvider::notice`]
//! says so for the header.

pub mod cache;
pub mod facts_memo;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use futures::StreamExt;
use octocrab::models::repos::{Content, ContentItems};
use octocrab::models::rulesets::{Ruleset, RulesetEnforcement, UpdateRuleset};
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::{FromResponse, Octocrab, Page};

use self::cache::{GithubCache, RepoMemo};
use self::facts_memo::FactsMemo;
use super::{DescriptorSource, Discovery};
use super::{FreezeStore, RepoInfo, ReposProvider};
use crate::config::platform::GithubConfig;
use crate::domain::{ClusterId, Freeze};

/// The catalog descriptor looked for in each repository of the org.
pub const DESCRIPTOR_FILE: &str = "catalog-info.yaml";
/// The directory holding GitHub Actions workflows.
pub const WORKFLOWS_DIR: &str = ".github/workflows";
/// How many repositories are read at once while discovering descriptors.
const DISCOVERY_CONCURRENCY: usize = 8;
/// Page size of every listing (GitHub's maximum).
const PER_PAGE: u8 = 100;
/// The public API root.
const DEFAULT_API: &str = "https://api.github.com";
/// With little of the rate limit left, discovery lists the org at most this often.
pub const LOW_BUDGET_REFRESH: Duration = Duration::from_secs(300);
/// Little of the rate limit is left below this many requests (or a tenth of the limit).
const LOW_BUDGET_FLOOR: u64 = 100;
/// Stopped this long when GitHub refuses for the rate limit and says not until when.
const DEFAULT_BACKOFF_SECS: i64 = 60;

/// Why one request failed.
#[derive(Debug)]
enum Failure {
    /// GitHub answered with an error status.
    Status(u16, String),
    /// No answer within the time limit.
    TimedOut,
    /// No answer at all (refused, reset, DNS, TLS).
    Transport(String),
    /// Not asked: GitHub's rate limit is reached until this time (unix seconds).
    RateLimited(i64),
}

impl Failure {
    fn status(&self) -> Option<u16> {
        match self {
            Failure::Status(code, _) => Some(*code),
            _ => None,
        }
    }
}

/// What GitHub said of its rate limit, and until when sphere holds back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RateState {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the limit resets (unix seconds).
    pub reset: Option<i64>,
    /// No request goes out before this (unix seconds): GitHub refused for the limit.
    pub blocked_until: Option<i64>,
}

impl RateState {
    /// Note one answer's status and rate-limit headers (at unix time `now`).
    pub fn observe(&mut self, status: u16, headers: &http::HeaderMap, now: i64) {
        let num = |name: &str| -> Option<i64> {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
        };
        if let Some(l) = num("x-ratelimit-limit") {
            self.limit = u64::try_from(l).ok();
        }
        if let Some(r) = num("x-ratelimit-remaining") {
            self.remaining = u64::try_from(r).ok();
        }
        if let Some(r) = num("x-ratelimit-reset") {
            self.reset = Some(r);
        }
        let retry_after = num("retry-after");
        let exhausted = self.remaining == Some(0);
        if status == 429 || (status == 403 && (retry_after.is_some() || exhausted)) {
            let until = match (retry_after, self.reset) {
                (Some(secs), _) => now + secs.max(1),
                (None, Some(reset)) if exhausted && reset > now => reset,
                _ => now + DEFAULT_BACKOFF_SECS,
            };
            self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
        }
    }

    /// Until when requests are held back, if they are now.
    pub fn blocked(&self, now: i64) -> Option<i64> {
        self.blocked_until.filter(|&until| until > now)
    }

    /// Little of the limit left before it resets.
    pub fn low(&self, now: i64) -> bool {
        let reserve = self
            .limit
            .map_or(LOW_BUDGET_FLOOR, |l| (l / 10).max(LOW_BUDGET_FLOOR));
        self.remaining.is_some_and(|r| r < reserve) && self.reset.is_none_or(|r| r > now)
    }

    /// What the header says about it; `None` while there is enough left.
    pub fn notice(&self, now: i64) -> Option<String> {
        if let Some(until) = self.blocked(now) {
            return Some(format!(
                "GitHub rate limit reached: paused until {}",
                clock(until)
            ));
        }
        if self.low(now) {
            return Some(format!(
                "GitHub: {} requests left{}, refreshing slower",
                self.remaining.unwrap_or(0),
                self.reset
                    .map(|r| format!(" until {}", clock(r)))
                    .unwrap_or_default()
            ));
        }
        None
    }
}

/// `HH:MM:SS` UTC of a unix time.
fn clock(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%H:%M:%S UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// One repository of the org, as discovery needs it (the listing's other fields are
/// not kept).
#[derive(Debug, Clone, serde::Deserialize)]
struct RepoSummary {
    name: String,
    owner: Option<RepoOwner>,
    pushed_at: Option<String>,
    default_branch: Option<String>,
    archived: Option<bool>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct RepoOwner {
    login: String,
}

/// The provider: one octocrab client for the configured org.
pub struct GithubProvider {
    crab: Octocrab,
    config: GithubConfig,
    api: String,
    timeout: Duration,
    /// `None`: nothing remembered (every request unconditional).
    cache: Option<GithubCache>,
    rate: Mutex<RateState>,
    /// When the org was last listed.
    listed_at: Mutex<Option<Instant>>,
    /// The service view's facts ([`facts_memo`]): a repository (and its `pushed_at`),
    /// a repository's releases.
    repo_facts: FactsMemo<(Option<RepoInfo>, Option<String>)>,
    release_facts: FactsMemo<Vec<String>>,
    /// The text of GitOps blobs read, by sha (blobs never change).
    blobs: Mutex<std::collections::HashMap<String, String>>,
}

/// A tree of the git database, as `git/trees/REF?recursive=1` answers.
#[derive(Debug, serde::Deserialize)]
struct GitTree {
    tree: Vec<GitTreeEntry>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Debug, serde::Deserialize)]
struct GitTreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
}

/// A blob, as `git/blobs/SHA` answers.
#[derive(Debug, serde::Deserialize)]
struct GitBlob {
    content: String,
    #[serde(default)]
    encoding: Option<String>,
}

/// `path` laid out as `template` (`apps/{service}/{env}/{region}/version`): the service,
/// environment and region it names. A placeholder stands for a whole path segment or a
/// part of one between fixed text (`{service}.yaml`); it never spans a `/`.
fn match_template(template: &str, path: &str) -> Option<(String, String, String)> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut got: BTreeMap<&str, &str> = BTreeMap::new();
    for (ts, ps) in t.iter().zip(&p) {
        let Some(open) = ts.find('{') else {
            if ts != ps {
                return None;
            }
            continue;
        };
        let close = open + ts[open..].find('}')?;
        let (prefix, name, suffix) = (&ts[..open], &ts[open + 1..close], &ts[close + 1..]);
        let value = ps.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if value.is_empty() || got.get(name).is_some_and(|v| *v != value) {
            return None;
        }
        got.insert(name, value);
    }
    Some((
        got.get("service")?.to_string(),
        got.get("env")?.to_string(),
        got.get("region")?.to_string(),
    ))
}

impl GithubProvider {
    /// A provider with the token from `GITHUB_TOKEN` (else `GH_TOKEN`); without one,
    /// requests go unauthenticated (and GitHub refuses what needs a login).
    pub fn from_env(config: &GithubConfig) -> Result<Self> {
        Self::from_env_with_cache(config, Some(GithubCache::in_memory()))
    }

    /// [`from_env`](Self::from_env) with this cache (`None`: none at all — every
    /// request unconditional, every descriptor read each time).
    pub fn from_env_with_cache(config: &GithubConfig, cache: Option<GithubCache>) -> Result<Self> {
        let token = ["GITHUB_TOKEN", "GH_TOKEN"]
            .into_iter()
            .find_map(|var| std::env::var(var).ok().filter(|t| !t.trim().is_empty()));
        if token.is_none() {
            tracing::warn!(
                "neither GITHUB_TOKEN nor GH_TOKEN is set: GitHub requests go unauthenticated"
            );
        }
        Self::with_cache(config, token, cache)
    }

    /// A provider with an explicit token (`None`: unauthenticated) and a cache in
    /// memory only.
    pub fn new(config: &GithubConfig, token: Option<String>) -> Result<Self> {
        Self::with_cache(config, token, Some(GithubCache::in_memory()))
    }

    /// The file the cache of `config`'s org is kept in, under `cache_dir`.
    pub fn cache_file(config: &GithubConfig, cache_dir: &std::path::Path) -> std::path::PathBuf {
        let api = config.api_url.as_deref().unwrap_or(DEFAULT_API);
        let safe: String = format!("{api}-{}", config.org)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        cache_dir.join("github").join(format!("{safe}.json"))
    }

    /// A provider with an explicit token and cache.
    pub fn with_cache(
        config: &GithubConfig,
        token: Option<String>,
        cache: Option<GithubCache>,
    ) -> Result<Self> {
        let api = config
            .api_url
            .clone()
            .unwrap_or_else(|| DEFAULT_API.to_string());
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        // Only connecting has its own limit here: every request as a whole (retries
        // included) is limited in `call`, so a slow answer always reads "did not answer".
        // No retries inside octocrab: its simple policy asks again at once on a 5xx or
        // 429; sphere backs off by the rate-limit headers instead (see `RateState`).
        let mut builder = Octocrab::builder()
            .set_connect_timeout(Some(timeout))
            .add_retry_config(RetryConfig::None);
        if let Some(cache) = &cache {
            builder = builder.cache(cache.clone());
        }
        let mut builder = builder
            .base_uri(api.as_str())
            .with_context(|| format!("[github] api_url {api:?} is not a URL"))?;
        if let Some(token) = token {
            builder = builder.personal_token(token);
        }
        let crab = builder.build().context("building the GitHub client")?;
        Ok(GithubProvider {
            crab,
            config: config.clone(),
            api,
            timeout,
            cache,
            rate: Mutex::new(RateState::default()),
            listed_at: Mutex::new(None),
            repo_facts: FactsMemo::default(),
            release_facts: FactsMemo::default(),
            blobs: Mutex::new(std::collections::HashMap::new()),
        }
        .remembering_facts())
    }

    /// Without a cache nothing is remembered: the facts are asked every time too.
    fn remembering_facts(self) -> Self {
        if self.cache.is_none() {
            self.repo_facts.set_off();
            self.release_facts.set_off();
        }
        self
    }

    /// How long the service view's facts are given again without asking GitHub
    /// ([`facts_memo::FACTS_TTL`] unless set).
    pub fn set_facts_ttl(&self, ttl: Duration) {
        self.repo_facts.set_ttl(ttl);
        self.release_facts.set_ttl(ttl);
    }

    /// Forgets the facts of `owner/name` (sphere wrote to it).
    fn forget_facts(&self, owner: &str, name: &str) {
        let key = format!("{owner}/{name}");
        self.repo_facts.forget(&key);
        self.release_facts.forget(&key);
    }

    fn rate(&self) -> std::sync::MutexGuard<'_, RateState> {
        self.rate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What GitHub last said of its rate limit.
    pub fn rate_state(&self) -> RateState {
        self.rate().clone()
    }

    /// What the header should say about GitHub now (the rate limit), if anything.
    pub fn notice(&self) -> Option<String> {
        self.rate().notice(chrono::Utc::now().timestamp())
    }

    /// A GET of `uri` (a path under the API root, or a whole URL GitHub gave) read as
    /// `R`, noting the rate-limit headers of the answer.
    async fn get_json<R: FromResponse>(&self, uri: &str) -> Result<R, Failure> {
        self.call(async {
            let response = self.crab._get(uri).await?;
            let now = chrono::Utc::now().timestamp();
            self.rate()
                .observe(response.status().as_u16(), response.headers(), now);
            let response = octocrab::map_github_error(response).await?;
            R::from_response(response).await
        })
        .await
    }

    /// One request with the time limit; none at all while the rate limit holds back.
    async fn call<T>(&self, fut: impl Future<Output = octocrab::Result<T>>) -> Result<T, Failure> {
        if let Some(until) = self.rate().blocked(chrono::Utc::now().timestamp()) {
            return Err(Failure::RateLimited(until));
        }
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(Failure::TimedOut),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(octocrab::Error::GitHub { source, .. })) => Err(Failure::Status(
                source.status_code.as_u16(),
                source.message.clone(),
            )),
            Ok(Err(e)) => {
                let text = chain(&e);
                if text.contains("timed out") || text.contains("deadline has elapsed") {
                    Err(Failure::TimedOut)
                } else {
                    Err(Failure::Transport(text))
                }
            }
        }
    }

    /// The error for a failed request, naming what was asked.
    fn error(&self, failure: Failure, what: impl Display) -> anyhow::Error {
        match failure {
            Failure::Status(code, message) => {
                anyhow!("GitHub refused {what}: {code} {}", message.trim())
            }
            Failure::TimedOut => anyhow!(
                "GitHub ({}) did not answer {what} within {}s",
                self.api,
                self.timeout.as_secs()
            ),
            Failure::Transport(e) => {
                anyhow!("GitHub ({}) is unreachable for {what}: {e}", self.api)
            }
            Failure::RateLimited(until) => anyhow!(
                "{what} not asked: GitHub's rate limit is reached until {}",
                clock(until)
            ),
        }
    }

    /// `owner/name` from a slug (`name` alone: in the org).
    fn split<'a>(&'a self, slug: &'a str) -> Result<(&'a str, &'a str)> {
        match slug.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => Ok((o, n)),
            None if !slug.is_empty() => Ok((self.config.org.as_str(), slug)),
            _ => bail!("{slug:?} is not a repository (OWNER/NAME)"),
        }
    }

    /// The host descriptors are attributed to (`github.com`, or a GitHub Enterprise host).
    fn host(&self) -> String {
        let rest = self
            .api
            .split_once("://")
            .map_or(self.api.as_str(), |(_, r)| r);
        let host = rest
            .split(['/', ':'])
            .next()
            .filter(|h| !h.is_empty())
            .unwrap_or("github.com")
            .to_string();
        if host == "api.github.com" {
            "github.com".to_string()
        } else {
            host
        }
    }

    /// A repository, `None` when there is none.
    async fn get_repo(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Option<octocrab::models::Repository>> {
        match self.call(self.crab.repos(owner, name).get()).await {
            Ok(r) => Ok(Some(r)),
            Err(f) if f.status() == Some(404) => Ok(None),
            Err(f) => Err(self.error(f, format_args!("repository {owner}/{name}"))),
        }
    }

    /// The items at `path` (one for a file, the entries of a directory) on `reference`
    /// (default branch when `None`); `None` when there is no such path.
    async fn contents(
        &self,
        owner: &str,
        name: &str,
        path: &str,
        reference: Option<&str>,
    ) -> Result<Option<Vec<Content>>, Failure> {
        let mut uri = format!("/repos/{owner}/{name}/contents/{path}");
        if let Some(r) = reference {
            uri.push_str("?ref=");
            uri.push_str(&query_escape(r));
        }
        match self.get_json::<ContentItems>(&uri).await {
            Ok(mut items) => Ok(Some(items.take_items())),
            Err(f) if f.status() == Some(404) => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// One file's text and blob sha on `reference`; `None` when there is no such file.
    async fn read_file(
        &self,
        owner: &str,
        name: &str,
        path: &str,
        reference: Option<&str>,
    ) -> Result<Option<(String, String)>> {
        let what = || format!("{path} in {owner}/{name}");
        let items = self
            .contents(owner, name, path, reference)
            .await
            .map_err(|f| self.error(f, what()))?;
        let Some(items) = items else {
            return Ok(None);
        };
        let [item] = items.as_slice() else {
            bail!("{} is a directory, not a file", what());
        };
        if item.r#type != "file" {
            bail!("{} is a {}, not a file", what(), item.r#type);
        }
        let text = match (&item.content, item.encoding.as_deref()) {
            (Some(c), Some("base64") | None) => {
                let bytes = decode_base64(c).with_context(what)?;
                String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", what()))?
            }
            (_, Some(other)) => bail!(
                "{} comes in an encoding sphere cannot read ({other})",
                what()
            ),
            (None, _) => bail!("{} has no content in GitHub's answer (too large?)", what()),
        };
        Ok(Some((text, item.sha.clone())))
    }

    /// A repository's releases, oldest first (else its tags; see the module's notes).
    async fn read_releases(&self, owner: &str, name: &str) -> Result<Vec<String>> {
        let what = || format!("the releases of {owner}/{name}");
        let repos = self.crab.repos(owner, name);
        let first = match self
            .call(repos.releases().list().per_page(PER_PAGE).send())
            .await
        {
            Ok(p) => p,
            Err(f) if f.status() == Some(404) => return Ok(Vec::new()),
            Err(f) => return Err(self.error(f, what())),
        };
        let mut page = first;
        let mut releases = page.take_items();
        while let Some(mut next) = self
            .call(self.crab.get_page(&page.next))
            .await
            .map_err(|f| self.error(f, what()))?
        {
            releases.append(&mut next.take_items());
            page = next;
        }
        if !releases.is_empty() {
            // GitHub lists newest first: reverse, then a stable sort by date.
            releases.reverse();
            releases.retain(|r| !r.draft);
            releases.sort_by_key(|r| r.published_at.or(r.created_at));
            return Ok(releases.iter().map(|r| version_of(&r.tag_name)).collect());
        }
        let what = || format!("the tags of {owner}/{name}");
        let mut page = self
            .call(repos.list_tags().per_page(PER_PAGE).send())
            .await
            .map_err(|f| self.error(f, what()))?;
        let mut tags = page.take_items();
        while let Some(mut next) = self
            .call(self.crab.get_page(&page.next))
            .await
            .map_err(|f| self.error(f, what()))?
        {
            tags.append(&mut next.take_items());
            page = next;
        }
        let mut versions: Vec<String> = tags.iter().map(|t| version_of(&t.name)).collect();
        versions.sort_by(|a, b| version_key(a).cmp(&version_key(b)).then_with(|| a.cmp(b)));
        versions.dedup();
        Ok(versions)
    }

    /// Commit `content` to `path`: a new file without `sha`, else replacing that blob.
    async fn put_file(
        &self,
        owner: &str,
        name: &str,
        path: &str,
        content: &str,
        sha: Option<&str>,
        message: &str,
    ) -> Result<(), Failure> {
        let repos = self.crab.repos(owner, name);
        let req = match sha {
            Some(sha) => repos.update_file(path, message, content, sha),
            None => repos.create_file(path, message, content),
        };
        self.call(req.send()).await.map(|_| ())
    }

    /// Every repository of the org (every page), each page asked conditionally.
    async fn org_repos(&self) -> Result<Vec<RepoSummary>> {
        let org = &self.config.org;
        let what = || format!("the repositories of {org}");
        let mut next = Some(format!("/orgs/{org}/repos?per_page={PER_PAGE}"));
        let mut out = Vec::new();
        while let Some(uri) = next.take() {
            let mut page: Page<RepoSummary> = self
                .get_json(&uri)
                .await
                .map_err(|f| self.error(f, what()))?;
            out.append(&mut page.take_items());
            next = page.next.map(|u| u.to_string());
        }
        Ok(out)
    }

    /// The org ruleset named `freeze_ruleset`; `None` when the org has none of that
    /// name (an org that never freezes: nothing is frozen).
    async fn freeze_ruleset(&self) -> Result<Option<Ruleset>> {
        let org = &self.config.org;
        let name = &self.config.freeze_ruleset;
        let orgs = self.crab.orgs(org.as_str());
        let rulesets = orgs.rulesets();
        let mut page_no = 1u32;
        loop {
            let page = self
                .call(rulesets.list().per_page(PER_PAGE).page(page_no).send())
                .await
                .map_err(|f| self.error(f, format_args!("the rulesets of {org}")))?;
            let full = page.len() == usize::from(PER_PAGE);
            if let Some(r) = page.into_iter().find(|r| &r.name == name) {
                return Ok(Some(r));
            }
            if !full {
                return Ok(None);
            }
            page_no += 1;
        }
    }

    /// Why the freeze cannot be switched: the org has no ruleset to switch.
    fn no_freeze_ruleset(&self) -> anyhow::Error {
        anyhow!(
            "{} has no ruleset named {:?} for the merge freeze: create it \
             (disabled, with the rules a freeze enforces) or set [github] freeze_ruleset",
            self.config.org,
            self.config.freeze_ruleset
        )
    }

    /// GitHub copies a template's files into the new repository after answering: wait
    /// (polling, up to twice the request limit) until its root lists something, so the
    /// files written next land on the template's branch. Still empty then: go on (the
    /// next step reports its own error and can be retried).
    async fn wait_for_contents(&self, owner: &str, name: &str) {
        let deadline = tokio::time::Instant::now() + self.timeout * 2;
        loop {
            if let Ok(Some(items)) = self.contents(owner, name, "", None).await
                && !items.is_empty()
            {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(repo = %format!("{owner}/{name}"), "the generated repository is still empty");
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The GitOps repository as `(owner, name)`.
    fn gitops(&self) -> Result<(&str, &str)> {
        let Some(repo) = self.config.gitops_repo.as_deref() else {
            bail!("no GitOps repository: set [github] gitops_repo in config.toml");
        };
        self.split(repo)
    }

    /// What the GitOps repository declares (see the module's notes).
    async fn read_declared(&self) -> Result<crate::domain::drift::GitDeclared> {
        use crate::domain::drift::{DeclaredHpa, DeclaredVersion, GitDeclared, parse_hpa_file};
        let (owner, name) = self.gitops()?;
        let repo = self
            .get_repo(owner, name)
            .await?
            .ok_or_else(|| anyhow!("there is no GitOps repository {owner}/{name}"))?;
        let branch = repo.default_branch.unwrap_or_else(|| "main".to_string());
        let what = || format!("the tree of {owner}/{name}@{branch}");
        let uri = format!(
            "/repos/{owner}/{name}/git/trees/{}?recursive=1",
            query_escape(&branch)
        );
        let tree: GitTree = self
            .get_json(&uri)
            .await
            .map_err(|f| self.error(f, what()))?;
        if tree.truncated {
            bail!(
                "{} is too large for GitHub to list whole (truncated): git-vs-live drift cannot be read",
                what()
            );
        }
        // (service, env, region, is_hpa, path, sha)
        let mut wanted = Vec::new();
        for e in tree.tree.into_iter().filter(|e| e.kind == "blob") {
            if let Some((s, env, r)) = match_template(&self.config.version_path, &e.path) {
                wanted.push((s, env, r, false, e.path, e.sha));
            } else if let Some((s, env, r)) = self
                .config
                .hpa_path
                .as_deref()
                .and_then(|t| match_template(t, &e.path))
            {
                wanted.push((s, env, r, true, e.path, e.sha));
            }
        }
        let known = |sha: &str| {
            self.blobs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(sha)
        };
        let missing: Vec<String> = wanted
            .iter()
            .map(|w| w.5.clone())
            .filter(|sha| !known(sha))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let read = futures::stream::iter(missing)
            .map(|sha| async move {
                let uri = format!("/repos/{owner}/{name}/git/blobs/{sha}");
                let blob: GitBlob = self
                    .get_json(&uri)
                    .await
                    .map_err(|f| self.error(f, format_args!("blob {sha} of {owner}/{name}")))?;
                let text = match blob.encoding.as_deref() {
                    Some("base64") | None => String::from_utf8(decode_base64(&blob.content)?)
                        .with_context(|| format!("blob {sha} of {owner}/{name} is not UTF-8"))?,
                    Some("utf-8") => blob.content,
                    Some(other) => bail!("blob {sha} of {owner}/{name} comes as {other}"),
                };
                anyhow::Ok((sha, text))
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        {
            let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
            for r in read {
                let (sha, text) = r?;
                blobs.insert(sha, text);
            }
        }
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = GitDeclared::new(format!("{owner}/{name}@{branch}"), vec![], vec![]);
        for (service, env, region, is_hpa, path, sha) in wanted {
            let Some(text) = blobs.get(&sha) else {
                continue;
            };
            let cluster = ClusterId::new(env, region);
            if is_hpa {
                let (min, max) = parse_hpa_file(text)
                    .map_err(|why| anyhow!("{path} in {owner}/{name}: {why}"))?;
                out.hpas.push(DeclaredHpa {
                    service,
                    cluster,
                    min,
                    max,
                    path,
                });
            } else {
                out.versions.push(DeclaredVersion {
                    service,
                    cluster,
                    version: text.trim().to_string(),
                    path,
                });
            }
        }
        Ok(out)
    }

    /// The version file of a service in a cluster.
    fn version_path(&self, service: &str, cluster: &ClusterId) -> String {
        self.config
            .version_path
            .replace("{service}", service)
            .replace("{env}", &cluster.env)
            .replace("{region}", &cluster.region)
    }

    /// Discovery: every repository's descriptor, read concurrently, and only where
    /// the repository changed since the last read (the memo in the cache).
    async fn discover_all(&self) -> Result<Discovery> {
        let now = chrono::Utc::now().timestamp();
        // Little budget left: list the org at most every LOW_BUDGET_REFRESH.
        let recently = (self.listed_at.lock().unwrap_or_else(|p| p.into_inner()))
            .is_some_and(|t| t.elapsed() < LOW_BUDGET_REFRESH);
        let blocked = self.rate().blocked(now);
        if let Some(until) = blocked {
            let known = self.remembered(Some(format!(
                "{} not listed: GitHub's rate limit is reached until {}; showing the \
                 descriptors read before",
                self.config.org,
                clock(until)
            )));
            if !known.found.is_empty() {
                return Ok(known);
            }
        } else if recently && self.cache.is_some() && self.rate().low(now) {
            return Ok(self.remembered(None));
        }
        let repos = match self.org_repos().await {
            Ok(repos) => repos,
            Err(e) => {
                // What was read before, said to be so; nothing read before: the error.
                let known =
                    self.remembered(Some(format!("{e:#}; showing the descriptors read before")));
                if known.found.is_empty() {
                    return Err(e);
                }
                return Ok(known);
            }
        };
        *self.listed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let host = self.host();
        let concurrency = if self.rate().low(now) {
            1
        } else {
            DISCOVERY_CONCURRENCY
        };
        let mut seen = HashSet::new();
        let results: Vec<(String, Result<Option<String>>)> =
            futures::stream::iter(repos.into_iter().filter(|r| r.archived != Some(true)))
                .map(|r| {
                    let owner = r
                        .owner
                        .as_ref()
                        .map(|o| o.login.clone())
                        .unwrap_or_else(|| self.config.org.clone());
                    seen.insert(format!("{owner}/{}", r.name));
                    let host = &host;
                    async move {
                        let location = format!("{host}/{owner}/{}/{DESCRIPTOR_FILE}", r.name);
                        (location, self.descriptor_of(&owner, &r).await)
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        if let Some(cache) = self.cache.clone() {
            cache.retain_repos(&seen);
            // Written off the async workers; a cache that cannot be written costs
            // requests only.
            let _ = tokio::task::spawn_blocking(move || cache.save()).await;
        }
        let mut discovery = Discovery::default();
        for (location, result) in results {
            match result {
                Ok(Some(text)) => discovery.found.push((location, text)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%location, error = %format!("{e:#}"), "descriptor not read");
                    discovery.failed.push((location, format!("{e:#}")));
                }
            }
        }
        discovery.found.sort();
        discovery.failed.sort();
        Ok(discovery)
    }

    /// One repository's descriptor: from the memo when the repository did not change
    /// since it was read, else read (conditionally) and remembered.
    async fn descriptor_of(&self, owner: &str, r: &RepoSummary) -> Result<Option<String>> {
        let key = format!("{owner}/{}", r.name);
        if let Some(memo) = self.cache.as_ref().and_then(|c| c.repo(&key))
            && memo.pushed_at.is_some()
            && memo.pushed_at == r.pushed_at
            && memo.default_branch == r.default_branch
        {
            return Ok(memo.descriptor);
        }
        let text = self
            .read_file(owner, &r.name, DESCRIPTOR_FILE, r.default_branch.as_deref())
            .await?
            .map(|(text, _)| text);
        if let Some(cache) = &self.cache {
            cache.set_repo(
                &key,
                RepoMemo {
                    pushed_at: r.pushed_at.clone(),
                    default_branch: r.default_branch.clone(),
                    descriptor: text.clone(),
                },
            );
        }
        Ok(text)
    }

    /// The descriptors remembered from earlier reads, with `failure` on the org.
    fn remembered(&self, failure: Option<String>) -> Discovery {
        let host = self.host();
        let mut found: Vec<(String, String)> = (self.cache.iter())
            .flat_map(|c| c.repos())
            .filter_map(|(repo, memo)| {
                let text = memo.descriptor?;
                Some((format!("{host}/{repo}/{DESCRIPTOR_FILE}"), text))
            })
            .collect();
        found.sort();
        Discovery {
            found,
            failed: failure
                .map(|f| vec![(self.origin(), f)])
                .unwrap_or_default(),
        }
    }
}

/// A query value as it goes in a URL (branch names may hold `/`, `#`, `&`...).
fn query_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl DescriptorSource for GithubProvider {
    async fn descriptors(&self) -> Result<Vec<(String, String)>> {
        Ok(self.discover_all().await?.found)
    }

    async fn discover(&self) -> Result<Discovery> {
        self.discover_all().await
    }

    fn origin(&self) -> String {
        format!("{}/{}", self.host(), self.config.org)
    }
}

#[async_trait]
impl ReposProvider for GithubProvider {
    fn org(&self) -> Option<String> {
        Some(self.config.org.clone())
    }

    async fn whoami(&self) -> Result<Option<String>> {
        // GET /user: the account the token belongs to.
        // Only `login` is read: GitHub Enterprise versions differ in the rest.
        let user = self
            .crab
            .get::<serde_json::Value, _, _>("/user", None::<&()>);
        match self.call(user).await {
            Ok(user) => Ok(user
                .get("login")
                .and_then(|l| l.as_str())
                .map(str::to_string)
                .filter(|l| !l.is_empty())),
            // No token, or one GitHub does not accept: nobody is authenticated.
            Err(f) if f.status() == Some(401) => Ok(None),
            Err(f) => Err(self.error(f, "who the token belongs to (GET /user)")),
        }
    }

    fn notice(&self) -> Option<String> {
        GithubProvider::notice(self)
    }

    /// The repository and its workflows, remembered for [`facts_memo::FACTS_TTL`];
    /// after it the repository is asked again (conditionally), its workflows only when
    /// it was pushed to since.
    async fn repo(&self, slug: &str) -> Result<Option<RepoInfo>> {
        let (owner, name) = self.split(slug)?;
        let key = format!("{owner}/{name}");
        if let Some((info, _)) = self.repo_facts.fresh(&key) {
            return Ok(info);
        }
        let Some(repo) = self.get_repo(owner, name).await? else {
            self.repo_facts.put(&key, (None, None));
            return Ok(None);
        };
        let default_branch = repo.default_branch.unwrap_or_else(|| "main".to_string());
        let pushed_at = repo.pushed_at.map(|t| t.to_rfc3339());
        if let Some((Some(info), Some(pushed))) = self.repo_facts.last(&key)
            && pushed_at.as_ref() == Some(&pushed)
            && info.default_branch == default_branch
        {
            // Nothing pushed since: the workflows are those read before.
            self.repo_facts.put(&key, (Some(info.clone()), pushed_at));
            return Ok(Some(info));
        }
        let items = self
            .contents(owner, name, WORKFLOWS_DIR, Some(&default_branch))
            .await
            .map_err(|f| self.error(f, format_args!("{WORKFLOWS_DIR} in {owner}/{name}")))?
            .unwrap_or_default();
        let mut workflows: Vec<String> = items
            .into_iter()
            .filter(|c| {
                c.r#type == "file" && (c.name.ends_with(".yml") || c.name.ends_with(".yaml"))
            })
            .map(|c| c.name)
            .collect();
        workflows.sort();
        let info = RepoInfo {
            slug: format!("{owner}/{name}"),
            exists: true,
            default_branch,
            workflows,
        };
        self.repo_facts.put(&key, (Some(info.clone()), pushed_at));
        Ok(Some(info))
    }

    /// The releases, remembered for [`facts_memo::FACTS_TTL`] (then asked again,
    /// conditionally).
    async fn releases(&self, service: &str) -> Result<Vec<String>> {
        let (owner, name) = self.split(service)?;
        let key = format!("{owner}/{name}");
        if let Some(versions) = self.release_facts.fresh(&key) {
            return Ok(versions);
        }
        let versions = self.read_releases(owner, name).await?;
        self.release_facts.put(&key, versions.clone());
        Ok(versions)
    }

    async fn rollback(&self, service: &str, cluster: &ClusterId, version: &str) -> Result<()> {
        let (owner, name) = self.gitops()?;
        let path = self.version_path(service, cluster);
        let Some((current, sha)) = self.read_file(owner, name, &path, None).await? else {
            bail!(
                "{service} does not run in {cluster}: there is no version file {path} in {owner}/{name}"
            );
        };
        if current.trim() == version {
            tracing::info!(%service, %cluster, %version, "rollback: the version file already says so");
            return Ok(());
        }
        let content = format!("{version}\n");
        let message = format!(
            "Roll back {service} in {cluster} to {version} (was {})\n\nCommitted by sphere.",
            current.trim()
        );
        match self
            .put_file(owner, name, &path, &content, Some(&sha), &message)
            .await
        {
            Ok(()) => {
                tracing::info!(%service, %cluster, %version, repo = %format!("{owner}/{name}"), "rollback committed");
                Ok(())
            }
            Err(f) if matches!(f.status(), Some(409 | 422)) => {
                // Our own commit, when an earlier attempt landed but its answer was lost.
                if let Ok(Some((now, _))) = self.read_file(owner, name, &path, None).await
                    && now == content
                {
                    return Ok(());
                }
                Err(anyhow!(
                    "{path} in {owner}/{name} changed concurrently (it is no longer at {sha}); \
                     nothing was overwritten: look at the new version and roll back again"
                ))
            }
            Err(f) => Err(self.error(
                f,
                format_args!("the rollback commit to {path} in {owner}/{name}"),
            )),
        }
    }

    async fn declared(&self) -> Result<Option<crate::domain::drift::GitDeclared>> {
        if self.config.gitops_repo.is_none() {
            return Ok(None);
        }
        self.read_declared().await.map(Some)
    }

    async fn create_from_template(
        &self,
        slug: &str,
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<()> {
        let (owner, name) = self.split(slug)?;
        if self.get_repo(owner, name).await?.is_some() {
            return Ok(());
        }
        let template_repo = match self.config.templates.get(template) {
            Some(repo) => repo.as_str(),
            None if template.contains('/') => template,
            None => {
                let known: Vec<&str> = self.config.templates.keys().map(String::as_str).collect();
                bail!(
                    "no template named {template:?} in [github] templates (configured: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
        };
        let (t_owner, t_name) = self.split(template_repo)?;
        let repos = self.crab.repos(t_owner, t_name);
        let mut req = repos.generate(name).owner(owner).private(true);
        if let Some(d) = values.get("description").filter(|d| !d.is_empty()) {
            req = req.description(d.as_str());
        }
        self.forget_facts(owner, name);
        match self.call(req.send()).await {
            Ok(_) => {
                tracing::info!(repo = %format!("{owner}/{name}"), template = %template_repo, "repository generated");
                self.wait_for_contents(owner, name).await;
                Ok(())
            }
            // Created meanwhile (by another run): the same outcome.
            Err(f) if f.status() == Some(422) && self.get_repo(owner, name).await?.is_some() => {
                Ok(())
            }
            Err(f) if f.status() == Some(404) => bail!(
                "template repository {t_owner}/{t_name} not found (or not visible to this token)"
            ),
            Err(f) => Err(self.error(
                f,
                format_args!("creating {owner}/{name} from {t_owner}/{t_name}"),
            )),
        }
    }

    async fn write_file(&self, slug: &str, path: &str, content: &str) -> Result<bool> {
        let (owner, name) = self.split(slug)?;
        let existing = self.read_file(owner, name, path, None).await?;
        if existing.as_ref().is_some_and(|(text, _)| text == content) {
            return Ok(false);
        }
        let sha = existing.as_ref().map(|(_, sha)| sha.as_str());
        self.forget_facts(owner, name);
        let message = format!(
            "{} {path}\n\nCommitted by sphere.",
            if sha.is_some() { "Update" } else { "Add" }
        );
        match self
            .put_file(owner, name, path, content, sha, &message)
            .await
        {
            Ok(()) => Ok(true),
            Err(f) if f.status() == Some(404) => bail!("there is no repository {owner}/{name}"),
            Err(f) if matches!(f.status(), Some(409 | 422)) => Err(anyhow!(
                "{path} in {owner}/{name} changed concurrently; nothing was overwritten (try again)"
            )),
            Err(f) => Err(self.error(f, format_args!("writing {path} in {owner}/{name}"))),
        }
    }

    async fn file(&self, slug: &str, path: &str) -> Result<Option<String>> {
        let (owner, name) = self.split(slug)?;
        Ok(self
            .read_file(owner, name, path, None)
            .await?
            .map(|(text, _)| text))
    }
}

#[async_trait]
impl FreezeStore for GithubProvider {
    async fn freeze(&self) -> Result<Freeze> {
        // No ruleset to switch: the org is not frozen (an error on every read would
        // tell a team that does not use the freeze about it on every poll).
        let Some(r) = self.freeze_ruleset().await? else {
            return Ok(Freeze::default());
        };
        let on = r.enforcement == RulesetEnforcement::Active;
        Ok(Freeze {
            on,
            reason: None,
            by: None,
            at: if on {
                r.updated_at.map(|t| t.timestamp())
            } else {
                None
            },
        })
    }

    async fn set_freeze(&self, freeze: Freeze) -> Result<()> {
        let r = self
            .freeze_ruleset()
            .await?
            .ok_or_else(|| self.no_freeze_ruleset())?;
        let enforcement = if freeze.on {
            RulesetEnforcement::Active
        } else {
            RulesetEnforcement::Disabled
        };
        let org = &self.config.org;
        let orgs = self.crab.orgs(org.as_str());
        let update = UpdateRuleset::new().enforcement(enforcement);
        let updated = self
            .call(orgs.rulesets().update(r.id, &update))
            .await
            .map_err(|f| {
                self.error(
                    f,
                    format_args!(
                        "switching ruleset {:?} of {org} {}",
                        r.name,
                        if freeze.on { "on" } else { "off" }
                    ),
                )
            })?;
        if updated.enforcement != enforcement {
            bail!(
                "GitHub kept ruleset {:?} of {org} at {:?} after it was set to {enforcement:?}",
                r.name,
                updated.enforcement
            );
        }
        tracing::info!(org = %org, ruleset = %r.name, on = freeze.on, "merge freeze switched");
        Ok(())
    }
}

/// An error and its sources on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A tag as a version: `v1.2.3` is `1.2.3`.
fn version_of(tag: &str) -> String {
    match tag.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest.to_string(),
        _ => tag.to_string(),
    }
}

/// The numbers of a version, for ordering tags (`1.10.0` after `1.9.2`).
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect()
}

/// Standard base64 as GitHub sends file contents (with line breaks); an error, not a
/// panic, on anything else.
fn decode_base64(text: &str) -> Result<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(&bytes);
    if body.len() % 4 == 1 || (bytes.len() != body.len() && !bytes.len().is_multiple_of(4)) {
        bail!("the content is not valid base64");
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = value(c).ok_or_else(|| anyhow!("the content is not valid base64"))?;
            acc |= v << (18 - 6 * i);
        }
        let n = chunk.len() - 1;
        out.extend_from_slice(&acc.to_be_bytes()[1..=n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_version_path_template() {
        let t = "apps/{service}/{env}/{region}/version";
        assert_eq!(
            match_template(t, "apps/pay/production/eu-west-1/version"),
            Some(("pay".into(), "production".into(), "eu-west-1".into()))
        );
        assert_eq!(
            match_template(t, "apps/pay/production/eu-west-1/hpa.yaml"),
            None
        );
        assert_eq!(match_template(t, "apps/pay/production/version"), None);
        let t = "envs/{env}/{region}/{service}.hpa.yaml";
        assert_eq!(
            match_template(t, "envs/staging/us-east-1/cart.hpa.yaml"),
            Some(("cart".into(), "staging".into(), "us-east-1".into()))
        );
        assert_eq!(match_template(t, "envs/staging/us-east-1/.hpa.yaml"), None);
        assert_eq!(
            match_template("x/{service}", "x/pay"),
            None,
            "no env or region"
        );
    }

    #[test]
    fn base64_decodes_github_content_with_line_breaks() {
        assert_eq!(decode_base64("aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a*==").is_err());
        assert!(decode_base64("abcde").is_err());
    }

    #[test]
    fn tags_become_versions_in_version_order() {
        assert_eq!(version_of("v1.4.2"), "1.4.2");
        assert_eq!(version_of("1.4.2"), "1.4.2");
        assert_eq!(version_of("version-1"), "version-1");
        let mut v = vec!["1.10.0", "1.9.2", "1.9.10", "0.1.0"];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(v, ["0.1.0", "1.9.2", "1.9.10", "1.10.0"]);
    }
}
