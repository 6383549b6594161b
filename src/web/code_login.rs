//! The code login pages of a portal: ask for a code, enter it, ask for a new one.
//!
//! `POST /portal/{slug}/login/code` asks for a code for an identifier; the page it answers with
//! looks the same whether or not the identifier is known. `GET /portal/{slug}/login/code`
//! (the link in the email) only shows the form: a GET never logs anyone in, since mail scanners
//! follow links. `POST .../verify` checks the code and opens the session; `POST .../resend`
//! sends a new code within the same attempt once the cooldown has passed.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    cookies, csrf,
    errors::after_wait,
    portal::{Chrome, LoginFormView, Portal, hand_session, render_login},
    see_other,
};
use crate::{
    App, AppError,
    domain::{
        code_login::{self, CodeLogin, CodeRequested, Requester},
        contact::{Contact, Identifier, mask_email, mask_mobile},
        login::SessionOpening,
        org::{LoginMode, OtpChannel},
        otp::AttemptId,
    },
};

/// Adds the code login routes to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at(
            "/portal/:slug/login/code",
            poem::get(code_page).post(request_code),
        )
        .at("/portal/:slug/login/code/verify", poem::post(verify_code))
        .at("/portal/:slug/login/code/resend", poem::post(resend_code))
}

#[derive(Serialize, Default)]
struct CodeForm {
    login_id: String,
    notice: Option<String>,
    error: Option<String>,
    code_error: Option<String>,
    resend_after_secs: u32,
}

#[derive(Serialize)]
struct CodeView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: CodeForm,
    slug: String,
}

fn render_code_page(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    form: CodeForm,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = CodeView {
        chrome: portal.chrome(app, jar, "Enter your code", None),
        form,
        slug: portal.org.slug.clone(),
    };
    Ok(app
        .pages
        .render("portal/code", &view)?
        .with_status(status)
        .into_response())
}

/// The one answer for a wrong, expired, used or unknown code.
pub const CODE_REFUSED: &str =
    "That code is wrong or no longer valid. Check it, or ask for a new code.";

/// Words for a wait: "45 seconds", "3 minutes".
pub fn wait_words(secs: u64) -> String {
    match secs {
        0..=1 => "a second".to_owned(),
        2..=90 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

/// A code request: the identifier typed.
#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub identifier: String,
}

#[handler]
async fn request_code(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<RequestForm>,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    if !matches!(
        portal.policy.login_mode,
        LoginMode::Otp | LoginMode::PasswordOrOtp
    ) {
        return Err(AppError::NotFound.into());
    }
    let identifier = match Identifier::parse(&form.identifier, &app.config.phone_region) {
        Ok(identifier) => identifier,
        Err(AppError::Invalid { message, .. }) => {
            let view = LoginFormView {
                identifier: form.identifier.trim().chars().take(256).collect(),
                code_identifier_error: Some(message),
                ..LoginFormView::default()
            };
            return render_login(app, jar, &portal, view, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(other) => return Err(other.into()),
    };
    let client = cookies::client_info(req);
    let requester = Requester::Identifier(identifier.clone());
    match code_login::request_code(app, &portal.org, &portal.policy, requester, &client).await {
        Ok(requested) => {
            let notice =
                code_login::destination_notice(Some(&identifier), portal.policy.otp_channel);
            render_code_page(
                app,
                jar,
                &portal,
                sent_form(&requested, notice),
                StatusCode::OK,
            )
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let view = LoginFormView {
                identifier: form.identifier.trim().chars().take(256).collect(),
                error: Some(format!(
                    "Too many codes were asked for. Try again in {}.",
                    wait_words(retry_after_secs)
                )),
                error_for_code: true,
                ..LoginFormView::default()
            };
            let page = render_login(app, jar, &portal, view, StatusCode::TOO_MANY_REQUESTS);
            after_wait(page, retry_after_secs)
        }
        Err(other) => Err(other.into()),
    }
}

fn sent_form(requested: &CodeRequested, notice: String) -> CodeForm {
    CodeForm {
        login_id: requested.attempt_id.to_string(),
        notice: Some(notice),
        resend_after_secs: requested.resend_after_secs,
        ..CodeForm::default()
    }
}

/// Sends the second-step code of `password_and_otp` to a contact who proved the password, and
/// shows where it went: the password proved who they are, so the real destination may show.
pub async fn second_step(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    contact: &Contact,
    req: &Request,
) -> poem::Result<Response> {
    let client = cookies::client_info(req);
    let requester = Requester::PasswordProven(contact.clone());
    match code_login::request_code(app, &portal.org, &portal.policy, requester, &client).await {
        Ok(requested) => {
            let notice = format!(
                "Your password is right. To finish logging in, enter the code we sent to {}.",
                proven_destination(contact, portal.policy.otp_channel)
            );
            render_code_page(
                app,
                jar,
                portal,
                sent_form(&requested, notice),
                StatusCode::OK,
            )
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let view = LoginFormView {
                error: Some(format!(
                    "A code was sent a moment ago. Try again in {}.",
                    wait_words(retry_after_secs)
                )),
                ..LoginFormView::default()
            };
            let page = render_login(app, jar, portal, view, StatusCode::TOO_MANY_REQUESTS);
            after_wait(page, retry_after_secs)
        }
        Err(other) => Err(other.into()),
    }
}

fn proven_destination(contact: &Contact, channel: OtpChannel) -> String {
    let email = contact.email.as_deref().map(mask_email);
    let mobile = contact.mobile.as_deref().map(mask_mobile);
    let parts: Vec<String> = match channel {
        OtpChannel::Email => email.into_iter().collect(),
        OtpChannel::Mobile => mobile.into_iter().collect(),
        OtpChannel::EmailAndMobile => email.into_iter().chain(mobile).collect(),
    };
    if parts.is_empty() {
        "your registered address".to_owned()
    } else {
        parts.join(" and ")
    }
}

/// The code request an emailed link names.
#[derive(Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    pub login_id: String,
}

#[handler]
async fn code_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<CodeQuery>,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    let Some(attempt_id) = AttemptId::parse(query.login_id.trim()) else {
        return Ok(see_other(&format!("/portal/{slug}/login")));
    };
    let form = CodeForm {
        login_id: attempt_id.to_string(),
        notice: Some(code_login::destination_notice(
            None,
            portal.policy.otp_channel,
        )),
        resend_after_secs: 0,
        ..CodeForm::default()
    };
    render_code_page(app, jar, &portal, form, StatusCode::OK)
}

/// A code typed for a code request.
#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub login_id: String,
    #[serde(default)]
    pub code: String,
}

