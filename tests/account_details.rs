//! Proven changes of a contact's email or mobile number, adding a mobile number, and the
//! console's view of the new messages, on SQLite and PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{
    Backend, DEMO_PASSWORD, TestApp,
    sms::{Mode, SmsReceiver},
    smtp::SmtpReceiver,
};
use reqwest::StatusCode;

both_backends!(
    an_email_change_needs_the_current_password_and_a_code_and_tells_the_old_address,
    a_contact_without_a_mobile_adds_and_proves_one,
    the_console_lists_and_previews_every_new_message,
);

async fn an_email_change_needs_the_current_password_and_a_code_and_tells_the_old_address(
    backend: Backend,
) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let path = "/portal/acme/profile/contact?field=email";
    let action = "/portal/acme/profile/contact";
    let fields = |password| {
        vec![
            ("field", "email"),
            ("new_value", "Dana.New@Acme.example"),
            ("current_password", password),
        ]
    };
    let without = browser.submit(path, action, &fields("")).await;
    assert_eq!(without.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        without.body.contains("Enter your current password"),
        "{}",
        without.body
    );
    let wrong = browser
        .submit(path, action, &fields("not my password"))
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        app.deliveries("acme").await.is_empty(),
        "no code without the proof"
    );

    let page = browser.submit(path, action, &fields(DEMO_PASSWORD)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = smtp.wait_for("dana.new@acme.example", 1).await.code();
    let verify = |code: String| {
        let (csrf, change_id) = (page.csrf(), page.hidden("change_id"));
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/portal/acme/profile/contact/verify",
                    &[
                        ("csrf", csrf.as_str()),
                        ("field", "email"),
                        ("change_id", change_id.as_str()),
                        ("code", code.as_str()),
                    ],
                )
                .await
        }
    };
    assert_eq!(
        verify("000000".to_owned()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let done = verify(code.clone()).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        verify(code).await.status,
        StatusCode::UNAUTHORIZED,
        "used once"
    );

    let told = smtp.wait_for("demo@acme.example", 1).await;
    assert!(
        told.data.contains("contact details changed"),
        "{}",
        told.data
    );
    let old = app
        .browser()
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = app
        .browser()
        .password_login("acme", "dana.new@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
    let audit = app.audit_kinds("acme").await;
    assert!(audit.iter().any(|(kind, _)| kind == "contact.changed"));
}

async fn a_contact_without_a_mobile_adds_and_proves_one(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .password_login("acme", "h.tanaka@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let profile = browser.get("/portal/acme/profile").await;
    assert!(profile.body.contains("Add a mobile number"));
    let page = browser
        .submit(
            "/portal/acme/profile/contact?field=mobile",
            "/portal/acme/profile/contact",
            &[
                ("field", "mobile"),
                ("new_value", "555 010 7777"),
                ("current_password", DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let text = sms.wait_for("+15550107777", 1).await;
    let done = browser
        .post_form(
            "/portal/acme/profile/contact/verify",
            &[
                ("csrf", &page.csrf()),
                ("field", "mobile"),
                ("change_id", &page.hidden("change_id")),
                ("code", &text.code()),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let profile = browser.get("/portal/acme/profile").await;
    assert!(profile.body.contains("+15550107777"), "{}", profile.body);
}

async fn the_console_lists_and_previews_every_new_message(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let admin = app.browser();
    admin
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("identifier", "admin@acme.example"),
                ("password", "portico-admin-password"),
            ],
        )
        .await;
    let list = admin.get("/admin/orgs/acme/messages").await;
    assert_eq!(list.status, StatusCode::OK);
    for name in [
        "password_reset",
        "password_changed",
        "password_invitation",
        "registration_code",
        "registration_exists",
        "registration_approved",
        "registration_refused",
        "contact_change_code",
        "contact_changed",
        "mobile_changed",
    ] {
        assert!(
            list.body
                .contains(&format!("/admin/orgs/acme/messages/{name}")),
            "{name} missing from the list"
        );
        let page = admin
            .get(&format!("/admin/orgs/acme/messages/{name}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{name}: {}", page.body);
        assert!(page.body.contains("Acme Corporation"), "{name}: a preview");
    }
    let queue = admin.get("/admin/orgs/acme/registrations").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains("No registration is waiting"));
    assert!(
        !queue.body.contains("id=\"without-mobile\""),
        "acme sends no SMS codes, so missing mobiles do not matter"
    );

    let missing = app
        .app
        .db
        .run(|conn| {
            let org = portico::storage::orgs::find_by_slug(conn, "umbrella")?.unwrap();
            portico::storage::directory::reach(conn, &org.id)
        })
        .await
        .unwrap()
        .without_mobile;
    let platform = app.browser();
    platform
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("identifier", "admin@portico.example"),
                ("password", "portico-admin-password"),
            ],
        )
        .await;
    let umbrella = platform.get("/admin/orgs/umbrella/registrations").await;
    assert!(
        umbrella.body.contains(&format!(
            "{missing} active contacts have no mobile number yet"
        )),
        "{}",
        umbrella.body
    );
}
