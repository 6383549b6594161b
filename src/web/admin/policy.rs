//! General Settings > Self-Service Portal Settings: the organization's whole login policy,
//! self-registration, what anonymous visitors see and what contacts may do with requests.
//!
//! A save goes through four gates, in order: every value parses and lies in its range (each
//! error next to its field); the policy can work on this platform (no codes by SMS without a
//! gateway); the admin proved the password within the last 10 minutes, or types it again;
//! and a change that would strand contacts says how many and how they get in, and is saved
//! only once the admin confirms. Each changed setting becomes one `policy.changed` audit event
//! with its old and new value, written in the same transaction as the policy. The checks and
//! the save are [`policy_change::save`]'s, the same the API's login policy `PUT` goes through;
//! this page asks for the password and the confirmation it calls for. The portal reads
//! the policy per request, so a saved change holds from the next login attempt.

use std::{collections::HashMap, sync::Arc};

use chrono::Utc;
use poem::{
    Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::Serialize;

use super::{
    Chrome, FieldErrors, admin_origin, managed_org, orgs::NoticeQuery, render, signed_in, to_login,
};
use crate::{
    App,
    domain::{
        admin_login::{self, AdminSession},
        org::{LoginMode, LoginPolicy, Organization, OtpChannel, SelfRegistration},
        policy_change::{self, Assurance, PolicySave},
    },
    secret::SecretString,
    storage::orgs as org_store,
    web::{cookies, csrf, see_other},
};

/// Adds the page to `route`.
pub fn routes(route: Route) -> Route {
    route.at(
        "/admin/orgs/:slug/settings/self-service-portal",
        poem::get(page).post(save),
    )
}

/// A whole-number setting of the form.
struct NumberSetting {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    value: fn(&mut LoginPolicy) -> &mut u32,
}

const NUMBERS: &[NumberSetting] = &[
    NumberSetting {
        name: "code_length",
        label: "Code length (digits)",
        help: "How many digits each one-time code has: 6 to 10.",
        value: |p| &mut p.code_length,
    },
    NumberSetting {
        name: "code_lifetime_secs",
        label: "Code lifetime (seconds)",
        help: "How long a code works after it is sent: 120 to 600 seconds.",
        value: |p| &mut p.code_lifetime_secs,
    },
    NumberSetting {
        name: "code_max_guesses",
        label: "Wrong guesses per code",
        help: "After this many wrong guesses (1 to 5) a code stops working.",
        value: |p| &mut p.code_max_guesses,
    },
    NumberSetting {
        name: "resend_cooldown_secs",
        label: "Resend cooldown (seconds)",
        help: "How long a contact waits before asking for another code: 30 to 300 seconds.",
        value: |p| &mut p.resend_cooldown_secs,
    },
    NumberSetting {
        name: "codes_per_hour",
        label: "Codes per hour",
        help: "Most codes sent to one email or mobile number in an hour: 1 to 20.",
        value: |p| &mut p.codes_per_hour,
    },
    NumberSetting {
        name: "codes_per_day",
        label: "Codes per day",
        help: "Most codes sent to one email or mobile number in a day: at least the hourly \
               number, at most 50.",
        value: |p| &mut p.codes_per_day,
    },
    NumberSetting {
        name: "code_failures_per_hour",
        label: "Code failures per hour",
        help: "Wrong codes a contact may enter in an hour, across all codes, before codes \
               pause for 15 minutes: 3 to 50.",
        value: |p| &mut p.code_failures_per_hour,
    },
    NumberSetting {
        name: "password_min_length",
        label: "Minimum password length",
        help: "Shortest password accepted: 15 to 64 when a password is the only factor, 8 to \
               64 with a code as second factor.",
        value: |p| &mut p.password_min_length,
    },
    NumberSetting {
        name: "lockout_threshold",
        label: "Wrong passwords before lockout",
        help: "Wrong passwords within the window that lock a contact out: 3 to 50.",
        value: |p| &mut p.lockout_threshold,
    },
    NumberSetting {
        name: "lockout_window_secs",
        label: "Lockout window (seconds)",
        help: "The span in which wrong passwords are counted: 60 to 86400 seconds.",
        value: |p| &mut p.lockout_window_secs,
    },
    NumberSetting {
        name: "lockout_secs",
        label: "Lockout time (seconds)",
        help: "How long a locked-out contact waits: 60 to 86400 seconds.",
        value: |p| &mut p.lockout_secs,
    },
    NumberSetting {
        name: "session_idle_secs",
        label: "Session idle timeout (seconds)",
        help: "A contact's session ends after this long without use: 300 to 86400 seconds.",
        value: |p| &mut p.session_idle_secs,
    },
    NumberSetting {
        name: "session_absolute_secs",
        label: "Session lifetime (seconds)",
        help: "A contact's session ends this long after login, however busy: 900 seconds to \
               30 days, and not shorter than the idle timeout.",
        value: |p| &mut p.session_absolute_secs,
    },
];

/// A yes/no setting of the form.
struct SwitchSetting {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    value: fn(&mut LoginPolicy) -> &mut bool,
}

const SWITCHES: &[SwitchSetting] = &[
    SwitchSetting {
        name: "anonymous_solutions",
        label: "Solutions without login",
        help: "Visitors who are not logged in may browse published solutions.",
        value: |p| &mut p.anonymous_solutions,
    },
    SwitchSetting {
        name: "contacts_may_close",
        label: "Contacts may close their requests",
        help: "A contact may mark their own request as closed.",
        value: |p| &mut p.contacts_may_close,
    },
    SwitchSetting {
        name: "contacts_may_reopen",
        label: "Contacts may reopen their requests",
        help: "A contact may reopen a request that was resolved or closed.",
        value: |p| &mut p.contacts_may_reopen,
    },
];

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// One field of the page as the template draws it.
#[derive(Serialize)]
struct FieldView {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    kind: &'static str,
    value: String,
    checked: bool,
    choices: Vec<Choice>,
    error: Option<String>,
}

#[derive(Serialize)]
struct PolicyView {
    #[serde(flatten)]
    chrome: Chrome,
    login_fields: Vec<FieldView>,
    code_fields: Vec<FieldView>,
    password_fields: Vec<FieldView>,
    portal_fields: Vec<FieldView>,
    /// Why the whole form was refused, when no one field is to blame.
    error: Option<String>,
    needs_password: bool,
    admin_password_error: Option<String>,
    warnings: Vec<String>,
}

/// The form as submitted: every field as typed, so a refused form comes back as it was.
type Submitted = HashMap<String, String>;

fn text_of(submitted: Option<&Submitted>, name: &str, stored: String) -> String {
    match submitted {
        Some(form) => form.get(name).cloned().unwrap_or_default(),
        None => stored,
    }
}

fn choices<T: Copy + PartialEq>(
    options: &[(T, &'static str, &'static str)],
    selected: &str,
    as_str: fn(T) -> &'static str,
) -> Vec<Choice> {
    options
        .iter()
        .map(|(option, _, label)| Choice {
            value: as_str(*option),
            label,
            selected: as_str(*option) == selected,
        })
        .collect()
}

const MODES: &[(LoginMode, &str, &str)] = &[
    (LoginMode::Password, "password", "Password"),
    (LoginMode::Otp, "otp", "One-time code"),
    (
        LoginMode::PasswordOrOtp,
        "password_or_otp",
        "Password or one-time code (the contact picks)",
    ),
    (
        LoginMode::PasswordAndOtp,
        "password_and_otp",
        "Password, then a one-time code (two steps)",
    ),
];

const CHANNELS: &[(OtpChannel, &str, &str)] = &[
    (OtpChannel::Email, "email", "Email"),
    (OtpChannel::Mobile, "mobile", "SMS to the mobile number"),
    (
        OtpChannel::EmailAndMobile,
        "email_and_mobile",
        "Email and SMS: one code sent to both",
    ),
];

const REGISTRATION: &[(SelfRegistration, &str, &str)] = &[
    (
        SelfRegistration::Off,
        "off",
        "Off: only admins add contacts",
    ),
    (SelfRegistration::Open, "open", "Open: anyone may register"),
    (
        SelfRegistration::WithApproval,
        "with_approval",
        "With approval: an admin approves each registration",
    ),
];

/// Builds the page's fields from the stored policy, or from what was submitted.
fn fields(
    policy: &LoginPolicy,
    submitted: Option<&Submitted>,
    errors: &FieldErrors,
) -> [Vec<FieldView>; 4] {
    let error = |name: &str| errors.get(name).cloned();
    let select = |name: &'static str,
                  label: &'static str,
                  help: &'static str,
                  stored: &'static str,
                  make: &dyn Fn(&str) -> Vec<Choice>| {
        let value = text_of(submitted, name, stored.to_owned());
        FieldView {
            name,
            label,
            help,
            kind: "select",
            choices: make(&value),
            value,
            checked: false,
            error: error(name),
        }
    };
    let login = vec![
        select(
            "login_mode",
            "Login method",
            "How contacts prove who they are.",
            policy.login_mode.as_str(),
            &|v| choices(MODES, v, LoginMode::as_str),
        ),
        select(
            "otp_channel",
            "Where codes go",
            "Where one-time codes are sent, when the login method uses them.",
            policy.otp_channel.as_str(),
            &|v| choices(CHANNELS, v, OtpChannel::as_str),
        ),
    ];
    let number = |setting: &NumberSetting| {
        let mut copy = policy.clone();
        let stored = (setting.value)(&mut copy).to_string();
        FieldView {
            name: setting.name,
            label: setting.label,
            help: setting.help,
            kind: "number",
            value: text_of(submitted, setting.name, stored),
            checked: false,
            choices: Vec::new(),
            error: error(setting.name),
        }
    };
    let code = NUMBERS[..7].iter().map(number).collect();
    let password = NUMBERS[7..].iter().map(number).collect();
    let mut portal = vec![
        select(
            "self_registration",
            "Self-registration",
            "Whether visitors may create their own contact.",
            policy.self_registration.as_str(),
            &|v| choices(REGISTRATION, v, SelfRegistration::as_str),
        ),
        FieldView {
            name: "registration_domains",
            label: "Allowed email domains",
            help: "Only these domains may register, separated by commas; empty allows any.",
            kind: "text",
            value: text_of(
                submitted,
                "registration_domains",
                policy.registration_domains.join(", "),
            ),
            checked: false,
            choices: Vec::new(),
            error: error("registration_domains"),
        },
    ];
    portal.extend(SWITCHES.iter().map(|setting| {
        let mut copy = policy.clone();
        let checked = match submitted {
            Some(form) => form.contains_key(setting.name),
            None => *(setting.value)(&mut copy),
        };
        FieldView {
            name: setting.name,
            label: setting.label,
            help: setting.help,
            kind: "checkbox",
            value: String::new(),
            checked,
            choices: Vec::new(),
            error: error(setting.name),
        }
    }));
    [login, code, password, portal]
}

/// Reads the submitted policy; every field that does not parse gets its own error.
fn parse(form: &Submitted) -> Result<LoginPolicy, FieldErrors> {
    let mut policy = LoginPolicy::default();
    let mut errors = FieldErrors::new();
    let text = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    match LoginMode::parse(text("login_mode")) {
        Some(mode) => policy.login_mode = mode,
        None => {
            errors.insert("login_mode", "Choose a login method.".to_owned());
        }
    }
    match OtpChannel::parse(text("otp_channel")) {
        Some(channel) => policy.otp_channel = channel,
        None => {
            errors.insert("otp_channel", "Choose where codes go.".to_owned());
        }
    }
    match SelfRegistration::parse(text("self_registration")) {
        Some(registration) => policy.self_registration = registration,
        None => {
            errors.insert(
                "self_registration",
                "Choose a registration setting.".to_owned(),
            );
        }
    }
    for setting in NUMBERS {
        match text(setting.name).parse::<u32>() {
            Ok(number) => *(setting.value)(&mut policy) = number,
            Err(_) => {
                errors.insert(setting.name, "Enter a whole number.".to_owned());
            }
        }
    }
    for setting in SWITCHES {
        *(setting.value)(&mut policy) = form.contains_key(setting.name);
    }
    policy.registration_domains = text("registration_domains")
        .split(',')
        .map(|domain| domain.trim().to_lowercase())
        .filter(|domain| !domain.is_empty())
        .collect();
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

/// What a refused or unconfirmed form shows besides its fields.
#[derive(Default)]
struct Outcome {
    errors: FieldErrors,
    error: Option<String>,
    admin_password_error: Option<String>,
    warnings: Vec<String>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page drawn from its parts; a struct would only rename them"
)]
fn render_page(
    app: &App,
    jar: &CookieJar,
    session: &AdminSession,
    org: &Organization,
    policy: &LoginPolicy,
    submitted: Option<&Submitted>,
    outcome: Outcome,
    notice: Option<&str>,
    status: StatusCode,
) -> poem::Result<Response> {
    let [login_fields, code_fields, password_fields, portal_fields] =
        fields(policy, submitted, &outcome.errors);
    let now = Utc::now().naive_utc();
    let view = PolicyView {
        chrome: Chrome::for_org(
            app,
            jar,
            session,
            org,
            "policy",
            "Self-Service Portal Settings",
        )
        .with_notice(notice),
        login_fields,
        code_fields,
        password_fields,
        portal_fields,
        error: outcome.error,
        needs_password: admin_login::needs_reproof(session.proved_at, now),
        admin_password_error: outcome.admin_password_error,
        warnings: outcome.warnings,
    };
    render(app, "admin/policy", &view, status)
}

#[handler]
async fn page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    let org_id = org.id;
    let policy = app
        .db
        .run(move |conn| org_store::policy(conn, &org_id))
        .await?;
    let notice = query.notice.as_deref();
    render_page(
        app,
        jar,
        &session,
        &org,
        &policy,
        None,
        Outcome::default(),
        notice,
        StatusCode::OK,
    )
}

