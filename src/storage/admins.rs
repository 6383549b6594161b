//! Admins as the console needs them: login credentials with their failure counters, and admin
//! sessions stored by the hash of their token.
//!
//! Admins are not tenant-owned, so these functions take no organization; what an admin may
//! reach is decided from [`Admin::org_ids`], loaded with the admin. Creating admins and
//! resetting their passwords stay in [`super::accounts`], where the CLI finds them.

use chrono::{Duration, NaiveDateTime};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, prelude::*};

use super::{
    DbConnection,
    accounts::Admission,
    schema::{admin_sessions, admins, org_admins},
};
use crate::{
    AppError,
    domain::{
        admin::{Admin, AdminId},
        ids::Id,
        org::OrgId,
        session::ClientInfo,
    },
};

/// An admin together with what a password check needs.
#[derive(Debug, Clone)]
pub struct AdminCredentials {
    pub admin: Admin,
    pub password_hash: String,
    pub active: bool,
    pub locked_until: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = admins)]
struct AdminRow {
    id: String,
    email: String,
    name: String,
    is_platform: bool,
    password_hash: String,
    status: String,
    locked_until: Option<NaiveDateTime>,
}

fn org_ids_of(conn: &mut DbConnection, admin_id: &str) -> Result<Vec<OrgId>, AppError> {
    org_admins::table
        .filter(org_admins::admin_id.eq(admin_id))
        .select(org_admins::org_id)
        .load::<String>(conn)?
        .iter()
        .map(|text| Id::from_stored(text))
        .collect()
}

impl AdminRow {
    fn into_domain(self, conn: &mut DbConnection) -> Result<AdminCredentials, AppError> {
        let org_ids = org_ids_of(conn, &self.id)?;
        Ok(AdminCredentials {
            admin: Admin {
                id: Id::from_stored(&self.id)?,
                email: self.email,
                name: self.name,
                is_platform: self.is_platform,
                org_ids,
            },
            password_hash: self.password_hash,
            active: self.status == "active",
            locked_until: self.locked_until,
        })
    }
}

/// The admin with this (normalized) email, with credentials.
pub fn find_by_email(
    conn: &mut DbConnection,
    email: &str,
) -> Result<Option<AdminCredentials>, AppError> {
    let row = admins::table
        .filter(admins::email.eq(email))
        .select(AdminRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|row| row.into_domain(conn)).transpose()
}

/// The admin with this id, with credentials.
pub fn find(
    conn: &mut DbConnection,
    admin_id: &AdminId,
) -> Result<Option<AdminCredentials>, AppError> {
    let row = admins::table
        .find(admin_id.to_string())
        .select(AdminRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|row| row.into_domain(conn)).transpose()
}

/// The email of each of these admins that exists, for showing who did what.
pub fn emails(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<(String, String)>, AppError> {
    Ok(admins::table
        .filter(admins::id.eq_any(ids))
        .select((admins::id, admins::email))
        .load(conn)?)
}

/// An admin a request can be given to.
#[derive(Debug, Clone)]
pub struct StaffMember {
    pub id: AdminId,
    pub name: String,
    pub email: String,
}

/// The active admins appointed to the organization, by name. Platform admins, who manage
/// every organization, are not listed.
pub fn of_org(conn: &mut DbConnection, org_id: &OrgId) -> Result<Vec<StaffMember>, AppError> {
    org_admins::table
        .inner_join(admins::table)
        .filter(org_admins::org_id.eq(org_id.to_string()))
        .filter(admins::status.eq("active"))
        .order((admins::name.asc(), admins::email.asc()))
        .select((admins::id, admins::name, admins::email))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, email)| {
            Ok(StaffMember {
                id: Id::from_stored(&id)?,
                name,
                email,
            })
        })
        .collect()
}

/// Counts a password attempt against an admin before the password is checked, unless the
/// admin is locked or the attempts of the window (failed, or still being checked) reached
/// `threshold`; whether the attempt may be checked now. Counting first keeps simultaneous
/// guesses from all being checked; a success forgets the count ([`clear_failures`]), a
/// failure leaves it and locks the admin once it is spent ([`lock_when_spent`]).
pub fn admit_attempt(
    conn: &mut DbConnection,
    admin_id: &AdminId,
    now: NaiveDateTime,
    threshold: u32,
    window_secs: i64,
) -> Result<Admission, AppError> {
    let key = admin_id.to_string();
    let window_start = now - Duration::seconds(window_secs);
    diesel::update(admins::table.find(&key))
        .filter(
            admins::password_window_started_at
                .is_null()
                .or(admins::password_window_started_at.lt(window_start)),
        )
        .set((
            admins::password_failures.eq(0),
            admins::password_window_started_at.eq(now),
        ))
        .execute(conn)?;
    let admitted = diesel::update(admins::table.find(&key))
        .filter(admins::password_failures.lt(i32::try_from(threshold).unwrap_or(i32::MAX)))
        .filter(
            admins::locked_until
                .is_null()
                .or(admins::locked_until.le(now)),
        )
        .set(admins::password_failures.eq(admins::password_failures + 1))
        .execute(conn)?;
    if admitted > 0 {
        return Ok(Admission::Admitted);
    }
    let locked_until = admins::table
        .find(&key)
        .select(admins::locked_until)
        .first(conn)?;
    Ok(Admission::refused(locked_until, now))
}

