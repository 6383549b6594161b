//! Self-registration on SQLite and PostgreSQL: signing up, proving the email (and mobile
//! number) with codes read from real receivers, the approval queue of the console, and the bad
//! input: registration turned off, a domain outside the allowed list, an address that already
//! exists, a mobile number typed in national format and a flood from one address; and the
//! background sweep of stale registrations.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, Browser, Page, TestApp, smtp::SmtpReceiver};
use portico::domain::org::SelfRegistration;
use reqwest::StatusCode;

const PASSWORD: &str = "newcomer password of some length";

async fn register(browser: &Browser, slug: &str, fields: &[(&str, &str)]) -> Page {
    let path = format!("/portal/{slug}/register");
    browser.submit(&path, &path, fields).await
}

/// Enters the codes on the registration code page.
async fn confirm(
    browser: &Browser,
    slug: &str,
    page: &Page,
    email_code: &str,
    mobile_code: &str,
) -> Page {
    browser
        .post_form(
            &format!("/portal/{slug}/register/verify"),
            &[
                ("csrf", &page.csrf()),
                ("email_attempt", &page.hidden("email_attempt")),
                ("mobile_attempt", &page.hidden("mobile_attempt")),
                ("email_code", email_code),
                ("mobile_code", mobile_code),
            ],
        )
        .await
}

both_backends!(
    a_newcomer_registers_waits_is_approved_and_logs_in,
    a_refused_registration_makes_no_contact_and_is_told,
    registration_that_is_off_has_no_page_at_all,
    a_domain_outside_the_allowed_list_is_refused,
    an_existing_address_is_answered_like_a_new_one_and_its_owner_told,
    a_mobile_number_in_national_format_is_proven_and_stored_in_e164,
    fifty_registrations_from_one_address_are_rate_limited,
    the_worker_sweeps_abandoned_and_long_refused_registrations,
);

