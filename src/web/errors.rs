//! Where errors become HTTP: the one mapping from [`AppError`] kinds to statuses, the
//! friendly error page every browser-facing failure ends in, and the `application/problem+json`
//! document every failure under `/api/` ends in instead ([`Problem`]).
//!
//! Internal causes are logged here, once, with the request's id; the page or problem shows only
//! what a visitor may know. A problem's `type` is a stable `urn:portico:problem:<kind>`, where
//! the kind is [`AppError::kind`] or, for failures poem finds before any handler runs (malformed
//! JSON, a wrong content type, an unknown route, a wrong method), one named after the status.

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::ResponseError,
    http::{StatusCode, header},
};
use serde::Serialize;

use super::RequestId;
use crate::{App, AppError};

impl ResponseError for AppError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Forbidden | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Serialize)]
struct ErrorView {
    status: u16,
    title: &'static str,
    message: String,
    request_id: String,
    /// Where the page's button leads: the console's login for console pages.
    start_link: &'static str,
}

/// The media type of every API error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An API error as `application/problem+json` carries it (RFC 9457).
#[derive(Debug, Clone, Serialize, poem_openapi::Object)]
pub struct Problem {
    /// A stable identifier of the kind of problem, such as `urn:portico:problem:not-found`.
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The input field at fault, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// How long to wait before trying again, for too many attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub retry_after_seconds: Option<u64>,
}

impl Problem {
    fn new(kind: &str, title: &str, status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:portico:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after_seconds: None,
        }
    }

    /// The problem an [`AppError`] is, saying nothing of its internal cause.
    pub fn of(error: &AppError) -> Self {
        let status = error.status();
        let kind = error.kind();
        match error {
            AppError::NotFound => Self::new(kind, "Not found", status, "There is nothing here."),
            AppError::Invalid { field, message } => Self {
                field: field.map(str::to_owned),
                ..Self::new(kind, "Invalid input", status, message.clone())
            },
            AppError::Forbidden => Self::new(
                kind,
                "Not allowed",
                status,
                "These credentials may not do this here.",
            ),
            AppError::CsrfRejected => Self::new(
                kind,
                "Form expired",
                status,
                "The form's security token is missing or wrong.",
            ),
            AppError::PayloadTooLarge => Self::new(
                kind,
                "Body too large",
                status,
                "The request body is larger than Portico accepts.",
            ),
            AppError::Unauthenticated => Self::new(
                kind,
                "Authentication needed",
                status,
                "Send a valid bearer token in the Authorization header.",
            ),
            AppError::RateLimited { retry_after_secs } => Self {
                retry_after_seconds: Some(*retry_after_secs),
                ..Self::new(
                    kind,
                    "Too many attempts",
                    status,
                    format!("Try again in {retry_after_secs} seconds."),
                )
            },
            AppError::Conflict(_) => Self::new(
                kind,
                "Conflict",
                status,
                "That clashes with something already stored.",
            ),
            AppError::Unavailable(_) => Self::new(
                kind,
                "Temporarily unavailable",
                status,
                "Portico cannot reach its database right now. Try again in a moment.",
            ),
            AppError::Internal(_) => Self::new(
                kind,
                "Internal error",
                status,
                "Portico could not finish this request.",
            ),
        }
    }

    /// The problem for a failure poem found before any handler ran, by its status.
    fn of_status(status: StatusCode, detail: String) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::new("bad-request", "Bad request", status, detail),
            StatusCode::NOT_FOUND => {
                Self::new("not-found", "Not found", status, "There is nothing here.")
            }
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                "method-not-allowed",
                "Method not allowed",
                status,
                "This address does not take that method.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                "unsupported-media-type",
                "Unsupported media type",
                status,
                "Send the body as application/json.",
            ),
            StatusCode::UNAUTHORIZED => Self::of(&AppError::Unauthenticated),
            StatusCode::PAYLOAD_TOO_LARGE => Self::of(&AppError::PayloadTooLarge),
            s if s.is_server_error() => Self::of(&AppError::internal("")),
            s => Self::new("http-error", "Request refused", s, detail),
        }
    }

    /// The problem as a response: a 401 challenges for a bearer token, and a 429 says when to
    /// try again in `Retry-After` too.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::to_string(&self).unwrap_or_default();
        let mut response = Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON);
        if status == StatusCode::UNAUTHORIZED {
            response = response.header(header::WWW_AUTHENTICATE, "Bearer");
        }
        if let Some(seconds) = self.retry_after_seconds {
            response = response.header(header::RETRY_AFTER, seconds.to_string());
        }
        response.body(body)
    }
}

