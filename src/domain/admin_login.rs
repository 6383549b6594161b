//! Admin login: proving an admin's password, locking out guessers, and the console's sessions.
//!
//! Like contact login, every attempt costs one full hash whatever the email, and every refusal
//! reads the same. Admin sessions are their own: 15 minutes idle, 8 hours at most, and a
//! policy change needs a password proof no older than 10 minutes ([`needs_reproof`]).
//! Attempts are audited without an organization (`admin.login.succeeded` / `.failed`).
//! Known limit: platform operators cannot yet require a one-time code as a second factor; that
//! waits for the codes of issue #3.

use chrono::{Duration, NaiveDateTime, Utc};
use serde_json::json;

use super::{
    admin::{Admin, AdminId},
    audit::{Actor, AuditEvent},
    contact::normalize_email,
    login,
    password::{self, Verdict},
    session::{self, ClientInfo},
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{accounts::Admission, admins, audit},
};

/// An admin session ends after this long without a request.
pub const IDLE_SECS: i64 = 15 * 60;
/// An admin session ends this long after login, however busy.
pub const ABSOLUTE_SECS: i64 = 8 * 60 * 60;
/// A login policy change needs a password proof at most this old.
pub const REPROOF_SECS: i64 = 10 * 60;
/// Wrong passwords within [`LOCKOUT_WINDOW_SECS`] that lock an admin out.
pub const LOCKOUT_THRESHOLD: u32 = 5;
pub const LOCKOUT_WINDOW_SECS: i64 = 15 * 60;
pub const LOCKOUT_SECS: i64 = 15 * 60;

/// A logged-in admin, as the console sees each request.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub admin: Admin,
    pub session_id: String,
    pub proved_at: NaiveDateTime,
}

/// Checks an admin's email and password; returns the admin when both are right and the admin
/// is active and not locked out.
pub async fn prove(
    app: &App,
    email: &str,
    password: SecretString,
    client: &ClientInfo,
) -> Result<Option<Admin>, AppError> {
    let found = match normalize_email(email) {
        Ok(email) => {
            app.db
                .run(move |conn| admins::find_by_email(conn, &email))
                .await?
        }
        Err(_) => None,
    };
    let now = Utc::now().naive_utc();
    let usable = found.as_ref().filter(|f| {
        f.active
            && f.locked_until.is_none_or(|until| until <= now)
            && !password.expose().is_empty()
            && !password::is_too_long(password.expose())
    });
    let usable = match usable {
        Some(found) if login::wait_for_place(|| admit(app, &found.admin.id)).await? => Some(found),
        _ => None,
    };
    let stored = usable.map(|f| f.password_hash.clone());
    let matched = matches!(
        app.hasher.verify(password, stored).await?,
        Verdict::Match { .. }
    );
    let reason = match (&found, usable, matched) {
        (None, _, _) => "unknown_identifier",
        (Some(_), None, _) => "locked_or_disabled",
        (Some(_), Some(_), false) => "wrong_password",
        (Some(_), Some(_), true) => "",
    };
    record(app, found.as_ref().map(|f| f.admin.clone()), reason, client).await?;
    Ok(found.filter(|_| matched).map(|f| f.admin))
}

/// Counts the attempt against the admin before the hash is checked, when the lockout
/// allowance has room (see [`admins::admit_attempt`]).
async fn admit(app: &App, admin_id: &AdminId) -> Result<Admission, AppError> {
    let admin_id = *admin_id;
    let now = Utc::now().naive_utc();
    app.db
        .transaction(move |conn| {
            admins::admit_attempt(conn, &admin_id, now, LOCKOUT_THRESHOLD, LOCKOUT_WINDOW_SECS)
        })
        .await
}

async fn record(
    app: &App,
    admin: Option<Admin>,
    reason: &'static str,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let succeeded = reason.is_empty();
    let event = AuditEvent {
        org_id: None,
        actor: admin
            .as_ref()
            .map_or(Actor::Anonymous, |a| Actor::Admin(a.id.to_string())),
        kind: if succeeded {
            "admin.login.succeeded"
        } else {
            "admin.login.failed"
        },
        detail: json!({ "method": "password", "reason": (!succeeded).then_some(reason) }),
        client_ip: client.ip.clone(),
    };
    app.db
        .transaction(move |conn| {
            if let Some(admin) = &admin {
                let now = Utc::now().naive_utc();
                if succeeded {
                    admins::clear_failures(conn, &admin.id)?;
                } else if reason == "wrong_password"
                    && admins::lock_when_spent(
                        conn,
                        &admin.id,
                        now,
                        LOCKOUT_THRESHOLD,
                        LOCKOUT_SECS,
                    )?
                {
                    tracing::warn!(admin.id = %admin.id, "admin locked out");
                }
            }
            audit::record(conn, &event)
        })
        .await
}

/// Opens a session for a proven admin and returns its token, to be handed out once.
pub async fn open_session(
    app: &App,
    admin: &Admin,
    client: &ClientInfo,
) -> Result<SecretString, AppError> {
    let token = session::new_token();
    let token_hash = session::token_hash(&token);
    let now = Utc::now().naive_utc();
    let expires_at = now + Duration::seconds(ABSOLUTE_SECS);
    let (admin_id, client) = (admin.id, client.clone());
    app.db
        .run(move |conn| {
            admins::insert_session(conn, &admin_id, &token_hash, now, expires_at, &client)
        })
        .await?;
    Ok(token)
}

/// The live session for this token, with its admin; `None` when expired, idle too long, or
/// its admin is disabled.
pub async fn find_session(
    app: &App,
    token: &SecretString,
) -> Result<Option<AdminSession>, AppError> {
    let token_hash = session::token_hash(token);
    let db = app.db.clone();
    app.db
        .run(move |conn| {
            let now = Utc::now().naive_utc();
            let Some(record) = admins::find_live_session(conn, &token_hash, IDLE_SECS, now)? else {
                return Ok(None);
            };
            let session_id = record.id.clone();
            db.write_later(move |conn| admins::touch_session(conn, &session_id, now));
            let Some(found) = admins::find(conn, &record.admin_id)? else {
                return Ok(None);
            };
            Ok(found.active.then_some(AdminSession {
                admin: found.admin,
                session_id: record.id,
                proved_at: record.proved_at,
            }))
        })
        .await
}

/// Ends the session with this token.
pub async fn end_session(app: &App, token: &SecretString) -> Result<(), AppError> {
    let token_hash = session::token_hash(token);
    app.db
        .write(move |conn| admins::delete_session(conn, &token_hash))
        .await
}

/// Whether the last password proof is too old for a login policy change at `now`.
pub fn needs_reproof(proved_at: NaiveDateTime, now: NaiveDateTime) -> bool {
    now - proved_at > Duration::seconds(REPROOF_SECS)
}

/// Checks the logged-in admin's password again and, when right, renews the session's proof.
/// Wrong passwords count toward the admin's lockout like at login.
pub async fn reprove(
    app: &App,
    session: &AdminSession,
    password: SecretString,
    client: &ClientInfo,
) -> Result<bool, AppError> {
    let proven = prove(app, &session.admin.email, password, client).await?;
    if proven.is_none() {
        return Ok(false);
    }
    let session_id = session.session_id.clone();
    app.db
        .run(move |conn| admins::mark_proved(conn, &session_id, Utc::now().naive_utc()))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_lasts_ten_minutes() {
        let now = Utc::now().naive_utc();
        assert!(!needs_reproof(now - Duration::minutes(9), now));
        assert!(needs_reproof(now - Duration::minutes(11), now));
    }
}
