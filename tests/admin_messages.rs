//! The admin console's pages about messages, on SQLite and PostgreSQL: the delivery log of an
//! organization, read while its SMTP server refuses connections, and who may open it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{
    Backend, Browser, TestApp,
    sms::{Mode, SmsReceiver},
    smtp::SmtpReceiver,
};
use reqwest::StatusCode;

both_backends!(the_delivery_log_shows_a_stuck_code_email_without_its_code);

const ADMIN_PASSWORD: &str = "portico-admin-password";

/// A browser logged in to the console as `email`.
async fn admin(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    let answer = browser
        .submit(
            "/admin/login",
            "/admin/login",
            &[("identifier", email), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    browser
}

/// The first run of six or more digits in `text`: a one-time code.
fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() >= 6)
        .unwrap_or_default()
        .to_owned()
}

async fn the_delivery_log_shows_a_stuck_code_email_without_its_code(backend: Backend) {
    let port = SmtpReceiver::unused_port().await;
    let sms = SmsReceiver::start(Mode::Accept).await;
    let gateway = sms.gateway();
    let Some(app) = TestApp::demo_with(backend, move |config| {
        config.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        config.sms_gateway = Some(gateway);
    })
    .await
    else {
        return;
    };
    let page = app
        .browser()
        .request_code("globex", "demo@globex.example")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    app.deliver_now().await;
    app.settled_deliveries("globex").await;
    let bodies = app.stored_bodies().await;
    let code = bodies
        .iter()
        .find(|(state, _)| state == "pending")
        .map(|(_, body)| code_in(body))
        .expect("the code email waits in the outbox");
    assert!(code.len() >= 6);

    let globex = admin(&app, "admin@globex.example").await;
    let log = globex.get("/admin/orgs/globex/deliveries").await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.body.contains("pending"), "{}", log.body);
    assert!(log.body.contains("d***@globex.example"));
    assert!(!log.body.contains("demo@globex.example"));
    assert!(log.body.contains("SMTP"), "the last error is shown");
    assert!(!log.body.contains(&code), "the code never shows");
    assert!(log.body.contains("1 deliveries"));

    let filtered = globex
        .get("/admin/orgs/globex/deliveries?state=sent&channel=")
        .await;
    assert!(filtered.body.contains("0 deliveries"));
    assert!(!filtered.body.contains("d***@globex.example"));
    let by_channel = globex
        .get("/admin/orgs/globex/deliveries?state=pending&channel=email")
        .await;
    assert!(by_channel.body.contains("d***@globex.example"));
    let sms_only = globex
        .get("/admin/orgs/globex/deliveries?channel=sms")
        .await;
    assert!(sms_only.body.contains("0 deliveries"));

    let acme = admin(&app, "admin@acme.example").await;
    let foreign = acme.get("/admin/orgs/globex/deliveries").await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert!(!foreign.body.contains("globex.example"));
    let own = acme.get("/admin/orgs/acme/deliveries").await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(!own.body.contains("globex.example"));
    assert_eq!(
        app.browser()
            .get("/admin/orgs/globex/deliveries")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}
