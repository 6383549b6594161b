//! Forgotten passwords and password invitations on SQLite and PostgreSQL: codes read from a
//! real SMTP server and a real SMS gateway on loopback, and the attacks on them: unknown
//! identifiers, codes of the wrong purpose, reused codes, links opened by GET, and passwords
//! that break the organization's rules; and "Forgot password?" on the common login page,
//! which answers alike whoever asks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, Browser, DEMO_PASSWORD, Page, TestApp, smtp::Mail};
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "a brand new workshop password";

/// Asks `slug` for a reset code for `identifier`; returns the page with the code form.
async fn forgot(browser: &Browser, slug: &str, identifier: &str) -> Page {
    browser
        .submit(
            &format!("/portal/{slug}/password/forgot"),
            &format!("/portal/{slug}/password/forgot"),
            &[("identifier", identifier)],
        )
        .await
}

/// Sets a password on a reset page with `code`.
async fn reset(browser: &Browser, slug: &str, page: &Page, code: &str, password: &str) -> Page {
    browser
        .post_form(
            &format!("/portal/{slug}/password/reset"),
            &[
                ("csrf", &page.csrf()),
                ("reset_id", &page.hidden("reset_id")),
                ("code", code),
                ("new_password", password),
            ],
        )
        .await
}

/// The link of a mail that leads to `path`, made relative to the server.
fn link_in(mail: &Mail, base: &str, path: &str) -> String {
    let text = mail
        .data
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text
        .find(&format!("{base}{path}"))
        .unwrap_or_else(|| panic!("no link to {path} in:\n{}", mail.data));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
        .collect();
    link.trim_start_matches(base).replace("&amp;", "&")
}

both_backends!(
    demo_contact_resets_a_forgotten_password_and_the_old_session_is_gone,
    an_unknown_identifier_gets_the_same_answer_and_nothing_is_sent,
    reset_codes_and_login_codes_never_stand_in_for_each_other,
    a_used_reset_code_does_not_work_again,
    the_emailed_link_changes_nothing_on_get,
    a_password_against_the_rules_is_refused_and_costs_no_guess,
    reset_requests_have_their_own_limits_and_an_sms_path,
    simultaneous_reset_requests_for_one_identifier_send_one_code,
    no_forgotten_password_on_a_portal_without_passwords,
    an_admin_invitation_lets_a_new_contact_choose_a_password,
    the_common_login_page_resets_in_every_portal_that_knows_the_identifier,
);

async fn demo_contact_resets_a_forgotten_password_and_the_old_session_is_gone(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let old_session = app.browser();
    let answer = old_session
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    for _ in 0..10 {
        app.browser()
            .password_login("acme", "demo@acme.example", "not the password at all")
            .await;
    }
    let locked = app
        .browser()
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED, "locked out first");

    let browser = app.browser();
    let login = browser.get("/portal/acme/login").await;
    assert!(
        login.body.contains("href=\"/portal/acme/password/forgot\""),
        "{}",
        login.body
    );
    let page = forgot(&browser, "acme", " Demo@ACME.example ").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("If d***@acme.example belongs to an account here"),
        "{}",
        page.body
    );
    let mail = smtp.wait_for("demo@acme.example", 1).await;
    assert!(mail.data.contains("password reset code"), "{}", mail.data);
    let code = mail.code();

    let done = reset(&browser, "acme", &page, &code, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("Your new password is set"),
        "{}",
        done.body
    );

    assert!(
        !old_session.get("/portal/acme/").await.is_logged_in(),
        "the old session survived the reset"
    );
    let old = app
        .browser()
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let fresh = app.browser();
    let answer = fresh
        .password_login("acme", "demo@acme.example", NEW_PASSWORD)
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the lockout was lifted"
    );
    assert!(fresh.get("/portal/acme/").await.is_logged_in());

    let notice = smtp.wait_for("demo@acme.example", 2).await;
    assert!(
        notice
            .data
            .contains("Subject: Your Acme Corporation password was changed"),
        "{}",
        notice.data
    );
    let audit = app.audit_kinds("acme").await;
    assert!(
        audit
            .iter()
            .any(|(kind, detail)| kind == "password.reset" && detail.contains("reset")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .all(|(_, detail)| !detail.contains(&code) && !detail.contains(NEW_PASSWORD))
    );
}

