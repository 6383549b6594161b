//! The HTTP surface: the common login page, the organizations' portals, the admin console,
//! the API under `/api/v1` with its docs, static assets and health checks, behind middleware that every response passes through.
//!
//! Middleware, outermost first: the request log (one line per request with its id, method,
//! path, status and time; never a query string, body, cookie or address), the client's
//! address (believing `X-Forwarded-For` only from trusted proxies), security headers, the
//! error page, the request time limit (reading the body included, so a client that trickles
//! its body in holds a connection for no longer than that), the body size limit, the mapping of organizations' own host names to their
//! portals, and the cookie jar. Handlers parse input, call the domain and
//! render a page; they hold no SQL.
//!
//! A connection that sends nothing for the request time limit plus five seconds is closed.
//! Known limit: once a client has sent part of a request's headers, nothing bounds how long
//! it may take to send the rest (the server's connection handling waits for the request it
//! has begun), so a client that stops halfway through its headers holds its connection. A
//! reverse proxy in front of Portico is the place to bound header reading.

pub mod admin;
pub mod api;
pub mod assets;
pub mod code_login;
pub mod common;
pub mod cookies;
pub mod csrf;
pub mod errors;
pub mod health;
pub mod hosts;
pub mod metrics;
pub mod pages;
pub mod password_reset;
pub mod portal;
pub mod profile;
pub mod registration;
pub mod requests;
pub mod solutions;

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route,
    http::{HeaderValue, Method, StatusCode, header},
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::CookieJarManager,
};
use uuid::Uuid;

use crate::{App, AppError};

/// The id of one request, in its log line and its `x-request-id` header.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub Uuid);

/// Every route of Portico, with its middleware.
pub fn routes(app: Arc<App>) -> impl Endpoint {
    let max_body = app.config.max_body_bytes;
    let time_limit = std::time::Duration::from_secs(app.config.request_timeout_secs);
    let timed_app = app.clone();
    let https = app.config.is_https();
    let proxies = Arc::new(app.config.trusted_proxies.clone());
    let host_map = Arc::new(hosts::HostMap::default());
    let public_host = Arc::new(hosts::public_host(&app.config.public_url));
    let mapping_app = app.clone();
    let route = Route::new()
        .at("/", poem::get(common::page).post(common::submit_login))
        .at("/choose", poem::post(common::choose))
        .at(
            "/code",
            poem::get(common::code_page).post(common::request_code),
        )
        .at("/code/verify", poem::post(common::verify_code))
        .at(
            "/password/forgot",
            poem::get(common::forgot_page).post(common::request_reset),
        )
        .at("/healthz", poem::get(health::healthz))
        .at("/readyz", poem::get(health::readyz))
        .at("/metrics", poem::get(metrics::metrics))
        .at("/static/*path", poem::get(assets::file));
    let route = admin::routes(route);
    let route = api::routes(route);
    let route = profile::routes(solutions::routes(requests::routes(portal::routes(route))));
    let route = registration::routes(password_reset::routes(route));
    code_login::routes(route)
        .with(CookieJarManager::new())
        .around(cookies::only_readable)
        .around(move |next, req| {
            let (app, map, public) = (mapping_app.clone(), host_map.clone(), public_host.clone());
            hosts::route_mapped_host(next, req, app, map, public)
        })
        .around(move |next, req| limit_body(next, req, max_body))
        .around(move |next, req| limit_time(next, req, time_limit))
        .around(errors::render_error_page)
        .around(move |next, req| security_headers(next, req, https))
        .around(move |next, req| client_address(next, req, proxies.clone()))
        .around(move |next, req| log_request(next, req, timed_app.clone()))
        .data(app)
}

/// Binds `addr` and returns the acceptor, so callers (tests) can learn the port.
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpAcceptor> {
    TcpListener::bind(addr).into_acceptor().await
}

