//! The console's request queue, service categories and solutions over HTTP, on SQLite and
//! PostgreSQL: what staff do there and what the contact then sees in the portal, what an admin
//! of another organization cannot reach, and forms without a CSRF token.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, Browser, DEMO_PASSWORD, Page, TestApp};
use portico::{
    domain::{
        org::OrgId,
        requests::{CategoryId, RequestStatus},
        solutions::SolutionStatus,
    },
    storage::{orgs, requests as store, solutions},
};
use reqwest::{StatusCode, multipart};

both_backends!(
    a_portal_request_is_answered_from_the_queue,
    an_admin_of_another_organization_reaches_none_of_its_requests_categories_or_solutions,
    an_inactive_category_is_no_longer_offered_but_stays_on_old_requests,
    solutions_are_previewed_and_published_safely,
    console_forms_without_a_csrf_token_are_refused,
);

/// A browser logged in to a portal as one of its contacts.
async fn contact(app: &TestApp, slug: &str, email: &str) -> Browser {
    let browser = app.browser();
    let answer = browser.password_login(slug, email, DEMO_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{email} logs in");
    browser
}

async fn org_id(app: &TestApp, slug: &str) -> OrgId {
    let slug = slug.to_owned();
    app.app
        .db
        .run(move |conn| Ok(orgs::find_by_slug(conn, &slug)?.unwrap().id))
        .await
        .unwrap()
}

async fn category_id(app: &TestApp, org: OrgId, name: &str) -> CategoryId {
    let name = name.to_owned();
    app.app
        .db
        .run(move |conn| {
            let all = store::categories(conn, &org)?;
            Ok(all.into_iter().find(|c| c.name == name).unwrap().id)
        })
        .await
        .unwrap()
}

/// The value of the `<option>` labelled `label`.
fn option_value(body: &str, label: &str) -> String {
    let end = body
        .find(&format!("\">{label}</option>"))
        .unwrap_or_else(|| panic!("no option {label}"));
    let start = body[..end].rfind("value=\"").unwrap() + "value=\"".len();
    body[start..end].to_owned()
}

/// Raises a request in the portal with the new-request form; returns its number.
async fn raise(browser: &Browser, subject: &str, description: &str, category: &str) -> i64 {
    let form_page = browser.get("/portal/acme/requests/new").await;
    let category = option_value(&form_page.body, category);
    let form = multipart::Form::new()
        .text("csrf", form_page.csrf())
        .text("subject", subject.to_owned())
        .text("description", description.to_owned())
        .text("category", category)
        .text("priority", "high");
    let response = browser
        .client
        .post(format!("{}/portal/acme/requests", browser.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    location.rsplit('/').next().unwrap().parse().unwrap()
}

/// Posts `fields` with a token from `page` to `action` and expects a redirect.
async fn submit_ok(browser: &Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
    let answer = browser.submit(page, action, fields).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "{action}: {}",
        answer.body
    );
    answer
}

async fn a_portal_request_is_answered_from_the_queue(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let subject = "Pallet jack leaks hydraulic oil";
    let portal = contact(&app, "acme", "demo@acme.example").await;
    let number = raise(
        &portal,
        subject,
        "The PJ-25 leaves a puddle overnight.",
        "Technical support",
    )
    .await;

    let console = app.admin("admin@acme.example").await;
    let queue = console.get("/admin/orgs/acme/requests").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains(subject), "{}", queue.body);
    assert!(
        queue
            .body
            .contains(&format!("/admin/orgs/acme/requests/{number}"))
    );
    let filtered = |query: &str| {
        let console = &console;
        let path = format!("/admin/orgs/acme/requests?{query}");
        async move { console.get(&path).await.body.contains(subject) }
    };
    assert!(
        filtered("assignee=none").await,
        "new requests are unassigned"
    );
    assert!(filtered("status=open&priority=high&q=hydraulic+PUDDLE").await);
    assert!(!filtered("status=closed").await);
    assert!(!filtered("priority=low").await);
    assert!(!filtered("q=forklift").await);
    let support = category_id(&app, org_id(&app, "acme").await, "Technical support").await;
    assert!(filtered(&format!("category={support}")).await);

    let path = format!("/admin/orgs/acme/requests/{number}");
    let page = console.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("The PJ-25 leaves a puddle overnight."));
    let deliveries_before = app.deliveries("acme").await.len();

    let reply = "Please tighten the release valve a quarter turn.";
    let note = "Third leaking PJ-25 this month; ask the supplier.";
    submit_ok(
        &console,
        &path,
        &format!("{path}/reply"),
        &[("body", reply)],
    )
    .await;
    submit_ok(&console, &path, &format!("{path}/note"), &[("body", note)]).await;
    let staff = app.admin_id("admin@acme.example").await.to_string();
    submit_ok(
        &console,
        &path,
        &format!("{path}/assign"),
        &[("assignee", &staff)],
    )
    .await;
    assert!(filtered(&format!("assignee={staff}")).await);
    assert!(!filtered("assignee=none").await);

    let page = console.get(&path).await;
    assert!(page.body.contains(reply));
    assert!(page.body.contains(note));
    assert!(
        page.body
            .contains("internal note, not shown to the contact")
    );
    assert!(
        page.body.contains("Waiting for you"),
        "a reply waits for the contact"
    );
    assert!(
        app.deliveries("acme").await.len() > deliveries_before,
        "the contact is emailed about the reply"
    );

    let thread = portal.get(&format!("/portal/acme/requests/{number}")).await;
    assert!(thread.body.contains(reply), "{}", thread.body);
    assert!(!thread.body.contains(note), "internal notes stay internal");
    assert!(!thread.body.contains("supplier"));

    submit_ok(
        &console,
        &path,
        &format!("{path}/status"),
        &[("status", "resolved")],
    )
    .await;
    assert!(filtered("status=resolved").await);
    let thread = portal.get(&format!("/portal/acme/requests/{number}")).await;
    assert!(thread.body.contains("status-resolved"));

    // Refusals are shown next to their fields, and change nothing.
    let empty = console
        .submit(&path, &format!("{path}/reply"), &[("body", "   ")])
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.body.contains("id=\"reply-body-error\""),
        "{}",
        empty.body
    );
    let outsider = app.admin_id("admin@globex.example").await.to_string();
    let foreign = console
        .submit(&path, &format!("{path}/assign"), &[("assignee", &outsider)])
        .await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(foreign.body.contains("id=\"assignee-error\""));
    let bad_status = console
        .submit(&path, &format!("{path}/status"), &[("status", "lost")])
        .await;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_status.body.contains("id=\"status-error\""));
    let acme = org_id(&app, "acme").await;
    let request = app
        .app
        .db
        .run(move |conn| store::find_request(conn, &acme, number))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.status, RequestStatus::Resolved);
    assert_eq!(request.assignee_id.map(|id| id.to_string()), Some(staff));

    let kinds: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    for kind in [
        "request.assigned",
        "request.answered",
        "request.status_changed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

/// How many replies, categories and solutions globex has, to see that nothing changed.
async fn globex_counts(app: &TestApp) -> (usize, usize, usize, RequestStatus) {
    let globex = org_id(app, "globex").await;
    app.app
        .db
        .run(move |conn| {
            let request = store::find_request(conn, &globex, 1001)?.unwrap();
            let replies = store::replies(conn, &globex, &request.id, true)?.len();
            let categories = store::categories(conn, &globex)?.len();
            let solutions = solutions::all(conn, &globex)?.len();
            Ok((replies, categories, solutions, request.status))
        })
        .await
        .unwrap()
}

async fn an_admin_of_another_organization_reaches_none_of_its_requests_categories_or_solutions(
    backend: Backend,
) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let globex = org_id(&app, "globex").await;
    let (category, solution) = app
        .app
        .db
        .run(move |conn| {
            let category = store::categories(conn, &globex)?[0].id;
            let solution = solutions::all(conn, &globex)?[0].id;
            Ok((category, solution))
        })
        .await
        .unwrap();
    let before = globex_counts(&app).await;

    let console = app.admin("admin@acme.example").await;
    let pages = [
        "/admin/orgs/globex/requests".to_owned(),
        "/admin/orgs/globex/requests/1001".to_owned(),
        "/admin/orgs/globex/categories".to_owned(),
        format!("/admin/orgs/globex/categories/{category}"),
        "/admin/orgs/globex/solutions".to_owned(),
        "/admin/orgs/globex/solutions/new".to_owned(),
        format!("/admin/orgs/globex/solutions/{solution}"),
    ];
    for path in &pages {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("Globex"), "{path}");
        assert!(!page.body.contains("globex.example"), "{path}");
    }
    // Acme's own request 1001 is not globex's: the number alone reaches nothing.
    assert_eq!(
        console.get("/admin/orgs/acme/requests/1001").await.status,
        StatusCode::OK
    );

    let csrf = console.get("/admin/orgs/acme/requests").await.csrf();
    let staff = app.admin_id("admin@acme.example").await.to_string();
    let posts: [(String, Vec<(&str, &str)>); 8] = [
        (
            "/admin/orgs/globex/requests/1001/reply".to_owned(),
            vec![("body", "Hello from acme")],
        ),
        (
            "/admin/orgs/globex/requests/1001/note".to_owned(),
            vec![("body", "Hello from acme")],
        ),
        (
            "/admin/orgs/globex/requests/1001/assign".to_owned(),
            vec![("assignee", &staff)],
        ),
        (
            "/admin/orgs/globex/requests/1001/status".to_owned(),
            vec![("status", "closed")],
        ),
        (
            "/admin/orgs/globex/categories".to_owned(),
            vec![("name", "Hijacked"), ("active", "on")],
        ),
        (
            format!("/admin/orgs/globex/categories/{category}"),
            vec![("name", "Hijacked"), ("position", "1")],
        ),
        (
            "/admin/orgs/globex/solutions/new".to_owned(),
            vec![
                ("topic", "Hijacked"),
                ("title", "Hijacked article"),
                ("body", "Nope"),
                ("status", "published"),
            ],
        ),
        (
            format!("/admin/orgs/globex/solutions/{solution}"),
            vec![
                ("topic", "Hijacked"),
                ("title", "Hijacked article"),
                ("body", "Nope"),
                ("status", "draft"),
            ],
        ),
    ];
    for (path, fields) in &posts {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let answer = console.post_form(path, &all).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!answer.body.contains("Globex"), "{path}");
    }
    assert_eq!(
        globex_counts(&app).await,
        before,
        "nothing of globex changed"
    );
    let names: Vec<String> = app
        .app
        .db
        .run(move |conn| {
            let categories = store::categories(conn, &globex)?;
            let solutions = solutions::all(conn, &globex)?;
            Ok(categories
                .into_iter()
                .map(|c| c.name)
                .chain(solutions.into_iter().map(|s| s.title))
                .collect())
        })
        .await
        .unwrap();
    assert!(!names.iter().any(|n| n.contains("Hijacked")), "{names:?}");
}

