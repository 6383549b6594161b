//! Password login: proving a password, counting failures into lockouts, and opening sessions.
//!
//! Every attempt costs one full password hash, whatever the identifier: unknown, disabled,
//! locked or password-less contacts are checked against a dummy hash, and the answer is the
//! same generic refusal, so neither timing nor wording tells an outsider which identifiers
//! exist or which are locked. Only wrong passwords of real, usable contacts count toward a
//! lockout. An attempt is counted before its hash is checked and forgotten if it succeeds, so
//! that a burst of simultaneous guesses gets no more checks than the policy allows. Known
//! limit: a lockout is not yet announced to the contact by email; that needs the outbox of
//! issue #3.

use chrono::{Duration, NaiveDateTime, Utc};
use serde_json::json;

use super::{
    audit::{Actor, AuditEvent, FailureReason},
    contact::{Contact, ContactStatus, Identifier},
    org::{LoginPolicy, OrgId, Organization},
    password::Verdict,
    session::{self, ClientInfo},
};
use crate::{
    App, AppError,
    metrics::LoginOutcome,
    secret::SecretString,
    storage::{
        DbConnection,
        accounts::{self, Admission, ContactCredentials},
        audit, orgs,
        sessions::{self, NewSession},
    },
};

/// The outcome of checking one contact's password.
#[derive(Debug)]
enum Proof {
    Proven(Contact),
    Refused(FailureReason),
}

/// Checks a password for the contact known by `identifier` in one organization.
/// Returns the contact when the password is right and the contact may log in.
pub async fn prove_password(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    identifier: &Identifier,
    password: SecretString,
    client: &ClientInfo,
) -> Result<Option<Contact>, AppError> {
    let org_id = org.id;
    let lookup = identifier.clone();
    let found = app
        .db
        .run(move |conn| accounts::find_contact_by_identifier(conn, &org_id, &lookup))
        .await?;
    let proof = check(app, found.as_ref(), policy, password).await?;
    settle(app, org.id, policy, found.as_ref(), &proof, client).await?;
    Ok(match proof {
        Proof::Proven(contact) => Some(contact),
        Proof::Refused(_) => None,
    })
}

/// Checks a password against every contact known by `identifier` in a live organization that
/// lets a password alone log in, for the common login page. Returns the contacts it proves.
/// Failures count against the contacts only when the password proved none of them.
pub async fn prove_password_everywhere(
    app: &App,
    identifier: &Identifier,
    password: SecretString,
    client: &ClientInfo,
) -> Result<Vec<Contact>, AppError> {
    let lookup = identifier.clone();
    let candidates = app
        .db
        .run(move |conn| {
            let mut candidates = Vec::new();
            for found in accounts::find_contacts_everywhere(conn, &lookup)? {
                let policy = orgs::policy(conn, &found.contact.org_id)?;
                if policy.login_mode.uses_password() {
                    candidates.push((found, policy));
                }
            }
            Ok(candidates)
        })
        .await?;

    if candidates.is_empty() {
        check(app, None, &LoginPolicy::default(), password).await?;
        return Ok(Vec::new());
    }
    let mut proofs = Vec::with_capacity(candidates.len());
    for (found, policy) in &candidates {
        proofs.push(check(app, Some(found), policy, password.clone()).await?);
    }
    let any_proven = proofs.iter().any(|p| matches!(p, Proof::Proven(_)));
    let mut proven = Vec::new();
    for ((found, policy), proof) in candidates.iter().zip(proofs) {
        if any_proven && !matches!(proof, Proof::Proven(_)) {
            if matches!(proof, Proof::Refused(FailureReason::WrongPassword)) {
                withdraw(app, &found.contact).await?;
            }
            continue;
        }
        settle(
            app,
            found.contact.org_id,
            policy,
            Some(found),
            &proof,
            client,
        )
        .await?;
        if let Proof::Proven(contact) = proof {
            proven.push(contact);
        }
    }
    Ok(proven)
}

