//! The API under `/api/v1`, built with poem-openapi: its spec at `/api/v1/openapi.json`, its
//! Swagger UI at `/api/docs` ([`docs`]), and one module per group of endpoints: portal
//! information and login ([`portal`]), the contact's own account ([`me`]), forgotten
//! passwords, self-registration and changes of email or mobile number ([`account`]), solutions,
//! categories and requests ([`content`]) and their files ([`attachments`]), and administration
//! with API keys ([`admin`], and [`admin_content`] for categories, solutions and requests).
//!
//! Handlers call the same domain functions as the pages, so limits, lockouts and the audit log
//! are the same whichever way a contact or admin comes in. Credentials travel only as bearer
//! tokens in the `Authorization` header; cookies are never read here, so CSRF cannot reach the
//! API. A contact's token is a session like a browser's (same table, stored hashed), written
//! `<organization id>.<session token>` so that it is only ever looked up within its own
//! organization. An admin client's token is an API key ([`crate::domain::api_keys`]).
//! Everything of an organization a credential does not belong to answers 404, exactly as if it
//! did not exist. Errors are `application/problem+json` ([`crate::web::errors::Problem`]):
//! handlers return [`ApiError`], and failures before any handler runs (malformed JSON, a wrong
//! content type, unknown routes, body too large) become problems in `web::errors`. Every 401
//! carries `WWW-Authenticate: Bearer` and every 429 `Retry-After`, whichever way it is made.

pub mod account;
pub mod admin;
pub mod admin_content;
pub mod attachments;
pub mod content;
pub mod docs;
pub mod me;
pub mod portal;

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use poem::{Request, Route};
use poem_openapi::{
    ApiResponse, OpenApiService, SecurityScheme, Tags, auth::Bearer, payload::Json,
};

use super::{cookies, errors::Problem};
use crate::{
    App, AppError,
    domain::{
        api_keys::{self, ApiKey},
        contact::{Contact, ContactStatus},
        org::{LoginPolicy, OrgId, OrgStatus, Organization},
        session::{self, ClientInfo},
    },
    secret::SecretString,
    storage::{accounts, orgs, sessions},
};

/// The groups of endpoints, as the spec and Swagger UI show them.
#[derive(Tags)]
pub enum ApiTags {
    /// A portal's public information and its login endpoints.
    Login,
    /// The logged-in contact's own account and sessions.
    Me,
    /// Forgotten passwords, self-registration, and changes of email address or mobile number.
    Account,
    /// Solutions, service categories and the contact's requests.
    Content,
    /// Administration with an API key.
    Admin,
}

/// The `WWW-Authenticate` challenge of every 401: a bearer token is the only credential.
pub const BEARER: &str = "Bearer";

/// Every error an endpoint answers with, as `application/problem+json`.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request could not be read: malformed JSON, a missing or badly formed parameter.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No valid credentials were given, or the ones given were refused.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(
        Json<Problem>,
        /// Always `Bearer`: the only way credentials are taken.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// The credentials are valid but may not do this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// Nothing here, or nothing these credentials may see.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The change clashes with what is stored, or needs confirming.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is larger than Portico accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The input breaks a rule; `field` names the field at fault.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// Too many attempts; `retry_after_seconds` says when to try again.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait before trying again, as `retry_after_seconds`.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// Something went wrong inside Portico.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The database cannot be reached right now.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        if matches!(error, AppError::Internal(_) | AppError::Unavailable(_)) {
            tracing::error!(error = %error, "API request failed");
        }
        let problem = Json(Problem::of(&error));
        match error {
            AppError::NotFound => Self::NotFound(problem),
            AppError::Invalid { .. } => Self::Invalid(problem),
            AppError::Forbidden | AppError::CsrfRejected => Self::Forbidden(problem),
            AppError::PayloadTooLarge => Self::TooLarge(problem),
            AppError::Unauthenticated => Self::Unauthorized(problem, BEARER.to_owned()),
            AppError::RateLimited { retry_after_secs } => {
                Self::TooManyRequests(problem, retry_after_secs)
            }
            AppError::Conflict(_) => Self::Conflict(problem),
            AppError::Unavailable(_) => Self::Unavailable(problem),
            AppError::Internal(_) => Self::Internal(problem),
        }
    }
}

impl ApiError {
    /// A refusal with its own wording, as a problem of `error`'s kind.
    pub fn with_detail(error: AppError, detail: impl Into<String>) -> Self {
        let mut api_error = Self::from(error);
        let problem = match &mut api_error {
            Self::BadRequest(p)
            | Self::Unauthorized(p, _)
            | Self::Forbidden(p)
            | Self::NotFound(p)
            | Self::Conflict(p)
            | Self::TooLarge(p)
            | Self::UnsupportedMediaType(p)
            | Self::Invalid(p)
            | Self::TooManyRequests(p, _)
            | Self::Internal(p)
            | Self::Unavailable(p) => p,
        };
        problem.0.detail = detail.into();
        api_error
    }
}

/// What every endpoint returns.
pub type ApiResult<T> = Result<T, ApiError>;

