//! Logging in with a one-time code: asking for a code, and proving it.
//!
//! Every code request makes a login attempt and answers the same way whether or not the
//! identifier belongs to a contact who may get a code: unknown, disabled and paused contacts,
//! and contacts with nowhere to send the code, get an attempt with no code, and nothing is sent
//! to anyone. Limits are counted per identifier (by keyed hash), per client address and per
//! organization, in the database. Verification looks the code up by its attempt, never by the
//! guessed value, counts each guess atomically and consumes the code atomically; wrong, expired,
//! used and unknown all get one answer, except that a code replaced by a newer one is named as
//! such to whoever typed it.

use chrono::{Duration, NaiveDateTime, Utc};
use serde_json::json;

use super::{
    audit::{Actor, AuditEvent},
    contact::{Contact, ContactStatus, Identifier, mask_email, mask_mobile},
    login::SessionOpening,
    messages::{CodeMessage, MessageKind, MessageParts},
    org::{LoginMode, LoginPolicy, OrgId, Organization, OtpChannel},
    otp::{self, AttemptId, LoginAttempt, Purpose},
    session::ClientInfo,
};
use crate::{
    App, AppError,
    config::PlatformLimits,
    metrics::LoginOutcome,
    secret::SecretString,
    storage::{
        DbConnection, accounts, audit, limits, message_templates, orgs,
        otp::{self as codes, NewCode},
        outbox::{self, NewMessage},
    },
};

/// How long codes pause for a contact after too many wrong codes.
const FAILURE_PAUSE_SECS: i64 = 15 * 60;
/// How long a login attempt can be used.
const ATTEMPT_LIFETIME_SECS: i64 = 30 * 60;

/// Who a code is for.
#[derive(Debug, Clone)]
pub enum Requester {
    /// Someone who typed an identifier.
    Identifier(Identifier),
    /// A contact who proved the password: the second step of `password_and_otp`.
    PasswordProven(Contact),
    /// "Send a new code" within an existing attempt.
    Resend(AttemptId),
}

/// The answer to a code request: the same shape whoever asked.
#[derive(Debug, Clone)]
pub struct CodeRequested {
    pub attempt_id: AttemptId,
    pub purpose: Purpose,
    /// Seconds before a new code may be asked for.
    pub resend_after_secs: u32,
}

/// The outcome of a code check.
#[derive(Debug, Clone)]
pub enum CodeCheck {
    /// The code was right: the contact may have a session.
    Proven {
        contact: Contact,
        method: &'static str,
    },
    /// Wrong, expired, used, or no code at all: one answer for all.
    Refused,
    /// The code typed was replaced by a newer one.
    Retired,
}

/// What a code typed on a portal came to.
#[derive(Debug)]
pub enum CodeLogin {
    /// The code was right, and the contact's session is open: its token, to hand out once.
    LoggedIn {
        contact: Contact,
        token: SecretString,
    },
    /// Wrong, expired, used, or no code at all: one answer for all.
    Refused,
    /// The code typed was replaced by a newer one.
    Retired,
}

/// Where a code request's code went, in words safe to show anyone who typed the identifier.
pub fn destination_notice(typed: Option<&Identifier>, channel: OtpChannel) -> String {
    match (typed, channel) {
        (Some(Identifier::Email(email)), OtpChannel::Email) => format!(
            "If {} belongs to an account here, we have emailed a code to it.",
            mask_email(email)
        ),
        (Some(Identifier::Mobile(mobile)), OtpChannel::Mobile) => format!(
            "If {} belongs to an account here, we have sent a code to it by SMS.",
            mask_mobile(mobile)
        ),
        (Some(Identifier::Email(email)), OtpChannel::EmailAndMobile) => format!(
            "If {} belongs to an account here, we have emailed a code to it, and sent the same \
             code by SMS to the mobile number on the account, if there is one.",
            mask_email(email)
        ),
        (Some(Identifier::Mobile(mobile)), OtpChannel::EmailAndMobile) => format!(
            "If {} belongs to an account here, we have sent a code to it by SMS, and the same \
             code by email to the address on the account, if there is one.",
            mask_mobile(mobile)
        ),
        (Some(Identifier::Email(_)), OtpChannel::Mobile) => {
            "If this email address belongs to an account here, we have sent a code by SMS to \
             the mobile number on the account."
                .to_owned()
        }
        (Some(Identifier::Mobile(_)), OtpChannel::Email) => {
            "If this mobile number belongs to an account here, we have emailed a code to the \
             address on the account."
                .to_owned()
        }
        (None, _) => "We have sent you a code. Enter it below.".to_owned(),
    }
}