async fn an_unknown_identifier_gets_the_same_answer_and_nothing_is_sent(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let known = forgot(&browser, "acme", "demo@acme.example").await;
    let unknown = forgot(&browser, "acme", "dx@acme.example").await;
    assert_eq!(known.status, unknown.status);
    let blank = |page: &Page| {
        page.comparable_body()
            .replace(&page.hidden("reset_id"), "")
            .replace("d***@acme.example", "X")
    };
    assert_eq!(blank(&known), blank(&unknown));
    assert!(!unknown.hidden("reset_id").is_empty());

    smtp.wait_for("demo@acme.example", 1).await;
    app.settled_outbox().await;
    let deliveries = app.deliveries("acme").await;
    assert_eq!(deliveries.len(), 1, "only the real contact got a message");
    assert!(
        smtp.mails()
            .iter()
            .all(|m| !m.to.iter().any(|t| t.contains("dx@"))),
        "nothing was sent to the unknown address"
    );
    let refused = reset(&browser, "acme", &unknown, "123456", NEW_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

async fn reset_codes_and_login_codes_never_stand_in_for_each_other(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();

    let reset_page = forgot(&browser, "umbrella", "demo@umbrella.example").await;
    let reset_code = smtp.wait_for("demo@umbrella.example", 1).await.code();
    let as_login = browser
        .post_form(
            "/portal/umbrella/login/code/verify",
            &[
                ("csrf", &reset_page.csrf()),
                ("login_id", &reset_page.hidden("reset_id")),
                ("code", &reset_code),
            ],
        )
        .await;
    assert_eq!(as_login.status, StatusCode::UNAUTHORIZED);
    assert!(!browser.get("/portal/umbrella/").await.is_logged_in());

    let code_page = browser
        .request_code("umbrella", "demo@umbrella.example")
        .await;
    let login_code = smtp.wait_for("demo@umbrella.example", 2).await.code();
    let as_reset = browser
        .post_form(
            "/portal/umbrella/password/reset",
            &[
                ("csrf", &code_page.csrf()),
                ("reset_id", &code_page.hidden("login_id")),
                ("code", &login_code),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(as_reset.status, StatusCode::UNAUTHORIZED);
    let still = app
        .browser()
        .password_login("umbrella", "demo@umbrella.example", DEMO_PASSWORD)
        .await;
    assert_eq!(
        still.status,
        StatusCode::SEE_OTHER,
        "the password is unchanged"
    );

    let both_still_work = browser
        .enter_code("umbrella", &code_page, &login_code)
        .await;
    assert_eq!(both_still_work.status, StatusCode::SEE_OTHER);
    let done = reset(&browser, "umbrella", &reset_page, &reset_code, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

async fn a_used_reset_code_does_not_work_again(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = forgot(&browser, "acme", "demo@acme.example").await;
    let code = smtp.wait_for("demo@acme.example", 1).await.code();
    let first = reset(&browser, "acme", &page, &code, NEW_PASSWORD).await;
    assert_eq!(first.status, StatusCode::OK);

    let again = reset(
        &browser,
        "acme",
        &page,
        &code,
        "yet another long password here",
    )
    .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(
        again.body.contains("wrong or no longer valid"),
        "{}",
        again.body
    );
    let answer = app
        .browser()
        .password_login("acme", "demo@acme.example", NEW_PASSWORD)
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the first password stands"
    );
}

async fn the_emailed_link_changes_nothing_on_get(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    forgot(&browser, "acme", "demo@acme.example").await;
    let mail = smtp.wait_for("demo@acme.example", 1).await;
    let code = mail.code();
    let link = link_in(&mail, &app.base, "/portal/acme/password/reset?");

    let scanner = app.browser();
    let opened = scanner.get(&link).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(
        opened.body.contains(&format!("value=\"{code}\"")),
        "{}",
        opened.body
    );
    assert!(opened.body.contains("method=\"post\""));
    let again = scanner.get(&link).await;
    assert_eq!(again.status, StatusCode::OK);

    let old = app
        .browser()
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(
        old.status,
        StatusCode::SEE_OTHER,
        "a GET changed the password"
    );
    let done = reset(&scanner, "acme", &opened, &code, NEW_PASSWORD).await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "the code still works after GETs"
    );
}

async fn a_password_against_the_rules_is_refused_and_costs_no_guess(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let page = forgot(&browser, "acme", "demo@acme.example").await;
    let code = smtp.wait_for("demo@acme.example", 1).await.code();

    for (password, says) in [
        ("short one", "at least 15"),
        ("Acme Corporation forever and ever", "use the organization"),
        ("acmecorporation", "use the organization"),
        (&"x".repeat(129), "at most 128"),
    ] {
        let answer = reset(&browser, "acme", &page, &code, password).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password}"
        );
        assert!(answer.body.contains(says), "{password}: {}", answer.body);
    }
    let done = reset(&browser, "acme", &page, &code, NEW_PASSWORD).await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "four refused passwords must not use up the code's three guesses"
    );
}

/// Twenty password reset requests for one identifier at the same moment: the reset cooldown
/// lets one through on either backend, and one email goes out.
async fn simultaneous_reset_requests_for_one_identifier_send_one_code(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = std::sync::Arc::new(app.browser());
    // One form, sent twenty times at once: fetching it anew would change the form token.
    let path = "/portal/acme/password/forgot";
    let csrf = browser.get(path).await.csrf();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (browser, csrf) = (browser.clone(), csrf.clone());
        requests.spawn(async move {
            let fields = [("csrf", csrf.as_str()), ("identifier", "demo@acme.example")];
            browser.post_form(path, &fields).await.status
        });
    }
    let answers = requests.join_all().await;
    let count = |status| answers.iter().filter(|s| **s == status).count();
    assert_eq!(
        (count(StatusCode::OK), count(StatusCode::TOO_MANY_REQUESTS)),
        (1, 19),
        "{answers:?}"
    );
    smtp.wait_for("demo@acme.example", 1).await;
    app.settled_outbox().await;
    assert_eq!(smtp.mails().len(), 1, "one email");
    assert_eq!(
        app.limit_events("reset:").await,
        2,
        "one per identifier and address"
    );
}

