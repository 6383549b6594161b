//! Self-registrations, kept apart from the contacts until they count, and the contact each one
//! becomes.
//!
//! A registration's id is the id its contact takes, so codes bound to the registration stay
//! bound to the same id once the contact exists.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, prelude::*};

use super::{
    DbConnection,
    schema::{contacts, registrations},
};
use crate::{
    AppError,
    domain::{
        contact::{ContactId, ContactStatus},
        ids::Id,
        org::OrgId,
        registration::{Registration, RegistrationState},
    },
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = registrations)]
struct RegistrationRow {
    org_id: String,
    id: String,
    email: String,
    mobile: Option<String>,
    name: String,
    password_hash: Option<String>,
    state: String,
    email_proven: bool,
    mobile_proven: bool,
    created_at: NaiveDateTime,
}

impl RegistrationRow {
    fn into_domain(self) -> Result<Registration, AppError> {
        Ok(Registration {
            org_id: Id::from_stored(&self.org_id)?,
            id: Id::from_stored(&self.id)?,
            email: self.email,
            mobile: self.mobile,
            name: self.name,
            password_hash: self.password_hash,
            state: RegistrationState::parse(&self.state)
                .ok_or_else(|| AppError::internal("unknown registration state"))?,
            email_proven: self.email_proven,
            mobile_proven: self.mobile_proven,
            created_at: self.created_at,
        })
    }
}

/// Stores a new, unproven registration.
pub fn insert(
    conn: &mut DbConnection,
    registration: &Registration,
    client_ip: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(registrations::table)
        .values((
            registrations::org_id.eq(registration.org_id.to_string()),
            registrations::id.eq(registration.id.to_string()),
            registrations::email.eq(&registration.email),
            registrations::mobile.eq(&registration.mobile),
            registrations::name.eq(&registration.name),
            registrations::password_hash.eq(&registration.password_hash),
            registrations::state.eq(registration.state.as_str()),
            registrations::email_proven.eq(registration.email_proven),
            registrations::mobile_proven.eq(registration.mobile_proven),
            registrations::client_ip.eq(client_ip),
            registrations::created_at.eq(now),
            registrations::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// One registration of the organization.
pub fn find(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &ContactId,
) -> Result<Option<Registration>, AppError> {
    registrations::table
        .find((org_id.to_string(), id.to_string()))
        .select(RegistrationRow::as_select())
        .first(conn)
        .optional()?
        .map(RegistrationRow::into_domain)
        .transpose()
}

/// Whether a registration waiting for approval already claims this email or mobile number.
pub fn waiting_with(
    conn: &mut DbConnection,
    org_id: &OrgId,
    email: &str,
    mobile: Option<&str>,
) -> Result<bool, AppError> {
    let waiting: i64 = registrations::table
        .filter(registrations::org_id.eq(org_id.to_string()))
        .filter(registrations::state.eq(RegistrationState::AwaitingApproval.as_str()))
        .filter(
            registrations::email
                .eq(email)
                .or(registrations::mobile.eq(mobile)),
        )
        .count()
        .get_result(conn)?;
    Ok(waiting > 0)
}

/// Forgets the unproven registrations of this email: a new registration replaces them.
pub fn forget_unproven(
    conn: &mut DbConnection,
    org_id: &OrgId,
    email: &str,
) -> Result<usize, AppError> {
    Ok(diesel::delete(
        registrations::table
            .filter(registrations::org_id.eq(org_id.to_string()))
            .filter(registrations::email.eq(email))
            .filter(registrations::state.eq(RegistrationState::Unproven.as_str())),
    )
    .execute(conn)?)
}

/// Forgets, in every organization, the unproven registrations made before `unproven_before`
/// (their codes are dead) and the refused ones decided before `refused_before`; returns how
/// many went. Housekeeping of the whole platform, so it takes no organization.
pub fn sweep(
    conn: &mut DbConnection,
    unproven_before: NaiveDateTime,
    refused_before: NaiveDateTime,
) -> Result<usize, AppError> {
    let unproven = diesel::delete(
        registrations::table
            .filter(registrations::state.eq(RegistrationState::Unproven.as_str()))
            .filter(registrations::created_at.lt(unproven_before)),
    )
    .execute(conn)?;
    let refused = diesel::delete(
        registrations::table
            .filter(registrations::state.eq(RegistrationState::Refused.as_str()))
            .filter(registrations::updated_at.lt(refused_before)),
    )
    .execute(conn)?;
    Ok(unproven + refused)
}

/// Records that the registration's email or mobile number is proven.
pub fn mark_proven(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &ContactId,
    mobile: bool,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let row = registrations::table.find((org_id.to_string(), id.to_string()));
    if mobile {
        diesel::update(row)
            .set((
                registrations::mobile_proven.eq(true),
                registrations::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::update(row)
            .set((
                registrations::email_proven.eq(true),
                registrations::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Moves a registration from state `from` to `to`; false when it was not in `from` (another
/// admin decided first, say).
pub fn set_state(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &ContactId,
    from: RegistrationState,
    to: RegistrationState,
    decided_by: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let changed = diesel::update(registrations::table.find((org_id.to_string(), id.to_string())))
        .filter(registrations::state.eq(from.as_str()))
        .set((
            registrations::state.eq(to.as_str()),
            registrations::decided_by.eq(decided_by),
            registrations::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// The registrations waiting for an admin, oldest first.
pub fn awaiting_approval(
    conn: &mut DbConnection,
    org_id: &OrgId,
) -> Result<Vec<Registration>, AppError> {
    registrations::table
        .filter(registrations::org_id.eq(org_id.to_string()))
        .filter(registrations::state.eq(RegistrationState::AwaitingApproval.as_str()))
        .order(registrations::created_at.asc())
        .limit(500)
        .select(RegistrationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(RegistrationRow::into_domain)
        .collect()
}

/// Makes the contact a registration becomes: active, with the registration's id, details and
/// password.
pub fn create_contact(
    conn: &mut DbConnection,
    registration: &Registration,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::org_id.eq(registration.org_id.to_string()),
            contacts::id.eq(registration.id.to_string()),
            contacts::email.eq(Some(&registration.email)),
            contacts::mobile.eq(&registration.mobile),
            contacts::name.eq(&registration.name),
            contacts::time_zone.eq("UTC"),
            contacts::password_hash.eq(&registration.password_hash),
            contacts::status.eq(ContactStatus::Active.as_str()),
            contacts::created_at.eq(now),
            contacts::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
