//! Forgotten passwords and invitations to set one.
//!
//! A reset starts from an email address or mobile number typed on a portal that takes
//! passwords. Whether or not it belongs to an active contact, the answer is the same attempt
//! id and the same page; only a real contact gets a code, sent to the address typed, and
//! nothing is sent for anyone else. Reset requests have their own limits (a cooldown and an
//! hourly count per identifier, an hourly count per client address), apart from login codes.
//!
//! The code (typed, or carried by the emailed link into a form) and a new password that meets
//! the organization's rules set the password, clear any lockout, end every session of the
//! contact and tell the contact by email. An admin's invitation is the same, started by the
//! admin instead: a longer-lived code in a link to the same form, so a contact created without
//! a password chooses one on first visit. Codes of these purposes never log anyone in.
//!
//! The common login page offers "Forgot password?" too ([`request_reset_everywhere`]): the
//! visitor types an identifier, and each live organization that takes passwords and knows it
//! as an active contact gets a reset of its own, exactly as its portal's page would ask for,
//! whose message links to that portal's reset page. The answer is the same whoever asked, and
//! the resets are asked for after it is given, so neither its words nor its timing tell which
//! organizations, if any, know the identifier. The common form has limits of its own, per
//! identifier and per client address, which hold whatever the identifier. Known limit: by SMS the
//! reset form is reached only through the link in the message, which the built-in wording
//! carries; an organization whose own SMS wording leaves `{{link}}` out sends a code that the
//! common page's visitor has no form to type into (their portal's own page still works).

use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};
use serde_json::json;

use super::{
    account_codes::{self, CodeRules, Destination},
    audit::{Actor, AuditEvent},
    contact::{Contact, ContactId, ContactStatus, Identifier},
    messages::{AccountMessage, MessageKind},
    org::{LoginPolicy, Organization},
    otp::{self, AttemptId, Purpose},
    profile::check_new_password,
    session::ClientInfo,
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{DbConnection, accounts, audit, directory, limits, orgs, outbox, sessions},
};

/// Seconds between two reset requests for one identifier.
const RESET_COOLDOWN_SECS: i64 = 60;
/// Reset requests per identifier and hour.
const RESETS_PER_IDENTIFIER_PER_HOUR: i64 = 3;
/// Reset requests per client address and hour.
const RESETS_PER_IP_PER_HOUR: i64 = 20;

/// The purposes whose codes set a password.
const SETS_PASSWORD: [Purpose; 2] = [Purpose::PasswordReset, Purpose::Invitation];

/// The answer to a reset request: the same shape whoever asked.
#[derive(Debug, Clone)]
pub struct ResetRequested {
    pub reset_id: AttemptId,
}

/// The outcome of setting a password with a code.
#[derive(Debug, Clone)]
pub enum PasswordSet {
    /// The password is set; every session of the contact has ended.
    Done(Contact),
    /// Wrong, expired, used or unknown code: one answer for all.
    Refused,
}

/// Whether the portal offers "Forgot password?": only where a password is part of the login.
pub fn offered(policy: &LoginPolicy) -> bool {
    policy.login_mode.uses_password()
}

/// Handles a reset request for `identifier`.
pub async fn request_reset(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    identifier: &Identifier,
    client: &ClientInfo,
) -> Result<ResetRequested, AppError> {
    if !offered(policy) {
        return Err(AppError::NotFound);
    }
    let now = Utc::now().naive_utc();
    let org_id = org.id;
    let id_bucket = format!(
        "reset:id:{}",
        otp::identifier_hash(&app.signer, &org_id, identifier.as_str())
    );
    let ip_bucket = format!("reset:ip:{}", client.ip);
    let lookup = identifier.clone();
    let buckets = (id_bucket.clone(), ip_bucket.clone());
    let (contact, wording) = app
        .db
        .run(move |conn| {
            account_codes::check_bucket(
                conn,
                &org_id,
                &buckets.0,
                RESET_COOLDOWN_SECS,
                RESETS_PER_IDENTIFIER_PER_HOUR,
                now,
            )?;
            account_codes::check_bucket(conn, &org_id, &buckets.1, 0, RESETS_PER_IP_PER_HOUR, now)?;
            let contact = accounts::find_contact_by_identifier(conn, &org_id, &lookup)?
                .map(|found| found.contact)
                .filter(|contact| contact.status == ContactStatus::Active);
            let wording = account_codes::wording(conn, &org_id, MessageKind::PasswordReset)?;
            Ok((contact, wording))
        })
        .await?;

    let rules = CodeRules::of(Purpose::PasswordReset, policy);
    let code = otp::generate(rules.length);
    let attempt = account_codes::new_attempt(
        &app.signer,
        org_id,
        identifier.as_str(),
        Purpose::PasswordReset,
        contact.as_ref().map(|c| c.id),
        rules,
        now,
    );
    let link = account_codes::portal_link(
        app,
        org,
        &format!(
            "password/reset?reset_id={}&code={}",
            attempt.id,
            code.expose()
        ),
    );
    let to = match identifier {
        Identifier::Email(address) => Destination::Email(address.clone()),
        Identifier::Mobile(number) => Destination::Sms(number.clone()),
    };
    let draft = match &contact {
        Some(contact) => Some(account_codes::message(
            app,
            org,
            MessageKind::PasswordReset,
            wording.as_ref(),
            &AccountMessage {
                org_name: &org.name,
                contact_name: &contact.name,
                code: code.expose(),
                minutes: rules.minutes(),
                link: &link,
            },
            to,
            None,
        )?),
        None => None,
    };

    let signer = app.signer.clone();
    let stored = attempt.clone();
    let event = contact.as_ref().map(|contact| AuditEvent {
        org_id: Some(org_id),
        actor: Actor::Contact(contact.id.to_string()),
        kind: "password.reset_requested",
        detail: json!({}),
        client_ip: client.ip.clone(),
    });
    app.db
        .transaction(move |conn| {
            admit_reset(conn, (&org_id).into(), &id_bucket, &ip_bucket, now)?;
            let code_ref = account_codes::store(conn, &signer, &stored, &code, rules, now)?;
            if let Some(mut message) = draft {
                message.code_refs = code_ref.into_iter().collect();
                outbox::enqueue(conn, &message, now)?;
            }
            if let Some(event) = &event {
                audit::record(conn, event)?;
            }
            Ok(())
        })
        .await?;
    app.deliveries.wake();
    Ok(ResetRequested {
        reset_id: attempt.id,
    })
}

