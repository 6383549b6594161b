//! Self-registration: a visitor asks for an account, proves their email (and their mobile
//! number, when the organization sends codes by SMS) with a code, and, where the organization
//! wants it, waits for an admin's approval.
//!
//! The organization's login policy decides: `off` (no sign-up page at all), `open` (the proven
//! registration becomes a contact at once) or `with_approval` (it waits in the console's queue;
//! approval and refusal are audited and told to the registrant by email). Allowed email
//! domains restrict who may register. A registration stays out of the contacts until it
//! counts; its id becomes the contact's id.
//!
//! Registering an address that already belongs to a contact (or to a registration waiting for
//! approval) answers exactly like a new registration, with attempt ids that no code proves,
//! and tells the real owner by email instead. Registrations are limited per client address.
//!
//! Registrations do not linger: the background worker forgets unproven ones once their codes
//! are dead, and refused ones after [`REFUSED_RETENTION_DAYS`] ([`sweep_stale`]).

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{
    account_codes::{self, CodeRules, Destination},
    audit::{Actor, AuditEvent},
    contact::{Contact, ContactId, Identifier},
    directory,
    messages::{AccountMessage, MessageKind},
    org::{LoginMode, LoginPolicy, OrgId, Organization, OtpChannel, SelfRegistration},
    otp::{self, AttemptId, Purpose},
    profile::check_new_password,
    session::ClientInfo,
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{DbConnection, accounts, audit, outbox, registrations as store},
};

/// Registrations per client address and hour.
const REGISTRATIONS_PER_IP_PER_HOUR: i64 = 10;
/// How long a refused registration is kept, so that admins can still see what they refused.
pub const REFUSED_RETENTION_DAYS: i64 = 30;

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// Its codes are not all proven yet.
    Unproven,
    /// Proven, waiting for an admin.
    AwaitingApproval,
    /// A contact now.
    Approved,
    /// Refused by an admin.
    Refused,
}

impl RegistrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unproven => "unproven",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Approved => "approved",
            Self::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "unproven" => Some(Self::Unproven),
            "awaiting_approval" => Some(Self::AwaitingApproval),
            "approved" => Some(Self::Approved),
            "refused" => Some(Self::Refused),
            _ => None,
        }
    }
}

/// A registration as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub org_id: OrgId,
    /// Also the id of the contact it becomes.
    pub id: ContactId,
    pub email: String,
    pub mobile: Option<String>,
    pub name: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub state: RegistrationState,
    pub email_proven: bool,
    pub mobile_proven: bool,
    pub created_at: NaiveDateTime,
}

/// What a visitor typed on the sign-up page.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub name: String,
    pub email: String,
    pub mobile: String,
    pub password: SecretString,
}

/// The answer to a sign-up: the same shape whether or not the address was new.
#[derive(Debug, Clone)]
pub struct SignedUp {
    pub email_attempt: AttemptId,
    /// Present when the organization asks for a mobile number.
    pub mobile_attempt: Option<AttemptId>,
    /// The normalized email, to say where the code went.
    pub email: String,
    pub mobile: Option<String>,
}

/// The outcome of entering the registration codes.
#[derive(Debug, Clone)]
pub enum Proof {
    /// Open registration: the contact exists and may be logged in.
    Registered(Contact),
    /// Proven; an admin decides next.
    AwaitingApproval,
    /// A code was wrong, expired, used or unknown; the codes proven so far stay proven.
    Refused,
}

/// Whether the organization has a sign-up page at all.
pub fn is_open(policy: &LoginPolicy) -> bool {
    policy.self_registration != SelfRegistration::Off
}

/// Whether registrants must give and prove a mobile number: the organization sends codes by SMS.
pub fn needs_mobile(policy: &LoginPolicy) -> bool {
    policy.login_mode != LoginMode::Password && policy.otp_channel != OtpChannel::Email
}

