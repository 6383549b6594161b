//! One-time codes of the account lifecycle: password resets, invitations, registration proofs
//! and proofs of a new email or mobile number.
//!
//! They reuse the code machinery of the login ([`super::otp`], `storage::otp`): a code is
//! random, stored only as a keyed hash bound to organization, owner, purpose and attempt, looked
//! up by its attempt, counted and consumed atomically. What differs is the purpose (so a reset
//! code never logs anyone in, and a login code never resets a password), the lifetime and the
//! limits, which each purpose sets in [`CodeRules`]. The owner of a code is a contact, or a
//! registration whose id the contact will take. Functions here take a connection, so callers
//! put a code and what it changes in one transaction.

use chrono::{Duration, NaiveDateTime};

use super::{
    contact::ContactId,
    messages::{AccountMessage, MessageKind, MessageParts},
    org::{LoginPolicy, OrgId, Organization},
    otp::{self, AttemptId, LoginAttempt, Purpose},
    signing::Signer,
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{
        DbConnection, limits, message_templates,
        otp::{self as codes, NewCode},
        outbox::NewMessage,
    },
};

/// How long an invitation to set a password stays usable.
pub const INVITATION_LIFETIME_SECS: u32 = 72 * 60 * 60;
/// How long a reset, registration or change code stays usable.
const ACCOUNT_CODE_LIFETIME_SECS: u32 = 10 * 60;
/// Wrong codes per owner and hour after which this owner's codes stop working for a while.
const FAILURES_PER_HOUR: i64 = 10;

/// The length, lifetime and guesses of one purpose's codes.
#[derive(Debug, Clone, Copy)]
pub struct CodeRules {
    pub length: u32,
    pub lifetime_secs: u32,
    pub max_guesses: u32,
}

impl CodeRules {
    /// The rules of `purpose` under the organization's policy. Invitations travel in a link
    /// and live for days, so they are as long as codes get.
    pub fn of(purpose: Purpose, policy: &LoginPolicy) -> Self {
        match purpose {
            Purpose::Invitation => Self {
                length: 10,
                lifetime_secs: INVITATION_LIFETIME_SECS,
                max_guesses: 3,
            },
            _ => Self {
                length: policy.code_length,
                lifetime_secs: ACCOUNT_CODE_LIFETIME_SECS,
                max_guesses: policy.code_max_guesses,
            },
        }
    }

    /// The lifetime in whole minutes, as messages say it.
    pub fn minutes(self) -> u32 {
        self.lifetime_secs / 60
    }
}

/// A new attempt for `purpose`, owned by `owner` when the identifier matched someone who may
/// get a code, and by nobody otherwise.
pub fn new_attempt(
    signer: &Signer,
    org_id: OrgId,
    identifier: &str,
    purpose: Purpose,
    owner: Option<ContactId>,
    rules: CodeRules,
    now: NaiveDateTime,
) -> LoginAttempt {
    let lifetime = i64::from(rules.lifetime_secs).max(30 * 60);
    LoginAttempt {
        org_id,
        id: AttemptId::new(),
        contact_id: owner,
        identifier_hash: otp::identifier_hash(signer, &org_id, identifier),
        purpose,
        password_proven: false,
        expires_at: now + Duration::seconds(lifetime),
    }
}

/// Stores the attempt and, when it has an owner, `code` bound to it (retiring the owner's
/// older codes of the same purpose). Returns the code's reference for the outbox
/// (`org_id:code_id`), so the message carrying it is dropped rather than sent late.
pub fn store(
    conn: &mut DbConnection,
    signer: &Signer,
    attempt: &LoginAttempt,
    code: &SecretString,
    rules: CodeRules,
    now: NaiveDateTime,
) -> Result<Option<String>, AppError> {
    codes::insert_attempt(conn, attempt, now)?;
    let Some(owner) = attempt.contact_id else {
        return Ok(None);
    };
    codes::retire_codes(conn, &attempt.org_id, &owner, attempt.purpose)?;
    let binding = otp::Binding {
        org_id: &attempt.org_id,
        contact_id: &owner,
        purpose: attempt.purpose,
        attempt_id: &attempt.id,
    };
    let hash = binding.hash(signer, code.expose());
    let code_id = codes::insert_code(
        conn,
        &NewCode {
            org_id: &attempt.org_id,
            attempt_id: &attempt.id,
            contact_id: &owner,
            purpose: attempt.purpose,
            code_hash: &hash,
            max_guesses: rules.max_guesses,
            lifetime_secs: rules.lifetime_secs,
            now,
        },
    )?;
    Ok(Some(format!("{}:{code_id}", attempt.org_id)))
}

