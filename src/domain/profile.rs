//! What contacts change about themselves: their name, time zone and password, and which of
//! their sessions stay open.
//!
//! A new password follows the organization's login policy: at least its minimum length, at
//! most 128 characters (refused before any hashing), and not the organization's name or slug.
//! The current password is asked for first, at the cost of one hash like any other check.
//! Time zones are names from the IANA time zone database (`Europe/Dublin`, `UTC`); pages show
//! times in the contact's own zone ([`local_time`]). Known limit: a wrong current password does
//! not count toward the login lockout (the session already proved the contact).

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::json;

use super::{
    audit::{Actor, AuditEvent},
    contact::Contact,
    org::{LoginPolicy, Organization, PASSWORD_MAX_CHARS},
    password::{self, Verdict},
    session::{ClientInfo, SessionId},
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{accounts, audit, profile as store},
};

/// Longest name, in characters.
const NAME_MAX_CHARS: usize = 100;

/// Checks a name and time zone; returns them trimmed.
pub fn check_details(name: &str, time_zone: &str) -> Result<(String, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(AppError::invalid(
            "name",
            format!("Use 1 to {NAME_MAX_CHARS} characters."),
        ));
    }
    if crate::domain::contact::has_hidden_characters(name) {
        return Err(AppError::invalid(
            "name",
            "Use letters, spaces and punctuation.",
        ));
    }
    let time_zone = time_zone.trim();
    if time_zone.parse::<Tz>().is_err() {
        return Err(AppError::invalid(
            "time_zone",
            "Choose a time zone such as Europe/Dublin or UTC.",
        ));
    }
    Ok((name.to_owned(), time_zone.to_owned()))
}

/// A moment stored in UTC, as a contact in `time_zone` reads it (UTC when the zone is
/// unknown).
pub fn local_time(at: NaiveDateTime, time_zone: &str) -> String {
    let zone = time_zone.parse::<Tz>().unwrap_or(Tz::UTC);
    zone.from_utc_datetime(&at)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Checks a new password against the organization's policy.
pub fn check_new_password(
    policy: &LoginPolicy,
    org: &Organization,
    password: &str,
) -> Result<(), AppError> {
    let length = password.chars().count();
    if length > PASSWORD_MAX_CHARS {
        return Err(AppError::invalid(
            "new_password",
            format!("Passwords are at most {PASSWORD_MAX_CHARS} characters long."),
        ));
    }
    let min = usize::try_from(policy.password_min_length).unwrap_or(usize::MAX);
    if length < min {
        return Err(AppError::invalid(
            "new_password",
            format!("Use at least {min} characters."),
        ));
    }
    let lowered = password.to_lowercase();
    let squeezed: String = lowered.chars().filter(|c| c.is_alphanumeric()).collect();
    let names = [org.name.to_lowercase(), org.slug.to_lowercase()];
    let names_it = names.iter().any(|name| {
        let name_squeezed: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
        !name_squeezed.is_empty() && (lowered.contains(name.as_str()) || squeezed == name_squeezed)
    });
    if names_it {
        return Err(AppError::invalid(
            "new_password",
            "Do not use the organization's name in your password.",
        ));
    }
    Ok(())
}

/// Changes a contact's name and time zone.
pub async fn update_details(
    app: &App,
    contact: &Contact,
    name: &str,
    time_zone: &str,
) -> Result<(), AppError> {
    let (name, time_zone) = check_details(name, time_zone)?;
    let (org_id, contact_id) = (contact.org_id, contact.id);
    app.db
        .run(move |conn| store::update_details(conn, &org_id, &contact_id, &name, &time_zone))
        .await
}

/// A password change as the contact asked for it.
pub struct PasswordChange {
    pub current: SecretString,
    pub new: SecretString,
    /// End every other session of the contact.
    pub end_other_sessions: bool,
}

/// Changes a contact's password after checking the current one; returns how many other
/// sessions ended. `current_token_hash` is the session to keep.
pub async fn change_password(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    contact: &Contact,
    change: PasswordChange,
    current_token_hash: &str,
    client: &ClientInfo,
) -> Result<usize, AppError> {
    if password::is_too_long(change.current.expose()) {
        return Err(AppError::invalid(
            "current_password",
            "That is not your current password.",
        ));
    }
    check_new_password(policy, org, change.new.expose())?;
    let (org_id, contact_id) = (contact.org_id, contact.id);
    let stored = app
        .db
        .run(move |conn| store::password_hash(conn, &org_id, &contact_id))
        .await?;
    let verdict = app.hasher.verify(change.current, stored).await?;
    if verdict == Verdict::Mismatch {
        return Err(AppError::invalid(
            "current_password",
            "That is not your current password.",
        ));
    }
    let hash = app.hasher.hash(change.new).await?;
    let keep = current_token_hash.to_owned();
    let end_others = change.end_other_sessions;
    let client_ip = client.ip.clone();
    app.db
        .transaction(move |conn| {
            accounts::set_contact_password_hash(conn, &org_id, &contact_id, &hash)?;
            let ended = if end_others {
                store::end_other_sessions(conn, &org_id, &contact_id, &keep)?
            } else {
                0
            };
            audit::record(
                conn,
                &AuditEvent {
                    org_id: Some(org_id),
                    actor: Actor::Contact(contact_id.to_string()),
                    kind: "contact.password_changed",
                    detail: json!({ "other_sessions_ended": ended }),
                    client_ip,
                },
            )?;
            Ok(ended)
        })
        .await
}

/// Ends one of the contact's own sessions; another contact's session id is not found.
pub async fn end_session(
    app: &App,
    contact: &Contact,
    session_id: SessionId,
) -> Result<(), AppError> {
    let (org_id, contact_id) = (contact.org_id, contact.id);
    let ended = app
        .db
        .write(move |conn| store::end_session(conn, &org_id, &contact_id, &session_id))
        .await?;
    if ended {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::org::{Branding, OrgId, OrgStatus};

    fn acme() -> Organization {
        Organization {
            id: OrgId::new(),
            slug: "acme".to_owned(),
            name: "Acme Corporation".to_owned(),
            status: OrgStatus::Live,
            branding: Branding {
                accent_color: "#000000".to_owned(),
                welcome_text: String::new(),
                footer_text: String::new(),
            },
        }
    }

    #[test]
    fn new_passwords_follow_the_policy() {
        let policy = LoginPolicy::default();
        let org = acme();
        assert!(check_new_password(&policy, &org, "a long enough passphrase").is_ok());
        assert!(check_new_password(&policy, &org, "too short").is_err());
        assert!(check_new_password(&policy, &org, &"x".repeat(129)).is_err());
        assert!(check_new_password(&policy, &org, "I love Acme Corporation!").is_err());
        assert!(check_new_password(&policy, &org, "ACME-CORPORATION").is_err());
        assert!(check_new_password(&policy, &org, "my acme password is long").is_err());
    }

    #[test]
    fn details_are_checked() {
        assert!(check_details("Dana Whitfield", "America/New_York").is_ok());
        assert!(check_details("", "UTC").is_err());
        assert!(check_details("Dana", "../../etc").is_err());
        assert!(check_details("Dana", "Europe/<b>").is_err());
        assert!(check_details("Dana", "Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn times_are_shown_in_the_contacts_zone() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_opt(16, 30, 0)
            .unwrap();
        assert_eq!(local_time(at, "America/New_York"), "2026-12-04 11:30 EST");
        assert_eq!(local_time(at, "UTC"), "2026-12-04 16:30 UTC");
        assert_eq!(local_time(at, "nowhere"), "2026-12-04 16:30 UTC");
    }
}
