//! One-time-code login on SQLite and PostgreSQL: codes that arrive through a real SMTP server
//! and a real HTTP SMS gateway on loopback, read back from what arrived, and the attacks on
//! them: wrong, expired, used, foreign and concurrent guesses, resends, unknown identifiers,
//! and gateways that are down.

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

/// Sends `code` for the code page's attempt from `n` requests at once to the form at `verify`
/// (Globex's portal when `None`); returns their statuses.
async fn guess_at_once(
    app: &TestApp,
    browser: &common::Browser,
    page: &common::Page,
    code: &str,
    n: usize,
    verify: Option<&str>,
) -> Vec<StatusCode> {
    let (csrf, login_id) = (page.csrf(), page.hidden("login_id"));
    let verify = verify.unwrap_or("/portal/globex/login/code/verify");
    let mut guesses = Vec::new();
    for _ in 0..n {
        let client = browser.client.clone();
        let url = format!("{}{verify}", app.base);
        let fields = [
            ("csrf", csrf.clone()),
            ("login_id", login_id.clone()),
            ("code", code.to_owned()),
        ];
        guesses.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&fields)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    statuses
}

both_backends!(
    globex_contact_logs_in_with_an_emailed_code,
    initech_contact_logs_in_with_a_code_by_sms_typed_in_national_format,
    umbrella_sends_one_code_to_both_and_either_identifier_works,
    umbrella_still_takes_the_password,
    hooli_needs_the_password_then_a_code,
    wrong_expired_used_and_foreign_codes_get_one_answer,
    twenty_concurrent_right_guesses_make_exactly_one_session,
    twenty_concurrent_wrong_guesses_are_all_counted_and_kill_the_code,
    wrong_codes_pause_the_contacts_codes_for_a_while,
    a_code_login_replaces_the_browsers_session,
    a_resend_waits_for_the_cooldown_and_retires_the_old_code,
    unknown_and_disabled_identifiers_are_answered_alike_and_sent_nothing,
    letters_and_spaces_in_the_code,
    a_link_from_the_email_logs_nobody_in_on_get,
    smtp_refusing_connections_delays_the_code_but_loses_nothing,
    a_recipient_the_mail_server_refuses_for_good_is_not_retried,
    an_outcome_the_database_refuses_for_a_while_is_written_later,
    a_slow_mail_server_does_not_hold_back_a_code_by_sms,
    a_failing_sms_gateway_is_retried_then_marked_failed,
    a_redirecting_sms_gateway_is_not_followed,
    a_silent_sms_gateway_does_not_hold_up_another_organizations_email,
    three_silent_ways_do_not_stop_the_worker_claiming,
    a_silent_sms_gateway_times_out_and_is_retried,
    the_demo_file_outboxes_carry_codes_without_any_gateway,
    common_page_code_opens_the_one_portal_that_takes_codes,
    simultaneous_common_page_code_requests_send_one_code,
    wrong_codes_sent_at_once_on_the_common_page_are_all_counted,
    common_page_code_lets_a_contact_of_two_code_portals_choose,
    common_page_code_by_sms_and_for_strangers,
);

async fn globex_contact_logs_in_with_an_emailed_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();

    let page = browser.request_code("globex", "Demo@Globex.example").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("If d***@globex.example belongs to an account here"),
        "{}",
        page.body
    );
    assert!(page.body.contains("autocomplete=\"one-time-code\""));
    assert!(page.body.contains("inputmode=\"numeric\""));

    let mail = smtp.wait_for("demo@globex.example", 1).await;
    assert!(mail.data.contains("Subject: Your Globex"), "{}", mail.data);
    let code = mail.code();
    assert_eq!(code.len(), 6);

    let answer = browser.enter_code("globex", &page, &code).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/portal/globex/");
    assert!(browser.get("/portal/globex/").await.is_logged_in());

    let audit = app.audit_kinds("globex").await;
    assert_eq!(audit[0].0, "login.succeeded");
    assert!(audit[0].1.contains("\"otp\""));
    let deliveries = app.deliveries("globex").await;
    assert_eq!(deliveries[0].state, "sent");
    assert!(
        sms.received().is_empty(),
        "an email-only portal sent an SMS"
    );
    assert!(
        app.stored_bodies()
            .await
            .iter()
            .all(|(_, body)| body.is_empty()),
        "a sent message body was kept"
    );
}

