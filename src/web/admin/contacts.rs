//! Contacts: the list with search and paging, adding and editing a contact, disabling,
//! enabling and unlocking one, ending its sessions, setting or clearing its password, sending
//! it an invitation to set a password itself, and
//! importing contacts from CSV (all or nothing, with a report of every row).
//!
//! The changes themselves are [`crate::domain::directory`]'s, which the admin API calls too;
//! this page checks the typed details first only to show every refusal next to its field.

use std::sync::Arc;

use chrono::Utc;
use poem::{
    Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Multipart, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Chrome, FieldErrors, Pager, admin_event, admin_origin, open_org, orgs::read_upload, paging,
    render, to_login,
};
use crate::{
    App, AppError,
    domain::{
        admin_login::AdminSession,
        contact::{ContactId, ContactStatus},
        directory::{self as rules, ContactAction, ContactDetails, ImportRow},
        org::Organization,
        password_reset,
    },
    secret::SecretString,
    storage::{audit, directory, directory::DirectoryEntry, orgs as org_store, sessions},
    web::{csrf, see_other},
};

const PER_PAGE: i64 = 25;

/// Adds the contact pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/admin/orgs/:slug/contacts", poem::get(list))
        .at(
            "/admin/orgs/:slug/contacts/new",
            poem::get(new_page).post(add),
        )
        .at(
            "/admin/orgs/:slug/contacts/import",
            poem::get(import_page).post(import),
        )
        .at("/admin/orgs/:slug/contacts/:id", poem::get(show).post(edit))
        .at("/admin/orgs/:slug/contacts/:id/:action", poem::post(act))
}

#[derive(Serialize)]
struct ContactLine {
    id: String,
    name: String,
    email: String,
    mobile: String,
    status: String,
    has_password: bool,
    locked: bool,
}

impl ContactLine {
    fn from_entry(entry: DirectoryEntry) -> Self {
        let locked = entry.is_locked(Utc::now().naive_utc());
        Self {
            has_password: entry.has_password(),
            locked,
            id: entry.id,
            name: entry.name,
            email: entry.email.unwrap_or_default(),
            mobile: entry.mobile.unwrap_or_default(),
            status: entry.status,
        }
    }
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    chrome: Chrome,
    q: String,
    total: i64,
    contacts: Vec<ContactLine>,
    pager: Pager,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<u32>,
}

#[handler]
async fn list(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<ListQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let q: String = query.q.trim().chars().take(100).collect();
    let (page, offset) = paging(query.page, PER_PAGE);
    let (org_id, search) = (org.id, q.clone());
    let (entries, total) = app
        .db
        .run(move |conn| directory::search(conn, &org_id, &search, offset, PER_PAGE))
        .await?;
    let view = ListView {
        chrome: Chrome::for_org(app, jar, &session, &org, "contacts", "Contacts"),
        q,
        total,
        contacts: entries.into_iter().map(ContactLine::from_entry).collect(),
        pager: Pager::new(page, total, PER_PAGE),
    };
    render(app, "admin/contacts", &view, StatusCode::OK)
}

#[derive(Serialize)]
struct ContactView {
    #[serde(flatten)]
    chrome: Chrome,
    is_new: bool,
    contact: ContactLine,
    sessions: i64,
    errors: FieldErrors,
    password_min_length: u32,
}

#[derive(Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    mobile: String,
}

fn blank_line() -> ContactLine {
    ContactLine {
        id: String::new(),
        name: String::new(),
        email: String::new(),
        mobile: String::new(),
        status: ContactStatus::Active.as_str().to_owned(),
        has_password: false,
        locked: false,
    }
}

struct ContactPage<'a> {
    session: &'a AdminSession,
    org: &'a Organization,
    contact: ContactLine,
    errors: FieldErrors,
    notice: Option<&'a str>,
    status: StatusCode,
}

async fn render_contact(
    app: &App,
    jar: &CookieJar,
    page: ContactPage<'_>,
) -> poem::Result<Response> {
    let is_new = page.contact.id.is_empty();
    let org_id = page.org.id;
    let contact_id = ContactId::parse(&page.contact.id);
    let (sessions, policy) = app
        .db
        .run(move |conn| {
            let count = match contact_id {
                Some(id) => sessions::count_for_contact(conn, &org_id, &id)?,
                None => 0,
            };
            Ok((count, org_store::policy(conn, &org_id)?))
        })
        .await?;
    let title = if is_new { "New contact" } else { "Contact" };
    let view = ContactView {
        chrome: Chrome::for_org(app, jar, page.session, page.org, "contacts", title)
            .with_notice(page.notice),
        is_new,
        contact: page.contact,
        sessions,
        errors: page.errors,
        password_min_length: policy.password_min_length,
    };
    render(app, "admin/contact", &view, page.status)
}

