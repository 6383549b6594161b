//! Fixtures: organizations, contacts, admins and portal content described as TOML data, and the
//! seeding that stores them.
//!
//! `portico seed DIR` reads `DIR/admins.toml` and `DIR/orgs/*.toml`; `portico demo` uses the
//! copy of `fixtures/` embedded in the binary. Seeding is idempotent: whatever already exists
//! (an organization by slug, a contact by email or mobile, a category by name, a solution by
//! title, a request by contact and subject, an admin by email) is left as it is, so a second
//! run changes nothing. Each organization is stored in one transaction, after its passwords
//! are hashed, so a broken file leaves nothing half-written.

use std::{collections::HashMap, path::Path};

use chrono::{Duration, Utc};
use rust_embed::RustEmbed;
use serde::Deserialize;

use crate::{
    App, AppError,
    domain::{
        contact::{ContactId, ContactStatus, Identifier, normalize_email, normalize_mobile},
        org::{
            Branding, LoginMode, LoginPolicy, OrgId, OrgStatus, Organization, OtpChannel,
            SelfRegistration, check_accent_color, check_slug,
        },
    },
    secret::SecretString,
    storage::{
        DbConnection,
        accounts::{self, NewAdmin, NewContact},
        content::{self, NewCategory, NewReply, NewRequest, NewSolution},
        orgs,
    },
};

#[derive(RustEmbed)]
#[folder = "fixtures/"]
#[include = "*.toml"]
struct Embedded;

