//! Where errors become HTTP: the one mapping from [`AppError`] kinds to statuses, and the
//! friendly error page every browser-facing failure ends in.
//!
//! Internal causes are logged here, once, with the request's id; the page shows only what a
//! visitor may know.

use poem::{Endpoint, IntoResponse, Request, Response, error::ResponseError, http::StatusCode};
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

/// Turns any error a page endpoint returns into the error page.
pub async fn render_error_page<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let app = req.data::<std::sync::Arc<App>>().cloned();
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
