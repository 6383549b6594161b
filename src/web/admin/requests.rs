//! The request queue of one organization and each request's page, for its admins: the queue
//! filtered by status, service category, priority, assignee (or nobody) and words, page by
//! page; a request's whole thread with its internal notes marked as such; and the forms to
//! assign it, answer the contact, add an internal note and change its status.
//!
//! The changes themselves are the domain's staff operations in
//! [`crate::domain::requests`], which check again that the admin manages the organization and
//! write the audit log; a reply is emailed to the contact from there. Known limit: staff see
//! the names of attachments but cannot download them from the console yet.

use std::{collections::HashMap, sync::Arc};

use poem::{
    Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{Chrome, FieldErrors, Pager, open_org, render, to_login};
use crate::{
    App, AppError,
    domain::{
        admin::AdminId,
        admin_login::AdminSession,
        contact::ContactId,
        org::Organization,
        requests::{self, AuthorKind, CategoryId, Priority, RequestStatus, ServiceCategory},
    },
    storage::{
        DbConnection, admins, directory,
        requests::{self as store, RequestFilter},
    },
    web::{csrf, see_other},
};

const PER_PAGE: u32 = 25;

/// The `assignee` filter value that asks for requests nobody is assigned to.
const UNASSIGNED: &str = "none";

/// Adds the queue and request pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/admin/orgs/:slug/requests", poem::get(queue))
        .at("/admin/orgs/:slug/requests/:number", poem::get(show))
        .at(
            "/admin/orgs/:slug/requests/:number/:action",
            poem::post(act),
        )
}

/// A date and time as the console shows it.
fn when(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A request number from the URL; anything else names no request.
fn parse_number(text: &str) -> Result<i64, AppError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(AppError::NotFound)
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn status_choices(selected: Option<RequestStatus>) -> Vec<Choice> {
    RequestStatus::ALL
        .into_iter()
        .map(|status| Choice {
            value: status.as_str().to_owned(),
            label: status.label().to_owned(),
            selected: Some(status) == selected,
        })
        .collect()
}

fn priority_choices(selected: Option<Priority>) -> Vec<Choice> {
    Priority::ALL
        .into_iter()
        .map(|priority| Choice {
            value: priority.as_str().to_owned(),
            label: priority.label().to_owned(),
            selected: Some(priority) == selected,
        })
        .collect()
}

fn category_choices(categories: &[ServiceCategory], selected: Option<CategoryId>) -> Vec<Choice> {
    categories
        .iter()
        .map(|category| Choice {
            value: category.id.to_string(),
            label: if category.active {
                category.name.clone()
            } else {
                format!("{} (inactive)", category.name)
            },
            selected: Some(category.id) == selected,
        })
        .collect()
}

/// The admins a request may be given to: the organization's own, and whoever it is given to
/// now (a platform admin, say).
fn staff_choices(
    staff: &[admins::StaffMember],
    current: Option<AdminId>,
    names: &HashMap<String, String>,
) -> Vec<Choice> {
    let mut choices: Vec<Choice> = staff
        .iter()
        .map(|member| Choice {
            value: member.id.to_string(),
            label: format!("{} <{}>", member.name, member.email),
            selected: Some(member.id) == current,
        })
        .collect();
    if let Some(current) = current
        && !staff.iter().any(|member| member.id == current)
    {
        let id = current.to_string();
        choices.push(Choice {
            label: names.get(&id).cloned().unwrap_or_else(|| id.clone()),
            value: id,
            selected: true,
        });
    }
    choices
}

/// Each contact's name among `ids`, by id.
fn contact_names(
    conn: &mut DbConnection,
    org: &crate::domain::org::OrgId,
    ids: impl IntoIterator<Item = ContactId>,
) -> Result<HashMap<String, String>, AppError> {
    let mut names = HashMap::new();
    for id in ids {
        let key = id.to_string();
        if names.contains_key(&key) {
            continue;
        }
        if let Some(entry) = directory::entry(conn, org, &id)? {
            names.insert(key, entry.name);
        }
    }
    Ok(names)
}

/// Each admin's email among `ids`, by id.
fn admin_emails(
    conn: &mut DbConnection,
    ids: Vec<String>,
) -> Result<HashMap<String, String>, AppError> {
    Ok(admins::emails(conn, &ids)?.into_iter().collect())
}

#[derive(Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    q: String,
    page: Option<u32>,
}

#[derive(Serialize)]
struct QueueLine {
    number: i64,
    subject: String,
    contact: String,
    category: String,
    priority: &'static str,
    status: &'static str,
    status_class: &'static str,
    assignee: String,
    updated: String,
}

#[derive(Serialize)]
struct QueueView {
    #[serde(flatten)]
    chrome: Chrome,
    statuses: Vec<Choice>,
    categories: Vec<Choice>,
    priorities: Vec<Choice>,
    assignees: Vec<Choice>,
    unassigned: bool,
    status: String,
    category: String,
    priority: String,
    assignee: String,
    q: String,
    total: i64,
    requests: Vec<QueueLine>,
    pager: Pager,
}

