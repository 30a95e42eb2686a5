//! The model's forms: what each one asks, what is wrong with its values (checked
//! after every key, with the same rules and words as the dispatcher), and the action
//! it becomes.

use crate::actions::Action;
use crate::domain::ClusterId;
use crate::domain::catalog::{Kind, RelationKind};
use crate::domain::environment::{check_name, format_duration, parse_duration};
use crate::domain::golden::{Database, ServiceRequest, TEMPLATES};

use super::form::{Field, FieldError, Form, FormKind};
use super::layers::Layer;
use super::model::{Effect, Level, Model};

/// The golden path's database choices, as the form shows them.
pub const DATABASES: [&str; 3] = ["none", "postgres", "mysql"];

/// The first option of the region field: every region the source spans.
const EVERY_REGION: &str = "every region of the source";

fn problem(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl Model {
    fn open(&mut self, mut form: Form) {
        self.check(&mut form);
        self.layers.push(Layer::Form(Box::new(form)));
    }

    /// The golden-path form: owners are the catalog's teams, the actor's own team
    /// first when it has one.
    pub(super) fn open_service_form(&mut self) {
        let Some(catalog) = &self.catalog else {
            self.toast(Level::Error, "the catalog is not loaded yet");
            return;
        };
        let mut owners: Vec<String> = catalog
            .of_kind(&Kind::Group)
            .filter(|g| g.spec_type.as_deref() == Some("team"))
            .map(|g| g.name.to_string())
            .collect();
        if owners.is_empty() {
            owners = catalog
                .of_kind(&Kind::Group)
                .map(|g| g.name.to_string())
                .collect();
        }
        owners.sort();
        let mine = catalog
            .find(Some(&Kind::User), &self.user)
            .and_then(|u| {
                u.related(RelationKind::MemberOf)
                    .next()
                    .map(|g| g.name.clone())
            })
            .and_then(|g| owners.iter().position(|o| *o == g))
            .unwrap_or(0);
        let form = Form::new(
            FormKind::Service,
            "new service on the golden path",
            "create",
        )
        .field(Field::text("name", "", "lowercase letters, digits and -"))
        .field(Field::text("description", "", "what it does, in one line"))
        .field(Field::choice("owner", owners, mine, true))
        .field(Field::choice(
            "template",
            TEMPLATES.iter().map(|t| t.to_string()).collect(),
            0,
            true,
        ))
        .field(Field::choice(
            "database",
            DATABASES.iter().map(|d| d.to_string()).collect(),
            0,
            true,
        ))
        .field(Field::choice(
            "cache",
            vec!["no".into(), "yes".into()],
            0,
            true,
        ))
        .field(Field::choice(
            "replicas",
            (1..=10).map(|n| n.to_string()).collect(),
            // The CLI's default: one replica per region.
            0,
            false,
        ));
        self.open(form);
    }

    /// The HPA's bounds of `service` in `cluster`, starting from the current ones,
    /// with the policy's bounds beside them.
    pub(super) fn open_hpa_form(&mut self, service: String, cluster: ClusterId) {
        let current = self
            .live
            .service(&service)
            .and_then(|s| s.hpa(&cluster))
            .map(|h| (h.min, h.max, h.current));
        let Some((min, max, replicas)) = current else {
            self.toast(Level::Error, format!("{service} has no HPA in {cluster}"));
            return;
        };
        let (lo, hi) = (self.policy.hpa_min.max(1), self.policy.hpa_max);
        let form = Form::new(
            FormKind::Hpa {
                service: service.clone(),
                cluster: cluster.clone(),
            },
            format!("HPA of {service} in {cluster}"),
            "set",
        )
        .with_help(format!(
            "now {min}..{max}, {replicas} replicas · policy allows {lo}..{hi}"
        ))
        .field(Field::text("min", &min.to_string(), "replicas").with_note(format!("≥ {lo}")))
        .field(Field::text("max", &max.to_string(), "replicas").with_note(format!("≤ {hi}")));
        self.open(form);
    }

    /// A new ephemeral environment: a name, the environment to copy, one region or
    /// all of them, how long it lives.
    pub(super) fn open_env_form(&mut self) {
        let sources = self.topology.environments.clone();
        // The scope's environment is the likely source; else staging, else the first.
        let from = self
            .scope
            .env
            .as_ref()
            .and_then(|e| sources.iter().position(|x| x == e))
            .or_else(|| sources.iter().position(|x| x == "staging"))
            .unwrap_or(0);
        let mut regions = vec![EVERY_REGION.to_string()];
        regions.extend(self.topology.regions.iter().cloned());
        let region = self
            .scope
            .region
            .as_ref()
            .and_then(|r| regions.iter().position(|x| x == r))
            .unwrap_or(0);
        let max = format_duration(self.policy.env_ttl_max);
        let form = Form::new(FormKind::Environment, "new ephemeral environment", "create")
            .with_help("a copy of the source at its versions, removed when its time is up")
            .field(Field::text(
                "name",
                "",
                "pr-1234: lowercase letters, digits and -",
            ))
            .field(Field::choice("from", sources, from, true))
            .field(Field::choice("region", regions, region, true))
            .field(Field::text("ttl", "1d", "30m, 8h, 7d").with_note(format!("≤ {max}")));
        self.open(form);
    }

    /// A new secret of `service`: its name, environment and region (the grid's selected
    /// cell's). The value is asked after, in the masked prompt `p` uses.
    pub(super) fn open_secret_form(&mut self, service: String) {
        let envs = self.topology.environments.clone();
        let regions = self.topology.regions.clone();
        let at = |list: &[String], want: &Option<String>| {
            want.as_ref()
                .and_then(|w| list.iter().position(|x| x == w))
                .unwrap_or(0)
        };
        // The grid's selected cell, else the scope.
        let cell = self.secret_cell_cluster();
        let (env, region) = match &cell {
            Some(c) => (
                at(&envs, &Some(c.env.to_string())),
                at(&regions, &Some(c.region.to_string())),
            ),
            None => (at(&envs, &self.scope.env), at(&regions, &self.scope.region)),
        };
        let form = Form::new(
            FormKind::Secret {
                service: service.clone(),
            },
            format!("new secret of {service}"),
            "next: the value",
        )
        .with_help(format!(
            "named <env>/{service}/<NAME>, with the standard tags"
        ))
        .field(Field::text(
            "name",
            "",
            "DATABASE_URL: capitals, digits and _",
        ))
        .field(Field::choice("env", envs, env, true))
        .field(Field::choice("region", regions, region, true));
        self.open(form);
    }

    /// Check the open form again (after a key).
    pub(super) fn check_form(&mut self) {
        if let Some((i, mut form)) = self.layers.take_form() {
            self.check(&mut form);
            self.layers.put_form(i, form);
        }
    }

    fn check(&self, form: &mut Form) {
        form.errors = match &form.kind {
            FormKind::Service => match (self.catalog.as_ref(), service_request(form)) {
                (Some(c), Ok(r)) => r.validate(c).err().unwrap_or_default(),
                (None, _) => vec![problem("catalog", "not loaded yet")],
                (_, Err(e)) => vec![e],
            },
            FormKind::Hpa { .. } => self.hpa_bounds(form).err().unwrap_or_default(),
            FormKind::Environment => self.env_request(form).err().unwrap_or_default(),
            FormKind::Secret { .. } => self.secret_place(form).err().unwrap_or_default(),
        };
    }

    /// min and max within the policy's bounds, min ≤ max.
    fn hpa_bounds(&self, form: &Form) -> Result<(u32, u32), Vec<FieldError>> {
        let (lo, hi) = (self.policy.hpa_min.max(1), self.policy.hpa_max);
        let number = |field: &str| -> Result<u32, FieldError> {
            let text = form.value(field);
            text.parse::<u32>().map_err(|_| {
                problem(
                    field,
                    if text.is_empty() {
                        "a number is required".to_string()
                    } else if text.bytes().all(|b| b.is_ascii_digit()) {
                        format!("{text} is too large")
                    } else {
                        format!("{text:?} is not a whole number")
                    },
                )
            })
        };
        let mut errors = Vec::new();
        let min = number("min").map_err(|e| errors.push(e)).ok();
        let max = number("max").map_err(|e| errors.push(e)).ok();
        if let Some(min) = min
            && min < lo
        {
            errors.push(problem(
                "min",
                format!("{min} is below the policy bound {lo}"),
            ));
        }
        if let Some(max) = max
            && max > hi
        {
            errors.push(problem(
                "max",
                format!("{max} is above the policy bound {hi}"),
            ));
        }
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            errors.push(problem("min", format!("min {min} is above max {max}")));
        }
        match (min, max) {
            (Some(min), Some(max)) if errors.is_empty() => Ok((min, max)),
            _ => Err(errors),
        }
    }

    /// The new secret's (env, region, name), or what is wrong with them.
    fn secret_place(&self, form: &Form) -> Result<(String, String, String), Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = form.value("name");
        if name.is_empty() {
            errors.push(problem("name", "a name is required"));
        } else if !crate::actions::valid_secret_key(&name) {
            errors.push(problem(
                "name",
                format!("{name:?} is not a secret name: use capitals, digits and _, starting with a capital (DATABASE_URL)"),
            ));
        }
        let (env, region) = (form.value("env"), form.value("region"));
        if !self.topology.regions_of(&env).contains(&region) {
            errors.push(problem("region", format!("{env} does not span {region}")));
        }
        // A new secret: one that exists there already is changed with `p`.
        if let (FormKind::Secret { service }, Some((_, list))) = (&form.kind, self.secrets.ready())
            && list.iter().any(|s| {
                s.service == *service && s.env == env && s.region == region && s.key == name
            })
        {
            errors.push(problem(
                "name",
                format!("{name} exists already in {env}/{region}; p puts a new value"),
            ));
        }
        if errors.is_empty() {
            Ok((env, region, name))
        } else {
            Err(errors)
        }
    }

    /// The `EnvCreate` the form asks for, or what is wrong with it.
    fn env_request(&self, form: &Form) -> Result<Action, Vec<FieldError>> {
        let topo = &self.topology;
        let mut errors = Vec::new();
        let name = form.value("name");
        if let Err(why) = check_name(&name) {
            errors.push(problem("name", why));
        } else if topo.environments.contains(&name) {
            errors.push(problem(
                "name",
                format!("an environment named {name} exists already; pick another name"),
            ));
        }
        let from = form.value("from");
        let region = match form.selected("region") {
            0 => None,
            _ => Some(form.value("region")),
        };
        if let Some(r) = &region
            && !topo.regions_of(&from).contains(r)
        {
            errors.push(problem("region", format!("{from} does not span {r}")));
        }
        let ttl = match parse_duration(&form.value("ttl")) {
            Ok(t) if t > self.policy.env_ttl_max => {
                errors.push(problem(
                    "ttl",
                    format!(
                        "{} is above the policy maximum {} ([policy] env_ttl_max)",
                        format_duration(t),
                        format_duration(self.policy.env_ttl_max)
                    ),
                ));
                0
            }
            Ok(t) => t,
            Err(why) => {
                errors.push(problem("ttl", why));
                0
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Action::EnvCreate {
            name,
            from,
            region,
            ttl_seconds: ttl,
        })
    }

    /// Enter: when nothing is wrong, the action; else every problem is shown. The form
    /// stays under what it asks next (why, a new secret's value): Esc there comes back
    /// to it as typed; it closes when the action is handed over (see
    /// `Model::dispatch`).
    pub(super) fn submit_form(&mut self) -> Vec<Effect> {
        let Some((i, mut form)) = self.layers.take_form() else {
            return vec![];
        };
        self.check(&mut form);
        if !form.errors.is_empty() {
            form.submitted = true;
            self.layers.put_form(i, form);
            return vec![];
        }
        let next = self.form_next(&form);
        self.layers.put_form(i, form);
        match next {
            None => vec![],
            Some(Next::Value {
                service,
                env,
                region,
                key,
            }) => {
                self.ask_secret_value(service, env, region, key);
                vec![]
            }
            // An HPA edit, a new environment and a new service ask why, as `sphere hpa
            // set`, `env create` and `service create` take `--reason`.
            Some(Next::Act(action)) => self.ask_why(action),
        }
    }

    /// What a checked form asks next.
    fn form_next(&self, form: &Form) -> Option<Next> {
        let action = match &form.kind {
            // Its progress shows once the "why?" below is answered.
            FormKind::Service => Action::ServiceCreate {
                request: service_request(form).ok()?,
                from_step: None,
            },
            FormKind::Hpa { service, cluster } => {
                let (min, max) = self.hpa_bounds(form).ok()?;
                Action::SetHpa {
                    service: service.clone(),
                    cluster: cluster.clone(),
                    min,
                    max,
                }
            }
            FormKind::Environment => self.env_request(form).ok()?,
            FormKind::Secret { service } => {
                let (env, region, key) = self.secret_place(form).ok()?;
                return Some(Next::Value {
                    service: service.clone(),
                    env,
                    region,
                    key,
                });
            }
        };
        Some(Next::Act(action))
    }
}

/// What a submitted form asks next.
enum Next {
    /// Why, then the action.
    Act(Action),
    /// A new secret's value (typed masked), then why.
    Value {
        service: String,
        env: String,
        region: String,
        key: String,
    },
}

/// The golden-path request the form holds.
fn service_request(form: &Form) -> Result<ServiceRequest, FieldError> {
    let mut request = ServiceRequest::new(&form.value("name"), &form.value("owner"));
    request.description = form.value("description");
    request.template = form.value("template");
    request.database = Database::parse(&form.value("database"));
    request.cache = form.value("cache") == "yes";
    request.replicas = form
        .value("replicas")
        .parse()
        .map_err(|_| problem("replicas", "a number from 1 to 10"))?;
    Ok(request)
}