async fn reset_requests_have_their_own_limits_and_an_sms_path(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let first = forgot(&browser, "umbrella", "+1 555 010 0004").await;
    assert_eq!(first.status, StatusCode::OK);
    let text = sms.wait_for("+15550100004", 1).await;
    assert!(text.body.contains("password reset code"), "{text:?}");

    let soon = forgot(&browser, "umbrella", "+15550100004").await;
    assert_eq!(soon.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        matches!(soon.retry_after(), Some(1..=60)),
        "{:?}",
        soon.headers
    );
    assert!(soon.body.contains("Try again in"), "{}", soon.body);
    assert_eq!(
        app.limit_events("reset:").await,
        2,
        "one per identifier and address"
    );
    assert_eq!(
        app.limit_events("code:").await,
        0,
        "login code limits untouched"
    );

    let login_code = browser.request_code("umbrella", "+15550100004").await;
    assert_eq!(
        login_code.status,
        StatusCode::OK,
        "login codes are limited apart"
    );

    let done = reset(&browser, "umbrella", &first, &text.code(), NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

async fn no_forgotten_password_on_a_portal_without_passwords(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let login = browser.get("/portal/globex/login").await;
    assert!(!login.body.contains("Forgot password?"));
    assert_eq!(
        browser.get("/portal/globex/password/forgot").await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = login.csrf();
    let posted = browser
        .post_form(
            "/portal/globex/password/forgot",
            &[
                ("csrf", csrf.as_str()),
                ("identifier", "demo@globex.example"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
    let forged = browser
        .post_form(
            "/portal/acme/password/forgot",
            &[("csrf", "forged"), ("identifier", "demo@acme.example")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(app.deliveries("acme").await.is_empty());
}

async fn an_admin_invitation_lets_a_new_contact_choose_a_password(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let admin = app.browser();
    let answer = admin
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("identifier", "admin@acme.example"),
                ("password", "portico-admin-password"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let added = admin
        .submit(
            "/admin/orgs/acme/contacts/new",
            "/admin/orgs/acme/contacts/new",
            &[
                ("name", "Nadia Newcomer"),
                ("email", "nadia@acme.example"),
                ("mobile", ""),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let contact_page = added.location().split('?').next().unwrap().to_owned();
    let invited = admin
        .submit(&contact_page, &format!("{contact_page}/invite"), &[])
        .await;
    assert_eq!(invited.status, StatusCode::SEE_OTHER, "{}", invited.body);
    assert!(invited.location().ends_with("notice=invited"));

    let mail = smtp.wait_for("nadia@acme.example", 1).await;
    assert!(
        mail.data
            .contains("Subject: Set your password for Acme Corporation")
    );
    let link = link_in(&mail, &app.base, "/portal/acme/password/reset?");
    let contact = app.browser();
    let page = contact.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    let code = page.hidden("code");
    let done = reset(&contact, "acme", &page, &code, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let login = contact
        .password_login("acme", "nadia@acme.example", NEW_PASSWORD)
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert!(contact.get("/portal/acme/").await.is_logged_in());

    let audit = app.audit_kinds("acme").await;
    assert!(audit.iter().any(|(kind, _)| kind == "contact.invited"));
    assert!(
        audit
            .iter()
            .any(|(kind, detail)| kind == "password.reset" && detail.contains("invitation"))
    );
}

async fn the_common_login_page_resets_in_every_portal_that_knows_the_identifier(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let browser = app.browser();
    let login = browser.get("/").await;
    assert!(
        login.body.contains("href=\"/password/forgot\""),
        "{}",
        login.body
    );
    let ask = |identifier: &'static str| {
        let browser = &browser;
        async move {
            browser
                .submit(
                    "/password/forgot",
                    "/password/forgot",
                    &[("identifier", identifier)],
                )
                .await
        }
    };
    let shared = ask("pat@shared.example").await;
    let unknown = ask("nobody@shared.example").await;
    let codes_only = ask("demo@globex.example").await;
    for page in [&shared, &unknown, &codes_only] {
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.comparable_body(), shared.comparable_body());
    }
    assert!(shared.body.contains("one message for each such portal"));

    let mut slugs = Vec::new();
    for n in [1, 2] {
        let mail = smtp.wait_for("pat@shared.example", n).await;
        let link = link_in(&mail, &app.base, "/portal/");
        let slug = link.split('/').nth(2).unwrap().to_owned();
        assert!(link.contains("/password/reset?reset_id="), "{link}");
        if slug == "acme" {
            let opened = browser.get(&link).await;
            let done = reset(&browser, "acme", &opened, &mail.code(), NEW_PASSWORD).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        }
        slugs.push(slug);
    }
    slugs.sort();
    assert_eq!(slugs, ["acme", "umbrella"]);
    let acme = app
        .browser()
        .password_login("acme", "pat@shared.example", NEW_PASSWORD)
        .await;
    assert_eq!(acme.status, StatusCode::SEE_OTHER);
    let umbrella = app
        .browser()
        .password_login("umbrella", "pat@shared.example", DEMO_PASSWORD)
        .await;
    assert_eq!(umbrella.status, StatusCode::SEE_OTHER, "each portal apart");

    app.settled_outbox().await;
    assert!(
        app.deliveries("globex").await.is_empty(),
        "globex takes no passwords"
    );
    assert!(
        smtp.mails().iter().all(|m| !m
            .to
            .iter()
            .any(|t| t.contains("nobody@") || t.contains("globex"))),
        "nothing for an unknown identifier or a portal without passwords"
    );
    let soon = ask("pat@shared.example").await;
    assert_eq!(soon.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        soon.retry_after().is_some_and(|secs| secs > 0),
        "{:?}",
        soon.headers
    );

    let by_sms = ask("+1 555 010 0099").await;
    assert_eq!(by_sms.comparable_body(), shared.comparable_body());
    let texts = [
        sms.wait_for("+15550100099", 1).await.body,
        sms.wait_for("+15550100099", 2).await.body,
    ];
    for slug in ["acme", "umbrella"] {
        let link = format!("/portal/{slug}/password/reset?reset_id=");
        assert!(texts.iter().any(|t| t.contains(&link)), "{texts:?}");
    }
}