#[handler]
async fn queue(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<QueueQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let status = RequestStatus::parse(query.status.trim());
    let category_id = CategoryId::parse(query.category.trim());
    let priority = Priority::parse(query.priority.trim());
    let assignee = match query.assignee.trim() {
        UNASSIGNED => Some(None),
        text => AdminId::parse(text).map(Some),
    };
    let q: String = query
        .q
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let page = query.page.unwrap_or(1).clamp(1, 100_000);
    let filter = RequestFilter {
        contact_id: None,
        status,
        category_id,
        priority,
        assignee,
        text: Some(q.clone()).filter(|t| !t.is_empty()),
    };
    let found = requests::queue(app, &org.id, &session.admin.id, filter, page, PER_PAGE).await?;
    let org_id = org.id;
    let contacts: Vec<ContactId> = found.requests.iter().map(|r| r.contact_id).collect();
    let assigned: Vec<String> = found
        .requests
        .iter()
        .filter_map(|r| r.assignee_id.map(|id| id.to_string()))
        .collect();
    let (categories, staff, contact_names, admin_names) = app
        .db
        .run(move |conn| {
            let categories = store::categories(conn, &org_id)?;
            let staff = admins::of_org(conn, &org_id)?;
            let contacts = contact_names(conn, &org_id, contacts)?;
            let admins = admin_emails(conn, assigned)?;
            Ok((categories, staff, contacts, admins))
        })
        .await?;
    let category_names: HashMap<CategoryId, String> =
        categories.iter().map(|c| (c.id, c.name.clone())).collect();
    let lines = found
        .requests
        .iter()
        .map(|request| QueueLine {
            number: request.number,
            subject: request.subject.clone(),
            contact: contact_names
                .get(&request.contact_id.to_string())
                .cloned()
                .unwrap_or_default(),
            category: category_names
                .get(&request.category_id)
                .cloned()
                .unwrap_or_default(),
            priority: request.priority.label(),
            status: request.status.label(),
            status_class: request.status.as_str(),
            assignee: request
                .assignee_id
                .and_then(|id| admin_names.get(&id.to_string()).cloned())
                .unwrap_or_default(),
            updated: when(request.updated_at),
        })
        .collect();
    let current = assignee.flatten();
    let view = QueueView {
        chrome: Chrome::for_org(app, jar, &session, &org, "requests", "Requests"),
        statuses: status_choices(status),
        categories: category_choices(&categories, category_id),
        priorities: priority_choices(priority),
        assignees: staff_choices(&staff, current, &admin_names),
        unassigned: assignee == Some(None),
        status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        category: category_id.map(|id| id.to_string()).unwrap_or_default(),
        priority: priority.map(|p| p.as_str().to_owned()).unwrap_or_default(),
        assignee: match assignee {
            Some(None) => UNASSIGNED.to_owned(),
            Some(Some(id)) => id.to_string(),
            None => String::new(),
        },
        q,
        total: found.total,
        requests: lines,
        pager: Pager::new(i64::from(page), found.total, i64::from(PER_PAGE)),
    };
    render(app, "admin/requests", &view, StatusCode::OK)
}

#[derive(Serialize)]
struct ThreadLine {
    author: String,
    from_staff: bool,
    internal: bool,
    body: String,
    when: String,
    attachments: Vec<String>,
}

#[derive(Serialize)]
struct RequestView {
    #[serde(flatten)]
    chrome: Chrome,
    number: i64,
    subject: String,
    description: String,
    status: &'static str,
    status_class: &'static str,
    priority: &'static str,
    category: String,
    contact: String,
    created: String,
    assignee: String,
    attachments: Vec<String>,
    replies: Vec<ThreadLine>,
    statuses: Vec<Choice>,
    reply_statuses: Vec<Choice>,
    assignees: Vec<Choice>,
    unassigned: bool,
    reply_body: String,
    note_body: String,
    errors: FieldErrors,
}

/// What an admin typed into one of a request's forms, to show again when it is refused.
#[derive(Default)]
struct Typed {
    reply_body: String,
    note_body: String,
    errors: FieldErrors,
    notice: Option<String>,
}