async fn initech_contact_logs_in_with_a_code_by_sms_typed_in_national_format(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();

    let page = browser.request_code("initech", "(555) 010-0003").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("+1 *** *** 0003"), "{}", page.body);
    let text = sms.wait_for("+15550100003", 1).await;
    assert_eq!(text.authorization, "Bearer test-gateway-token");
    assert!(text.body.contains("Initech"));

    let answer = browser.enter_code("initech", &page, &text.code()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(browser.get("/portal/initech/").await.is_logged_in());
    assert!(
        smtp.mails().is_empty(),
        "a mobile-only portal sent an email"
    );
}

async fn umbrella_sends_one_code_to_both_and_either_identifier_works(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };

    let by_email = app.browser();
    let page = by_email
        .request_code("umbrella", "demo@umbrella.example")
        .await;
    let mail = smtp.wait_for("demo@umbrella.example", 1).await;
    let text = sms.wait_for("+15550100004", 1).await;
    assert_eq!(mail.code(), text.code(), "one code, sent to both");
    let answer = by_email.enter_code("umbrella", &page, &text.code()).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the SMS copy works for an email login"
    );

    app.age_limit_events(3600).await;
    let by_mobile = app.browser();
    let page = by_mobile.request_code("umbrella", "+1 555 010 0004").await;
    let mail = smtp.wait_for("demo@umbrella.example", 2).await;
    sms.wait_for("+15550100004", 2).await;
    let answer = by_mobile.enter_code("umbrella", &page, &mail.code()).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the email copy works for a mobile login"
    );
    assert!(by_mobile.get("/portal/umbrella/").await.is_logged_in());
}

async fn umbrella_still_takes_the_password(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let login = browser.get("/portal/umbrella/login").await;
    assert!(login.body.contains("type=\"password\"") && login.body.contains("Get code"));
    let answer = browser
        .password_login("umbrella", "demo@umbrella.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

async fn hooli_needs_the_password_then_a_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();

    let login = browser.get("/portal/hooli/login").await;
    assert!(
        !login.body.contains("Get code"),
        "a code alone is not offered"
    );
    let step_one = browser
        .password_login("hooli", "demo@hooli.example", DEMO_PASSWORD)
        .await;
    assert_eq!(step_one.status, StatusCode::OK);
    assert!(step_one.body.contains("Your password is right"));
    assert!(
        !step_one
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("portico_session_"))
    );
    assert!(!browser.get("/portal/hooli/").await.is_logged_in());

    let code = smtp.wait_for("demo@hooli.example", 1).await.code();
    let answer = browser.enter_code("hooli", &step_one, &code).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(browser.get("/portal/hooli/").await.is_logged_in());
    let audit = app.audit_kinds("hooli").await;
    assert!(audit[0].1.contains("password+otp"), "{:?}", audit[0]);

    // A code alone cannot be asked for, and a wrong password sends nothing.
    let other = app.browser();
    let csrf = other.get("/portal/hooli/login").await.csrf();
    let direct = other
        .post_form(
            "/portal/hooli/login/code",
            &[("csrf", &csrf), ("identifier", "demo@hooli.example")],
        )
        .await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND);
    let wrong = other
        .password_login("hooli", "demo@hooli.example", "not-the-password")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        smtp.mails().len(),
        1,
        "only the proven password sent a code"
    );
}

