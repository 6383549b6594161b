//! The admin console at `/admin/`: server-rendered pages for the admins of organizations and
//! of the platform.
//!
//! Every page but the login page starts from [`signed_in`], which finds the admin's session
//! under the console's own cookie (`SameSite=Strict`, 15 minutes idle, 8 hours at most) and
//! sends anyone without one to `/admin/login`. Pages of one organization then go through
//! [`managed_org`]: an organization the admin does not manage is answered exactly like one
//! that does not exist, a 404 that shows nothing of it. Every form carries a CSRF token, and
//! every change is written to the audit log in the same transaction as the change.
//!
//! Each page group has its own file: [`login`], [`orgs`] (the list, "New portal" and Customer
//! Portal Settings), [`policy`] (Self-Service Portal Settings), [`contacts`], [`requests`] (the
//! request queue and each request's thread), [`categories`] (service categories),
//! [`solutions`] (the knowledge base), [`registrations`] (the approval queue), [`messages`]
//! (message templates), [`sms_gateway`], [`deliveries`], [`audit`] and [`api_keys`].

pub mod api_keys;
pub mod audit;
pub mod categories;
pub mod contacts;
pub mod deliveries;
pub mod login;
pub mod messages;
pub mod orgs;
pub mod policy;
pub mod registrations;
pub mod requests;
pub mod sms_gateway;
pub mod solutions;

use std::collections::HashMap;

use poem::{
    IntoResponse, Request, Response, Route,
    http::StatusCode,
    web::{Html, cookie::CookieJar},
};
use serde::Serialize;

use super::{cookies, csrf, see_other};
use crate::{
    App, AppError,
    domain::{
        admin_login::{self, AdminSession},
        audit::{Actor, AuditEvent, Origin},
        org::Organization,
        session,
    },
    secret::SecretString,
    storage::orgs as org_store,
};

/// Adds the console's routes, under `/admin`, to `route`.
pub fn routes(route: Route) -> Route {
    let route = route
        .at("/admin", poem::get(to_console))
        .at("/admin/", poem::get(orgs::list))
        .at("/admin/login", poem::get(login::page).post(login::submit))
        .at("/admin/logout", poem::post(login::logout));
    let route = orgs::routes(route);
    let route = policy::routes(route);
    let route = contacts::routes(route);
    let route = requests::routes(route);
    let route = registrations::routes(route);
    let route = categories::routes(route);
    let route = solutions::routes(route);
    let route = deliveries::routes(route);
    let route = messages::routes(route);
    let route = sms_gateway::routes(route);
    let route = api_keys::routes(route);
    audit::routes(route)
}

#[poem::handler]
fn to_console() -> Response {
    see_other("/admin/")
}

/// The console's session cookie.
pub fn cookie_name(app: &App) -> String {
    if app.config.is_https() {
        "__Host-portico_admin".to_owned()
    } else {
        "portico_admin".to_owned()
    }
}

fn session_token(app: &App, jar: &CookieJar) -> Option<SecretString> {
    let cookie = jar.get(&cookie_name(app))?;
    let value = cookie.value_str();
    session::is_token_shaped(value).then(|| SecretString::from(value))
}

/// The admin logged in to the console in this browser, if any.
pub async fn signed_in(app: &App, jar: &CookieJar) -> Result<Option<AdminSession>, AppError> {
    match session_token(app, jar) {
        Some(token) => admin_login::find_session(app, &token).await,
        None => Ok(None),
    }
}

/// Where a request without a live admin session goes.
pub fn to_login() -> Response {
    see_other("/admin/login")
}

/// The organization at `slug`, when this admin manages it; otherwise not found, exactly as if
/// it did not exist.
pub async fn managed_org(
    app: &App,
    session: &AdminSession,
    slug: &str,
) -> Result<Organization, AppError> {
    let slug = slug.to_owned();
    let org = app
        .db
        .run(move |conn| org_store::find_by_slug(conn, &slug))
        .await?
        .ok_or(AppError::NotFound)?;
    if session.admin.manages(&org.id) {
        Ok(org)
    } else {
        Err(AppError::NotFound)
    }
}

/// The signed-in admin and the organization at `slug` they manage; `None` when nobody is
/// signed in, not found when the admin does not manage it.
pub async fn open_org(
    app: &App,
    jar: &CookieJar,
    slug: &str,
) -> Result<Option<(AdminSession, Organization)>, AppError> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(None);
    };
    let org = managed_org(app, &session, slug).await?;
    Ok(Some((session, org)))
}

/// What the console layout needs on every page.
#[derive(Serialize)]
pub struct Chrome {
    pub page_title: String,
    pub admin_name: Option<String>,
    pub is_platform: bool,
    pub org: Option<OrgNav>,
    /// Which section of an organization's pages is open, for the navigation.
    pub section: &'static str,
    pub csrf: String,
    pub notice: Option<&'static str>,
}

