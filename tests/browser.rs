//! Portico in a real browser: headless Chromium, driven over WebDriver, logs in to every demo
//! portal by its own login mode (codes read back from the real SMTP and SMS receivers), uses
//! the common login page and its portal choice, follows an admin's change of login mode, logs
//! out, and finds that one portal's session opens no other. It types and presses Enter like a
//! person with a keyboard, and checks what the page tells them and where the focus is.
//!
//! Every test saves its final page under `target/browser-screenshots/`. The ignored test
//! `screenshots` regenerates the README's pictures in `docs/`:
//! `cargo test --test browser -- --ignored screenshots`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;
mod webdriver;

use common::{
    ADMIN_PASSWORD, Backend, DEMO_PASSWORD, TestApp,
    sms::{Mode, SmsReceiver},
    smtp::SmtpReceiver,
};
use webdriver::{Chrome, ENTER};

both_backends!(
    password_login_and_logout,
    email_code_login_with_a_wrong_code_first,
    every_state_of_the_code_page,
    sms_code_login,
    password_or_a_code_sent_to_both,
    password_then_code,
    common_login_page_with_the_portal_choice,
    a_session_holds_only_in_its_own_portal,
    an_admin_switches_acme_to_email_codes,
);

/// The demo, with mail and SMS receivers, and a desktop-sized browser.
async fn start(backend: Backend) -> Option<(TestApp, SmtpReceiver, SmsReceiver, Chrome)> {
    let smtp = SmtpReceiver::start().await;
    let sms = SmsReceiver::start(Mode::Accept).await;
    let app = TestApp::wired(backend, &smtp, &sms).await?;
    let chrome = Chrome::start(1280, 900).await?;
    Some((app, smtp, sms, chrome))
}

fn name(test: &str, app: &TestApp) -> String {
    format!("{test}-{:?}", app.backend).to_lowercase()
}

/// Logs in on a portal's password form, from the keyboard.
async fn log_in_with_password(chrome: &Chrome, app: &TestApp, slug: &str, identifier: &str) {
    chrome
        .open(&format!("{}/portal/{slug}/login", app.base))
        .await;
    chrome.fill("#identifier", identifier).await;
    chrome.fill("#password", DEMO_PASSWORD).await;
    chrome.find("#password").await.type_text(ENTER).await;
}

/// Asks a portal for a code for `identifier`, and checks the code page it lands on.
async fn ask_for_code(chrome: &Chrome, app: &TestApp, slug: &str, identifier: &str) -> String {
    chrome
        .open(&format!("{}/portal/{slug}/login", app.base))
        .await;
    chrome.fill("#code-identifier", identifier).await;
    chrome.find("#code-identifier").await.type_text(ENTER).await;
    chrome.wait_for_text("Enter your code").await;
    check_code_field(chrome).await;
    chrome.find("#code-notice").await.text().await
}

/// The code field is focused, and tells phones and password managers what it is for.
async fn check_code_field(chrome: &Chrome) {
    let field = chrome.find("#code").await;
    assert!(
        chrome.focused().await.is(&field),
        "the code field has no focus"
    );
    assert_eq!(
        field.attribute("autocomplete").await.as_deref(),
        Some("one-time-code")
    );
    assert_eq!(
        field.attribute("inputmode").await.as_deref(),
        Some("numeric")
    );
}

/// Types `code` into the focused code field and presses Enter.
async fn enter_code(chrome: &Chrome, code: &str) {
    chrome.fill("#code", code).await;
    chrome.find("#code").await.type_text(ENTER).await;
}

/// A wrong code of the same length as `code`.
fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect()
}