/// Opens a session for a proven contact and returns its token, to be handed out once.
pub async fn open_session(
    app: &App,
    policy: &LoginPolicy,
    contact: &Contact,
    method: &'static str,
    client: &ClientInfo,
) -> Result<SecretString, AppError> {
    replace_session(app, policy, contact, method, client, None).await
}

/// Opens a session for a proven contact as [`open_session`] does, and ends the session of
/// the organization that had the token `replaced` (the browser's earlier session), in one
/// transaction: the earlier session ends exactly when the new one is stored.
pub async fn replace_session(
    app: &App,
    policy: &LoginPolicy,
    contact: &Contact,
    method: &'static str,
    client: &ClientInfo,
    replaced: Option<&SecretString>,
) -> Result<SecretString, AppError> {
    let opening = SessionOpening::new(policy, replaced, client);
    let contact = contact.clone();
    let write = move |conn: &mut DbConnection| opening.write(conn, &contact, method);
    if replaced.is_some() {
        app.db.transaction(write).await
    } else {
        app.db.write(write).await
    }
}

/// A session to open once a contact is proven, inside the transaction that proves it.
#[derive(Debug, Clone)]
pub struct SessionOpening {
    /// The hash of the browser's earlier session token at the portal, ended by this one.
    replaced: Option<String>,
    lifetime_secs: u32,
    client: ClientInfo,
}

impl SessionOpening {
    /// A session under `policy` for the client, replacing the session whose token is
    /// `replaced`.
    pub fn new(policy: &LoginPolicy, replaced: Option<&SecretString>, client: &ClientInfo) -> Self {
        Self {
            replaced: replaced.map(session::token_hash),
            lifetime_secs: policy.session_absolute_secs,
            client: client.clone(),
        }
    }

    /// Ends the replaced session, when it is the contact's organization's, and stores the
    /// new one; returns its token, to be handed out once.
    pub fn write(
        &self,
        conn: &mut DbConnection,
        contact: &Contact,
        method: &'static str,
    ) -> Result<SecretString, AppError> {
        if let Some(replaced) = &self.replaced {
            sessions::delete_by_token(conn, &contact.org_id, replaced)?;
        }
        let token = session::new_token();
        let now = Utc::now().naive_utc();
        sessions::insert(
            conn,
            &NewSession {
                org_id: &contact.org_id,
                contact_id: &contact.id,
                token_hash: &session::token_hash(&token),
                auth_method: method,
                now,
                expires_at: now + Duration::seconds(i64::from(self.lifetime_secs)),
                client: &self.client,
            },
        )?;
        Ok(token)
    }
}

/// One hash's worth of work: the contact's own hash when it may log in, the dummy otherwise.
async fn check(
    app: &App,
    found: Option<&ContactCredentials>,
    policy: &LoginPolicy,
    password: SecretString,
) -> Result<Proof, AppError> {
    let now = Utc::now().naive_utc();
    let mut refusal = refusal_before_hashing(found, policy, &password, now);
    if let (None, Some(found)) = (refusal, found)
        && !wait_for_place(|| admit(app, found, policy)).await?
    {
        refusal = Some(FailureReason::Locked);
    }
    let stored = match refusal {
        None => found.and_then(|f| f.password_hash.clone()),
        Some(_) => None,
    };
    let verdict = app.hasher.verify(password, stored).await?;
    Ok(match (refusal, verdict, found) {
        (Some(reason), _, _) => Proof::Refused(reason),
        (None, Verdict::Match { rehash }, Some(found)) => {
            if let Some(hash) = rehash {
                let (org_id, contact_id) = (found.contact.org_id, found.contact.id);
                app.db
                    .run(move |conn| {
                        accounts::set_contact_password_hash(conn, &org_id, &contact_id, &hash)
                    })
                    .await?;
            }
            Proof::Proven(found.contact.clone())
        }
        (None, _, _) => Proof::Refused(FailureReason::WrongPassword),
    })
}