async fn an_inactive_category_is_no_longer_offered_but_stays_on_old_requests(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let console = app.admin("admin@acme.example").await;
    let list = "/admin/orgs/acme/categories";
    let page = console.get(list).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Technical support"));

    // Refusals come back next to their fields.
    let blank = console
        .submit(list, list, &[("name", "  "), ("position", "3")])
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.body.contains("id=\"name-error\""), "{}", blank.body);
    let position = console
        .submit(
            list,
            list,
            &[("name", "Certificates"), ("position", "first")],
        )
        .await;
    assert_eq!(position.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(position.body.contains("id=\"position-error\""));
    assert!(
        position.body.contains("value=\"Certificates\""),
        "typed text is kept"
    );
    let duplicate = console
        .submit(
            list,
            list,
            &[("name", "Technical support"), ("active", "on")],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(duplicate.body.contains("id=\"name-error\""));

    submit_ok(
        &console,
        list,
        list,
        &[
            ("name", "Certificates"),
            ("description", "Calibration certificates."),
            ("active", "on"),
            ("position", "9"),
        ],
    )
    .await;
    let portal = contact(&app, "acme", "demo@acme.example").await;
    let offered = portal.get("/portal/acme/requests/new").await;
    assert!(offered.body.contains(">Certificates<"));
    let number = raise(
        &portal,
        "Certificate for gauge G-7 is missing",
        "The box came without its certificate.",
        "Certificates",
    )
    .await;

    let id = category_id(&app, org_id(&app, "acme").await, "Certificates").await;
    let edit = format!("{list}/{id}");
    let page = console.get(&edit).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Calibration certificates."));
    submit_ok(
        &console,
        &edit,
        &edit,
        &[
            ("name", "Certificates"),
            ("description", "Calibration certificates."),
            ("position", "9"),
        ],
    )
    .await;
    let offered = portal.get("/portal/acme/requests/new").await;
    assert!(
        !offered.body.contains(">Certificates<"),
        "inactive: not offered"
    );
    assert!(console.get(list).await.body.contains("inactive"));

    let old = console
        .get(&format!("/admin/orgs/acme/requests/{number}"))
        .await;
    assert!(old.body.contains("Certificates (inactive)"), "{}", old.body);
    let thread = portal.get(&format!("/portal/acme/requests/{number}")).await;
    assert!(
        thread.body.contains("Certificates"),
        "the old request keeps it"
    );
    let kinds: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    assert!(kinds.iter().any(|k| k == "category.created"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "category.updated"), "{kinds:?}");
}

async fn solutions_are_previewed_and_published_safely(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let console = app.admin("admin@acme.example").await;
    let list = console.get("/admin/orgs/acme/solutions").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("How to download a past invoice"));

    let new = "/admin/orgs/acme/solutions/new";
    let title = "Bleeding a hydraulic pallet jack";
    let body = "Open the **bleed valve**.\n\n<script>alert('owned')</script>\n\n\
                [Click here](javascript:alert(1)) or [the manual](https://acme.example/pj25)";
    let fields = |status: &'static str, intent: &'static str| {
        vec![
            ("topic", "Technical support"),
            ("title", title),
            ("body", body),
            ("status", status),
            ("intent", intent),
        ]
    };
    let preview = console.submit(new, new, &fields("draft", "preview")).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(
        preview.body.contains("<strong>bleed valve</strong>"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("href=\"https://acme.example/pj25\""));
    assert!(!preview.body.contains("<script>alert"), "{}", preview.body);
    assert!(!preview.body.to_lowercase().contains("href=\"javascript"));
    assert!(preview.body.contains("Click here"));
    let acme = org_id(&app, "acme").await;
    let stored = |title: &'static str| {
        let app = &app.app;
        async move {
            app.db
                .run(move |conn| {
                    Ok(solutions::all(conn, &acme)?
                        .into_iter()
                        .find(|s| s.title == title))
                })
                .await
                .unwrap()
        }
    };
    assert!(stored(title).await.is_none(), "a preview saves nothing");

    submit_ok(&console, new, new, &fields("draft", "save")).await;
    let saved = stored(title).await.unwrap();
    assert_eq!(saved.status, SolutionStatus::Draft);
    let list = console.get("/admin/orgs/acme/solutions").await;
    assert!(list.body.contains(title));
    let portal = app.browser();
    let search = "/portal/acme/solutions?q=bleeding";
    assert!(
        !portal.get(search).await.body.contains(title),
        "drafts stay out"
    );

    let edit = format!("/admin/orgs/acme/solutions/{}", saved.id);
    let page = console.get(&edit).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>alert"));
    submit_ok(&console, &edit, &edit, &fields("published", "save")).await;
    assert_eq!(
        stored(title).await.unwrap().status,
        SolutionStatus::Published
    );
    let found = portal.get(search).await;
    assert!(found.body.contains(title), "{}", found.body);
    let article = portal
        .get(&format!("/portal/acme/solutions/{}", saved.id))
        .await;
    assert_eq!(article.status, StatusCode::OK);
    assert!(article.body.contains("<strong>bleed valve</strong>"));
    assert!(!article.body.contains("<script>alert"));
    assert!(!article.body.to_lowercase().contains("href=\"javascript"));

    let short = console
        .submit(
            &edit,
            &edit,
            &[
                ("topic", "Technical support"),
                ("title", "No"),
                ("body", body),
                ("status", "published"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("id=\"title-error\""));
    assert!(
        stored(title).await.is_some(),
        "a refused edit changes nothing"
    );
}

async fn console_forms_without_a_csrf_token_are_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let category = category_id(&app, acme, "Technical support").await;
    let solution = app
        .app
        .db
        .run(move |conn| Ok(solutions::all(conn, &acme)?[0].id))
        .await
        .unwrap();
    let console = app.admin("admin@acme.example").await;
    let staff = app.admin_id("admin@acme.example").await.to_string();
    let replies = || {
        let app = &app.app;
        async move {
            app.db
                .run(move |conn| {
                    let request = store::find_request(conn, &acme, 1001)?.unwrap();
                    Ok((
                        store::replies(conn, &acme, &request.id, true)?.len(),
                        request.status,
                        request.assignee_id,
                    ))
                })
                .await
                .unwrap()
        }
    };
    let before = replies().await;
    let posts: [(String, Vec<(&str, &str)>); 8] = [
        (
            "/admin/orgs/acme/requests/1001/reply".to_owned(),
            vec![("body", "Forged reply")],
        ),
        (
            "/admin/orgs/acme/requests/1001/note".to_owned(),
            vec![("body", "Forged note")],
        ),
        (
            "/admin/orgs/acme/requests/1001/assign".to_owned(),
            vec![("assignee", &staff)],
        ),
        (
            "/admin/orgs/acme/requests/1001/status".to_owned(),
            vec![("status", "closed")],
        ),
        (
            "/admin/orgs/acme/categories".to_owned(),
            vec![("name", "Forged"), ("active", "on")],
        ),
        (
            format!("/admin/orgs/acme/categories/{category}"),
            vec![("name", "Forged")],
        ),
        (
            "/admin/orgs/acme/solutions/new".to_owned(),
            vec![
                ("topic", "Forged"),
                ("title", "Forged article"),
                ("body", "Forged"),
                ("status", "published"),
            ],
        ),
        (
            format!("/admin/orgs/acme/solutions/{solution}"),
            vec![
                ("topic", "Forged"),
                ("title", "Forged article"),
                ("body", "Forged"),
                ("status", "draft"),
            ],
        ),
    ];
    for (path, fields) in &posts {
        let answer = console.post_form(path, fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.body.contains("This form has expired"), "{path}");
        let mut wrong = vec![("csrf", "bm90LWEtdG9rZW4")];
        wrong.extend_from_slice(fields);
        let answer = console.post_form(path, &wrong).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(replies().await, before, "request 1001 is unchanged");
    let names: Vec<String> = app
        .app
        .db
        .run(move |conn| {
            let categories = store::categories(conn, &acme)?;
            let solutions = solutions::all(conn, &acme)?;
            Ok(categories
                .into_iter()
                .map(|c| c.name)
                .chain(solutions.into_iter().map(|s| s.title))
                .collect())
        })
        .await
        .unwrap();
    assert!(!names.iter().any(|n| n.contains("Forged")), "{names:?}");
}
