//! The sign-up pages of a portal whose organization lets visitors register.
//!
//! `GET /portal/{slug}/register` shows the form (a 404 when registration is off);
//! `POST /portal/{slug}/register` checks it and answers with the code page, the same whether
//! the address was new or already known; `POST /portal/{slug}/register/verify` checks the
//! codes, then logs the new contact in (open registration) or says that an admin decides next.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    code_login::{CODE_REFUSED, wait_words},
    cookies, csrf,
    portal::{Chrome, Portal, start_session},
};
use crate::{
    App, AppError,
    domain::{
        contact::{mask_email, mask_mobile},
        registration::{self, Proof, SignUp, TypedCodes},
    },
    secret::SecretString,
};

/// Adds the sign-up pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at(
            "/portal/:slug/register",
            poem::get(sign_up_page).post(sign_up),
        )
        .at("/portal/:slug/register/verify", poem::post(verify))
}

#[derive(Serialize, Default)]
struct SignUpErrors {
    name: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    password: Option<String>,
}

#[derive(Serialize)]
struct SignUpView {
    #[serde(flatten)]
    chrome: Chrome,
    slug: String,
    name: String,
    email: String,
    mobile: String,
    asks_mobile: bool,
    asks_password: bool,
    password_min_length: u32,
    with_approval: bool,
    error: Option<String>,
    errors: SignUpErrors,
}

#[derive(Serialize, Default)]
struct CodesForm {
    email_attempt: String,
    mobile_attempt: String,
    asks_mobile: bool,
    notice: Option<String>,
    error: Option<String>,
    code_error: Option<String>,
}

#[derive(Serialize)]
struct CodesView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: CodesForm,
    slug: String,
}

#[derive(Serialize)]
struct WaitingView {
    #[serde(flatten)]
    chrome: Chrome,
    slug: String,
}

async fn load(app: &App, slug: &str, jar: &CookieJar) -> Result<Portal, AppError> {
    let portal = Portal::load(app, slug, jar).await?;
    if !registration::is_open(&portal.policy) {
        return Err(AppError::NotFound);
    }
    Ok(portal)
}

#[derive(Deserialize, Default)]
struct SignUpFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    password: String,
}

fn render_sign_up(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    typed: &SignUpFields,
    (error, errors): (Option<String>, SignUpErrors),
    status: StatusCode,
) -> poem::Result<Response> {
    let cut = |text: &str| text.trim().chars().take(256).collect::<String>();
    let view = SignUpView {
        chrome: portal.chrome(app, jar, "Create an account", None),
        slug: portal.org.slug.clone(),
        name: cut(&typed.name),
        email: cut(&typed.email),
        mobile: cut(&typed.mobile),
        asks_mobile: registration::needs_mobile(&portal.policy),
        asks_password: registration::needs_password(&portal.policy),
        password_min_length: portal.policy.password_min_length,
        with_approval: portal.policy.self_registration
            == crate::domain::org::SelfRegistration::WithApproval,
        error,
        errors,
    };
    Ok(app
        .pages
        .render("portal/register", &view)?
        .with_status(status)
        .into_response())
}

fn render_codes(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    form: CodesForm,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = CodesView {
        chrome: portal.chrome(app, jar, "Confirm your registration", None),
        form,
        slug: portal.org.slug.clone(),
    };
    Ok(app
        .pages
        .render("portal/register_code", &view)?
        .with_status(status)
        .into_response())
}

#[handler]
async fn sign_up_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let portal = load(app, &slug, jar).await?;
    let typed = SignUpFields::default();
    render_sign_up(
        app,
        jar,
        &portal,
        &typed,
        (None, SignUpErrors::default()),
        StatusCode::OK,
    )
}