async fn wrong_expired_used_and_foreign_codes_get_one_answer(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let refusal = "That code is wrong or no longer valid.";

    // Wrong.
    let page = browser.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let answer = browser.enter_code("globex", &page, wrong).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains(refusal));

    // From another organization: globex's code and attempt on umbrella's portal.
    let foreign = browser
        .post_form(
            "/portal/umbrella/login/code/verify",
            &[
                ("csrf", &page.csrf()),
                ("login_id", &page.hidden("login_id")),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::UNAUTHORIZED);
    assert!(foreign.body.contains(refusal));

    // From another login attempt of the same contact and organization.
    app.age_limit_events(3600).await;
    let second = app.browser();
    let other_page = second.request_code("globex", "demo@globex.example").await;
    let other_code = smtp.wait_for("demo@globex.example", 2).await.code();
    let crossed = browser.enter_code("globex", &page, &other_code).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);

    // Used: it works once.
    let first_use = second.enter_code("globex", &other_page, &other_code).await;
    assert_eq!(first_use.status, StatusCode::SEE_OTHER);
    let reuse = second.enter_code("globex", &other_page, &other_code).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert!(reuse.body.contains(refusal));

    // Expired.
    app.age_limit_events(3600).await;
    let third = app.browser();
    let page = third.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 3).await.code();
    assert_eq!(app.settled_deliveries("globex").await[0].state, "sent");
    app.expire_codes("globex").await;
    let expired = third.enter_code("globex", &page, &code).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.body.contains(refusal));
    assert_eq!(
        expired.comparable_body(),
        reuse.comparable_body(),
        "expired and used read the same"
    );

    // An attempt id that never existed.
    let made_up = third
        .post_form(
            "/portal/globex/login/code/verify",
            &[
                ("csrf", &page.csrf()),
                ("login_id", "00000000-0000-4000-8000-000000000000"),
                ("code", "123456"),
            ],
        )
        .await;
    assert_eq!(made_up.status, StatusCode::UNAUTHORIZED);
    assert!(!third.get("/portal/globex/").await.is_logged_in());
}

async fn twenty_concurrent_right_guesses_make_exactly_one_session(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let statuses = guess_at_once(&app, &browser, &page, &code, 20, None).await;
    let winners = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(winners, 1);
    let successes = app
        .audit_kinds("globex")
        .await
        .iter()
        .filter(|(kind, _)| kind == "login.succeeded")
        .count();
    assert_eq!(successes, 1);
    assert_eq!(
        app.limit_events("code:fail:").await,
        0,
        "the right code sent again counted as a wrong one"
    );
}

async fn twenty_concurrent_wrong_guesses_are_all_counted_and_kill_the_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let statuses = guess_at_once(&app, &browser, &page, wrong, 20, None).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(
        app.limit_events("code:fail:").await,
        20,
        "every wrong guess counted"
    );
    assert_eq!(
        app.limit_places("code:fail:").await,
        20,
        "wrong guesses shared a place, and their count falls short"
    );
    let right_too_late = browser.enter_code("globex", &page, &code).await;
    assert_eq!(
        right_too_late.status,
        StatusCode::UNAUTHORIZED,
        "the code is dead at its limit"
    );
}

/// Once a contact's wrong codes of the last hour reach the policy's number, its codes are
/// paused for a quarter of an hour: the right code is refused, and a new request is answered
/// as ever but sends nothing. After the pause a request sends a code that works.
async fn wrong_codes_pause_the_contacts_codes_for_a_while(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    app.adjust_policy("globex", |policy| policy.code_failures_per_hour = 2)
        .await;
    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        let answer = browser.enter_code("globex", &page, wrong).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let right = browser.enter_code("globex", &page, &code).await;
    assert_eq!(
        right.status,
        StatusCode::UNAUTHORIZED,
        "a paused code worked"
    );
    assert!(!right.is_logged_in());

    // Past the resend cooldown, within the pause.
    app.age_limit_events(120).await;
    let paused = browser.request_code("globex", "demo@globex.example").await;
    assert_eq!(paused.status, StatusCode::OK);
    assert!(!paused.hidden("login_id").is_empty());
    assert_eq!(
        app.deliveries("globex").await.len(),
        1,
        "a code was sent while paused"
    );

    app.age_limit_events(15 * 60).await;
    let page = browser.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 2).await.code();
    let answer = browser.enter_code("globex", &page, &code).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