#[handler]
async fn new_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let page = ContactPage {
        session: &session,
        org: &org,
        contact: blank_line(),
        errors: FieldErrors::new(),
        notice: None,
        status: StatusCode::OK,
    };
    render_contact(app, jar, page).await
}

/// The typed details as a line to show again, when they are refused.
fn typed_line(form: &DetailsForm, base: ContactLine) -> ContactLine {
    ContactLine {
        name: form.name.clone(),
        email: form.email.clone(),
        mobile: form.mobile.clone(),
        ..base
    }
}

/// Checks typed details and that no other contact has the same email or mobile.
async fn check_details(
    app: &App,
    org: &Organization,
    form: &DetailsForm,
    except: Option<ContactId>,
) -> Result<Result<ContactDetails, FieldErrors>, AppError> {
    let details = match rules::check_details(
        &form.name,
        &form.email,
        &form.mobile,
        &app.config.phone_region,
    ) {
        Ok(details) => details,
        Err(errors) => return Ok(Err(errors.into_iter().collect())),
    };
    let (org_id, lookup) = (org.id, details.clone());
    let taken = app
        .db
        .run(move |conn| directory::identifier_taken(conn, &org_id, &lookup, except.as_ref()))
        .await?;
    Ok(match taken {
        Some(field) => {
            let mut errors = FieldErrors::new();
            errors.insert(field, rules::taken_message(field));
            Err(errors)
        }
        None => Ok(details),
    })
}

