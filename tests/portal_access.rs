//! Who reaches a portal, on SQLite and PostgreSQL: an organization's own host name serves that
//! one portal at `/`, logs its contacts in there, and serves nothing of another organization
//! nor the admin console; a draft portal opens to its own admins only, as a preview.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, Browser, DEMO_PASSWORD, Page, TestApp, read};
use reqwest::{StatusCode, header};

both_backends!(
    a_mapped_host_serves_its_own_portal_only,
    a_draft_portal_opens_to_its_own_admins_only,
);

/// Saves acme's Customer Portal Settings with `hosts` as its host names.
async fn map_acme(app: &TestApp, hosts: &str) {
    let browser = app.admin("admin@acme.example").await;
    save_acme(&browser, "live", hosts).await;
}

/// Saves acme's Customer Portal Settings through `browser` (an admin's).
async fn save_acme(browser: &Browser, status: &str, hosts: &str) {
    let settings = "/admin/orgs/acme/settings/customer-portal";
    let saved = browser
        .submit(
            settings,
            settings,
            &[
                ("name", "Acme Corporation"),
                ("status", status),
                ("accent_color", "#b45309"),
                ("welcome_text", "Welcome to Acme support."),
                ("footer_text", "Acme trade support."),
                ("host_names", hosts),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
}

async fn get_on(browser: &Browser, host: &str, path: &str) -> Page {
    let response = browser
        .client
        .get(format!("{}{path}", browser.base))
        .header(header::HOST, host)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn a_mapped_host_serves_its_own_portal_only(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    map_acme(&app, "help.acme.example").await;
    let visitor = app.browser();
    let host = "Help.Acme.Example:8443";

    let home = get_on(&visitor, host, "/").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains("Acme Corporation"));
    let login = get_on(&visitor, host, "/login?next=%2F").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("name=\"password\""));
    assert!(get_on(&visitor, host, "/static/portico.css").await.status == StatusCode::OK);

    for elsewhere in [
        "/portal/globex/",
        "/portal/globex/login",
        "/admin/",
        "/admin/login",
    ] {
        let page = get_on(&visitor, host, elsewhere).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{elsewhere}");
        assert!(!page.body.contains("Globex"), "{elsewhere}");
    }

    // A contact logs in on the mapped host and stays logged in there.
    let csrf = login.csrf();
    let answer = visitor
        .client
        .post(format!("{}/login", visitor.base))
        .header(header::HOST, host)
        .form(&[
            ("csrf", csrf.as_str()),
            ("identifier", "demo@acme.example"),
            ("password", DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let answer = read(answer).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let home = get_on(&visitor, host, answer.location()).await;
    assert!(home.is_logged_in(), "{}", home.body);

    // Portico's own address and unknown names keep the common login page.
    for other in ["unknown.example", "127.0.0.1"] {
        let page = get_on(&app.browser(), other, "/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("Welcome to Acme support."), "{other}");
    }
}

async fn a_draft_portal_opens_to_its_own_admins_only(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme_admin = app.admin("admin@acme.example").await;
    save_acme(&acme_admin, "draft", "").await;

    let preview = acme_admin.get("/portal/acme/").await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Welcome to Acme support."));
    let login = acme_admin.get("/portal/acme/login").await;
    assert_eq!(login.status, StatusCode::OK);
    let platform = app.admin("admin@portico.example").await;
    assert_eq!(platform.get("/portal/acme/").await.status, StatusCode::OK);

    let globex_admin = app.admin("admin@globex.example").await;
    let visitor = app.browser();
    for outsider in [&globex_admin, &visitor] {
        for path in [
            "/portal/acme/",
            "/portal/acme/login",
            "/portal/acme/theme.css",
        ] {
            let page = outsider.get(path).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
            assert!(!page.body.contains("Welcome to Acme support."));
        }
    }
    // The common login page never offers the draft portal, even to a contact of it.
    let common = visitor
        .common_password_login("demo@acme.example", DEMO_PASSWORD)
        .await;
    assert!(!common.is_logged_in());
    assert!(!common.body.contains("Acme Corporation"));

    save_acme(&acme_admin, "live", "").await;
    assert_eq!(visitor.get("/portal/acme/").await.status, StatusCode::OK);
}