/// Logging in by code again swaps the browser's session for the new one: the old token stops
/// working and one session is stored.
async fn a_code_login_replaces_the_browsers_session(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    // The login form, opened before logging in, in a second tab say.
    let form = browser.get("/portal/globex/login").await;
    let page = browser.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let first = browser.enter_code("globex", &page, &code).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let first_token = first.session_cookie("globex");

    app.age_limit_events(120).await;
    let fields = [
        ("csrf", form.csrf()),
        ("identifier", "demo@globex.example".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = browser
        .post_form("/portal/globex/login/code", &fields)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let code = smtp.wait_for("demo@globex.example", 2).await.code();
    let again = browser.enter_code("globex", &page, &code).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_ne!(again.session_cookie("globex"), first_token);
    assert!(browser.get("/portal/globex/").await.is_logged_in());
    assert_eq!(app.stored_sessions("globex").await, 1);
    let replay = app
        .page_with_cookie(
            "/portal/globex/",
            &format!("portico_session_globex={first_token}"),
        )
        .await;
    assert!(
        !replay.contains("Hello, "),
        "the replaced token still works"
    );
}

async fn a_resend_waits_for_the_cooldown_and_retires_the_old_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    assert!(page.body.contains("data-enable-after=\"60\""));
    let old_code = smtp.wait_for("demo@globex.example", 1).await.code();
    let fields = [("csrf", page.csrf()), ("login_id", page.hidden("login_id"))];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let early = browser
        .post_form("/portal/globex/login/code/resend", &fields)
        .await;
    assert_eq!(early.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        matches!(early.retry_after(), Some(1..=60)),
        "Retry-After: {:?}",
        early.headers.get("retry-after")
    );
    assert!(
        early.body.contains("You can ask for a new code in"),
        "{}",
        early.body
    );

    app.age_limit_events(61).await;
    let resent = browser
        .post_form("/portal/globex/login/code/resend", &fields)
        .await;
    assert_eq!(resent.status, StatusCode::OK);
    assert!(resent.body.contains("Earlier codes no longer work"));
    let new_code = smtp.wait_for("demo@globex.example", 2).await.code();

    if new_code != old_code {
        let old = browser.enter_code("globex", &resent, &old_code).await;
        assert_eq!(old.status, StatusCode::UNAUTHORIZED);
        assert!(old.body.contains("replaced by a newer one"), "{}", old.body);
    }
    let answer = browser.enter_code("globex", &resent, &new_code).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

async fn unknown_and_disabled_identifiers_are_answered_alike_and_sent_nothing(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };

    let known = app
        .browser()
        .request_code("globex", "demo@globex.example")
        .await;
    let unknown = app
        .browser()
        .request_code("globex", "dx@globex.example")
        .await;
    let disabled_email = disabled_contact_email(&app, "globex").await;
    let disabled = app.browser().request_code("globex", &disabled_email).await;

    assert_eq!(known.status, unknown.status);
    assert_eq!(known.status, disabled.status);
    assert_eq!(
        known.comparable_body().replace("d***@globex.example", "X"),
        unknown
            .comparable_body()
            .replace("d***@globex.example", "X")
    );
    smtp.wait_for("demo@globex.example", 1).await;
    app.deliver_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let recipients: Vec<String> = smtp.mails().iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(
        recipients,
        vec!["demo@globex.example".to_owned()],
        "nothing went to anyone else"
    );
    assert_eq!(app.deliveries("globex").await.len(), 1);
}

async fn disabled_contact_email(app: &TestApp, slug: &str) -> String {
    let path = format!("{}/fixtures/orgs/{slug}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    let _ = app;
    parsed["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("disabled").and_then(toml::Value::as_bool) == Some(true))
        .and_then(|c| c["email"].as_str())
        .unwrap()
        .to_owned()
}

async fn letters_and_spaces_in_the_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    let code = smtp.wait_for("demo@globex.example", 1).await.code();

    let letters = browser.enter_code("globex", &page, "12a4b6").await;
    assert_eq!(letters.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(letters.body.contains("id=\"code-error\""));
    assert!(letters.body.contains("no letters"));
    assert_eq!(
        app.limit_events("code:fail:").await,
        0,
        "a malformed code is not a guess"
    );

    let spaced = format!(" {} {} ", &code[..3], &code[3..]);
    let answer = browser.enter_code("globex", &page, &spaced).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "spaces inside a code are forgiven"
    );
}

async fn a_link_from_the_email_logs_nobody_in_on_get(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    browser.request_code("globex", "demo@globex.example").await;
    let mail = smtp.wait_for("demo@globex.example", 1).await;
    // The text part may be quoted-printable: undo its soft breaks and escaped equals signs.
    let text = mail.data.replace("=\n", "").replace("=3D", "=");
    let start = text
        .find("/portal/globex/login/code?login_id=")
        .expect("a link in the mail");
    let link: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/?=-_&.".contains(*c))
        .collect();

    let scanner = app.browser();
    let opened = scanner.get(&link).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(
        opened.body.contains("name=\"code\""),
        "the link opens the code form"
    );
    assert!(
        !opened
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("portico_session_"))
    );
    assert!(!scanner.get("/portal/globex/").await.is_logged_in());
    let answer = scanner.enter_code("globex", &opened, &mail.code()).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the form on the linked page works"
    );
}