/// Checks and counts a reset request in its identifier's bucket (a cooldown and an hourly
/// cap) and its client address's (an hourly cap), holding both to the end of the transaction.
fn admit_reset(
    conn: &mut DbConnection,
    scope: limits::Scope,
    id_bucket: &str,
    ip_bucket: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    account_codes::admit_to_bucket(
        conn,
        scope.clone(),
        id_bucket,
        RESET_COOLDOWN_SECS,
        RESETS_PER_IDENTIFIER_PER_HOUR,
        now,
    )?;
    account_codes::admit_to_bucket(conn, scope, ip_bucket, 0, RESETS_PER_IP_PER_HOUR, now)
}

/// Handles "Forgot password?" on the common login page: checks and counts the common form's
/// own limits, then, once the caller has answered, asks for a reset in every live organization
/// that takes passwords and knows `identifier` as an active contact. Nothing tells the caller
/// which, or whether any, did; each organization's own reset limits still apply.
pub async fn request_reset_everywhere(
    app: &Arc<App>,
    identifier: &Identifier,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let now = Utc::now().naive_utc();
    let id_bucket = format!(
        "reset:id:{}",
        otp::platform_identifier_hash(&app.signer, identifier.as_str())
    );
    let ip_bucket = format!("reset:ip:{}", client.ip);
    app.db
        .transaction(move |conn| {
            admit_reset(conn, limits::Scope::platform(), &id_bucket, &ip_bucket, now)
        })
        .await?;

    let (app, identifier, client) = (app.clone(), identifier.clone(), client.clone());
    tokio::spawn(async move {
        if let Err(error) = reset_where_known(&app, &identifier, &client).await {
            tracing::warn!(error = %error, "a reset from the common login page failed");
        }
    });
    Ok(())
}