/// Serves until `shutdown` resolves, with the delivery worker running beside the server.
pub async fn serve(
    app: Arc<App>,
    acceptor: TcpAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let local = acceptor.local_addr();
    if let Some(addr) = local.first().and_then(|a| a.as_socket_addr()) {
        tracing::info!(%addr, "listening");
    }
    let worker = tokio::spawn(crate::domain::delivery::run_worker(app.clone()));
    // A connection that sends nothing is closed a little after the request time limit, which
    // only starts once a request's headers are in.
    let silence = std::time::Duration::from_secs(app.config.request_timeout_secs + 5);
    let served = poem::Server::new_with_acceptor(acceptor)
        .idle_timeout(silence)
        .run_with_graceful_shutdown(
            routes(app),
            shutdown,
            Some(std::time::Duration::from_secs(10)),
        )
        .await;
    worker.abort();
    served
}

async fn log_request<E: Endpoint>(
    next: E,
    mut req: Request,
    app: Arc<App>,
) -> poem::Result<Response> {
    let id = RequestId(Uuid::new_v4());
    req.extensions_mut().insert(id);
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    app.metrics.request(elapsed);
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    tracing::info!(
        request.id = %id.0,
        http.method = %method,
        http.path = %path,
        http.status = status,
        elapsed_ms = format_args!("{elapsed_ms:.1}"),
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id.0.to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    Ok(response)
}

/// Works out the client's address once per request: the connection's peer, or, when the peer
/// is a trusted proxy, the nearest address in `X-Forwarded-For` that is not one.
async fn client_address<E: Endpoint>(
    next: E,
    mut req: Request,
    proxies: Arc<Vec<std::net::IpAddr>>,
) -> poem::Result<Response> {
    let peer = req.remote_addr().as_socket_addr().map(|addr| addr.ip());
    if let Some(peer) = peer {
        let client = if proxies.contains(&peer) {
            forwarded_client(&req, &proxies).unwrap_or(peer)
        } else {
            peer
        };
        req.extensions_mut().insert(cookies::ClientAddr(client));
    }
    next.call(req).await.map(IntoResponse::into_response)
}

fn forwarded_client(req: &Request, proxies: &[std::net::IpAddr]) -> Option<std::net::IpAddr> {
    let chain: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    chain.into_iter().rev().find(|ip| !proxies.contains(ip))
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers<E: Endpoint>(
    next: E,
    req: Request,
    https: bool,
) -> poem::Result<Response> {
    let path = req.uri().path();
    let is_asset =
        path.starts_with("/static/") || path.starts_with("/api/docs/") || is_portal_asset(path);
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    let fixed = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// `/portal/{slug}/theme.css` and `/portal/{slug}/logo`: public, so they may be cached.
fn is_portal_asset(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/portal/") else {
        return false;
    };
    matches!(rest.split_once('/'), Some((slug, "theme.css" | "logo")) if !slug.is_empty())
}

/// Refuses bodies over `max` bytes, whether or not they announce their length, before any
/// handler reads them.
async fn limit_body<E: Endpoint>(next: E, mut req: Request, max: usize) -> poem::Result<Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok());
    if announced.is_some_and(|length| length > max) {
        return Err(AppError::PayloadTooLarge.into());
    }
    let body = req
        .take_body()
        .into_bytes_limit(max)
        .await
        .map_err(|_| poem::Error::from(AppError::PayloadTooLarge))?;
    req.set_body(body);
    next.call(req).await.map(IntoResponse::into_response)
}

/// Answers 503 when the request, reading its body included, takes longer than `limit`.
async fn limit_time<E: Endpoint>(
    next: E,
    req: Request,
    limit: std::time::Duration,
) -> poem::Result<Response> {
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(answer) => answer.map(IntoResponse::into_response),
        Err(_) => {
            tracing::warn!(limit_secs = limit.as_secs(), "a request ran out of time");
            Err(AppError::Unavailable("the request took too long".to_owned()).into())
        }
    }
}

/// A redirect after a form post (303, so the browser follows with GET).
pub fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .finish()
}