/// Whether registrants choose a password: the organization's login uses one.
pub fn needs_password(policy: &LoginPolicy) -> bool {
    policy.login_mode.uses_password()
}

/// Checks what was typed; every broken rule with its field.
pub fn check_sign_up(
    org: &Organization,
    policy: &LoginPolicy,
    form: &SignUp,
    region: &str,
) -> Result<directory::ContactDetails, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let details = match directory::check_details(&form.name, &form.email, &form.mobile, region) {
        Ok(details) => Some(details),
        Err(found) => {
            errors.extend(found);
            None
        }
    };
    if form.email.trim().is_empty() && !errors.iter().any(|(field, _)| *field == "email") {
        errors.push(("email", "Enter your email address.".to_owned()));
    }
    if needs_mobile(policy)
        && form.mobile.trim().is_empty()
        && !errors.iter().any(|(field, _)| *field == "mobile")
    {
        errors.push((
            "mobile",
            "Enter your mobile number: this portal sends login codes by SMS.".to_owned(),
        ));
    }
    if let Some(email) = details.as_ref().and_then(|d| d.email.as_deref())
        && !domain_allowed(policy, email)
    {
        errors.push((
            "email",
            "This portal accepts registrations only from its organization's own email domains."
                .to_owned(),
        ));
    }
    if needs_password(policy)
        && let Err(AppError::Invalid { message, .. }) =
            check_new_password(policy, org, form.password.expose())
    {
        errors.push(("password", message));
    }
    match details {
        Some(details) if errors.is_empty() => Ok(details),
        _ => Err(errors),
    }
}

/// Whether the policy's allowed domains (none: any) include the domain of `email`.
pub fn domain_allowed(policy: &LoginPolicy, email: &str) -> bool {
    let domain = email.rsplit_once('@').map_or("", |(_, domain)| domain);
    policy.registration_domains.is_empty()
        || policy.registration_domains.iter().any(|allowed| {
            allowed
                .trim()
                .trim_start_matches('@')
                .eq_ignore_ascii_case(domain)
        })
}

/// Counts a sign-up from `client` and refuses it when the address has made too many lately.
pub async fn count_attempt(
    app: &App,
    org: &Organization,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let org_id = org.id;
    let bucket = format!("register:ip:{}", client.ip);
    app.db
        .transaction(move |conn| {
            let now = Utc::now().naive_utc();
            account_codes::admit_to_bucket(
                conn,
                &org_id,
                &bucket,
                0,
                REGISTRATIONS_PER_IP_PER_HOUR,
                now,
            )
        })
        .await
}

