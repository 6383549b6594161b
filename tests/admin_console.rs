//! The admin console over HTTP, on SQLite and PostgreSQL: admin login and sessions, who may
//! reach which organization, the login policy page with its gates, Customer Portal Settings,
//! contacts, CSV import and the audit log, and what each does with bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use chrono::{Duration, Utc};
use common::{ADMIN_PASSWORD, Backend, Browser, DEMO_PASSWORD, Page, TestApp};
use diesel::{ExpressionMethods, RunQueryDsl};
use portico::{
    domain::{
        admin_login,
        contact::Identifier,
        org::{LoginMode, LoginPolicy, OtpChannel},
    },
    storage::{accounts, orgs, schema::admin_sessions},
};
use reqwest::StatusCode;

both_backends!(
    acme_admin_switches_acme_to_email_codes,
    an_org_admin_reaches_no_other_organization_by_url,
    admin_login_refuses_alike_and_locks_out,
    simultaneous_admin_guesses_get_no_more_checks_than_the_lockout_allows,
    an_expired_admin_session_goes_back_to_login,
    forms_without_a_csrf_token_are_refused,
    policy_values_outside_their_ranges_are_refused_by_their_fields,
    mobile_codes_without_an_sms_gateway_are_refused,
    a_stranding_change_says_how_many_and_asks_to_confirm,
    an_old_proof_asks_for_the_password_again,
    new_portal_slugs_are_checked,
    html_in_text_fields_is_escaped_everywhere,
    logos_are_checked_by_type_and_size,
    contacts_are_added_edited_and_controlled,
    csv_import_is_all_or_nothing_with_a_report,
    the_audit_log_shows_changes_and_logins_with_filters,
    a_portals_status_decides_who_may_open_it,
);

const ACME_POLICY: &str = "/admin/orgs/acme/settings/self-service-portal";

async fn policy_of(app: &TestApp, slug: &str) -> LoginPolicy {
    let slug = slug.to_owned();
    app.app
        .db
        .run(move |conn| {
            let org = orgs::find_by_slug(conn, &slug)?.unwrap();
            orgs::policy(conn, &org.id)
        })
        .await
        .unwrap()
}

/// The policy page's fields for `policy`, as a browser would submit them.
fn policy_fields(policy: &LoginPolicy) -> Vec<(String, String)> {
    let serde_json::Value::Object(map) = serde_json::to_value(policy).unwrap() else {
        unreachable!()
    };
    let mut fields = Vec::new();
    for (name, value) in map {
        match value {
            serde_json::Value::Bool(true) => fields.push((name, "on".to_owned())),
            serde_json::Value::Bool(false) => {}
            serde_json::Value::String(text) => fields.push((name, text)),
            serde_json::Value::Number(number) => fields.push((name, number.to_string())),
            serde_json::Value::Array(items) => {
                let list: Vec<String> = items
                    .iter()
                    .map(|i| i.as_str().unwrap().to_owned())
                    .collect();
                fields.push((name, list.join(", ")));
            }
            serde_json::Value::Null | serde_json::Value::Object(_) => {}
        }
    }
    fields
}

/// Submits the policy page of `slug` with `policy` and `extra` fields.
async fn submit_policy(
    browser: &Browser,
    slug: &str,
    policy: &LoginPolicy,
    extra: &[(&str, &str)],
) -> Page {
    let path = format!("/admin/orgs/{slug}/settings/self-service-portal");
    let fields = policy_fields(policy);
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    browser.submit(&path, &path, &all).await
}