/// The live attempt `attempt_id` when it was made for one of `purposes`.
pub fn find_attempt(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &str,
    purposes: &[Purpose],
    now: NaiveDateTime,
) -> Result<Option<LoginAttempt>, AppError> {
    let Some(attempt_id) = AttemptId::parse(attempt_id.trim()) else {
        return Ok(None);
    };
    Ok(codes::find_attempt(conn, org_id, &attempt_id, now)?
        .filter(|attempt| purposes.contains(&attempt.purpose)))
}

/// Checks `code` against the attempt's live code, counting the guess and consuming the code
/// when it is right. Returns the attempt when the code proved it; `None` for wrong, expired,
/// used, retired and unknown alike.
pub fn prove(
    conn: &mut DbConnection,
    signer: &Signer,
    attempt: &LoginAttempt,
    code: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let Some(owner) = attempt.contact_id else {
        return Ok(false);
    };
    let org_id = &attempt.org_id;
    let failures = format!("code:fail:{owner}");
    if limits::count_since(conn, org_id, &failures, now - Duration::hours(1))? >= FAILURES_PER_HOUR
    {
        limits::record(conn, org_id, &failures, now)?;
        return Ok(false);
    }
    let binding = otp::Binding {
        org_id,
        contact_id: &owner,
        purpose: attempt.purpose,
        attempt_id: &attempt.id,
    };
    if codes::guess(conn, org_id, &attempt.id, &binding.hash(signer, code), now)? {
        return Ok(true);
    }
    // The code that already proved the attempt, sent again, is no guess.
    let spent = codes::spent_codes(conn, org_id, &attempt.id)?;
    let resent = spent
        .iter()
        .any(|(status, hash)| status == "used" && binding.matches(signer, hash, code));
    if !resent {
        limits::record(conn, org_id, &failures, now)?;
    }
    Ok(false)
}

/// A refusal for a request that came too soon or too often.
pub fn limited(wait: Duration) -> AppError {
    AppError::RateLimited {
        retry_after_secs: u64::try_from(wait.num_seconds().max(1)).unwrap_or(60),
    }
}

/// Refuses a request when `bucket` (of an organization, or of the platform) was used less than
/// `cooldown_secs` ago, or `per_hour` times in the last hour.
pub fn check_bucket(
    conn: &mut DbConnection,
    scope: impl Into<limits::Scope>,
    bucket: &str,
    cooldown_secs: i64,
    per_hour: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let window = limits::window(conn, scope, bucket, now - Duration::hours(1))?;
    if cooldown_secs > 0
        && let Some(last) = window.latest
    {
        let ready_at = last + Duration::seconds(cooldown_secs);
        if ready_at > now {
            return Err(limited(ready_at - now));
        }
    }
    if window.count >= per_hour {
        return Err(limited(Duration::hours(1)));
    }
    Ok(())
}

/// Checks `bucket` as [`check_bucket`] does, then counts one more event in it, holding the
/// bucket to the end of the running transaction so that simultaneous requests are checked
/// and counted one after another: none slips past a limit its neighbours reached.
pub fn admit_to_bucket(
    conn: &mut DbConnection,
    scope: impl Into<limits::Scope>,
    bucket: &str,
    cooldown_secs: i64,
    per_hour: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let scope = scope.into();
    limits::hold(conn, scope.clone(), &[bucket])?;
    check_bucket(conn, scope.clone(), bucket, cooldown_secs, per_hour, now)?;
    limits::record(conn, scope, bucket, now)
}

/// Where a message goes: an email address or a mobile number.
#[derive(Debug, Clone)]
pub enum Destination {
    Email(String),
    Sms(String),
}

/// The organization's own wording of `kind`, if it has one.
pub fn wording(
    conn: &mut DbConnection,
    org_id: &OrgId,
    kind: MessageKind,
) -> Result<Option<MessageParts>, AppError> {
    message_templates::find(conn, org_id, kind.name())
}

/// A message of `kind` to `to`, in the organization's `wording` when it has one, carrying the
/// code `code_ref` refers to, if any.
pub fn message(
    app: &App,
    org: &Organization,
    kind: MessageKind,
    wording: Option<&MessageParts>,
    values: &AccountMessage<'_>,
    to: Destination,
    code_ref: Option<String>,
) -> Result<NewMessage, AppError> {
    let rendered = app.messages.render_for(kind, wording, values)?;
    let (channel, recipient, subject, text, html) = match to {
        Destination::Email(address) => (
            "email",
            address,
            rendered.subject,
            rendered.text,
            rendered.html,
        ),
        Destination::Sms(number) => ("sms", number, String::new(), rendered.sms, String::new()),
    };
    Ok(NewMessage {
        org_id: Some(org.id),
        channel,
        recipient,
        subject,
        body_text: text,
        body_html: html,
        code_refs: code_ref.into_iter().collect(),
    })
}

/// The address of a portal page, as messages link to it.
pub fn portal_link(app: &App, org: &Organization, path: &str) -> String {
    format!("{}/portal/{}/{path}", app.config.public_url, org.slug)
}