#[handler]
async fn add(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<DetailsForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let details = match check_details(app, &org, &form, None).await? {
        Ok(details) => details,
        Err(errors) => {
            let page = ContactPage {
                session: &session,
                org: &org,
                contact: typed_line(&form, blank_line()),
                errors,
                notice: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            return render_contact(app, jar, page).await;
        }
    };
    let id = match rules::add(app, org.id, details, &admin_origin(&session, req)).await {
        Ok(id) => id,
        Err(AppError::Conflict(message)) => {
            let page = ContactPage {
                session: &session,
                org: &org,
                contact: typed_line(&form, blank_line()),
                errors: taken_error(message),
                notice: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            return render_contact(app, jar, page).await;
        }
        Err(other) => return Err(other.into()),
    };
    Ok(see_other(&format!(
        "/admin/orgs/{slug}/contacts/{id}?notice=added"
    )))
}

async fn find_entry(app: &App, org: &Organization, id: &str) -> Result<DirectoryEntry, AppError> {
    let contact_id = ContactId::parse(id).ok_or(AppError::NotFound)?;
    let org_id = org.id;
    app.db
        .run(move |conn| directory::entry(conn, &org_id, &contact_id))
        .await?
        .ok_or(AppError::NotFound)
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[handler]
async fn show(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let entry = find_entry(app, &org, &id).await?;
    let page = ContactPage {
        session: &session,
        org: &org,
        contact: ContactLine::from_entry(entry),
        errors: FieldErrors::new(),
        notice: query.notice.as_deref(),
        status: StatusCode::OK,
    };
    render_contact(app, jar, page).await
}

#[handler]
async fn edit(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<DetailsForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let entry = find_entry(app, &org, &id).await?;
    let contact_id = ContactId::parse(&entry.id).ok_or(AppError::NotFound)?;
    let details = match check_details(app, &org, &form, Some(contact_id)).await? {
        Ok(details) => details,
        Err(errors) => {
            let page = ContactPage {
                session: &session,
                org: &org,
                contact: typed_line(&form, ContactLine::from_entry(entry)),
                errors,
                notice: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            return render_contact(app, jar, page).await;
        }
    };
    let origin = admin_origin(&session, req);
    match rules::change_details(app, org.id, contact_id, details, &origin).await {
        Ok(_) => {}
        Err(AppError::Conflict(message)) => {
            let page = ContactPage {
                session: &session,
                org: &org,
                contact: typed_line(&form, ContactLine::from_entry(entry)),
                errors: taken_error(message),
                notice: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            return render_contact(app, jar, page).await;
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!(
        "/admin/orgs/{slug}/contacts/{id}?notice=saved"
    )))
}

/// The field error for an email or mobile number another contact has.
fn taken_error(message: String) -> FieldErrors {
    let field = if message.contains("mobile") && !message.contains("email") {
        "mobile"
    } else {
        "email"
    };
    let mut errors = FieldErrors::new();
    errors.insert(field, message);
    errors
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// One of the buttons on a contact's page.
#[handler]
async fn act(
    Path((slug, id, action)): Path<(String, String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<ActionForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let entry = find_entry(app, &org, &id).await?;
    let contact_id = ContactId::parse(&entry.id).ok_or(AppError::NotFound)?;
    let org_id = org.id;
    let detail = json!({ "contact_id": entry.id });
    if action == "invite" {
        let policy = app
            .db
            .run(move |conn| org_store::policy(conn, &org_id))
            .await?;
        let event = admin_event(&session, &org, req, "contact.invited", detail);
        match password_reset::invite(app, &org, &policy, &contact_id, event).await {
            Ok(()) => {}
            Err(AppError::Invalid { message, .. }) => {
                let mut errors = FieldErrors::new();
                errors.insert("invitation", message);
                let page = ContactPage {
                    session: &session,
                    org: &org,
                    contact: ContactLine::from_entry(entry),
                    errors,
                    notice: None,
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                };
                return render_contact(app, jar, page).await;
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!(org.id = %org_id, contact.id = %contact_id, "password invitation sent");
        return Ok(see_other(&format!(
            "/admin/orgs/{slug}/contacts/{id}?notice=invited"
        )));
    }
    let origin = admin_origin(&session, req);
    let (outcome, notice) = match action.as_str() {
        "disable" | "enable" | "unlock" | "end-sessions" => {
            let (act, notice) = match action.as_str() {
                "disable" => (ContactAction::Disable, "disabled"),
                "enable" => (ContactAction::Enable, "enabled"),
                "unlock" => (ContactAction::Unlock, "unlocked"),
                _ => (ContactAction::EndSessions, "sessions"),
            };
            (
                rules::act(app, org_id, contact_id, act, &origin).await,
                notice,
            )
        }
        "password" => {
            let password = SecretString::new(form.password);
            let outcome = rules::set_password(app, &org, contact_id, password, &origin).await;
            (outcome, "password")
        }
        "clear-password" => {
            let outcome = rules::clear_password(app, org_id, contact_id, &origin).await;
            (outcome, "cleared")
        }
        _ => return Err(AppError::NotFound.into()),
    };
    match outcome {
        Ok(()) => {}
        Err(AppError::Invalid { message, .. }) => {
            let mut errors = FieldErrors::new();
            errors.insert("password", message);
            let page = ContactPage {
                session: &session,
                org: &org,
                contact: ContactLine::from_entry(entry),
                errors,
                notice: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            return render_contact(app, jar, page).await;
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!(
        "/admin/orgs/{slug}/contacts/{id}?notice={notice}"
    )))
}

#[derive(Serialize)]
struct ImportView {
    #[serde(flatten)]
    chrome: Chrome,
    error: Option<String>,
    rows: Vec<ImportRow>,
    accepted: usize,
    refused: usize,
    total: usize,
    imported: bool,
}

fn render_import(
    app: &App,
    jar: &CookieJar,
    session: &AdminSession,
    org: &Organization,
    error: Option<String>,
    rows: Vec<ImportRow>,
    imported: bool,
) -> poem::Result<Response> {
    let refused = rows.iter().filter(|r| r.refusal.is_some()).count();
    let status = if error.is_some() || refused > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = ImportView {
        chrome: Chrome::for_org(app, jar, session, org, "contacts", "Import contacts"),
        error,
        accepted: rows.len() - refused,
        refused,
        total: rows.len(),
        rows,
        imported,
    };
    render(app, "admin/import", &view, status)
}

#[handler]
async fn import_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    render_import(app, jar, &session, &org, None, Vec::new(), false)
}

#[handler]
async fn import(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    mut multipart: Multipart,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let (token, bytes) = read_upload(&mut multipart, "file").await?;
    csrf::verify(app, jar, &token)?;
    let rows = match rules::parse_import(&bytes, &app.config.phone_region) {
        Ok(rows) => rows,
        Err(AppError::Invalid { message, .. }) => {
            return render_import(app, jar, &session, &org, Some(message), Vec::new(), false);
        }
        Err(other) => return Err(other.into()),
    };
    if rows.iter().any(|row| row.refusal.is_some()) {
        return render_import(app, jar, &session, &org, None, rows, false);
    }
    let mut event = admin_event(&session, &org, req, "contacts.imported", json!({}));
    let org_id = org.id;
    let rows = app
        .db
        .transaction(move |conn| {
            let mut rows = rows;
            for row in &mut rows {
                let Some(details) = &row.details else {
                    continue;
                };
                if let Some(field) = directory::identifier_taken(conn, &org_id, details, None)? {
                    row.refusal = Some(format!("A contact with this {field} already exists."));
                }
            }
            if rows.iter().any(|row| row.refusal.is_some()) {
                return Ok(rows);
            }
            for details in rows.iter().filter_map(|row| row.details.as_ref()) {
                directory::add(conn, &org_id, details)?;
            }
            event.detail = json!({ "contacts": rows.len() });
            audit::record(conn, &event)?;
            Ok(rows)
        })
        .await?;
    let imported = rows.iter().all(|row| row.refusal.is_none());
    render_import(app, jar, &session, &org, None, rows, imported)
}
