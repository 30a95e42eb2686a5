//! The demo's secrets, repositories and flags: its [`SecretsProvider`],
//! [`ReposProvider`] and [`FlagsProvider`].

use std::collections::BTreeMap;

use anyhow::Result;
use async_trait::async_trait;

use super::Sim;
use super::state;
use super::state::DurableState;
use crate::backend::{FlagsProvider, RepoInfo, ReposProvider, SecretsProvider};
use crate::domain::{ClusterId, FlagState, Name, SecretMeta};

#[async_trait]
impl SecretsProvider for Sim {
    async fn list(&self, service: Option<&str>) -> Result<Vec<SecretMeta>> {
        self.readable()?;
        Ok(self.world().durable.secrets.metas(service))
    }

    async fn put(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
        value: crate::domain::SecretValue,
    ) -> Result<()> {
        self.check_fault("put_secret")?;
        let tags = self.world().durable.secrets.standard_tags(service, env);
        self.put_secret(service, env, region, key, value.expose(), tags)?;
        Ok(())
    }

    async fn delete(&self, service: &str, env: &str, region: &str, key: &str) -> Result<()> {
        self.check_fault("delete_secret")?;
        if !self.delete_secret(service, env, region, key)? {
            anyhow::bail!("there is no secret {env}/{service}/{key} in {region}");
        }
        Ok(())
    }

    async fn reveal(
        &self,
        service: &str,
        env: &str,
        region: &str,
        key: &str,
    ) -> Result<crate::domain::SecretValue> {
        self.check_fault("reveal_secret")?;
        self.secret_value(service, env, region, key)
            .map(crate::domain::SecretValue::new)
            .ok_or_else(|| anyhow::anyhow!("there is no secret {env}/{service}/{key} in {region}"))
    }

    async fn copy(
        &self,
        service: &str,
        env: &str,
        key: &str,
        from_region: &str,
        to_region: &str,
    ) -> Result<()> {
        self.check_fault("copy_secret")?;
        let Some(value) = self.secret_value(service, env, from_region, key) else {
            anyhow::bail!("there is no secret {env}/{service}/{key} in {from_region}");
        };
        let tags = self.world().durable.secrets.standard_tags(service, env);
        self.put_secret(service, env, to_region, key, &value, tags)?;
        Ok(())
    }
}

#[async_trait]
impl ReposProvider for Sim {
    async fn repo(&self, slug: &str) -> Result<Option<RepoInfo>> {
        self.readable()?;
        Ok(self
            .world()
            .durable
            .repos
            .get(slug)
            .map(state::RepoRec::info))
    }

    async fn releases(&self, service: &str) -> Result<Vec<String>> {
        self.readable()?;
        self.refresh()?;
        Ok(Sim::releases(self, service))
    }

    async fn rollback(&self, service: &str, cluster: &ClusterId, version: &str) -> Result<()> {
        self.check_fault("rollback")?;
        if !self.set_version(service, cluster, version)? {
            anyhow::bail!("{service} does not run in {cluster}");
        }
        Ok(())
    }

    async fn declared(&self) -> Result<Option<crate::domain::drift::GitDeclared>> {
        self.readable()?;
        self.refresh()?;
        Ok(Some(super::gitops::declared(&self.world().durable)))
    }

    async fn create_from_template(
        &self,
        slug: &str,
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.remote_call(600).await;
        self.check_fault("create_repo")?;
        if self
            .world()
            .durable
            .repos
            .get(slug)
            .is_some_and(|r| r.exists)
        {
            return Ok(());
        }
        let files = Sim::template_files(template, values);
        self.mutate(|s| {
            if s.repos.get(slug).is_some_and(|r| r.exists) {
                return;
            }
            let slug_name = Name::from(slug);
            s.repos.insert(
                slug_name.clone(),
                state::RepoRec {
                    slug: slug_name,
                    exists: true,
                    default_branch: Name::new("main"),
                    workflows: Vec::new(),
                },
            );
            s.repo_files.insert(slug.to_string(), files);
        })
    }

    async fn write_file(&self, slug: &str, path: &str, content: &str) -> Result<bool> {
        self.remote_call(250).await;
        self.check_fault("write_file")?;
        let same = |s: &DurableState| {
            s.repo_files
                .get(slug)
                .and_then(|f| f.get(path))
                .is_some_and(|c| c == content)
        };
        if same(&self.world().durable) {
            return Ok(false);
        }
        self.mutate(|s| {
            if same(s) {
                return Ok(false);
            }
            let Some(repo) = s.repos.get_mut(slug).filter(|r| r.exists) else {
                anyhow::bail!("there is no repository {slug}");
            };
            if let Some(name) = path.strip_prefix(".github/workflows/")
                && !repo.workflows.iter().any(|w| w == name)
            {
                repo.workflows.push(Name::from(name));
            }
            s.repo_files
                .entry(slug.to_string())
                .or_default()
                .insert(path.to_string(), content.to_string());
            Ok(true)
        })?
    }

    async fn file(&self, slug: &str, path: &str) -> Result<Option<String>> {
        self.readable()?;
        self.refresh()?;
        Ok(self
            .world()
            .durable
            .repo_files
            .get(slug)
            .and_then(|f| f.get(path))
            .cloned())
    }
}

#[async_trait]
impl FlagsProvider for Sim {
    async fn list(&self) -> Result<Vec<FlagState>> {
        self.readable()?;
        Ok(self.world().durable.flags.clone())
    }

    async fn set(
        &self,
        name: &str,
        value: &str,
        percentage: Option<u8>,
        cluster: Option<&ClusterId>,
    ) -> Result<()> {
        self.check_fault("set_flag")?;
        let targets: Vec<(ClusterId, u8)> = self
            .world()
            .durable
            .flags
            .iter()
            .filter(|f| f.name == name && cluster.is_none_or(|c| &f.cluster == c))
            .map(|f| {
                let current = f.pending.as_ref().map_or(f.percentage, |p| p.percentage);
                (f.cluster.clone(), percentage.unwrap_or(current))
            })
            .collect();
        if targets.is_empty() {
            match cluster {
                Some(c) => anyhow::bail!("there is no flag {name} in {c}"),
                None => anyhow::bail!("there is no flag {name}"),
            }
        }
        for (c, pct) in &targets {
            self.set_flag(name, c, value, *pct)?;
        }
        Ok(())
    }
}
