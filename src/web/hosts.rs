//! Host names mapped straight to a portal.
//!
//! An organization may list host names in its Customer Portal Settings (say
//! `help.acme.example`). A request that arrives under such a name is served by that
//! organization's portal as if its path began with `/portal/{slug}`: `/` is the portal's home,
//! `/login` its login page. Static assets, health checks and the API keep their own paths.
//! Under a mapped name only that one portal answers: another organization's portal and the
//! admin console are not found there, so one organization's address never frames another's
//! pages.
//!
//! The map is read from the database at most once per [`REFRESH`], whatever Host headers
//! arrive, so a flood of invented names costs no queries; a saved change is followed within
//! that time on every instance.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{StatusCode, Uri, header},
};

use crate::{App, AppError, storage::portal_settings};

/// How long a read of the host map is trusted.
pub const REFRESH: Duration = Duration::from_secs(5);

/// Paths every host serves as they are.
const SHARED_PREFIXES: [&str; 3] = ["/static/", "/api/", "/metrics"];
const SHARED_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Host name → slug.
type Hosts = Arc<HashMap<String, String>>;

/// The host map as last read, and when.
#[derive(Default)]
pub struct HostMap {
    read: RwLock<Option<(Instant, Hosts)>>,
}

impl HostMap {
    /// The slug of the portal mapped to `host`, if any.
    async fn portal_for(&self, app: &App, host: &str) -> Option<String> {
        let map = self.current(app).await?;
        map.get(host).cloned()
    }

    async fn current(&self, app: &App) -> Option<Hosts> {
        if let Some((at, map)) = self.read.read().ok()?.as_ref()
            && at.elapsed() < REFRESH
        {
            return Some(map.clone());
        }
        // Mark the read as fresh before querying, so concurrent requests keep the old map
        // instead of all asking the database at once.
        let stale = {
            let mut guard = self.read.write().ok()?;
            let stale = guard.as_ref().map(|(_, map)| map.clone());
            *guard = Some((Instant::now(), stale.clone().unwrap_or_default()));
            stale
        };
        match app.db.run(portal_settings::mapped_hosts).await {
            Ok(rows) => {
                let map = Arc::new(host_map(rows));
                *self.read.write().ok()? = Some((Instant::now(), map.clone()));
                Some(map)
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the mapped host names");
                stale
            }
        }
    }
}

fn host_map(rows: Vec<(String, String)>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (slug, hosts) in rows {
        for host in hosts.split('\n').filter(|host| !host.is_empty()) {
            map.insert(host.to_owned(), slug.clone());
        }
    }
    map
}

/// The host a request names, lowercased and without its port.
fn request_host(req: &Request) -> Option<String> {
    let value = req.headers().get(header::HOST)?.to_str().ok()?;
    let host = match value.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None => value.split(':').next()?,
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// The host of Portico's own public URL.
pub fn public_host(public_url: &str) -> String {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(inner) => inner.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.to_ascii_lowercase()
}

/// Where a path under a host mapped to `slug` is served: `Some(path)` to serve, `None` when
/// that host does not serve it.
fn mapped_path(slug: &str, path: &str) -> Option<String> {
    if SHARED_PATHS.contains(&path) || SHARED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Some(path.to_owned());
    }
    let own = format!("/portal/{slug}");
    if path == own || path.starts_with(&format!("{own}/")) {
        return Some(path.to_owned());
    }
    if path.starts_with("/portal/") || path == "/admin" || path.starts_with("/admin/") {
        return None;
    }
    Some(format!("{own}{path}"))
}

/// Middleware: serves mapped host names as their portal.
pub async fn route_mapped_host<E: Endpoint>(
    next: E,
    mut req: Request,
    app: Arc<App>,
    hosts: Arc<HostMap>,
    public: Arc<String>,
) -> poem::Result<Response> {
    let Some(host) = request_host(&req).filter(|host| host != public.as_str()) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let Some(slug) = hosts.portal_for(&app, &host).await else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let Some(path) = mapped_path(&slug, req.uri().path()) else {
        return Err(AppError::NotFound.into());
    };
    let target = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let uri: Uri = target
        .parse()
        .map_err(|_| poem::Error::from_status(StatusCode::BAD_REQUEST))?;
    *req.uri_mut() = uri;
    next.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_hosts_serve_their_own_portal_only() {
        assert_eq!(mapped_path("acme", "/").as_deref(), Some("/portal/acme/"));
        assert_eq!(
            mapped_path("acme", "/login").as_deref(),
            Some("/portal/acme/login")
        );
        assert_eq!(
            mapped_path("acme", "/portal/acme/requests").as_deref(),
            Some("/portal/acme/requests")
        );
        assert_eq!(
            mapped_path("acme", "/static/portico.css").as_deref(),
            Some("/static/portico.css")
        );
        assert_eq!(mapped_path("acme", "/portal/globex/"), None);
        assert_eq!(mapped_path("acme", "/portal/acme-two/"), None);
        assert_eq!(mapped_path("acme", "/admin/"), None);
        assert_eq!(
            mapped_path("acme", "/administrator").as_deref(),
            Some("/portal/acme/administrator")
        );
    }

    #[test]
    fn public_hosts_are_read_from_urls() {
        assert_eq!(public_host("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(public_host("https://Help.Example/base"), "help.example");
        assert_eq!(public_host("http://[::1]:8080"), "::1");
    }
}
