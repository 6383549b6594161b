//! The admin console's pages about messages, on SQLite and PostgreSQL: the delivery log of an
//! organization, read while its SMTP server refuses connections, and who may open it; an
//! organization's own message templates, checked, previewed, sent and reset; an
//! organization's own SMS gateway, its secrets and its test SMS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{
    Backend, Browser, Page, TestApp,
    sms::{Mode, SmsReceiver},
    smtp::SmtpReceiver,
};
use reqwest::StatusCode;

both_backends!(
    the_delivery_log_shows_a_stuck_code_email_without_its_code,
    a_custom_login_code_subject_is_sent_until_reset,
    broken_or_unsafe_templates_are_refused_with_their_line,
    an_organizations_own_sms_gateway_carries_its_test_and_code_sms,
    a_stored_gateway_the_platform_no_longer_allows_is_never_called,
);

const GLOBEX_LOGIN_CODE: &str = "/admin/orgs/globex/messages/login_code";

/// The fields of the login code's edit page, with `subject` and `text` in place of its own.
async fn login_code_fields(browser: &Browser, subject: &str, text: &str) -> Vec<(String, String)> {
    let page = browser.get(GLOBEX_LOGIN_CODE).await;
    assert_eq!(page.status, StatusCode::OK);
    vec![
        ("csrf".to_owned(), page.csrf()),
        ("subject".to_owned(), subject.to_owned()),
        ("text".to_owned(), text.to_owned()),
        (
            "html".to_owned(),
            "<p>Your code: <b>{{code}}</b></p>".to_owned(),
        ),
        ("sms".to_owned(), "{{code}} opens {{org_name}}".to_owned()),
    ]
}

async fn post(browser: &Browser, fields: &[(String, String)], action: &str) -> Page {
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.push(("action", action));
    browser.post_form(GLOBEX_LOGIN_CODE, &all).await
}

