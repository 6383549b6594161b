//! Organizations and their login policies, and the cache of them that portal pages read.
//!
//! Every page of a portal needs its organization and login policy, and every logged-in home
//! page its latest solutions, so [`Portals`] keeps them in memory for [`PORTAL_CACHE_SECS`]. A
//! change this process makes to an organization, its policy or its solutions is seen by the
//! next request: each function that writes them notes the change,
//! and [`Db`](super::Db) counts the notes into [`generation`] once its unit of work has
//! committed, which every cached entry is checked against. A change made by another instance
//! on the same database is followed within [`PORTAL_CACHE_SECS`].

use std::{
    cell::Cell,
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{NaiveDateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, Selectable, prelude::*};

use super::{
    DbConnection,
    schema::{login_policies, organizations},
};
use crate::{
    AppError,
    domain::{
        ids::Id,
        org::{
            Branding, LoginMode, LoginPolicy, OrgId, OrgStatus, Organization, OtpChannel,
            SelfRegistration,
        },
    },
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = organizations)]
struct OrgRow {
    id: String,
    slug: String,
    name: String,
    status: String,
    accent_color: String,
    welcome_text: String,
    footer_text: String,
}

impl OrgRow {
    fn into_domain(self) -> Result<Organization, AppError> {
        Ok(Organization {
            id: Id::from_stored(&self.id)?,
            slug: self.slug,
            name: self.name,
            status: OrgStatus::parse(&self.status)
                .ok_or_else(|| AppError::internal("unknown organization status"))?,
            branding: Branding {
                accent_color: self.accent_color,
                welcome_text: self.welcome_text,
                footer_text: self.footer_text,
            },
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_policies)]
struct PolicyRow {
    org_id: String,
    login_mode: String,
    otp_channel: String,
    code_length: i32,
    code_lifetime_secs: i32,
    code_max_guesses: i32,
    resend_cooldown_secs: i32,
    codes_per_hour: i32,
    codes_per_day: i32,
    code_failures_per_hour: i32,
    password_min_length: i32,
    lockout_threshold: i32,
    lockout_window_secs: i32,
    lockout_secs: i32,
    session_idle_secs: i32,
    session_absolute_secs: i32,
    self_registration: String,
    registration_domains: String,
    anonymous_solutions: bool,
    contacts_may_close: bool,
    contacts_may_reopen: bool,
    updated_at: NaiveDateTime,
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn stored(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl PolicyRow {
    fn from_domain(org_id: &OrgId, policy: &LoginPolicy) -> Self {
        Self {
            org_id: org_id.to_string(),
            login_mode: policy.login_mode.as_str().to_owned(),
            otp_channel: policy.otp_channel.as_str().to_owned(),
            code_length: stored(policy.code_length),
            code_lifetime_secs: stored(policy.code_lifetime_secs),
            code_max_guesses: stored(policy.code_max_guesses),
            resend_cooldown_secs: stored(policy.resend_cooldown_secs),
            codes_per_hour: stored(policy.codes_per_hour),
            codes_per_day: stored(policy.codes_per_day),
            code_failures_per_hour: stored(policy.code_failures_per_hour),
            password_min_length: stored(policy.password_min_length),
            lockout_threshold: stored(policy.lockout_threshold),
            lockout_window_secs: stored(policy.lockout_window_secs),
            lockout_secs: stored(policy.lockout_secs),
            session_idle_secs: stored(policy.session_idle_secs),
            session_absolute_secs: stored(policy.session_absolute_secs),
            self_registration: policy.self_registration.as_str().to_owned(),
            registration_domains: policy.registration_domains.join(","),
            anonymous_solutions: policy.anonymous_solutions,
            contacts_may_close: policy.contacts_may_close,
            contacts_may_reopen: policy.contacts_may_reopen,
            updated_at: Utc::now().naive_utc(),
        }
    }

    fn into_domain(self) -> Result<LoginPolicy, AppError> {
        let broken =
            |what: &str| AppError::internal(format!("stored login policy has a bad {what}"));
        Ok(LoginPolicy {
            login_mode: LoginMode::parse(&self.login_mode).ok_or_else(|| broken("login mode"))?,
            otp_channel: OtpChannel::parse(&self.otp_channel)
                .ok_or_else(|| broken("OTP channel"))?,
            code_length: count(self.code_length),
            code_lifetime_secs: count(self.code_lifetime_secs),
            code_max_guesses: count(self.code_max_guesses),
            resend_cooldown_secs: count(self.resend_cooldown_secs),
            codes_per_hour: count(self.codes_per_hour),
            codes_per_day: count(self.codes_per_day),
            code_failures_per_hour: count(self.code_failures_per_hour),
            password_min_length: count(self.password_min_length),
            lockout_threshold: count(self.lockout_threshold),
            lockout_window_secs: count(self.lockout_window_secs),
            lockout_secs: count(self.lockout_secs),
            session_idle_secs: count(self.session_idle_secs),
            session_absolute_secs: count(self.session_absolute_secs),
            self_registration: SelfRegistration::parse(&self.self_registration)
                .ok_or_else(|| broken("registration setting"))?,
            registration_domains: self
                .registration_domains
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
            anonymous_solutions: self.anonymous_solutions,
            contacts_may_close: self.contacts_may_close,
            contacts_may_reopen: self.contacts_may_reopen,
        })
    }
}

/// The organization with this slug, whatever its status.
pub fn find_by_slug(conn: &mut DbConnection, slug: &str) -> Result<Option<Organization>, AppError> {
    organizations::table
        .filter(organizations::slug.eq(slug))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
        .map(OrgRow::into_domain)
        .transpose()
}

/// The organization at `slug` with its login policy and whether it has a logo: everything a
/// portal page needs of its organization, in one query.
pub fn find_portal(conn: &mut DbConnection, slug: &str) -> Result<Option<PortalRecord>, AppError> {
    let found: Option<(OrgRow, PolicyRow, Option<String>)> = organizations::table
        .inner_join(login_policies::table)
        .filter(organizations::slug.eq(slug))
        .select((
            OrgRow::as_select(),
            PolicyRow::as_select(),
            organizations::logo_type,
        ))
        .first(conn)
        .optional()?;
    found
        .map(|(org, policy, logo_type)| {
            let org = org.into_domain()?;
            let latest_solutions =
                super::content::latest_published_solutions(conn, &org.id, LATEST_SOLUTIONS)?;
            Ok(PortalRecord {
                org,
                policy: policy.into_domain()?,
                has_logo: logo_type.is_some(),
                latest_solutions: Arc::new(latest_solutions),
            })
        })
        .transpose()
}

/// How many of its latest published solutions a portal keeps at hand for its home page.
pub const LATEST_SOLUTIONS: i64 = 8;

/// Everything a portal page needs of its organization.
#[derive(Debug, Clone)]
pub struct PortalRecord {
    pub org: Organization,
    pub policy: LoginPolicy,
    pub has_logo: bool,
    /// The latest published solutions (id, topic, title), newest first: every logged-in home
    /// page lists them.
    pub latest_solutions: Arc<Vec<(String, String, String)>>,
}

/// How long a portal's organization, policy and latest solutions are served from memory; the
/// bound on how late a change made by another instance is followed.
pub const PORTAL_CACHE_SECS: u64 = 2;

/// Most portals kept in memory; past it the cache starts again empty.
const PORTAL_CACHE_SIZE: usize = 10_000;

/// Committed changes to organizations, policies and solutions made by this process.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether the unit of work running on this thread changed what a portal keeps at hand.
    static CHANGED: Cell<bool> = const { Cell::new(false) };
}

/// Notes that the running unit of work changes an organization, its policy or one of its
/// solutions, so that no portal is served from memory as it was before. The functions that
/// write those tables call it; code that changes them by other means must call it too.
pub fn note_change() {
    CHANGED.with(|changed| changed.set(true));
}

/// Counts the change the finished unit of work noted, if any, once it is committed or given
/// up; [`Db`](super::Db) calls it after each unit of work.
pub(super) fn settle_changes() {
    if CHANGED.with(Cell::take) {
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
}

/// How many changes to organizations and policies this process has committed.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Portals' organizations and policies as lately read, by slug.
#[derive(Default)]
pub struct Portals {
    entries: RwLock<HashMap<String, CachedPortal>>,
}

struct CachedPortal {
    record: Arc<PortalRecord>,
    read_at: Instant,
    generation: u64,
}

impl Portals {
    /// The portal at `slug` when a read of it is fresh.
    pub fn get(&self, slug: &str) -> Option<Arc<PortalRecord>> {
        let entries = self.entries.read().ok()?;
        let cached = entries.get(slug)?;
        let fresh = cached.generation == generation()
            && cached.read_at.elapsed() < Duration::from_secs(PORTAL_CACHE_SECS);
        fresh.then(|| cached.record.clone())
    }

    /// Keeps `record`, read after [`generation`] was `read_in`.
    pub fn put(&self, slug: &str, record: Arc<PortalRecord>, read_in: u64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= PORTAL_CACHE_SIZE {
            entries.clear();
        }
        entries.insert(
            slug.to_owned(),
            CachedPortal {
                record,
                read_at: Instant::now(),
                generation: read_in,
            },
        );
    }
}

/// The organization with this id.
pub fn find(conn: &mut DbConnection, org_id: &OrgId) -> Result<Option<Organization>, AppError> {
    organizations::table
        .find(org_id.to_string())
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
        .map(OrgRow::into_domain)
        .transpose()
}

/// Every organization, by name.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Organization>, AppError> {
    organizations::table
        .order(organizations::name.asc())
        .select(OrgRow::as_select())
        .load(conn)?
        .into_iter()
        .map(OrgRow::into_domain)
        .collect()
}

/// Stores a new organization with its login policy. Run it inside a transaction.
pub fn insert(
    conn: &mut DbConnection,
    org: &Organization,
    policy: &LoginPolicy,
) -> Result<(), AppError> {
    note_change();
    let now = Utc::now().naive_utc();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(org.id.to_string()),
            organizations::slug.eq(&org.slug),
            organizations::name.eq(&org.name),
            organizations::status.eq(org.status.as_str()),
            organizations::accent_color.eq(&org.branding.accent_color),
            organizations::welcome_text.eq(&org.branding.welcome_text),
            organizations::footer_text.eq(&org.branding.footer_text),
            organizations::created_at.eq(now),
            organizations::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::insert_into(login_policies::table)
        .values(PolicyRow::from_domain(&org.id, policy))
        .execute(conn)?;
    Ok(())
}

/// The organization's login policy.
pub fn policy(conn: &mut DbConnection, org_id: &OrgId) -> Result<LoginPolicy, AppError> {
    login_policies::table
        .find(org_id.to_string())
        .select(PolicyRow::as_select())
        .first(conn)?
        .into_domain()
}

/// Replaces the organization's login policy.
pub fn save_policy(
    conn: &mut DbConnection,
    org_id: &OrgId,
    policy: &LoginPolicy,
) -> Result<(), AppError> {
    note_change();
    diesel::update(login_policies::table.find(org_id.to_string()))
        .set(PolicyRow::from_domain(org_id, policy))
        .execute(conn)?;
    Ok(())
}

/// Whether any live organization's login takes a password, so that the common login page
/// offers "Forgot password?".
pub fn any_live_takes_passwords(conn: &mut DbConnection) -> Result<bool, AppError> {
    let found: i64 = login_policies::table
        .inner_join(organizations::table)
        .filter(organizations::status.eq(OrgStatus::Live.as_str()))
        .filter(login_policies::login_mode.ne(LoginMode::Otp.as_str()))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}
