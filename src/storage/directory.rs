//! The contact directory as admins see it: listing and searching an organization's contacts
//! page by page, changing their details, status, lock and password, and counting who lacks
//! which way in. Every function takes the organization first.

use chrono::{NaiveDateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl, prelude::*};

use super::{
    DbConnection,
    accounts::{self, NewContact},
    schema::contacts,
};
use crate::{
    AppError,
    domain::{
        contact::{ContactId, ContactStatus},
        directory::ContactDetails,
        org::OrgId,
        policy_change::ContactReach,
    },
};

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// One contact as the directory lists it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct DirectoryEntry {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub status: String,
    pub password_hash: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
}

impl DirectoryEntry {
    /// Whether the contact has a password.
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// Whether a lockout is in force at `now`.
    pub fn is_locked(&self, now: NaiveDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// `text` as a LIKE pattern matching it anywhere, its wildcards escaped.
fn containing(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of the organization's contacts whose name, email or mobile contains `search`, by
/// name, and how many match in all.
pub fn search(
    conn: &mut DbConnection,
    org_id: &OrgId,
    search: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<DirectoryEntry>, i64), AppError> {
    let pattern = containing(search.trim());
    let matching = || {
        contacts::table
            .filter(contacts::org_id.eq(org_id.to_string()))
            .filter(
                lower(contacts::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(contacts::email.like(pattern.clone()).escape('\\'))
                    .or(contacts::mobile.like(pattern.clone()).escape('\\')),
            )
    };
    let total = matching().count().get_result(conn)?;
    let page = matching()
        .order((contacts::name.asc(), contacts::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(DirectoryEntry::as_select())
        .load(conn)?;
    Ok((page, total))
}

/// One contact of the organization, as the directory shows it.
pub fn entry(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<Option<DirectoryEntry>, AppError> {
    Ok(contacts::table
        .find((org_id.to_string(), contact_id.to_string()))
        .select(DirectoryEntry::as_select())
        .first(conn)
        .optional()?)
}

/// Whether another contact of the organization has this email or mobile.
pub fn identifier_taken(
    conn: &mut DbConnection,
    org_id: &OrgId,
    details: &ContactDetails,
    except: Option<&ContactId>,
) -> Result<Option<&'static str>, AppError> {
    let except = except.map(ToString::to_string).unwrap_or_default();
    let others = || {
        contacts::table
            .filter(contacts::org_id.eq(org_id.to_string()))
            .filter(contacts::id.ne(except.clone()))
    };
    if let Some(email) = &details.email {
        let count: i64 = others()
            .filter(contacts::email.eq(email))
            .count()
            .get_result(conn)?;
        if count > 0 {
            return Ok(Some("email"));
        }
    }
    if let Some(mobile) = &details.mobile {
        let count: i64 = others()
            .filter(contacts::mobile.eq(mobile))
            .count()
            .get_result(conn)?;
        if count > 0 {
            return Ok(Some("mobile"));
        }
    }
    Ok(None)
}

/// Stores a new active contact with no password.
pub fn add(
    conn: &mut DbConnection,
    org_id: &OrgId,
    details: &ContactDetails,
) -> Result<ContactId, AppError> {
    accounts::insert_contact(
        conn,
        org_id,
        &NewContact {
            email: details.email.clone(),
            mobile: details.mobile.clone(),
            name: details.name.clone(),
            time_zone: "UTC".to_owned(),
            password_hash: None,
            status: ContactStatus::Active,
        },
    )
}

/// Replaces a contact's name, email and mobile.
pub fn update_details(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    details: &ContactDetails,
) -> Result<(), AppError> {
    let changed =
        diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
            .set((
                contacts::name.eq(&details.name),
                contacts::email.eq(&details.email),
                contacts::mobile.eq(&details.mobile),
                contacts::updated_at.eq(Utc::now().naive_utc()),
            ))
            .execute(conn)?;
    found(changed)
}

/// Sets a contact's status.
pub fn set_status(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    status: ContactStatus,
) -> Result<(), AppError> {
    let changed =
        diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
            .set((
                contacts::status.eq(status.as_str()),
                contacts::updated_at.eq(Utc::now().naive_utc()),
            ))
            .execute(conn)?;
    found(changed)
}

/// Lifts a contact's lockout, hard or soft, and forgets its failures.
pub fn unlock(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<(), AppError> {
    let changed =
        diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
            .set((
                contacts::locked_until.eq(None::<NaiveDateTime>),
                contacts::password_failures.eq(0),
                contacts::consecutive_password_failures.eq(0),
                contacts::password_window_started_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    found(changed)
}

/// Sets (`Some`) or clears (`None`) a contact's password hash.
pub fn set_password_hash(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    hash: Option<&str>,
) -> Result<(), AppError> {
    let changed =
        diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
            .set((
                contacts::password_hash.eq(hash),
                contacts::updated_at.eq(Utc::now().naive_utc()),
            ))
            .execute(conn)?;
    found(changed)
}

fn found(changed: usize) -> Result<(), AppError> {
    if changed == 0 {
        Err(AppError::NotFound)
    } else {
        Ok(())
    }
}

/// How many active contacts lack an email, a mobile number, a password.
pub fn reach(conn: &mut DbConnection, org_id: &OrgId) -> Result<ContactReach, AppError> {
    let active = || {
        contacts::table
            .filter(contacts::org_id.eq(org_id.to_string()))
            .filter(contacts::status.eq(ContactStatus::Active.as_str()))
    };
    Ok(ContactReach {
        without_email: active()
            .filter(contacts::email.is_null())
            .count()
            .get_result(conn)?,
        without_mobile: active()
            .filter(contacts::mobile.is_null())
            .count()
            .get_result(conn)?,
        without_password: active()
            .filter(contacts::password_hash.is_null())
            .count()
            .get_result(conn)?,
    })
}