/// The request as found before anything is written.
struct Plan {
    attempt: LoginAttempt,
    fresh_attempt: bool,
    recipient: Option<Contact>,
    /// The organization's own wording of the code message, if it has one.
    wording: Option<MessageParts>,
}

/// The least time a code request takes to answer. A request for a contact writes a code and
/// its messages, which one for an unknown identifier does not; answering no sooner than this
/// hides that difference (measured at about 10 ms) from anyone timing the answers.
pub const CODE_REQUEST_FLOOR: std::time::Duration = std::time::Duration::from_millis(200);

/// Waits until `floor` has passed since `started`.
async fn after_floor<T>(started: tokio::time::Instant, answer: T) -> T {
    tokio::time::sleep_until(started + CODE_REQUEST_FLOOR).await;
    answer
}

/// Handles a code request: checks the limits, makes the attempt and, when the identifier
/// belongs to a contact who may get one, a code and its messages. It answers no sooner than
/// [`CODE_REQUEST_FLOOR`], whoever asked.
pub async fn request_code(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    requester: Requester,
    client: &ClientInfo,
) -> Result<CodeRequested, AppError> {
    let started = tokio::time::Instant::now();
    let answer = make_code(app, org, policy, requester, client).await;
    after_floor(started, answer).await
}

async fn make_code(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    requester: Requester,
    client: &ClientInfo,
) -> Result<CodeRequested, AppError> {
    let now = Utc::now().naive_utc();
    let mut plan = plan(app, org, policy, requester, now).await?;
    let org_id = org.id;
    let buckets = CodeBuckets::of_org(&org_id, &plan.attempt.identifier_hash, &client.ip);
    let failures = plan.recipient.as_ref().map(failure_bucket);
    let (checked_policy, platform) = (policy.clone(), app.config.limits);
    let paused = app
        .db
        .write(move |conn| {
            buckets.admit(conn, &checked_policy, &platform, now, failures.as_deref())
        })
        .await?;
    if paused {
        plan.recipient = None;
    }
    if plan.fresh_attempt {
        plan.attempt.contact_id = plan.recipient.as_ref().map(|c| c.id);
    }

    let code = otp::generate(policy.code_length);
    let mut messages = Vec::new();
    if let Some(contact) = &plan.recipient {
        let code = code.expose();
        messages = compose(
            app,
            org,
            policy,
            contact,
            &plan.attempt,
            code,
            plan.wording.as_ref(),
        )?;
    }
    let sms_wanted = messages.iter().any(|m| m.channel == "sms");
    let (max_guesses, lifetime_secs) = (policy.code_max_guesses, policy.code_lifetime_secs);
    let signer = app.signer.clone();
    let attempt = plan.attempt.clone();
    let recipient = plan.recipient.clone();
    let fresh = plan.fresh_attempt;
    let sms_cap = i64::from(app.config.limits.sms_per_org_per_day);
    app.db
        .transaction(move |conn| {
            if fresh {
                codes::insert_attempt(conn, &attempt, now)?;
            }
            let Some(contact) = recipient else {
                return Ok(());
            };
            codes::retire_codes(conn, &org_id, &contact.id, attempt.purpose)?;
            let binding = otp::Binding {
                org_id: &org_id,
                contact_id: &contact.id,
                purpose: attempt.purpose,
                attempt_id: &attempt.id,
            };
            let hash = binding.hash(&signer, code.expose());
            let code_id = codes::insert_code(
                conn,
                &NewCode {
                    org_id: &org_id,
                    attempt_id: &attempt.id,
                    contact_id: &contact.id,
                    purpose: attempt.purpose,
                    code_hash: &hash,
                    max_guesses,
                    lifetime_secs,
                    now,
                },
            )?;
            let sms_allowed = !sms_wanted || sms_within_cap(conn, &org_id, sms_cap, now)?;
            for mut message in messages {
                if message.channel == "sms" && !sms_allowed {
                    continue;
                }
                message.code_refs = vec![format!("{org_id}:{code_id}")];
                outbox::enqueue(conn, &message, now)?;
            }
            Ok(())
        })
        .await?;
    app.deliveries.wake();
    Ok(CodeRequested {
        attempt_id: plan.attempt.id,
        purpose: plan.attempt.purpose,
        resend_after_secs: policy.resend_cooldown_secs,
    })
}

