//! `/metrics`: the instance's figures in the Prometheus text format.
//!
//! The figures say how many logins fail per organization and how the gateways fare, which is
//! not for everyone's eyes. With `PORTICO_METRICS_TOKEN` set, a scraper must send it as a
//! bearer token; without it, only clients on the loopback address are answered (say, a
//! Prometheus agent beside the server). Anyone else gets the plain 404 of an unknown page.

use std::sync::Arc;

use poem::{
    Request, Response, handler,
    http::{StatusCode, header},
    web::Data,
};
use subtle::ConstantTimeEq;

use crate::{App, AppError, storage::outbox, web::cookies::ClientAddr};

#[handler]
pub async fn metrics(req: &Request, Data(app): Data<&Arc<App>>) -> poem::Result<Response> {
    if !allowed(req, app) {
        return Err(AppError::NotFound.into());
    }
    let pending = app.db.run(outbox::pending_count).await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(app.metrics.render(pending)))
}

/// Whether the request may read the figures: the configured bearer token, or, with none
/// configured, a loopback client.
fn allowed(req: &Request, app: &App) -> bool {
    match &app.config.metrics_token {
        Some(token) => {
            let sent = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .unwrap_or_default();
            bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes()))
        }
        None => req
            .extensions()
            .get::<ClientAddr>()
            .is_some_and(|ClientAddr(ip)| ip.is_loopback()),
    }
}
