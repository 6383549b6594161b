//! The contact directory as admins keep it: the details of a contact they add or edit, the
//! rules for a password they set, and contacts imported from CSV; and the changes themselves
//! ([`add`], [`change_details`], [`set_password`], [`clear_password`], [`act`]), which the
//! console and the admin API both call. Each change is written with its audit events in one
//! transaction, and an email or mobile number another contact of the organization has is
//! refused there (a conflict whose text is safe to show).
//!
//! An import is all or nothing: [`parse_import`] reads every row and says, row by row, what it
//! accepted and what it refused and why; the console stores the rows only when none was
//! refused. Rows that clash with contacts already stored are refused by the console, which
//! knows them.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::json;

use super::{
    audit::{AuditEvent, Origin},
    contact::{ContactId, ContactStatus, normalize_email, normalize_mobile},
    org::{LoginPolicy, OrgId, Organization, PASSWORD_MAX_CHARS},
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{audit, directory as store, orgs as org_store, sessions},
};

const NAME_MAX_CHARS: usize = 200;

/// The largest import accepted, in rows.
pub const IMPORT_MAX_ROWS: usize = 5000;

/// A contact's details as an admin typed them, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactDetails {
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

/// Checks and normalizes typed details; returns each broken rule with its field.
pub fn check_details(
    name: &str,
    email: &str,
    mobile: &str,
    region: &str,
) -> Result<ContactDetails, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        errors.push(("name", format!("Use 1 to {NAME_MAX_CHARS} characters.")));
    } else if crate::domain::contact::has_hidden_characters(name) {
        errors.push((
            "name",
            "Use letters, spaces and punctuation, without invisible characters.".to_owned(),
        ));
    }
    let email = match email.trim() {
        "" => None,
        text => match normalize_email(text) {
            Ok(email) => Some(email),
            Err(_) => {
                errors.push(("email", "That is not an email address.".to_owned()));
                None
            }
        },
    };
    let mobile = match mobile.trim() {
        "" => None,
        text => match normalize_mobile(text, region) {
            Ok(mobile) => Some(mobile),
            Err(_) => {
                errors.push((
                    "mobile",
                    "That is not a mobile number, such as +1 555 010 0001.".to_owned(),
                ));
                None
            }
        },
    };
    if errors.is_empty() && email.is_none() && mobile.is_none() {
        errors.push((
            "email",
            "Give an email address, a mobile number, or both.".to_owned(),
        ));
    }
    if errors.is_empty() {
        Ok(ContactDetails {
            name: name.to_owned(),
            email,
            mobile,
        })
    } else {
        Err(errors)
    }
}

/// Checks a password an admin sets for a contact: at least the policy's minimum, at most
/// [`PASSWORD_MAX_CHARS`], and not the organization's own name or slug.
pub fn check_password(
    password: &str,
    policy: &LoginPolicy,
    org: &Organization,
) -> Result<(), AppError> {
    let length = password.chars().count();
    let min = usize::try_from(policy.password_min_length).unwrap_or(usize::MAX);
    if length < min || length > PASSWORD_MAX_CHARS {
        return Err(AppError::invalid(
            "password",
            format!("Use {min} to {PASSWORD_MAX_CHARS} characters."),
        ));
    }
    let squeezed = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let typed = squeezed(password);
    let own_names = [squeezed(&org.name), squeezed(&org.slug)];
    if own_names
        .iter()
        .any(|own| !own.is_empty() && typed.contains(own.as_str()))
    {
        return Err(AppError::invalid(
            "password",
            "A password may not contain the organization's own name.",
        ));
    }
    Ok(())
}

/// The sentence for an email or mobile number another contact already has.
pub fn taken_message(field: &str) -> String {
    format!("Another contact of this organization already has this {field}.")
}

/// Any conflict of a directory change as a sentence safe to show: the one its check wrote,
/// or, for a clash the database found first, a general one.
fn shown_conflict(error: AppError) -> AppError {
    match error {
        AppError::Conflict(message) if message.starts_with("Another contact") => {
            AppError::Conflict(message)
        }
        AppError::Conflict(_) => AppError::Conflict(
            "Another contact of this organization has that email or mobile.".to_owned(),
        ),
        other => other,
    }
}

fn refuse_taken(
    conn: &mut crate::storage::DbConnection,
    org_id: &OrgId,
    details: &ContactDetails,
    except: Option<&ContactId>,
) -> Result<(), AppError> {
    match store::identifier_taken(conn, org_id, details, except)? {
        Some(field) => Err(AppError::Conflict(taken_message(field))),
        None => Ok(()),
    }
}