#[handler]
async fn save(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<Submitted>,
) -> poem::Result<Response> {
    let Some(mut session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    csrf::verify(
        app,
        jar,
        form.get("csrf").map(String::as_str).unwrap_or_default(),
    )?;
    let org_id = org.id;
    let old = app
        .db
        .run(move |conn| org_store::policy(conn, &org_id))
        .await?;
    let refuse = |session: &AdminSession, outcome: Outcome, status: StatusCode| {
        render_page(
            app,
            jar,
            session,
            &org,
            &old,
            Some(&form),
            outcome,
            None,
            status,
        )
    };

    let new = match parse(&form) {
        Ok(policy) => policy,
        Err(errors) => {
            let outcome = Outcome {
                errors,
                ..Outcome::default()
            };
            return refuse(&session, outcome, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let origin = admin_origin(&session, req);
    let mut assurance = Assurance {
        proved: !admin_login::needs_reproof(session.proved_at, Utc::now().naive_utc()),
        confirmed: form.get("confirm").map(String::as_str) == Some("yes"),
    };
    let mut outcome = policy_change::save(app, org_id, new.clone(), assurance, &origin).await;
    if matches!(outcome, Ok(PolicySave::NeedsProof)) {
        let typed = form.get("admin_password").cloned().unwrap_or_default();
        let message = if typed.is_empty() {
            "Enter your password again: your last proof is more than 10 minutes old."
        } else if admin_login::reprove(
            app,
            &session,
            SecretString::new(typed),
            &cookies::client_info(req),
        )
        .await?
        {
            session.proved_at = Utc::now().naive_utc();
            ""
        } else {
            "That password is not right."
        };
        if !message.is_empty() {
            let outcome = Outcome {
                admin_password_error: Some(message.to_owned()),
                ..Outcome::default()
            };
            return refuse(&session, outcome, StatusCode::UNAUTHORIZED);
        }
        assurance.proved = true;
        outcome = policy_change::save(app, org_id, new, assurance, &origin).await;
    }

    let notice = match outcome {
        Ok(PolicySave::Saved(_)) => "saved",
        Ok(PolicySave::Unchanged) => "unchanged",
        Ok(PolicySave::NeedsConfirmation(warnings)) => {
            let outcome = Outcome {
                warnings,
                ..Outcome::default()
            };
            return refuse(&session, outcome, StatusCode::CONFLICT);
        }
        Ok(PolicySave::NeedsProof) => {
            return Err(crate::AppError::internal("a proved save asked for proof").into());
        }
        Err(crate::AppError::Invalid { field, message }) => {
            let mut outcome = Outcome::default();
            match field {
                Some(field) => {
                    outcome.errors.insert(field, message);
                }
                None => outcome.error = Some(message),
            }
            return refuse(&session, outcome, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(other) => return Err(other.into()),
    };
    Ok(see_other(&format!(
        "/admin/orgs/{slug}/settings/self-service-portal?notice={notice}"
    )))
}
