//! The AWS Secrets Manager provider against moto's server on loopback, through the real
//! AWS SDK. Every test uses its own environment name (`peers::unique`), so the secrets
//! of tests sharing one moto never meet. Credentials are static test ones, given to the
//! SDK directly: the developer's own are never read.

use crate::common;
use crate::common::peers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_secretsmanager::types::Tag;

use sphere::backend::SecretsProvider;
use sphere::backend::aws::{AwsOptions, AwsSecrets, AwsTarget};
use sphere::backend::configured::ConfiguredCatalog;
use sphere::domain::drift::{DriftKind, drift};
use sphere::domain::{SecretMeta, SecretValue, Topology};

const SERVICE: &str = "payments-api";

fn credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        "AKIDSPHERETEST",
        "sphere-test-secret",
        None,
        None,
        "sphere-tests",
    ))
}

fn options(timeout: Duration) -> AwsOptions {
    AwsOptions {
        timeout,
        recovery_window_days: 7,
        concurrency: 4,
        credentials: Some(credentials()),
    }
}

/// A cluster `env`/`region` whose secrets are in moto's `aws_region`.
fn target(env: &str, region: &str, aws_region: &str) -> AwsTarget {
    target_at(env, region, aws_region, peers::moto())
}

fn target_at(env: &str, region: &str, aws_region: &str, endpoint: &str) -> AwsTarget {
    AwsTarget {
        env: env.to_string(),
        region: region.to_string(),
        aws_region: aws_region.to_string(),
        profile: None,
        endpoint_url: Some(endpoint.to_string()),
    }
}

async fn provider(targets: &[AwsTarget]) -> AwsSecrets {
    AwsSecrets::new(targets, options(Duration::from_secs(10))).await
}

/// A plain SDK client on moto, for what sphere never does itself (changing tags by hand).
async fn raw_client(aws_region: &str) -> aws_sdk_secretsmanager::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(aws_region.to_string()))
        .endpoint_url(peers::moto())
        .credentials_provider(credentials())
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&conf)
}

fn value(s: &str) -> SecretValue {
    SecretValue::new(s)
}

fn find<'a>(list: &'a [SecretMeta], region: &str, key: &str) -> Option<&'a SecretMeta> {
    list.iter().find(|s| s.region == region && s.key == key)
}

fn standard_tags(team: &str, env: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("team".to_string(), team.to_string()),
        ("service".to_string(), SERVICE.to_string()),
        ("env".to_string(), env.to_string()),
        ("managed-by".to_string(), "sphere".to_string()),
    ])
}

#[tokio::test]
async fn put_lists_with_stages_tags_and_a_new_version() {
    let env = peers::unique("prod");
    let aws = provider(&[target(&env, "use1", "us-east-1")]).await;

    // The team tag comes from the catalog's owner of the component.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("catalog-info.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {SERVICE}\n\
             spec:\n  type: service\n  lifecycle: production\n  owner: team-payments\n"
        ),
    )
    .expect("write descriptor");
    aws.set_catalog(Arc::new(ConfiguredCatalog {
        roots: vec![dir.path().to_path_buf()],
        discovered: None,
        registered: None,
    }));

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    aws.put(SERVICE, &env, "use1", "API_KEY", value("first-value"))
        .await
        .expect("create");
    let list = aws.list(Some(SERVICE)).await.expect("list");
    assert_eq!(list.len(), 1, "{list:#?}");
    let s = &list[0];
    assert_eq!(s.name, format!("{env}/{SERVICE}/API_KEY"));
    assert_eq!(
        (s.service.as_str(), s.env.as_str()),
        (SERVICE, env.as_str())
    );
    assert_eq!((s.region.as_str(), s.key.as_str()), ("use1", "API_KEY"));
    assert!(!s.version_id.is_empty());
    assert_eq!(s.stages, vec!["AWSCURRENT".to_string()]);
    assert_eq!(s.tags, standard_tags("team-payments", &env));
    assert!(
        (before - 120..=before + 120).contains(&s.last_changed),
        "last changed {} is not about now ({before})",
        s.last_changed
    );
    let first_hash = s.value_hash.expect("value hashed");
    let first_version = s.version_id.clone();

    // Another service's secrets stay out of this service's list.
    aws.put("other-svc", &env, "use1", "API_KEY", value("x"))
        .await
        .expect("other service");
    assert_eq!(aws.list(Some(SERVICE)).await.expect("list").len(), 1);
    assert_eq!(aws.list(None).await.expect("list all").len(), 2);

    // Putting again writes a new version: new id, new hash, still current.
    aws.put(SERVICE, &env, "use1", "API_KEY", value("second-value"))
        .await
        .expect("update");
    let list = aws.list(Some(SERVICE)).await.expect("list");
    let s = find(&list, "use1", "API_KEY").expect("still there");
    assert_ne!(s.version_id, first_version);
    assert_eq!(s.stages, vec!["AWSCURRENT".to_string()]);
    assert_ne!(s.value_hash.expect("hash"), first_hash);

    // What the list returns never shows a value, in any formatting.
    let debug = format!("{list:?} {list:#?} {:?}", aws.list_partial(None).await);
    for v in ["first-value", "second-value"] {
        assert!(!debug.contains(v), "a value leaked into Debug output");
    }
    let json = serde_json::to_string(&list).expect("json");
    assert!(!json.contains("second-value") && !json.contains("value_hash"));

    assert_eq!(
        aws.reveal(SERVICE, &env, "use1", "API_KEY")
            .await
            .expect("reveal")
            .expose(),
        "second-value"
    );
}