/// A whole set of fixtures.
#[derive(Debug, Deserialize, Default)]
pub struct FixtureSet {
    #[serde(default)]
    pub admins: Vec<AdminFixture>,
    #[serde(skip)]
    pub orgs: Vec<OrgFixture>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFixture {
    pub email: String,
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub platform: bool,
    #[serde(default)]
    pub orgs: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgFixture {
    pub organization: OrganizationFixture,
    pub login_policy: PolicyFixture,
    #[serde(default)]
    pub contacts: Vec<ContactFixture>,
    #[serde(default)]
    pub service_categories: Vec<CategoryFixture>,
    #[serde(default)]
    pub solutions: Vec<SolutionFixture>,
    #[serde(default)]
    pub requests: Vec<RequestFixture>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationFixture {
    pub slug: String,
    pub name: String,
    pub status: OrgStatus,
    pub accent_color: String,
    pub welcome_text: String,
    pub footer_text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFixture {
    pub login_mode: LoginMode,
    pub otp_channel: OtpChannel,
    /// Whether visitors may register: `off` (the default), `open` or `with_approval`.
    #[serde(default = "no_registration")]
    pub self_registration: SelfRegistration,
    /// Email domains allowed to register; none allows any.
    #[serde(default)]
    pub registration_domains: Vec<String>,
}

fn no_registration() -> SelfRegistration {
    SelfRegistration::Off
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactFixture {
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub name: String,
    pub password: Option<String>,
    pub time_zone: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryFixture {
    pub name: String,
    pub description: String,
    pub active: bool,
    pub position: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolutionFixture {
    pub topic: String,
    pub title: String,
    pub status: String,
    pub body: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFixture {
    pub contact: String,
    pub category: String,
    pub subject: String,
    pub description: String,
    pub priority: String,
    pub status: String,
    #[serde(default)]
    pub created_days_ago: i64,
    #[serde(default)]
    pub replies: Vec<ReplyFixture>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyFixture {
    pub author: String,
    pub body: String,
}

/// What a seeding run created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub organizations: usize,
    pub contacts: usize,
    pub admins: usize,
    pub categories: usize,
    pub solutions: usize,
    pub requests: usize,
}

impl SeedReport {
    /// Whether the run created nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, AppError> {
    toml::from_str(text).map_err(|error| AppError::Invalid {
        field: None,
        message: format!("{name}: {}", error.message()),
    })
}

impl FixtureSet {
    /// The demo fixtures built into the binary.
    pub fn embedded() -> Result<Self, AppError> {
        let mut files: Vec<_> = Embedded::iter().collect();
        files.sort();
        let mut set = Self::default();
        for name in files {
            let Some(file) = Embedded::get(&name) else {
                continue;
            };
            let text = String::from_utf8_lossy(&file.data);
            set.add(&name, &text)?;
        }
        Ok(set)
    }

    /// The fixtures in a folder: `admins.toml` and `orgs/*.toml`.
    pub fn from_dir(dir: &Path) -> Result<Self, AppError> {
        let unreadable = |path: &Path, error: std::io::Error| AppError::Invalid {
            field: None,
            message: format!("cannot read {}: {error}", path.display()),
        };
        let mut set = Self::default();
        let admins = dir.join("admins.toml");
        if admins.exists() {
            let text = std::fs::read_to_string(&admins).map_err(|e| unreadable(&admins, e))?;
            set.add("admins.toml", &text)?;
        }
        let orgs_dir = dir.join("orgs");
        let mut paths: Vec<_> = std::fs::read_dir(&orgs_dir)
            .map_err(|e| unreadable(&orgs_dir, e))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?;
            set.add(&format!("orgs/{}", path.display()), &text)?;
        }
        Ok(set)
    }

    fn add(&mut self, name: &str, text: &str) -> Result<(), AppError> {
        if name.ends_with("admins.toml") {
            let admins: FixtureSet = parse(name, text)?;
            self.admins.extend(admins.admins);
        } else {
            self.orgs.push(parse(name, text)?);
        }
        Ok(())
    }
}

/// Stores every fixture that does not exist yet.
pub async fn seed(app: &App, set: &FixtureSet) -> Result<SeedReport, AppError> {
    let mut report = SeedReport::default();
    for org in &set.orgs {
        let hashes =
            hash_passwords(app, org.contacts.iter().map(|c| c.password.as_deref())).await?;
        let fixture = OrgPlan::check(org)?;
        let counts = app
            .db
            .transaction(move |conn| fixture.store(conn, &hashes))
            .await?;
        report.organizations += counts.organizations;
        report.contacts += counts.contacts;
        report.categories += counts.categories;
        report.solutions += counts.solutions;
        report.requests += counts.requests;
    }
    for admin in &set.admins {
        report.admins += seed_admin(app, admin).await?;
    }
    Ok(report)
}

async fn hash_passwords<'a>(
    app: &App,
    passwords: impl Iterator<Item = Option<&'a str>>,
) -> Result<Vec<Option<String>>, AppError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, password) in passwords.enumerate() {
        let Some(password) = password else { continue };
        let hasher = app.hasher.clone();
        let password = SecretString::from(password);
        tasks.spawn(async move { (index, hasher.hash(password).await) });
    }
    let mut hashes = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, hash) = joined?;
        hashes.insert(index, hash?);
    }
    let count = hashes.keys().max().map_or(0, |max| max + 1);
    Ok((0..count).map(|i| hashes.remove(&i)).collect())
}

/// One organization's fixture, checked and ready to store.
struct OrgPlan {
    org: Organization,
    policy: LoginPolicy,
    contacts: Vec<(Identifier, NewContact)>,
    categories: Vec<CategoryFixture>,
    solutions: Vec<SolutionFixture>,
    requests: Vec<RequestFixture>,
}

impl OrgPlan {
    fn check(fixture: &OrgFixture) -> Result<Self, AppError> {
        let o = &fixture.organization;
        check_slug(&o.slug)?;
        check_accent_color(&o.accent_color)?;
        let policy = LoginPolicy {
            self_registration: fixture.login_policy.self_registration,
            registration_domains: fixture.login_policy.registration_domains.clone(),
            ..LoginPolicy::for_mode(
                fixture.login_policy.login_mode,
                fixture.login_policy.otp_channel,
            )
        };
        policy.check()?;
        let org = Organization {
            id: OrgId::new(),
            slug: o.slug.clone(),
            name: o.name.clone(),
            status: o.status,
            branding: Branding {
                accent_color: o.accent_color.clone(),
                welcome_text: o.welcome_text.clone(),
                footer_text: o.footer_text.clone(),
            },
        };
        let contacts = fixture
            .contacts
            .iter()
            .map(contact_plan)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            org,
            policy,
            contacts,
            categories: fixture.service_categories.clone(),
            solutions: fixture.solutions.clone(),
            requests: fixture.requests.clone(),
        })
    }

    fn store(
        self,
        conn: &mut DbConnection,
        hashes: &[Option<String>],
    ) -> Result<SeedReport, AppError> {
        let mut report = SeedReport::default();
        let org_id = match orgs::find_by_slug(conn, &self.org.slug)? {
            Some(existing) => existing.id,
            None => {
                orgs::insert(conn, &self.org, &self.policy)?;
                report.organizations += 1;
                self.org.id
            }
        };
        let now = Utc::now().naive_utc();

        let mut contact_ids: HashMap<String, ContactId> = HashMap::new();
        for (index, (identifier, mut contact)) in self.contacts.into_iter().enumerate() {
            let id = match accounts::find_contact_by_identifier(conn, &org_id, &identifier)? {
                Some(found) => found.contact.id,
                None => {
                    contact.password_hash = hashes.get(index).cloned().flatten();
                    report.contacts += 1;
                    accounts::insert_contact(conn, &org_id, &contact)?
                }
            };
            contact_ids.insert(identifier.as_str().to_owned(), id);
        }

        for category in &self.categories {
            if content::category_id_by_name(conn, &org_id, &category.name)?.is_none() {
                let new = NewCategory {
                    name: &category.name,
                    description: &category.description,
                    active: category.active,
                    position: category.position,
                };
                content::insert_category(conn, &org_id, &new, now)?;
                report.categories += 1;
            }
        }

        for solution in &self.solutions {
            if !content::solution_exists(conn, &org_id, &solution.title)? {
                let new = NewSolution {
                    topic: &solution.topic,
                    title: &solution.title,
                    body: &solution.body,
                    published: solution.status == "published",
                };
                content::insert_solution(conn, &org_id, &new, now)?;
                report.solutions += 1;
            }
        }

        for request in &self.requests {
            if store_request(conn, &org_id, &contact_ids, request, now)? {
                report.requests += 1;
            }
        }
        Ok(report)
    }
}

