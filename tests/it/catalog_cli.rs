//! `sphere catalog validate` and `catalog list` on small catalogs written here: what
//! `--strict` fails on, what stays off the terminal, and what `list` says it left out.

use std::path::Path;

use crate::common::{sphere, tmp};

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const GROUP: &str = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n";

#[test]
fn strict_does_not_fail_a_valid_catalog_on_spheres_own_limits() {
    let dir = tmp();
    let cat = dir.path().join("cat");
    write(&cat, "catalog-info.yaml", GROUP);
    write(
        &cat,
        "remote.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: remote}\n\
         spec: {type: url, target: 'https://github.com/acme/x/blob/main/catalog-info.yaml'}\n",
    );
    let cat_s = cat.to_str().unwrap();
    let out = sphere(&dir, &["catalog", "validate", "--strict", cat_s]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("remote targets are not fetched"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 entities loaded (1 Group, 1 Location); 0 errors, 1 warning"),
        "{stdout}"
    );

    // A warning about the catalog itself (a dangling owner) still fails --strict.
    write(
        &cat,
        "svc.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc}\n\
         spec: {type: service, lifecycle: production, owner: nobody}\n",
    );
    let out = sphere(&dir, &["catalog", "validate", "--strict", cat_s]);
    assert_eq!(out.status.code(), Some(1));
    let out = sphere(&dir, &["catalog", "validate", cat_s]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn an_empty_directory_says_so_and_fails_strict() {
    let dir = tmp();
    let empty = dir.path().join("empty");
    write(&empty, "README.md", "# nothing here\n");
    let p = empty.to_str().unwrap();
    let out = sphere(&dir, &["catalog", "validate", p]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("no catalog entity found in this directory"),
        "{stdout}"
    );
    let out = sphere(&dir, &["catalog", "validate", "--strict", p]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn escape_sequences_in_kinds_do_not_reach_stdout() {
    let dir = tmp();
    let cat = dir.path().join("cat");
    // A Port blueprint's identifier becomes the kind of its entities.
    write(
        &cat,
        "port.json",
        r#"[{"identifier": "svc\u001b]0;pwned\u0007\u001b[2J", "title": "x", "schema": {"properties": {}}},
            {"identifier": "one", "title": "One", "blueprint": "svc\u001b]0;pwned\u0007\u001b[2J"}]"#,
    );
    let out = sphere(&dir, &["catalog", "validate", cat.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert!(!stdout.contains('\u{7}'), "{stdout:?}");
    assert!(stdout.contains("1 entities loaded (1 svc"), "{stdout:?}");

    // The same catalog through list and show, as the configured catalog.
    write(
        &dir.path().join("config"),
        "config.toml",
        &format!("[catalog]\npaths = [{:?}]\n", cat.to_str().unwrap()),
    );
    for args in [
        &["catalog", "list", "--kind", "all"][..],
        &["catalog", "show", "one"][..],
    ] {
        let out = sphere(&dir, args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("one"), "{args:?}: {stdout:?}");
        assert!(
            !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
            "{args:?}: {stdout:?}"
        );
    }
}

#[test]
fn list_says_how_many_invalid_entities_it_left_out() {
    let dir = tmp();
    let cat = dir.path().join("cat");
    write(&cat, "ok.yaml", GROUP);
    write(
        &cat,
        "bad.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: 'bad name'}\nspec: {type: team, children: []}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: jo}\nextra: field\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
    );
    write(
        &dir.path().join("config"),
        "config.toml",
        &format!("[catalog]\npaths = [{:?}]\n", cat.to_str().unwrap()),
    );
    let out = sphere(&dir, &["catalog", "list", "--kind", "all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("team"), "{stdout}");
    // the invalid name, the duplicate and the unknown field; the Deployment is no entity
    assert!(
        stderr.contains("3 invalid entities left out: run sphere catalog validate"),
        "{stderr}"
    );

    let out = sphere(&dir, &["catalog", "validate", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["left_out"], 3);
    assert_eq!(report["entities"], 1);
}