async fn a_newcomer_registers_waits_is_approved_and_logs_in(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let newcomer = app.browser();
    let login = newcomer.get("/portal/acme/login").await;
    assert!(
        login.body.contains("href=\"/portal/acme/register\""),
        "{}",
        login.body
    );
    let form = newcomer.get("/portal/acme/register").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("approves your account"), "{}", form.body);

    let page = register(
        &newcomer,
        "acme",
        &[
            ("name", "Nia Newcomer"),
            ("email", "Nia@Workshop.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let mail = smtp.wait_for("nia@workshop.example", 1).await;
    assert!(mail.data.contains("registration code"), "{}", mail.data);
    let wrong = confirm(&newcomer, "acme", &page, "000000", "").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let waiting = confirm(&newcomer, "acme", &page, &mail.code(), "").await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
    assert!(waiting.body.contains("reviews your registration"));

    let early = app
        .browser()
        .password_login("acme", "nia@workshop.example", PASSWORD)
        .await;
    assert_eq!(
        early.status,
        StatusCode::UNAUTHORIZED,
        "no login before approval"
    );

    let console = app.admin("admin@portico.example").await;
    let queue = console.get("/admin/orgs/acme/registrations").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains("nia@workshop.example"),
        "{}",
        queue.body
    );
    let marker = "/admin/orgs/acme/registrations/";
    let start = queue.body.find(marker).unwrap() + marker.len();
    let id: String = queue.body[start..].chars().take(36).collect();
    let approved = console
        .post_form(
            &format!("/admin/orgs/acme/registrations/{id}/approve"),
            &[("csrf", &queue.csrf())],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let after = console.get("/admin/orgs/acme/registrations").await;
    assert!(
        !after.body.contains("nia@workshop.example"),
        "left the queue"
    );
    let twice = console
        .post_form(
            &format!("/admin/orgs/acme/registrations/{id}/approve"),
            &[("csrf", &queue.csrf())],
        )
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);

    let told = smtp.wait_for("nia@workshop.example", 2).await;
    assert!(
        told.data
            .contains("Subject: Your Acme Corporation account is approved"),
        "{}",
        told.data
    );
    let answer = newcomer
        .password_login("acme", "nia@workshop.example", PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let home = newcomer.get("/portal/acme/").await;
    assert!(home.body.contains("Hello, Nia Newcomer"), "{}", home.body);

    let audit = app.audit_kinds("acme").await;
    for kind in [
        "registration.started",
        "registration.submitted",
        "registration.approved",
    ] {
        assert!(audit.iter().any(|(k, _)| k == kind), "{kind}: {audit:?}");
    }
}

async fn a_refused_registration_makes_no_contact_and_is_told(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let newcomer = app.browser();
    let page = register(
        &newcomer,
        "acme",
        &[
            ("name", "Rex Refused"),
            ("email", "rex@elsewhere.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let code = smtp.wait_for("rex@elsewhere.example", 1).await.code();
    confirm(&newcomer, "acme", &page, &code, "").await;

    let console = app.admin("admin@acme.example").await;
    let queue = console.get("/admin/orgs/acme/registrations").await;
    let marker = "/admin/orgs/acme/registrations/";
    let start = queue.body.find(marker).unwrap() + marker.len();
    let id: String = queue.body[start..].chars().take(36).collect();
    let refused = console
        .post_form(
            &format!("/admin/orgs/acme/registrations/{id}/refuse"),
            &[("csrf", &queue.csrf())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let told = smtp.wait_for("rex@elsewhere.example", 2).await;
    assert!(told.data.contains("did not approve"), "{}", told.data);
    let login = app
        .browser()
        .password_login("acme", "rex@elsewhere.example", PASSWORD)
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    let audit = app.audit_kinds("acme").await;
    assert!(audit.iter().any(|(k, _)| k == "registration.refused"));

    let outsider = app.admin("admin@globex.example").await;
    let foreign = outsider.get("/admin/orgs/acme/registrations").await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

async fn registration_that_is_off_has_no_page_at_all(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let login = browser.get("/portal/globex/login").await;
    assert!(!login.body.contains("Create an account"));
    assert_eq!(
        browser.get("/portal/globex/register").await.status,
        StatusCode::NOT_FOUND
    );
    let posted = browser
        .post_form(
            "/portal/globex/register",
            &[
                ("csrf", &login.csrf()),
                ("name", "Someone"),
                ("email", "someone@globex.example"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
    assert!(app.deliveries("globex").await.is_empty());
}

async fn a_domain_outside_the_allowed_list_is_refused(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    app.adjust_policy("acme", |policy| {
        policy.registration_domains = vec!["acme-dealers.example".to_owned()];
    })
    .await;
    let browser = app.browser();
    let refused = register(
        &browser,
        "acme",
        &[
            ("name", "Out Sider"),
            ("email", "out@gmail.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("own email domains"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"out@gmail.example\""),
        "kept what was typed"
    );
    assert!(app.deliveries("acme").await.is_empty());

    let short = register(
        &browser,
        "acme",
        &[
            ("name", "In Sider"),
            ("email", "in@acme-dealers.example"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("at least 15"), "{}", short.body);

    let allowed = register(
        &browser,
        "acme",
        &[
            ("name", "In Sider"),
            ("email", "in@ACME-dealers.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    smtp.wait_for("in@acme-dealers.example", 1).await;
}

async fn an_existing_address_is_answered_like_a_new_one_and_its_owner_told(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let fields = |email| {
        [
            ("name", "Dana Again"),
            ("email", email),
            ("password", PASSWORD),
        ]
    };
    let existing = register(&browser, "acme", &fields("demo@acme.example")).await;
    let fresh = register(&browser, "acme", &fields("dora@acme.example")).await;
    assert_eq!(existing.status, StatusCode::OK);
    assert_eq!(existing.status, fresh.status);
    let blank = |page: &Page| {
        page.comparable_body()
            .replace(&page.hidden("email_attempt"), "")
    };
    assert_eq!(blank(&existing), blank(&fresh));

    let owner = smtp.wait_for("demo@acme.example", 1).await;
    assert!(
        owner
            .data
            .contains("Subject: Someone tried to register with Acme Corporation as you"),
        "{}",
        owner.data
    );
    assert!(
        !owner.data.lines().any(|l| {
            let l = l.trim();
            (6..=10).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_digit())
        }),
        "the owner got no code"
    );
    let guessed = confirm(&browser, "acme", &existing, "123456", "").await;
    assert_eq!(guessed.status, StatusCode::UNAUTHORIZED);
    let still = app
        .browser()
        .password_login("acme", "demo@acme.example", common::DEMO_PASSWORD)
        .await;
    assert_eq!(
        still.status,
        StatusCode::SEE_OTHER,
        "the real account is untouched"
    );
}

async fn a_mobile_number_in_national_format_is_proven_and_stored_in_e164(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    app.adjust_policy("initech", |policy| {
        policy.self_registration = SelfRegistration::Open;
    })
    .await;
    let browser = app.browser();
    let form = browser.get("/portal/initech/register").await;
    assert!(form.body.contains("name=\"mobile\""));
    assert!(
        !form.body.contains("name=\"password\""),
        "code-only portal asks no password"
    );

    let missing = register(
        &browser,
        "initech",
        &[
            ("name", "Mo Bile"),
            ("email", "mo@initech.example"),
            ("mobile", ""),
        ],
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.body.contains("sends login codes by SMS"));

    let page = register(
        &browser,
        "initech",
        &[
            ("name", "Mo Bile"),
            ("email", "mo@initech.example"),
            ("mobile", "(555) 010-9999"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("+1 *** *** 9999"), "{}", page.body);
    let email_code = smtp.wait_for("mo@initech.example", 1).await.code();
    let mobile_code = sms.wait_for("+15550109999", 1).await.code();

    let swapped = confirm(&browser, "initech", &page, &mobile_code, &email_code).await;
    assert_eq!(
        swapped.status,
        StatusCode::UNAUTHORIZED,
        "each code proves its own address"
    );
    let done = confirm(&browser, "initech", &page, &email_code, &mobile_code).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(browser.get("/portal/initech/").await.is_logged_in());

    let code_page = app.browser().request_code("initech", "+15550109999").await;
    assert_eq!(code_page.status, StatusCode::OK);
    let login_code = sms.wait_for("+15550109999", 2).await;
    assert!(
        login_code.body.contains("login code"),
        "stored in E.164: {login_code:?}"
    );
}

async fn fifty_registrations_from_one_address_are_rate_limited(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let csrf = browser.get("/portal/acme/register").await.csrf();
    let mut statuses = Vec::new();
    for n in 0..50 {
        let email = format!("flood{n}@spam.example");
        let answer = browser
            .post_form(
                "/portal/acme/register",
                &[
                    ("csrf", csrf.as_str()),
                    ("name", "Flood"),
                    ("email", email.as_str()),
                    ("password", PASSWORD),
                ],
            )
            .await;
        statuses.push(answer.status);
    }
    let accepted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(accepted, 10, "{statuses:?}");
    assert_eq!(limited, 40, "{statuses:?}");
    app.settled_outbox().await;
    assert_eq!(app.deliveries("acme").await.len(), 10);
}

/// Registers `email` on acme and, when `prove`, proves it with the emailed code; returns the
/// browser and its code page.
async fn register_and_prove(
    app: &TestApp,
    smtp: &SmtpReceiver,
    email: &str,
    prove: bool,
) -> (Browser, Page) {
    let browser = app.browser();
    let page = register(
        &browser,
        "acme",
        &[
            ("name", "Sam Sweep"),
            ("email", email),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = smtp.wait_for(email, 1).await.code();
    if prove {
        let waiting = confirm(&browser, "acme", &page, &code, "").await;
        assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
    }
    (browser, page)
}

/// Refuses the one registration waiting in acme's queue.
async fn refuse_the_waiting_one(console: &Browser) {
    let queue = console.get("/admin/orgs/acme/registrations").await;
    let marker = "/admin/orgs/acme/registrations/";
    let start = queue.body.find(marker).unwrap() + marker.len();
    let id: String = queue.body[start..].chars().take(36).collect();
    let refused = console
        .post_form(
            &format!("/admin/orgs/acme/registrations/{id}/refuse"),
            &[("csrf", &queue.csrf())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
}

/// Moves the registration of `email` into the past by `minutes`.
async fn age_registration(app: &TestApp, email: &str, minutes: i64) {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use portico::storage::schema::registrations;
    let email = email.to_owned();
    app.app
        .db
        .run(move |conn| {
            let rows: Vec<(String, String, chrono::NaiveDateTime, chrono::NaiveDateTime)> =
                registrations::table
                    .filter(registrations::email.eq(&email))
                    .select((
                        registrations::org_id,
                        registrations::id,
                        registrations::created_at,
                        registrations::updated_at,
                    ))
                    .load(conn)?;
            let back = chrono::Duration::minutes(minutes);
            for (org_id, id, created, updated) in rows {
                diesel::update(registrations::table.find((org_id, id)))
                    .set((
                        registrations::created_at.eq(created - back),
                        registrations::updated_at.eq(updated - back),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// The emails of every stored registration, sorted.
async fn stored_registrations(app: &TestApp) -> Vec<String> {
    use diesel::{QueryDsl, RunQueryDsl};
    use portico::storage::schema::registrations;
    let mut emails: Vec<String> = app
        .app
        .db
        .run(|conn| {
            Ok(registrations::table
                .select(registrations::email)
                .load(conn)?)
        })
        .await
        .unwrap();
    emails.sort();
    emails
}

async fn the_worker_sweeps_abandoned_and_long_refused_registrations(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let console = app.admin("admin@acme.example").await;
    register_and_prove(&app, &smtp, "old-refused@sweep.example", true).await;
    refuse_the_waiting_one(&console).await;
    age_registration(&app, "old-refused@sweep.example", 31 * 24 * 60).await;
    register_and_prove(&app, &smtp, "new-refused@sweep.example", true).await;
    refuse_the_waiting_one(&console).await;
    register_and_prove(&app, &smtp, "old-waiting@sweep.example", true).await;
    age_registration(&app, "old-waiting@sweep.example", 60 * 24 * 60).await;
    let (abandoner, abandoned) =
        register_and_prove(&app, &smtp, "abandoned@sweep.example", false).await;
    let abandoned_code = smtp.wait_for("abandoned@sweep.example", 1).await.code();
    age_registration(&app, "abandoned@sweep.example", 11).await;
    register_and_prove(&app, &smtp, "fresh@sweep.example", false).await;
    assert_eq!(stored_registrations(&app).await.len(), 5);

    portico::domain::delivery::sweep(&app.app).await.unwrap();

    assert_eq!(
        stored_registrations(&app).await,
        [
            "fresh@sweep.example",
            "new-refused@sweep.example",
            "old-waiting@sweep.example",
        ],
        "unproven ones past their codes' lifetime and refused ones past retention are gone"
    );
    let queue = console.get("/admin/orgs/acme/registrations").await;
    assert!(
        queue.body.contains("old-waiting@sweep.example"),
        "a registration waiting for an admin stays however old: {}",
        queue.body
    );
    let late = confirm(&abandoner, "acme", &abandoned, &abandoned_code, "").await;
    assert_eq!(
        late.status,
        StatusCode::UNAUTHORIZED,
        "nothing left to prove"
    );
}
