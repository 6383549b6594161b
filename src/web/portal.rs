//! An organization's portal: its home page, its own login page, logout, its theme and logo.
//!
//! Every handler starts from [`Portal::load`], which turns the slug into the organization and
//! its login policy (an unknown organization is a 404, a draft one too but to its own admins),
//! and finds the visitor's
//! session only among that organization's sessions, under that organization's cookie.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, handler,
    http::{StatusCode, header},
    web::{Data, Form, Path, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{cookies, csrf, see_other};
use crate::{
    App, AppError,
    domain::{
        contact::{Contact, Identifier},
        login,
        org::{self, LoginMode, LoginPolicy, OrgId, OrgStatus, Organization},
        password, password_reset, registration,
        session::{self, ClientInfo},
    },
    secret::SecretString,
    storage::{
        DbConnection, content,
        orgs::{self, PortalRecord},
        portal_settings, sessions,
    },
};

/// Adds the portal's routes, under `/portal/{slug}`, to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/portal/:slug", poem::get(to_home))
        .at("/portal/:slug/", poem::get(home))
        .at(
            "/portal/:slug/login",
            poem::get(login_page).post(submit_login),
        )
        .at("/portal/:slug/logout", poem::post(logout))
        .at("/portal/:slug/theme.css", poem::get(theme))
        .at("/portal/:slug/logo", poem::get(logo))
}

#[handler]
fn to_home(Path(slug): Path<String>) -> Response {
    see_other(&format!("/portal/{slug}/"))
}

/// One organization's portal as a request sees it.
pub struct Portal {
    pub org: Organization,
    pub policy: LoginPolicy,
    /// The organization uploaded a logo, served at `/portal/{slug}/logo`.
    pub has_logo: bool,
    /// The latest published solutions (id, topic, title), as lately read.
    pub latest_solutions: Arc<Vec<(String, String, String)>>,
}

impl Portal {
    /// The portal at `slug`; unknown organizations are not found, and neither are draft ones,
    /// except to a signed-in admin of the organization, who previews it in this browser.
    pub async fn load(app: &App, slug: &str, jar: &CookieJar) -> Result<Self, AppError> {
        Self::find(app, slug, Some(jar)).await
    }

    /// The portal at `slug` when it is open to everyone (live or retired), for the common
    /// login page and the API, which never show a draft.
    pub async fn load_open(app: &App, slug: &str) -> Result<Self, AppError> {
        Self::find(app, slug, None).await
    }

    /// The portal at `slug` and the contact logged in to it, if any, found in one trip to the
    /// database; the same admission as [`Portal::load`].
    pub async fn visit(
        app: &App,
        slug: &str,
        jar: &CookieJar,
    ) -> Result<(Self, Option<Contact>), AppError> {
        let (portal, contact, ()) =
            Self::visit_reading(app, slug, jar, |_, _, _, _| Ok(())).await?;
        Ok((portal, contact))
    }

