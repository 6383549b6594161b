//! A logged-in contact changes their email address or mobile number, or adds a mobile number
//! they lacked (so that they can use an organization's mobile codes).
//!
//! The contact first proves the current login again: their password when they have one, and
//! otherwise a session opened within the last ten minutes (log in again to get one). The new
//! address is then proven with a code of its own purpose sent to it; only then does it replace
//! the old one, and the old address is told: by email for an email address, and for a mobile
//! number both the email on the account and, by SMS, the old number itself. A new address that
//! another contact already uses gets the same answer and no code, so the form does not tell
//! which addresses are taken.

use chrono::{Duration, NaiveDateTime, Utc};
use serde_json::json;

use super::{
    account_codes::{self, CodeRules, Destination},
    audit::{Actor, AuditEvent},
    contact::{Contact, Identifier, normalize_email, normalize_mobile},
    messages::{AccountMessage, MessageKind},
    org::{LoginPolicy, Organization},
    otp::{self, AttemptId, Purpose},
    password::Verdict,
    session::ClientInfo,
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{accounts, audit, contact_changes as store, outbox, profile},
};

/// How recent a session must be to stand in for a password.
const FRESH_LOGIN_SECS: i64 = 10 * 60;
/// Seconds between two change codes of one contact.
const CHANGE_COOLDOWN_SECS: i64 = 60;
/// Change codes per contact and hour.
const CHANGES_PER_HOUR: i64 = 5;

/// Which detail changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    Mobile,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Mobile => "mobile",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Self::Email),
            "mobile" => Some(Self::Mobile),
            _ => None,
        }
    }
}

/// A change as the contact asked for it.
pub struct ChangeRequest {
    pub field: Field,
    pub new_value: String,
    /// The current password, for a contact who has one.
    pub current_password: SecretString,
    /// When the session in use was opened, for a contact without a password.
    pub session_started: NaiveDateTime,
}

/// Asks for a change: proves the current login, then sends a code to the new address. Returns
/// the attempt the code must be entered for.
pub async fn request_change(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    contact: &Contact,
    request: ChangeRequest,
    client: &ClientInfo,
) -> Result<AttemptId, AppError> {
    let new_value = match request.field {
        Field::Email => normalize_email(&request.new_value)
            .map_err(|_| AppError::invalid("new_value", "That is not an email address."))?,
        Field::Mobile => {
            normalize_mobile(&request.new_value, &app.config.phone_region).map_err(|_| {
                AppError::invalid(
                    "new_value",
                    "That is not a mobile number, such as +1 555 010 0001.",
                )
            })?
        }
    };
    prove_current_login(
        app,
        contact,
        request.current_password,
        request.session_started,
    )
    .await?;

    let now = Utc::now().naive_utc();
    let (org_id, contact_id) = (org.id, contact.id);
    let bucket = format!("change:contact:{contact_id}");
    let lookup = match request.field {
        Field::Email => Identifier::Email(new_value.clone()),
        Field::Mobile => Identifier::Mobile(new_value.clone()),
    };
    let limit_bucket = bucket.clone();
    let (taken, wording) = app
        .db
        .run(move |conn| {
            account_codes::check_bucket(
                conn,
                &org_id,
                &limit_bucket,
                CHANGE_COOLDOWN_SECS,
                CHANGES_PER_HOUR,
                now,
            )?;
            let taken = accounts::find_contact_by_identifier(conn, &org_id, &lookup)?.is_some();
            Ok((
                taken,
                account_codes::wording(conn, &org_id, MessageKind::ContactChangeCode)?,
            ))
        })
        .await?;

    let rules = CodeRules::of(Purpose::ContactChange, policy);
    let code = otp::generate(rules.length);
    let attempt = account_codes::new_attempt(
        &app.signer,
        org_id,
        &new_value,
        Purpose::ContactChange,
        (!taken).then_some(contact_id),
        rules,
        now,
    );
    let to = match request.field {
        Field::Email => Destination::Email(new_value.clone()),
        Field::Mobile => Destination::Sms(new_value.clone()),
    };
    let message = account_codes::message(
        app,
        org,
        MessageKind::ContactChangeCode,
        wording.as_ref(),
        &AccountMessage {
            org_name: &org.name,
            contact_name: &contact.name,
            code: code.expose(),
            minutes: rules.minutes(),
            link: "",
        },
        to,
        None,
    )?;
    let signer = app.signer.clone();
    let stored = attempt.clone();
    let field = request.field;
    let event = AuditEvent {
        org_id: Some(org_id),
        actor: Actor::Contact(contact_id.to_string()),
        kind: "contact.change_requested",
        detail: json!({ "field": field.as_str() }),
        client_ip: client.ip.clone(),
    };
    app.db
        .transaction(move |conn| {
            account_codes::admit_to_bucket(
                conn,
                &org_id,
                &bucket,
                CHANGE_COOLDOWN_SECS,
                CHANGES_PER_HOUR,
                now,
            )?;
            audit::record(conn, &event)?;
            let code_ref = account_codes::store(conn, &signer, &stored, &code, rules, now)?;
            if taken {
                return Ok(());
            }
            store::forget(conn, &org_id, &contact_id)?;
            store::insert(
                conn,
                &org_id,
                &stored.id,
                &contact_id,
                field.as_str(),
                &new_value,
                now,
            )?;
            let mut message = message;
            message.code_refs = code_ref.into_iter().collect();
            outbox::enqueue(conn, &message, now)?;
            Ok(())
        })
        .await?;
    app.deliveries.wake();
    Ok(attempt.id)
}

