//! The common login page at `/`: one form for every portal.
//!
//! A visitor proves a credential first and only then learns where it holds: a password is
//! checked against the contacts with that identifier in every live organization that allows
//! passwords. One match lands in that portal; several show a choice, carried between the two
//! requests by a signed, five-minute cookie that lists only what the password proved. A
//! visitor who proved nothing learns nothing about which organizations know the identifier.
//! Known limit: each matching contact costs one hash, so the page answers more slowly for an
//! identifier that several organizations know.

use std::sync::Arc;

use chrono::{Duration, Utc};
use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    cookies, csrf,
    portal::{Chrome, GENERIC_REFUSAL, LoginForm, LoginFormView, Portal, check_login_form},
};
use crate::{
    App, AppError,
    domain::{contact::ContactId, login, org::OrgId},
    storage::{accounts, orgs},
};

const CHOICE_PURPOSE: &str = "portal-choice";
const CHOICE_MINUTES: i64 = 5;

/// One proven (organization, contact) pair, as sealed into the choice cookie.
#[derive(Serialize, Deserialize)]
struct Proven {
    org_id: String,
    contact_id: String,
}

#[derive(Serialize)]
struct CommonLoginView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: LoginFormView,
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

fn render_form(
    app: &App,
    jar: &CookieJar,
    form: LoginFormView,
    status: StatusCode,
) -> poem::Result<Response> {
    let view = CommonLoginView {
        chrome: chrome(app, jar, "Log in"),
        form,
    };
    Ok(app
        .pages
        .render("portal/common_login", &view)?
        .with_status(status)
        .into_response())
}

#[handler]
pub fn page(Data(app): Data<&Arc<App>>, jar: &CookieJar) -> poem::Result<Response> {
    render_form(app, jar, LoginFormView::default(), StatusCode::OK)
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
        Err(view) => return render_form(app, jar, view, StatusCode::UNPROCESSABLE_ENTITY),
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
        return render_form(app, jar, view, StatusCode::UNPROCESSABLE_ENTITY);
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
            render_form(app, jar, view, StatusCode::UNAUTHORIZED)
        }
        [(portal, contact)] => {
            super::portal::start_session(app, jar, portal, contact, "password", &client).await
        }
        several => offer_choice(app, jar, several),
    }
}

async fn portal_of(app: &App, org_id: OrgId) -> Result<Portal, AppError> {
    let org = app
        .db
        .run(move |conn| orgs::find(conn, &org_id))
        .await?
        .ok_or(AppError::NotFound)?;
    Portal::load(app, &org.slug).await
}

fn offer_choice(
    app: &App,
    jar: &CookieJar,
    portals: &[(Portal, &crate::domain::contact::Contact)],
) -> poem::Result<Response> {
    let sealed: Vec<Proven> = portals
        .iter()
        .map(|(portal, contact)| Proven {
            org_id: portal.org.id.to_string(),
            contact_id: contact.id.to_string(),
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
        return render_form(app, jar, view, StatusCode::UNAUTHORIZED);
    };
    let portal = Portal::load(app, &form.portal).await?;
    let chosen = proven
        .iter()
        .find(|p| p.org_id == portal.org.id.to_string())
        .and_then(|p| ContactId::parse(&p.contact_id))
        .ok_or(AppError::NotFound)?;
    let org_id = portal.org.id;
    let contact = app
        .db
        .run(move |conn| accounts::find_contact(conn, &org_id, &chosen))
        .await?
        .filter(|c| c.status == crate::domain::contact::ContactStatus::Active)
        .ok_or(AppError::NotFound)?;
    jar.add(cookies::removal(app, &cookies::choice_name(app)));
    let client = cookies::client_info(req);
    super::portal::start_session(app, jar, &portal, &contact, "password", &client).await
}
