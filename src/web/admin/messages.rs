//! Message templates: the organization's own wording of the messages its contacts receive
//! (login code, request received, request replied), each part (subject, plain text, HTML,
//! SMS) edited as a handlebars template that replaces the built-in one, with a preview
//! rendered on the server from sample values and a way back to the built-in wording.
//!
//! A wording is checked before it is saved ([`messages::check`]): a syntax error, an unknown
//! value, a partial or a decorator is refused with its line and reason, next to its part. The
//! HTML preview is shown in a sandboxed frame, so a wording's markup cannot script the console.

use std::sync::Arc;

use chrono::Utc;
use poem::{
    Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Chrome, FieldErrors, admin_event, managed_org, render, signed_in, to_login};
use crate::{
    App, AppError,
    domain::{
        admin_login::AdminSession,
        messages::{self, MessageKind, MessageParts, Rendered},
        org::Organization,
    },
    storage::{audit, message_templates},
    web::{csrf, see_other},
};

/// Adds the pages to `route`.
pub fn routes(route: Route) -> Route {
    route.at("/admin/orgs/:slug/messages", poem::get(list)).at(
        "/admin/orgs/:slug/messages/:message",
        poem::get(show).post(submit),
    )
}

#[derive(Serialize)]
struct MessageLine {
    name: &'static str,
    title: &'static str,
    customized: bool,
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    chrome: Chrome,
    messages: Vec<MessageLine>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[handler]
async fn list(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    let org_id = org.id;
    let customized = app
        .db
        .run(move |conn| message_templates::customized(conn, &org_id))
        .await?;
    let view = ListView {
        chrome: Chrome::for_org(app, jar, &session, &org, "messages", "Message templates")
            .with_notice(query.notice.as_deref()),
        messages: MessageKind::ALL
            .into_iter()
            .map(|kind| MessageLine {
                name: kind.name(),
                title: kind.title(),
                customized: customized.iter().any(|name| name == kind.name()),
            })
            .collect(),
    };
    render(app, "admin/messages", &view, StatusCode::OK)
}

#[derive(Serialize)]
struct Preview {
    subject: String,
    text: String,
    html: String,
    sms: String,
}

impl From<Rendered> for Preview {
    fn from(rendered: Rendered) -> Self {
        Self {
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            sms: rendered.sms,
        }
    }
}

#[derive(Serialize)]
struct EditView {
    #[serde(flatten)]
    chrome: Chrome,
    name: &'static str,
    title: &'static str,
    has_sms: bool,
    has_email: bool,
    customized: bool,
    variables: Vec<String>,
    parts: MessageParts,
    errors: FieldErrors,
    preview: Option<Preview>,
}

/// What the edit page shows besides the stored state.
struct Shown {
    parts: MessageParts,
    errors: FieldErrors,
    preview: Option<Preview>,
    status: StatusCode,
    notice: Option<String>,
}

async fn render_edit(
    app: &App,
    jar: &CookieJar,
    session: &AdminSession,
    org: &Organization,
    kind: MessageKind,
    shown: Shown,
) -> poem::Result<Response> {
    let org_id = org.id;
    let customized = app
        .db
        .run(move |conn| message_templates::find(conn, &org_id, kind.name()))
        .await?
        .is_some();
    let view = EditView {
        chrome: Chrome::for_org(app, jar, session, org, "messages", kind.title())
            .with_notice(shown.notice.as_deref()),
        name: kind.name(),
        title: kind.title(),
        has_sms: kind.has_sms(),
        has_email: kind.has_email(),
        customized,
        variables: kind
            .variables()
            .iter()
            .map(|v| format!("{{{{{v}}}}}"))
            .collect(),
        parts: shown.parts,
        errors: shown.errors,
        preview: shown.preview,
    };
    render(app, "admin/message", &view, shown.status)
}

async fn open(
    app: &App,
    jar: &CookieJar,
    slug: &str,
    message: &str,
) -> Result<Option<(AdminSession, Organization, MessageKind)>, AppError> {
    let Some((session, org)) = super::open_org(app, jar, slug).await? else {
        return Ok(None);
    };
    let kind = MessageKind::parse(message).ok_or(AppError::NotFound)?;
    Ok(Some((session, org, kind)))
}

#[handler]
async fn show(
    Path((slug, message)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org, kind)) = open(app, jar, &slug, &message).await? else {
        return Ok(to_login());
    };
    let org_id = org.id;
    let stored = app
        .db
        .run(move |conn| message_templates::find(conn, &org_id, kind.name()))
        .await?;
    let parts = stored.unwrap_or_else(|| app.messages.defaults(kind));
    let shown = Shown {
        parts,
        errors: FieldErrors::new(),
        preview: None,
        status: StatusCode::OK,
        notice: query.notice,
    };
    render_edit(app, jar, &session, &org, kind, shown).await
}

