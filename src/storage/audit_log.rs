//! Reading the audit trail back for the console: an organization's events, newest first,
//! filtered by contact and kind, page by page.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl, prelude::*};

use super::{DbConnection, schema::audit_events};
use crate::{
    AppError,
    domain::{contact::ContactId, org::OrgId},
};

/// One stored event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct StoredEvent {
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub client_ip: String,
}

/// Which events to show.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Events caused by this contact or about it.
    pub contact: Option<ContactId>,
    /// Events of exactly this kind.
    pub kind: Option<String>,
    /// Only events at or after this moment.
    pub since: Option<NaiveDateTime>,
    /// Only events at or before this moment: pages of a log that keeps growing stay the same.
    pub until: Option<NaiveDateTime>,
}

/// One page of the organization's events, newest first, and how many match in all.
pub fn page(
    conn: &mut DbConnection,
    org_id: &OrgId,
    filter: &EventFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<StoredEvent>, i64), AppError> {
    let query = || {
        let mut query = audit_events::table
            .filter(audit_events::org_id.eq(org_id.to_string()))
            .into_boxed();
        if let Some(contact) = &filter.contact {
            query = query.filter(
                audit_events::actor
                    .eq(format!("contact:{contact}"))
                    .or(audit_events::detail.like(format!("%\"contact_id\":\"{contact}\"%"))),
            );
        }
        if let Some(kind) = &filter.kind {
            query = query.filter(audit_events::kind.eq(kind.clone()));
        }
        if let Some(since) = filter.since {
            query = query.filter(audit_events::occurred_at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_events::occurred_at.le(until));
        }
        query
    };
    let total = query().count().get_result(conn)?;
    let events = query()
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(StoredEvent::as_select())
        .load(conn)?;
    Ok((events, total))
}

/// The kinds of event the organization has, for the filter.
pub fn kinds(conn: &mut DbConnection, org_id: &OrgId) -> Result<Vec<String>, AppError> {
    Ok(audit_events::table
        .filter(audit_events::org_id.eq(org_id.to_string()))
        .select(audit_events::kind)
        .distinct()
        .order(audit_events::kind.asc())
        .load(conn)?)
}