/// Posts a multipart form with the page's CSRF token and one file.
async fn upload(
    browser: &Browser,
    page: &str,
    action: &str,
    field: &str,
    file_name: &str,
    bytes: Vec<u8>,
) -> Page {
    let csrf = browser.get(page).await.csrf();
    let boundary = "portico-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
         filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = browser
        .client
        .post(format!("{}{action}", browser.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Page {
        status,
        headers,
        body,
    }
}

/// Moves every admin session's clock back by `minutes`, as if that much time had passed.
async fn age_admin_sessions(app: &TestApp, minutes: i64, column: &'static str) {
    app.app
        .db
        .run(move |conn| {
            let then = Utc::now().naive_utc() - Duration::minutes(minutes);
            let query = diesel::update(admin_sessions::table);
            match column {
                "last_seen_at" => query
                    .set(admin_sessions::last_seen_at.eq(then))
                    .execute(conn),
                "expires_at" => query.set(admin_sessions::expires_at.eq(then)).execute(conn),
                _ => query.set(admin_sessions::proved_at.eq(then)).execute(conn),
            }?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn acme_admin_switches_acme_to_email_codes(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let page = browser.get(ACME_POLICY).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Self-Service Portal Settings"));
    assert!(page.body.contains("How many digits each one-time code has"));

    let codes = LoginPolicy {
        login_mode: LoginMode::Otp,
        otp_channel: OtpChannel::Email,
        ..policy_of(&app, "acme").await
    };
    let saved = submit_policy(&browser, "acme", &codes, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let policy = policy_of(&app, "acme").await;
    assert_eq!(policy.login_mode, LoginMode::Otp);
    assert_eq!(policy.otp_channel, OtpChannel::Email);
    assert!(
        browser
            .get(&format!("{ACME_POLICY}?notice=saved"))
            .await
            .body
            .contains("Your changes are saved.")
    );

    let contact = app.browser();
    let csrf = contact.get("/").await.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("identifier", "demo@acme.example"),
        ("password", DEMO_PASSWORD),
    ];
    let refused = contact.post_form("/portal/acme/login", &fields).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(!contact.get("/portal/acme/").await.body.contains("Hello,"));

    let globex = browser
        .get("/admin/orgs/globex/settings/self-service-portal")
        .await;
    assert_eq!(globex.status, StatusCode::NOT_FOUND);
    assert!(!globex.body.contains("Globex"));

    let platform = app.admin("admin@portico.example").await;
    let globex = platform
        .get("/admin/orgs/globex/settings/self-service-portal")
        .await;
    assert_eq!(globex.status, StatusCode::OK);
    assert!(globex.body.contains("Globex"));
}

async fn an_org_admin_reaches_no_other_organization_by_url(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let id = app
        .app
        .db
        .run(|conn| {
            let org = orgs::find_by_slug(conn, "globex")?.unwrap();
            let email = Identifier::Email("demo@globex.example".to_owned());
            accounts::find_contact_by_identifier(conn, &org.id, &email)
        })
        .await
        .unwrap()
        .unwrap()
        .contact
        .id
        .to_string();

    let browser = app.admin("admin@acme.example").await;
    let home = browser.get("/admin/").await;
    assert!(home.body.contains("Acme Corporation"));
    assert!(!home.body.contains("Globex"));
    assert!(!home.body.contains("New portal"));
    for path in [
        "/admin/orgs/globex/settings/customer-portal".to_owned(),
        "/admin/orgs/globex/settings/self-service-portal".to_owned(),
        "/admin/orgs/globex/settings/logo".to_owned(),
        "/admin/orgs/globex/contacts".to_owned(),
        "/admin/orgs/globex/contacts/new".to_owned(),
        "/admin/orgs/globex/contacts/import".to_owned(),
        format!("/admin/orgs/globex/contacts/{id}"),
        "/admin/orgs/globex/audit".to_owned(),
        "/admin/orgs/no-such-org/contacts".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("Globex"), "{path}");
        assert!(!page.body.contains("globex.example"), "{path}");
    }
    // Nor may a form of one organization act on another.
    let csrf = browser.get(ACME_POLICY).await.csrf();
    let mut fields = policy_fields(&LoginPolicy::default());
    fields.push(("csrf".to_owned(), csrf.clone()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let answer = browser
        .post_form("/admin/orgs/globex/settings/self-service-portal", &fields)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(policy_of(&app, "globex").await.login_mode, LoginMode::Otp);
    let disable = browser
        .post_form(
            &format!("/admin/orgs/globex/contacts/{id}/disable"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(disable.status, StatusCode::NOT_FOUND);
    let new_portal = browser.get("/admin/orgs/new").await;
    assert_eq!(new_portal.status, StatusCode::FORBIDDEN);

    // Nor is another organization's contact found under one's own organization.
    assert_eq!(
        browser
            .get(&format!("/admin/orgs/acme/contacts/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn admin_login_refuses_alike_and_locks_out(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let login = |identifier: &'static str, password: &'static str| {
        let browser = &browser;
        async move {
            browser
                .submit(
                    "/admin/login",
                    "/admin/login",
                    &[("identifier", identifier), ("password", password)],
                )
                .await
        }
    };
    let wrong = login("admin@acme.example", "not-the-password").await;
    let unknown = login("nobody@acme.example", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("do not match"));
    assert_eq!(
        wrong.comparable_body().replace("admin@acme.example", "X"),
        unknown
            .comparable_body()
            .replace("nobody@acme.example", "X")
    );
    assert_eq!(
        browser.get("/admin/").await.location(),
        "/admin/login",
        "not logged in"
    );

    let right = login("admin@acme.example", ADMIN_PASSWORD).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    let cookie = right
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("portico_admin="))
        .unwrap();
    assert!(
        cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    let guesser = app.browser();
    for _ in 0..5 {
        let answer = guesser
            .submit(
                "/admin/login",
                "/admin/login",
                &[
                    ("identifier", "admin@globex.example"),
                    ("password", "guess-guess-guess"),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let locked = guesser
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("identifier", "admin@globex.example"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(locked.body.contains("do not match"));
}

/// Fifteen wrong passwords for one admin at once: five are checked, the rest are refused as
/// locked without a check, and the right password is refused afterwards.
async fn simultaneous_admin_guesses_get_no_more_checks_than_the_lockout_allows(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let client = portico::domain::session::ClientInfo {
        ip: "127.0.0.1".to_owned(),
        user_agent: "guesser".to_owned(),
    };
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..15 {
        let (app, client) = (app.clone(), client.clone());
        guesses.spawn(async move {
            let password = format!("guess-number-{n}").into();
            admin_login::prove(&app.app, "admin@globex.example", password, &client).await
        });
    }
    for proven in guesses.join_all().await {
        assert!(proven.unwrap().is_none());
    }
    let reasons: Vec<String> = app
        .app
        .db
        .run(|conn| {
            use diesel::QueryDsl;
            use portico::storage::schema::audit_events;
            Ok(audit_events::table
                .filter(audit_events::kind.eq("admin.login.failed"))
                .select(audit_events::detail)
                .load(conn)?)
        })
        .await
        .unwrap();
    let checked = reasons
        .iter()
        .filter(|d| d.contains("wrong_password"))
        .count();
    let refused = reasons
        .iter()
        .filter(|d| d.contains("locked_or_disabled"))
        .count();
    assert_eq!((checked, refused), (5, 10), "{reasons:?}");
    let right = admin_login::prove(
        &app.app,
        "admin@globex.example",
        ADMIN_PASSWORD.into(),
        &client,
    )
    .await
    .unwrap();
    assert!(right.is_none(), "the right password during a lockout");
}

async fn an_expired_admin_session_goes_back_to_login(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    assert_eq!(browser.get("/admin/").await.status, StatusCode::OK);
    let csrf = browser.get(ACME_POLICY).await.csrf();

    age_admin_sessions(&app, 16, "last_seen_at").await;
    let idle = browser.get(ACME_POLICY).await;
    assert_eq!(idle.status, StatusCode::SEE_OTHER);
    assert_eq!(idle.location(), "/admin/login");
    let mut fields = policy_fields(&LoginPolicy {
        login_mode: LoginMode::Otp,
        ..LoginPolicy::default()
    });
    fields.push(("csrf".to_owned(), csrf));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let post = browser.post_form(ACME_POLICY, &fields).await;
    assert_eq!(post.location(), "/admin/login");
    assert_eq!(
        policy_of(&app, "acme").await.login_mode,
        LoginMode::Password
    );

    let browser = app.admin("admin@acme.example").await;
    age_admin_sessions(&app, 1, "expires_at").await;
    assert_eq!(browser.get("/admin/").await.location(), "/admin/login");

    // Logging out ends the session for good: its token no longer opens anything.
    let browser = app.browser();
    let login = browser
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("identifier", "admin@acme.example"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    let cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("portico_admin="))
        .unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let replay = || async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}/admin/", app.base))
            .header("cookie", cookie.clone())
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(replay().await, StatusCode::OK);
    let home = browser.get("/admin/").await;
    let out = browser
        .post_form("/admin/logout", &[("csrf", &home.csrf())])
        .await;
    assert_eq!(out.location(), "/admin/login");
    assert_eq!(replay().await, StatusCode::SEE_OTHER);
}

async fn forms_without_a_csrf_token_are_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let stranger = app.browser();
    stranger.get("/admin/login").await;
    let login = stranger
        .post_form(
            "/admin/login",
            &[
                ("identifier", "admin@acme.example"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);

    let browser = app.admin("admin@acme.example").await;
    let fields = policy_fields(&LoginPolicy {
        login_mode: LoginMode::Otp,
        ..LoginPolicy::default()
    });
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let policy = browser.post_form(ACME_POLICY, &fields).await;
    assert_eq!(policy.status, StatusCode::FORBIDDEN);
    assert!(policy.body.contains("This form has expired"));
    assert_eq!(
        policy_of(&app, "acme").await.login_mode,
        LoginMode::Password
    );
    for (path, fields) in [
        (
            "/admin/orgs/acme/contacts/new",
            vec![("name", "Eve"), ("email", "eve@acme.example")],
        ),
        (
            "/admin/orgs/acme/settings/customer-portal",
            vec![("name", "Hijacked"), ("status", "live")],
        ),
        ("/admin/logout", vec![]),
    ] {
        let answer = browser.post_form(path, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    let logo = upload(
        &browser,
        "/admin/orgs/acme/settings/customer-portal",
        "/admin/orgs/acme/settings/logo",
        "logo",
        "logo.png",
        b"\x89PNG\r\n\x1a\nrest".to_vec(),
    )
    .await;
    assert_eq!(logo.status, StatusCode::SEE_OTHER, "a real token works");
    let forged = browser
        .client
        .post(format!("{}/admin/orgs/acme/settings/logo", browser.base))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"a.png\"\r\n\r\n\x7fPNG\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(!browser.get("/admin/").await.body.contains("Hijacked"));
}

async fn policy_values_outside_their_ranges_are_refused_by_their_fields(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let stored = policy_of(&app, "acme").await;
    let cases: [(&str, &str, &str); 6] = [
        ("code_length", "11", "Must be from 6 to 10 digits."),
        (
            "code_lifetime_secs",
            "3600",
            "Must be from 120 to 600 seconds.",
        ),
        ("code_max_guesses", "0", "Must be from 1 to 5 guesses."),
        (
            "password_min_length",
            "8",
            "Must be from 15 to 64 characters.",
        ),
        ("lockout_threshold", "-3", "Enter a whole number."),
        ("session_idle_secs", "lots", "Enter a whole number."),
    ];
    for (field, value, message) in cases {
        let path = ACME_POLICY;
        let mut fields = policy_fields(&stored);
        fields.retain(|(name, _)| name != field);
        fields.push((field.to_owned(), value.to_owned()));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = browser.submit(path, path, &fields).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let error = format!("<p class=\"field-error\" id=\"{field}-error\">{message}</p>");
        assert!(answer.body.contains(&error), "{field}: {}", answer.body);
        assert!(
            answer.body.contains(&format!("value=\"{value}\"")),
            "the typed value stays"
        );
    }
    let upside_down = LoginPolicy {
        session_idle_secs: 7200,
        session_absolute_secs: 3600,
        ..stored.clone()
    };
    let answer = submit_policy(&browser, "acme", &upside_down, &[]).await;
    assert!(answer.body.contains("id=\"session_idle_secs-error\""));
    assert!(answer.body.contains("cannot be longer than the absolute"));
    let bad_domains = submit_policy(
        &browser,
        "acme",
        &LoginPolicy {
            registration_domains: vec!["<b>x</b>".to_owned()],
            ..stored.clone()
        },
        &[],
    )
    .await;
    assert!(
        bad_domains
            .body
            .contains("id=\"registration_domains-error\"")
    );
    assert!(!bad_domains.body.contains("<b>x</b>"));
    assert_eq!(policy_of(&app, "acme").await, stored, "nothing was saved");
}

async fn mobile_codes_without_an_sms_gateway_are_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    for channel in [OtpChannel::Mobile, OtpChannel::EmailAndMobile] {
        let mobile = LoginPolicy {
            login_mode: LoginMode::Otp,
            otp_channel: channel,
            ..policy_of(&app, "acme").await
        };
        let answer = submit_policy(&browser, "acme", &mobile, &[]).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(answer.body.contains("id=\"otp_channel-error\""));
        assert!(answer.body.contains("no SMS gateway is configured"));
    }
    assert_eq!(
        policy_of(&app, "acme").await.login_mode,
        LoginMode::Password
    );
}

async fn a_stranding_change_says_how_many_and_asks_to_confirm(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let added = browser
        .submit(
            "/admin/orgs/acme/contacts/new",
            "/admin/orgs/acme/contacts/new",
            &[("name", "Nell Nopass"), ("email", "nell@acme.example")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);

    let codes = LoginPolicy {
        login_mode: LoginMode::Otp,
        ..policy_of(&app, "acme").await
    };
    assert_eq!(
        submit_policy(&browser, "acme", &codes, &[]).await.status,
        StatusCode::SEE_OTHER,
        "every contact has an email: nobody is stranded"
    );

    let two_step = LoginPolicy {
        login_mode: LoginMode::PasswordAndOtp,
        ..codes.clone()
    };
    age_admin_sessions(&app, 11, "proved_at").await;
    let asked = submit_policy(
        &browser,
        "acme",
        &two_step,
        &[("admin_password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(asked.status, StatusCode::CONFLICT);
    assert!(
        !asked.body.contains("id=\"admin_password\""),
        "the password just given is not asked again"
    );
    assert!(
        asked.body.contains("1 contact has no password"),
        "{}",
        asked.body
    );
    assert!(asked.body.contains("until an admin sets one"));
    assert!(asked.body.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(policy_of(&app, "acme").await.login_mode, LoginMode::Otp);

    let confirmed = submit_policy(&browser, "acme", &two_step, &[("confirm", "yes")]).await;
    assert_eq!(confirmed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        policy_of(&app, "acme").await.login_mode,
        LoginMode::PasswordAndOtp
    );
}

async fn an_old_proof_asks_for_the_password_again(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    age_admin_sessions(&app, 11, "proved_at").await;
    let page = browser.get(ACME_POLICY).await;
    assert!(page.body.contains("id=\"admin_password\""));

    let longer = LoginPolicy {
        password_min_length: 20,
        ..policy_of(&app, "acme").await
    };
    let asked = submit_policy(&browser, "acme", &longer, &[]).await;
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    assert!(asked.body.contains("id=\"admin_password-error\""));
    assert!(asked.body.contains("more than 10 minutes old"));
    let wrong = submit_policy(
        &browser,
        "acme",
        &longer,
        &[("admin_password", "not-my-password")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("That password is not right."));
    assert_eq!(policy_of(&app, "acme").await.password_min_length, 15);

    let right = submit_policy(
        &browser,
        "acme",
        &longer,
        &[("admin_password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(policy_of(&app, "acme").await.password_min_length, 20);
    let audit = app.audit_kinds("acme").await;
    assert_eq!(audit[0].0, "policy.changed");
    assert!(audit[0].1.contains("\"setting\":\"password_min_length\""));
    assert!(audit[0].1.contains("\"from\":15") && audit[0].1.contains("\"to\":20"));
}

async fn new_portal_slugs_are_checked(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@portico.example").await;
    let create = |slug: &'static str| {
        let browser = &browser;
        async move {
            browser
                .submit(
                    "/admin/orgs/new",
                    "/admin/orgs/new",
                    &[("slug", slug), ("name", "Widgets Ltd")],
                )
                .await
        }
    };
    let created = create("widgets").await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(
        created.location(),
        "/admin/orgs/widgets/settings/customer-portal?notice=created"
    );
    assert!(browser.get("/admin/").await.body.contains("Widgets Ltd"));
    assert_eq!(
        app.browser().get("/portal/widgets/").await.status,
        StatusCode::NOT_FOUND,
        "a new portal is a draft"
    );
    let expectations = [
        ("widgets", "is already taken"),
        ("acme", "is already taken"),
        ("admin", "is reserved by Portico"),
        ("../admin", "Use 2 to 40 lowercase letters"),
        ("Acme", "Use 2 to 40 lowercase letters"),
        ("a", "Use 2 to 40 lowercase letters"),
    ];
    for (slug, message) in expectations {
        let answer = create(slug).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{slug}");
        assert!(answer.body.contains("id=\"slug-error\""), "{slug}");
        assert!(answer.body.contains(message), "{slug}: {}", answer.body);
    }
    let audit = app.audit_kinds("widgets").await;
    assert_eq!(audit[0].0, "org.created");
}

async fn html_in_text_fields_is_escaped_everywhere(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let script = "<script>alert(1)</script>";
    let settings = "/admin/orgs/acme/settings/customer-portal";
    let saved = browser
        .submit(
            settings,
            settings,
            &[
                ("name", &format!("Acme {script}")),
                ("status", "live"),
                ("accent_color", "#b45309"),
                ("welcome_text", &format!("Hi {script}")),
                ("footer_text", "Bye <img src=x onerror=alert(1)>"),
                ("host_names", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    for path in [settings, "/admin/", "/portal/acme/", "/portal/acme/login"] {
        let page = if path.starts_with("/portal") {
            app.browser().get(path).await
        } else {
            browser.get(path).await
        };
        assert!(!page.body.contains(script), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(page.body.contains("&lt;script&gt;"), "{path}");
    }

    let bad = browser
        .submit(
            settings,
            settings,
            &[
                ("name", "Acme"),
                ("status", "<b>live</b>"),
                ("accent_color", "red;}</style><script>"),
                ("welcome_text", ""),
                ("footer_text", ""),
                ("host_names", "<script>.example"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["status", "accent_color", "host_names"] {
        assert!(
            bad.body.contains(&format!("id=\"{field}-error\"")),
            "{field}"
        );
    }
    assert!(!bad.body.contains("<script>"));
    assert!(!bad.body.contains("<b>live"));

    // Control and direction-changing characters, which PostgreSQL cannot store or which make a
    // name read as another, and an IP address, which would take the server's own address.
    let hidden = browser
        .submit(
            settings,
            settings,
            &[
                ("name", "Acme\u{0}Corp"),
                ("status", "live"),
                ("accent_color", "#b45309"),
                ("welcome_text", "Hi \u{202E}reversed"),
                ("footer_text", "Ring\u{7}"),
                ("host_names", "127.0.0.1"),
            ],
        )
        .await;
    assert_eq!(hidden.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["name", "welcome_text", "footer_text", "host_names"] {
        assert!(
            hidden.body.contains(&format!("id=\"{field}-error\"")),
            "{field}"
        );
    }
    assert_eq!(
        app.browser().get("/portal/acme/").await.status,
        StatusCode::OK,
        "the refused save changed nothing"
    );

    let contact = browser
        .submit(
            "/admin/orgs/acme/contacts/new",
            "/admin/orgs/acme/contacts/new",
            &[("name", script), ("email", "x@acme.example")],
        )
        .await;
    assert_eq!(contact.status, StatusCode::SEE_OTHER);
    for path in [
        "/admin/orgs/acme/contacts?q=script",
        contact.location(),
        "/admin/orgs/acme/audit",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains(script), "{path}");
        assert!(page.body.contains("&lt;script&gt;"), "{path}");
    }
    let search = browser
        .get("/admin/orgs/acme/contacts?q=%22%3E%3Cscript%3E")
        .await;
    assert!(!search.body.contains("\"><script>"));

    let platform = app.admin("admin@portico.example").await;
    let created = platform
        .submit(
            "/admin/orgs/new",
            "/admin/orgs/new",
            &[("slug", "scripted"), ("name", script)],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let list = platform.get("/admin/").await;
    assert!(!list.body.contains(script));
    assert!(list.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let bad_slug = platform
        .submit(
            "/admin/orgs/new",
            "/admin/orgs/new",
            &[("slug", script), ("name", script)],
        )
        .await;
    assert!(!bad_slug.body.contains(script));

    let login = app
        .browser()
        .submit(
            "/admin/login",
            "/admin/login",
            &[("identifier", script), ("password", "whatever-it-is")],
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert!(!login.body.contains(script));
    assert!(login.body.contains("&lt;script&gt;"));
}

async fn logos_are_checked_by_type_and_size(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let settings = "/admin/orgs/acme/settings/customer-portal";
    let action = "/admin/orgs/acme/settings/logo";

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0u8; 64]);
    let saved = upload(&browser, settings, action, "logo", "logo.png", png.clone()).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let served = browser.get(action).await;
    assert_eq!(served.headers["content-type"], "image/png");

    let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" \
                onload=\"alert(1)\"><script>alert(2)</script></svg>"
        .to_vec();
    let refused = upload(&browser, settings, action, "logo", "logo.png", svg).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("id=\"logo-error\""));
    assert!(refused.body.contains("SVG logos are not accepted"));

    let gif = upload(
        &browser,
        settings,
        action,
        "logo",
        "a.png",
        b"GIF89a....".to_vec(),
    )
    .await;
    assert!(gif.body.contains("not a PNG or JPEG"));

    let mut big = png.clone();
    big.resize(600 * 1024, 7);
    let too_big = upload(&browser, settings, action, "logo", "big.png", big).await;
    assert_eq!(too_big.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_big.body.contains("at most 512 KiB is accepted"));

    let served = browser.get(action).await;
    assert_eq!(served.headers["content-type"], "image/png", "old logo kept");

    // 20 MB is refused from its announced length, before the body is read.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {action} HTTP/1.1\r\nHost: portico\r\n\
         Content-Type: multipart/form-data; boundary=x\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        20 * 1024 * 1024
    );
    let answer = raw_exchange(&addr, &head, &[b'x'; 64 * 1024]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("Too much data"));
    assert_eq!(browser.get("/admin/").await.status, StatusCode::OK);
}

async fn raw_exchange(addr: &str, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The id in a `/admin/orgs/{slug}/contacts/{id}...` location.
fn contact_id(location: &str) -> String {
    let rest = location.split("/contacts/").nth(1).unwrap();
    rest[..36].to_owned()
}

async fn contacts_are_added_edited_and_controlled(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let new = "/admin/orgs/acme/contacts/new";
    let duplicate = browser
        .submit(
            new,
            new,
            &[("name", "Dana Again"), ("email", "DEMO@acme.example")],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(duplicate.body.contains("already has this email"));
    let junk = browser
        .submit(
            new,
            new,
            &[("name", ""), ("email", "nope"), ("mobile", "12")],
        )
        .await;
    for field in ["name", "email", "mobile"] {
        assert!(
            junk.body.contains(&format!("id=\"{field}-error\"")),
            "{field}"
        );
    }

    let added = browser
        .submit(
            new,
            new,
            &[
                ("name", "Quinn Newcomer"),
                ("email", "Quinn@Acme.example"),
                ("mobile", "+1 555 010 9999"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let id = contact_id(added.location());
    let page_path = format!("/admin/orgs/acme/contacts/{id}");
    let page = browser.get(added.location()).await;
    assert!(page.body.contains("quinn@acme.example"));
    assert!(page.body.contains("+15550109999"));

    let found = browser.get("/admin/orgs/acme/contacts?q=QUINN").await;
    assert!(found.body.contains("Quinn Newcomer"));
    assert!(found.body.contains("1 contacts match"));
    assert!(!found.body.contains("Dana Whitfield"));
    let wildcard = browser.get("/admin/orgs/acme/contacts?q=%25").await;
    assert!(wildcard.body.contains("0 contacts match"));

    let edited = browser
        .submit(
            &page_path,
            &page_path,
            &[
                ("name", "Quinn Renamed"),
                ("email", "quinn@acme.example"),
                ("mobile", ""),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    assert!(browser.get(&page_path).await.body.contains("Quinn Renamed"));

    let set_password = |password: &'static str| {
        let (browser, page_path) = (&browser, page_path.clone());
        async move {
            browser
                .submit(
                    &page_path,
                    &format!("{page_path}/password"),
                    &[("password", password)],
                )
                .await
        }
    };
    let short = set_password("short").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("Use 15 to 128 characters."));
    let own_name = set_password("acme corporation rocks").await;
    assert!(own_name.body.contains("own name"));
    let ok = set_password("a sturdy passphrase for quinn").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);

    let contact = app.browser();
    let login = contact
        .password_login(
            "acme",
            "quinn@acme.example",
            "a sturdy passphrase for quinn",
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert!(
        contact
            .get("/portal/acme/")
            .await
            .body
            .contains("Hello, Quinn Renamed")
    );
    assert!(
        browser
            .get(&page_path)
            .await
            .body
            .contains("1 open sessions")
    );

    let disabled = browser
        .submit(&page_path, &format!("{page_path}/disable"), &[])
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert!(
        !contact.get("/portal/acme/").await.body.contains("Hello,"),
        "disabling ends the contact's sessions"
    );
    let refused = contact
        .password_login(
            "acme",
            "quinn@acme.example",
            "a sturdy passphrase for quinn",
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    browser
        .submit(&page_path, &format!("{page_path}/enable"), &[])
        .await;
    let again = contact
        .password_login(
            "acme",
            "quinn@acme.example",
            "a sturdy passphrase for quinn",
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let ended = browser
        .submit(&page_path, &format!("{page_path}/end-sessions"), &[])
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert!(!contact.get("/portal/acme/").await.body.contains("Hello,"));

    for _ in 0..10 {
        contact
            .password_login("acme", "quinn@acme.example", "wrong-wrong-wrong")
            .await;
    }
    let locked = contact
        .password_login(
            "acme",
            "quinn@acme.example",
            "a sturdy passphrase for quinn",
        )
        .await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(browser.get(&page_path).await.body.contains("locked"));
    browser
        .submit(&page_path, &format!("{page_path}/unlock"), &[])
        .await;
    let unlocked = contact
        .password_login(
            "acme",
            "quinn@acme.example",
            "a sturdy passphrase for quinn",
        )
        .await;
    assert_eq!(unlocked.status, StatusCode::SEE_OTHER);

    let cleared = browser
        .submit(&page_path, &format!("{page_path}/clear-password"), &[])
        .await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER);
    assert!(
        browser
            .get(&page_path)
            .await
            .body
            .contains("password not set")
    );
    let kinds: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    for kind in [
        "contact.added",
        "contact.changed",
        "contact.password_set",
        "contact.disabled",
        "contact.enabled",
        "contact.sessions_ended",
        "contact.unlocked",
        "contact.password_cleared",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }

    // Paging: 8 fixture contacts and Quinn make 9; 25 a page is one page.
    let list = browser.get("/admin/orgs/acme/contacts").await;
    assert!(list.body.contains("9 contacts"));
    assert!(list.body.contains("Page 1 of 1"));
}

async fn csv_import_is_all_or_nothing_with_a_report(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let path = "/admin/orgs/acme/contacts/import";
    let import = |csv: String| {
        let browser = &browser;
        async move {
            upload(
                browser,
                path,
                path,
                "file",
                "contacts.csv",
                csv.into_bytes(),
            )
            .await
        }
    };
    let count = || async {
        let list = browser.get("/admin/orgs/acme/contacts").await;
        list.body.contains("8 contacts")
    };

    let header = import("email,name,mobile\nx@acme.example,X,\n".to_owned()).await;
    assert_eq!(header.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        header
            .body
            .contains("The first line must be exactly: name,email,mobile")
    );

    let messy = "name,email,mobile\n\
                 Ada Good,ada@acme.example,+1 555 010 7001\n\
                 Ada Twice,ADA@acme.example,\n\
                 Bad Mail,bad-at-example,\n\
                 Bad Number,,555-CALL-NOW\n\
                 Dana Known,demo@acme.example,\n\
                 <script>alert(1)</script>,evil@acme.example,\n";
    let report = import(messy.to_owned()).await;
    assert_eq!(report.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        report.body.contains("Nothing was imported: 3 of"),
        "{}",
        report.body
    );
    assert!(
        report
            .body
            .contains("Repeats an email or mobile of an earlier row.")
    );
    assert!(report.body.contains("email: That is not an email address."));
    assert!(report.body.contains("mobile: That is not a mobile number"));
    assert!(!report.body.contains("<script>alert(1)"));
    assert!(count().await, "nothing was added");

    let clash = import(
        "name,email,mobile\nNew One,new1@acme.example,\nDana,demo@acme.example,\n".to_owned(),
    )
    .await;
    assert_eq!(clash.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        clash
            .body
            .contains("A contact with this email already exists.")
    );
    assert!(count().await, "nothing was added");

    let good = import(
        "name,email,mobile\nNew One,new1@acme.example,\nNew Two,,+44 20 7946 0001\n".to_owned(),
    )
    .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.body);
    assert!(good.body.contains("Imported 2 contacts."));
    let list = browser.get("/admin/orgs/acme/contacts").await;
    assert!(list.body.contains("10 contacts"));
    assert!(list.body.contains("+442079460001"));
    assert_eq!(app.audit_kinds("acme").await[0].0, "contacts.imported");

    // Twenty more make 30 contacts: two pages of 25.
    let mut many = "name,email,mobile\n".to_owned();
    for n in 0..20 {
        many.push_str(&format!("Zed {n:02},zed{n:02}@acme.example,\n"));
    }
    assert_eq!(import(many).await.status, StatusCode::OK);
    let first = browser.get("/admin/orgs/acme/contacts").await;
    assert!(first.body.contains("30 contacts"));
    assert!(first.body.contains("Page 1 of 2"));
    assert!(first.body.contains("Zed 14") && !first.body.contains("Zed 15"));
    let second = browser.get("/admin/orgs/acme/contacts?page=2").await;
    assert!(second.body.contains("Page 2 of 2"));
    assert!(second.body.contains("Zed 15") && second.body.contains("Zed 19"));
    assert!(!second.body.contains("Zed 14"));
    let searched = browser.get("/admin/orgs/acme/contacts?q=zed&page=1").await;
    assert!(searched.body.contains("20 contacts match"));
}

async fn the_audit_log_shows_changes_and_logins_with_filters(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let contact = app.browser();
    contact
        .password_login("acme", "demo@acme.example", "wrong-password-here")
        .await;
    contact
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let browser = app.admin("admin@acme.example").await;
    let longer_codes = LoginPolicy {
        code_length: 8,
        ..policy_of(&app, "acme").await
    };
    assert_eq!(
        submit_policy(&browser, "acme", &longer_codes, &[])
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    let log = browser.get("/admin/orgs/acme/audit").await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.body.contains("code_length: 6 → 8"), "{}", log.body);
    assert!(log.body.contains("admin admin@acme.example"));
    assert!(log.body.contains("login.failed"));
    assert!(
        log.body
            .contains("method: password, reason: wrong_password")
    );
    assert!(log.body.contains("login.succeeded"));
    assert!(
        log.body
            .contains("Dana Whitfield &lt;demo@acme.example&gt;")
    );
    assert!(log.body.contains("127.0.0.1"));

    let failed = browser
        .get("/admin/orgs/acme/audit?kind=login.failed")
        .await;
    assert!(failed.body.contains("1 events"));
    assert!(!failed.body.contains("code_length"));
    assert!(
        failed
            .body
            .contains("<option value=\"login.failed\" selected>")
    );

    let list = browser.get("/admin/orgs/acme/contacts?q=demo").await;
    let link = "<td><a href=\"/admin/orgs/acme/contacts/";
    let id = contact_id(&list.body[list.body.find(link).unwrap()..]);
    let about = browser
        .get(&format!("/admin/orgs/acme/audit?contact={id}"))
        .await;
    assert!(
        about.body.contains("2 events about Dana Whitfield"),
        "{}",
        about.body
    );
    assert!(!about.body.contains("code_length"));
    let paged = browser.get("/admin/orgs/acme/audit?page=2").await;
    assert!(paged.body.contains("Page 2 of 1") || paged.body.contains("Page 1 of 1"));
}

async fn a_portals_status_decides_who_may_open_it(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.admin("admin@acme.example").await;
    let settings = "/admin/orgs/acme/settings/customer-portal";
    let set_status = |status: &'static str| {
        let browser = &browser;
        async move {
            browser
                .submit(
                    settings,
                    settings,
                    &[
                        ("name", "Acme Corporation"),
                        ("status", status),
                        ("accent_color", "#b45309"),
                        ("welcome_text", "Welcome."),
                        ("footer_text", "Acme trade support."),
                        ("host_names", "help.acme.example\nHELP.acme.example"),
                    ],
                )
                .await
        }
    };
    assert_eq!(set_status("draft").await.status, StatusCode::SEE_OTHER);
    let visitor = app.browser();
    assert_eq!(
        visitor.get("/portal/acme/").await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = visitor.get("/").await.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("identifier", "demo@acme.example"),
        ("password", DEMO_PASSWORD),
    ];
    let closed = visitor.post_form("/portal/acme/login", &fields).await;
    assert_eq!(closed.status, StatusCode::NOT_FOUND);
    let page = browser.get(settings).await;
    assert!(page.body.contains("<option value=\"draft\" selected>"));
    assert!(
        page.body.contains(">help.acme.example</textarea>"),
        "host names kept once"
    );

    assert_eq!(set_status("live").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        visitor
            .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let audit = app.audit_kinds("acme").await;
    assert!(
        audit
            .iter()
            .any(|(kind, detail)| kind == "portal_settings.changed"
                && detail.contains("\"setting\":\"status\"")
                && detail.contains("\"from\":\"draft\"")
                && detail.contains("\"to\":\"live\""))
    );

    // A host name another portal maps is refused.
    let platform = app.admin("admin@portico.example").await;
    let globex = "/admin/orgs/globex/settings/customer-portal";
    let taken = platform
        .submit(
            globex,
            globex,
            &[
                ("name", "Globex"),
                ("status", "live"),
                ("accent_color", "#0f766e"),
                ("welcome_text", ""),
                ("footer_text", ""),
                ("host_names", "help.acme.example"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        taken
            .body
            .contains("already belongs to another organization")
    );
}
