//! API keys as stored: their scope, name and the hash of their secret, never the secret.
//! Keys are looked up by their id, which the key itself carries; listing and revoking take
//! the scope (an organization, or the platform) so one organization's keys stay its own.

use chrono::{Duration, NaiveDateTime};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, prelude::*};

use super::{DbConnection, schema::api_keys};
use crate::{
    AppError,
    domain::{
        api_keys::{ApiKey, ApiKeyId},
        ids::Id,
        org::OrgId,
    },
};

/// How stale `last_used_at` may get before a use refreshes it; saves a write per call.
const TOUCH_AFTER_SECS: i64 = 60;

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct KeyRow {
    id: String,
    org_id: Option<String>,
    name: String,
    secret_hash: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

impl KeyRow {
    fn into_domain(self) -> Result<(ApiKey, String), AppError> {
        let org_id = self.org_id.as_deref().map(Id::from_stored).transpose()?;
        let key = ApiKey {
            id: Id::from_stored(&self.id)?,
            org_id,
            name: self.name,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        };
        Ok((key, self.secret_hash))
    }
}

/// A key to store.
pub struct NewKey<'a> {
    pub id: &'a ApiKeyId,
    pub org_id: Option<&'a OrgId>,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub created_by: &'a str,
    pub now: NaiveDateTime,
}

/// Stores a new key.
pub fn insert(conn: &mut DbConnection, key: &NewKey<'_>) -> Result<(), AppError> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(key.id.to_string()),
            api_keys::org_id.eq(key.org_id.map(ToString::to_string)),
            api_keys::name.eq(key.name),
            api_keys::secret_hash.eq(key.secret_hash),
            api_keys::created_by.eq(key.created_by),
            api_keys::created_at.eq(key.now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The key with this id and the hash of its secret, revoked or not; refreshes its last use.
pub fn find_for_use(
    conn: &mut DbConnection,
    id: &ApiKeyId,
    now: NaiveDateTime,
) -> Result<Option<(ApiKey, String)>, AppError> {
    let Some(row) = api_keys::table
        .find(id.to_string())
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let stale = row
        .last_used_at
        .is_none_or(|at| at < now - Duration::seconds(TOUCH_AFTER_SECS));
    if stale && row.revoked_at.is_none() {
        diesel::update(api_keys::table.find(&row.id))
            .set(api_keys::last_used_at.eq(now))
            .execute(conn)?;
    }
    row.into_domain().map(Some)
}

/// The keys of one organization (`Some`) or of the platform (`None`), newest first.
pub fn list(conn: &mut DbConnection, org_id: Option<&OrgId>) -> Result<Vec<ApiKey>, AppError> {
    let query = api_keys::table.into_boxed::<super::MultiBackend>();
    let query = match org_id {
        Some(org_id) => query.filter(api_keys::org_id.eq(org_id.to_string())),
        None => query.filter(api_keys::org_id.is_null()),
    };
    query
        .order((api_keys::created_at.desc(), api_keys::id.asc()))
        .select(KeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_domain().map(|(key, _)| key))
        .collect()
}

/// Revokes one key of the organization; returns whether a live key was revoked.
pub fn revoke(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &ApiKeyId,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let revoked = diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(id.to_string()))
            .filter(api_keys::org_id.eq(org_id.to_string()))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)?;
    Ok(revoked > 0)
}
