//! Pending changes of a contact's email or mobile number, each waiting for the code that
//! proves the new address, and the change itself once proven.

use chrono::{NaiveDateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl};

use super::{
    DbConnection,
    schema::{contact_changes, contacts},
};
use crate::{
    AppError,
    domain::{contact::ContactId, org::OrgId, otp::AttemptId},
};

/// Stores the new address a code attempt must prove.
pub fn insert(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &AttemptId,
    contact_id: &ContactId,
    field: &str,
    new_value: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(contact_changes::table)
        .values((
            contact_changes::org_id.eq(org_id.to_string()),
            contact_changes::attempt_id.eq(attempt_id.to_string()),
            contact_changes::contact_id.eq(contact_id.to_string()),
            contact_changes::field.eq(field),
            contact_changes::new_value.eq(new_value),
            contact_changes::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The field and new value of the contact's change bound to this attempt.
pub fn find(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &AttemptId,
    contact_id: &ContactId,
) -> Result<Option<(String, String)>, AppError> {
    Ok(contact_changes::table
        .find((org_id.to_string(), attempt_id.to_string()))
        .filter(contact_changes::contact_id.eq(contact_id.to_string()))
        .select((contact_changes::field, contact_changes::new_value))
        .first(conn)
        .optional()?)
}

/// Forgets every pending change of the contact.
pub fn forget(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<(), AppError> {
    diesel::delete(
        contact_changes::table
            .filter(contact_changes::org_id.eq(org_id.to_string()))
            .filter(contact_changes::contact_id.eq(contact_id.to_string())),
    )
    .execute(conn)?;
    Ok(())
}

/// Sets the contact's email (`field` is `email`) or mobile number.
pub fn apply(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    field: &str,
    value: &str,
) -> Result<(), AppError> {
    let row = contacts::table.find((org_id.to_string(), contact_id.to_string()));
    let now = Utc::now().naive_utc();
    if field == "email" {
        diesel::update(row)
            .set((contacts::email.eq(value), contacts::updated_at.eq(now)))
            .execute(conn)?;
    } else {
        diesel::update(row)
            .set((contacts::mobile.eq(value), contacts::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}