#[derive(Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    csrf: String,
    /// `preview`, `save` or `reset`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    sms: String,
}

#[handler]
async fn submit(
    Path((slug, message)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<MessageForm>,
) -> poem::Result<Response> {
    let Some((session, org, kind)) = open(app, jar, &slug, &message).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    if form.action == "reset" {
        return reset(app, req, &session, &org, kind).await;
    }
    let email_part = |typed: &str| {
        if kind.has_email() {
            typed.replace("\r\n", "\n")
        } else {
            String::new()
        }
    };
    let parts = MessageParts {
        subject: email_part(&form.subject),
        text: email_part(&form.text),
        html: email_part(&form.html),
        sms: if kind.has_sms() {
            form.sms.replace("\r\n", "\n")
        } else {
            String::new()
        },
    };
    let sample = kind.sample(&org.name, &portal_link(app, &org));
    let errors: FieldErrors = messages::check(kind, &parts, &sample).into_iter().collect();
    if !errors.is_empty() {
        let shown = Shown {
            parts,
            errors,
            preview: None,
            status: StatusCode::UNPROCESSABLE_ENTITY,
            notice: None,
        };
        return render_edit(app, jar, &session, &org, kind, shown).await;
    }
    if form.action == "preview" {
        let preview = messages::render_parts(kind, &parts, &sample)
            .map_err(AppError::internal)?
            .into();
        let shown = Shown {
            parts,
            errors,
            preview: Some(preview),
            status: StatusCode::OK,
            notice: None,
        };
        return render_edit(app, jar, &session, &org, kind, shown).await;
    }

    let event = admin_event(
        &session,
        &org,
        req,
        "messages.changed",
        json!({ "setting": format!("message {}", kind.name()), "from": null, "to": "custom" }),
    );
    let org_id = org.id;
    app.db
        .transaction(move |conn| {
            message_templates::save(conn, &org_id, kind.name(), &parts, Utc::now().naive_utc())?;
            audit::record(conn, &event)
        })
        .await?;
    Ok(see_other(&format!(
        "/admin/orgs/{}/messages/{}?notice=saved",
        org.slug,
        kind.name()
    )))
}

/// Removes the organization's wording, so the built-in one applies again.
async fn reset(
    app: &App,
    req: &Request,
    session: &AdminSession,
    org: &Organization,
    kind: MessageKind,
) -> poem::Result<Response> {
    let event = admin_event(
        session,
        org,
        req,
        "messages.reset",
        json!({ "setting": format!("message {}", kind.name()), "from": "custom", "to": "built-in" }),
    );
    let org_id = org.id;
    let removed = app
        .db
        .transaction(move |conn| {
            let removed = message_templates::reset(conn, &org_id, kind.name())?;
            if removed {
                audit::record(conn, &event)?;
            }
            Ok(removed)
        })
        .await?;
    let notice = if removed { "reset" } else { "unchanged" };
    Ok(see_other(&format!(
        "/admin/orgs/{}/messages/{}?notice={notice}",
        org.slug,
        kind.name()
    )))
}

/// The organization's portal login page, as the sample values link to it.
fn portal_link(app: &App, org: &Organization) -> String {
    format!("{}/portal/{}/login", app.config.public_url, org.slug)
}