#[tokio::test]
async fn put_sets_the_standard_tags_on_an_existing_secret() {
    let env = peers::unique("prod");
    let aws = provider(&[target(&env, "use1", "us-east-1")]).await;
    let name = format!("{env}/{SERVICE}/TOKEN");
    raw_client("us-east-1")
        .await
        .create_secret()
        .name(&name)
        .secret_string("made-by-hand")
        .tags(Tag::builder().key("team").value("someone").build())
        .send()
        .await
        .expect("create by hand");
    aws.put(SERVICE, &env, "use1", "TOKEN", value("v2"))
        .await
        .expect("put over it");
    let list = aws.list(Some(SERVICE)).await.expect("list");
    let s = find(&list, "use1", "TOKEN").expect("listed");
    // No catalog: the team tag is the one the demo uses for an unowned service.
    assert_eq!(s.tags, standard_tags("unowned", &env));
    assert_eq!(
        aws.reveal(SERVICE, &env, "use1", "TOKEN")
            .await
            .expect("reveal")
            .expose(),
        "v2"
    );
}

#[tokio::test]
async fn drift_across_regions_and_copy_fixes_a_missing_secret() {
    let env = peers::unique("prod");
    let regions = [
        ("use1", "us-east-1"),
        ("euw1", "eu-west-1"),
        ("apse2", "ap-southeast-2"),
    ];
    let targets: Vec<AwsTarget> = regions.iter().map(|(r, a)| target(&env, r, a)).collect();
    let aws = provider(&targets).await;
    let topo = Topology {
        regions: regions.iter().map(|(r, _)| r.to_string()).collect(),
        environments: vec![env.clone()],
        ..Topology::default()
    };
    for (region, _) in regions {
        aws.put(SERVICE, &env, region, "SAME", value("same"))
            .await
            .expect("put");
        let v = if region == "apse2" { "odd" } else { "usual" };
        aws.put(SERVICE, &env, region, "VALUE", value(v))
            .await
            .expect("put");
        aws.put(SERVICE, &env, region, "TAGS", value("t"))
            .await
            .expect("put");
    }
    for region in ["use1", "euw1"] {
        aws.put(SERVICE, &env, region, "MISSING", value("m"))
            .await
            .expect("put");
    }
    aws.put(SERVICE, &env, "use1", "EXTRA", value("e"))
        .await
        .expect("put");
    raw_client("eu-west-1")
        .await
        .tag_resource()
        .secret_id(format!("{env}/{SERVICE}/TAGS"))
        .tags(Tag::builder().key("team").value("someone-else").build())
        .send()
        .await
        .expect("retag");

    let list = aws.list(Some(SERVICE)).await.expect("list");
    assert_eq!(list.len(), 3 + 3 + 3 + 2 + 1, "{list:#?}");
    let found: Vec<(String, DriftKind, Vec<String>)> = drift(&list, &topo)
        .into_iter()
        .map(|f| (f.key, f.kind, f.regions))
        .collect();
    let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        found,
        vec![
            ("EXTRA".to_string(), DriftKind::Extra, r(&["use1"])),
            ("MISSING".to_string(), DriftKind::Missing, r(&["apse2"])),
            ("TAGS".to_string(), DriftKind::TagsDiffer, r(&["euw1"])),
            ("VALUE".to_string(), DriftKind::ValueDiffers, r(&["apse2"])),
        ]
    );

    aws.copy(SERVICE, &env, "MISSING", "use1", "apse2")
        .await
        .expect("copy");
    let list = aws.list(Some(SERVICE)).await.expect("list");
    let copied = find(&list, "apse2", "MISSING").expect("copied");
    assert_eq!(copied.tags, standard_tags("unowned", &env));
    assert_eq!(
        copied.value_hash,
        find(&list, "use1", "MISSING").and_then(|s| s.value_hash)
    );
    let kinds: Vec<(String, DriftKind)> = drift(&list, &topo)
        .into_iter()
        .map(|f| (f.key, f.kind))
        .collect();
    assert!(
        !kinds.iter().any(|(k, _)| k == "MISSING"),
        "copy did not fix the drift: {kinds:?}"
    );
    assert_eq!(kinds.len(), 3, "{kinds:?}");

    // Copying what does not exist names it.
    let err = aws
        .copy(SERVICE, &env, "NOPE", "use1", "apse2")
        .await
        .expect_err("no source");
    assert!(
        err.to_string().contains("NOPE") && err.to_string().contains("use1"),
        "{err}"
    );
}