/// A contact logged in through the API, with their organization and its login policy.
pub struct SignedIn {
    pub org: Organization,
    pub policy: LoginPolicy,
    pub contact: Contact,
    /// The stored form of the token this request came with.
    pub token_hash: String,
    /// When the session of that token was opened.
    pub session_started: NaiveDateTime,
}

/// A contact's bearer token, from a login endpoint.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    rename = "contact_token",
    bearer_format = "<organization id>.<session token>",
    checker = "contact_from_token"
)]
pub struct ContactAuth(Box<SignedIn>);

/// A contact's bearer token where anonymous visitors are welcome too.
#[derive(SecurityScheme)]
pub enum MaybeContact {
    Contact(ContactAuth),
    #[oai(fallback)]
    Anonymous,
}

/// An API key, made in the admin console or by `portico admin api-key create`.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    rename = "api_key",
    bearer_format = "portico_<key id>_<secret>",
    checker = "key_from_token"
)]
pub struct AdminAuth(ApiKey);

fn app_of(req: &Request) -> Result<Arc<App>, AppError> {
    req.data::<Arc<App>>()
        .cloned()
        .ok_or_else(|| AppError::internal("the API runs without the application"))
}

/// The bearer token handed to a contact for a session token of an organization.
pub fn contact_token(org_id: &OrgId, token: &SecretString) -> SecretString {
    SecretString::new(format!("{}.{}", org_id.simple(), token.expose()))
}

async fn contact_from_token(req: &Request, bearer: Bearer) -> poem::Result<Box<SignedIn>> {
    let app = app_of(req)?;
    let Some((org_part, token)) = bearer.token.split_once('.') else {
        return Err(AppError::Unauthenticated.into());
    };
    let org_id = OrgId::parse(org_part).filter(|_| session::is_token_shaped(token));
    let Some(org_id) = org_id else {
        return Err(AppError::Unauthenticated.into());
    };
    let token_hash = session::token_hash(&SecretString::from(token));
    let db = app.db.clone();
    let found = app
        .db
        .run(move |conn| {
            let Some(org) = orgs::find(conn, &org_id)? else {
                return Ok(None);
            };
            let policy = orgs::policy(conn, &org_id)?;
            let now = Utc::now().naive_utc();
            let idle = policy.session_idle_secs;
            let Some((live, stale)) = sessions::find_live(conn, &org_id, &token_hash, idle, now)?
            else {
                return Ok(None);
            };
            sessions::touch_later(&db, stale, now);
            let contact = accounts::find_contact(conn, &org_id, &live.contact_id)?
                .filter(|c| c.status == ContactStatus::Active);
            Ok(contact.map(|contact| SignedIn {
                org,
                policy,
                contact,
                token_hash,
                session_started: live.created_at,
            }))
        })
        .await?;
    match found {
        Some(signed_in) if signed_in.org.status != OrgStatus::Draft => Ok(Box::new(signed_in)),
        _ => Err(AppError::Unauthenticated.into()),
    }
}

async fn key_from_token(req: &Request, bearer: Bearer) -> poem::Result<ApiKey> {
    let app = app_of(req)?;
    api_keys::authenticate(&app, &bearer.token)
        .await?
        .ok_or_else(|| AppError::Unauthenticated.into())
}

/// Where a request came from, for sessions and the audit log.
pub fn client(req: &Request) -> ClientInfo {
    cookies::client_info(req)
}

/// A stored moment, as the API writes it: UTC with an offset.
pub fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// The spec's description, shown on top of Swagger UI.
const DESCRIPTION: &str = "Everything a contact or an admin does in the browser, for API \
clients. Contacts log in through a portal's login endpoints and send the token they get as \
`Authorization: Bearer <token>`. Admin clients send an API key the same way. Errors are \
`application/problem+json` with a stable `type`.";

/// Every group of endpoints, in the order the spec lists them.
type Endpoints = (
    portal::PortalApi,
    me::MeApi,
    account::AccountApi,
    content::ContentApi,
    attachments::AttachmentApi,
    admin::AdminApi,
    admin_content::AdminContentApi,
);

/// The API with every endpoint, as served and as the spec describes it.
pub fn service() -> OpenApiService<Endpoints, ()> {
    OpenApiService::new(
        (
            portal::PortalApi,
            me::MeApi,
            account::AccountApi,
            content::ContentApi,
            attachments::AttachmentApi,
            admin::AdminApi,
            admin_content::AdminContentApi,
        ),
        "Portico API",
        "1.0.0",
    )
    .description(DESCRIPTION)
    .server("/api/v1")
}

/// The OpenAPI document, as `portico openapi` prints it and `/api/v1/openapi.json` serves it.
pub fn spec() -> String {
    service().spec()
}

/// Adds the API, its spec and its docs to `route`.
pub fn routes(route: Route) -> Route {
    let service = service();
    let spec = service.spec_endpoint();
    let route = docs::routes(route, &service);
    route
        .at("/api/v1/openapi.json", spec)
        .nest("/api/v1", service)
}
