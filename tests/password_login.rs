//! Password login on the portals and the common login page, on SQLite and PostgreSQL:
//! what a contact sees, what is stored, and what an attacker gets back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, DEMO_PASSWORD, TestApp};
use reqwest::StatusCode;

both_backends!(
    demo_contact_logs_in_and_is_greeted_by_name,
    wrong_password_gets_a_generic_refusal,
    unknown_identifier_is_answered_like_a_wrong_password,
    empty_form_gets_messages_by_its_fields,
    forms_without_the_right_csrf_token_are_refused,
    a_ten_megabyte_body_is_refused,
    a_thousand_character_password_is_refused_before_hashing,
    sql_and_html_in_the_identifier_are_harmless_and_escaped,
    one_portals_session_does_not_count_on_another,
    a_tampered_cookie_is_no_session,
    logout_ends_the_session_for_good,
    logging_in_again_replaces_the_browsers_session,
    a_foreign_cookie_with_accents_does_not_hide_portico_cookies,
    repeated_wrong_passwords_lock_the_contact,
    simultaneous_guesses_get_no_more_checks_than_the_lockout_allows,
    disabled_contact_is_refused_like_a_wrong_password,
    two_step_portal_does_not_log_in_on_the_password_alone,
    common_page_lets_a_shared_contact_choose_a_portal,
    common_page_sends_a_single_portal_contact_straight_there,
    common_page_reveals_nothing_without_proof,
    portal_choice_cannot_be_forged_or_stretched,
    an_unknown_slug_is_a_real_404_page,
    otp_only_portal_refuses_a_password,
    the_forwarded_address_counts_only_from_a_trusted_proxy,
);

async fn demo_contact_logs_in_and_is_greeted_by_name(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();

    let answer = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/portal/acme/");
    let cookie = answer
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("portico_session_acme="))
        .expect("a session cookie for acme");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let home = browser.get("/portal/acme/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Hello, Dana Whitfield"), "{}", home.body);
    assert!(home.body.contains("Log out"));
    assert!(
        home.body
            .contains("Invoice 2026-0412 shows the wrong VAT number")
    );

    let audit = app.audit_kinds("acme").await;
    assert_eq!(audit[0].0, "login.succeeded");
    assert!(
        audit[0].1.contains("\"method\":\"password\""),
        "{}",
        audit[0].1
    );
}

async fn wrong_password_gets_a_generic_refusal(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();

    let answer = browser
        .password_login("acme", "demo@acme.example", "not-the-password")
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("do not match"));
    assert!(
        answer.body.contains("value=\"demo@acme.example\""),
        "identifier kept"
    );
    assert!(
        !answer
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("portico_session_"))
    );
    let home = browser.get("/portal/acme/").await;
    assert!(!home.body.contains("Hello,"));

    let audit = app.audit_kinds("acme").await;
    assert_eq!(audit[0].0, "login.failed");
    assert!(audit[0].1.contains("wrong_password"));
}

async fn unknown_identifier_is_answered_like_a_wrong_password(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let known = browser
        .password_login("acme", "demo@acme.example", "guess-one-two-three")
        .await;
    let unknown = browser
        .password_login("acme", "nobody@acme.example", "guess-one-two-three")
        .await;

    assert_eq!(known.status, unknown.status);
    let known_body = known.comparable_body().replace("demo@acme.example", "X");
    let unknown_body = unknown
        .comparable_body()
        .replace("nobody@acme.example", "X");
    assert_eq!(known_body, unknown_body);
    let audit = app.audit_kinds("acme").await;
    assert!(audit[0].1.contains("unknown_identifier"));
    assert!(
        !audit[0].1.contains("nobody"),
        "the typed identifier is not stored"
    );
}

async fn empty_form_gets_messages_by_its_fields(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .submit("/portal/acme/login", "/portal/acme/login", &[])
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("id=\"identifier-error\""));
    assert!(
        answer
            .body
            .contains("Enter your email address or mobile number.")
    );

    let no_password = browser
        .submit(
            "/portal/acme/login",
            "/portal/acme/login",
            &[("identifier", "demo@acme.example")],
        )
        .await;
    assert_eq!(no_password.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_password.body.contains("id=\"password-error\""));
    assert!(no_password.body.contains("Enter your password."));
}

