//! Sliding-window limits counted in the database, so they hold across every Portico instance.
//!
//! Callers count a bucket's events in a window before they record a new one. Two requests
//! racing at the very edge of a limit may both pass; the next one is refused.
//!
//! Each event carries its place in its bucket (`seq`: 1, 2, 3, ...), so a count is the
//! latest event's place less the place of the first event in the window, plus one: two
//! lookups in the index, however busy the bucket (an organization's or a client address's
//! code requests can run to thousands an hour). Recording reads the latest place and writes
//! the next: two recordings in one bucket at the same moment on different connections (two
//! instances on PostgreSQL, say) may take the same place, and the count then falls short by
//! one for each such pair, like the race at the limit's edge above.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, dsl::max};

use super::{DbConnection, schema::limit_events};
use crate::{AppError, domain::org::OrgId};

/// Whose limit a bucket counts toward: one organization's, or the common login page's.
#[derive(Debug, Clone)]
pub struct Scope(String);

impl Scope {
    /// The limits of the common login page, which belong to no organization.
    pub fn platform() -> Self {
        Self("platform".to_owned())
    }
}

impl From<&OrgId> for Scope {
    fn from(org_id: &OrgId) -> Self {
        Self(org_id.to_string())
    }
}

/// Records one event in `bucket`.
pub fn record(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    bucket: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let Scope(scope) = scope.into();
    let place = latest_place(conn, &scope, bucket)?.unwrap_or(0) + 1;
    diesel::insert_into(limit_events::table)
        .values((
            limit_events::org_id.eq(&scope),
            limit_events::bucket.eq(bucket),
            limit_events::occurred_at.eq(now),
            limit_events::seq.eq(place),
        ))
        .execute(conn)?;
    Ok(())
}

/// The place of the bucket's latest event, if it has any.
fn latest_place(
    conn: &mut DbConnection,
    scope: &str,
    bucket: &str,
) -> Result<Option<i64>, AppError> {
    Ok(limit_events::table
        .filter(limit_events::org_id.eq(scope))
        .filter(limit_events::bucket.eq(bucket))
        .order(limit_events::occurred_at.desc())
        .select(limit_events::seq)
        .first(conn)
        .optional()?)
}

/// How many events `bucket` holds after `since`.
pub fn count_since(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    bucket: &str,
    since: NaiveDateTime,
) -> Result<i64, AppError> {
    let Scope(scope) = scope.into();
    let first: Option<i64> = limit_events::table
        .filter(limit_events::org_id.eq(&scope))
        .filter(limit_events::bucket.eq(bucket))
        .filter(limit_events::occurred_at.gt(since))
        .order(limit_events::occurred_at.asc())
        .select(limit_events::seq)
        .first(conn)
        .optional()?;
    let Some(first) = first else {
        return Ok(0);
    };
    let latest = latest_place(conn, &scope, bucket)?.unwrap_or(first);
    Ok((latest - first + 1).max(1))
}

/// When the latest event of `bucket` happened.
pub fn latest(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    bucket: &str,
) -> Result<Option<NaiveDateTime>, AppError> {
    Ok(limit_events::table
        .filter(limit_events::org_id.eq(scope.into().0))
        .filter(limit_events::bucket.eq(bucket))
        .select(max(limit_events::occurred_at))
        .first(conn)?)
}

/// Forgets events older than `before`.
pub fn sweep(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, AppError> {
    Ok(
        diesel::delete(limit_events::table.filter(limit_events::occurred_at.lt(before)))
            .execute(conn)?,
    )
}
