//! The cross-tenant sweep: every portal page, every console page and every `/api/v1`
//! operation is visited with the credentials of Acme (a contact's browser session and API
//! token, an organization admin's console session, an organization API key) while naming
//! Globex's portal and Globex's records. Nothing of Globex may show, and nothing of Globex
//! may change.
//!
//! The API operations come from the running server's own OpenAPI document, so a new operation
//! is swept without touching this file; the page routes are listed here. Operations that take
//! no credential at all (the login endpoints, a portal's public description) are left out:
//! there is no other organization's credential to try on them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::NaiveDateTime;
use common::{Backend, DEMO_PASSWORD, TestApp};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use portico::{
    domain::{
        api_keys::{self, Maker},
        contact::Identifier,
        login,
        session::ClientInfo,
    },
    storage::{accounts, orgs, schema},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(acme_credentials_reach_nothing_of_globex_anywhere);

/// Text that only Globex and its contacts may see.
const PRIVATE: [&str; 8] = [
    "Priya Raman",
    "demo@globex.example",
    "c.mendoza@globex.example",
    "GXS-448172",
    "GX-INV-55120",
    "The fuel surcharge explained",
    "globex-integration-key",
    "Carlos Mendoza",
];

/// Globex's records, named in the sweep.
struct Victim {
    org_id: String,
    contact_id: String,
    request_number: i64,
    draft_solution: String,
    category: String,
    session: String,
    api_key: String,
}

async fn victim(app: &TestApp) -> Victim {
    let (_, text) = {
        let org = app.org_id("globex").await;
        let org = portico::domain::ids::Id::parse(&org).unwrap();
        api_keys::create(
            &app.app,
            Some(org),
            "globex-integration-key",
            Maker::CommandLine,
            "",
        )
        .await
        .unwrap()
    };
    drop(text);
    let (policy, contact) = app
        .app
        .db
        .run(|conn| {
            let org = orgs::find_by_slug(conn, "globex")?.unwrap();
            let identifier = Identifier::parse("demo@globex.example", "US")?;
            let found = accounts::find_contact_by_identifier(conn, &org.id, &identifier)?;
            Ok((orgs::policy(conn, &org.id)?, found.unwrap().contact))
        })
        .await
        .unwrap();
    let client = ClientInfo {
        ip: "127.0.0.1".to_owned(),
        user_agent: "victim".to_owned(),
    };
    login::open_session(&app.app, &policy, &contact, "otp", &client)
        .await
        .unwrap();
    let org_id = app.org_id("globex").await;
    let org = org_id.clone();
    app.app
        .db
        .run(move |conn| {
            use schema::*;
            let number = requests::table
                .filter(requests::org_id.eq(&org))
                .order(requests::number.asc())
                .select(requests::number)
                .first::<i64>(conn)?;
            let draft = solutions::table
                .filter(solutions::org_id.eq(&org))
                .filter(solutions::status.eq("draft"))
                .select(solutions::id)
                .first::<String>(conn)?;
            let category = service_categories::table
                .filter(service_categories::org_id.eq(&org))
                .select(service_categories::id)
                .first::<String>(conn)?;
            let session = contact_sessions::table
                .filter(contact_sessions::org_id.eq(&org))
                .select(contact_sessions::id)
                .first::<String>(conn)?;
            let api_key = api_keys::table
                .filter(api_keys::org_id.eq(&org))
                .select(api_keys::id)
                .first::<String>(conn)?;
            Ok(Victim {
                org_id: org.clone(),
                contact_id: contact.id.to_string(),
                request_number: number,
                draft_solution: draft,
                category,
                session,
                api_key,
            })
        })
        .await
        .unwrap()
}

/// Everything of Globex a change would touch, printed, to compare before and after.
async fn fingerprint(app: &TestApp, org: &str) -> String {
    let org = org.to_owned();
    app.app
        .db
        .run(move |conn| {
            use schema::*;
            let mut out = String::new();
            let organization = organizations::table
                .find(&org)
                .select((
                    organizations::name,
                    organizations::status,
                    organizations::accent_color,
                    organizations::welcome_text,
                    organizations::host_names,
                    organizations::logo_type,
                    organizations::updated_at,
                ))
                .first::<(
                    String,
                    String,
                    String,
                    String,
                    String,
                    Option<String>,
                    NaiveDateTime,
                )>(conn)?;
            out += &format!("{organization:?}\n");
            let policy = login_policies::table
                .find(&org)
                .select((
                    login_policies::login_mode,
                    login_policies::otp_channel,
                    login_policies::self_registration,
                    login_policies::anonymous_solutions,
                    login_policies::updated_at,
                ))
                .first::<(String, String, String, bool, NaiveDateTime)>(conn)?;
            out += &format!("{policy:?}\n");
            let people = contacts::table
                .filter(contacts::org_id.eq(&org))
                .order(contacts::id)
                .select((
                    contacts::id,
                    contacts::email,
                    contacts::name,
                    contacts::status,
                    contacts::password_hash,
                    contacts::password_failures,
                    contacts::locked_until,
                    contacts::updated_at,
                ))
                .load::<(
                    String,
                    Option<String>,
                    String,
                    String,
                    Option<String>,
                    i32,
                    Option<NaiveDateTime>,
                    NaiveDateTime,
                )>(conn)?;
            out += &format!("{people:?}\n");
            let sessions = contact_sessions::table
                .filter(contact_sessions::org_id.eq(&org))
                .order(contact_sessions::id)
                .select((contact_sessions::id, contact_sessions::expires_at))
                .load::<(String, NaiveDateTime)>(conn)?;
            out += &format!("{sessions:?}\n");
            let asked = requests::table
                .filter(requests::org_id.eq(&org))
                .order(requests::id)
                .select((
                    requests::id,
                    requests::subject,
                    requests::status,
                    requests::assignee_id,
                    requests::updated_at,
                ))
                .load::<(String, String, String, Option<String>, NaiveDateTime)>(conn)?;
            out += &format!("{asked:?}\n");
            let replies = request_replies::table
                .filter(request_replies::org_id.eq(&org))
                .count()
                .get_result::<i64>(conn)?;
            let articles = solutions::table
                .filter(solutions::org_id.eq(&org))
                .order(solutions::id)
                .select((
                    solutions::id,
                    solutions::title,
                    solutions::status,
                    solutions::updated_at,
                ))
                .load::<(String, String, String, NaiveDateTime)>(conn)?;
            out += &format!("{articles:?}\n");
            let categories = service_categories::table
                .filter(service_categories::org_id.eq(&org))
                .order(service_categories::id)
                .select((
                    service_categories::id,
                    service_categories::name,
                    service_categories::active,
                ))
                .load::<(String, String, bool)>(conn)?;
            out += &format!("{categories:?}\n");
            let keys = api_keys::table
                .filter(api_keys::org_id.eq(&org))
                .select((api_keys::id, api_keys::revoked_at))
                .load::<(String, Option<NaiveDateTime>)>(conn)?;
            out += &format!("{keys:?}\n");
            let templates = message_templates::table
                .filter(message_templates::org_id.eq(&org))
                .count()
                .get_result::<i64>(conn)?;
            let gateways = sms_gateways::table
                .filter(sms_gateways::org_id.eq(&org))
                .count()
                .get_result::<i64>(conn)?;
            let registered = registrations::table
                .filter(registrations::org_id.eq(&org))
                .count()
                .get_result::<i64>(conn)?;
            let messages = outbox::table
                .filter(outbox::org_id.eq(&org))
                .count()
                .get_result::<i64>(conn)?;
            let audited = audit_events::table
                .filter(audit_events::org_id.eq(&org))
                .count()
                .get_result::<i64>(conn)?;
            out += &format!(
                "replies {replies}, templates {templates}, gateways {gateways}, \
                 registrations {registered}, messages {messages}, audit events {audited}\n"
            );
            Ok(out)
        })
        .await
        .unwrap()
}

fn assert_no_leak(what: &str, text: &str, extra: &[&str]) {
    for marker in PRIVATE.iter().chain(extra) {
        assert!(
            !text.contains(marker),
            "{what} shows Globex's {marker:?}:\n{text}"
        );
    }
}

/// A body any form of the portal or the console might take: every field filled.
fn any_form(csrf: &str) -> Vec<(&'static str, String)> {
    [
        ("csrf", csrf),
        ("name", "Taken over"),
        ("email", "intruder@acme.example"),
        ("mobile", "+15550100009"),
        ("subject", "Taken over"),
        ("description", "Taken over"),
        ("body", "Taken over"),
        ("status", "retired"),
        ("login_mode", "password"),
        ("otp_channel", "email"),
        ("title", "Taken over"),
        ("topic", "Taken over"),
        ("password", "portico-admin-password"),
        ("new_password", "a long enough new password for this"),
        ("current_password", DEMO_PASSWORD),
        ("category_id", ""),
        ("priority", "high"),
        ("accent_color", "#000000"),
        ("welcome_text", "Taken over"),
        ("footer_text", "Taken over"),
        ("url", "http://127.0.0.1:9/sms"),
        ("subject_template", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

async fn acme_credentials_reach_nothing_of_globex_anywhere(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let globex = victim(&app).await;
    let before = fingerprint(&app, &globex.org_id).await;
    let number = globex.request_number.to_string();
    let mut visited = 0;

    // A contact of Acme in the browser, on Globex's portal.
    let contact = app.browser();
    let entered = contact
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER);
    let csrf = contact.get("/portal/acme/requests/new").await.csrf();
    let session_cookie = entered
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("portico_session_acme="))
        .unwrap();
    let acme_session =
        session_cookie.split(';').next().unwrap()["portico_session_acme=".len()..].to_owned();
    let transplant = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let portal_paths = [
        "/".to_owned(),
        "/login".to_owned(),
        "/login/code".to_owned(),
        "/login/code/resend".to_owned(),
        "/login/code/verify".to_owned(),
        "/logout".to_owned(),
        "/password/forgot".to_owned(),
        "/password/reset".to_owned(),
        "/register".to_owned(),
        "/register/verify".to_owned(),
        "/profile".to_owned(),
        "/profile/contact".to_owned(),
        "/profile/contact/verify".to_owned(),
        "/profile/password".to_owned(),
        format!("/profile/sessions/{}/end", globex.session),
        "/requests".to_owned(),
        "/requests/new".to_owned(),
        format!("/requests/{number}"),
        format!("/requests/{number}/attachments/{}", uuid::Uuid::new_v4()),
        format!("/requests/{number}/close"),
        format!("/requests/{number}/reopen"),
        format!("/requests/{number}/replies"),
        "/solutions".to_owned(),
        format!("/solutions/{}", globex.draft_solution),
        "/solutions/suggest?q=fuel".to_owned(),
    ];
    for path in &portal_paths {
        let full = format!("/portal/globex{path}");
        for post in [false, true] {
            let page = if post {
                post_any(&contact, &full, &csrf).await
            } else {
                contact.get(&full).await
            };
            check_portal_answer(&full, post, &page);
            visited += 1;
        }
        // Acme's session token presented as Globex's session cookie.
        let page = common::read(
            transplant
                .get(format!("{}{full}", app.base))
                .header("cookie", format!("portico_session_globex={acme_session}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        check_portal_answer(&full, false, &page);
        assert!(
            !page.is_logged_in(),
            "{full}: Acme's session worked on Globex"
        );
        visited += 1;
    }

    // An organization admin of Acme in the console, on Globex's settings and records.
    let admin = app.browser();
    let entered = admin
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("identifier", "admin@acme.example"),
                ("password", "portico-admin-password"),
            ],
        )
        .await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER);
    let admin_csrf = admin.get("/admin/orgs/acme/contacts/new").await.csrf();
    let contact_id = &globex.contact_id;
    let console_paths = [
        String::new(),
        "/api-keys".to_owned(),
        format!("/api-keys/{}/revoke", globex.api_key),
        "/audit".to_owned(),
        "/categories".to_owned(),
        format!("/categories/{}", globex.category),
        "/contacts".to_owned(),
        "/contacts?q=globex".to_owned(),
        format!("/contacts/{contact_id}"),
        format!("/contacts/{contact_id}/disable"),
        format!("/contacts/{contact_id}/enable"),
        format!("/contacts/{contact_id}/unlock"),
        format!("/contacts/{contact_id}/end-sessions"),
        format!("/contacts/{contact_id}/password"),
        format!("/contacts/{contact_id}/invite"),
        "/contacts/import".to_owned(),
        "/contacts/new".to_owned(),
        "/deliveries".to_owned(),
        "/messages".to_owned(),
        "/messages/login_code".to_owned(),
        "/registrations".to_owned(),
        format!("/registrations/{}/approve", uuid::Uuid::new_v4()),
        "/requests".to_owned(),
        format!("/requests/{number}"),
        format!("/requests/{number}/reply"),
        format!("/requests/{number}/status"),
        format!("/requests/{number}/assign"),
        "/settings/customer-portal".to_owned(),
        "/settings/logo".to_owned(),
        "/settings/self-service-portal".to_owned(),
        "/sms-gateway".to_owned(),
        "/sms-gateway/test".to_owned(),
        "/solutions".to_owned(),
        format!("/solutions/{}", globex.draft_solution),
        "/solutions/new".to_owned(),
    ];
    for path in &console_paths {
        let full = format!("/admin/orgs/globex{path}");
        for post in [false, true] {
            let mut page = if post {
                post_any(&admin, &full, &admin_csrf).await
            } else {
                admin.get(&full).await
            };
            if page.status.is_redirection() && !post {
                let location = page.location().to_owned();
                assert!(
                    location.starts_with("/admin/orgs/globex"),
                    "{full} → {location}"
                );
                page = admin.get(&location).await;
            }
            assert!(
                [
                    StatusCode::NOT_FOUND,
                    StatusCode::FORBIDDEN,
                    StatusCode::METHOD_NOT_ALLOWED
                ]
                .contains(&page.status),
                "{} {full}: {} {}",
                if post { "POST" } else { "GET" },
                page.status,
                page.body
            );
            assert_no_leak(&full, &page.body, &["Globex Freight"]);
            visited += 1;
        }
    }
    let home = admin.get("/admin/").await;
    assert_no_leak(
        "the console's home",
        &home.body,
        &["Globex Freight", "/admin/orgs/globex"],
    );

    // The API, operation by operation from its own document, with Acme's token and key.
    let api = reqwest::Client::new();
    let token: Value = api
        .post(format!("{}/api/v1/portals/acme/login/password", app.base))
        .json(&json!({ "identifier": "demo@acme.example", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let key = api_keys::create(
        &app.app,
        Some(portico::domain::ids::Id::parse(&app.org_id("acme").await).unwrap()),
        "acme-key",
        Maker::CommandLine,
        "",
    )
    .await
    .unwrap()
    .1
    .expose()
    .clone();
    let forged = format!("{}.{}", globex.org_id, token.split_once('.').unwrap().1);
    let spec: Value = api
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut policy: Value = api
        .get(format!("{}/api/v1/admin/orgs/acme/login-policy", app.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    policy["login_mode"] = json!("password_or_otp");
    let mut operations = 0;
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let schemes: Vec<String> = operation["security"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .flat_map(|s| s.as_object().unwrap().keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let anonymous_too = operation["security"]
                .as_array()
                .is_some_and(|list| list.iter().any(|s| s.as_object().unwrap().is_empty()));
            if schemes.is_empty() || template == "/logout" {
                continue;
            }
            operations += 1;
            let path = template
                .replace("{slug}", "globex")
                .replace("{number}", &number)
                .replace(
                    "{id}",
                    if template.starts_with("/me/sessions") {
                        &globex.session
                    } else if template.contains("/solutions/") {
                        &globex.draft_solution
                    } else if template.contains("/service-categories/") {
                        &globex.category
                    } else {
                        &globex.contact_id
                    },
                );
            // Request numbers count per organization: `/requests/{number}` reads the
            // token's own organization's request of that number, never Globex's.
            let names_victim = template.contains("{slug}") || template.contains("{id}");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = api_body(template, &globex, &policy);
            let mut credentials = Vec::new();
            if schemes.iter().any(|s| s == "contact_token") {
                credentials.push(("Acme's token", token.as_str()));
                credentials.push(("a token forged with Globex's id", forged.as_str()));
            }
            if schemes.iter().any(|s| s == "api_key") {
                credentials.push(("Acme's key", key.as_str()));
            }
            for (who, credential) in credentials {
                let mut request = api
                    .request(method.clone(), format!("{}/api/v1{path}", app.base))
                    .bearer_auth(credential);
                if let Some(body) = &body {
                    request = request.json(body);
                } else if template.ends_with("/attachments") && method == Method::POST {
                    let file = reqwest::multipart::Part::bytes(b"taken over".to_vec())
                        .file_name("taken.txt")
                        .mime_str("text/plain")
                        .unwrap();
                    request = request.multipart(
                        reqwest::multipart::Form::new()
                            .text("body", "Taken over")
                            .part("attachment", file),
                    );
                }
                let answer = request.send().await.unwrap();
                let status = answer.status();
                let text = answer.text().await.unwrap();
                let what = format!("{method} {path} with {who}");
                if anonymous_too && who.contains("forged") && status.is_success() {
                    // A token that names no session reads what anyone may read: Globex's
                    // published solutions, and nothing else (checked below).
                } else if names_victim || who.contains("forged") {
                    assert!(
                        [
                            StatusCode::NOT_FOUND,
                            StatusCode::UNAUTHORIZED,
                            StatusCode::FORBIDDEN
                        ]
                        .contains(&status),
                        "{what}: {status} {text}"
                    );
                } else {
                    assert!(
                        status.is_success()
                            || [StatusCode::FORBIDDEN, StatusCode::UNPROCESSABLE_ENTITY]
                                .contains(&status)
                            // A change id of no change of Acme's contact.
                            || (template.ends_with("/verify") && status == StatusCode::NOT_FOUND),
                        "{what}: {status} {text}"
                    );
                }
                assert_no_leak(&what, &text, &["Globex Freight"]);
                visited += 1;
            }
        }
    }
    assert!(
        operations >= 25,
        "the document lists {operations} operations with credentials"
    );

    let after = fingerprint(&app, &globex.org_id).await;
    assert_eq!(before, after, "Globex changed under Acme's credentials");
    eprintln!(
        "tenant sweep ({backend:?}): {visited} visits, {operations} API operations, nothing of Globex shown or changed"
    );
}

/// Posts [`any_form`] to `path`, again as a multipart form where the page takes a file.
async fn post_any(browser: &common::Browser, path: &str, csrf: &str) -> common::Page {
    let fields = any_form(csrf);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = browser.post_form(path, &pairs).await;
    if page.status != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return page;
    }
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name, value);
    }
    let file =
        reqwest::multipart::Part::bytes(b"name,email,mobile\nX,x@globex.example,\n".to_vec())
            .file_name("taken.csv")
            .mime_str("text/csv")
            .unwrap();
    form = form.part("file", file);
    let answer = browser
        .client
        .post(format!("{}{path}", browser.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    common::read(answer).await
}

/// A well-formed body for the API operations that take one, naming Globex's records.
fn api_body(template: &str, globex: &Victim, policy: &Value) -> Option<Value> {
    Some(match template {
        "/requests" => json!({ "subject": "Crossing over", "description": "Try it.",
                               "category_id": globex.category }),
        "/requests/{number}/replies" => json!({ "body": "Taken over" }),
        "/requests/{number}/close" | "/requests/{number}/reopen" => json!({}),
        "/admin/orgs" => json!({ "slug": "globex-two", "name": "Globex Two" }),
        "/admin/orgs/{slug}" => json!({ "name": "Taken", "status": "retired",
                                        "accent_color": "#000000", "welcome_text": "",
                                        "footer_text": "" }),
        "/admin/orgs/{slug}/login-policy" => policy.clone(),
        "/admin/orgs/{slug}/contacts" => json!({ "name": "Intruder",
                                                 "email": "intruder@globex.example" }),
        "/admin/orgs/{slug}/contacts/{id}" => json!({ "name": "Taken" }),
        "/admin/orgs/{slug}/contacts/{id}/password" => {
            json!({ "password": "taken-over-password-2026" })
        }
        "/admin/orgs/{slug}/requests/{number}/assignee" => json!({ "assignee_id": null }),
        "/admin/orgs/{slug}/requests/{number}/notes"
        | "/admin/orgs/{slug}/requests/{number}/replies" => json!({ "body": "Taken over" }),
        "/admin/orgs/{slug}/requests/{number}/status" => json!({ "status": "closed" }),
        "/admin/orgs/{slug}/service-categories" | "/admin/orgs/{slug}/service-categories/{id}" => {
            json!({ "name": "Taken" })
        }
        "/admin/orgs/{slug}/solutions" | "/admin/orgs/{slug}/solutions/{id}" => {
            json!({ "topic": "taken", "title": "Taken", "body": "Taken over" })
        }
        // Acme's own contact, with a wrong current password: refused, nothing sent.
        "/me/email-change" => json!({ "new_email": "crossing@acme.example",
                                      "current_password": "not-the-password" }),
        "/me/mobile-change" => json!({ "new_mobile": "+15555550123",
                                       "current_password": "not-the-password" }),
        "/me/email-change/verify" | "/me/mobile-change/verify" => {
            json!({ "change_id": globex.contact_id, "code": "000000" })
        }
        t if t.ends_with("/disable")
            || t.ends_with("/enable")
            || t.ends_with("/unlock")
            || t.ends_with("/end-sessions") =>
        {
            json!({})
        }
        _ => return None,
    })
}

/// What a visitor from another organization may get from a portal page: the login page (or
/// a redirect to it), a public page, or a refusal; never a page only Globex's contacts see.
fn check_portal_answer(path: &str, post: bool, page: &common::Page) {
    let status = page.status;
    let allowed = status.is_success()
        || status.is_redirection()
        || [
            StatusCode::NOT_FOUND,
            StatusCode::FORBIDDEN,
            StatusCode::UNAUTHORIZED,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::UNPROCESSABLE_ENTITY,
        ]
        .contains(&status);
    assert!(
        allowed,
        "{} {path}: {status}",
        if post { "POST" } else { "GET" }
    );
    if status.is_redirection() {
        let location = page.location();
        assert!(
            location.starts_with("/portal/globex") || location.starts_with('/'),
            "{path} → {location}"
        );
        assert_no_leak(path, location, &[]);
    }
    assert!(
        !page.is_logged_in(),
        "{path}: greeted as logged in on Globex"
    );
    assert_no_leak(path, &page.body, &[]);
}
