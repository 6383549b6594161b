//! The outbox: emails and SMS waiting to be delivered, and the record of what became of them.
//!
//! Several Portico instances may run the delivery worker at once: a message is claimed with a
//! conditional update that only one of them can win, and the claim is a lease, so a message
//! whose instance died is picked up again once the lease runs out. Bodies are wiped as soon as
//! a message is sent, dropped or given up on.

use chrono::{Duration, NaiveDateTime};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl, prelude::*};

use super::{DbConnection, MultiBackend, schema::outbox};
use crate::{AppError, domain::org::OrgId};

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub org_id: Option<OrgId>,
    /// `email` or `sms`.
    pub channel: &'static str,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// The codes the message carries, as `org_id:code_id`.
    pub code_refs: Vec<String>,
}

/// A claimed message, ready to send.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct Message {
    pub id: String,
    pub org_id: Option<String>,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub code_refs: String,
    pub attempts: i32,
}

/// What an admin (or a test) may see of a delivery: never its body.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = outbox)]
pub struct Delivery {
    pub id: String,
    pub channel: String,
    /// Where it goes, in full: mask it before showing it to anyone.
    pub recipient: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Which deliveries a page of the delivery log shows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// `pending`, `sending`, `sent`, `dropped` or `failed`.
    pub state: Option<String>,
    /// `email` or `sms`.
    pub channel: Option<String>,
    /// Only messages queued at or after this moment.
    pub since: Option<NaiveDateTime>,
    /// Only messages queued at or before this moment: pages of a log that keeps growing stay
    /// the same.
    pub until: Option<NaiveDateTime>,
}

/// Queues a message for the worker; returns its id.
pub fn enqueue(
    conn: &mut DbConnection,
    message: &NewMessage,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(&id),
            outbox::org_id.eq(message.org_id.map(|id| id.to_string())),
            outbox::channel.eq(message.channel),
            outbox::recipient.eq(&message.recipient),
            outbox::subject.eq(&message.subject),
            outbox::body_text.eq(&message.body_text),
            outbox::body_html.eq(&message.body_html),
            outbox::code_refs.eq(message.code_refs.join(",")),
            outbox::state.eq("pending"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(now),
            outbox::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A message due now, and its way out.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct Due {
    pub id: String,
    pub channel: String,
    pub org_id: Option<String>,
}

/// Ways out whose sending slots are all taken, whose messages [`due`] passes over: a backlog
/// on one of them must not hide the messages of the others behind it.
#[derive(Debug, Clone, Default)]
pub struct FullWays {
    /// Email has no free slot.
    pub email: bool,
    /// The organizations whose SMS have no free slot.
    pub sms_of: Vec<String>,
    /// SMS of no organization (sent through the platform's gateway) have no free slot.
    pub sms_of_none: bool,
}

/// Messages due now on ways that are not `full`: first those claimed by an instance whose
/// lease ran out, then pending ones that are due, oldest first.
///
/// These are two walks of the queue index rather than one query with `OR`: PostgreSQL
/// answers the `OR` with a bitmap scan, which never marks the index entries of messages long
/// sent as dead, so every round walked all of them again (2 ms a round after a few thousand
/// messages). A plain index scan marks them and skips them from then on.
pub fn due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
    full: &FullWays,
) -> Result<Vec<Due>, AppError> {
    let mut due: Vec<Due> = open_ways(full)
        .filter(outbox::state.eq("sending"))
        .filter(outbox::claimed_until.lt(now))
        .order(outbox::next_attempt_at.asc())
        .limit(limit)
        .select(Due::as_select())
        .load(conn)?;
    let room = limit - i64::try_from(due.len()).unwrap_or(limit);
    if room > 0 {
        due.extend(
            open_ways(full)
                .filter(outbox::state.eq("pending"))
                .filter(outbox::next_attempt_at.le(now))
                .order(outbox::next_attempt_at.asc())
                .limit(room)
                .select(Due::as_select())
                .load::<Due>(conn)?,
        );
    }
    Ok(due)
}

/// The queue without the messages of `full` ways.
fn open_ways(full: &FullWays) -> outbox::BoxedQuery<'static, MultiBackend> {
    let mut query = outbox::table.into_boxed::<MultiBackend>();
    if full.email {
        query = query.filter(outbox::channel.ne("email"));
    }
    if !full.sms_of.is_empty() {
        query = query.filter(
            outbox::channel
                .ne("sms")
                .or(outbox::org_id.is_null())
                .or(outbox::org_id.ne_all(full.sms_of.clone())),
        );
    }
    if full.sms_of_none {
        query = query.filter(outbox::channel.ne("sms").or(outbox::org_id.is_not_null()));
    }
    query
}

