//! The contact's profile at `/portal/{slug}/profile`: name and time zone, the password change
//! (current password first, with the choice to end every other session), and the list of
//! the contact's live sessions, each of which can be ended; and, at `/profile/contact`, the
//! proven change of the email address or mobile number (or adding a mobile number).
//!
//! Ending the session in use is a logout. A session id of someone else is not found.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    cookies, csrf,
    portal::{Chrome, Portal},
    see_other,
};
use crate::{
    App, AppError,
    domain::{
        contact::Contact,
        contact_change::{self, ChangeRequest, Field},
        profile::{self, PasswordChange},
        session::{self, SessionId},
    },
    secret::SecretString,
    storage::profile as store,
};

/// Adds the profile pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/portal/:slug/profile", poem::get(page).post(save_details))
        .at(
            "/portal/:slug/profile/password",
            poem::post(change_password),
        )
        .at(
            "/portal/:slug/profile/sessions/:id/end",
            poem::post(end_session),
        )
        .at(
            "/portal/:slug/profile/contact",
            poem::get(change_page).post(request_change),
        )
        .at(
            "/portal/:slug/profile/contact/verify",
            poem::post(confirm_change),
        )
}

#[derive(Serialize)]
struct SessionLine {
    id: String,
    current: bool,
    method: String,
    started: String,
    last_seen: String,
    client_ip: String,
    user_agent: String,
}

#[derive(Serialize, Default)]
struct ProfileErrors {
    name: Option<String>,
    time_zone: Option<String>,
    current_password: Option<String>,
    new_password: Option<String>,
}

#[derive(Serialize)]
struct ProfileView {
    #[serde(flatten)]
    chrome: Chrome,
    name: String,
    time_zone: String,
    email: Option<String>,
    mobile: Option<String>,
    password_min_length: u32,
    sessions: Vec<SessionLine>,
    notice: Option<&'static str>,
    errors: ProfileErrors,
}

fn token_hash(app: &App, jar: &CookieJar, portal: &Portal) -> String {
    portal
        .session_token(app, jar)
        .map(|token| session::token_hash(&token))
        .unwrap_or_default()
}

async fn render(
    app: &App,
    jar: &CookieJar,
    (portal, contact): (&Portal, &Contact),
    notice: Option<&'static str>,
    errors: ProfileErrors,
) -> poem::Result<Response> {
    let current = token_hash(app, jar, portal);
    let (org_id, contact_id, idle) = (portal.org.id, contact.id, portal.policy.session_idle_secs);
    let sessions = app
        .db
        .run(move |conn| {
            let now = chrono::Utc::now().naive_utc();
            store::live_sessions(conn, &org_id, &contact_id, idle, &current, now)
        })
        .await?;
    let failed = errors.name.is_some()
        || errors.time_zone.is_some()
        || errors.current_password.is_some()
        || errors.new_password.is_some();
    let view = ProfileView {
        chrome: portal.chrome(app, jar, "Your profile", Some(contact)),
        name: contact.name.clone(),
        time_zone: contact.time_zone.clone(),
        email: contact.email.clone(),
        mobile: contact.mobile.clone(),
        password_min_length: portal.policy.password_min_length,
        sessions: sessions
            .into_iter()
            .map(|(s, current)| SessionLine {
                id: s.id.to_string(),
                current,
                method: s.auth_method,
                started: profile::local_time(s.created_at, &contact.time_zone),
                last_seen: profile::local_time(s.last_seen_at, &contact.time_zone),
                client_ip: s.client_ip,
                user_agent: s.user_agent,
            })
            .collect(),
        notice,
        errors,
    };
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(app
        .pages
        .render("portal/profile", &view)?
        .with_status(status)
        .into_response())
}

#[derive(Deserialize, Default)]
struct PageQuery {
    saved: Option<String>,
}

#[handler]
async fn page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<PageQuery>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let Some(contact) = contact else {
        return Ok(see_other(&format!("/portal/{slug}/login")));
    };
    let notice = match query.saved.as_deref() {
        Some("details") => Some("Your details are saved."),
        Some("password") => Some("Your password is changed."),
        Some("sessions") => Some("Your password is changed and your other sessions are ended."),
        Some("session") => Some("That session is ended."),
        Some("contact") => Some("Your new address is proven and saved."),
        _ => None,
    };
    render(
        app,
        jar,
        (&portal, &contact),
        notice,
        ProfileErrors::default(),
    )
    .await
}

