//! "Forgot password?" on a portal that takes passwords, and the page where a reset or
//! invitation code sets a new one.
//!
//! `POST /portal/{slug}/password/forgot` asks for a reset code; the page it answers with looks
//! the same whether or not the identifier is known. `GET /portal/{slug}/password/reset` (the
//! link in the email or invitation) only shows the form, with the code filled in: a GET changes
//! nothing, since mail scanners follow links. `POST /portal/{slug}/password/reset` checks the
//! new password and the code and sets the password; the contact then logs in with it.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    code_login::{CODE_REFUSED, wait_words},
    cookies, csrf,
    portal::{Chrome, Portal, render_login_notice},
};
use crate::{
    App, AppError,
    domain::{
        code_login::destination_notice,
        contact::Identifier,
        password_reset::{self, PasswordSet},
    },
    secret::SecretString,
};

/// Adds the password reset pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at(
            "/portal/:slug/password/forgot",
            poem::get(forgot_page).post(request_reset),
        )
        .at(
            "/portal/:slug/password/reset",
            poem::get(reset_page).post(set_password),
        )
}

#[derive(Serialize, Default)]
struct ForgotForm {
    identifier: String,
    identifier_error: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ForgotView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: ForgotForm,
    slug: String,
}

#[derive(Serialize, Default)]
struct ResetForm {
    reset_id: String,
    code: String,
    notice: Option<String>,
    error: Option<String>,
    code_error: Option<String>,
    password_error: Option<String>,
    password_min_length: u32,
}

#[derive(Serialize)]
struct ResetView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: ResetForm,
    slug: String,
}

async fn load(app: &App, slug: &str, jar: &CookieJar) -> Result<Portal, AppError> {
    let portal = Portal::load(app, slug, jar).await?;
    if !password_reset::offered(&portal.policy) {
        return Err(AppError::NotFound);
    }
    Ok(portal)
}

fn render_forgot(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    form: ForgotForm,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = ForgotView {
        chrome: portal.chrome(app, jar, "Forgot password", None),
        form,
        slug: portal.org.slug.clone(),
    };
    Ok(app
        .pages
        .render("portal/forgot", &view)?
        .with_status(status)
        .into_response())
}

fn render_reset(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    mut form: ResetForm,
    status: StatusCode,
) -> poem::Result<Response> {
    form.password_min_length = portal.policy.password_min_length;
    let view = ResetView {
        chrome: portal.chrome(app, jar, "Set a new password", None),
        form,
        slug: portal.org.slug.clone(),
    };
    Ok(app
        .pages
        .render("portal/reset", &view)?
        .with_status(status)
        .into_response())
}

#[handler]
async fn forgot_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let portal = load(app, &slug, jar).await?;
    render_forgot(app, jar, &portal, ForgotForm::default(), StatusCode::OK)
}

#[derive(Deserialize)]
struct ForgotFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    identifier: String,
}

#[handler]
async fn request_reset(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(fields): Form<ForgotFields>,
) -> poem::Result<Response> {
    let portal = load(app, &slug, jar).await?;
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
            return render_forgot(app, jar, &portal, form, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(other) => return Err(other.into()),
    };
    let client = cookies::client_info(req);
    match password_reset::request_reset(app, &portal.org, &portal.policy, &identifier, &client)
        .await
    {
        Ok(requested) => {
            let channel = match identifier {
                Identifier::Email(_) => crate::domain::org::OtpChannel::Email,
                Identifier::Mobile(_) => crate::domain::org::OtpChannel::Mobile,
            };
            let form = ResetForm {
                reset_id: requested.reset_id.to_string(),
                notice: Some(destination_notice(Some(&identifier), channel)),
                ..ResetForm::default()
            };
            render_reset(app, jar, &portal, form, StatusCode::OK)
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let form = ForgotForm {
                identifier: typed,
                error: Some(format!(
                    "Too many reset codes were asked for. Try again in {}.",
                    wait_words(retry_after_secs)
                )),
                ..ForgotForm::default()
            };
            let page = render_forgot(app, jar, &portal, form, StatusCode::TOO_MANY_REQUESTS);
            super::errors::after_wait(page, retry_after_secs)
        }
        Err(other) => Err(other.into()),
    }
}

/// The reset an emailed link names, with its code.
#[derive(Deserialize)]
struct ResetQuery {
    #[serde(default)]
    reset_id: String,
    #[serde(default)]
    code: String,
}

/// Keeps what a link or form may carry back into the page: an id-shaped id, a code-shaped code.
fn tidy(text: &str, max: usize, allowed: impl Fn(char) -> bool) -> String {
    text.trim()
        .chars()
        .filter(|c| allowed(*c))
        .take(max)
        .collect()
}

#[handler]
async fn reset_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<ResetQuery>,
) -> poem::Result<Response> {
    let portal = load(app, &slug, jar).await?;
    let form = ResetForm {
        reset_id: tidy(&query.reset_id, 36, |c| c.is_ascii_hexdigit() || c == '-'),
        code: tidy(&query.code, 10, |c| c.is_ascii_digit()),
        ..ResetForm::default()
    };
    render_reset(app, jar, &portal, form, StatusCode::OK)
}

#[derive(Deserialize)]
struct ResetFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reset_id: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    new_password: String,
}

#[handler]
async fn set_password(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(fields): Form<ResetFields>,
) -> poem::Result<Response> {
    let portal = load(app, &slug, jar).await?;
    csrf::verify(app, jar, &fields.csrf)?;
    let client = cookies::client_info(req);
    let again = ResetForm {
        reset_id: tidy(&fields.reset_id, 36, |c| c.is_ascii_hexdigit() || c == '-'),
        code: tidy(&fields.code, 14, |c| c.is_ascii_digit()),
        ..ResetForm::default()
    };
    let outcome = password_reset::set_password(
        app,
        &portal.org,
        &portal.policy,
        &fields.reset_id,
        &fields.code,
        SecretString::new(fields.new_password),
        &client,
    )
    .await;
    match outcome {
        Ok(PasswordSet::Done(_)) => render_login_notice(
            app,
            jar,
            &portal,
            "Your new password is set and every earlier session has ended. Log in with it now.",
        ),
        Ok(PasswordSet::Refused) => {
            let form = ResetForm {
                error: Some(CODE_REFUSED.to_owned()),
                ..again
            };
            render_reset(app, jar, &portal, form, StatusCode::UNAUTHORIZED)
        }
        Err(AppError::Invalid { field, message }) => {
            let form = if field == Some("code") {
                ResetForm {
                    code_error: Some(message),
                    ..again
                }
            } else {
                ResetForm {
                    password_error: Some(message),
                    ..again
                }
            };
            render_reset(app, jar, &portal, form, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}
