//! Organizations: the list an admin may manage, "New portal" for platform admins, and each
//! organization's Customer Portal Settings (name, status, branding, host names, logo).

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, handler,
    http::{StatusCode, header},
    web::{Data, Form, Multipart, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Chrome, FieldErrors, admin_event, managed_org, render, signed_in, to_login};
use crate::{
    App, AppError,
    domain::{
        admin_login::AdminSession,
        org::{Branding, LoginPolicy, OrgId, OrgStatus, Organization, check_slug},
        portal_settings::{self, PortalSettings},
    },
    storage::{audit, orgs as org_store, portal_settings as settings_store},
    web::{csrf, see_other},
};

/// Adds the organization pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/admin/orgs/new", poem::get(new_page).post(create))
        .at("/admin/orgs/:slug", poem::get(to_settings))
        .at(
            "/admin/orgs/:slug/settings/customer-portal",
            poem::get(settings_page).post(save_settings),
        )
        .at(
            "/admin/orgs/:slug/settings/logo",
            poem::get(logo).post(upload_logo),
        )
}

/// The `?notice=` code a page may be opened with after a redirect.
#[derive(Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

#[derive(Serialize)]
struct OrgLine {
    slug: String,
    name: String,
    status: &'static str,
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    chrome: Chrome,
    orgs: Vec<OrgLine>,
}

/// The console's home: the organizations this admin manages.
#[handler]
pub async fn list(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let all = app.db.run(org_store::list).await?;
    let view = ListView {
        chrome: Chrome::new(app, jar, Some(&session), "Organizations")
            .with_notice(query.notice.as_deref()),
        orgs: all
            .into_iter()
            .filter(|org| session.admin.manages(&org.id))
            .map(|org| OrgLine {
                slug: org.slug,
                name: org.name,
                status: org.status.as_str(),
            })
            .collect(),
    };
    render(app, "admin/orgs", &view, StatusCode::OK)
}

#[handler]
fn to_settings(Path(slug): Path<String>) -> Response {
    see_other(&format!("/admin/orgs/{slug}/settings/customer-portal"))
}

#[derive(Serialize)]
struct NewOrgView {
    #[serde(flatten)]
    chrome: Chrome,
    slug: String,
    name: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct NewOrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
}

