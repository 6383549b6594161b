//! Cookie names and flags.
//!
//! Each organization's portal has its own session cookie, so one person can be logged in to
//! two portals at once and a session of one is never even sent as the other's. When Portico is
//! reached over https every cookie is `Secure` and carries the `__Host-` prefix, which pins it
//! to this host and path `/`.

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, header},
    web::cookie::Cookie,
};

pub use poem::web::cookie::SameSite;

use crate::{App, domain::session::ClientInfo};

fn prefixed(app: &App, name: &str) -> String {
    if app.config.is_https() {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// The session cookie of one organization's portal.
pub fn session_name(app: &App, slug: &str) -> String {
    prefixed(app, &format!("portico_session_{slug}"))
}

/// The CSRF cookie.
pub fn csrf_name(app: &App) -> String {
    prefixed(app, "portico_csrf")
}

/// The cookie holding the signed list of portals a common-page login proved.
pub fn choice_name(app: &App) -> String {
    prefixed(app, "portico_choice")
}

/// A cookie with Portico's flags: HttpOnly, path `/`, Secure over https.
pub fn build(app: &App, name: &str, value: &str, same_site: SameSite) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_path("/");
    cookie.set_same_site(same_site);
    cookie.set_secure(app.config.is_https());
    cookie
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(app: &App, name: &str) -> Cookie {
    let mut cookie = build(app, name, "", SameSite::Lax);
    cookie.make_removal();
    cookie
}

/// The client's address as the middleware worked it out (see `web::client_address`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Where a request comes from, for session records, limits and the audit log. The user agent
/// is cut to a sane length.
pub fn client_info(req: &Request) -> ClientInfo {
    let ip = match req.extensions().get::<ClientAddr>() {
        Some(ClientAddr(ip)) => ip.to_string(),
        None => req
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip().to_string())
            .unwrap_or_default(),
    };
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    ClientInfo { ip, user_agent }
}

/// Drops from the request's `Cookie` headers every cookie that is not plain printable ASCII,
/// before the cookie jar reads them: the jar reads nothing at all of a header holding any other
/// byte. A cookie with an accented value, set by another site of the same domain, would
/// otherwise hide Portico's own cookies, and every form would fail its CSRF check.
pub async fn only_readable<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let headers = req.headers();
    if headers
        .get_all(header::COOKIE)
        .iter()
        .any(|value| value.to_str().is_err())
    {
        let kept: Vec<String> = headers
            .get_all(header::COOKIE)
            .iter()
            .flat_map(|value| value.as_bytes().split(|byte| *byte == b';'))
            .filter(|pair| pair.iter().all(|byte| (b' '..=b'~').contains(byte)))
            .filter_map(|pair| std::str::from_utf8(pair).ok())
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(str::to_owned)
            .collect();
        let headers = req.headers_mut();
        headers.remove(header::COOKIE);
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
    Ok(next.call(req).await?.into_response())
}