    /// [`Portal::visit`], with what `read` reads for the page in the same trip to the
    /// database. `read` gets the organization, its policy and the contact; it only reads, since
    /// its result is dropped when the portal turns out not to be open to this visitor.
    pub async fn visit_reading<T, F>(
        app: &App,
        slug: &str,
        jar: &CookieJar,
        read: F,
    ) -> Result<(Self, Option<Contact>, T), AppError>
    where
        F: FnOnce(
                &mut DbConnection,
                &Organization,
                &LoginPolicy,
                Option<&Contact>,
            ) -> Result<T, AppError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let token_hash = session_token_in(app, slug, jar).map(|token| session::token_hash(&token));
        let (record, contact, page) = Self::fetch(app, slug, token_hash, read).await?;
        let portal = Self::admit(app, &record, Some(jar)).await?;
        Ok((portal, contact, page))
    }

    async fn find(app: &App, slug: &str, preview: Option<&CookieJar>) -> Result<Self, AppError> {
        let record = match app.portals.get(slug) {
            Some(record) => record,
            None => Self::fetch(app, slug, None, |_, _, _, _| Ok(())).await?.0,
        };
        Self::admit(app, &record, preview).await
    }

    /// In one unit of work: the portal at `slug`, from the cache when it is fresh there and
    /// kept there when it was read; the contact whose session has `token_hash`; and `read`.
    async fn fetch<T, F>(
        app: &App,
        slug: &str,
        token_hash: Option<String>,
        read: F,
    ) -> Result<(Arc<PortalRecord>, Option<Contact>, T), AppError>
    where
        F: FnOnce(
                &mut DbConnection,
                &Organization,
                &LoginPolicy,
                Option<&Contact>,
            ) -> Result<T, AppError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let cached = app.portals.get(slug);
        let generation = orgs::generation();
        let owned_slug = slug.to_owned();
        let db = app.db.clone();
        let (record, was_read, contact, page) = app
            .db
            .run(move |conn| {
                let (record, was_read) = match cached {
                    Some(record) => (record, false),
                    None => (read_portal(conn, &owned_slug)?, true),
                };
                let contact = match token_hash {
                    Some(hash) => {
                        let idle = record.policy.session_idle_secs;
                        live_contact(conn, &db, &record.org.id, &hash, idle)?
                    }
                    None => None,
                };
                let page = read(conn, &record.org, &record.policy, contact.as_ref())?;
                Ok((record, was_read, contact, page))
            })
            .await?;
        if was_read {
            app.portals.put(slug, record.clone(), generation);
        }
        Ok((record, contact, page))
    }

    /// The portal of `record`, unless it is a draft not previewed by one of its admins.
    async fn admit(
        app: &App,
        record: &PortalRecord,
        preview: Option<&CookieJar>,
    ) -> Result<Self, AppError> {
        if record.org.status == OrgStatus::Draft {
            let previewed = match preview {
                Some(jar) => previewed_by_admin(app, jar, &record.org).await?,
                None => false,
            };
            if !previewed {
                return Err(AppError::NotFound);
            }
        }
        Ok(Self {
            org: record.org.clone(),
            policy: record.policy.clone(),
            has_logo: record.has_logo,
            latest_solutions: record.latest_solutions.clone(),
        })
    }

    /// The contact logged in to this portal, if any.
    pub async fn signed_in(&self, app: &App, jar: &CookieJar) -> Result<Option<Contact>, AppError> {
        let Some(token) = self.session_token(app, jar) else {
            return Ok(None);
        };
        let org_id = self.org.id;
        let idle = self.policy.session_idle_secs;
        let token_hash = session::token_hash(&token);
        let db = app.db.clone();
        app.db
            .run(move |conn| live_contact(conn, &db, &org_id, &token_hash, idle))
            .await
    }

    /// The token of this portal's session cookie, when it is shaped like one.
    pub fn session_token(&self, app: &App, jar: &CookieJar) -> Option<SecretString> {
        session_token_in(app, &self.org.slug, jar)
    }

    /// What the layout needs, for a page titled `title`.
    pub fn chrome(
        &self,
        app: &App,
        jar: &CookieJar,
        title: &str,
        contact: Option<&Contact>,
    ) -> Chrome {
        Chrome {
            page_title: format!("{title} · {}", self.org.name),
            portal: Some(PortalView {
                name: self.org.name.clone(),
                slug: self.org.slug.clone(),
                footer_text: self.org.branding.footer_text.clone(),
                has_logo: self.has_logo,
            }),
            contact_name: contact.map(|c| c.name.clone()),
            csrf: csrf::token(app, jar),
        }
    }
}

/// The organization and policy of the portal at `slug`, read from the database. A slug no
/// portal can have (see [`org::check_slug`]) is not found without asking the database, so
/// every backend answers it alike.
fn read_portal(conn: &mut DbConnection, slug: &str) -> Result<Arc<PortalRecord>, AppError> {
    if org::check_slug(slug).is_err() {
        return Err(AppError::NotFound);
    }
    orgs::find_portal(conn, slug)?
        .map(Arc::new)
        .ok_or(AppError::NotFound)
}

/// The token of the session cookie of the portal at `slug`, when it is shaped like one.
fn session_token_in(app: &App, slug: &str, jar: &CookieJar) -> Option<SecretString> {
    let cookie = jar.get(&cookies::session_name(app, slug))?;
    let value = cookie.value_str();
    session::is_token_shaped(value).then(|| SecretString::from(value))
}