/// Adds a contact to the organization, active and without a password.
pub async fn add(
    app: &App,
    org_id: OrgId,
    details: ContactDetails,
    origin: &Origin,
) -> Result<ContactId, AppError> {
    let mut event = origin.event(org_id, "contact.added", json!({}));
    app.db
        .transaction(move |conn| {
            refuse_taken(conn, &org_id, &details, None)?;
            let id = store::add(conn, &org_id, &details)?;
            event.detail = json!({ "contact_id": id.to_string(), "name": details.name });
            audit::record(conn, &event)?;
            Ok(id)
        })
        .await
        .map_err(shown_conflict)
}

/// Changes a contact's name, email and mobile number; one `contact.changed` event per changed
/// field, with its old and new value. Returns whether anything changed.
pub async fn change_details(
    app: &App,
    org_id: OrgId,
    contact_id: ContactId,
    details: ContactDetails,
    origin: &Origin,
) -> Result<bool, AppError> {
    let origin = origin.clone();
    app.db
        .transaction(move |conn| {
            let entry = store::entry(conn, &org_id, &contact_id)?.ok_or(AppError::NotFound)?;
            refuse_taken(conn, &org_id, &details, Some(&contact_id))?;
            let before =
                json!({ "name": entry.name, "email": entry.email, "mobile": entry.mobile });
            let after =
                json!({ "name": details.name, "email": details.email, "mobile": details.mobile });
            let events: Vec<AuditEvent> = ["name", "email", "mobile"]
                .into_iter()
                .filter(|field| before[field] != after[field])
                .map(|field| {
                    let detail = json!({
                        "contact_id": contact_id.to_string(),
                        "setting": format!("contact {field}"),
                        "from": before[field],
                        "to": after[field],
                    });
                    origin.event(org_id, "contact.changed", detail)
                })
                .collect();
            if events.is_empty() {
                return Ok(false);
            }
            store::update_details(conn, &org_id, &contact_id, &details)?;
            for event in &events {
                audit::record(conn, event)?;
            }
            Ok(true)
        })
        .await
        .map_err(shown_conflict)
}

/// Sets a contact's password, by the organization's password rules (refused as invalid
/// `password` otherwise).
pub async fn set_password(
    app: &App,
    org: &Organization,
    contact_id: ContactId,
    password: SecretString,
    origin: &Origin,
) -> Result<(), AppError> {
    let org_id = org.id;
    let policy = app
        .db
        .run(move |conn| org_store::policy(conn, &org_id))
        .await?;
    check_password(password.expose(), &policy, org)?;
    let hash = app.hasher.hash(password).await?;
    store_password(app, org_id, contact_id, Some(hash), origin).await
}

/// Removes a contact's password: they log in by code, or not until one is set again.
pub async fn clear_password(
    app: &App,
    org_id: OrgId,
    contact_id: ContactId,
    origin: &Origin,
) -> Result<(), AppError> {
    store_password(app, org_id, contact_id, None, origin).await
}

async fn store_password(
    app: &App,
    org_id: OrgId,
    contact_id: ContactId,
    hash: Option<String>,
    origin: &Origin,
) -> Result<(), AppError> {
    let kind = if hash.is_some() {
        "contact.password_set"
    } else {
        "contact.password_cleared"
    };
    let event = origin.event(
        org_id,
        kind,
        json!({ "contact_id": contact_id.to_string() }),
    );
    app.db
        .transaction(move |conn| {
            store::entry(conn, &org_id, &contact_id)?.ok_or(AppError::NotFound)?;
            store::set_password_hash(conn, &org_id, &contact_id, hash.as_deref())?;
            audit::record(conn, &event)
        })
        .await?;
    tracing::info!(org.id = %org_id, contact.id = %contact_id, action = kind, "contact changed");
    Ok(())
}

/// What an admin can do to a contact with one button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactAction {
    /// Stops the contact logging in, and ends every session of theirs.
    Disable,
    /// Lets a disabled contact log in again.
    Enable,
    /// Lifts a password lockout.
    Unlock,
    /// Ends every session of the contact.
    EndSessions,
}

impl ContactAction {
    /// The kind of audit event the action writes.
    pub fn event_kind(self) -> &'static str {
        match self {
            Self::Disable => "contact.disabled",
            Self::Enable => "contact.enabled",
            Self::Unlock => "contact.unlocked",
            Self::EndSessions => "contact.sessions_ended",
        }
    }
}