async fn smtp_refusing_connections_delays_the_code_but_loses_nothing(backend: Backend) {
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
    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the page does not wait for the gateway"
    );
    app.deliver_now().await;
    let waiting = app.settled_deliveries("globex").await;
    assert_eq!(waiting[0].state, "pending");
    assert!(waiting[0].attempts >= 1);
    assert!(
        waiting[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("SMTP")
    );

    let smtp = SmtpReceiver::start_on(port).await;
    app.deliver_now().await;
    let mail = smtp.wait_for("demo@globex.example", 1).await;
    assert_eq!(app.deliveries("globex").await[0].state, "sent");
    let answer = browser.enter_code("globex", &page, &mail.code()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

/// A mail server that refuses the recipient for good (550) is not asked again: the message
/// is marked failed after its one attempt, with the reply, and its code never starts.
async fn a_recipient_the_mail_server_refuses_for_good_is_not_retried(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    smtp.refuse("demo@globex.example");
    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    assert_eq!(page.status, StatusCode::OK);
    app.deliver_now().await;
    app.deliver_now().await;
    let deliveries = app.settled_deliveries("globex").await;
    assert_eq!(deliveries[0].state, "failed");
    assert_eq!(deliveries[0].attempts, 1, "asked once");
    let error = deliveries[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("550") && !error.contains("demo@"), "{error}");
    assert!(smtp.mails().is_empty());
}

/// A mail server that takes its time over an email holds one sending slot, not the worker: a
/// code by SMS queued while the email is out goes out before the email's exchange ends.
async fn a_slow_mail_server_does_not_hold_back_a_code_by_sms(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    smtp.take_time(std::time::Duration::from_secs(5));
    let app = std::sync::Arc::new(app);
    let browser = app.browser();
    browser.request_code("globex", "demo@globex.example").await;
    let worker = {
        let app = app.clone();
        tokio::spawn(async move { app.deliver_now().await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    browser.request_code("initech", "(555) 010-0003").await;
    sms.wait_for("+15550100003", 1).await;
    assert!(
        smtp.mails().is_empty(),
        "the SMS waited for the slow email's exchange to end"
    );
    worker.await.unwrap();
    smtp.wait_for("demo@globex.example", 1).await;
}

/// The database refuses, for a while, to take what became of a sent email (a trigger stands
/// in for a database that fails the write): the worker keeps the answer and writes it once
/// the database takes it again. The email is recorded as sent and goes out once, instead of
/// staying claimed until its lease runs out and going again.
async fn an_outcome_the_database_refuses_for_a_while_is_written_later(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let refusing: &[&str] = match backend {
        Backend::Sqlite => &[
            "CREATE TRIGGER refuse_sent BEFORE UPDATE OF state ON outbox \
             WHEN NEW.state = 'sent' BEGIN SELECT RAISE(ABORT, 'not now'); END",
        ],
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_sent() RETURNS trigger LANGUAGE plpgsql \
             AS $$ BEGIN RAISE EXCEPTION 'not now'; END $$",
            "CREATE TRIGGER refuse_sent BEFORE UPDATE ON outbox FOR EACH ROW \
             WHEN (NEW.state = 'sent') EXECUTE FUNCTION refuse_sent()",
        ],
    };
    app.sql(refusing).await;
    let page = app
        .browser()
        .request_code("globex", "demo@globex.example")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    smtp.wait_for("demo@globex.example", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(app.deliveries("globex").await[0].state, "sending");

    let dropping = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_sent",
        Backend::Postgres => "DROP TRIGGER refuse_sent ON outbox",
    };
    app.sql(&[dropping]).await;
    let deliveries = app.settled_deliveries("globex").await;
    assert_eq!(deliveries[0].state, "sent");
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(smtp.mails().len(), 1, "the email went out again");
}

async fn a_failing_sms_gateway_is_retried_then_marked_failed(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Fail).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let page = app.browser().request_code("initech", "+15550100003").await;
    assert_eq!(page.status, StatusCode::OK);
    for _ in 0..12 {
        app.settled_deliveries("initech").await;
        app.deliver_now().await;
    }
    let deliveries = app.settled_deliveries("initech").await;
    assert_eq!(deliveries[0].channel, "sms");
    assert_eq!(deliveries[0].state, "failed");
    assert_eq!(deliveries[0].attempts, 8);
    assert!(sms.calls() >= 8, "retried against the gateway");
    let error = deliveries[0].last_error.clone().unwrap();
    assert!(error.contains("answered 500"), "{error}");
    assert!(!error.contains("5550100003"));
    assert!(
        app.stored_bodies()
            .await
            .iter()
            .all(|(_, body)| body.is_empty())
    );
}

/// A gateway's redirect could carry the message, and its answer, to a host nobody checked:
/// Portico treats it as the gateway's answer, a failure, and calls nowhere else.
async fn a_redirecting_sms_gateway_is_not_followed(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Redirect).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let page = app.browser().request_code("initech", "+15550100003").await;
    assert_eq!(page.status, StatusCode::OK);
    app.deliver_now().await;
    let deliveries = app.settled_deliveries("initech").await;
    assert_eq!(deliveries[0].state, "pending");
    let error = deliveries[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("answered 307"), "{error}");
    assert_eq!(
        sms.calls(),
        deliveries[0].attempts as usize,
        "a redirect was followed: more calls than attempts"
    );
}

/// A gateway that never answers holds a few of the worker's sending slots: while 250 of
/// Initech's SMS wait on it or behind it, more than a claim looks through, Globex's emailed
/// code goes out at once.
async fn a_silent_sms_gateway_does_not_hold_up_another_organizations_email(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Hang).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    queue_sms(&app, "initech", 250).await;
    email_goes_out_at_once(&app, &sms, &smtp).await;
}

/// Three organizations' SMS waiting on a gateway that never answers hold most of the slots:
/// the worker still claims for the few left, so Globex's emailed code goes out within a poll.
async fn three_silent_ways_do_not_stop_the_worker_claiming(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Hang).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    for slug in ["initech", "acme", "umbrella"] {
        queue_sms(&app, slug, 20).await;
    }
    email_goes_out_at_once(&app, &sms, &smtp).await;
}