/// The active contact whose live session in `org_id` has this token hash; the session's use
/// is recorded later through `db` when its last recorded use is stale.
fn live_contact(
    conn: &mut DbConnection,
    db: &crate::storage::Db,
    org_id: &OrgId,
    token_hash: &str,
    idle_secs: u32,
) -> Result<Option<Contact>, AppError> {
    let now = chrono::Utc::now().naive_utc();
    let Some((contact, stale)) =
        sessions::find_live_contact(conn, org_id, token_hash, idle_secs, now)?
    else {
        return Ok(None);
    };
    sessions::touch_later(db, stale, now);
    Ok(Some(contact))
}

/// Whether this browser holds a live console session of an admin of `org`.
async fn previewed_by_admin(
    app: &App,
    jar: &CookieJar,
    org: &Organization,
) -> Result<bool, AppError> {
    let session = super::admin::signed_in(app, jar).await?;
    Ok(session.is_some_and(|session| session.admin.manages(&org.id)))
}

/// What the layout needs on every page.
#[derive(Serialize)]
pub struct Chrome {
    pub page_title: String,
    pub portal: Option<PortalView>,
    pub contact_name: Option<String>,
    pub csrf: String,
}

#[derive(Serialize)]
pub struct PortalView {
    pub name: String,
    pub slug: String,
    pub footer_text: String,
    pub has_logo: bool,
}

#[derive(Serialize)]
struct HomeView {
    #[serde(flatten)]
    chrome: Chrome,
    welcome_text: String,
    greeting: Option<String>,
    requests: Vec<RequestLine>,
    solutions: Vec<SolutionLine>,
}

#[derive(Serialize)]
struct RequestLine {
    number: i64,
    subject: String,
    status: String,
}

#[derive(Serialize)]
struct SolutionLine {
    id: String,
    topic: String,
    title: String,
}

#[handler]
async fn home(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let (portal, contact, requests) =
        Portal::visit_reading(app, &slug, jar, |conn, org, _, contact| match contact {
            Some(contact) => content::requests_of_contact(conn, &org.id, &contact.id, 10),
            None => Ok(Vec::new()),
        })
        .await?;
    let solutions: &[(String, String, String)] =
        if contact.is_some() || portal.policy.anonymous_solutions {
            &portal.latest_solutions
        } else {
            &[]
        };
    let view = HomeView {
        chrome: portal.chrome(app, jar, "Home", contact.as_ref()),
        welcome_text: portal.org.branding.welcome_text.clone(),
        greeting: contact.as_ref().map(|c| c.name.clone()),
        requests: requests
            .into_iter()
            .map(|(number, subject, status)| RequestLine {
                number,
                subject,
                status: status.replace('_', " "),
            })
            .collect(),
        solutions: solutions
            .iter()
            .map(|(id, topic, title)| SolutionLine {
                id: id.clone(),
                topic: topic.clone(),
                title: title.clone(),
            })
            .collect(),
    };
    Ok(app.pages.render("portal/home", &view)?.into_response())
}

/// The login form as filled in and what went wrong with it.
#[derive(Serialize, Default)]
pub struct LoginFormView {
    pub identifier: String,
    pub error: Option<String>,
    pub identifier_error: Option<String>,
    pub password_error: Option<String>,
    /// An error with the identifier of the code form (on the common page or a portal's).
    pub code_identifier_error: Option<String>,
    /// `error` is about asking for a code, so the page ties it to the code form's field, not
    /// to the password.
    pub error_for_code: bool,
}

#[derive(Serialize)]
struct LoginView {
    #[serde(flatten)]
    chrome: Chrome,
    #[serde(flatten)]
    form: LoginFormView,
    action: String,
    welcome_text: String,
    uses_password: bool,
    /// A code can be asked for on this page (modes `otp` and `password_or_otp`).
    asks_for_code: bool,
    /// The password is only the first of two steps.
    two_step: bool,
    code_action: String,
    /// Good news to show above the form (a password was just set, say).
    notice: Option<&'static str>,
    /// "Forgot password?", where a password is part of the login.
    forgot_link: Option<String>,
    /// "Create an account", where the organization lets visitors register.
    register_link: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub identifier: String,
    #[serde(default)]
    pub password: String,
}

/// Renders the portal's login page with `form` filled in.
pub fn render_login(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    form: LoginFormView,
    status: StatusCode,
) -> poem::Result<Response> {
    render_login_page(app, jar, portal, form, None, status)
}