fn sms_within_cap(
    conn: &mut DbConnection,
    org_id: &OrgId,
    cap: i64,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    limits::hold(conn, org_id, &["sms:org"])?;
    let sent = limits::count_since(conn, org_id, "sms:org", now - Duration::days(1))?;
    if sent >= cap {
        tracing::warn!(org.id = %org_id, "daily SMS cap reached: SMS held back");
        return Ok(false);
    }
    limits::record(conn, org_id, "sms:org", now)?;
    Ok(true)
}

/// Finds who would get a code, writing nothing, and reads the wording of the code message
/// when there is someone to send it to. The limits come after ([`CodeBuckets::admit`]).
async fn plan(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    requester: Requester,
    now: NaiveDateTime,
) -> Result<Plan, AppError> {
    let org_id = org.id;
    let policy = policy.clone();
    let signer = app.signer.clone();
    app.db
        .run(move |conn| {
            let (attempt, fresh, candidate) = match requester {
                Requester::Identifier(identifier) => {
                    let found = accounts::find_contact_by_identifier(conn, &org_id, &identifier)?;
                    let allowed =
                        matches!(policy.login_mode, LoginMode::Otp | LoginMode::PasswordOrOtp);
                    let contact = found.map(|f| f.contact).filter(|_| allowed);
                    let attempt = new_attempt(
                        &signer,
                        org_id,
                        identifier.as_str(),
                        Purpose::Login,
                        false,
                        now,
                    );
                    (attempt, true, contact)
                }
                Requester::PasswordProven(contact) => {
                    let key = contact
                        .email
                        .clone()
                        .or_else(|| contact.mobile.clone())
                        .unwrap_or_default();
                    let attempt =
                        new_attempt(&signer, org_id, &key, Purpose::SecondFactor, true, now);
                    (attempt, true, Some(contact))
                }
                Requester::Resend(attempt_id) => {
                    let attempt = codes::find_attempt(conn, &org_id, &attempt_id, now)?
                        .filter(|attempt| logs_in(attempt, &policy))
                        .ok_or(AppError::NotFound)?;
                    let contact = match attempt.contact_id {
                        Some(id) => accounts::find_contact(conn, &org_id, &id)?,
                        None => None,
                    };
                    (attempt, false, contact)
                }
            };
            let recipient = candidate.filter(|c| {
                c.status == ContactStatus::Active && has_destination(c, policy.otp_channel)
            });
            let wording = match recipient {
                Some(_) => message_templates::find(conn, &org_id, MessageKind::LoginCode.name())?,
                None => None,
            };
            Ok(Plan {
                attempt,
                fresh_attempt: fresh,
                recipient,
                wording,
            })
        })
        .await
}

fn new_attempt(
    signer: &super::signing::Signer,
    org_id: OrgId,
    identifier: &str,
    purpose: Purpose,
    password_proven: bool,
    now: NaiveDateTime,
) -> LoginAttempt {
    LoginAttempt {
        org_id,
        id: AttemptId::new(),
        contact_id: None,
        identifier_hash: otp::identifier_hash(signer, &org_id, identifier),
        purpose,
        password_proven,
        expires_at: now + Duration::seconds(ATTEMPT_LIFETIME_SECS),
    }
}