#[tokio::test]
async fn two_regions_stay_isolated_and_reveal_reads_the_right_one() {
    let env = peers::unique("prod");
    let aws = provider(&[
        target(&env, "use1", "us-east-1"),
        target(&env, "euw1", "eu-west-1"),
    ])
    .await;
    aws.put(SERVICE, &env, "use1", "KEY", value("east"))
        .await
        .expect("put");
    aws.put(SERVICE, &env, "euw1", "KEY", value("west"))
        .await
        .expect("put");
    for (region, v) in [("use1", "east"), ("euw1", "west")] {
        let got = aws
            .reveal(SERVICE, &env, region, "KEY")
            .await
            .expect("reveal");
        assert_eq!(got.expose(), v);
        assert_eq!(format!("{got:?}"), "***");
    }
    let err = aws
        .reveal(SERVICE, &env, "use1", "ABSENT")
        .await
        .expect_err("no such secret");
    assert!(err.to_string().contains("ABSENT"), "{err}");
    let err = aws
        .put(SERVICE, &env, "nowhere", "KEY", value("x"))
        .await
        .expect_err("no such cluster");
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[tokio::test]
async fn delete_schedules_deletion_and_the_list_drops_it() {
    let env = peers::unique("prod");
    let aws = provider(&[target(&env, "use1", "us-east-1")]).await;
    aws.put(SERVICE, &env, "use1", "GONE", value("g"))
        .await
        .expect("put");
    aws.put(SERVICE, &env, "use1", "KEPT", value("k"))
        .await
        .expect("put");
    aws.delete(SERVICE, &env, "use1", "GONE")
        .await
        .expect("delete");
    let keys: Vec<String> = aws
        .list(Some(SERVICE))
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, vec!["KEPT".to_string()]);

    // Scheduled for deletion, not purged: it is recoverable, but sphere sees it as gone.
    let described = raw_client("us-east-1")
        .await
        .describe_secret()
        .secret_id(format!("{env}/{SERVICE}/GONE"))
        .send()
        .await
        .expect("still described");
    assert!(described.deleted_date().is_some());
    let err = aws
        .delete(SERVICE, &env, "use1", "GONE")
        .await
        .expect_err("already deleted");
    assert!(err.to_string().contains("GONE"), "{err}");
    let err = aws
        .delete(SERVICE, &env, "use1", "NEVER")
        .await
        .expect_err("never existed");
    assert!(err.to_string().contains("NEVER"), "{err}");

    // Putting it again brings it back with the new value.
    aws.put(SERVICE, &env, "use1", "GONE", value("back"))
        .await
        .expect("put again");
    let list = aws.list(Some(SERVICE)).await.expect("list");
    assert!(find(&list, "use1", "GONE").is_some(), "{list:#?}");
    assert_eq!(
        aws.reveal(SERVICE, &env, "use1", "GONE")
            .await
            .expect("reveal")
            .expose(),
        "back"
    );
}