/// Refuses unless the contact proved their login again: the right current password, or,
/// without a password, a session opened within the last ten minutes.
async fn prove_current_login(
    app: &App,
    contact: &Contact,
    password: SecretString,
    session_started: NaiveDateTime,
) -> Result<(), AppError> {
    let (org_id, contact_id) = (contact.org_id, contact.id);
    let stored = app
        .db
        .run(move |conn| profile::password_hash(conn, &org_id, &contact_id))
        .await?;
    if stored.is_none() {
        let fresh = Utc::now().naive_utc() - session_started < Duration::seconds(FRESH_LOGIN_SECS);
        if fresh {
            return Ok(());
        }
        return Err(AppError::invalid(
            "current_password",
            "For your safety, log out and log in again, then change this within ten minutes.",
        ));
    }
    if password.expose().is_empty() || super::password::is_too_long(password.expose()) {
        app.hasher.verify(password, None).await?;
        return Err(AppError::invalid(
            "current_password",
            "Enter your current password to change this.",
        ));
    }
    match app.hasher.verify(password, stored).await? {
        Verdict::Match { .. } => Ok(()),
        Verdict::Mismatch => Err(AppError::invalid(
            "current_password",
            "That is not your current password.",
        )),
    }
}

/// Proves the new address with its code and makes the change of `field`; tells the old
/// address. Returns false for a wrong, expired, used or unknown code, and for a change of the
/// other field.
pub async fn confirm_change(
    app: &App,
    org: &Organization,
    contact: &Contact,
    (expected, change_id): (Field, &str),
    typed: &str,
    client: &ClientInfo,
) -> Result<bool, AppError> {
    let code = otp::read_typed(typed)?;
    let now = Utc::now().naive_utc();
    let (org_id, contact_id) = (org.id, contact.id);
    let change_id = change_id.to_owned();
    let signer = app.signer.clone();
    let client_ip = client.ip.clone();
    let old = contact.clone();
    let changed = app
        .db
        .transaction(move |conn| {
            let Some(attempt) = account_codes::find_attempt(
                conn,
                &org_id,
                &change_id,
                &[Purpose::ContactChange],
                now,
            )?
            .filter(|a| a.contact_id == Some(contact_id)) else {
                return Ok(None);
            };
            let Some((field, value)) = store::find(conn, &org_id, &attempt.id, &contact_id)?
                .filter(|(field, _)| field == expected.as_str())
            else {
                return Ok(None);
            };
            if !account_codes::prove(conn, &signer, &attempt, &code, now)? {
                return Ok(None);
            }
            let identifier = if field == "email" {
                Identifier::Email(value.clone())
            } else {
                Identifier::Mobile(value.clone())
            };
            if accounts::find_contact_by_identifier(conn, &org_id, &identifier)?.is_some() {
                return Ok(None);
            }
            store::apply(conn, &org_id, &contact_id, &field, &value)?;
            store::forget(conn, &org_id, &contact_id)?;
            let from = if field == "email" {
                old.email.clone()
            } else {
                old.mobile.clone()
            };
            audit::record(
                conn,
                &AuditEvent {
                    org_id: Some(org_id),
                    actor: Actor::Contact(contact_id.to_string()),
                    kind: "contact.changed",
                    detail: json!({
                        "contact_id": contact_id.to_string(),
                        "setting": format!("contact {field}"),
                        "from": from,
                        "to": value,
                    }),
                    client_ip,
                },
            )?;
            Ok(Some((
                account_codes::wording(conn, &org_id, MessageKind::ContactChanged)?,
                account_codes::wording(conn, &org_id, MessageKind::MobileChanged)?,
            )))
        })
        .await?;
    let Some((email_wording, sms_wording)) = changed else {
        return Ok(false);
    };

    let link = account_codes::portal_link(app, org, "");
    let values = AccountMessage {
        org_name: &org.name,
        contact_name: &contact.name,
        code: "",
        minutes: 0,
        link: &link,
    };
    let mut notices = Vec::new();
    if let Some(address) = contact.email.clone() {
        notices.push(account_codes::message(
            app,
            org,
            MessageKind::ContactChanged,
            email_wording.as_ref(),
            &values,
            Destination::Email(address),
            None,
        )?);
    }
    if let (Field::Mobile, Some(number)) = (expected, contact.mobile.clone()) {
        notices.push(account_codes::message(
            app,
            org,
            MessageKind::MobileChanged,
            sms_wording.as_ref(),
            &values,
            Destination::Sms(number),
            None,
        )?);
    }
    if !notices.is_empty() {
        app.db
            .transaction(move |conn| {
                for message in &notices {
                    outbox::enqueue(conn, message, now)?;
                }
                Ok(())
            })
            .await?;
        app.deliveries.wake();
    }
    Ok(true)
}