/// The organization whose pages are open.
#[derive(Serialize)]
pub struct OrgNav {
    pub slug: String,
    pub name: String,
    pub status: &'static str,
}

impl Chrome {
    /// The chrome of a page outside any organization.
    pub fn new(app: &App, jar: &CookieJar, session: Option<&AdminSession>, title: &str) -> Self {
        Self {
            page_title: title.to_owned(),
            admin_name: session.map(|s| s.admin.name.clone()),
            is_platform: session.is_some_and(|s| s.admin.is_platform),
            org: None,
            section: "",
            csrf: csrf::token(app, jar),
            notice: None,
        }
    }

    /// The chrome of one organization's page in `section`.
    pub fn for_org(
        app: &App,
        jar: &CookieJar,
        session: &AdminSession,
        org: &Organization,
        section: &'static str,
        title: &str,
    ) -> Self {
        Self {
            org: Some(OrgNav {
                slug: org.slug.clone(),
                name: org.name.clone(),
                status: org.status.as_str(),
            }),
            section,
            ..Self::new(app, jar, Some(session), &format!("{title} · {}", org.name))
        }
    }

    /// Shows the message named by a `?notice=` code after a redirect.
    pub fn with_notice(mut self, code: Option<&str>) -> Self {
        self.notice = code.and_then(notice_text);
        self
    }
}

/// The fixed messages a redirect may ask a page to show; never text from the URL itself.
fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "saved" => Some("Your changes are saved."),
        "unchanged" => Some("Nothing changed, so nothing was saved."),
        "created" => Some("The portal is created, as a draft. Set it live when it is ready."),
        "logo" => Some("The new logo is saved."),
        "added" => Some("The contact is added."),
        "disabled" => Some("The contact is disabled and logged out everywhere."),
        "enabled" => Some("The contact may log in again."),
        "unlocked" => Some("The contact is unlocked."),
        "sessions" => Some("Every session of the contact has ended."),
        "password" => Some("The contact's password is set."),
        "cleared" => Some("The contact's password is removed."),
        "answered" => Some("Your reply is sent; the contact is told by email."),
        "noted" => Some("The internal note is added. The contact does not see it."),
        "assigned" => Some("The request's assignee is saved."),
        "status" => Some("The request's status is saved."),
        "category" => Some("The service category is saved."),
        "solution" => Some("The solution is saved."),
        "reset" => Some("The built-in wording applies again."),
        "gateway_removed" => {
            Some("The organization's SMS go through the platform's gateway again.")
        }
        "approved" => {
            Some("The registration is approved: the contact exists and is told by email.")
        }
        "refused" => Some("The registration is refused; the registrant is told by email."),
        "invited" => {
            Some("The invitation is on its way: the contact sets a password from the email.")
        }
        "test_sent" => Some("The test SMS is queued: see Deliveries for what became of it."),
        "revoked" => Some("The API key is revoked: it no longer works."),
        _ => None,
    }
}

/// Field errors of a form, by field name, as the templates show them.
pub type FieldErrors = HashMap<&'static str, String>;

/// Renders a console page with a status.
pub fn render(
    app: &App,
    template: &str,
    view: &impl Serialize,
    status: StatusCode,
) -> poem::Result<Response> {
    let page: Html<String> = app.pages.render(template, view)?;
    Ok(page.with_status(status).into_response())
}

/// An audit event caused by this admin in this organization.
pub fn admin_event(
    session: &AdminSession,
    org: &Organization,
    req: &Request,
    kind: &'static str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        org_id: Some(org.id),
        actor: Actor::Admin(session.admin.id.to_string()),
        kind,
        detail,
        client_ip: cookies::client_info(req).ip,
    }
}

/// This admin, from where this request came: the origin of the changes it makes.
pub fn admin_origin(session: &AdminSession, req: &Request) -> Origin {
    Origin {
        actor: Actor::Admin(session.admin.id.to_string()),
        client_ip: cookies::client_info(req).ip,
    }
}

/// A 1-based page number from a query string, and the matching row offset.
pub fn paging(page: Option<u32>, per_page: i64) -> (i64, i64) {
    let page = i64::from(page.unwrap_or(1).clamp(1, 100_000));
    (page, (page - 1) * per_page)
}

/// Links to the previous and next page, when there are such pages.
#[derive(Serialize)]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub previous: Option<i64>,
    pub next: Option<i64>,
}

impl Pager {
    pub fn new(page: i64, total: i64, per_page: i64) -> Self {
        let pages = ((total + per_page - 1) / per_page).max(1);
        Self {
            page,
            pages,
            previous: (page > 1).then_some(page - 1),
            next: (page < pages).then_some(page + 1),
        }
    }
}
