//! What a contact changes about themselves: name, time zone, password, and their sessions.

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use super::{
    DbConnection,
    schema::{contact_sessions, contacts},
};
use crate::{
    AppError,
    domain::{
        contact::ContactId,
        ids::Id,
        org::OrgId,
        session::{ContactSession, SessionId},
    },
};

/// Changes a contact's name and time zone.
pub fn update_details(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    name: &str,
    time_zone: &str,
) -> Result<(), AppError> {
    diesel::update(contacts::table.find((org_id.to_string(), contact_id.to_string())))
        .set((
            contacts::name.eq(name),
            contacts::time_zone.eq(time_zone),
            contacts::updated_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A contact's password hash, if they have a password.
pub fn password_hash(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<Option<String>, AppError> {
    Ok(contacts::table
        .find((org_id.to_string(), contact_id.to_string()))
        .select(contacts::password_hash)
        .first(conn)?)
}

/// The contact's live sessions (not expired, used within `idle_secs`), most recently used
/// first, each with whether it has the token hash `current`.
pub fn live_sessions(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    idle_secs: u32,
    current: &str,
    now: NaiveDateTime,
) -> Result<Vec<(ContactSession, bool)>, AppError> {
    let idle_cutoff = now - Duration::seconds(i64::from(idle_secs));
    let rows: Vec<SessionTuple> = contact_sessions::table
        .filter(contact_sessions::org_id.eq(org_id.to_string()))
        .filter(contact_sessions::contact_id.eq(contact_id.to_string()))
        .filter(contact_sessions::expires_at.gt(now))
        .filter(contact_sessions::last_seen_at.gt(idle_cutoff))
        .order(contact_sessions::last_seen_at.desc())
        .select((
            contact_sessions::id,
            contact_sessions::token_hash,
            contact_sessions::auth_method,
            contact_sessions::created_at,
            contact_sessions::last_seen_at,
            contact_sessions::expires_at,
            contact_sessions::client_ip,
            contact_sessions::user_agent,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(id, token_hash, auth_method, created_at, last_seen_at, expires_at, ip, agent)| {
                let session = ContactSession {
                    org_id: *org_id,
                    id: Id::from_stored(&id)?,
                    contact_id: *contact_id,
                    auth_method,
                    created_at,
                    last_seen_at,
                    expires_at,
                    client_ip: ip,
                    user_agent: agent,
                };
                Ok((session, token_hash == current))
            },
        )
        .collect()
}

type SessionTuple = (
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    NaiveDateTime,
    String,
    String,
);

/// Ends one of the contact's sessions; returns whether it was theirs.
pub fn end_session(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    session_id: &SessionId,
) -> Result<bool, AppError> {
    let ended = diesel::delete(
        contact_sessions::table
            .filter(contact_sessions::org_id.eq(org_id.to_string()))
            .filter(contact_sessions::contact_id.eq(contact_id.to_string()))
            .filter(contact_sessions::id.eq(session_id.to_string())),
    )
    .execute(conn)?;
    Ok(ended > 0)
}

/// Ends every session of the contact except the one with the token hash `keep`; returns how
/// many ended.
pub fn end_other_sessions(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    keep: &str,
) -> Result<usize, AppError> {
    Ok(diesel::delete(
        contact_sessions::table
            .filter(contact_sessions::org_id.eq(org_id.to_string()))
            .filter(contact_sessions::contact_id.eq(contact_id.to_string()))
            .filter(contact_sessions::token_hash.ne(keep)),
    )
    .execute(conn)?)
}