fn require_platform(session: &AdminSession) -> Result<(), AppError> {
    if session.admin.is_platform {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

#[handler]
async fn new_page(Data(app): Data<&Arc<App>>, jar: &CookieJar) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    require_platform(&session)?;
    let view = NewOrgView {
        chrome: Chrome::new(app, jar, Some(&session), "New portal"),
        slug: String::new(),
        name: String::new(),
        errors: FieldErrors::new(),
    };
    render(app, "admin/new_org", &view, StatusCode::OK)
}

#[handler]
async fn create(
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<NewOrgForm>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    require_platform(&session)?;
    let slug = form.slug.trim().to_owned();
    let name = form.name.trim().to_owned();
    let mut errors = FieldErrors::new();
    if let Err(AppError::Invalid { message, .. }) = check_slug(&slug) {
        errors.insert("slug", message);
    }
    if name.is_empty() || name.chars().count() > 100 {
        errors.insert("name", "Use 1 to 100 characters.".to_owned());
    }
    if errors.is_empty() {
        let org = Organization {
            id: OrgId::new(),
            slug: slug.clone(),
            name: name.clone(),
            status: OrgStatus::Draft,
            branding: Branding {
                accent_color: "#1d4ed8".to_owned(),
                welcome_text: String::new(),
                footer_text: String::new(),
            },
        };
        let event = admin_event(
            &session,
            &org,
            req,
            "org.created",
            json!({ "slug": slug, "name": name }),
        );
        let created = app
            .db
            .transaction(move |conn| {
                if org_store::find_by_slug(conn, &org.slug)?.is_some() {
                    return Ok(false);
                }
                org_store::insert(conn, &org, &LoginPolicy::default())?;
                audit::record(conn, &event)?;
                Ok(true)
            })
            .await;
        match created {
            Ok(true) => {
                tracing::info!(admin.id = %session.admin.id, "organization created");
                return Ok(see_other(&format!(
                    "/admin/orgs/{slug}/settings/customer-portal?notice=created"
                )));
            }
            Ok(false) | Err(AppError::Conflict(_)) => {
                errors.insert("slug", format!("'{slug}' is already taken."));
            }
            Err(other) => return Err(other.into()),
        }
    }
    let view = NewOrgView {
        chrome: Chrome::new(app, jar, Some(&session), "New portal"),
        slug,
        name,
        errors,
    };
    render(
        app,
        "admin/new_org",
        &view,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

#[derive(Serialize)]
struct StatusOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct SettingsView {
    #[serde(flatten)]
    chrome: Chrome,
    name: String,
    statuses: Vec<StatusOption>,
    accent_color: String,
    welcome_text: String,
    footer_text: String,
    host_names: String,
    has_logo: bool,
    errors: FieldErrors,
}

fn settings_view(
    chrome: Chrome,
    settings: &PortalSettings,
    host_names: String,
    has_logo: bool,
    errors: FieldErrors,
) -> SettingsView {
    let statuses = [
        (OrgStatus::Draft, "Draft: only this organization's admins"),
        (OrgStatus::Live, "Live: open to its contacts"),
        (OrgStatus::Retired, "Retired: read-only"),
    ]
    .into_iter()
    .map(|(status, label)| StatusOption {
        value: status.as_str(),
        label,
        selected: status == settings.status,
    })
    .collect();
    SettingsView {
        chrome,
        name: settings.name.clone(),
        statuses,
        accent_color: settings.accent_color.clone(),
        welcome_text: settings.welcome_text.clone(),
        footer_text: settings.footer_text.clone(),
        host_names,
        has_logo,
        errors,
    }
}

async fn stored_settings(
    app: &App,
    org: &Organization,
) -> Result<(PortalSettings, bool), AppError> {
    let org_id = org.id;
    app.db
        .run(move |conn| {
            let settings = settings_store::load(conn, &org_id)?;
            let has_logo = settings_store::logo(conn, &org_id)?.is_some();
            Ok((settings, has_logo))
        })
        .await
}

#[handler]
async fn settings_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    let (settings, has_logo) = stored_settings(app, &org).await?;
    let chrome = Chrome::for_org(
        app,
        jar,
        &session,
        &org,
        "portal",
        "Customer Portal Settings",
    )
    .with_notice(query.notice.as_deref());
    let hosts = settings.host_names.join("\n");
    let view = settings_view(chrome, &settings, hosts, has_logo, FieldErrors::new());
    render(app, "admin/portal_settings", &view, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    accent_color: String,
    #[serde(default)]
    welcome_text: String,
    #[serde(default)]
    footer_text: String,
    #[serde(default)]
    host_names: String,
}

#[handler]
async fn save_settings(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<SettingsForm>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    csrf::verify(app, jar, &form.csrf)?;
    let (old, has_logo) = stored_settings(app, &org).await?;
    let status = OrgStatus::parse(&form.status);
    let new = PortalSettings {
        name: form.name.trim().to_owned(),
        status: status.unwrap_or(old.status),
        accent_color: form.accent_color.trim().to_lowercase(),
        welcome_text: form.welcome_text.trim().to_owned(),
        footer_text: form.footer_text.trim().to_owned(),
        host_names: portal_settings::parse_host_names(&form.host_names),
    };
    let mut errors: FieldErrors = portal_settings::check(&new).into_iter().collect();
    if status.is_none() {
        errors.insert("status", "Choose draft, live or retired.".to_owned());
    }
    if errors.is_empty() {
        let changes = portal_settings::changes(&old, &new);
        if changes.is_empty() {
            return Ok(see_other(&format!(
                "/admin/orgs/{slug}/settings/customer-portal?notice=unchanged"
            )));
        }
        let events: Vec<_> = changes
            .into_iter()
            .map(|change| admin_event(&session, &org, req, "portal_settings.changed", change))
            .collect();
        let (org_id, saved) = (org.id, new.clone());
        let taken = app
            .db
            .transaction(move |conn| {
                if let Some(host) =
                    settings_store::host_name_taken(conn, &org_id, &saved.host_names)?
                {
                    return Ok(Some(host));
                }
                settings_store::save(conn, &org_id, &saved)?;
                for event in &events {
                    audit::record(conn, event)?;
                }
                Ok(None)
            })
            .await?;
        match taken {
            None => {
                tracing::info!(org.id = %org.id, admin.id = %session.admin.id, "portal settings changed");
                return Ok(see_other(&format!(
                    "/admin/orgs/{slug}/settings/customer-portal?notice=saved"
                )));
            }
            Some(host) => {
                errors.insert(
                    "host_names",
                    format!("'{host}' already belongs to another organization's portal."),
                );
            }
        }
    }
    let chrome = Chrome::for_org(
        app,
        jar,
        &session,
        &org,
        "portal",
        "Customer Portal Settings",
    );
    let view = settings_view(chrome, &new, form.host_names, has_logo, errors);
    render(
        app,
        "admin/portal_settings",
        &view,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

#[handler]
async fn logo(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    let org_id = org.id;
    let (logo_type, bytes) = app
        .db
        .run(move |conn| settings_store::logo(conn, &org_id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, logo_type.media_type())
        .body(bytes)
        .into_response())
}

#[handler]
async fn upload_logo(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    mut multipart: Multipart,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    let (token, bytes) = read_upload(&mut multipart, "logo").await?;
    csrf::verify(app, jar, &token)?;
    let checked = portal_settings::check_logo(&bytes);
    let logo_type = match checked {
        Ok(logo_type) => logo_type,
        Err(AppError::Invalid { message, .. }) => {
            let (settings, has_logo) = stored_settings(app, &org).await?;
            let chrome = Chrome::for_org(
                app,
                jar,
                &session,
                &org,
                "portal",
                "Customer Portal Settings",
            );
            let mut errors = FieldErrors::new();
            errors.insert("logo", message);
            let hosts = settings.host_names.join("\n");
            let view = settings_view(chrome, &settings, hosts, has_logo, errors);
            return render(
                app,
                "admin/portal_settings",
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        Err(other) => return Err(other.into()),
    };
    let event = admin_event(
        &session,
        &org,
        req,
        "portal_settings.changed",
        json!({ "setting": "logo", "from": null, "to": format!("{} of {} bytes", logo_type.media_type(), bytes.len()) }),
    );
    let org_id = org.id;
    app.db
        .transaction(move |conn| {
            settings_store::save_logo(conn, &org_id, logo_type, &bytes)?;
            audit::record(conn, &event)
        })
        .await?;
    Ok(see_other(&format!(
        "/admin/orgs/{slug}/settings/customer-portal?notice=logo"
    )))
}

/// Reads a multipart form holding a `csrf` field and one file field named `file_field`.
pub async fn read_upload(
    multipart: &mut Multipart,
    file_field: &str,
) -> Result<(String, Vec<u8>), AppError> {
    let unreadable = |_| AppError::invalid("file", "The upload could not be read.");
    let mut token = String::new();
    let mut bytes = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("csrf") => token = field.text().await.map_err(unreadable)?,
            Some(name) if name == file_field => bytes = field.bytes().await.map_err(unreadable)?,
            _ => {}
        }
    }
    Ok((token, bytes))
}
