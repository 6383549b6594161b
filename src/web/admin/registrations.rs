//! The approval queue: registrations of an organization whose policy asks for an admin's
//! approval, proven by their codes and waiting for a decision. Approving makes the contact;
//! refusing does not. Either is audited and told to the registrant by email.

use std::sync::Arc;

use poem::{
    Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Chrome, admin_event, open_org, render, to_login};
use crate::{
    App, AppError,
    domain::{
        contact::ContactId,
        profile::local_time,
        registration::{self, Decision},
    },
    storage::{directory, orgs as org_store},
    web::{csrf, see_other},
};

/// Adds the approval queue to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/admin/orgs/:slug/registrations", poem::get(list))
        .at(
            "/admin/orgs/:slug/registrations/:id/:decision",
            poem::post(decide),
        )
}

#[derive(Serialize)]
struct RegistrationLine {
    id: String,
    name: String,
    email: String,
    mobile: String,
    registered: String,
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    chrome: Chrome,
    registration: &'static str,
    registrations: Vec<RegistrationLine>,
    without_mobile: i64,
    mobile_codes: bool,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

#[handler]
async fn list(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let waiting = registration::awaiting_approval(app, &org).await?;
    let org_id = org.id;
    let (policy, reach) = app
        .db
        .run(move |conn| {
            Ok((
                org_store::policy(conn, &org_id)?,
                directory::reach(conn, &org_id)?,
            ))
        })
        .await?;
    let view = ListView {
        chrome: Chrome::for_org(app, jar, &session, &org, "registrations", "Registrations")
            .with_notice(query.notice.as_deref()),
        registration: policy.self_registration.as_str(),
        registrations: waiting
            .into_iter()
            .map(|r| RegistrationLine {
                id: r.id.to_string(),
                name: r.name,
                email: r.email,
                mobile: r.mobile.unwrap_or_default(),
                registered: local_time(r.created_at, "UTC"),
            })
            .collect(),
        without_mobile: reach.without_mobile,
        mobile_codes: registration::needs_mobile(&policy),
    };
    render(app, "admin/registrations", &view, StatusCode::OK)
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[handler]
async fn decide(
    Path((slug, id, decision)): Path<(String, String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<CsrfOnly>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let (decision, kind, notice) = match decision.as_str() {
        "approve" => (Decision::Approve, "registration.approved", "approved"),
        "refuse" => (Decision::Refuse, "registration.refused", "refused"),
        _ => return Err(AppError::NotFound.into()),
    };
    let id = ContactId::parse(&id).ok_or(AppError::NotFound)?;
    let event = admin_event(&session, &org, req, kind, json!({}));
    registration::decide(app, &org, &id, decision, event).await?;
    tracing::info!(org.id = %org.id, registration.id = %id, decision = kind, "registration decided");
    Ok(see_other(&format!(
        "/admin/orgs/{slug}/registrations?notice={notice}"
    )))
}