/// Submits an SMS gateway page with `fields`.
async fn save_gateway(browser: &Browser, path: &str, fields: Vec<(String, String)>) -> Page {
    let all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.submit(path, path, &all).await
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

    let globex = app.admin("admin@globex.example").await;
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

    let acme = app.admin("admin@acme.example").await;
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

async fn a_custom_login_code_subject_is_sent_until_reset(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let globex = app.admin("admin@globex.example").await;
    let list = globex.get("/admin/orgs/globex/messages").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Login code") && list.body.contains("built-in"));
    let text = "Hello from {{org_name}}.\n\n{{code}}\n\nValid {{minutes}} minutes.";
    let fields = login_code_fields(&globex, "Sign in to {{org_name}} now", text).await;

    let preview = post(&globex, &fields, "preview").await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Sign in to Globex"));
    assert!(
        preview.body.contains("123456"),
        "sample values fill the preview"
    );
    assert!(preview.body.contains("sandbox=\"\""));
    assert!(!preview.body.contains("<script"));
    let still_default = app
        .browser()
        .request_code("globex", "demo@globex.example")
        .await;
    assert_eq!(still_default.status, StatusCode::OK);
    let mail = smtp.wait_for("demo@globex.example", 1).await;
    assert!(
        !mail.data.contains("Sign in to Globex"),
        "a preview saves nothing"
    );

    let saved = post(&globex, &fields, "save").await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = globex.get(saved.location()).await;
    assert!(page.body.contains("custom wording"));
    assert!(page.body.contains("Sign in to {{org_name}} now"));
    let browser = app.browser();
    app.age_limit_events(600).await;
    let code_page = browser.request_code("globex", "demo@globex.example").await;
    let mail = smtp.wait_for("demo@globex.example", 2).await;
    assert!(
        mail.data.contains("Subject: Sign in to Globex"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Hello from Globex"));
    let answer = browser.enter_code("globex", &code_page, &mail.code()).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the custom code still logs in"
    );
    assert!(
        app.audit_kinds("globex")
            .await
            .iter()
            .any(|(kind, _)| kind == "messages.changed")
    );

    let reset = globex
        .submit(GLOBEX_LOGIN_CODE, GLOBEX_LOGIN_CODE, &[("action", "reset")])
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    let page = globex.get(reset.location()).await;
    assert!(page.body.contains("built-in wording"));
    assert!(!page.body.contains("Sign in to {{org_name}} now"));
    app.age_limit_events(600).await;
    app.browser()
        .request_code("globex", "demo@globex.example")
        .await;
    let mail = smtp.wait_for("demo@globex.example", 3).await;
    assert!(!mail.data.contains("Sign in to Globex"), "{}", mail.data);
    assert!(mail.data.contains("login code"));

    let acme = app.admin("admin@acme.example").await;
    for path in ["/admin/orgs/globex/messages", GLOBEX_LOGIN_CODE] {
        assert_eq!(acme.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        globex
            .get("/admin/orgs/globex/messages/common_login_code")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn broken_or_unsafe_templates_are_refused_with_their_line(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let globex = app.admin("admin@globex.example").await;
    let cases = [
        ("Hello\n{{#if code}}\nno end", "Line "),
        ("Hello\n\n{{password}}", "Line 3:"),
        ("Code {{code}}\n{{> login_code.html}}", "Line 2:"),
        ("{{#*inline \"a\"}}{{> a}}{{/inline}}{{> a}}", "partials"),
        ("{{log code}}", "Line 1:"),
    ];
    for (text, said) in cases {
        let fields = login_code_fields(&globex, "Your code", text).await;
        let answer = post(&globex, &fields, "save").await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert!(answer.body.contains("text-error"), "{text}");
        assert!(answer.body.contains(said), "{text}: {}", answer.body);
        let preview = post(&globex, &fields, "preview").await;
        assert_eq!(preview.status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    }
    let page = globex.get(GLOBEX_LOGIN_CODE).await;
    assert!(page.body.contains("built-in wording"), "nothing was saved");

    let fields = login_code_fields(&globex, "{{lookup this \"code\"}}", "{{code}}").await;
    let lookup = post(&globex, &fields, "preview").await;
    assert_eq!(lookup.status, StatusCode::OK, "{}", lookup.body);
    assert!(lookup.body.contains("<strong>Subject:</strong> 123456"));
    let mut no_csrf = fields.clone();
    no_csrf[0].1 = "forged".to_owned();
    let forged = post(&globex, &no_csrf, "save").await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER);
}

async fn an_organizations_own_sms_gateway_carries_its_test_and_code_sms(backend: Backend) {
    let (smtp, platform, own) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let (mail_url, platform_gateway) = (smtp.url(), platform.gateway());
    let allowed = format!("127.0.0.1:{}", own.port);
    let Some(app) = TestApp::demo_with(backend, move |config| {
        config.smtp_url = Some(mail_url.into());
        config.sms_gateway = Some(platform_gateway);
        config.org_sms_gateway_hosts = vec![allowed];
    })
    .await
    else {
        return;
    };
    let path = "/admin/orgs/initech/sms-gateway";
    let initech = app.admin("admin@initech.example").await;
    let page = initech.get(path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("platform gateway"));
    let url = format!("http://127.0.0.1:{}/sms", own.port);
    let submit = |fields: Vec<(String, String)>| save_gateway(&initech, path, fields);

    // The server's own network is out of reach unless the platform lists the host.
    for inside in ["http://127.0.0.1:5432/", "http://169.254.169.254/latest"] {
        let fields = vec![
            ("action".to_owned(), "save".to_owned()),
            ("url".to_owned(), inside.to_owned()),
            ("method".to_owned(), "POST".to_owned()),
            ("headers".to_owned(), String::new()),
            ("body_template".to_owned(), "{{json body}}".to_owned()),
            ("content_type".to_owned(), "application/json".to_owned()),
            ("accept_statuses".to_owned(), "200-299".to_owned()),
            ("timeout_secs".to_owned(), "5".to_owned()),
        ];
        let refused = submit(fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("url-error"));
        assert!(refused.body.contains("allows these gateway hosts only"));
    }
    let body = "{\"to\": {{json to}}, \"body\": {{json body}}}";
    let gateway = |headers: &str, timeout: &str| {
        vec![
            ("action".to_owned(), "save".to_owned()),
            ("url".to_owned(), url.clone()),
            ("method".to_owned(), "POST".to_owned()),
            ("headers".to_owned(), headers.to_owned()),
            ("body_template".to_owned(), body.to_owned()),
            ("content_type".to_owned(), "application/json".to_owned()),
            ("accept_statuses".to_owned(), "200-299".to_owned()),
            ("timeout_secs".to_owned(), timeout.to_owned()),
        ]
    };

    let broken = submit(gateway("Authorization Bearer x", "0")).await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(broken.body.contains("headers-error") && broken.body.contains("timeout_secs-error"));
    let saved = submit(gateway("Authorization: Bearer initech-secret-token", "5")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = initech.get(path).await;
    assert!(page.body.contains("own gateway"));
    assert!(
        !page.body.contains("initech-secret-token"),
        "a saved secret is not shown"
    );
    assert!(page.body.contains("Authorization: ********"));

    let kept = submit(gateway("Authorization: ********", "7")).await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.body);
    let test = initech
        .submit(path, &format!("{path}/test"), &[("to", "+1 555 010 0099")])
        .await;
    assert_eq!(test.status, StatusCode::SEE_OTHER, "{}", test.body);
    let sms = own.wait_for("+15550100099", 1).await;
    assert_eq!(sms.authorization, "Bearer initech-secret-token");
    assert!(sms.body.contains("test message"));

    let page = app.browser().request_code("initech", "+15550100003").await;
    assert_eq!(page.status, StatusCode::OK);
    let code = own.wait_for("+15550100003", 1).await;
    assert_eq!(code.authorization, "Bearer initech-secret-token");
    assert_eq!(
        platform.calls(),
        0,
        "the platform's gateway carried nothing of initech's"
    );
    let log = initech
        .get("/admin/orgs/initech/deliveries?channel=sms")
        .await;
    assert!(log.body.contains("+1 *** *** 0099") && log.body.contains("sent"));

    let acme = app.admin("admin@acme.example").await;
    assert_eq!(acme.get(path).await.status, StatusCode::NOT_FOUND);

    let removed = initech.submit(path, path, &[("action", "remove")]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    initech
        .submit(path, &format!("{path}/test"), &[("to", "+15550100098")])
        .await;
    let sms = platform.wait_for("+15550100098", 1).await;
    assert_eq!(sms.authorization, "Bearer test-gateway-token");
}

/// A gateway saved while its host was allowed, and no longer allowed now (the list is empty):
/// the code SMS is not sent to it, nor through the platform's gateway, and the delivery log
/// says why.
async fn a_stored_gateway_the_platform_no_longer_allows_is_never_called(backend: Backend) {
    let (smtp, platform, own) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &platform).await else {
        return;
    };
    let gateway = own.gateway();
    app.app
        .db
        .run(move |conn| {
            let org = portico::storage::orgs::find_by_slug(conn, "initech")?.unwrap();
            let now = chrono::Utc::now().naive_utc();
            portico::storage::sms_gateways::save(conn, &org.id, &gateway, now)
        })
        .await
        .unwrap();

    let page = app.browser().request_code("initech", "+15550100003").await;
    assert_eq!(page.status, StatusCode::OK);
    let mut failed = None;
    for _ in 0..200 {
        let deliveries = app.deliveries("initech").await;
        failed = deliveries.into_iter().find(|d| d.last_error.is_some());
        if failed.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let failed = failed.expect("the code SMS was tried");
    assert_ne!(failed.state, "sent");
    assert!(
        failed
            .last_error
            .unwrap()
            .contains("not on the platform's list")
    );
    assert_eq!(own.calls(), 0, "the unlisted gateway was never called");
    assert_eq!(platform.calls(), 0, "nor did the platform's carry it");
}