/// Does `action` to one of the organization's contacts.
pub async fn act(
    app: &App,
    org_id: OrgId,
    contact_id: ContactId,
    action: ContactAction,
    origin: &Origin,
) -> Result<(), AppError> {
    let kind = action.event_kind();
    let event = origin.event(
        org_id,
        kind,
        json!({ "contact_id": contact_id.to_string() }),
    );
    app.db
        .transaction(move |conn| {
            store::entry(conn, &org_id, &contact_id)?.ok_or(AppError::NotFound)?;
            match action {
                ContactAction::Disable => {
                    store::set_status(conn, &org_id, &contact_id, ContactStatus::Disabled)?;
                    sessions::delete_for_contact(conn, &org_id, &contact_id)?;
                }
                ContactAction::Enable => {
                    store::set_status(conn, &org_id, &contact_id, ContactStatus::Active)?;
                }
                ContactAction::Unlock => store::unlock(conn, &org_id, &contact_id)?,
                ContactAction::EndSessions => {
                    sessions::delete_for_contact(conn, &org_id, &contact_id)?;
                }
            }
            audit::record(conn, &event)
        })
        .await?;
    tracing::info!(org.id = %org_id, contact.id = %contact_id, action = kind, "contact changed");
    Ok(())
}

/// One row of an import, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRow {
    /// The line in the file, counting the header as line 1.
    pub line: u64,
    pub name: String,
    pub email: String,
    pub mobile: String,
    /// Why the row is refused; `None` when it is accepted.
    pub refusal: Option<String>,
    /// The normalized details of an accepted row.
    #[serde(skip)]
    pub details: Option<ContactDetails>,
}

/// Reads a CSV with the header `name,email,mobile`. The error is a whole-file problem (a
/// wrong header, unreadable text); row problems are in the rows' `refusal`.
pub fn parse_import(bytes: &[u8], region: &str) -> Result<Vec<ImportRow>, AppError> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| AppError::invalid("file", "The file is not UTF-8 text."))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|_| AppError::invalid("file", "The file is not readable CSV."))?
        .iter()
        .map(str::to_lowercase)
        .collect();
    if header != ["name", "email", "mobile"] {
        return Err(AppError::invalid(
            "file",
            "The first line must be exactly: name,email,mobile",
        ));
    }

    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for (index, record) in reader.records().enumerate() {
        if rows.len() >= IMPORT_MAX_ROWS {
            return Err(AppError::invalid(
                "file",
                format!("Import at most {IMPORT_MAX_ROWS} contacts at once."),
            ));
        }
        let line = u64::try_from(index).unwrap_or(0) + 2;
        let record =
            record.map_err(|_| AppError::invalid("file", "The file is not readable CSV."))?;
        let field = |i: usize| record.get(i).unwrap_or_default().to_owned();
        let mut row = ImportRow {
            line,
            name: field(0),
            email: field(1),
            mobile: field(2),
            refusal: None,
            details: None,
        };
        if record.len() != 3 {
            row.refusal = Some(format!("Has {} fields instead of 3.", record.len()));
        } else {
            match check_details(&row.name, &row.email, &row.mobile, region) {
                Ok(details) => {
                    let keys = [details.email.clone(), details.mobile.clone()];
                    if keys.iter().flatten().any(|key| seen.contains(key)) {
                        row.refusal = Some("Repeats an email or mobile of an earlier row.".into());
                    } else {
                        seen.extend(keys.into_iter().flatten());
                        row.details = Some(details);
                    }
                }
                Err(errors) => {
                    let reasons: Vec<String> = errors
                        .into_iter()
                        .map(|(field, message)| format!("{field}: {message}"))
                        .collect();
                    row.refusal = Some(reasons.join(" "));
                }
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(AppError::invalid("file", "The file holds no contacts."));
    }
    Ok(rows)
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
    fn passwords_follow_the_policy_and_avoid_the_org_name() {
        let policy = LoginPolicy::default();
        assert!(check_password("a long enough passphrase", &policy, &acme()).is_ok());
        assert!(check_password("too short", &policy, &acme()).is_err());
        assert!(check_password(&"x".repeat(129), &policy, &acme()).is_err());
        assert!(check_password("Acme Corporation 2026!", &policy, &acme()).is_err());
    }

    #[test]
    fn imports_report_each_row() {
        let csv = "name,email,mobile\n\
                   Ann,ann@x.example,\n\
                   Bob,not-an-email,\n\
                   Ann again,ANN@x.example,\n\
                   Cy,,12345\n";
        let rows = parse_import(csv.as_bytes(), "US").unwrap();
        assert_eq!(rows.len(), 4);
        assert!(rows[0].refusal.is_none());
        assert!(rows[1].refusal.as_deref().unwrap().contains("email"));
        assert!(rows[2].refusal.as_deref().unwrap().contains("Repeats"));
        assert!(rows[3].refusal.as_deref().unwrap().contains("mobile"));
        assert!(parse_import(b"email,name\nx@y.example,X\n", "US").is_err());
    }
}