#[handler]
async fn verify_code(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<VerifyForm>,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    let client = cookies::client_info(req);
    let again = |error: Option<String>, code_error: Option<String>| CodeForm {
        login_id: form.login_id.trim().chars().take(64).collect(),
        error,
        code_error,
        ..CodeForm::default()
    };
    let session = SessionOpening::new(
        &portal.policy,
        portal.session_token(app, jar).as_ref(),
        &client,
    );
    let check = code_login::verify_code(
        app,
        &portal.org,
        &portal.policy,
        &form.login_id,
        &form.code,
        &client,
        session,
    )
    .await;
    match check {
        Ok(CodeLogin::LoggedIn { token, .. }) => Ok(hand_session(app, jar, &portal, &token)),
        Ok(CodeLogin::Refused) => {
            let message = CODE_REFUSED;
            render_code_page(
                app,
                jar,
                &portal,
                again(Some(message.to_owned()), None),
                StatusCode::UNAUTHORIZED,
            )
        }
        Ok(CodeLogin::Retired) => {
            let message =
                "That code was replaced by a newer one. Enter the latest code we sent you.";
            render_code_page(
                app,
                jar,
                &portal,
                again(Some(message.to_owned()), None),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(AppError::Invalid { message, .. }) => render_code_page(
            app,
            jar,
            &portal,
            again(None, Some(message)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login_id: String,
}

#[handler]
async fn resend_code(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<ResendForm>,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    let Some(attempt_id) = AttemptId::parse(form.login_id.trim()) else {
        return Ok(see_other(&format!("/portal/{slug}/login")));
    };
    let client = cookies::client_info(req);
    let requester = Requester::Resend(attempt_id);
    match code_login::request_code(app, &portal.org, &portal.policy, requester, &client).await {
        Ok(requested) => {
            let notice = "We sent a new code. Earlier codes no longer work.".to_owned();
            render_code_page(
                app,
                jar,
                &portal,
                sent_form(&requested, notice),
                StatusCode::OK,
            )
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let form = CodeForm {
                login_id: attempt_id.to_string(),
                error: Some(format!(
                    "You can ask for a new code in {}.",
                    wait_words(retry_after_secs)
                )),
                resend_after_secs: u32::try_from(retry_after_secs).unwrap_or(60),
                ..CodeForm::default()
            };
            let page = render_code_page(app, jar, &portal, form, StatusCode::TOO_MANY_REQUESTS);
            after_wait(page, retry_after_secs)
        }
        Err(AppError::NotFound) => Ok(see_other(&format!("/portal/{slug}/login"))),
        Err(other) => Err(other.into()),
    }
}
