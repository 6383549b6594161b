//! Portal content: service categories, solutions, requests and their replies.
//!
//! Every function takes the organization; nothing here reaches across organizations.
//! The portal pages that browse and edit this content come with issue #6; for now the
//! fixtures fill it and the portal home counts a contact's requests.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, dsl::max};

use super::{
    DbConnection,
    schema::{request_replies, requests, service_categories, solutions},
};
use crate::{
    AppError,
    domain::{contact::ContactId, org::OrgId},
};

/// A service category to create.
#[derive(Debug, Clone)]
pub struct NewCategory<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub active: bool,
    pub position: i32,
}

/// A solution to create.
#[derive(Debug, Clone)]
pub struct NewSolution<'a> {
    pub topic: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub published: bool,
}

/// A request to create.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    pub contact_id: &'a ContactId,
    pub category_id: &'a str,
    pub subject: &'a str,
    pub description: &'a str,
    pub priority: &'a str,
    pub status: &'a str,
    pub created_at: NaiveDateTime,
}

/// A reply to store under a request.
#[derive(Debug, Clone)]
pub struct NewReply<'a> {
    pub request_id: &'a str,
    /// `staff` or `contact`.
    pub author_kind: &'a str,
    pub author_id: Option<String>,
    pub body: &'a str,
    pub created_at: NaiveDateTime,
}

/// The id of the organization's category with this name.
pub fn category_id_by_name(
    conn: &mut DbConnection,
    org_id: &OrgId,
    name: &str,
) -> Result<Option<String>, AppError> {
    Ok(service_categories::table
        .filter(service_categories::org_id.eq(org_id.to_string()))
        .filter(service_categories::name.eq(name))
        .select(service_categories::id)
        .first(conn)
        .optional()?)
}

/// Stores a category and returns its id.
pub fn insert_category(
    conn: &mut DbConnection,
    org_id: &OrgId,
    category: &NewCategory<'_>,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(service_categories::table)
        .values((
            service_categories::org_id.eq(org_id.to_string()),
            service_categories::id.eq(&id),
            service_categories::name.eq(category.name),
            service_categories::description.eq(category.description),
            service_categories::active.eq(category.active),
            service_categories::position.eq(category.position),
            service_categories::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Whether the organization has a solution with this title.
pub fn solution_exists(
    conn: &mut DbConnection,
    org_id: &OrgId,
    title: &str,
) -> Result<bool, AppError> {
    let count: i64 = solutions::table
        .filter(solutions::org_id.eq(org_id.to_string()))
        .filter(solutions::title.eq(title))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Stores a solution.
pub fn insert_solution(
    conn: &mut DbConnection,
    org_id: &OrgId,
    solution: &NewSolution<'_>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(solutions::table)
        .values((
            solutions::org_id.eq(org_id.to_string()),
            solutions::id.eq(uuid::Uuid::new_v4().to_string()),
            solutions::topic.eq(solution.topic),
            solutions::title.eq(solution.title),
            solutions::body.eq(solution.body),
            solutions::status.eq(if solution.published {
                "published"
            } else {
                "draft"
            }),
            solutions::created_at.eq(now),
            solutions::updated_at.eq(now),
        ))
        .execute(conn)?;
    super::orgs::note_change();
    Ok(())
}

/// The organization's `limit` most recently changed published solutions as (id, topic,
/// title), newest first: what a portal's home page shows before "Browse solutions".
pub fn latest_published_solutions(
    conn: &mut DbConnection,
    org_id: &OrgId,
    limit: i64,
) -> Result<Vec<(String, String, String)>, AppError> {
    Ok(solutions::table
        .filter(solutions::org_id.eq(org_id.to_string()))
        .filter(solutions::status.eq("published"))
        .order((solutions::updated_at.desc(), solutions::title.asc()))
        .limit(limit)
        .select((solutions::id, solutions::topic, solutions::title))
        .load(conn)?)
}

/// Whether the contact already has a request with this subject.
pub fn request_exists(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    subject: &str,
) -> Result<bool, AppError> {
    let count: i64 = requests::table
        .filter(requests::org_id.eq(org_id.to_string()))
        .filter(requests::contact_id.eq(contact_id.to_string()))
        .filter(requests::subject.eq(subject))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Stores a request under the organization's next request number; returns its id.
/// Run it inside a transaction so that two requests never share a number.
pub fn insert_request(
    conn: &mut DbConnection,
    org_id: &OrgId,
    request: &NewRequest<'_>,
) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    let last: Option<i64> = requests::table
        .filter(requests::org_id.eq(org_id.to_string()))
        .select(max(requests::number))
        .first(conn)?;
    diesel::insert_into(requests::table)
        .values((
            requests::org_id.eq(org_id.to_string()),
            requests::id.eq(&id),
            requests::number.eq(last.unwrap_or(1000) + 1),
            requests::contact_id.eq(request.contact_id.to_string()),
            requests::category_id.eq(request.category_id),
            requests::subject.eq(request.subject),
            requests::description.eq(request.description),
            requests::priority.eq(request.priority),
            requests::status.eq(request.status),
            requests::created_at.eq(request.created_at),
            requests::updated_at.eq(request.created_at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Stores a reply under a request of the organization.
pub fn insert_reply(
    conn: &mut DbConnection,
    org_id: &OrgId,
    reply: &NewReply<'_>,
) -> Result<(), AppError> {
    diesel::insert_into(request_replies::table)
        .values((
            request_replies::org_id.eq(org_id.to_string()),
            request_replies::id.eq(uuid::Uuid::new_v4().to_string()),
            request_replies::request_id.eq(reply.request_id),
            request_replies::author_kind.eq(reply.author_kind),
            request_replies::author_id.eq(&reply.author_id),
            request_replies::body.eq(reply.body),
            request_replies::internal.eq(false),
            request_replies::created_at.eq(reply.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The contact's requests as (number, subject, status), newest first.
pub fn requests_of_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, AppError> {
    Ok(requests::table
        .filter(requests::org_id.eq(org_id.to_string()))
        .filter(requests::contact_id.eq(contact_id.to_string()))
        .order(requests::created_at.desc())
        .limit(limit)
        .select((requests::number, requests::subject, requests::status))
        .load(conn)?)
}