#[tokio::test]
async fn a_refused_and_a_silent_region_do_not_hide_the_others() {
    let env = peers::unique("prod");
    // Long enough for moto to answer the healthy region on a loaded CI machine (2 s
    // timed out there), short enough that the silent region's wait stays visible.
    let timeout = Duration::from_secs(5);
    let refused = format!("http://{}", peers::closed_addr());
    let silent = format!("http://{}", peers::silent_addr());
    let aws = AwsSecrets::new(
        &[
            target(&env, "use1", "us-east-1"),
            target_at(&env, "down", "eu-west-1", &refused),
            target_at(&env, "slow", "ap-southeast-2", &silent),
        ],
        options(timeout),
    )
    .await;
    // Seeded through the healthy region alone, with a generous timeout: the setup is
    // not what this test measures.
    let seeder = AwsSecrets::new(
        &[target(&env, "use1", "us-east-1")],
        options(Duration::from_secs(30)),
    )
    .await;
    seeder
        .put(SERVICE, &env, "use1", "API_KEY", value("still-here"))
        .await
        .expect("put in the healthy region");

    let start = Instant::now();
    let listing = aws.list_partial(Some(SERVICE)).await.expect("partial list");
    let took = start.elapsed();
    assert!(
        took < timeout + Duration::from_secs(3),
        "the slow region stalled the list for {took:?}"
    );
    let keys: Vec<(&str, &str)> = listing
        .secrets
        .iter()
        .map(|s| (s.region.as_str(), s.key.as_str()))
        .collect();
    assert_eq!(keys, vec![("use1", "API_KEY")]);
    let failed: Vec<&str> = listing.failed.iter().map(|f| f.region.as_str()).collect();
    assert_eq!(failed, vec!["down", "slow"], "{:?}", listing.failed);
    for f in &listing.failed {
        let aws_region = if f.region == "down" {
            "eu-west-1"
        } else {
            "ap-southeast-2"
        };
        assert!(f.error.contains(aws_region), "{}", f.error);
    }
    let slow = &listing.failed[1];
    assert!(
        slow.error.contains("no answer within") || slow.error.contains("timeout"),
        "{}",
        slow.error
    );

    // The strict list fails, naming both regions.
    let err = aws.list(Some(SERVICE)).await.expect_err("regions failed");
    let text = format!("{err:#}");
    assert!(
        text.contains("eu-west-1") && text.contains("ap-southeast-2"),
        "{text}"
    );

    // A write to the silent region gives up within the timeout, naming it.
    let start = Instant::now();
    let err = aws
        .put(SERVICE, &env, "slow", "API_KEY", value("x"))
        .await
        .expect_err("silent region");
    assert!(start.elapsed() < timeout + Duration::from_secs(3));
    assert!(format!("{err:#}").contains("ap-southeast-2"), "{err:#}");
}

/// `sphere secret list` on a configured platform (`[[clusters]]` + `[aws]`): the provider
/// is built from the config, credentials come from the AWS chain (a credentials file
/// here), and a region whose profile gives no credentials is named on stderr while the
/// other region's secrets are listed.
#[tokio::test]
async fn the_cli_lists_through_the_config_and_names_an_unreadable_region() {
    let env = peers::unique("prod");
    let aws = provider(&[
        target(&env, "use1", "us-east-1"),
        target(&env, "euw1", "eu-west-1"),
    ])
    .await;
    for region in ["use1", "euw1"] {
        aws.put(SERVICE, &env, region, "API_KEY", value("cli-hidden-value"))
            .await
            .expect("put");
    }
    let dir = common::tmp();
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::write(
        dir.path().join("config/config.toml"),
        format!(
            "[[clusters]]\nregion = \"use1\"\nenv = \"{env}\"\naws_region = \"us-east-1\"\n\n\
             [[clusters]]\nregion = \"euw1\"\nenv = \"{env}\"\naws_region = \"eu-west-1\"\n\
             aws_profile = \"sphere-no-such-profile\"\n\n\
             [aws]\nendpoint_url = \"{}\"\ntimeout_seconds = 5\n",
            peers::moto()
        ),
    )
    .expect("config");
    let credentials = dir.path().join("aws-credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIDSPHERETEST\naws_secret_access_key = sphere-test-secret\n",
    )
    .expect("credentials");
    let aws_config = dir.path().join("aws-config");
    std::fs::write(&aws_config, "").expect("aws config");
    let mut cmd = common::command(&dir, &["secret", "list", SERVICE, "--output", "json"]);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sphere runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let rows: Vec<(String, String)> = rows
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap_or_default().to_string(),
                r["key"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![("use1".to_string(), "API_KEY".to_string())],
        "{stderr}"
    );
    assert!(
        stderr.contains("euw1") && stderr.contains("eu-west-1"),
        "the unreadable region is not named: {stderr}"
    );
    assert!(!stdout.contains("cli-hidden-value") && !stderr.contains("cli-hidden-value"));
}