/// The limit buckets a code request counts toward.
struct CodeBuckets {
    scope: limits::Scope,
    /// Requests for one identifier, by its keyed hash.
    identifier: String,
    /// Requests from one client address.
    client: String,
    /// Whether every request to the organization counts too (not on the common login page,
    /// which belongs to no organization).
    whole_org: bool,
}

impl CodeBuckets {
    /// The buckets of a request in `org_id` for the identifier with this keyed hash.
    fn of_org(org_id: &OrgId, identifier_hash: &str, ip: &str) -> Self {
        Self::new(org_id.into(), identifier_hash, ip, true)
    }

    /// The buckets of a request on the common login page.
    fn of_platform(identifier_hash: &str, ip: &str) -> Self {
        Self::new(limits::Scope::platform(), identifier_hash, ip, false)
    }

    fn new(scope: limits::Scope, identifier_hash: &str, ip: &str, whole_org: bool) -> Self {
        Self {
            scope,
            identifier: format!("code:id:{identifier_hash}"),
            client: format!("code:ip:{ip}"),
            whole_org,
        }
    }

    /// Admits a request, counting it in every bucket, or refuses it for coming too soon or
    /// too often: within the resend cooldown, or past the hourly or daily codes for the
    /// identifier, the hourly requests from the client address, or the organization's hourly
    /// requests. Simultaneous requests are admitted one after another (`limits::admit`):
    /// call it outside any transaction. Reads the wrong codes of the contact whose `failures`
    /// bucket is given in the same trip, and answers whether they pause its codes
    /// ([`pauses`]).
    fn admit(
        &self,
        conn: &mut DbConnection,
        policy: &LoginPolicy,
        platform: &PlatformLimits,
        now: NaiveDateTime,
        failures: Option<&str>,
    ) -> Result<bool, AppError> {
        let limits = self.limits(policy, platform, now);
        let read: Vec<(&str, NaiveDateTime)> = failures
            .map(|bucket| (bucket, now - Duration::hours(1)))
            .into_iter()
            .collect();
        let only_limits: Vec<limits::Limit<'_>> = limits.iter().map(|(limit, _)| *limit).collect();
        let admission = limits::admit(conn, self.scope.clone(), &only_limits, &read, now)?;
        if !admission.admitted {
            return Err(refusal(&limits, &admission.limits));
        }
        Ok(admission
            .read
            .first()
            .is_some_and(|w| pauses(w, policy, now)))
    }

    /// The limits of a request, each with how long a request it refuses for being one too
    /// many should wait: the identifier's last hour (which also keeps the resend cooldown) and
    /// last day, the client address's last hour, and the organization's last hour when it
    /// counts. Always in this order, which is also the order in which a request holds the
    /// buckets.
    fn limits(
        &self,
        policy: &LoginPolicy,
        platform: &PlatformLimits,
        now: NaiveDateTime,
    ) -> Vec<(limits::Limit<'_>, Duration)> {
        let (hour_ago, day_ago) = (now - Duration::hours(1), now - Duration::days(1));
        let cooldown = Duration::seconds(i64::from(policy.resend_cooldown_secs));
        let mut limits = vec![
            (
                limits::Limit {
                    calm_since: Some(now - cooldown),
                    ..limit(&self.identifier, hour_ago, policy.codes_per_hour)
                },
                Duration::hours(1),
            ),
            (
                limit(&self.identifier, day_ago, policy.codes_per_day),
                Duration::days(1),
            ),
            (
                limit(
                    &self.client,
                    hour_ago,
                    platform.code_requests_per_ip_per_hour,
                ),
                Duration::hours(1),
            ),
        ];
        if self.whole_org {
            limits.push((
                limit(
                    "code:org",
                    hour_ago,
                    platform.code_requests_per_org_per_hour,
                ),
                Duration::minutes(5),
            ));
        }
        limits
    }
}

/// A limit of `cap` events in `bucket` after `since`.
fn limit(bucket: &str, since: NaiveDateTime, cap: u32) -> limits::Limit<'_> {
    limits::Limit {
        bucket,
        since,
        cap: i64::from(cap),
        calm_since: None,
    }
}