/// Handles a checked sign-up: stores the registration and sends its codes, or, for an
/// address already known, tells its owner instead.
pub async fn sign_up(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    details: directory::ContactDetails,
    password: SecretString,
    client: &ClientInfo,
) -> Result<SignedUp, AppError> {
    if !is_open(policy) {
        return Err(AppError::NotFound);
    }
    let email = details
        .email
        .clone()
        .ok_or(AppError::invalid("email", "Enter your email address."))?;
    let mobile = details.mobile.clone().filter(|_| needs_mobile(policy));
    let password_hash = if needs_password(policy) {
        Some(app.hasher.hash(password).await?)
    } else {
        None
    };
    let now = Utc::now().naive_utc();
    let org_id = org.id;
    let (lookup_email, lookup_mobile) = (email.clone(), mobile.clone());
    let (owner, wordings) = app
        .db
        .run(move |conn| {
            let owner = existing_owner(conn, &org_id, &lookup_email, lookup_mobile.as_deref())?;
            let wordings = (
                account_codes::wording(conn, &org_id, MessageKind::RegistrationCode)?,
                account_codes::wording(conn, &org_id, MessageKind::RegistrationExists)?,
            );
            Ok((owner, wordings))
        })
        .await?;

    let registration = Registration {
        org_id,
        id: ContactId::new(),
        email: email.clone(),
        mobile: mobile.clone(),
        name: details.name.clone(),
        password_hash,
        state: RegistrationState::Unproven,
        email_proven: false,
        mobile_proven: mobile.is_none(),
        created_at: now,
    };
    let known = owner.is_some();
    let code_owner = (!known).then_some(registration.id);
    let rules = CodeRules::of(Purpose::RegistrationEmail, policy);
    let email_code = otp::generate(rules.length);
    let mobile_code = otp::generate(rules.length);
    let email_attempt = account_codes::new_attempt(
        &app.signer,
        org_id,
        &email,
        Purpose::RegistrationEmail,
        code_owner,
        rules,
        now,
    );
    let mobile_attempt = mobile.as_ref().map(|number| {
        account_codes::new_attempt(
            &app.signer,
            org_id,
            number,
            Purpose::RegistrationMobile,
            code_owner,
            rules,
            now,
        )
    });

    let mut drafts = Vec::new();
    let values = |code| AccountMessage {
        org_name: &org.name,
        contact_name: &details.name,
        code,
        minutes: rules.minutes(),
        link: "",
    };
    match &owner {
        None => {
            drafts.push((
                false,
                account_codes::message(
                    app,
                    org,
                    MessageKind::RegistrationCode,
                    wordings.0.as_ref(),
                    &values(email_code.expose()),
                    Destination::Email(email.clone()),
                    None,
                )?,
            ));
            if let Some(number) = &mobile {
                drafts.push((
                    true,
                    account_codes::message(
                        app,
                        org,
                        MessageKind::RegistrationCode,
                        wordings.0.as_ref(),
                        &values(mobile_code.expose()),
                        Destination::Sms(number.clone()),
                        None,
                    )?,
                ));
            }
        }
        Some((name, Some(address))) => {
            let link = account_codes::portal_link(app, org, "login");
            drafts.push((
                false,
                account_codes::message(
                    app,
                    org,
                    MessageKind::RegistrationExists,
                    wordings.1.as_ref(),
                    &AccountMessage {
                        org_name: &org.name,
                        contact_name: name,
                        code: "",
                        minutes: 0,
                        link: &link,
                    },
                    Destination::Email(address.clone()),
                    None,
                )?,
            ));
        }
        Some((_, None)) => {}
    }

    let signer = app.signer.clone();
    let (stored_email, stored_mobile) = (email_attempt.clone(), mobile_attempt.clone());
    let event = AuditEvent {
        org_id: Some(org_id),
        actor: if known {
            Actor::Anonymous
        } else {
            Actor::Contact(registration.id.to_string())
        },
        kind: if known {
            "registration.duplicate"
        } else {
            "registration.started"
        },
        detail: json!({}),
        client_ip: client.ip.clone(),
    };
    let ip = client.ip.clone();
    app.db
        .transaction(move |conn| {
            if !known {
                store::forget_unproven(conn, &org_id, &registration.email)?;
                store::insert(conn, &registration, &ip, now)?;
            }
            let email_ref =
                account_codes::store(conn, &signer, &stored_email, &email_code, rules, now)?;
            let mobile_ref = match &stored_mobile {
                Some(attempt) => {
                    account_codes::store(conn, &signer, attempt, &mobile_code, rules, now)?
                }
                None => None,
            };
            for (is_sms, mut message) in drafts {
                let code_ref = if is_sms {
                    mobile_ref.clone()
                } else {
                    email_ref.clone()
                };
                message.code_refs = code_ref.into_iter().filter(|_| !known).collect();
                outbox::enqueue(conn, &message, now)?;
            }
            audit::record(conn, &event)
        })
        .await?;
    app.deliveries.wake();
    Ok(SignedUp {
        email_attempt: email_attempt.id,
        mobile_attempt: mobile_attempt.map(|a| a.id),
        email,
        mobile,
    })
}

