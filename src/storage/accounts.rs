//! Contacts and admins: lookups by identifier, credentials, and the password-failure counters
//! behind lockouts.
//!
//! Contact functions take the organization first: a contact is only ever found within one
//! organization, except by [`find_contacts_everywhere`], which serves the common login page and
//! returns credentials to check, never data to show.

use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, prelude::*};

use super::{
    DbConnection,
    schema::{admins, contacts, org_admins, organizations},
};
use crate::{
    AppError,
    domain::{
        admin::{Admin, AdminId},
        contact::{Contact, ContactId, ContactStatus, Identifier},
        ids::Id,
        org::{HARD_LOCK_FAILURES, LoginPolicy, OrgId},
    },
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub(super) struct ContactRow {
    org_id: String,
    id: String,
    email: Option<String>,
    mobile: Option<String>,
    name: String,
    time_zone: String,
    status: String,
    password_hash: Option<String>,
    locked_until: Option<NaiveDateTime>,
}

/// A contact together with what a password check needs.
#[derive(Debug, Clone)]
pub struct ContactCredentials {
    pub contact: Contact,
    pub password_hash: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
}

impl ContactCredentials {
    /// Whether a lockout is in force at `now`.
    pub fn is_locked(&self, now: NaiveDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

impl ContactRow {
    pub(super) fn into_domain(self) -> Result<ContactCredentials, AppError> {
        Ok(ContactCredentials {
            contact: Contact {
                org_id: Id::from_stored(&self.org_id)?,
                id: Id::from_stored(&self.id)?,
                email: self.email,
                mobile: self.mobile,
                name: self.name,
                time_zone: self.time_zone,
                status: ContactStatus::parse(&self.status)
                    .ok_or_else(|| AppError::internal("unknown contact status"))?,
            },
            password_hash: self.password_hash,
            locked_until: self.locked_until,
        })
    }
}

/// A contact to create.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub name: String,
    pub time_zone: String,
    pub password_hash: Option<String>,
    pub status: ContactStatus,
}

/// The locked-until value of a hard lock: only an admin's unlock lifts it.
pub fn hard_lock_until() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .unwrap_or(NaiveDateTime::MAX)
}

/// The (email, mobile) pair to match: exactly one is set, and `= NULL` matches nothing.
fn identifier_columns(identifier: &Identifier) -> (Option<&str>, Option<&str>) {
    match identifier {
        Identifier::Email(email) => (Some(email.as_str()), None),
        Identifier::Mobile(mobile) => (None, Some(mobile.as_str())),
    }
}

/// The contact of this organization known by this identifier.
pub fn find_contact_by_identifier(
    conn: &mut DbConnection,
    org_id: &OrgId,
    identifier: &Identifier,
) -> Result<Option<ContactCredentials>, AppError> {
    let (email, mobile) = identifier_columns(identifier);
    contacts::table
        .filter(contacts::org_id.eq(org_id.to_string()))
        .filter(contacts::email.eq(email).or(contacts::mobile.eq(mobile)))
        .select(ContactRow::as_select())
        .first(conn)
        .optional()?
        .map(ContactRow::into_domain)
        .transpose()
}

/// Every contact known by this identifier in a live organization, for the common login page.
pub fn find_contacts_everywhere(
    conn: &mut DbConnection,
    identifier: &Identifier,
) -> Result<Vec<ContactCredentials>, AppError> {
    let (email, mobile) = identifier_columns(identifier);
    contacts::table
        .inner_join(organizations::table.on(organizations::id.eq(contacts::org_id)))
        .filter(organizations::status.eq("live"))
        .filter(contacts::email.eq(email).or(contacts::mobile.eq(mobile)))
        .order(organizations::name.asc())
        .select(ContactRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ContactRow::into_domain)
        .collect()
}

/// One contact of this organization.
pub fn find_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<Option<Contact>, AppError> {
    contacts::table
        .find((org_id.to_string(), contact_id.to_string()))
        .select(ContactRow::as_select())
        .first(conn)
        .optional()?
        .map(|row| row.into_domain().map(|c| c.contact))
        .transpose()
}

/// How many contacts the organization has.
pub fn count_contacts(conn: &mut DbConnection, org_id: &OrgId) -> Result<i64, AppError> {
    Ok(contacts::table
        .filter(contacts::org_id.eq(org_id.to_string()))
        .count()
        .get_result(conn)?)
}

/// Stores a new contact and returns its id.
pub fn insert_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact: &NewContact,
) -> Result<ContactId, AppError> {
    let id = ContactId::new();
    let now = Utc::now().naive_utc();
    diesel::insert_into(contacts::table)
        .values((
            contacts::org_id.eq(org_id.to_string()),
            contacts::id.eq(id.to_string()),
            contacts::email.eq(&contact.email),
            contacts::mobile.eq(&contact.mobile),
            contacts::name.eq(&contact.name),
            contacts::time_zone.eq(&contact.time_zone),
            contacts::password_hash.eq(&contact.password_hash),
            contacts::status.eq(contact.status.as_str()),
            contacts::created_at.eq(now),
            contacts::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Replaces a contact's password hash (after an upgrade of the hashing parameters, say).
pub fn set_contact_password_hash(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    hash: &str,
) -> Result<(), AppError> {
    diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
        .set((
            contacts::password_hash.eq(hash),
            contacts::updated_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether a password attempt may be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The attempt is counted and may be checked.
    Admitted,
    /// Attempts still being checked hold the rest of the allowance: ask again once they are
    /// settled (a failure among them may lock, a success frees the allowance).
    Full,
    /// Locked out: refuse the attempt.
    Locked,
}

impl Admission {
    /// What a refused admission means, given the account's lock at `now`.
    pub(super) fn refused(locked_until: Option<NaiveDateTime>, now: NaiveDateTime) -> Self {
        match locked_until {
            Some(until) if until > now => Self::Locked,
            _ => Self::Full,
        }
    }
}

/// Counts a password attempt against a contact before its password is checked, unless the
/// contact is locked or the attempts of its lockout window (failed, or still being checked)
/// have used up the policy's allowance or the hard limit. Counting first is what stops
/// simultaneous guesses, each of which found the contact unlocked before any of them had
/// failed, from all being checked. A success then forgets the count
/// ([`clear_password_failures`]), a failure leaves it counted and locks the contact once it is
/// spent ([`lock_when_spent`]). Each step is a single atomic statement.
pub fn admit_password_attempt(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    policy: &LoginPolicy,
    now: NaiveDateTime,
) -> Result<Admission, AppError> {
    let key = (org_id.to_string(), contact_id.to_string());
    let window_start = now - Duration::seconds(i64::from(policy.lockout_window_secs));
    diesel::update(contacts::table.find(key.clone()))
        .filter(
            contacts::password_window_started_at
                .is_null()
                .or(contacts::password_window_started_at.lt(window_start)),
        )
        .set((
            contacts::password_failures.eq(0),
            contacts::password_window_started_at.eq(now),
        ))
        .execute(conn)?;
    let allowance = i32::try_from(policy.lockout_threshold).unwrap_or(i32::MAX);
    let hard_limit = i32::try_from(HARD_LOCK_FAILURES).unwrap_or(i32::MAX);
    let admitted = diesel::update(contacts::table.find(key.clone()))
        .filter(contacts::password_failures.lt(allowance))
        .filter(contacts::consecutive_password_failures.lt(hard_limit))
        .filter(
            contacts::locked_until
                .is_null()
                .or(contacts::locked_until.le(now)),
        )
        .set((
            contacts::password_failures.eq(contacts::password_failures + 1),
            contacts::consecutive_password_failures.eq(contacts::consecutive_password_failures + 1),
        ))
        .execute(conn)?;
    if admitted > 0 {
        return Ok(Admission::Admitted);
    }
    let locked_until = contacts::table
        .find(key)
        .select(contacts::locked_until)
        .first(conn)?;
    Ok(Admission::refused(locked_until, now))
}

/// Takes back an admitted attempt that is not to count: on the common login page, the
/// password proved another of the identifier's contacts.
pub fn withdraw_password_attempt(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<(), AppError> {
    diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
        .filter(contacts::password_failures.gt(0))
        .filter(contacts::consecutive_password_failures.gt(0))
        .set((
            contacts::password_failures.eq(contacts::password_failures - 1),
            contacts::consecutive_password_failures.eq(contacts::consecutive_password_failures - 1),
        ))
        .execute(conn)?;
    Ok(())
}

/// After a wrong password, locks the contact when its counted attempts reached the policy's
/// threshold or the hard limit. Returns whether this call locked it.
pub fn lock_when_spent(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    policy: &LoginPolicy,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let key = (org_id.to_string(), contact_id.to_string());
    let (failures, consecutive): (i32, i32) = contacts::table
        .find(key.clone())
        .select((
            contacts::password_failures,
            contacts::consecutive_password_failures,
        ))
        .first(conn)?;

    let hard = u32::try_from(consecutive).unwrap_or(0) >= HARD_LOCK_FAILURES;
    let soft = u32::try_from(failures).unwrap_or(0) >= policy.lockout_threshold;
    if !(hard || soft) {
        return Ok(false);
    }
    let until = if hard {
        hard_lock_until()
    } else {
        now + Duration::seconds(i64::from(policy.lockout_secs))
    };
    let locked = diesel::update(contacts::table.find(key))
        .filter(
            contacts::locked_until
                .is_null()
                .or(contacts::locked_until.lt(until)),
        )
        .set((
            contacts::locked_until.eq(until),
            contacts::password_failures.eq(0),
            contacts::password_window_started_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(locked > 0)
}

/// Forgets a contact's password failures after a successful login.
pub fn clear_password_failures(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<(), AppError> {
    diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
        .filter(
            contacts::password_failures
                .gt(0)
                .or(contacts::consecutive_password_failures.gt(0)),
        )
        .set((
            contacts::password_failures.eq(0),
            contacts::consecutive_password_failures.eq(0),
            contacts::password_window_started_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = admins)]
struct AdminRow {
    id: String,
    email: String,
    name: String,
    is_platform: bool,
    password_hash: String,
}

/// An admin to create.
#[derive(Debug, Clone)]
pub struct NewAdmin {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_platform: bool,
}

/// The admin with this email, with its password hash.
pub fn find_admin_by_email(
    conn: &mut DbConnection,
    email: &str,
) -> Result<Option<(Admin, String)>, AppError> {
    let Some(row) = admins::table
        .filter(admins::email.eq(email))
        .select(AdminRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let id: AdminId = Id::from_stored(&row.id)?;
    let org_ids = org_admins::table
        .filter(org_admins::admin_id.eq(&row.id))
        .select(org_admins::org_id)
        .load::<String>(conn)?
        .iter()
        .map(|text| Id::from_stored(text))
        .collect::<Result<Vec<OrgId>, _>>()?;
    let admin = Admin {
        id,
        email: row.email,
        name: row.name,
        is_platform: row.is_platform,
        org_ids,
    };
    Ok(Some((admin, row.password_hash)))
}

/// Stores a new admin and returns its id.
pub fn insert_admin(conn: &mut DbConnection, admin: &NewAdmin) -> Result<AdminId, AppError> {
    let id = AdminId::new();
    let now = Utc::now().naive_utc();
    diesel::insert_into(admins::table)
        .values((
            admins::id.eq(id.to_string()),
            admins::email.eq(&admin.email),
            admins::name.eq(&admin.name),
            admins::password_hash.eq(&admin.password_hash),
            admins::is_platform.eq(admin.is_platform),
            admins::status.eq("active"),
            admins::created_at.eq(now),
            admins::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Replaces an admin's password hash and lifts any lockout.
pub fn set_admin_password_hash(
    conn: &mut DbConnection,
    admin_id: &AdminId,
    hash: &str,
) -> Result<(), AppError> {
    diesel::update(admins::table.find(admin_id.to_string()))
        .set((
            admins::password_hash.eq(hash),
            admins::password_failures.eq(0),
            admins::locked_until.eq(None::<NaiveDateTime>),
            admins::updated_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Lets an admin manage an organization; nothing happens when it already does.
pub fn grant_admin_org(
    conn: &mut DbConnection,
    admin_id: &AdminId,
    org_id: &OrgId,
) -> Result<(), AppError> {
    let exists = org_admins::table
        .find((org_id.to_string(), admin_id.to_string()))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(org_admins::table)
            .values((
                org_admins::org_id.eq(org_id.to_string()),
                org_admins::admin_id.eq(admin_id.to_string()),
            ))
            .execute(conn)?;
    }
    Ok(())
}