/// Queues `count` SMS of the organization `slug`, and wakes the worker.
async fn queue_sms(app: &TestApp, slug: &str, count: usize) {
    let org_id = portico::domain::ids::Id::parse(&app.org_id(slug).await).unwrap();
    app.app
        .db
        .run(move |conn| {
            let now = chrono::Utc::now().naive_utc();
            for n in 0..count {
                let message = portico::storage::outbox::NewMessage {
                    org_id: Some(org_id),
                    channel: "sms",
                    recipient: format!("+1555020{n:04}"),
                    subject: String::new(),
                    body_text: "Your parcel is on its way.".to_owned(),
                    body_html: String::new(),
                    code_refs: Vec::new(),
                };
                portico::storage::outbox::enqueue(conn, &message, now)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    app.app.deliveries.wake();
}

/// Asks for Globex's emailed code once the queued SMS are out, and checks that it arrives
/// well before the silent gateway's calls time out.
async fn email_goes_out_at_once(app: &TestApp, sms: &SmsReceiver, smtp: &SmtpReceiver) {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(sms.calls() > 0, "the SMS are out, waiting on the gateway");
    let page = app
        .browser()
        .request_code("globex", "demo@globex.example")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let asked = std::time::Instant::now();
    smtp.wait_for("demo@globex.example", 1).await;
    let waited = asked.elapsed();
    assert!(
        waited < std::time::Duration::from_millis(800),
        "Globex's code waited {waited:?} behind the silent gateway"
    );
}

async fn a_silent_sms_gateway_times_out_and_is_retried(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Hang).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = browser.request_code("initech", "+15550100003").await;
    assert_eq!(page.status, StatusCode::OK);
    app.deliver_now().await;
    let waiting = app.settled_deliveries("initech").await;
    assert_eq!(waiting[0].state, "pending");
    assert!(
        waiting[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("did not answer")
    );

    sms.set_mode(Mode::Accept);
    app.deliver_now().await;
    let text = sms.wait_for("+15550100003", 1).await;
    let answer = browser.enter_code("initech", &page, &text.code()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

async fn the_demo_file_outboxes_carry_codes_without_any_gateway(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let page = browser.request_code("initech", "+15550100003").await;
    let dir = app.data_dir.path().join("sms");
    let mut found = None;
    for _ in 0..100 {
        if let Some(entry) = std::fs::read_dir(&dir).ok().and_then(|mut d| d.next()) {
            found = Some(entry.unwrap().path());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let file = found.expect("an SMS file in the data folder");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(json["to"], "+15550100003");
    let body = json["body"].as_str().unwrap();
    let code: String = body.chars().take_while(char::is_ascii_digit).collect();
    let answer = browser.enter_code("initech", &page, &code).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

/// Asks the common login page for a code.
async fn common_code(browser: &common::Browser, identifier: &str) -> common::Page {
    browser
        .submit("/", "/code", &[("identifier", identifier)])
        .await
}

/// Enters a code on the common page's code form.
async fn common_enter(browser: &common::Browser, page: &common::Page, code: &str) -> common::Page {
    browser
        .post_form(
            "/code/verify",
            &[
                ("csrf", &page.csrf()),
                ("login_id", &page.hidden("login_id")),
                ("code", code),
            ],
        )
        .await
}

async fn common_page_code_opens_the_one_portal_that_takes_codes(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    // Pat is in Acme (passwords only) and Umbrella (password or code).
    let page = common_code(&browser, "pat@shared.example").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("Umbrella") && !page.body.contains("Acme"),
        "nothing named before proof"
    );
    let mail = smtp.wait_for("pat@shared.example", 1).await;
    app.settled_outbox().await;
    assert!(!mail.data.contains("Umbrella") && !mail.data.contains("Acme"));
    let answer = common_enter(&browser, &page, &mail.code()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/portal/umbrella/");
    assert!(browser.get("/portal/umbrella/").await.is_logged_in());
    assert!(!browser.get("/portal/acme/").await.is_logged_in());
}

/// Twenty code requests for one identifier on the common login page at the same moment: its
/// resend cooldown lets one through, on either backend, and one email goes out.
async fn simultaneous_common_page_code_requests_send_one_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = std::sync::Arc::new(app.browser());
    // One form, sent twenty times at once: fetching it anew would change the form token.
    let csrf = browser.get("/").await.csrf();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (browser, csrf) = (browser.clone(), csrf.clone());
        requests.spawn(async move {
            let fields = [
                ("csrf", csrf.as_str()),
                ("identifier", "pat@shared.example"),
            ];
            browser.post_form("/code", &fields).await.status
        });
    }
    let answers = requests.join_all().await;
    let sent = answers.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((sent, refused), (1, 19), "{answers:?}");
    smtp.wait_for("pat@shared.example", 1).await;
    app.settled_outbox().await;
    assert_eq!(smtp.mails().len(), 1, "one email");
}

/// Fourteen wrong codes for one common-page code at the same moment: each is counted in the
/// contact's wrong codes at a place of its own, so the pause after ten comes when it should.
async fn wrong_codes_sent_at_once_on_the_common_page_are_all_counted(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = common_code(&browser, "pat@shared.example").await;
    let code = smtp.wait_for("pat@shared.example", 1).await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let statuses = guess_at_once(&app, &browser, &page, wrong, 14, Some("/code/verify")).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(app.limit_events("code:fail:").await, 14);
    assert_eq!(
        app.limit_places("code:fail:").await,
        14,
        "wrong codes shared a place, and their count falls short"
    );
    let paused = common_enter(&browser, &page, &code).await;
    assert_ne!(
        paused.status,
        StatusCode::SEE_OTHER,
        "the right code while paused"
    );
}

async fn common_page_code_lets_a_contact_of_two_code_portals_choose(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    app.app
        .db
        .run(|conn| {
            let globex = portico::storage::orgs::find_by_slug(conn, "globex")?.unwrap();
            let contact = portico::storage::accounts::NewContact {
                email: Some("pat@shared.example".to_owned()),
                mobile: None,
                name: "Pat Rivera".to_owned(),
                time_zone: "Europe/Dublin".to_owned(),
                password_hash: None,
                status: portico::domain::contact::ContactStatus::Active,
            };
            portico::storage::accounts::insert_contact(conn, &globex.id, &contact)?;
            Ok(())
        })
        .await
        .unwrap();
    let browser = app.browser();
    let page = common_code(&browser, "pat@shared.example").await;
    let code = smtp.wait_for("pat@shared.example", 1).await.code();
    app.settled_outbox().await;
    assert_eq!(smtp.mails().len(), 1, "one code, sent once");
    let choice = common_enter(&browser, &page, &code).await;
    assert_eq!(choice.status, StatusCode::OK);
    assert!(choice.body.contains("Choose a portal"));
    assert!(choice.body.contains("Globex") && choice.body.contains("Umbrella"));
    assert!(!choice.body.contains("Acme"));
    let chosen = browser
        .post_form("/choose", &[("csrf", &choice.csrf()), ("portal", "globex")])
        .await;
    assert_eq!(chosen.location(), "/portal/globex/");
    assert!(browser.get("/portal/globex/").await.is_logged_in());
}

async fn common_page_code_by_sms_and_for_strangers(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let known = app.browser();
    let page = common_code(&known, "555-010-0003").await;
    let text = sms.wait_for("+15550100003", 1).await;
    app.settled_outbox().await;
    let answer = common_enter(&known, &page, &text.code()).await;
    assert_eq!(answer.location(), "/portal/initech/");

    let stranger = app.browser();
    let unknown = common_code(&stranger, "555-010-0077").await;
    assert_eq!(unknown.status, page.status);
    assert_eq!(
        unknown.comparable_body().replace("0077", "XXXX"),
        page.comparable_body().replace("0003", "XXXX")
    );
    let guessed = common_enter(&stranger, &unknown, "123456").await;
    assert_eq!(guessed.status, StatusCode::UNAUTHORIZED);
    app.deliver_now().await;
    assert_eq!(sms.received().len(), 1, "nothing was sent for the stranger");
}