fn store_request(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_ids: &HashMap<String, ContactId>,
    request: &RequestFixture,
    now: chrono::NaiveDateTime,
) -> Result<bool, AppError> {
    let unknown = |what: &str, name: &str| AppError::Invalid {
        field: None,
        message: format!(
            "request '{}' names an unknown {what} '{name}'",
            request.subject
        ),
    };
    let contact_key = normalize_email(&request.contact)?;
    let contact_id = contact_ids
        .get(&contact_key)
        .ok_or_else(|| unknown("contact", &request.contact))?;
    if content::request_exists(conn, org_id, contact_id, &request.subject)? {
        return Ok(false);
    }
    let category_id = content::category_id_by_name(conn, org_id, &request.category)?
        .ok_or_else(|| unknown("category", &request.category))?;
    let created_at = now - Duration::days(request.created_days_ago);
    let new = NewRequest {
        contact_id,
        category_id: &category_id,
        subject: &request.subject,
        description: &request.description,
        priority: &request.priority,
        status: &request.status,
        created_at,
    };
    let request_id = content::insert_request(conn, org_id, &new)?;
    for (step, reply) in request.replies.iter().enumerate() {
        let hours = i64::try_from(step).unwrap_or(0) * 5 + 3;
        let reply = NewReply {
            request_id: &request_id,
            author_kind: if reply.author == "staff" {
                "staff"
            } else {
                "contact"
            },
            author_id: None,
            body: &reply.body,
            created_at: created_at + Duration::hours(hours),
        };
        content::insert_reply(conn, org_id, &reply)?;
    }
    Ok(true)
}

fn contact_plan(fixture: &ContactFixture) -> Result<(Identifier, NewContact), AppError> {
    let email = fixture.email.as_deref().map(normalize_email).transpose()?;
    let mobile = fixture
        .mobile
        .as_deref()
        .map(|mobile| normalize_mobile(mobile, "US"))
        .transpose()?;
    let identifier = match (&email, &mobile) {
        (Some(email), _) => Identifier::Email(email.clone()),
        (None, Some(mobile)) => Identifier::Mobile(mobile.clone()),
        (None, None) => {
            return Err(AppError::Invalid {
                field: None,
                message: format!("contact '{}' has neither email nor mobile", fixture.name),
            });
        }
    };
    let contact = NewContact {
        email,
        mobile,
        name: fixture.name.clone(),
        time_zone: fixture
            .time_zone
            .clone()
            .unwrap_or_else(|| "UTC".to_owned()),
        password_hash: None,
        status: if fixture.disabled {
            ContactStatus::Disabled
        } else {
            ContactStatus::Active
        },
    };
    Ok((identifier, contact))
}

async fn seed_admin(app: &App, admin: &AdminFixture) -> Result<usize, AppError> {
    let email = normalize_email(&admin.email)?;
    let lookup = email.clone();
    let exists = app
        .db
        .run(move |conn| accounts::find_admin_by_email(conn, &lookup))
        .await?
        .is_some();
    let password_hash = if exists {
        String::new()
    } else {
        app.hasher
            .hash(SecretString::from(admin.password.as_str()))
            .await?
    };
    let new = NewAdmin {
        email,
        name: admin.name.clone(),
        password_hash,
        is_platform: admin.platform,
    };
    let slugs = admin.orgs.clone();
    app.db
        .transaction(move |conn| {
            let (id, created) = match accounts::find_admin_by_email(conn, &new.email)? {
                Some((found, _)) => (found.id, 0),
                None => (accounts::insert_admin(conn, &new)?, 1),
            };
            for slug in &slugs {
                let org = orgs::find_by_slug(conn, slug)?.ok_or_else(|| AppError::Invalid {
                    field: None,
                    message: format!("admin {} names an unknown organization '{slug}'", new.email),
                })?;
                accounts::grant_admin_org(conn, &id, &org.id)?;
            }
            Ok(created)
        })
        .await
}