async fn password_login_and_logout(backend: Backend) {
    let Some((app, _smtp, _sms, chrome)) = start(backend).await else {
        return;
    };
    chrome
        .open(&format!("{}/portal/acme/login", app.base))
        .await;
    let page = chrome.wait_for_text("Log in to Acme Corporation").await;
    assert!(page.contains("Welcome to the Acme workshop support portal"));
    assert!(page.contains("Acme trade support"), "no footer: {page}");
    // The portal wears Acme's accent colour.
    let header = chrome
        .script("return getComputedStyle(document.querySelector('.topbar')).backgroundColor;")
        .await;
    assert_eq!(header, "rgb(180, 83, 9)");
    assert!(chrome.try_find("#code").await.is_none());

    // A wrong password: the error is announced and tied to the password field.
    chrome.fill("#identifier", "demo@acme.example").await;
    chrome.fill("#password", "not-the-password").await;
    chrome.find("#password").await.type_text(ENTER).await;
    let refused = chrome.wait_for_text("do not match").await;
    assert!(!refused.contains("Hello,"));
    let password = chrome.find("#password").await;
    assert_eq!(
        password.attribute("aria-invalid").await.as_deref(),
        Some("true")
    );
    assert_eq!(
        password.attribute("aria-describedby").await.as_deref(),
        Some("form-error")
    );
    assert_eq!(
        chrome
            .find("#form-error")
            .await
            .attribute("role")
            .await
            .as_deref(),
        Some("alert")
    );

    log_in_with_password(&chrome, &app, "acme", "demo@acme.example").await;
    let home = chrome.wait_for_text("Hello, Dana Whitfield").await;
    assert!(home.contains("Your recent requests"));
    assert!(chrome.url().await.ends_with("/portal/acme/"));

    chrome.click(".logout button").await;
    chrome.wait_for_text("Log in to Acme Corporation").await;
    assert!(chrome.url().await.ends_with("/portal/acme/login"));
    chrome.open(&format!("{}/portal/acme/", app.base)).await;
    let after = chrome.wait_for_text("Welcome to Acme Corporation").await;
    assert!(!after.contains("Hello,"));
    chrome
        .open(&format!("{}/portal/acme/requests", app.base))
        .await;
    chrome.wait_for_text("Log in to Acme Corporation").await;
    chrome
        .save_final(&name("password_login_and_logout", &app))
        .await;
}

async fn email_code_login_with_a_wrong_code_first(backend: Backend) {
    let Some((app, smtp, _sms, chrome)) = start(backend).await else {
        return;
    };
    chrome
        .open(&format!("{}/portal/globex/login", app.base))
        .await;
    chrome.wait_for_text("Log in to Globex").await;
    assert!(chrome.try_find("#password").await.is_none());
    let notice = ask_for_code(&chrome, &app, "globex", "demo@globex.example").await;
    assert!(notice.contains("@globex.example"), "{notice}");
    assert!(
        !notice.contains("demo@globex.example"),
        "not masked: {notice}"
    );
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    // The resend button waits out the cooldown, and says how long.
    let resend = chrome.find(".resend button").await;
    assert_eq!(resend.property("disabled").await, serde_json::json!(true));
    assert!(
        chrome
            .find("#resend-wait")
            .await
            .text()
            .await
            .contains("seconds")
    );

    enter_code(&chrome, &wrong(&code)).await;
    let refused = chrome.wait_for_text("That code is wrong").await;
    assert!(!refused.contains("Hello,"));
    let field = chrome.find("#code").await;
    assert_eq!(
        field.attribute("aria-invalid").await.as_deref(),
        Some("true")
    );
    let described = field.attribute("aria-describedby").await.unwrap();
    assert!(
        described.split(' ').any(|id| id == "form-error"),
        "{described}"
    );
    assert!(chrome.focused().await.is(&field));

    enter_code(&chrome, &code).await;
    chrome.wait_for_text("Hello,").await;
    assert!(chrome.url().await.ends_with("/portal/globex/"));
    chrome
        .save_final(&name("email_code_login_with_a_wrong_code_first", &app))
        .await;
}

/// The text of the page-level error, and the code field tied to it.
async fn code_error(chrome: &Chrome, needle: &str) -> String {
    chrome.wait_for_text(needle).await;
    let field = chrome.find("#code").await;
    assert_eq!(
        field.attribute("aria-invalid").await.as_deref(),
        Some("true")
    );
    let described = field.attribute("aria-describedby").await.unwrap();
    assert!(
        described.split(' ').any(|id| id == "form-error"),
        "{described}"
    );
    chrome.find("#form-error").await.text().await
}

