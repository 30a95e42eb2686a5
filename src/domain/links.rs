//! Capability C12: a service's links — the `[links]` templates of the config expanded
//! for the service, plus the entity's own links — and the terminal sequences that show
//! them as hyperlinks (OSC 8) and copy them over SSH (OSC 52).
//!
//! Pure: no I/O, no terminal state.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::Entity;
use super::text::sanitize;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 5] = ["service", "owner", "system", "env", "region"];

/// The values for one expansion. `None` means "not known here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkVars {
    pub service: String,
    pub owner: Option<String>,
    pub system: Option<String>,
    pub env: Option<String>,
    pub region: Option<String>,
}

impl LinkVars {
    /// The service, owner and system of a catalog entity (names, not full references).
    pub fn for_entity(e: &Entity, env: Option<&str>, region: Option<&str>) -> LinkVars {
        LinkVars {
            service: e.name.to_string(),
            owner: e.owner.as_ref().map(|o| o.name.to_string()),
            system: e.part_of.as_ref().map(|s| s.name.to_string()),
            env: env.map(str::to_string),
            region: region.map(str::to_string),
        }
    }

    fn get(&self, name: &str) -> Option<Option<&str>> {
        match name {
            "service" => Some(Some(self.service.as_str())),
            "owner" => Some(self.owner.as_deref()),
            "system" => Some(self.system.as_deref()),
            "env" => Some(self.env.as_deref()),
            "region" => Some(self.region.as_deref()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "link {link:?}: unknown placeholder {{{placeholder}}} (use {{service}} {{owner}} {{system}} {{env}} {{region}})"
    )]
    UnknownPlaceholder { link: String, placeholder: String },
    #[error("link {link:?}: no value for {{{placeholder}}} here")]
    NoValue { link: String, placeholder: String },
    #[error("link {link:?}: unclosed {{ in the template")]
    Unclosed { link: String },
}

/// Expand one template. Values are percent-encoded (outside the URL-safe set); `{{`
/// and `}}` give literal braces.
pub fn expand(link: &str, template: &str, vars: &LinkVars) -> Result<String, LinkError> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{") {
            out.push('{');
            rest = t;
            continue;
        }
        if let Some(t) = tail.strip_prefix("}}") {
            out.push('}');
            rest = t;
            continue;
        }
        if let Some(t) = tail.strip_prefix('}') {
            out.push('}');
            rest = t;
            continue;
        }
        let Some(end) = tail.find('}') else {
            return Err(LinkError::Unclosed {
                link: link.to_string(),
            });
        };
        let name = &tail[1..end];
        match vars.get(name) {
            None => {
                return Err(LinkError::UnknownPlaceholder {
                    link: link.to_string(),
                    placeholder: name.to_string(),
                });
            }
            Some(None) => {
                return Err(LinkError::NoValue {
                    link: link.to_string(),
                    placeholder: name.to_string(),
                });
            }
            Some(Some(v)) => out.push_str(&percent_encode(v)),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a link comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkSource {
    /// A `[links]` template of the config.
    Config,
    /// The entity's own `metadata.links`.
    Catalog,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceLink {
    pub name: String,
    pub url: String,
    pub source: LinkSource,
}

/// Every link of a service: the config's templates (in name order) then the entity's own
/// links. Templates that cannot be expanded are returned as errors, the rest still work.
pub fn service_links(
    templates: &BTreeMap<String, String>,
    entity: &Entity,
    vars: &LinkVars,
) -> (Vec<ServiceLink>, Vec<LinkError>) {
    let mut links = Vec::new();
    let mut errors = Vec::new();
    for (name, template) in templates {
        match expand(name, template, vars) {
            Ok(url) => links.push(ServiceLink {
                name: name.clone(),
                url,
                source: LinkSource::Config,
            }),
            Err(e) => errors.push(e),
        }
    }
    for l in &entity.links {
        links.push(ServiceLink {
            name: l.title.clone().unwrap_or_else(|| l.url.clone()),
            url: l.url.clone(),
            source: LinkSource::Catalog,
        });
    }
    (links, errors)
}

/// A URL made safe for an OSC 8 sequence: no control characters, and only printable
/// ASCII (anything else percent-encoded).
fn clean_url(url: &str) -> String {
    let clean = sanitize(url);
    let mut out = String::with_capacity(clean.len());
    for c in clean.trim().chars() {
        if c.is_ascii_graphic() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// A terminal hyperlink: `ESC ]8;;url ESC \ text ESC ]8;; ESC \`. Both parts are
/// sanitised first, so neither can end the sequence early or smuggle another in.
pub fn osc8(url: &str, text: &str) -> String {
    format!(
        "\x1b]8;;{}\x1b\\{}\x1b]8;;\x1b\\",
        clean_url(url),
        sanitize(text)
    )
}

/// Copy to the clipboard through the terminal (works over SSH):
/// `ESC ]52;c;<base64> BEL`. The text is sanitised first.
pub fn osc52_copy(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(sanitize(text).as_bytes()))
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> LinkVars {
        LinkVars {
            service: "payments-api".into(),
            owner: Some("payments".into()),
            system: Some("money-movement".into()),
            env: Some("production".into()),
            region: Some("eu-west-1".into()),
        }
    }

    #[test]
    fn expands_every_placeholder() {
        let url = expand(
            "dash",
            "https://grafana/d/{service}?team={owner}&sys={system}&env={env}&r={region}",
            &vars(),
        );
        assert_eq!(
            url.as_deref(),
            Ok(
                "https://grafana/d/payments-api?team=payments&sys=money-movement&env=production&r=eu-west-1"
            )
        );
    }

    #[test]
    fn values_are_percent_encoded_and_braces_escape() {
        let mut v = vars();
        v.service = "a b/c".into();
        assert_eq!(
            expand("x", "https://h/{service}/{{literal}}", &v).as_deref(),
            Ok("https://h/a%20b%2Fc/{literal}")
        );
    }

    #[test]
    fn unknown_placeholder_is_named() {
        let e = expand("logs", "https://logs/{cluster}", &vars()).expect_err("unknown");
        assert_eq!(
            e,
            LinkError::UnknownPlaceholder {
                link: "logs".into(),
                placeholder: "cluster".into()
            }
        );
        assert!(e.to_string().contains("{cluster}"), "{e}");
        let mut v = vars();
        v.region = None;
        assert!(matches!(
            expand("d", "https://x/{region}", &v),
            Err(LinkError::NoValue { placeholder, .. }) if placeholder == "region"
        ));
        assert!(matches!(
            expand("d", "https://x/{service", &v),
            Err(LinkError::Unclosed { .. })
        ));
    }

    #[test]
    fn service_links_merge_config_and_catalog() {
        let mut e: Entity = serde_json::from_value(serde_json::json!({
            "kind": "Component", "namespace": "default", "name": "payments-api",
            "links": [{"url": "https://runbooks/payments-api", "title": "Runbook"}],
            "source": {"file": "x", "document": 0}
        }))
        .expect("entity");
        e.owner = None;
        let mut t = BTreeMap::new();
        t.insert(
            "repo".to_string(),
            "https://github.com/acme/{service}".to_string(),
        );
        t.insert("team".to_string(), "https://teams/{owner}".to_string());
        let (links, errors) = service_links(&t, &e, &LinkVars::for_entity(&e, None, None));
        assert_eq!(
            links,
            [
                ServiceLink {
                    name: "repo".into(),
                    url: "https://github.com/acme/payments-api".into(),
                    source: LinkSource::Config
                },
                ServiceLink {
                    name: "Runbook".into(),
                    url: "https://runbooks/payments-api".into(),
                    source: LinkSource::Catalog
                },
            ]
        );
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn osc8_wraps_and_sanitizes() {
        assert_eq!(
            osc8("https://x.example/a", "docs"),
            "\x1b]8;;https://x.example/a\x1b\\docs\x1b]8;;\x1b\\"
        );
        let evil = osc8("https://x/\x1b\\\x07a b\u{e9}", "t\x1b]52;c;Zm9v\x07ext");
        assert_eq!(
            evil,
            "\x1b]8;;https://x/a%20b%C3%A9\x1b\\text\x1b]8;;\x1b\\"
        );
        // Exactly the four ESCs of the two OSC 8 sequences.
        assert_eq!(evil.matches('\x1b').count(), 4);
    }

    #[test]
    fn osc52_copies_base64() {
        assert_eq!(osc52_copy("hello"), "\x1b]52;c;aGVsbG8=\x07");
        assert_eq!(
            osc52_copy("a\x1b[2Jb"),
            format!("\x1b]52;c;{}\x07", base64(b"ab"))
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }
}