async fn render_request(
    app: &App,
    jar: &CookieJar,
    (session, org): (&AdminSession, &Organization),
    number: i64,
    typed: Typed,
) -> poem::Result<Response> {
    let found = requests::staff_view(app, &org.id, &session.admin.id, number).await?;
    let request = found.request;
    let org_id = org.id;
    let (category_id, contact_id) = (request.category_id, request.contact_id);
    let mut admin_ids: Vec<String> = found
        .replies
        .iter()
        .filter(|r| r.author_kind == AuthorKind::Staff)
        .filter_map(|r| r.author_id.clone())
        .collect();
    admin_ids.extend(request.assignee_id.map(|id| id.to_string()));
    let (category, contact, staff, admin_names) = app
        .db
        .run(move |conn| {
            let category = store::find_category(conn, &org_id, &category_id)?;
            let contact = directory::entry(conn, &org_id, &contact_id)?;
            let staff = admins::of_org(conn, &org_id)?;
            let admins = admin_emails(conn, admin_ids)?;
            Ok((category, contact, staff, admins))
        })
        .await?;
    let contact_name = contact.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    let contact_line = contact
        .map(|c| {
            let reach = c.email.or(c.mobile).unwrap_or_default();
            format!("{} <{reach}>", c.name)
        })
        .unwrap_or_default();
    let files_of = |reply: Option<requests::ReplyId>| -> Vec<String> {
        found
            .attachments
            .iter()
            .filter(|a| a.reply_id == reply)
            .map(|a| a.file_name.clone())
            .collect()
    };
    let replies = found
        .replies
        .iter()
        .map(|reply| ThreadLine {
            author: match reply.author_kind {
                AuthorKind::Contact => contact_name.clone(),
                AuthorKind::Staff => reply
                    .author_id
                    .as_ref()
                    .and_then(|id| admin_names.get(id).cloned())
                    .unwrap_or_else(|| "staff".to_owned()),
            },
            from_staff: reply.author_kind == AuthorKind::Staff,
            internal: reply.internal,
            body: reply.body.clone(),
            when: when(reply.created_at),
            attachments: files_of(Some(reply.id)),
        })
        .collect();
    let status = if typed.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = RequestView {
        chrome: Chrome::for_org(app, jar, session, org, "requests", &format!("#{number}"))
            .with_notice(typed.notice.as_deref()),
        number,
        subject: request.subject,
        description: request.description,
        status: request.status.label(),
        status_class: request.status.as_str(),
        priority: request.priority.label(),
        category: category
            .map(|c| {
                if c.active {
                    c.name
                } else {
                    format!("{} (inactive)", c.name)
                }
            })
            .unwrap_or_default(),
        contact: contact_line,
        created: when(request.created_at),
        assignee: request
            .assignee_id
            .and_then(|id| admin_names.get(&id.to_string()).cloned())
            .unwrap_or_default(),
        attachments: files_of(None),
        replies,
        statuses: status_choices(Some(request.status)),
        reply_statuses: status_choices(None),
        assignees: staff_choices(&staff, request.assignee_id, &admin_names),
        unassigned: request.assignee_id.is_none(),
        reply_body: typed.reply_body,
        note_body: typed.note_body,
        errors: typed.errors,
    };
    render(app, "admin/request", &view, status)
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[handler]
async fn show(
    Path((slug, number)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let number = parse_number(&number)?;
    let typed = Typed {
        notice: query.notice,
        ..Typed::default()
    };
    render_request(app, jar, (&session, &org), number, typed).await
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
}

/// One of the forms on a request's page: `reply`, `note`, `assign` or `status`.
#[handler]
async fn act(
    Path((slug, number, action)): Path<(String, String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<ActionForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let number = parse_number(&number)?;
    let (org_id, staff) = (org.id, session.admin.id);
    let mut typed = Typed::default();
    let (outcome, notice, error_field) = match action.as_str() {
        "reply" => {
            typed.reply_body = form.body.clone();
            let status = match form.status.trim() {
                "" => Ok(None),
                text => RequestStatus::parse(text)
                    .map(Some)
                    .ok_or_else(|| AppError::invalid("status", "Choose a status.")),
            };
            let outcome = match status {
                Ok(status) => {
                    requests::staff_reply(app, &org_id, &staff, number, form.body, status).await
                }
                Err(error) => Err(error),
            };
            (outcome, "answered", "reply_body")
        }
        "note" => {
            typed.note_body = form.body.clone();
            let outcome =
                requests::add_internal_note(app, &org_id, &staff, number, form.body).await;
            (outcome, "noted", "note_body")
        }
        "assign" => {
            let outcome = match form.assignee.trim() {
                "" | UNASSIGNED => requests::assign(app, &org_id, &staff, number, None).await,
                text => match AdminId::parse(text) {
                    Some(id) => requests::assign(app, &org_id, &staff, number, Some(id)).await,
                    None => Err(AppError::invalid(
                        "assignee",
                        "Assign the request to an admin of this organization.",
                    )),
                },
            };
            (outcome, "assigned", "assignee")
        }
        "status" => {
            let outcome = match RequestStatus::parse(form.status.trim()) {
                Some(status) => requests::change_status(app, &org_id, &staff, number, status).await,
                None => Err(AppError::invalid("status", "Choose a status.")),
            };
            (outcome, "status", "status")
        }
        _ => return Err(AppError::NotFound.into()),
    };
    match outcome {
        Ok(()) => {
            tracing::info!(org.id = %org_id, request.number = number, action, "request changed");
            Ok(see_other(&format!(
                "/admin/orgs/{slug}/requests/{number}?notice={notice}"
            )))
        }
        Err(AppError::Invalid { field, message }) => {
            // A reply's own status choice is shown next to the reply form.
            let key = match (action.as_str(), field) {
                ("reply", Some("status")) => "reply_status",
                _ => error_field,
            };
            typed.errors.insert(key, message);
            render_request(app, jar, (&session, &org), number, typed).await
        }
        Err(other) => Err(other.into()),
    }
}