async fn every_state_of_the_code_page(backend: Backend) {
    let Some((app, smtp, _sms, chrome)) = start(backend).await else {
        return;
    };
    // Code sent; the resend hint counts the cooldown down.
    ask_for_code(&chrome, &app, "globex", "demo@globex.example").await;
    let first = smtp.wait_for("demo@globex.example", 1).await.code();
    let login_id = chrome
        .find("input[name=login_id]")
        .await
        .property("value")
        .await;
    let mut counted = false;
    for _ in 0..50 {
        let left = chrome.find("[data-countdown]").await.text().await;
        if left.parse::<u32>().is_ok_and(|n| n < 60) {
            counted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(counted, "the resend countdown did not move");

    // Rate-limited: asking again at once says how long to wait, next to the field.
    chrome.click(".aside a").await;
    chrome.fill("#code-identifier", "demo@globex.example").await;
    chrome.find("#code-identifier").await.type_text(ENTER).await;
    let limited = chrome.wait_for_text("Try again in").await;
    assert!(limited.contains("seconds"), "{limited}");
    assert_eq!(
        chrome
            .find("#code-identifier")
            .await
            .attribute("aria-describedby")
            .await
            .as_deref(),
        Some("form-error")
    );

    // Retired: the link in the email opens the first code's page; once a new code is sent from
    // there, the first one says it was replaced.
    app.age_limit_events(120).await;
    chrome
        .open(&format!(
            "{}/portal/globex/login/code?login_id={}",
            app.base,
            login_id.as_str().unwrap()
        ))
        .await;
    chrome.wait_for_text("Enter your code").await;
    chrome.click(".resend button").await;
    chrome.wait_for_text("We sent a new code").await;
    let second = smtp.wait_for("demo@globex.example", 2).await.code();
    enter_code(&chrome, &first).await;
    let retired = code_error(&chrome, "replaced by a newer one").await;
    assert!(retired.contains("latest code"), "{retired}");

    // Expired: the right code, too late, is refused like a wrong one.
    app.expire_codes("globex").await;
    enter_code(&chrome, &second).await;
    let expired = code_error(&chrome, "no longer valid").await;
    assert!(!expired.contains("replaced"), "{expired}");
    assert!(!chrome.text_of_page().await.contains("Hello,"));
    chrome
        .save_final(&name("every_state_of_the_code_page", &app))
        .await;
}

async fn sms_code_login(backend: Backend) {
    let Some((app, smtp, sms, chrome)) = start(backend).await else {
        return;
    };
    let notice = ask_for_code(&chrome, &app, "initech", "+1 555 010 0003").await;
    assert!(notice.contains("by SMS"), "{notice}");
    assert!(!notice.contains("0100003"), "not masked: {notice}");
    let code = sms.wait_for("+15550100003", 1).await.code();
    enter_code(&chrome, &code).await;
    chrome.wait_for_text("Hello,").await;
    assert!(chrome.url().await.ends_with("/portal/initech/"));
    assert!(smtp.mails().is_empty(), "an SMS portal sent an email");
    chrome.save_final(&name("sms_code_login", &app)).await;
}

async fn password_or_a_code_sent_to_both(backend: Backend) {
    let Some((app, smtp, sms, chrome)) = start(backend).await else {
        return;
    };
    // Umbrella offers both: the password form, and a code.
    log_in_with_password(&chrome, &app, "umbrella", "demo@umbrella.example").await;
    chrome.wait_for_text("Hello,").await;
    chrome.click(".logout button").await;
    chrome.wait_for_text("Log in to Umbrella").await;

    let notice = ask_for_code(&chrome, &app, "umbrella", "demo@umbrella.example").await;
    assert!(notice.contains("by SMS"), "{notice}");
    let mailed = smtp.wait_for("demo@umbrella.example", 1).await.code();
    let texted = sms.wait_for("+15550100004", 1).await.code();
    assert_eq!(mailed, texted, "one code goes to both");
    enter_code(&chrome, &texted).await;
    chrome.wait_for_text("Hello,").await;
    assert!(chrome.url().await.ends_with("/portal/umbrella/"));

    // Asking again at once: the wait is tied to the code form's field, not to the password.
    chrome.click(".logout button").await;
    chrome.wait_for_text("Log in to Umbrella").await;
    chrome
        .fill("#code-identifier", "demo@umbrella.example")
        .await;
    chrome.find("#code-identifier").await.type_text(ENTER).await;
    chrome.wait_for_text("Try again in").await;
    let field = chrome.find("#code-identifier").await;
    assert_eq!(
        field.attribute("aria-describedby").await.as_deref(),
        Some("form-error")
    );
    let password = chrome.find("#password").await;
    assert_eq!(password.attribute("aria-invalid").await, None);
    chrome
        .save_final(&name("password_or_a_code_sent_to_both", &app))
        .await;
}

async fn password_then_code(backend: Backend) {
    let Some((app, smtp, _sms, chrome)) = start(backend).await else {
        return;
    };
    chrome
        .open(&format!("{}/portal/hooli/login", app.base))
        .await;
    let page = chrome.wait_for_text("Continue").await;
    assert!(page.contains("After your password, we send you a one-time code"));
    log_in_with_password(&chrome, &app, "hooli", "demo@hooli.example").await;
    let second = chrome.wait_for_text("Your password is right").await;
    assert!(!second.contains("Hello,"), "the password alone let them in");
    check_code_field(&chrome).await;
    let code = smtp.wait_for("demo@hooli.example", 1).await.code();
    enter_code(&chrome, &code).await;
    chrome.wait_for_text("Hello,").await;
    assert!(chrome.url().await.ends_with("/portal/hooli/"));
    chrome.save_final(&name("password_then_code", &app)).await;
}

async fn common_login_page_with_the_portal_choice(backend: Backend) {
    let Some((app, _smtp, _sms, chrome)) = start(backend).await else {
        return;
    };
    chrome.open(&format!("{}/", app.base)).await;
    let page = chrome.wait_for_text("Log in to your customer portal").await;
    // Portico's own neutral look: no portal's theme, no portal's name.
    assert!(chrome.try_find("link[href$='/theme.css']").await.is_none());
    assert!(page.contains("Portico") && !page.contains("Acme"));
    // Usable on a phone: nothing wider than the screen.
    chrome.resize(390, 844).await;
    let overflow = chrome
        .script("return document.documentElement.scrollWidth > window.innerWidth;")
        .await;
    assert_eq!(overflow, serde_json::json!(false));
    chrome.resize(1280, 900).await;

    chrome.fill("#identifier", "pat@shared.example").await;
    chrome.fill("#password", DEMO_PASSWORD).await;
    chrome.find("#password").await.type_text(ENTER).await;
    let choice = chrome.wait_for_text("Choose a portal").await;
    assert!(choice.contains("Acme Corporation") && choice.contains("Umbrella"));
    chrome.click("button[value=umbrella]").await;
    chrome.wait_for_text("Hello, Pat Rivera").await;
    assert!(chrome.url().await.ends_with("/portal/umbrella/"));
    // The choice opened Umbrella only.
    chrome.open(&format!("{}/portal/acme/", app.base)).await;
    assert!(!chrome.text_of_page().await.contains("Hello,"));
    chrome.open(&format!("{}/portal/umbrella/", app.base)).await;
    chrome.wait_for_text("Hello, Pat Rivera").await;
    chrome
        .save_final(&name("common_login_page_with_the_portal_choice", &app))
        .await;
}

async fn a_session_holds_only_in_its_own_portal(backend: Backend) {
    let Some((app, _smtp, _sms, chrome)) = start(backend).await else {
        return;
    };
    log_in_with_password(&chrome, &app, "acme", "demo@acme.example").await;
    chrome.wait_for_text("Hello, Dana Whitfield").await;

    // Another portal sees a visitor, even with Acme's session cookie offered under its name.
    chrome.open(&format!("{}/portal/umbrella/", app.base)).await;
    let umbrella = chrome.wait_for_text("Welcome to Umbrella").await;
    assert!(!umbrella.contains("Hello,"));
    let acme_cookie = chrome
        .cookie_names()
        .await
        .into_iter()
        .find(|name| name.contains("acme"))
        .expect("an Acme session cookie");
    let value = chrome.cookie_value(&acme_cookie).await;
    chrome
        .add_cookie(&acme_cookie.replace("acme", "umbrella"), &value)
        .await;
    chrome
        .open(&format!("{}/portal/umbrella/requests", app.base))
        .await;
    chrome.wait_for_text("Log in to Umbrella").await;
    assert!(chrome.url().await.ends_with("/portal/umbrella/login"));

    // Acme is still logged in.
    chrome.open(&format!("{}/portal/acme/", app.base)).await;
    chrome.wait_for_text("Hello, Dana Whitfield").await;
    chrome.open(&format!("{}/portal/umbrella/", app.base)).await;
    chrome
        .save_final(&name("a_session_holds_only_in_its_own_portal", &app))
        .await;
}

/// Logs in to the console as `email`.
async fn admin_login(chrome: &Chrome, app: &TestApp, email: &str) {
    chrome.open(&format!("{}/admin/login", app.base)).await;
    chrome.fill("#identifier", email).await;
    chrome.fill("#password", ADMIN_PASSWORD).await;
    chrome.find("#password").await.type_text(ENTER).await;
    chrome.wait_for_text("Log out").await;
}

async fn an_admin_switches_acme_to_email_codes(backend: Backend) {
    let Some((app, smtp, _sms, chrome)) = start(backend).await else {
        return;
    };
    // Before: Acme takes a password.
    chrome
        .open(&format!("{}/portal/acme/login", app.base))
        .await;
    chrome.find("#password").await;

    admin_login(&chrome, &app, "admin@acme.example").await;
    let policy = format!("{}/admin/orgs/acme/settings/self-service-portal", app.base);
    chrome.open(&policy).await;
    chrome.wait_for_text("Self-Service Portal Settings").await;
    chrome.click("#login_mode option[value=otp]").await;
    chrome.click("#otp_channel option[value=email]").await;
    chrome.click("main form button[type=submit]").await;
    chrome.wait_for_text("Your changes are saved.").await;

    // A logo uploaded in Customer Portal Settings.
    upload_acme_logo(&chrome, &app).await;

    // Acme's admin cannot open Globex's settings.
    chrome
        .open(&format!(
            "{}/admin/orgs/globex/settings/self-service-portal",
            app.base
        ))
        .await;
    let globex = chrome.wait_for_text("Page not found").await;
    assert!(!globex.contains("Globex"));
    chrome.open(&format!("{}/admin/", app.base)).await;
    chrome.click(".logout button").await;
    chrome.wait_for_text("Log in to the admin console").await;

    // The portal follows: no password field, and the emailed code lets Dana in.
    chrome
        .open(&format!("{}/portal/acme/login", app.base))
        .await;
    chrome.wait_for_text("Get code").await;
    assert!(chrome.try_find("#password").await.is_none());
    let logo_width = chrome
        .find(".brand img.logo")
        .await
        .property("naturalWidth")
        .await;
    assert!(
        logo_width.as_u64().unwrap_or(0) > 0,
        "the logo did not load"
    );
    let served = reqwest::get(format!("{}/portal/acme/logo", app.base))
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    let uploaded = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webdriver/logo.png"),
    )
    .unwrap();
    assert_eq!(served.bytes().await.unwrap().as_ref(), uploaded.as_slice());
    let none = app.browser().get("/portal/globex/logo").await;
    assert_eq!(
        none.status,
        reqwest::StatusCode::NOT_FOUND,
        "Globex has no logo"
    );
    ask_for_code(&chrome, &app, "acme", "demo@acme.example").await;
    let code = smtp.wait_for("demo@acme.example", 1).await.code();
    enter_code(&chrome, &code).await;
    chrome.wait_for_text("Hello, Dana Whitfield").await;

    // The platform admin may open Globex's settings.
    admin_login(&chrome, &app, "admin@portico.example").await;
    chrome
        .open(&format!(
            "{}/admin/orgs/globex/settings/self-service-portal",
            app.base
        ))
        .await;
    let page = chrome.wait_for_text("Self-Service Portal Settings").await;
    assert!(page.contains("Globex"));
    chrome
        .save_final(&name("an_admin_switches_acme_to_email_codes", &app))
        .await;
}

/// Uploads `tests/webdriver/logo.png` as Acme's logo, from Customer Portal Settings.
async fn upload_acme_logo(chrome: &Chrome, app: &TestApp) {
    let logo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webdriver/logo.png");
    chrome
        .open(&format!(
            "{}/admin/orgs/acme/settings/customer-portal",
            app.base
        ))
        .await;
    chrome
        .find("#logo")
        .await
        .type_text(&logo.display().to_string())
        .await;
    chrome.click("form[action$='/settings/logo'] button").await;
    chrome.wait_for_text("The new logo is saved.").await;
}

/// Regenerates the README's screenshots in `docs/` at a fixed window size (and a phone-sized
/// one of the code page under `target/browser-screenshots/`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/*.png; run with: cargo test --test browser -- --ignored screenshots"]
async fn screenshots() {
    let Some((app, smtp, _sms, chrome)) = start(Backend::Sqlite).await else {
        return;
    };
    chrome.resize(1200, 820).await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");

    admin_login(&chrome, &app, "admin@acme.example").await;
    upload_acme_logo(&chrome, &app).await;
    chrome
        .open(&format!(
            "{}/admin/orgs/acme/settings/self-service-portal",
            app.base
        ))
        .await;
    chrome.wait_for_text("Self-Service Portal Settings").await;
    chrome
        .screenshot(&docs.join("self-service-portal-settings.png"))
        .await;

    chrome.open(&format!("{}/", app.base)).await;
    chrome.wait_for_text("Log in to your customer portal").await;
    chrome.screenshot(&docs.join("common-login.png")).await;

    ask_for_code(&chrome, &app, "globex", "demo@globex.example").await;
    smtp.wait_for("demo@globex.example", 1).await;
    chrome.screenshot(&docs.join("portal-code-sent.png")).await;
    chrome.resize(390, 844).await;
    chrome.save_final("screenshots-phone-code-sent").await;
    chrome.resize(1200, 820).await;

    log_in_with_password(&chrome, &app, "acme", "demo@acme.example").await;
    chrome.wait_for_text("Hello, Dana Whitfield").await;
    chrome.screenshot(&docs.join("portal-home.png")).await;
    chrome.resize(390, 844).await;
    chrome.save_final("screenshots-phone-home").await;
}