#[derive(Deserialize)]
struct DetailsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
}

/// Puts an invalid-input error next to its field; other errors pass through.
fn place(errors: &mut ProfileErrors, error: AppError) -> Result<(), AppError> {
    let AppError::Invalid { field, message } = error else {
        return Err(error);
    };
    let slot = match field {
        Some("time_zone") => &mut errors.time_zone,
        Some("current_password") => &mut errors.current_password,
        Some("new_password") => &mut errors.new_password,
        _ => &mut errors.name,
    };
    *slot = Some(message);
    Ok(())
}

#[handler]
async fn save_details(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<DetailsForm>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    match profile::update_details(app, &contact, &form.name, &form.time_zone).await {
        Ok(()) => Ok(see_other(&format!("/portal/{slug}/profile?saved=details"))),
        Err(error) => {
            let mut errors = ProfileErrors::default();
            place(&mut errors, error)?;
            render(app, jar, (&portal, &contact), None, errors).await
        }
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    end_other_sessions: Option<String>,
}

#[handler]
async fn change_password(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<PasswordForm>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    let end_others = form.end_other_sessions.is_some();
    let change = PasswordChange {
        current: SecretString::from(form.current_password),
        new: SecretString::from(form.new_password),
        end_other_sessions: end_others,
    };
    let keep = token_hash(app, jar, &portal);
    let client = cookies::client_info(req);
    let outcome = profile::change_password(
        app,
        &portal.org,
        &portal.policy,
        &contact,
        change,
        &keep,
        &client,
    )
    .await;
    match outcome {
        Ok(_) => {
            let saved = if end_others { "sessions" } else { "password" };
            Ok(see_other(&format!("/portal/{slug}/profile?saved={saved}")))
        }
        Err(error) => {
            let mut errors = ProfileErrors::default();
            place(&mut errors, error)?;
            render(app, jar, (&portal, &contact), None, errors).await
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[handler]
async fn end_session(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<CsrfOnly>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    let id = SessionId::parse(&id).ok_or(AppError::NotFound)?;
    profile::end_session(app, &contact, id).await?;
    if portal.signed_in(app, jar).await?.is_none() {
        jar.add(cookies::removal(app, &cookies::session_name(app, &slug)));
        return Ok(see_other(&format!("/portal/{slug}/login")));
    }
    Ok(see_other(&format!("/portal/{slug}/profile?saved=session")))
}

#[derive(Serialize, Default)]
struct ChangeForm {
    field: String,
    new_value: String,
    change_id: String,
    has_password: bool,
    notice: Option<String>,
    error: Option<String>,
    new_value_error: Option<String>,
    current_password_error: Option<String>,
    code_error: Option<String>,
}

#[derive(Serialize)]
struct ChangeView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: ChangeForm,
    email: Option<String>,
    mobile: Option<String>,
}

async fn render_change(
    app: &App,
    jar: &CookieJar,
    (portal, contact): (&Portal, &Contact),
    mut form: ChangeForm,
    status: StatusCode,
) -> poem::Result<Response> {
    let (org_id, contact_id) = (portal.org.id, contact.id);
    form.has_password = app
        .db
        .run(move |conn| store::password_hash(conn, &org_id, &contact_id))
        .await?
        .is_some();
    let view = ChangeView {
        chrome: portal.chrome(app, jar, "Email and mobile number", Some(contact)),
        form,
        email: contact.email.clone(),
        mobile: contact.mobile.clone(),
    };
    Ok(app
        .pages
        .render("portal/contact_change", &view)?
        .with_status(status)
        .into_response())
}

#[derive(Deserialize, Default)]
struct ChangeQuery {
    #[serde(default)]
    field: String,
}

#[handler]
async fn change_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<ChangeQuery>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let Some(contact) = contact else {
        return Ok(see_other(&format!("/portal/{slug}/login")));
    };
    let field = Field::parse(&query.field).unwrap_or(Field::Email);
    let form = ChangeForm {
        field: field.as_str().to_owned(),
        ..ChangeForm::default()
    };
    render_change(app, jar, (&portal, &contact), form, StatusCode::OK).await
}

#[derive(Deserialize)]
struct ChangeFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    new_value: String,
    #[serde(default)]
    current_password: String,
}

/// When the session in use was opened.
async fn session_started(
    app: &App,
    jar: &CookieJar,
    (portal, contact): (&Portal, &Contact),
) -> Result<chrono::NaiveDateTime, AppError> {
    let current = token_hash(app, jar, portal);
    let (org_id, contact_id, idle) = (portal.org.id, contact.id, portal.policy.session_idle_secs);
    let sessions = app
        .db
        .run(move |conn| {
            let now = chrono::Utc::now().naive_utc();
            store::live_sessions(conn, &org_id, &contact_id, idle, &current, now)
        })
        .await?;
    sessions
        .into_iter()
        .find(|(_, current)| *current)
        .map(|(session, _)| session.created_at)
        .ok_or(AppError::Unauthenticated)
}

#[handler]
async fn request_change(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(fields): Form<ChangeFields>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    csrf::verify(app, jar, &fields.csrf)?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    let field = Field::parse(&fields.field).ok_or(AppError::NotFound)?;
    let started = session_started(app, jar, (&portal, &contact)).await?;
    let typed = ChangeForm {
        field: field.as_str().to_owned(),
        new_value: fields.new_value.trim().chars().take(256).collect(),
        ..ChangeForm::default()
    };
    let request = ChangeRequest {
        field,
        new_value: fields.new_value.clone(),
        current_password: SecretString::from(fields.current_password),
        session_started: started,
    };
    let client = cookies::client_info(req);
    let outcome = contact_change::request_change(
        app,
        &portal.org,
        &portal.policy,
        &contact,
        request,
        &client,
    )
    .await;
    let wait = match &outcome {
        Err(AppError::RateLimited { retry_after_secs }) => Some(*retry_after_secs),
        _ => None,
    };
    let (form, status) = match outcome {
        Ok(change_id) => (
            ChangeForm {
                change_id: change_id.to_string(),
                notice: Some(format!(
                    "We sent a code to your new {}. Enter it to finish the change.",
                    if field == Field::Email {
                        "email address"
                    } else {
                        "mobile number"
                    }
                )),
                ..typed
            },
            StatusCode::OK,
        ),
        Err(AppError::Invalid { field, message }) => {
            let form = if field == Some("current_password") {
                ChangeForm {
                    current_password_error: Some(message),
                    ..typed
                }
            } else {
                ChangeForm {
                    new_value_error: Some(message),
                    ..typed
                }
            };
            (form, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(AppError::RateLimited { retry_after_secs }) => (
            ChangeForm {
                error: Some(format!(
                    "A code was sent a moment ago. Try again in {}.",
                    super::code_login::wait_words(retry_after_secs)
                )),
                ..typed
            },
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(other) => return Err(other.into()),
    };
    let answer = render_change(app, jar, (&portal, &contact), form, status).await;
    match wait {
        Some(secs) => super::errors::after_wait(answer, secs),
        None => answer,
    }
}

#[derive(Deserialize)]
struct ConfirmFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    change_id: String,
    #[serde(default)]
    code: String,
}

#[handler]
async fn confirm_change(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(fields): Form<ConfirmFields>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    csrf::verify(app, jar, &fields.csrf)?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    let client = cookies::client_info(req);
    let field = Field::parse(&fields.field).unwrap_or(Field::Email);
    let again = ChangeForm {
        field: field.as_str().to_owned(),
        change_id: fields
            .change_id
            .trim()
            .chars()
            .filter(|c| c.is_ascii_hexdigit() || *c == '-')
            .take(36)
            .collect(),
        ..ChangeForm::default()
    };
    let outcome = contact_change::confirm_change(
        app,
        &portal.org,
        &contact,
        (field, &fields.change_id),
        &fields.code,
        &client,
    )
    .await;
    let (form, status) = match outcome {
        Ok(true) => return Ok(see_other(&format!("/portal/{slug}/profile?saved=contact"))),
        Ok(false) => (
            ChangeForm {
                error: Some(super::code_login::CODE_REFUSED.to_owned()),
                ..again
            },
            StatusCode::UNAUTHORIZED,
        ),
        Err(AppError::Invalid { message, .. }) => (
            ChangeForm {
                code_error: Some(message),
                ..again
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(other) => return Err(other.into()),
    };
    render_change(app, jar, (&portal, &contact), form, status).await
}