/// Renders the portal's empty login page with good news above the form.
pub fn render_login_notice(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    notice: &'static str,
) -> poem::Result<Response> {
    let form = LoginFormView::default();
    render_login_page(app, jar, portal, form, Some(notice), StatusCode::OK)
}

fn render_login_page(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    form: LoginFormView,
    notice: Option<&'static str>,
    status: StatusCode,
) -> poem::Result<Response> {
    let mode = portal.policy.login_mode;
    let view = LoginView {
        notice,
        chrome: portal.chrome(app, jar, "Log in", None),
        form,
        action: format!("/portal/{}/login", portal.org.slug),
        welcome_text: portal.org.branding.welcome_text.clone(),
        uses_password: mode.uses_password(),
        asks_for_code: matches!(mode, LoginMode::Otp | LoginMode::PasswordOrOtp),
        two_step: mode == LoginMode::PasswordAndOtp,
        code_action: format!("/portal/{}/login/code", portal.org.slug),
        forgot_link: password_reset::offered(&portal.policy)
            .then(|| format!("/portal/{}/password/forgot", portal.org.slug)),
        register_link: registration::is_open(&portal.policy)
            .then(|| format!("/portal/{}/register", portal.org.slug)),
    };
    Ok(app
        .pages
        .render("portal/login", &view)?
        .with_status(status)
        .into_response())
}

#[handler]
async fn login_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    if contact.is_some() {
        return Ok(see_other(&format!("/portal/{slug}/")));
    }
    render_login(app, jar, &portal, LoginFormView::default(), StatusCode::OK)
}

/// The one message for every refused password, whatever the reason.
pub const GENERIC_REFUSAL: &str =
    "That email address or mobile number and password do not match. Check them and try again.";

