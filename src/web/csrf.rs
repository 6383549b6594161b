//! Protection of every form against cross-site request forgery, the login forms included.
//!
//! Each browser gets a random `portico_csrf` cookie (HttpOnly, SameSite=Lax). Forms carry a
//! hidden `csrf` field holding a keyed hash of that cookie, so a forged form from another
//! site can neither read nor compute the value. The check is constant-time.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::web::cookie::CookieJar;

use super::cookies;
use crate::{App, AppError, domain::session};

const PURPOSE: &str = "csrf";

/// The token to put into a form's `csrf` field; sets the browser's CSRF cookie when missing.
pub fn token(app: &App, jar: &CookieJar) -> String {
    let name = cookies::csrf_name(app);
    let value = match jar.get(&name) {
        Some(cookie) if session::is_token_shaped(cookie.value_str()) => {
            cookie.value_str().to_owned()
        }
        _ => {
            let fresh = session::new_token().expose().clone();
            jar.add(cookies::build(app, &name, &fresh, cookies::SameSite::Lax));
            fresh
        }
    };
    URL_SAFE_NO_PAD.encode(app.signer.mac(PURPOSE, &[value.as_bytes()]))
}

/// Checks a submitted form token against the browser's CSRF cookie.
pub fn verify(app: &App, jar: &CookieJar, submitted: &str) -> Result<(), AppError> {
    let cookie = jar
        .get(&cookies::csrf_name(app))
        .ok_or(AppError::CsrfRejected)?;
    let mac = URL_SAFE_NO_PAD
        .decode(submitted)
        .map_err(|_| AppError::CsrfRejected)?;
    if app
        .signer
        .verify_mac(PURPOSE, &[cookie.value_str().as_bytes()], &mac)
    {
        Ok(())
    } else {
        Err(AppError::CsrfRejected)
    }
}
