//! The contact's profile, on SQLite and PostgreSQL: details, password change by the policy's
//! rules, and the sessions a contact can see and end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, Browser, DEMO_PASSWORD, TestApp};
use reqwest::StatusCode;

both_backends!(
    a_contact_changes_name_and_time_zone,
    a_password_change_needs_the_current_password_and_follows_the_policy,
    a_password_change_can_end_every_other_session,
    sessions_are_listed_and_each_can_be_ended,
);

const PROFILE: &str = "/portal/acme/profile";
const NEW_PASSWORD: &str = "copper kettle under a quiet bridge";

async fn logged_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let browser = app.browser();
    let answer = browser.password_login("acme", email, password).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{email} logs in");
    browser
}

fn is_logged_in(page: &common::Page) -> bool {
    page.status == StatusCode::OK && page.body.contains("Log out")
}

async fn a_contact_changes_name_and_time_zone(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = logged_in(&app, "demo@acme.example", DEMO_PASSWORD).await;
    let page = browser.get(PROFILE).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"Dana Whitfield\""));
    assert!(page.body.contains("value=\"America/New_York\""));

    let saved = browser
        .submit(
            PROFILE,
            PROFILE,
            &[
                ("name", "Dana Whitfield-Osei"),
                ("time_zone", "Europe/Dublin"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let page = browser.get(saved.location()).await;
    assert!(page.body.contains("Your details are saved."));
    assert!(page.body.contains("value=\"Dana Whitfield-Osei\""));
    assert!(page.body.contains("value=\"Europe/Dublin\""));

    for (name, zone, field) in [
        ("", "UTC", "name-error"),
        ("<script>x</script>", "../../etc/passwd", "time_zone-error"),
        (&"n".repeat(101), "UTC", "name-error"),
        ("Dana", "Mars/Olympus_Mons", "time_zone-error"),
    ] {
        let refused = browser
            .submit(PROFILE, PROFILE, &[("name", name), ("time_zone", zone)])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(refused.body.contains(&format!("id=\"{field}\"")), "{name}");
    }
    assert!(
        browser
            .get(PROFILE)
            .await
            .body
            .contains("value=\"Dana Whitfield-Osei\"")
    );

    let forged = browser
        .post_form(PROFILE, &[("name", "Forged"), ("time_zone", "UTC")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let anonymous = app.browser().get(PROFILE).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}

async fn a_password_change_needs_the_current_password_and_follows_the_policy(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = logged_in(&app, "demo@acme.example", DEMO_PASSWORD).await;
    let action = "/portal/acme/profile/password";
    let too_long = "p".repeat(129);
    for (current, new, field) in [
        ("not-my-password", NEW_PASSWORD, "current_password-error"),
        ("", NEW_PASSWORD, "current_password-error"),
        (DEMO_PASSWORD, "short one", "new_password-error"),
        (DEMO_PASSWORD, too_long.as_str(), "new_password-error"),
        (
            DEMO_PASSWORD,
            "acme corporation forever",
            "new_password-error",
        ),
        (
            DEMO_PASSWORD,
            "we-love-ACME-tools-2026",
            "new_password-error",
        ),
    ] {
        let refused = browser
            .submit(
                PROFILE,
                action,
                &[("current_password", current), ("new_password", new)],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{new}");
        assert!(
            refused.body.contains(&format!("id=\"{field}\"")),
            "{new}: {field}"
        );
        assert!(
            !refused.body.contains(new) || new.is_empty(),
            "the password is not echoed"
        );
    }
    let old_still_works = app.browser();
    let answer = old_still_works
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "nothing changed yet");

    let changed = browser
        .submit(
            PROFILE,
            action,
            &[
                ("current_password", DEMO_PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    assert!(
        browser
            .get(changed.location())
            .await
            .body
            .contains("Your password is changed.")
    );
    let fresh = app.browser();
    let old = fresh
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = fresh
        .password_login("acme", "demo@acme.example", NEW_PASSWORD)
        .await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
    assert!(
        is_logged_in(&old_still_works.get("/portal/acme/").await),
        "other sessions stay unless asked"
    );
    let kinds: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    assert!(kinds.contains(&"contact.password_changed".to_owned()));
}

async fn a_password_change_can_end_every_other_session(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let here = logged_in(&app, "demo@acme.example", DEMO_PASSWORD).await;
    let laptop = logged_in(&app, "demo@acme.example", DEMO_PASSWORD).await;
    let phone = logged_in(&app, "demo@acme.example", DEMO_PASSWORD).await;
    let colleague = logged_in(&app, "j.okafor@acme.example", DEMO_PASSWORD).await;

    let changed = here
        .submit(
            PROFILE,
            "/portal/acme/profile/password",
            &[
                ("current_password", DEMO_PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("end_other_sessions", "yes"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    let page = here.get(changed.location()).await;
    assert!(page.body.contains("your other sessions are ended"));
    assert!(
        is_logged_in(&here.get("/portal/acme/").await),
        "this session stays"
    );
    for other in [&laptop, &phone] {
        assert!(!is_logged_in(&other.get("/portal/acme/").await));
    }
    assert!(
        is_logged_in(&colleague.get("/portal/acme/").await),
        "another contact is not touched"
    );
    assert_eq!(page.body.matches("/end\"").count(), 1, "one session left");
}

async fn sessions_are_listed_and_each_can_be_ended(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let here = logged_in(&app, "demo@acme.example", DEMO_PASSWORD).await;
    let other = logged_in(&app, "demo@acme.example", DEMO_PASSWORD).await;
    let colleague = logged_in(&app, "j.okafor@acme.example", DEMO_PASSWORD).await;

    let page = here.get(PROFILE).await;
    assert_eq!(page.body.matches("/end\"").count(), 2, "{}", page.body);
    assert_eq!(page.body.matches("this browser").count(), 1);
    let ids: Vec<String> = page
        .body
        .match_indices("/profile/sessions/")
        .map(|(at, marker)| {
            let start = at + marker.len();
            page.body[start..start + 36].to_owned()
        })
        .collect();
    // A colleague cannot end Dana's sessions by guessing their ids.
    for id in &ids {
        let answer = colleague
            .submit(
                "/portal/acme/profile",
                &format!("/portal/acme/profile/sessions/{id}/end"),
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }
    assert!(is_logged_in(&other.get("/portal/acme/").await));
    assert!(is_logged_in(&here.get("/portal/acme/").await));

    let after = &page.body[page.body.find("this browser").unwrap()..];
    let start = after.find("/profile/sessions/").unwrap() + "/profile/sessions/".len();
    let this_id = after[start..start + 36].to_owned();
    let that_id = ids.iter().find(|id| **id != this_id).unwrap().clone();
    let ended = here
        .submit(
            PROFILE,
            &format!("/portal/acme/profile/sessions/{that_id}/end"),
            &[],
        )
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert!(
        !is_logged_in(&other.get("/portal/acme/").await),
        "the other browser is out"
    );
    assert!(is_logged_in(&here.get("/portal/acme/").await));

    // Ending the session in use is a logout.
    let out = here
        .submit(
            PROFILE,
            &format!("/portal/acme/profile/sessions/{this_id}/end"),
            &[],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/portal/acme/login");
    assert!(!is_logged_in(&here.get("/portal/acme/").await));
    for junk in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let answer = colleague
            .submit(
                "/portal/acme/profile",
                &format!("/portal/acme/profile/sessions/{junk}/end"),
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{junk}");
    }
}
