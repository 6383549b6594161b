//! The console's login and logout.
//!
//! A wrong password, an unknown email, a lockout and a disabled admin all get the same answer.
//! A successful login replaces any older console session of this browser with a fresh token.

use std::sync::Arc;

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{Chrome, cookie_name, render, session_token, to_login};
use crate::{
    App,
    domain::{admin_login, password},
    secret::SecretString,
    web::{cookies, csrf, see_other},
};

#[derive(Serialize)]
struct LoginView {
    #[serde(flatten)]
    chrome: Chrome,
    identifier: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
}

/// The one message for every refused admin login.
const REFUSAL: &str = "That email address and password do not match. Check them and try again.";

fn render_form(
    app: &App,
    jar: &CookieJar,
    identifier: &str,
    error: Option<&str>,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = LoginView {
        chrome: Chrome::new(app, jar, None, "Log in"),
        identifier: identifier.trim().chars().take(254).collect(),
        error: error.map(str::to_owned),
    };
    render(app, "admin/login", &view, status)
}

#[handler]
pub async fn page(Data(app): Data<&Arc<App>>, jar: &CookieJar) -> poem::Result<Response> {
    if super::signed_in(app, jar).await?.is_some() {
        return Ok(see_other("/admin/"));
    }
    render_form(app, jar, "", None, StatusCode::OK)
}

#[handler]
pub async fn submit(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<LoginForm>,
) -> poem::Result<Response> {
    csrf::verify(app, jar, &form.csrf)?;
    if password::is_too_long(&form.password) {
        let message = "Passwords are at most 128 characters long.";
        return render_form(
            app,
            jar,
            &form.identifier,
            Some(message),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let client = cookies::client_info(req);
    let proven = admin_login::prove(
        app,
        &form.identifier,
        SecretString::new(form.password),
        &client,
    )
    .await?;
    let Some(admin) = proven else {
        return render_form(
            app,
            jar,
            &form.identifier,
            Some(REFUSAL),
            StatusCode::UNAUTHORIZED,
        );
    };
    if let Some(old) = session_token(app, jar) {
        admin_login::end_session(app, &old).await?;
    }
    let token = admin_login::open_session(app, &admin, &client).await?;
    jar.add(cookies::build(
        app,
        &cookie_name(app),
        token.expose(),
        cookies::SameSite::Strict,
    ));
    tracing::info!(admin.id = %admin.id, "admin logged in");
    Ok(see_other("/admin/"))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[handler]
pub async fn logout(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<CsrfOnly>,
) -> poem::Result<Response> {
    csrf::verify(app, jar, &form.csrf)?;
    if let Some(token) = session_token(app, jar) {
        admin_login::end_session(app, &token).await?;
    }
    jar.add(cookies::removal(app, &cookie_name(app)));
    Ok(to_login())
}
