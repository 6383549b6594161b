//! An organization's API keys at `/admin/orgs/{slug}/api-keys`: the list, making a key (shown
//! once, on the page that answers the form) and revoking one. Making and revoking are audited
//! in the domain ([`crate::domain::api_keys`]); every form carries a CSRF token. Platform keys
//! are made with `portico admin api-key create` only.

use std::sync::Arc;

use poem::{
    Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{Chrome, open_org, orgs::NoticeQuery, render, to_login};
use crate::{
    App, AppError,
    domain::{
        admin_login::AdminSession,
        api_keys::{self, ApiKeyId, Maker},
        org::Organization,
    },
    web::{cookies, csrf, see_other},
};

/// Adds the pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/admin/orgs/:slug/api-keys", poem::get(page).post(create))
        .at("/admin/orgs/:slug/api-keys/:id/revoke", poem::post(revoke))
}

#[derive(Serialize)]
struct KeyLine {
    id: String,
    name: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

#[derive(Serialize)]
struct KeysView {
    #[serde(flatten)]
    chrome: Chrome,
    keys: Vec<KeyLine>,
    name: String,
    name_error: Option<String>,
    new_key: Option<String>,
    new_key_name: Option<String>,
}

fn when(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What the page shows besides the list.
#[derive(Default)]
struct Outcome {
    name: String,
    name_error: Option<String>,
    new_key: Option<(String, String)>,
}

async fn render_page(
    app: &App,
    jar: &CookieJar,
    (session, org): (&AdminSession, &Organization),
    notice: Option<&str>,
    outcome: Outcome,
    status: StatusCode,
) -> poem::Result<Response> {
    let keys = api_keys::list(app, org.id).await?;
    let (new_key_name, new_key) = outcome.new_key.unzip();
    let view = KeysView {
        chrome: Chrome::for_org(app, jar, session, org, "api_keys", "API keys").with_notice(notice),
        keys: keys
            .into_iter()
            .map(|key| KeyLine {
                id: key.id.to_string(),
                name: key.name,
                created: when(key.created_at),
                last_used: key
                    .last_used_at
                    .map(when)
                    .unwrap_or_else(|| "never".to_owned()),
                revoked: key.revoked_at.map(when),
            })
            .collect(),
        name: outcome.name,
        name_error: outcome.name_error,
        new_key,
        new_key_name,
    };
    render(app, "admin/api_keys", &view, status)
}

#[handler]
async fn page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    render_page(
        app,
        jar,
        (&session, &org),
        query.notice.as_deref(),
        Outcome::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct NewKeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

#[handler]
async fn create(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<NewKeyForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let maker = Maker::Admin(session.admin.id.to_string());
    let client_ip = cookies::client_info(req).ip;
    let (outcome, status) =
        match api_keys::create(app, Some(org.id), &form.name, maker, &client_ip).await {
            Ok((key, text)) => {
                tracing::info!(org.id = %org.id, admin.id = %session.admin.id, "API key made");
                let outcome = Outcome {
                    new_key: Some((key.name, text.expose().clone())),
                    ..Outcome::default()
                };
                (outcome, StatusCode::CREATED)
            }
            Err(AppError::Invalid { message, .. }) => {
                let outcome = Outcome {
                    name: form.name.trim().chars().take(200).collect(),
                    name_error: Some(message),
                    ..Outcome::default()
                };
                (outcome, StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(other) => return Err(other.into()),
        };
    render_page(app, jar, (&session, &org), None, outcome, status).await
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[handler]
async fn revoke(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<CsrfForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let key_id = ApiKeyId::parse(id.trim()).ok_or(AppError::NotFound)?;
    let client_ip = cookies::client_info(req).ip;
    api_keys::revoke(
        app,
        org.id,
        key_id,
        session.admin.id.to_string(),
        &client_ip,
    )
    .await?;
    tracing::info!(org.id = %org.id, admin.id = %session.admin.id, "API key revoked");
    Ok(see_other(&format!(
        "/admin/orgs/{slug}/api-keys?notice=revoked"
    )))
}