/// How long a password attempt waits for a place in its lockout allowance while attempts
/// still being checked hold it, before it is refused as locked.
const PLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks `admit` for a place in a lockout allowance until it gives one (true) or says the
/// account is locked, or [`PLACE_WAIT`] has passed (false). While attempts still being checked
/// hold the allowance, it asks again after a pause that doubles up to half a second: right
/// passwords sent at once all get in as each success frees the allowance, guesses wait until
/// one of them locks the account.
pub(crate) async fn wait_for_place<F, Fut>(mut admit: F) -> Result<bool, AppError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Admission, AppError>>,
{
    let deadline = tokio::time::Instant::now() + PLACE_WAIT;
    let mut pause = std::time::Duration::from_millis(20);
    loop {
        match admit().await? {
            Admission::Admitted => return Ok(true),
            Admission::Locked => return Ok(false),
            Admission::Full if tokio::time::Instant::now() + pause > deadline => {
                return Ok(false);
            }
            Admission::Full => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(500));
            }
        }
    }
}

/// Counts the attempt against the contact before its hash is checked, when the allowance has
/// room (see [`accounts::admit_password_attempt`]).
async fn admit(
    app: &App,
    found: &ContactCredentials,
    policy: &LoginPolicy,
) -> Result<Admission, AppError> {
    let (org_id, contact_id, policy) = (found.contact.org_id, found.contact.id, policy.clone());
    let now = Utc::now().naive_utc();
    app.db
        .transaction(move |conn| {
            accounts::admit_password_attempt(conn, &org_id, &contact_id, &policy, now)
        })
        .await
}

/// Why an attempt fails whatever the password is, if it does.
fn refusal_before_hashing(
    found: Option<&ContactCredentials>,
    policy: &LoginPolicy,
    password: &SecretString,
    now: NaiveDateTime,
) -> Option<FailureReason> {
    let Some(found) = found else {
        return Some(FailureReason::UnknownIdentifier);
    };
    if !policy.login_mode.uses_password() || found.password_hash.is_none() {
        return Some(FailureReason::NoPassword);
    }
    if found.contact.status == ContactStatus::Disabled {
        return Some(FailureReason::Disabled);
    }
    if found.is_locked(now) {
        return Some(FailureReason::Locked);
    }
    if password.expose().is_empty() {
        return Some(FailureReason::EmptyPassword);
    }
    None
}

/// Takes back the counted attempt of a contact the password did not prove, when it proved
/// another contact of the same identifier on the common login page.
async fn withdraw(app: &App, contact: &Contact) -> Result<(), AppError> {
    let (org_id, contact_id) = (contact.org_id, contact.id);
    app.db
        .transaction(move |conn| accounts::withdraw_password_attempt(conn, &org_id, &contact_id))
        .await
}

/// Records the attempt: forgets the counted failures after a success, locks the contact once
/// its failures are spent, and writes the audit event.
async fn settle(
    app: &App,
    org_id: OrgId,
    policy: &LoginPolicy,
    found: Option<&ContactCredentials>,
    proof: &Proof,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let contact_id = found.map(|f| f.contact.id);
    let policy = policy.clone();
    let (kind, reason, outcome) = match proof {
        Proof::Proven(_) => ("login.succeeded", None, LoginOutcome::Succeeded),
        Proof::Refused(reason) => ("login.failed", Some(*reason), LoginOutcome::Failed),
    };
    app.metrics.login(org_id, "password", outcome);
    let event = AuditEvent {
        org_id: Some(org_id),
        actor: contact_id.map_or(Actor::Anonymous, |id| Actor::Contact(id.to_string())),
        kind,
        detail: json!({ "method": "password", "reason": reason }),
        client_ip: client.ip.clone(),
    };
    app.db
        .transaction(move |conn| {
            match (contact_id, reason) {
                (Some(id), None) => accounts::clear_password_failures(conn, &org_id, &id)?,
                (Some(id), Some(FailureReason::WrongPassword)) => {
                    let now = Utc::now().naive_utc();
                    if accounts::lock_when_spent(conn, &org_id, &id, &policy, now)? {
                        tracing::info!(org.id = %org_id, contact.id = %id, "contact locked out");
                    }
                }
                _ => {}
            }
            audit::record(conn, &event)
        })
        .await
}
