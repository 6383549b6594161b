//! Contact sessions, stored by the hash of their token. A lookup finds the session by the hash
//! alone, through its unique index, and answers only when the session belongs to the
//! organization asked about: a token of one organization opens nothing in another.

use chrono::{Duration, NaiveDateTime};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, prelude::*};

use super::{
    DbConnection,
    accounts::ContactRow,
    schema::{contact_sessions, contacts},
};
use crate::{
    AppError,
    domain::{
        contact::{Contact, ContactId, ContactStatus},
        ids::Id,
        org::OrgId,
        session::{ClientInfo, ContactSession, SessionId},
    },
};

/// How stale `last_seen_at` may get before a request refreshes it; saves a write per page.
const TOUCH_AFTER_SECS: i64 = 60;

#[derive(Queryable, Selectable)]
#[diesel(table_name = contact_sessions)]
struct SessionRow {
    org_id: String,
    id: String,
    contact_id: String,
    auth_method: String,
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    client_ip: String,
    user_agent: String,
}

impl SessionRow {
    fn into_domain(self) -> Result<ContactSession, AppError> {
        Ok(ContactSession {
            org_id: Id::from_stored(&self.org_id)?,
            id: Id::from_stored(&self.id)?,
            contact_id: Id::from_stored(&self.contact_id)?,
            auth_method: self.auth_method,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
            client_ip: self.client_ip,
            user_agent: self.user_agent,
        })
    }
}

/// A session to open.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub org_id: &'a OrgId,
    pub contact_id: &'a ContactId,
    pub token_hash: &'a str,
    pub auth_method: &'a str,
    pub now: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub client: &'a ClientInfo,
}

/// Stores a new session and returns its id.
pub fn insert(conn: &mut DbConnection, session: &NewSession<'_>) -> Result<SessionId, AppError> {
    let id = SessionId::new();
    diesel::insert_into(contact_sessions::table)
        .values((
            contact_sessions::org_id.eq(session.org_id.to_string()),
            contact_sessions::id.eq(id.to_string()),
            contact_sessions::contact_id.eq(session.contact_id.to_string()),
            contact_sessions::token_hash.eq(session.token_hash),
            contact_sessions::auth_method.eq(session.auth_method),
            contact_sessions::created_at.eq(session.now),
            contact_sessions::last_seen_at.eq(session.now),
            contact_sessions::expires_at.eq(session.expires_at),
            contact_sessions::client_ip.eq(&session.client.ip),
            contact_sessions::user_agent.eq(&session.client.user_agent),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A session found in use whose recorded last use is stale: [`touch`] refreshes it, in a write
/// of its own, so that finding a session only ever reads.
#[derive(Debug, Clone)]
pub struct StaleUse {
    org_id: String,
    session_id: String,
}

impl StaleUse {
    /// The session's use to record, when its last recorded use is older than a minute.
    fn of(
        org_id: &str,
        session_id: &str,
        last_seen_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Option<Self> {
        (last_seen_at < now - Duration::seconds(TOUCH_AFTER_SECS)).then(|| Self {
            org_id: org_id.to_owned(),
            session_id: session_id.to_owned(),
        })
    }
}

/// Records that the session was used at `now`.
fn touch(conn: &mut DbConnection, stale: &StaleUse, now: NaiveDateTime) -> Result<(), AppError> {
    diesel::update(contact_sessions::table.find((&stale.org_id, &stale.session_id)))
        .set(contact_sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Records the session's use later through `db`, when its last recorded use was stale: a
/// deferred write, so that a page finding the session waits for nothing.
pub fn touch_later(db: &super::Db, stale: Option<StaleUse>, now: NaiveDateTime) {
    if let Some(stale) = stale {
        db.write_later(move |conn| touch(conn, &stale, now));
    }
}

/// The live session of this organization with this token hash: not past its absolute expiry
/// and used within `idle_secs`; with its use to record, when its last recorded use is stale.
pub fn find_live(
    conn: &mut DbConnection,
    org_id: &OrgId,
    token_hash: &str,
    idle_secs: u32,
    now: NaiveDateTime,
) -> Result<Option<(ContactSession, Option<StaleUse>)>, AppError> {
    let idle_cutoff = now - Duration::seconds(i64::from(idle_secs));
    let found = contact_sessions::table
        .filter(contact_sessions::token_hash.eq(token_hash))
        .filter(contact_sessions::expires_at.gt(now))
        .filter(contact_sessions::last_seen_at.gt(idle_cutoff))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?;
    let org = org_id.to_string();
    let Some(row) = found.filter(|row| row.org_id == org) else {
        return Ok(None);
    };
    let stale = StaleUse::of(&row.org_id, &row.id, row.last_seen_at, now);
    Ok(Some((row.into_domain()?, stale)))
}

/// The active contact of this organization's live session with this token hash, found in one
/// statement; the same rules as [`find_live`], and the same use to record.
pub fn find_live_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    token_hash: &str,
    idle_secs: u32,
    now: NaiveDateTime,
) -> Result<Option<(Contact, Option<StaleUse>)>, AppError> {
    let idle_cutoff = now - Duration::seconds(i64::from(idle_secs));
    let found: Option<(String, String, NaiveDateTime, ContactRow)> = contact_sessions::table
        .inner_join(
            contacts::table.on(contacts::org_id
                .eq(contact_sessions::org_id)
                .and(contacts::id.eq(contact_sessions::contact_id))),
        )
        .filter(contact_sessions::token_hash.eq(token_hash))
        .filter(contact_sessions::expires_at.gt(now))
        .filter(contact_sessions::last_seen_at.gt(idle_cutoff))
        .filter(contacts::status.eq(ContactStatus::Active.as_str()))
        .select((
            contact_sessions::org_id,
            contact_sessions::id,
            contact_sessions::last_seen_at,
            ContactRow::as_select(),
        ))
        .first(conn)
        .optional()?;
    let org = org_id.to_string();
    let Some((_, session_id, last_seen_at, contact)) =
        found.filter(|(session_org, ..)| *session_org == org)
    else {
        return Ok(None);
    };
    let stale = StaleUse::of(&org, &session_id, last_seen_at, now);
    Ok(Some((contact.into_domain()?.contact, stale)))
}

/// Ends the session with this token hash in this organization; returns whether one ended.
pub fn delete_by_token(
    conn: &mut DbConnection,
    org_id: &OrgId,
    token_hash: &str,
) -> Result<bool, AppError> {
    let deleted = diesel::delete(
        contact_sessions::table
            .filter(contact_sessions::org_id.eq(org_id.to_string()))
            .filter(contact_sessions::token_hash.eq(token_hash)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

/// Ends every session of a contact; returns how many ended.
pub fn delete_for_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<usize, AppError> {
    Ok(diesel::delete(
        contact_sessions::table
            .filter(contact_sessions::org_id.eq(org_id.to_string()))
            .filter(contact_sessions::contact_id.eq(contact_id.to_string())),
    )
    .execute(conn)?)
}

/// How many sessions a contact has open (live or not yet swept).
pub fn count_for_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
) -> Result<i64, AppError> {
    Ok(contact_sessions::table
        .filter(contact_sessions::org_id.eq(org_id.to_string()))
        .filter(contact_sessions::contact_id.eq(contact_id.to_string()))
        .count()
        .get_result(conn)?)
}