/// The name and email of whoever already holds this email or mobile number: a contact, or a
/// registration waiting for approval.
fn existing_owner(
    conn: &mut DbConnection,
    org_id: &OrgId,
    email: &str,
    mobile: Option<&str>,
) -> Result<Option<(String, Option<String>)>, AppError> {
    let mut identifiers = vec![Identifier::Email(email.to_owned())];
    identifiers.extend(mobile.map(|m| Identifier::Mobile(m.to_owned())));
    for identifier in &identifiers {
        if let Some(found) = accounts::find_contact_by_identifier(conn, org_id, identifier)? {
            return Ok(Some((found.contact.name, found.contact.email)));
        }
    }
    if store::waiting_with(conn, org_id, email, mobile)? {
        return Ok(Some((String::new(), None)));
    }
    Ok(None)
}

/// The codes typed on the registration code page, with the attempts they answer.
#[derive(Debug, Clone, Default)]
pub struct TypedCodes {
    pub email_attempt: String,
    pub email_code: String,
    /// Empty when the organization asks for no mobile number.
    pub mobile_attempt: String,
    pub mobile_code: String,
}

/// Checks the registration codes; once every address is proven the registration counts: as a
/// contact at once when registration is open, in the approval queue otherwise.
pub async fn prove(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    typed: TypedCodes,
    client: &ClientInfo,
) -> Result<Proof, AppError> {
    let now = Utc::now().naive_utc();
    let org_id = org.id;
    let open = policy.self_registration == SelfRegistration::Open;
    let signer = app.signer.clone();
    let client_ip = client.ip.clone();
    app.db
        .transaction(move |conn| {
            let TypedCodes {
                email_attempt,
                email_code,
                mobile_attempt,
                mobile_code,
            } = typed;
            let Some(attempt) = account_codes::find_attempt(
                conn,
                &org_id,
                &email_attempt,
                &[Purpose::RegistrationEmail],
                now,
            )?
            else {
                return Ok(Proof::Refused);
            };
            let Some(id) = attempt.contact_id else {
                let code = otp::read_typed(&email_code)?;
                account_codes::prove(conn, &signer, &attempt, &code, now)?;
                return Ok(Proof::Refused);
            };
            let Some(registration) =
                store::find(conn, &org_id, &id)?.filter(|r| r.state == RegistrationState::Unproven)
            else {
                return Ok(Proof::Refused);
            };
            if !registration.email_proven {
                let code = otp::read_typed(&email_code)?;
                if !account_codes::prove(conn, &signer, &attempt, &code, now)? {
                    return Ok(Proof::Refused);
                }
                store::mark_proven(conn, &org_id, &id, false, now)?;
            }
            if !registration.mobile_proven {
                let code = otp::read_typed(&mobile_code)?;
                let mobile = account_codes::find_attempt(
                    conn,
                    &org_id,
                    &mobile_attempt,
                    &[Purpose::RegistrationMobile],
                    now,
                )?
                .filter(|a| a.contact_id == Some(id));
                let Some(mobile) = mobile else {
                    return Ok(Proof::Refused);
                };
                if !account_codes::prove(conn, &signer, &mobile, &code, now)? {
                    return Ok(Proof::Refused);
                }
                store::mark_proven(conn, &org_id, &id, true, now)?;
            }
            let (to, kind) = if open {
                (RegistrationState::Approved, "registration.completed")
            } else {
                (
                    RegistrationState::AwaitingApproval,
                    "registration.submitted",
                )
            };
            store::set_state(
                conn,
                &org_id,
                &id,
                RegistrationState::Unproven,
                to,
                None,
                now,
            )?;
            if open {
                store::create_contact(conn, &registration, now)?;
            }
            audit::record(
                conn,
                &AuditEvent {
                    org_id: Some(org_id),
                    actor: Actor::Contact(id.to_string()),
                    kind,
                    detail: json!({}),
                    client_ip,
                },
            )?;
            if !open {
                return Ok(Proof::AwaitingApproval);
            }
            let contact = accounts::find_contact(conn, &org_id, &id)?.ok_or(AppError::NotFound)?;
            Ok(Proof::Registered(contact))
        })
        .await
}