/// After a wrong password, locks the admin for `lock_secs` when the counted attempts reached
/// `threshold`. Returns whether this call locked the admin.
pub fn lock_when_spent(
    conn: &mut DbConnection,
    admin_id: &AdminId,
    now: NaiveDateTime,
    threshold: u32,
    lock_secs: i64,
) -> Result<bool, AppError> {
    let key = admin_id.to_string();
    let locked = diesel::update(admins::table.find(&key))
        .filter(admins::password_failures.ge(i32::try_from(threshold).unwrap_or(i32::MAX)))
        .set((
            admins::locked_until.eq(now + Duration::seconds(lock_secs)),
            admins::password_failures.eq(0),
            admins::password_window_started_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(locked > 0)
}

/// Forgets an admin's password failures after a successful proof.
pub fn clear_failures(conn: &mut DbConnection, admin_id: &AdminId) -> Result<(), AppError> {
    diesel::update(admins::table.find(admin_id.to_string()))
        .filter(admins::password_failures.gt(0))
        .set((
            admins::password_failures.eq(0),
            admins::password_window_started_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// A stored admin session.
#[derive(Debug, Clone)]
pub struct AdminSessionRecord {
    pub id: String,
    pub admin_id: AdminId,
    pub proved_at: NaiveDateTime,
}

/// Stores a new admin session, proved now.
pub fn insert_session(
    conn: &mut DbConnection,
    admin_id: &AdminId,
    token_hash: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
    client: &ClientInfo,
) -> Result<(), AppError> {
    diesel::insert_into(admin_sessions::table)
        .values((
            admin_sessions::id.eq(uuid::Uuid::new_v4().to_string()),
            admin_sessions::admin_id.eq(admin_id.to_string()),
            admin_sessions::token_hash.eq(token_hash),
            admin_sessions::created_at.eq(now),
            admin_sessions::last_seen_at.eq(now),
            admin_sessions::expires_at.eq(expires_at),
            admin_sessions::proved_at.eq(now),
            admin_sessions::client_ip.eq(&client.ip),
            admin_sessions::user_agent.eq(&client.user_agent),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records that the admin session was used at `now`.
pub fn touch_session(
    conn: &mut DbConnection,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(admin_sessions::table.find(session_id))
        .set(admin_sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// The live admin session with this token hash: before its absolute expiry and used within
/// `idle_secs`. Finding it only reads: the caller records each use with [`touch_session`], so
/// that the idle timeout counts from the latest page.
pub fn find_live_session(
    conn: &mut DbConnection,
    token_hash: &str,
    idle_secs: i64,
    now: NaiveDateTime,
) -> Result<Option<AdminSessionRecord>, AppError> {
    let found: Option<(String, String, NaiveDateTime)> = admin_sessions::table
        .filter(admin_sessions::token_hash.eq(token_hash))
        .filter(admin_sessions::expires_at.gt(now))
        .filter(admin_sessions::last_seen_at.gt(now - Duration::seconds(idle_secs)))
        .select((
            admin_sessions::id,
            admin_sessions::admin_id,
            admin_sessions::proved_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, admin_id, proved_at)) = found else {
        return Ok(None);
    };
    Ok(Some(AdminSessionRecord {
        id,
        admin_id: Id::from_stored(&admin_id)?,
        proved_at,
    }))
}

/// Records that the admin proved the password again in this session.
pub fn mark_proved(
    conn: &mut DbConnection,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(admin_sessions::table.find(session_id))
        .set(admin_sessions::proved_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Ends the admin session with this token hash.
pub fn delete_session(conn: &mut DbConnection, token_hash: &str) -> Result<(), AppError> {
    diesel::delete(admin_sessions::table.filter(admin_sessions::token_hash.eq(token_hash)))
        .execute(conn)?;
    Ok(())
}