#[handler]
async fn sign_up(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(fields): Form<SignUpFields>,
) -> poem::Result<Response> {
    let portal = load(app, &slug, jar).await?;
    csrf::verify(app, jar, &fields.csrf)?;
    let client = cookies::client_info(req);
    if let Err(AppError::RateLimited { retry_after_secs }) =
        registration::count_attempt(app, &portal.org, &client).await
    {
        let error = format!(
            "Too many registrations came from your network. Try again in {}.",
            wait_words(retry_after_secs)
        );
        let errors = (Some(error), SignUpErrors::default());
        let page = render_sign_up(
            app,
            jar,
            &portal,
            &fields,
            errors,
            StatusCode::TOO_MANY_REQUESTS,
        );
        return super::errors::after_wait(page, retry_after_secs);
    }
    let form = SignUp {
        name: fields.name.clone(),
        email: fields.email.clone(),
        mobile: fields.mobile.clone(),
        password: SecretString::new(fields.password.clone()),
    };
    let checked =
        registration::check_sign_up(&portal.org, &portal.policy, &form, &app.config.phone_region);
    let details = match checked {
        Ok(details) => details,
        Err(found) => {
            let mut errors = SignUpErrors::default();
            for (field, message) in found {
                let slot = match field {
                    "name" => &mut errors.name,
                    "mobile" => &mut errors.mobile,
                    "password" => &mut errors.password,
                    _ => &mut errors.email,
                };
                slot.get_or_insert(message);
            }
            let view = (None, errors);
            return render_sign_up(
                app,
                jar,
                &portal,
                &fields,
                view,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let signed_up = registration::sign_up(
        app,
        &portal.org,
        &portal.policy,
        details,
        form.password,
        &client,
    )
    .await?;
    let mut notice = format!(
        "We have emailed a code to {}. If this address already has an account here, we have \
         emailed its owner instead.",
        mask_email(&signed_up.email)
    );
    if let Some(mobile) = &signed_up.mobile {
        notice.push_str(&format!(
            " We have also sent a second code by SMS to {}.",
            mask_mobile(mobile)
        ));
    }
    let form = CodesForm {
        email_attempt: signed_up.email_attempt.to_string(),
        mobile_attempt: signed_up
            .mobile_attempt
            .map(|id| id.to_string())
            .unwrap_or_default(),
        asks_mobile: signed_up.mobile_attempt.is_some(),
        notice: Some(notice),
        ..CodesForm::default()
    };
    render_codes(app, jar, &portal, form, StatusCode::OK)
}

#[derive(Deserialize)]
struct VerifyFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email_attempt: String,
    #[serde(default)]
    email_code: String,
    #[serde(default)]
    mobile_attempt: String,
    #[serde(default)]
    mobile_code: String,
}

#[handler]
async fn verify(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(fields): Form<VerifyFields>,
) -> poem::Result<Response> {
    let portal = load(app, &slug, jar).await?;
    csrf::verify(app, jar, &fields.csrf)?;
    let client = cookies::client_info(req);
    let id_shaped = |text: &str| -> String {
        text.trim()
            .chars()
            .filter(|c| c.is_ascii_hexdigit() || *c == '-')
            .take(36)
            .collect()
    };
    let again = CodesForm {
        email_attempt: id_shaped(&fields.email_attempt),
        mobile_attempt: id_shaped(&fields.mobile_attempt),
        asks_mobile: !fields.mobile_attempt.trim().is_empty(),
        ..CodesForm::default()
    };
    let proof = registration::prove(
        app,
        &portal.org,
        &portal.policy,
        TypedCodes {
            email_attempt: fields.email_attempt,
            email_code: fields.email_code,
            mobile_attempt: fields.mobile_attempt,
            mobile_code: fields.mobile_code,
        },
        &client,
    )
    .await;
    match proof {
        Ok(Proof::Registered(contact)) => {
            start_session(app, jar, &portal, &contact, "registration", &client).await
        }
        Ok(Proof::AwaitingApproval) => {
            let view = WaitingView {
                chrome: portal.chrome(app, jar, "Registration received", None),
                slug: portal.org.slug.clone(),
            };
            Ok(app
                .pages
                .render("portal/register_waiting", &view)?
                .into_response())
        }
        Ok(Proof::Refused) => {
            let form = CodesForm {
                error: Some(CODE_REFUSED.to_owned()),
                ..again
            };
            render_codes(app, jar, &portal, form, StatusCode::UNAUTHORIZED)
        }
        Err(AppError::Invalid { message, .. }) => {
            let form = CodesForm {
                code_error: Some(message),
                ..again
            };
            render_codes(app, jar, &portal, form, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}
