//! Access requests (C15): reading a secret or acting on a service one does not own
//! becomes a request, granted at once by ownership or a team rule from config, else
//! pending until an owner (or a platform admin) approves or denies it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// Reveal the service's secret values (`sphere secret reveal`).
    ReadSecrets,
    /// Act on the service as an owner would (lock, roll back, restart, HPA, secrets).
    Operate,
    /// Read the service's logs and events in production (`sphere logs`, `sphere
    /// events`); outside production anyone may.
    ReadLogs,
}

impl Permission {
    /// `read-secrets` or `operate`, as the CLI and config spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Permission::ReadSecrets => "read-secrets",
            Permission::Operate => "operate",
            Permission::ReadLogs => "read-logs",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "read-secrets" => Some(Permission::ReadSecrets),
            "operate" => Some(Permission::Operate),
            "read-logs" => Some(Permission::ReadLogs),
            _ => None,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a request was granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "rule", rename_all = "snake_case")]
pub enum GrantHow {
    /// At once, by a rule: `ownership` or `team`.
    Auto(String),
    /// By an owner or an admin.
    Approved,
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccessStatus {
    /// Waiting for an owner of the service (or an admin).
    Pending,
    Granted {
        by: String,
        how: GrantHow,
    },
    Denied {
        by: String,
    },
}

impl AccessStatus {
    /// `pending`, `granted`, `denied`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AccessStatus::Pending => "pending",
            AccessStatus::Granted { .. } => "granted",
            AccessStatus::Denied { .. } => "denied",
        }
    }
}

/// One request for access to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// Assigned by the ledger; unique and increasing.
    pub id: u64,
    /// The user who asked (the actor's name).
    pub requester: String,
    /// The service, as the catalog spells it.
    pub service: String,
    pub permission: Permission,
    /// Only this environment; `None`: every one.
    pub env: Option<String>,
    pub reason: String,
    pub status: AccessStatus,
    /// When it was asked for.
    pub at: Timestamp,
    /// When a grant ends; `None`: it does not.
    pub expires_at: Option<Timestamp>,
}

impl AccessRequest {
    /// Does this request, granted and unexpired at `now`, give `who` the permission
    /// `perm` on `service` for every one of `envs` (an empty list: no environment)?
    pub fn allows(
        &self,
        who: &str,
        service: &str,
        perm: Permission,
        envs: &[&str],
        now: Timestamp,
    ) -> bool {
        matches!(self.status, AccessStatus::Granted { .. })
            && self.requester == who
            && self.service.eq_ignore_ascii_case(service)
            && self.permission == perm
            && self.expires_at.is_none_or(|t| now < t)
            && match &self.env {
                None => true,
                Some(e) => !envs.is_empty() && envs.iter().all(|x| x == e),
            }
    }
}

/// Add `request` to a ledger's list, giving it the next id (one more than the largest).
pub fn add_request(all: &mut Vec<AccessRequest>, request: AccessRequest) -> u64 {
    let id = all.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    all.push(AccessRequest { id, ..request });
    id
}

/// Grant (until `expires_at`) or deny the pending request `id` in a ledger's list,
/// decided by `by`; the request as it now is. An error when there is no such request
/// or it is no longer pending.
pub fn decide_request(
    all: &mut [AccessRequest],
    id: u64,
    granted: bool,
    by: &str,
    expires_at: Option<Timestamp>,
) -> anyhow::Result<AccessRequest> {
    let Some(r) = all.iter_mut().find(|r| r.id == id) else {
        anyhow::bail!("no access request #{id}");
    };
    if r.status != AccessStatus::Pending {
        anyhow::bail!("access request #{id} is already {}", r.status.as_str());
    }
    r.status = if granted {
        r.expires_at = expires_at;
        AccessStatus::Granted {
            by: by.to_string(),
            how: GrantHow::Approved,
        }
    } else {
        AccessStatus::Denied { by: by.to_string() }
    };
    Ok(r.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(env: Option<&str>, expires_at: Option<Timestamp>) -> AccessRequest {
        AccessRequest {
            id: 1,
            requester: "sofia".into(),
            service: "payments-api".into(),
            permission: Permission::Operate,
            env: env.map(str::to_string),
            reason: "INC-1".into(),
            status: AccessStatus::Granted {
                by: "amara".into(),
                how: GrantHow::Approved,
            },
            at: 0,
            expires_at,
        }
    }

    #[test]
    fn a_grant_allows_only_its_requester_service_permission_env_and_time() {
        let g = granted(Some("staging"), Some(100));
        assert!(g.allows(
            "sofia",
            "payments-api",
            Permission::Operate,
            &["staging"],
            50
        ));
        assert!(!g.allows("ada", "payments-api", Permission::Operate, &["staging"], 50));
        assert!(!g.allows("sofia", "ledger", Permission::Operate, &["staging"], 50));
        assert!(!g.allows(
            "sofia",
            "payments-api",
            Permission::ReadSecrets,
            &["staging"],
            50
        ));
        assert!(!g.allows(
            "sofia",
            "payments-api",
            Permission::Operate,
            &["production"],
            50
        ));
        assert!(!g.allows(
            "sofia",
            "payments-api",
            Permission::Operate,
            &["staging", "dev"],
            50
        ));
        assert!(!g.allows(
            "sofia",
            "payments-api",
            Permission::Operate,
            &["staging"],
            100
        ));
        let any = granted(None, None);
        assert!(any.allows(
            "sofia",
            "payments-api",
            Permission::Operate,
            &["production"],
            9
        ));
        let mut pending = any.clone();
        pending.status = AccessStatus::Pending;
        assert!(!pending.allows("sofia", "payments-api", Permission::Operate, &[], 9));
    }

    #[test]
    fn permissions_parse_as_the_cli_spells_them() {
        assert_eq!(
            Permission::parse("read-secrets"),
            Some(Permission::ReadSecrets)
        );
        assert_eq!(Permission::parse("operate"), Some(Permission::Operate));
        assert_eq!(Permission::parse("root"), None);
    }
}
