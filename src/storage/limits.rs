//! Sliding-window limits counted in the database, so they hold across every Portico instance.
//!
//! Callers count a bucket's events in a window before they record a new one. Two requests
//! racing at the very edge of a limit may both pass; the next one is refused.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl, dsl::max};

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
    diesel::insert_into(limit_events::table)
        .values((
            limit_events::org_id.eq(scope.into().0),
            limit_events::bucket.eq(bucket),
            limit_events::occurred_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// How many events `bucket` holds after `since`.
pub fn count_since(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    bucket: &str,
    since: NaiveDateTime,
) -> Result<i64, AppError> {
    Ok(limit_events::table
        .filter(limit_events::org_id.eq(scope.into().0))
        .filter(limit_events::bucket.eq(bucket))
        .filter(limit_events::occurred_at.gt(since))
        .count()
        .get_result(conn)?)
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