#[handler]
async fn submit_login(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<LoginForm>,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    if !portal.policy.login_mode.uses_password() {
        let message = "This portal logs people in with a one-time code, not a password.";
        return refuse(app, jar, &portal, &form.identifier, message);
    }
    let (identifier, password) = match check_login_form(app, &form) {
        Ok(parsed) => parsed,
        Err(view) => {
            return render_login(app, jar, &portal, *view, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let client = cookies::client_info(req);
    let empty_password = password.expose().is_empty();
    let proven = login::prove_password(
        app,
        &portal.org,
        &portal.policy,
        &identifier,
        password,
        &client,
    )
    .await?;
    if empty_password {
        let view = LoginFormView {
            identifier: form.identifier.trim().to_owned(),
            password_error: Some("Enter your password.".to_owned()),
            ..LoginFormView::default()
        };
        return render_login(app, jar, &portal, view, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let Some(contact) = proven else {
        return refuse(app, jar, &portal, &form.identifier, GENERIC_REFUSAL);
    };
    if !portal.policy.login_mode.password_suffices() {
        return super::code_login::second_step(app, jar, &portal, &contact, req).await;
    }
    start_session(app, jar, &portal, &contact, "password", &client).await
}

fn refuse(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    identifier: &str,
    message: &str,
) -> poem::Result<Response> {
    let view = LoginFormView {
        identifier: identifier.trim().to_owned(),
        error: Some(message.to_owned()),
        ..LoginFormView::default()
    };
    render_login(app, jar, portal, view, StatusCode::UNAUTHORIZED)
}

/// Reads the identifier and password of a login form, or says what is wrong with them.
pub fn check_login_form(
    app: &App,
    form: &LoginForm,
) -> Result<(Identifier, SecretString), Box<LoginFormView>> {
    let mut view = LoginFormView {
        identifier: form.identifier.trim().chars().take(256).collect(),
        ..LoginFormView::default()
    };
    if password::is_too_long(&form.password) {
        view.password_error = Some("Passwords are at most 128 characters long.".to_owned());
    }
    let identifier = match Identifier::parse(&form.identifier, &app.config.phone_region) {
        Ok(identifier) => Some(identifier),
        Err(AppError::Invalid { message, .. }) => {
            view.identifier_error = Some(message);
            None
        }
        Err(other) => {
            view.identifier_error = Some(other.to_string());
            None
        }
    };
    match identifier {
        Some(identifier) if view.password_error.is_none() => {
            Ok((identifier, SecretString::from(form.password.clone())))
        }
        _ => Err(Box::new(view)),
    }
}

/// Opens a session for a proven contact, replacing any older one of this portal in this
/// browser, and sends the browser to the portal home.
pub async fn start_session(
    app: &App,
    jar: &CookieJar,
    portal: &Portal,
    contact: &Contact,
    method: &'static str,
    client: &ClientInfo,
) -> poem::Result<Response> {
    let earlier = portal.session_token(app, jar);
    let token = login::replace_session(
        app,
        &portal.policy,
        contact,
        method,
        client,
        earlier.as_ref(),
    )
    .await?;
    Ok(hand_session(app, jar, portal, &token))
}

/// Sets the cookie of the session whose token is `token` and sends the browser to the
/// portal's home page.
pub fn hand_session(app: &App, jar: &CookieJar, portal: &Portal, token: &SecretString) -> Response {
    let name = cookies::session_name(app, &portal.org.slug);
    jar.add(cookies::build(
        app,
        &name,
        token.expose(),
        cookies::SameSite::Lax,
    ));
    see_other(&format!("/portal/{}/", portal.org.slug))
}

async fn end_session(app: &App, jar: &CookieJar, portal: &Portal) -> Result<(), AppError> {
    if let Some(token) = portal.session_token(app, jar) {
        let org_id = portal.org.id;
        let token_hash = session::token_hash(&token);
        app.db
            .write(move |conn| sessions::delete_by_token(conn, &org_id, &token_hash))
            .await?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[handler]
async fn logout(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<CsrfOnly>,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    csrf::verify(app, jar, &form.csrf)?;
    end_session(app, jar, &portal).await?;
    jar.add(cookies::removal(app, &cookies::session_name(app, &slug)));
    Ok(see_other(&format!("/portal/{slug}/login")))
}

#[handler]
async fn theme(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    let accent = &portal.org.branding.accent_color;
    let accent = if crate::domain::org::check_accent_color(accent).is_ok() {
        accent.as_str()
    } else {
        "#1d4ed8"
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=60")
        .body(theme_css(accent)))
}

/// The portal's colours: its accent, the text colour that reads on it (white or near black,
/// whichever contrasts more), and the colour of links on white (the accent only when it is
/// dark enough to read as text, at 4.5:1).
fn theme_css(accent: &str) -> String {
    let luminance = relative_luminance(accent).unwrap_or(0.0);
    let contrast = |a: f64, b: f64| (a.max(b) + 0.05) / (a.min(b) + 0.05);
    let ink = 0.0093; // #0f172a
    let on_accent = if contrast(luminance, 1.0) >= contrast(luminance, ink) {
        "#ffffff"
    } else {
        "#0f172a"
    };
    let accent_ink = if contrast(luminance, 1.0) >= 4.5 {
        accent
    } else {
        "#0f172a"
    };
    format!(
        ":root {{ --accent: {accent}; --on-accent: {on_accent}; --accent-ink: {accent_ink}; }}\n"
    )
}

/// The WCAG relative luminance of a `#rrggbb` colour.
fn relative_luminance(color: &str) -> Option<f64> {
    let hex = color.strip_prefix('#')?;
    let channel = |i: usize| -> Option<f64> {
        let value = f64::from(u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?) / 255.0;
        Some(if value <= 0.039_28 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        })
    };
    Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
}

/// The organization's logo, with the media type its first bytes were checked against at
/// upload (PNG or JPEG only, never SVG) and `nosniff` from the security headers, so a browser
/// never reads it as anything but an image.
#[handler]
async fn logo(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let portal = Portal::load(app, &slug, jar).await?;
    let org_id = portal.org.id;
    let (logo_type, bytes) = app
        .db
        .run(move |conn| portal_settings::logo(conn, &org_id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, logo_type.media_type())
        .header(header::CONTENT_DISPOSITION, "inline; filename=\"logo\"")
        .header(header::CACHE_CONTROL, "public, max-age=60")
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::theme_css;

    #[test]
    fn text_on_the_accent_stays_readable() {
        assert!(theme_css("#b45309").contains("--on-accent: #ffffff; --accent-ink: #b45309;"));
        assert!(theme_css("#fde68a").contains("--on-accent: #0f172a; --accent-ink: #0f172a;"));
    }
}