/// The registrations waiting for an admin of the organization.
pub async fn awaiting_approval(
    app: &App,
    org: &Organization,
) -> Result<Vec<Registration>, AppError> {
    let org_id = org.id;
    app.db
        .run(move |conn| store::awaiting_approval(conn, &org_id))
        .await
}

/// An admin's decision about a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Refuse,
}

/// Approves (the registration becomes an active contact) or refuses a registration waiting
/// for approval, records `event` (the admin's) with it and tells the registrant by email.
/// A registration no longer waiting (another admin decided first) is not found.
pub async fn decide(
    app: &App,
    org: &Organization,
    registration_id: &ContactId,
    decision: Decision,
    mut event: AuditEvent,
) -> Result<(), AppError> {
    let now = Utc::now().naive_utc();
    let (org_id, id) = (org.id, *registration_id);
    let kind = match decision {
        Decision::Approve => MessageKind::RegistrationApproved,
        Decision::Refuse => MessageKind::RegistrationRefused,
    };
    let (registration, wording) = app
        .db
        .run(move |conn| {
            let registration = store::find(conn, &org_id, &id)?
                .filter(|r| r.state == RegistrationState::AwaitingApproval)
                .ok_or(AppError::NotFound)?;
            Ok((registration, account_codes::wording(conn, &org_id, kind)?))
        })
        .await?;
    let link = account_codes::portal_link(app, org, "login");
    let message = account_codes::message(
        app,
        org,
        kind,
        wording.as_ref(),
        &AccountMessage {
            org_name: &org.name,
            contact_name: &registration.name,
            code: "",
            minutes: 0,
            link: &link,
        },
        Destination::Email(registration.email.clone()),
        None,
    )?;
    let decided_by = match &event.actor {
        Actor::Admin(admin) => Some(admin.clone()),
        _ => None,
    };
    event.detail = json!({ "registration_id": id.to_string(), "name": registration.name });
    app.db
        .transaction(move |conn| {
            let to = match decision {
                Decision::Approve => RegistrationState::Approved,
                Decision::Refuse => RegistrationState::Refused,
            };
            let moved = store::set_state(
                conn,
                &org_id,
                &id,
                RegistrationState::AwaitingApproval,
                to,
                decided_by.as_deref(),
                now,
            )?;
            if !moved {
                return Err(AppError::NotFound);
            }
            if decision == Decision::Approve {
                let details = directory::ContactDetails {
                    name: registration.name.clone(),
                    email: Some(registration.email.clone()),
                    mobile: registration.mobile.clone(),
                };
                if crate::storage::directory::identifier_taken(conn, &org_id, &details, None)?
                    .is_some()
                {
                    return Err(AppError::Conflict(
                        "a contact already has this email or mobile".to_owned(),
                    ));
                }
                store::create_contact(conn, &registration, now)?;
            }
            outbox::enqueue(conn, &message, now)?;
            audit::record(conn, &event)
        })
        .await?;
    app.deliveries.wake();
    Ok(())
}

/// Forgets stale registrations in every organization: unproven ones older than their codes'
/// lifetime, which no code can prove any more, and refused ones decided more than
/// [`REFUSED_RETENTION_DAYS`] ago. Returns how many went.
pub async fn sweep_stale(app: &App, now: NaiveDateTime) -> Result<usize, AppError> {
    let rules = CodeRules::of(Purpose::RegistrationEmail, &LoginPolicy::default());
    let unproven_before = now - chrono::Duration::seconds(i64::from(rules.lifetime_secs));
    let refused_before = now - chrono::Duration::days(REFUSED_RETENTION_DAYS);
    app.db
        .run(move |conn| store::sweep(conn, unproven_before, refused_before))
        .await
}