async fn forms_without_the_right_csrf_token_are_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    browser.get("/portal/acme/login").await;
    let fields = [
        ("identifier", "demo@acme.example"),
        ("password", DEMO_PASSWORD),
    ];

    let missing = browser.post_form("/portal/acme/login", &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("This form has expired"));

    let mut forged = vec![("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")];
    forged.extend_from_slice(&fields);
    assert_eq!(
        browser
            .post_form("/portal/acme/login", &forged)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // A token taken from another browser does not fit this browser's cookie.
    let other = app.browser();
    let stolen = other.get("/portal/acme/login").await.csrf();
    let mut replayed = vec![("csrf", stolen.as_str())];
    replayed.extend_from_slice(&fields);
    assert_eq!(
        browser
            .post_form("/portal/acme/login", &replayed)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    assert!(!browser.get("/portal/acme/").await.body.contains("Hello,"));
}

async fn a_ten_megabyte_body_is_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Announced as 10 MB: refused from the headers, before the body is read.
    let head = "POST /portal/acme/login HTTP/1.1\r\nHost: portico\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 10485760\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(&addr, head, &[]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("Too much data"));

    // Sent in chunks with no length: refused once the limit is crossed.
    let head = "POST /portal/acme/login HTTP/1.1\r\nHost: portico\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let chunk = format!("100000\r\n{}\r\n", "a".repeat(0x10_0000));
    let answer = raw_exchange(&addr, head, chunk.repeat(2).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// Writes a request by hand (so the body can be cut short) and reads the answer.
async fn raw_exchange(addr: &str, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn a_thousand_character_password_is_refused_before_hashing(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let long = "p".repeat(1000);
    let answer = browser
        .password_login("acme", "demo@acme.example", &long)
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer
            .body
            .contains("Passwords are at most 128 characters long.")
    );
    assert!(
        app.audit_kinds("acme").await.is_empty(),
        "no login attempt was made"
    );
}

async fn sql_and_html_in_the_identifier_are_harmless_and_escaped(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();

    let sql = "x'OR'1'='1';DROP/**/TABLE/**/contacts;--@acme.example";
    let answer = browser.password_login("acme", sql, "anything-at-all").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("do not match"));
    let spaced = "x' OR '1'='1'; DROP TABLE contacts; --@acme.example";
    let answer = browser
        .password_login("acme", spaced, "anything-at-all")
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("That is not an email address."));

    let html = "<script>alert(1)</script>@acme.example";
    let answer = browser
        .password_login("acme", html, "anything-at-all")
        .await;
    assert!(!answer.body.contains("<script>alert(1)</script>"));
    assert!(
        answer
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;@acme.example")
    );
    let common = browser.common_password_login(html, "anything-at-all").await;
    assert!(!common.body.contains("<script>alert(1)</script>"));
    assert!(common.body.contains("&lt;script&gt;"));

    // The contacts table is still there: the demo contact still logs in.
    let ok = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
}

async fn one_portals_session_does_not_count_on_another(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let token = answer.session_cookie("acme");

    // The same browser on another portal is not logged in there.
    let globex = browser.get("/portal/globex/").await;
    assert_eq!(globex.status, StatusCode::OK);
    assert!(!globex.body.contains("Hello,"));

    // Nor is the acme token accepted when presented as the other portal's cookie.
    for slug in ["globex", "umbrella"] {
        let page = app
            .page_with_cookie(
                &format!("/portal/{slug}/"),
                &format!("portico_session_{slug}={token}"),
            )
            .await;
        assert!(!page.contains("Hello,"), "{slug} accepted acme's session");
    }
    let own = app
        .page_with_cookie("/portal/acme/", &format!("portico_session_acme={token}"))
        .await;
    assert!(own.contains("Hello, Dana Whitfield"));
}

async fn a_tampered_cookie_is_no_session(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let token = answer.session_cookie("acme");
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    for value in [
        tampered.as_str(),
        "",
        "'; DROP TABLE contact_sessions; --",
        &"x".repeat(5000),
    ] {
        let page = app
            .page_with_cookie("/portal/acme/", &format!("portico_session_acme={value}"))
            .await;
        assert!(!page.contains("Hello,"), "accepted {value:?}");
    }
}

async fn logout_ends_the_session_for_good(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let token = answer.session_cookie("acme");

    let home = browser.get("/portal/acme/").await;
    let out = browser
        .post_form("/portal/acme/logout", &[("csrf", &home.csrf())])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/portal/acme/login");
    assert!(!browser.get("/portal/acme/").await.body.contains("Hello,"));
    let replay = app
        .page_with_cookie("/portal/acme/", &format!("portico_session_acme={token}"))
        .await;
    assert!(
        !replay.contains("Hello,"),
        "the old token still works after logout"
    );
}