/// Asks for a reset in each organization where `identifier` may reset a password.
async fn reset_where_known(
    app: &App,
    identifier: &Identifier,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let lookup = identifier.clone();
    let portals = app
        .db
        .run(move |conn| {
            let mut portals = Vec::new();
            for found in accounts::find_contacts_everywhere(conn, &lookup)? {
                let org_id = found.contact.org_id;
                let policy = orgs::policy(conn, &org_id)?;
                if found.contact.status != ContactStatus::Active || !offered(&policy) {
                    continue;
                }
                if let Some(org) = orgs::find(conn, &org_id)? {
                    portals.push((org, policy));
                }
            }
            Ok(portals)
        })
        .await?;
    for (org, policy) in &portals {
        match request_reset(app, org, policy, identifier, client).await {
            Ok(_) | Err(AppError::RateLimited { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Sets a new password with a reset or invitation code. The password is checked against the
/// organization's rules before the code is looked at, so a refused password costs no guess.
pub async fn set_password(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    reset_id: &str,
    typed_code: &str,
    new_password: SecretString,
    client: &ClientInfo,
) -> Result<PasswordSet, AppError> {
    let code = otp::read_typed(typed_code)?;
    check_new_password(policy, org, new_password.expose())?;
    let hash = app.hasher.hash(new_password).await?;
    let now = Utc::now().naive_utc();
    let (org_id, reset_id) = (org.id, reset_id.to_owned());
    let signer = app.signer.clone();
    let client_ip = client.ip.clone();
    let wording_kind = MessageKind::PasswordChanged;
    let done = app
        .db
        .transaction(move |conn| {
            let Some(attempt) =
                account_codes::find_attempt(conn, &org_id, &reset_id, &SETS_PASSWORD, now)?
            else {
                return Ok(None);
            };
            if !account_codes::prove(conn, &signer, &attempt, &code, now)? {
                return Ok(None);
            }
            let Some(contact_id) = attempt.contact_id else {
                return Ok(None);
            };
            let contact = accounts::find_contact(conn, &org_id, &contact_id)?
                .filter(|c| c.status == ContactStatus::Active);
            let Some(contact) = contact else {
                return Ok(None);
            };
            replace_password(conn, &contact, &hash)?;
            let method = match attempt.purpose {
                Purpose::Invitation => "invitation",
                _ => "reset",
            };
            audit::record(
                conn,
                &AuditEvent {
                    org_id: Some(org_id),
                    actor: Actor::Contact(contact.id.to_string()),
                    kind: "password.reset",
                    detail: json!({ "method": method }),
                    client_ip,
                },
            )?;
            let wording = account_codes::wording(conn, &org_id, wording_kind)?;
            Ok(Some((contact, wording)))
        })
        .await?;
    let Some((contact, wording)) = done else {
        record_refusal(app, org, client).await?;
        return Ok(PasswordSet::Refused);
    };
    tell_password_changed(app, org, &contact, wording.as_ref(), now).await?;
    Ok(PasswordSet::Done(contact))
}

/// Sets the hash, lifts any lockout and ends every session of the contact.
fn replace_password(
    conn: &mut DbConnection,
    contact: &Contact,
    hash: &str,
) -> Result<(), AppError> {
    directory::set_password_hash(conn, &contact.org_id, &contact.id, Some(hash))?;
    directory::unlock(conn, &contact.org_id, &contact.id)?;
    sessions::delete_for_contact(conn, &contact.org_id, &contact.id)?;
    Ok(())
}

async fn record_refusal(
    app: &App,
    org: &Organization,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let event = AuditEvent {
        org_id: Some(org.id),
        actor: Actor::Anonymous,
        kind: "password.reset_failed",
        detail: json!({ "reason": "wrong_code" }),
        client_ip: client.ip.clone(),
    };
    app.db.run(move |conn| audit::record(conn, &event)).await
}

async fn tell_password_changed(
    app: &App,
    org: &Organization,
    contact: &Contact,
    wording: Option<&super::messages::MessageParts>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let Some(address) = contact.email.clone() else {
        return Ok(());
    };
    let link = account_codes::portal_link(app, org, "password/forgot");
    let message = account_codes::message(
        app,
        org,
        MessageKind::PasswordChanged,
        wording,
        &AccountMessage {
            org_name: &org.name,
            contact_name: &contact.name,
            code: "",
            minutes: 0,
            link: &link,
        },
        Destination::Email(address),
        None,
    )?;
    app.db
        .run(move |conn| outbox::enqueue(conn, &message, now).map(|_| ()))
        .await?;
    app.deliveries.wake();
    Ok(())
}

/// Sends a contact an invitation to set a password, by email; the admin's event is recorded
/// with it. Refused for a disabled contact or one without an email address.
pub async fn invite(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    contact_id: &ContactId,
    event: AuditEvent,
) -> Result<(), AppError> {
    let now = Utc::now().naive_utc();
    let (org_id, contact_id) = (org.id, *contact_id);
    let (contact, wording) = app
        .db
        .run(move |conn| {
            let contact =
                accounts::find_contact(conn, &org_id, &contact_id)?.ok_or(AppError::NotFound)?;
            let wording = account_codes::wording(conn, &org_id, MessageKind::PasswordInvitation)?;
            Ok((contact, wording))
        })
        .await?;
    if contact.status != ContactStatus::Active {
        return Err(AppError::invalid(
            "invitation",
            "Enable the contact before inviting them.",
        ));
    }
    let Some(address) = contact.email.clone() else {
        return Err(AppError::invalid(
            "invitation",
            "The contact has no email address to send the invitation to.",
        ));
    };
    let rules = CodeRules::of(Purpose::Invitation, policy);
    let code = otp::generate(rules.length);
    let attempt = account_codes::new_attempt(
        &app.signer,
        org_id,
        &address,
        Purpose::Invitation,
        Some(contact.id),
        rules,
        now,
    );
    let link = account_codes::portal_link(
        app,
        org,
        &format!(
            "password/reset?reset_id={}&code={}",
            attempt.id,
            code.expose()
        ),
    );
    let message = account_codes::message(
        app,
        org,
        MessageKind::PasswordInvitation,
        wording.as_ref(),
        &AccountMessage {
            org_name: &org.name,
            contact_name: &contact.name,
            code: code.expose(),
            minutes: rules.minutes(),
            link: &link,
        },
        Destination::Email(address),
        None,
    )?;
    let signer = app.signer.clone();
    app.db
        .transaction(move |conn| {
            let code_ref = account_codes::store(conn, &signer, &attempt, &code, rules, now)?;
            let mut message = message;
            message.code_refs = code_ref.into_iter().collect();
            outbox::enqueue(conn, &message, now)?;
            audit::record(conn, &event)
        })
        .await?;
    app.deliveries.wake();
    Ok(())
}
