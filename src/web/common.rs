//! The common login page at `/`: one form for every portal.
//!
//! A visitor proves a credential first and only then learns where it holds: a password is
//! checked against the contacts with that identifier in every live organization that allows
//! passwords. One match lands in that portal; several show a choice, carried between the two
//! requests by a signed, five-minute cookie that lists only what the password proved. A
//! visitor who proved nothing learns nothing about which organizations know the identifier.
//! Known limit: each matching contact costs one hash, so the page answers more slowly for an
//! identifier that several organizations know.
//!
//! When any live organization takes passwords, the page links to "Forgot password?" at
//! `/password/forgot`: the visitor types an identifier and every organization that knows it
//! sends its own reset message, linking to its own portal's reset page, while the page answers
//! the same for everyone ([`password_reset::request_reset_everywhere`]).

use std::sync::Arc;

use chrono::{Duration, Utc};
use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    code_login::{CODE_REFUSED, CodeQuery, RequestForm, VerifyForm},
    cookies, csrf,
    portal::{Chrome, GENERIC_REFUSAL, LoginForm, LoginFormView, Portal, check_login_form},
};
use crate::{
    App, AppError,
    domain::{
        code_login,
        contact::{ContactId, Identifier},
        login,
        org::{OrgId, OtpChannel},
        password_reset,
    },
    storage::{accounts, orgs},
};

const CHOICE_PURPOSE: &str = "portal-choice";
const CHOICE_MINUTES: i64 = 5;

/// One proven (organization, contact) pair, as sealed into the choice cookie, with how it
/// was proven.
#[derive(Serialize, Deserialize)]
struct Proven {
    org_id: String,
    contact_id: String,
    method: String,
}

#[derive(Serialize)]
struct CommonLoginView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: LoginFormView,
    /// Whether "Forgot password?" is offered: some live organization takes passwords.
    offers_reset: bool,
}

#[derive(Serialize, Default)]
struct ForgotForm {
    identifier: String,
    identifier_error: Option<String>,
    error: Option<String>,
    /// Set once the request is taken: the same words whoever asked.
    sent: bool,
}

#[derive(Serialize)]
struct ForgotView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: ForgotForm,
}

#[derive(Serialize, Default)]
struct CommonCodeForm {
    login_id: String,
    notice: Option<String>,
    error: Option<String>,
    code_error: Option<String>,
}

#[derive(Serialize)]
struct CommonCodeView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: CommonCodeForm,
}

#[derive(Serialize)]
struct ChoiceView {
    #[serde(flatten)]
    chrome: Chrome,
    portals: Vec<ChoiceLine>,
}

#[derive(Serialize)]
struct ChoiceLine {
    slug: String,
    name: String,
}

fn chrome(app: &App, jar: &CookieJar, title: &str) -> Chrome {
    Chrome {
        page_title: format!("{title} · Portico"),
        portal: None,
        contact_name: None,
        csrf: csrf::token(app, jar),
    }
}

async fn offers_reset(app: &App) -> Result<bool, AppError> {
    app.db.run(orgs::any_live_takes_passwords).await
}

async fn render_form(
    app: &App,
    jar: &CookieJar,
    form: LoginFormView,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = CommonLoginView {
        chrome: chrome(app, jar, "Log in"),
        form,
        offers_reset: offers_reset(app).await?,
    };
    Ok(app
        .pages
        .render("portal/common_login", &view)?
        .with_status(status)
        .into_response())
}

#[handler]
pub async fn page(Data(app): Data<&Arc<App>>, jar: &CookieJar) -> poem::Result<Response> {
    render_form(app, jar, LoginFormView::default(), StatusCode::OK).await
}

fn render_forgot(
    app: &App,
    jar: &CookieJar,
    form: ForgotForm,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = ForgotView {
        chrome: chrome(app, jar, "Forgot password"),
        form,
    };
    Ok(app
        .pages
        .render("portal/common_forgot", &view)?
        .with_status(status)
        .into_response())
}

/// "Forgot password?" of the common login page; not found when no live organization takes
/// passwords.
#[handler]
pub async fn forgot_page(Data(app): Data<&Arc<App>>, jar: &CookieJar) -> poem::Result<Response> {
    if !offers_reset(app).await? {
        return Err(AppError::NotFound.into());
    }
    render_forgot(app, jar, ForgotForm::default(), StatusCode::OK)
}

#[derive(Deserialize)]
pub struct ForgotFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    identifier: String,
}

