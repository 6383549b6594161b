//! The audit trail's table.

use chrono::Utc;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use super::{DbConnection, schema::audit_events};
use crate::{AppError, domain::audit::AuditEvent, domain::org::OrgId};

/// Appends one event.
pub fn record(conn: &mut DbConnection, event: &AuditEvent) -> Result<(), AppError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(uuid::Uuid::new_v4().to_string()),
            audit_events::org_id.eq(event.org_id.map(|id| id.to_string())),
            audit_events::occurred_at.eq(Utc::now().naive_utc()),
            audit_events::actor.eq(event.actor.to_stored()),
            audit_events::kind.eq(event.kind),
            audit_events::detail.eq(event.detail.to_string()),
            audit_events::client_ip.eq(&event.client_ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// The kinds of an organization's latest events, newest first (for tests and the console).
pub fn recent_kinds(
    conn: &mut DbConnection,
    org_id: &OrgId,
    limit: i64,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(audit_events::table
        .filter(audit_events::org_id.eq(org_id.to_string()))
        .order(audit_events::occurred_at.desc())
        .limit(limit)
        .select((audit_events::kind, audit_events::detail))
        .load(conn)?)
}