/// A page refusing a request that comes too soon, with `Retry-After` saying in how many
/// seconds to try again, as every 429 of the API says it.
pub fn after_wait(page: poem::Result<Response>, retry_after_secs: u64) -> poem::Result<Response> {
    page.map(|mut response| {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after_secs.into());
        response
    })
}

/// Turns any error under `/api/` into a problem document, keeping one an API handler already
/// made.
fn problem_response(error: poem::Error, request_id: &str) -> Response {
    if let Some(app_error) = error.downcast_ref::<AppError>() {
        if matches!(app_error, AppError::Internal(_) | AppError::Unavailable(_)) {
            tracing::error!(request.id = %request_id, error = %app_error, "request failed");
        }
        return Problem::of(app_error).into_response();
    }
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(request.id = %request_id, error = %error, "request failed");
    }
    let detail = error.to_string();
    let response = error.into_response();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return response;
    }
    Problem::of_status(status, detail).into_response()
}

/// Turns any error a page endpoint returns into the error page, or into a problem document
/// under `/api/`.
pub async fn render_error_page<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let app = req.data::<std::sync::Arc<App>>().cloned();
    let is_api = req.uri().path().starts_with("/api/");
    let start_link = if req.uri().path().starts_with("/admin") {
        "/admin/"
    } else {
        "/"
    };
    let request_id = req
        .data::<RequestId>()
        .map(|id| id.0.to_string())
        .unwrap_or_default();
    let error = match next.call(req).await {
        Ok(response) => return Ok(response.into_response()),
        Err(error) => error,
    };
    if is_api {
        return Ok(problem_response(error, &request_id));
    }
    let status = error.status();
    let (title, message) = describe(&error, status);
    if let Some(app_error) = error.downcast_ref::<AppError>() {
        if matches!(app_error, AppError::Internal(_) | AppError::Unavailable(_)) {
            tracing::error!(request.id = %request_id, error = %app_error, "request failed");
        }
    } else if status.is_server_error() {
        tracing::error!(request.id = %request_id, error = %error, "request failed");
    }
    let view = ErrorView {
        status: status.as_u16(),
        title,
        message,
        request_id,
        start_link,
    };
    let page = app.and_then(|app| app.pages.render("portal/error", &view).ok());
    Ok(match page {
        Some(html) => html.with_status(status).into_response(),
        None => Response::builder().status(status).body(title),
    })
}

fn describe(error: &poem::Error, status: StatusCode) -> (&'static str, String) {
    if let Some(AppError::Invalid { message, .. }) = error.downcast_ref::<AppError>() {
        return ("That did not work", message.clone());
    }
    if let Some(AppError::CsrfRejected) = error.downcast_ref::<AppError>() {
        return (
            "This form has expired",
            "Go back, reload the page and try again.".to_owned(),
        );
    }
    match status {
        StatusCode::NOT_FOUND => (
            "Page not found",
            "There is no page at this address. Check the link, or start from the login page."
                .to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Too much data",
            "What you sent is larger than Portico accepts. Send less at a time, or a smaller file."
                .to_owned(),
        ),
        StatusCode::UNAUTHORIZED => (
            "Please log in",
            "This page needs you to be logged in. Your session may have ended.".to_owned(),
        ),
        StatusCode::FORBIDDEN => ("Not allowed", "Your account may not do this.".to_owned()),
        StatusCode::CONFLICT => (
            "Already there",
            "That clashes with something already stored. Reload the page and check.".to_owned(),
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            "Too many attempts",
            "Please wait a little before trying again.".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Not allowed",
            "This page cannot be used that way.".to_owned(),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "Temporarily unavailable",
            "Portico cannot reach its database right now. Please try again in a moment.".to_owned(),
        ),
        s if s.is_server_error() => (
            "Something went wrong",
            "Portico could not finish this request. Please try again.".to_owned(),
        ),
        _ => (
            "That did not work",
            "The request could not be understood.".to_owned(),
        ),
    }
}