/// A browser that logs in again at a portal swaps its session there for the new one: the old
/// token stops working and one session is stored, while its session at another portal stays.
async fn logging_in_again_replaces_the_browsers_session(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let at_umbrella = browser
        .password_login("umbrella", "demo@umbrella.example", DEMO_PASSWORD)
        .await;
    let umbrella_token = at_umbrella.session_cookie("umbrella");
    // The login form, opened before logging in, in a second tab say.
    let form = browser.get("/portal/acme/login").await;
    let first = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let first_token = first.session_cookie("acme");

    let fields = [
        ("csrf", form.csrf()),
        ("identifier", "demo@acme.example".to_owned()),
        ("password", DEMO_PASSWORD.to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = browser.post_form("/portal/acme/login", &fields).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let second_token = again.session_cookie("acme");
    assert_ne!(first_token, second_token);
    assert!(browser.get("/portal/acme/").await.body.contains("Hello,"));
    let replay = app
        .page_with_cookie(
            "/portal/acme/",
            &format!("portico_session_acme={first_token}"),
        )
        .await;
    assert!(!replay.contains("Hello,"), "the replaced token still works");
    assert_eq!(app.stored_sessions("acme").await, 1);

    assert_eq!(app.stored_sessions("umbrella").await, 1);
    let umbrella = app
        .page_with_cookie(
            "/portal/umbrella/",
            &format!("portico_session_umbrella={umbrella_token}"),
        )
        .await;
    assert!(
        umbrella.contains("Hello,"),
        "the other portal's session ended"
    );
}

/// A cookie of another site on the same domain, its value not plain ASCII, sent beside
/// Portico's own: the login form still works, and the session cookie is still read.
async fn a_foreign_cookie_with_accents_does_not_hide_portico_cookies(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = common::read(
        client
            .get(format!("{}/portal/acme/login", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let csrf_cookie = form
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("portico_csrf="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a CSRF cookie");
    let with_foreign = |own: &str| {
        let mut bytes = format!("{own}; theme=caf").into_bytes();
        bytes.extend_from_slice("é; lang=fr".as_bytes());
        reqwest::header::HeaderValue::from_bytes(&bytes).unwrap()
    };
    let answer = common::read(
        client
            .post(format!("{}/portal/acme/login", app.base))
            .header(reqwest::header::COOKIE, with_foreign(&csrf_cookie))
            .form(&[
                ("csrf", form.csrf().as_str()),
                ("identifier", "demo@acme.example"),
                ("password", DEMO_PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);

    let session = format!("portico_session_acme={}", answer.session_cookie("acme"));
    let home = client
        .get(format!("{}/portal/acme/", app.base))
        .header(reqwest::header::COOKIE, with_foreign(&session))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Hello, "), "the session cookie went unread");
}

async fn repeated_wrong_passwords_lock_the_contact(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    for _ in 0..10 {
        let answer = browser
            .password_login("acme", "j.okafor@acme.example", "wrong-wrong-wrong")
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let locked = browser
        .password_login("acme", "j.okafor@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(
        locked.status,
        StatusCode::UNAUTHORIZED,
        "the right password during a lockout"
    );
    let wrong = browser
        .password_login("acme", "j.okafor@acme.example", "wrong-wrong-wrong")
        .await;
    assert_eq!(
        locked.comparable_body(),
        wrong.comparable_body(),
        "a lockout reads exactly like a wrong password"
    );
    let audit = app.audit_kinds("acme").await;
    assert!(
        audit
            .iter()
            .any(|(_, detail)| detail.contains("\"locked\""))
    );

    // Another contact of the same organization is not affected.
    let other = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
}

/// Thirty wrong passwords for one contact, sent at once: only as many are checked as the
/// policy's lockout allows (ten), the rest are refused as locked, and the right password is
/// refused afterwards. Each guess used to find the contact unlocked before any had failed.
async fn simultaneous_guesses_get_no_more_checks_than_the_lockout_allows(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/portals/acme/login/password", app.base);
    let guesses = (0..30).map(|n| {
        let body = serde_json::json!({
            "identifier": "j.okafor@acme.example",
            "password": format!("wrong-guess-number-{n}"),
        });
        client.post(&url).json(&body).send()
    });
    for answer in futures_join_all(guesses).await {
        assert_eq!(answer.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let reasons: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "login.failed")
        .map(|(_, detail)| detail)
        .collect();
    let checked = reasons
        .iter()
        .filter(|d| d.contains("\"wrong_password\""))
        .count();
    let locked = reasons.iter().filter(|d| d.contains("\"locked\"")).count();
    assert_eq!((checked, locked), (10, 20), "{reasons:?}");

    let right = client
        .post(&url)
        .json(&serde_json::json!({
            "identifier": "j.okafor@acme.example",
            "password": DEMO_PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::UNAUTHORIZED);
}

/// Runs every future at once; their outputs in order.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

async fn disabled_contact_is_refused_like_a_wrong_password(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let disabled = browser
        .password_login("acme", "a.mensah@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(disabled.status, StatusCode::UNAUTHORIZED);
    assert!(disabled.body.contains("do not match"));
    let audit = app.audit_kinds("acme").await;
    assert!(audit[0].1.contains("disabled"));
}

async fn two_step_portal_does_not_log_in_on_the_password_alone(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .password_login("hooli", "demo@hooli.example", DEMO_PASSWORD)
        .await;
    assert_ne!(answer.status, StatusCode::SEE_OTHER);
    assert!(
        !answer
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("portico_session_hooli="))
    );
    assert!(!browser.get("/portal/hooli/").await.body.contains("Hello,"));
}

async fn common_page_lets_a_shared_contact_choose_a_portal(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .common_password_login("PAT@shared.example ", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("Choose a portal"));
    assert!(answer.body.contains("Acme Corporation"));
    assert!(answer.body.contains("Umbrella Health Insurance"));
    assert!(!answer.body.contains("Globex"));

    let chosen = browser
        .post_form(
            "/choose",
            &[("csrf", &answer.csrf()), ("portal", "umbrella")],
        )
        .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    assert_eq!(chosen.location(), "/portal/umbrella/");
    assert!(
        browser
            .get("/portal/umbrella/")
            .await
            .body
            .contains("Hello, Pat Rivera")
    );
    assert!(!browser.get("/portal/acme/").await.body.contains("Hello,"));
}

async fn common_page_sends_a_single_portal_contact_straight_there(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .common_password_login("demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/portal/acme/");
    assert!(
        browser
            .get("/portal/acme/")
            .await
            .body
            .contains("Hello, Dana Whitfield")
    );
}

async fn common_page_reveals_nothing_without_proof(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let shared = browser
        .common_password_login("pat@shared.example", "wrong-password-here")
        .await;
    let unknown = browser
        .common_password_login("who@nowhere.example", "wrong-password-here")
        .await;
    assert_eq!(shared.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        shared.comparable_body().replace("pat@shared.example", "X"),
        unknown
            .comparable_body()
            .replace("who@nowhere.example", "X")
    );
    assert!(!shared.body.contains("Acme") && !shared.body.contains("Umbrella"));
}

async fn portal_choice_cannot_be_forged_or_stretched(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .common_password_login("pat@shared.example", DEMO_PASSWORD)
        .await;
    // Asking for a portal the password did not prove gets nothing.
    let globex = browser
        .post_form("/choose", &[("csrf", &answer.csrf()), ("portal", "globex")])
        .await;
    assert_eq!(globex.status, StatusCode::NOT_FOUND);
    assert!(!browser.get("/portal/globex/").await.body.contains("Hello,"));

    // A browser with no proof cannot choose at all.
    let stranger = app.browser();
    let csrf = stranger.get("/").await.csrf();
    let forged = stranger
        .post_form("/choose", &[("csrf", &csrf), ("portal", "acme")])
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(!stranger.get("/portal/acme/").await.body.contains("Hello,"));
}

async fn an_unknown_slug_is_a_real_404_page(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    for path in [
        "/portal/no-such-org/",
        "/portal/no-such-org/login",
        "/portal/..%2fadmin/",
        "/nowhere",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("Page not found"), "{path}");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}

async fn otp_only_portal_refuses_a_password(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let page = browser.get("/portal/globex/login").await;
    assert!(
        !page.body.contains("type=\"password\""),
        "no password field on a code-only portal"
    );
    let csrf = browser.get("/").await.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("identifier", "demo@globex.example"),
        ("password", DEMO_PASSWORD),
    ];
    let answer = browser.post_form("/portal/globex/login", &fields).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(!browser.get("/portal/globex/").await.body.contains("Hello,"));
}

async fn the_forwarded_address_counts_only_from_a_trusted_proxy(backend: Backend) {
    for trusted in [true, false] {
        let Some(app) = TestApp::demo_with(backend, move |config| {
            if trusted {
                config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            }
        })
        .await
        else {
            return;
        };
        let browser = app.browser();
        let csrf = browser.get("/portal/acme/login").await.csrf();
        browser
            .client
            .post(format!("{}/portal/acme/login", app.base))
            .header("x-forwarded-for", "198.51.100.7, 203.0.113.9")
            .form(&[
                ("csrf", csrf.as_str()),
                ("identifier", "demo@acme.example"),
                ("password", "not-the-password"),
            ])
            .send()
            .await
            .unwrap();
        let ips: Vec<String> = app
            .app
            .db
            .run(|conn| {
                use diesel::{QueryDsl, RunQueryDsl};
                use portico::storage::schema::audit_events;
                Ok(audit_events::table
                    .select(audit_events::client_ip)
                    .load(conn)?)
            })
            .await
            .unwrap();
        let expected = if trusted { "203.0.113.9" } else { "127.0.0.1" };
        assert_eq!(ips, vec![expected.to_owned()], "trusted proxy: {trusted}");
    }
}