/// The secrets pane keeps the regions that answered and names the ones that did not.
#[tokio::test]
async fn the_secrets_pane_names_an_unreadable_region() {
    use sphere::tui::fetch::Fetched;
    use sphere::tui::harness::Harness;
    use sphere::tui::model::Msg;

    let mut h = Harness::demo(120, 40).await.expect("demo platform opens");
    h.keys("/api-gateway<Enter>4");
    let (svc, list) = h.model.secrets.ready().cloned().expect("secrets read");
    let keys = h.model.secret_keys().len();
    assert!(!h.render().contains("unreadable"));
    let kept: Vec<SecretMeta> = list
        .into_iter()
        .filter(|s| s.region != "eu-west-1")
        .collect();
    let failed = vec![sphere::domain::RegionFailure {
        region: "eu-west-1".to_string(),
        error: "AWS Secrets Manager in eu-west-1: listing secrets: no answer within 10s"
            .to_string(),
    }];
    let effects = h
        .model
        .update(Msg::Fetched(Ok(Fetched::Secrets(svc, kept, failed))));
    h.apply(effects);
    let screen = h.render();
    assert!(screen.contains("unreadable"), "{screen}");
    assert!(screen.contains("no answer within 10s"), "{screen}");
    assert_eq!(
        h.model.secret_keys().len(),
        keys,
        "the other regions' keys stay"
    );
}

/// Listing again reads no value whose version did not change (the hash is kept by
/// version id): a steady secrets pane makes no `GetSecretValue` call; a new version is
/// read once, and its new hash shows.
#[tokio::test]
async fn listing_again_reads_only_the_values_whose_version_changed() {
    use crate::common::counting_proxy;
    let env = peers::unique("prod");
    let upstream = peers::moto().trim_start_matches("http://").to_string();
    let (url, counter) = counting_proxy::start(upstream).await;
    let aws = AwsSecrets::new(
        &[
            target_at(&env, "use1", "us-east-1", &url),
            target_at(&env, "euw1", "eu-west-1", &url),
        ],
        options(Duration::from_secs(10)),
    )
    .await;
    for region in ["use1", "euw1"] {
        for key in ["A", "B", "C"] {
            aws.put(SERVICE, &env, region, key, value(&format!("{key}-1")))
                .await
                .expect("put");
        }
    }
    let first = aws.list(Some(SERVICE)).await.expect("list");
    assert_eq!(first.len(), 6);
    let reads = counter.get("GetSecretValue");
    assert_eq!(reads, 6, "{:?}", counter.snapshot());

    let again = aws.list(Some(SERVICE)).await.expect("list");
    assert_eq!(again, first, "the same listing");
    assert_eq!(counter.get("GetSecretValue"), reads, "no value read again");
    assert!(counter.get("ListSecrets") >= 4, "{:?}", counter.snapshot());

    aws.put(SERVICE, &env, "euw1", "B", value("B-2"))
        .await
        .expect("a new version");
    let before = counter.get("GetSecretValue");
    let changed = aws.list(Some(SERVICE)).await.expect("list");
    assert_eq!(
        counter.get("GetSecretValue") - before,
        1,
        "only the new version is read"
    );
    let old = find(&first, "euw1", "B").unwrap();
    let new = find(&changed, "euw1", "B").unwrap();
    assert_ne!(old.value_hash, new.value_hash);
    assert_ne!(old.version_id, new.version_id);
}