/// Takes a reset request for every portal that knows the identifier, with one answer for all.
#[handler]
pub async fn request_reset(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(fields): Form<ForgotFields>,
) -> poem::Result<Response> {
    if !offers_reset(app).await? {
        return Err(AppError::NotFound.into());
    }
    csrf::verify(app, jar, &fields.csrf)?;
    let typed: String = fields.identifier.trim().chars().take(256).collect();
    let identifier = match Identifier::parse(&fields.identifier, &app.config.phone_region) {
        Ok(identifier) => identifier,
        Err(AppError::Invalid { message, .. }) => {
            let form = ForgotForm {
                identifier: typed,
                identifier_error: Some(message),
                ..ForgotForm::default()
            };
            return render_forgot(app, jar, form, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(other) => return Err(other.into()),
    };
    let client = cookies::client_info(req);
    match password_reset::request_reset_everywhere(app, &identifier, &client).await {
        Ok(()) => {
            let form = ForgotForm {
                sent: true,
                ..ForgotForm::default()
            };
            render_forgot(app, jar, form, StatusCode::OK)
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let form = ForgotForm {
                identifier: typed,
                error: Some(format!(
                    "Too many resets were asked for. Try again in {}.",
                    super::code_login::wait_words(retry_after_secs)
                )),
                ..ForgotForm::default()
            };
            let refused = render_forgot(app, jar, form, StatusCode::TOO_MANY_REQUESTS);
            super::errors::after_wait(refused, retry_after_secs)
        }
        Err(other) => Err(other.into()),
    }
}

#[handler]
pub async fn submit_login(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<LoginForm>,
) -> poem::Result<Response> {
    csrf::verify(app, jar, &form.csrf)?;
    let (identifier, password) = match check_login_form(app, &form) {
        Ok(parsed) => parsed,
        Err(view) => return render_form(app, jar, *view, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let client = cookies::client_info(req);
    let empty_password = password.expose().is_empty();
    let proven = login::prove_password_everywhere(app, &identifier, password, &client).await?;
    let mut view = LoginFormView {
        identifier: form.identifier.trim().to_owned(),
        ..LoginFormView::default()
    };
    if empty_password {
        view.password_error = Some("Enter your password.".to_owned());
        return render_form(app, jar, view, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let mut portals = Vec::new();
    for contact in &proven {
        let portal = portal_of(app, contact.org_id).await?;
        if portal.policy.login_mode.password_suffices() {
            portals.push((portal, contact));
        }
    }
    match portals.as_slice() {
        [] => {
            view.error = Some(GENERIC_REFUSAL.to_owned());
            render_form(app, jar, view, StatusCode::UNAUTHORIZED).await
        }
        [(portal, contact)] => {
            super::portal::start_session(app, jar, portal, contact, "password", &client).await
        }
        several => offer_choice(app, jar, several, "password"),
    }
}

async fn portal_of(app: &App, org_id: OrgId) -> Result<Portal, AppError> {
    let org = app
        .db
        .run(move |conn| orgs::find(conn, &org_id))
        .await?
        .ok_or(AppError::NotFound)?;
    Portal::load_open(app, &org.slug).await
}

fn render_code_page(
    app: &App,
    jar: &CookieJar,
    form: CommonCodeForm,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = CommonCodeView {
        chrome: chrome(app, jar, "Enter your code"),
        form,
    };
    Ok(app
        .pages
        .render("portal/common_code", &view)?
        .with_status(status)
        .into_response())
}

/// Sends one code to the identifier, for every portal where it may log in by code.
#[handler]
pub async fn request_code(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<RequestForm>,
) -> poem::Result<Response> {
    csrf::verify(app, jar, &form.csrf)?;
    let typed: String = form.identifier.trim().chars().take(256).collect();
    let identifier = match Identifier::parse(&form.identifier, &app.config.phone_region) {
        Ok(identifier) => identifier,
        Err(AppError::Invalid { message, .. }) => {
            let view = LoginFormView {
                identifier: typed,
                code_identifier_error: Some(message),
                ..LoginFormView::default()
            };
            return render_form(app, jar, view, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Err(other) => return Err(other.into()),
    };
    let client = cookies::client_info(req);
    match code_login::request_common_code(app, &identifier, &client).await {
        Ok(requested) => {
            let channel = match identifier {
                Identifier::Email(_) => OtpChannel::Email,
                Identifier::Mobile(_) => OtpChannel::Mobile,
            };
            let form = CommonCodeForm {
                login_id: requested.id,
                notice: Some(code_login::destination_notice(Some(&identifier), channel)),
                ..CommonCodeForm::default()
            };
            render_code_page(app, jar, form, StatusCode::OK)
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let view = LoginFormView {
                identifier: typed,
                error: Some(format!(
                    "Too many codes were asked for. Try again in {}.",
                    super::code_login::wait_words(retry_after_secs)
                )),
                error_for_code: true,
                ..LoginFormView::default()
            };
            let refused = render_form(app, jar, view, StatusCode::TOO_MANY_REQUESTS).await;
            super::errors::after_wait(refused, retry_after_secs)
        }
        Err(other) => Err(other.into()),
    }
}

/// The page an emailed link opens: the code form, nothing more.
#[handler]
pub fn code_page(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<CodeQuery>,
) -> poem::Result<Response> {
    let form = CommonCodeForm {
        login_id: query.login_id.trim().chars().take(64).collect(),
        notice: Some(code_login::destination_notice(None, OtpChannel::Email)),
        ..CommonCodeForm::default()
    };
    render_code_page(app, jar, form, StatusCode::OK)
}

/// Checks the code against every portal it was sent for: one proven contact lands in its
/// portal, several choose.
#[handler]
pub async fn verify_code(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<VerifyForm>,
) -> poem::Result<Response> {
    csrf::verify(app, jar, &form.csrf)?;
    let client = cookies::client_info(req);
    let again = |error: Option<String>, code_error: Option<String>| CommonCodeForm {
        login_id: form.login_id.trim().chars().take(64).collect(),
        error,
        code_error,
        ..CommonCodeForm::default()
    };
    let proven =
        match code_login::verify_common_code(app, &form.login_id, &form.code, &client).await {
            Ok(proven) => proven,
            Err(AppError::Invalid { message, .. }) => {
                return render_code_page(
                    app,
                    jar,
                    again(None, Some(message)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                );
            }
            Err(other) => return Err(other.into()),
        };
    let mut portals = Vec::new();
    for contact in &proven {
        portals.push((portal_of(app, contact.org_id).await?, contact));
    }
    match portals.as_slice() {
        [] => {
            let message = CODE_REFUSED;
            render_code_page(
                app,
                jar,
                again(Some(message.to_owned()), None),
                StatusCode::UNAUTHORIZED,
            )
        }
        [(portal, contact)] => {
            super::portal::start_session(app, jar, portal, contact, "otp", &client).await
        }
        several => offer_choice(app, jar, several, "otp"),
    }
}

fn offer_choice(
    app: &App,
    jar: &CookieJar,
    portals: &[(Portal, &crate::domain::contact::Contact)],
    method: &str,
) -> poem::Result<Response> {
    let sealed: Vec<Proven> = portals
        .iter()
        .map(|(portal, contact)| Proven {
            org_id: portal.org.id.to_string(),
            contact_id: contact.id.to_string(),
            method: method.to_owned(),
        })
        .collect();
    let expires_at = Utc::now().naive_utc() + Duration::minutes(CHOICE_MINUTES);
    let value = app
        .signer
        .seal(CHOICE_PURPOSE, sealed, expires_at)
        .ok_or_else(|| AppError::internal("cannot seal the portal choice"))?;
    let mut cookie = cookies::build(
        app,
        &cookies::choice_name(app),
        &value,
        cookies::SameSite::Lax,
    );
    cookie.set_max_age(std::time::Duration::from_secs(60 * CHOICE_MINUTES as u64));
    jar.add(cookie);
    let view = ChoiceView {
        chrome: chrome(app, jar, "Choose a portal"),
        portals: portals
            .iter()
            .map(|(portal, _)| ChoiceLine {
                slug: portal.org.slug.clone(),
                name: portal.org.name.clone(),
            })
            .collect(),
    };
    Ok(app.pages.render("portal/choose", &view)?.into_response())
}

#[derive(Deserialize)]
pub struct ChoiceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    portal: String,
}

#[handler]
pub async fn choose(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<ChoiceForm>,
) -> poem::Result<Response> {
    csrf::verify(app, jar, &form.csrf)?;
    let sealed = jar.get(&cookies::choice_name(app)).and_then(|cookie| {
        app.signer
            .open::<Vec<Proven>>(CHOICE_PURPOSE, cookie.value_str())
    });
    let Some(proven) = sealed else {
        let view = LoginFormView {
            error: Some("Your choice took too long. Please log in again.".to_owned()),
            ..LoginFormView::default()
        };
        return render_form(app, jar, view, StatusCode::UNAUTHORIZED).await;
    };
    let portal = Portal::load_open(app, &form.portal).await?;
    let entry = proven
        .iter()
        .find(|p| p.org_id == portal.org.id.to_string())
        .ok_or(AppError::NotFound)?;
    let chosen = ContactId::parse(&entry.contact_id).ok_or(AppError::NotFound)?;
    let method = if entry.method == "otp" {
        "otp"
    } else {
        "password"
    };
    let org_id = portal.org.id;
    let contact = app
        .db
        .run(move |conn| accounts::find_contact(conn, &org_id, &chosen))
        .await?
        .filter(|c| c.status == crate::domain::contact::ContactStatus::Active)
        .ok_or(AppError::NotFound)?;
    jar.add(cookies::removal(app, &cookies::choice_name(app)));
    let client = cookies::client_info(req);
    super::portal::start_session(app, jar, &portal, &contact, method, &client).await
}