/// The answer to a request that `limits` refused, given their `windows`: the wait of the
/// first limit that refuses it, or the time left of the cooldown when that is what refuses.
fn refusal(limits: &[(limits::Limit<'_>, Duration)], windows: &[limits::Window]) -> AppError {
    for ((limit, wait), window) in limits.iter().zip(windows) {
        if let Some(left) = limit.comes_too_soon(window) {
            return limited(left);
        }
        if limit.refuses(window) {
            return limited(*wait);
        }
    }
    // The database refused by a rule these windows do not show: never expected.
    limited(Duration::minutes(1))
}

fn limited(wait: Duration) -> AppError {
    AppError::RateLimited {
        retry_after_secs: u64::try_from(wait.num_seconds().max(1)).unwrap_or(60),
    }
}

/// Whether codes are paused for the contact after too many wrong codes.
fn is_paused(
    conn: &mut DbConnection,
    policy: &LoginPolicy,
    contact: &Contact,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let bucket = failure_bucket(contact);
    let failures = limits::window(conn, &contact.org_id, &bucket, now - Duration::hours(1))?;
    Ok(pauses(&failures, policy, now))
}

/// The bucket of the contact's wrong codes.
fn failure_bucket(contact: &Contact) -> String {
    format!("code:fail:{}", contact.id)
}

/// Whether the wrong codes of the last hour, as `failures` holds them, pause codes now: there
/// were as many as the policy allows, and the latest is less than the pause ago.
fn pauses(failures: &limits::Window, policy: &LoginPolicy, now: NaiveDateTime) -> bool {
    failures.count >= i64::from(policy.code_failures_per_hour)
        && failures
            .latest
            .is_some_and(|last| last + Duration::seconds(FAILURE_PAUSE_SECS) > now)
}

fn has_destination(contact: &Contact, channel: OtpChannel) -> bool {
    match channel {
        OtpChannel::Email => contact.email.is_some(),
        OtpChannel::Mobile => contact.mobile.is_some(),
        OtpChannel::EmailAndMobile => contact.email.is_some() || contact.mobile.is_some(),
    }
}

/// The messages carrying `code` to the contact, one per channel the policy names and the
/// contact has, in the organization's own `wording` when it has one.
fn compose(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    contact: &Contact,
    attempt: &LoginAttempt,
    code: &str,
    wording: Option<&MessageParts>,
) -> Result<Vec<NewMessage>, AppError> {
    let link = format!(
        "{}/portal/{}/login/code?login_id={}",
        app.config.public_url, org.slug, attempt.id
    );
    let rendered = app.messages.render_for(
        MessageKind::LoginCode,
        wording,
        &CodeMessage {
            org_name: &org.name,
            code,
            minutes: policy.code_lifetime_secs / 60,
            portal_link: &link,
        },
    )?;
    let email = matches!(
        policy.otp_channel,
        OtpChannel::Email | OtpChannel::EmailAndMobile
    )
    .then(|| contact.email.clone())
    .flatten();
    let mobile = matches!(
        policy.otp_channel,
        OtpChannel::Mobile | OtpChannel::EmailAndMobile
    )
    .then(|| contact.mobile.clone())
    .flatten();
    let mut messages = Vec::new();
    if let Some(address) = email {
        messages.push(NewMessage {
            org_id: Some(org.id),
            channel: "email",
            recipient: address,
            subject: rendered.subject.clone(),
            body_text: rendered.text.clone(),
            body_html: rendered.html.clone(),
            code_refs: Vec::new(),
        });
    }
    if let Some(number) = mobile {
        messages.push(NewMessage {
            org_id: Some(org.id),
            channel: "sms",
            recipient: number,
            subject: String::new(),
            body_text: rendered.sms.clone(),
            body_html: String::new(),
            code_refs: Vec::new(),
        });
    }
    Ok(messages)
}

/// Checks a typed code against the attempt's live code and, when it is right, opens the
/// contact's `session` in the same transaction.
pub async fn verify_code(
    app: &App,
    org: &Organization,
    policy: &LoginPolicy,
    attempt_id: &str,
    typed: &str,
    client: &ClientInfo,
    session: SessionOpening,
) -> Result<CodeLogin, AppError> {
    let code = otp::read_typed(typed)?;
    let Some(attempt_id) = AttemptId::parse(attempt_id.trim()) else {
        return Ok(CodeLogin::Refused);
    };
    let org_id = org.id;
    let policy = policy.clone();
    let signer = app.signer.clone();
    let client = client.clone();
    let (login, method) = app
        .db
        .transaction(move |conn| {
            let now = Utc::now().naive_utc();
            let check = check_code(conn, &signer, &policy, &org_id, &attempt_id, &code, now)?;
            record_check(conn, org_id, &check, None, &client)?;
            Ok(match check {
                CodeCheck::Proven { contact, method } => {
                    let token = session.write(conn, &contact, method)?;
                    (CodeLogin::LoggedIn { contact, token }, Some(method))
                }
                CodeCheck::Refused => (CodeLogin::Refused, None),
                CodeCheck::Retired => (CodeLogin::Retired, None),
            })
        })
        .await?;
    count_check(app, org_id, method);
    Ok(login)
}

/// Counts a code check in the instance's metrics: a login by `method` when it proved the
/// contact, a failed code login when it did not.
fn count_check(app: &App, org_id: OrgId, method: Option<&'static str>) {
    match method {
        Some(method) => app.metrics.login(org_id, method, LoginOutcome::Succeeded),
        None => app.metrics.login(org_id, "otp", LoginOutcome::Failed),
    }
}

/// Writes a code check into the audit log: its method, and the page it came from when that
/// is not the portal's own.
fn record_check(
    conn: &mut DbConnection,
    org_id: OrgId,
    check: &CodeCheck,
    page: Option<&str>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let (kind, detail, actor) = match check {
        CodeCheck::Proven { contact, method } => (
            "login.succeeded",
            json!({ "method": method, "page": page }),
            Actor::Contact(contact.id.to_string()),
        ),
        CodeCheck::Refused | CodeCheck::Retired => (
            "login.failed",
            json!({ "method": "otp", "page": page, "reason": "wrong_code" }),
            Actor::Anonymous,
        ),
    };
    audit::record(
        conn,
        &AuditEvent {
            org_id: Some(org_id),
            actor,
            kind,
            detail,
            client_ip: client.ip.clone(),
        },
    )
}

/// Whether `attempt` is one that a code logs in by under `policy`: a login by code where the
/// portal allows one, or the code after a proven password where the portal asks for both.
/// Attempts of every other purpose (a password reset, a change of address, ...) have codes
/// of their own, which never log anyone in, and are never sent again as login codes.
fn logs_in(attempt: &LoginAttempt, policy: &LoginPolicy) -> bool {
    match attempt.purpose {
        Purpose::Login => matches!(policy.login_mode, LoginMode::Otp | LoginMode::PasswordOrOtp),
        Purpose::SecondFactor => {
            policy.login_mode == LoginMode::PasswordAndOtp && attempt.password_proven
        }
        Purpose::PasswordReset
        | Purpose::Invitation
        | Purpose::RegistrationEmail
        | Purpose::RegistrationMobile
        | Purpose::ContactChange => false,
    }
}

fn check_code(
    conn: &mut DbConnection,
    signer: &super::signing::Signer,
    policy: &LoginPolicy,
    org_id: &OrgId,
    attempt_id: &AttemptId,
    code: &str,
    now: NaiveDateTime,
) -> Result<CodeCheck, AppError> {
    let Some((attempt, contact)) = codes::find_attempt_of_contact(conn, org_id, attempt_id, now)?
    else {
        return Ok(CodeCheck::Refused);
    };
    if !logs_in(&attempt, policy) || contact.status != ContactStatus::Active {
        return Ok(CodeCheck::Refused);
    }
    let contact_id = contact.id;
    let failure_bucket = failure_bucket(&contact);
    if is_paused(conn, policy, &contact, now)? {
        limits::record(conn, org_id, &failure_bucket, now)?;
        return Ok(CodeCheck::Refused);
    }
    let binding = otp::Binding {
        org_id,
        contact_id: &contact_id,
        purpose: attempt.purpose,
        attempt_id,
    };
    let right = |hash: &str| binding.matches(signer, hash, code);

    if codes::guess(conn, org_id, attempt_id, &binding.hash(signer, code), now)? {
        let method = match attempt.purpose {
            Purpose::SecondFactor => "password+otp",
            _ => "otp",
        };
        return Ok(CodeCheck::Proven { contact, method });
    }
    // The code that already proved this attempt, sent again (a second click on a slow link),
    // is refused but no guess: it must not pause the contact who just logged in with it.
    let spent = codes::spent_codes(conn, org_id, attempt_id)?;
    let typed_was = |status: &str| spent.iter().any(|(s, hash)| s == status && right(hash));
    if typed_was("used") {
        return Ok(CodeCheck::Refused);
    }
    limits::record(conn, org_id, &failure_bucket, now)?;
    if typed_was("retired") {
        return Ok(CodeCheck::Retired);
    }
    Ok(CodeCheck::Refused)
}

/// The answer to a code request on the common login page: the same shape whoever asked.
#[derive(Debug, Clone)]
pub struct CommonCodeRequested {
    pub id: String,
}

/// One organization where a common-page identifier may log in by code.
struct CommonCandidate {
    policy: LoginPolicy,
    contact: Contact,
}

/// Handles a code request on the common login page: one code, sent once to the identifier
/// typed, valid in every live organization where that identifier may log in by code there
/// (the organization allows codes alone and sends them to that kind of identifier).
pub async fn request_common_code(
    app: &App,
    identifier: &Identifier,
    client: &ClientInfo,
) -> Result<CommonCodeRequested, AppError> {
    let started = tokio::time::Instant::now();
    let answer = make_common_code(app, identifier, client).await;
    after_floor(started, answer).await
}

async fn make_common_code(
    app: &App,
    identifier: &Identifier,
    client: &ClientInfo,
) -> Result<CommonCodeRequested, AppError> {
    let now = Utc::now().naive_utc();
    let platform = app.config.limits;
    let id_hash = otp::platform_identifier_hash(&app.signer, identifier.as_str());
    let buckets = CodeBuckets::of_platform(&id_hash, &client.ip);
    let lookup = identifier.clone();
    app.db
        .write(move |conn| buckets.admit(conn, &LoginPolicy::default(), &platform, now, None))
        .await?;
    let candidates = app
        .db
        .run(move |conn| common_candidates(conn, &lookup, now))
        .await?;

    let code_length = candidates
        .iter()
        .map(|c| c.policy.code_length)
        .max()
        .unwrap_or(6);
    let lifetime = candidates
        .iter()
        .map(|c| c.policy.code_lifetime_secs)
        .min()
        .unwrap_or(300);
    let code = otp::generate(code_length);
    let common_id = uuid::Uuid::new_v4().to_string();
    let link = format!("{}/code?login_id={common_id}", app.config.public_url);
    let rendered = app.messages.render(
        "common_login_code",
        &super::messages::CommonCodeMessage {
            code: code.expose(),
            minutes: lifetime / 60,
            portal_link: &link,
        },
    )?;
    let signer = app.signer.clone();
    let typed = identifier.clone();
    let id = common_id.clone();
    app.db
        .transaction(move |conn| {
            let mut attempts = Vec::new();
            let mut code_refs = Vec::new();
            for candidate in &candidates {
                let contact = &candidate.contact;
                let mut attempt = new_attempt(
                    &signer,
                    contact.org_id,
                    typed.as_str(),
                    Purpose::Login,
                    false,
                    now,
                );
                attempt.contact_id = Some(contact.id);
                codes::insert_attempt(conn, &attempt, now)?;
                codes::retire_codes(conn, &contact.org_id, &contact.id, Purpose::Login)?;
                let binding = otp::Binding {
                    org_id: &contact.org_id,
                    contact_id: &contact.id,
                    purpose: Purpose::Login,
                    attempt_id: &attempt.id,
                };
                let hash = binding.hash(&signer, code.expose());
                let code_id = codes::insert_code(
                    conn,
                    &NewCode {
                        org_id: &contact.org_id,
                        attempt_id: &attempt.id,
                        contact_id: &contact.id,
                        purpose: Purpose::Login,
                        code_hash: &hash,
                        max_guesses: candidate.policy.code_max_guesses,
                        lifetime_secs: lifetime,
                        now,
                    },
                )?;
                attempts.push((contact.org_id, attempt.id));
                code_refs.push(format!("{}:{code_id}", contact.org_id));
            }
            let expires_at = now + Duration::seconds(ATTEMPT_LIFETIME_SECS);
            codes::insert_common(conn, &id, &attempts, now, expires_at)?;
            if code_refs.is_empty() {
                return Ok(());
            }
            let (channel, subject, text, html) = match &typed {
                Identifier::Email(_) => ("email", rendered.subject, rendered.text, rendered.html),
                Identifier::Mobile(_) => ("sms", String::new(), rendered.sms, String::new()),
            };
            let message = NewMessage {
                org_id: None,
                channel,
                recipient: typed.as_str().to_owned(),
                subject,
                body_text: text,
                body_html: html,
                code_refs,
            };
            outbox::enqueue(conn, &message, now)?;
            Ok(())
        })
        .await?;
    app.deliveries.wake();
    Ok(CommonCodeRequested { id: common_id })
}

fn common_candidates(
    conn: &mut DbConnection,
    identifier: &Identifier,
    now: NaiveDateTime,
) -> Result<Vec<CommonCandidate>, AppError> {
    let mut candidates = Vec::new();
    for found in accounts::find_contacts_everywhere(conn, identifier)? {
        let contact = found.contact;
        let policy = orgs::policy(conn, &contact.org_id)?;
        let by_code = matches!(policy.login_mode, LoginMode::Otp | LoginMode::PasswordOrOtp);
        let reaches = match identifier {
            Identifier::Email(_) => policy.otp_channel != OtpChannel::Mobile,
            Identifier::Mobile(_) => policy.otp_channel != OtpChannel::Email,
        };
        if by_code
            && reaches
            && contact.status == ContactStatus::Active
            && !is_paused(conn, &policy, &contact, now)?
        {
            candidates.push(CommonCandidate { policy, contact });
        }
    }
    Ok(candidates)
}

/// Checks a code typed on the common login page against every organization its request
/// reached; returns the contacts it proves.
pub async fn verify_common_code(
    app: &App,
    common_id: &str,
    typed: &str,
    client: &ClientInfo,
) -> Result<Vec<Contact>, AppError> {
    let code = otp::read_typed(typed)?;
    let common_id = common_id.trim().chars().take(64).collect::<String>();
    let signer = app.signer.clone();
    let client = client.clone();
    // One transaction, so that the wrong codes it records hold their buckets to the end.
    let checks = app
        .db
        .transaction(move |conn| {
            let now = Utc::now().naive_utc();
            let Some(attempts) = codes::find_common(conn, &common_id, now)? else {
                return Ok(Vec::new());
            };
            let mut checks = Vec::new();
            for (org_id, attempt_id) in attempts {
                let policy = orgs::policy(conn, &org_id)?;
                let check = check_code(conn, &signer, &policy, &org_id, &attempt_id, &code, now)?;
                record_check(conn, org_id, &check, Some("common"), &client)?;
                checks.push((org_id, check));
            }
            Ok(checks)
        })
        .await?;
    let mut proven = Vec::new();
    for (org_id, check) in checks {
        match check {
            CodeCheck::Proven { contact, method } => {
                count_check(app, org_id, Some(method));
                proven.push(contact);
            }
            CodeCheck::Refused | CodeCheck::Retired => count_check(app, org_id, None),
        }
    }
    Ok(proven)
}