/// Claims the due messages `ids` for `lease_secs`, in one statement: those another worker got
/// first are not among the messages answered, which come in no particular order.
pub fn claim(
    conn: &mut DbConnection,
    ids: &[&str],
    now: NaiveDateTime,
    lease_secs: i64,
) -> Result<Vec<Message>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .filter(
            outbox::state
                .eq("pending")
                .and(outbox::next_attempt_at.le(now))
                .or(outbox::state
                    .eq("sending")
                    .and(outbox::claimed_until.lt(now))),
        )
        .set((
            outbox::state.eq("sending"),
            outbox::claimed_until.eq(now + Duration::seconds(lease_secs)),
            outbox::attempts.eq(outbox::attempts + 1),
        ))
        // The message's columns as such: diesel's `as_returning` does not reach the
        // connection that serves both backends.
        .returning(<Message as Selectable<diesel::pg::Pg>>::construct_selection())
        .get_results(conn)?)
}

/// Ends the messages `ids` in `state` and wipes their bodies, in one statement.
fn finish(
    conn: &mut DbConnection,
    ids: &[&str],
    state: &str,
    error: Option<&str>,
    sent_at: Option<NaiveDateTime>,
) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set((
            outbox::state.eq(state),
            outbox::last_error.eq(error),
            outbox::sent_at.eq(sent_at),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::subject.eq(""),
            outbox::body_text.eq(""),
            outbox::body_html.eq(""),
        ))
        .execute(conn)?;
    Ok(())
}

/// The gateways accepted these messages: record it and wipe their bodies.
pub fn mark_sent(
    conn: &mut DbConnection,
    ids: &[&str],
    now: NaiveDateTime,
) -> Result<(), AppError> {
    finish(conn, ids, "sent", None, Some(now))
}

/// The message can no longer be useful (its code expired): wipe it unsent.
pub fn mark_dropped(conn: &mut DbConnection, id: &str, reason: &str) -> Result<(), AppError> {
    finish(conn, &[id], "dropped", Some(reason), None)
}

/// Every attempt failed: give up and wipe the body.
pub fn mark_failed(conn: &mut DbConnection, id: &str, error: &str) -> Result<(), AppError> {
    finish(conn, &[id], "failed", Some(error), None)
}

/// This attempt failed: try again at `next_attempt_at`.
pub fn retry_at(
    conn: &mut DbConnection,
    id: &str,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> Result<(), AppError> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::state.eq("pending"),
            outbox::next_attempt_at.eq(next_attempt_at),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// The organization's latest deliveries, newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    org_id: &OrgId,
    limit: i64,
) -> Result<Vec<Delivery>, AppError> {
    Ok(outbox::table
        .filter(outbox::org_id.eq(org_id.to_string()))
        .order(outbox::created_at.desc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?)
}

/// One page of the organization's deliveries matching `filter`, newest first, and how many
/// match in all.
pub fn page(
    conn: &mut DbConnection,
    org_id: &OrgId,
    filter: &DeliveryFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Delivery>, i64), AppError> {
    let query = || {
        let mut query = outbox::table
            .filter(outbox::org_id.eq(org_id.to_string()))
            .into_boxed();
        if let Some(state) = &filter.state {
            query = query.filter(outbox::state.eq(state.clone()));
        }
        if let Some(channel) = &filter.channel {
            query = query.filter(outbox::channel.eq(channel.clone()));
        }
        if let Some(since) = filter.since {
            query = query.filter(outbox::created_at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(outbox::created_at.le(until));
        }
        query
    };
    let total = query().count().get_result(conn)?;
    let deliveries = query()
        .order((outbox::created_at.desc(), outbox::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?;
    Ok((deliveries, total))
}

/// How many messages wait to be delivered (pending or being sent).
pub fn pending_count(conn: &mut DbConnection) -> Result<i64, AppError> {
    Ok(outbox::table
        .filter(outbox::state.eq_any(["pending", "sending"]))
        .count()
        .get_result(conn)?)
}
