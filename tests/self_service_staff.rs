//! What staff do with requests, categories and solutions, through the domain functions the
//! admin console will call, on SQLite and PostgreSQL, and what the contact sees of it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, DEMO_PASSWORD, TestApp};
use portico::{
    AppError,
    domain::{
        admin::AdminId,
        org::OrgId,
        requests::{self, CategoryDraft, RequestStatus},
        solutions::{self, SolutionDraft, SolutionStatus},
    },
    storage::{
        orgs,
        requests::{self as store, RequestFilter},
    },
};
use reqwest::StatusCode;

both_backends!(
    staff_assign_answer_note_and_resolve_a_request,
    staff_of_another_organization_are_refused,
    staff_keep_categories_and_the_contact_sees_the_change,
    staff_write_solutions_that_publish_into_search,
);

async fn org_id(app: &TestApp, slug: &str) -> OrgId {
    let slug = slug.to_owned();
    app.app
        .db
        .run(move |conn| Ok(orgs::find_by_slug(conn, &slug)?.unwrap().id))
        .await
        .unwrap()
}

async fn queue(app: &TestApp, org: OrgId, filter: RequestFilter) -> Vec<i64> {
    let staff = app.admin_id("admin@acme.example").await;
    let page = requests::queue(&app.app, &org, &staff, filter, 1, 100)
        .await
        .unwrap();
    page.requests.iter().map(|r| r.number).collect()
}

async fn staff_assign_answer_note_and_resolve_a_request(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let staff = app.admin_id("admin@acme.example").await;
    let platform = app.admin_id("admin@portico.example").await;

    let unassigned = queue(
        &app,
        acme,
        RequestFilter {
            assignee: Some(None),
            ..RequestFilter::default()
        },
    )
    .await;
    assert_eq!(
        unassigned.len(),
        8,
        "every fixture request starts unassigned"
    );

    requests::assign(&app.app, &acme, &staff, 1001, Some(staff))
        .await
        .unwrap();
    requests::assign(&app.app, &acme, &platform, 1002, Some(platform))
        .await
        .unwrap();
    let mine = queue(
        &app,
        acme,
        RequestFilter {
            assignee: Some(Some(staff)),
            ..RequestFilter::default()
        },
    )
    .await;
    assert_eq!(mine, vec![1001]);
    let open_unassigned = queue(
        &app,
        acme,
        RequestFilter {
            status: Some(RequestStatus::Open),
            assignee: Some(None),
            ..RequestFilter::default()
        },
    )
    .await;
    assert_eq!(open_unassigned, vec![1005], "Okafor's open request");

    requests::staff_reply(
        &app.app,
        &acme,
        &staff,
        1001,
        "The corrected invoice 2026-0412-C is on its way.".to_owned(),
        None,
    )
    .await
    .unwrap();
    requests::add_internal_note(
        &app.app,
        &acme,
        &staff,
        1001,
        "Accounts blamed the merger import; do not mention it.".to_owned(),
    )
    .await
    .unwrap();

    let browser = app.browser();
    browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let page = browser.get("/portal/acme/requests/1001").await;
    assert!(
        page.body
            .contains("The corrected invoice 2026-0412-C is on its way.")
    );
    assert!(
        page.body.contains("Waiting for you"),
        "a staff reply waits for the contact"
    );
    assert!(
        !page.body.contains("merger import"),
        "internal notes stay internal"
    );

    // The contact's answer hands it back to staff.
    let csrf = page.csrf();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("body", "Received, thank you.");
    let answer = browser
        .client
        .post(format!(
            "{}/portal/acme/requests/1001/replies",
            browser.base
        ))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(
        browser
            .get("/portal/acme/requests/1001")
            .await
            .body
            .contains("status-open")
    );

    requests::change_status(&app.app, &acme, &staff, 1001, RequestStatus::Resolved)
        .await
        .unwrap();
    let page = browser.get("/portal/acme/requests/1001").await;
    assert!(page.body.contains("status-resolved"));
    let thread = requests::staff_view(&app.app, &acme, &staff, 1001)
        .await
        .unwrap()
        .replies;
    assert_eq!(
        thread.iter().filter(|r| r.internal).count(),
        1,
        "staff still see the note"
    );

    assert!(matches!(
        requests::change_status(&app.app, &acme, &staff, 424242, RequestStatus::Closed).await,
        Err(AppError::NotFound)
    ));
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

async fn staff_of_another_organization_are_refused(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let outsider = app.admin_id("admin@umbrella.example").await;
    let staff = app.admin_id("admin@acme.example").await;

    assert!(matches!(
        requests::queue(&app.app, &acme, &outsider, RequestFilter::default(), 1, 20).await,
        Err(AppError::Forbidden)
    ));
    assert!(matches!(
        requests::staff_view(&app.app, &acme, &outsider, 1001).await,
        Err(AppError::Forbidden)
    ));
    let refused = [
        requests::assign(&app.app, &acme, &outsider, 1001, Some(outsider)).await,
        requests::staff_reply(&app.app, &acme, &outsider, 1001, "hi".to_owned(), None).await,
        requests::add_internal_note(&app.app, &acme, &outsider, 1001, "x".to_owned()).await,
        requests::change_status(&app.app, &acme, &outsider, 1001, RequestStatus::Closed).await,
        requests::assign(&app.app, &acme, &AdminId::new(), 1001, None).await,
    ];
    for outcome in refused {
        assert!(matches!(outcome, Err(AppError::Forbidden)), "{outcome:?}");
    }
    let draft = CategoryDraft {
        name: "Sneaky".to_owned(),
        description: String::new(),
        active: true,
        position: 9,
    };
    assert!(matches!(
        requests::create_category(&app.app, &acme, &outsider, draft).await,
        Err(AppError::Forbidden)
    ));

    // Assigning to an admin of another organization is refused by its field.
    let Err(AppError::Invalid { field, .. }) =
        requests::assign(&app.app, &acme, &staff, 1001, Some(outsider)).await
    else {
        panic!("an outsider cannot be assignee");
    };
    assert_eq!(field, Some("assignee"));
    let request = app
        .app
        .db
        .run(move |conn| store::find_request(conn, &acme, 1001))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.status, RequestStatus::Open, "nothing changed");
    assert_eq!(request.assignee_id, None);
}

async fn staff_keep_categories_and_the_contact_sees_the_change(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let staff = app.admin_id("admin@acme.example").await;
    let draft = |name: &str, active: bool| CategoryDraft {
        name: name.to_owned(),
        description: "Calibration certificates and test reports.".to_owned(),
        active,
        position: 7,
    };
    let id = requests::create_category(&app.app, &acme, &staff, draft("Certificates", true))
        .await
        .unwrap();
    let Err(AppError::Invalid { field, .. }) =
        requests::create_category(&app.app, &acme, &staff, draft("Certificates", true)).await
    else {
        panic!("a duplicate name must be refused");
    };
    assert_eq!(field, Some("name"));
    assert!(
        requests::create_category(&app.app, &acme, &staff, draft("   ", true))
            .await
            .is_err()
    );

    let browser = app.browser();
    browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert!(
        browser
            .get("/portal/acme/requests/new")
            .await
            .body
            .contains(">Certificates<")
    );

    requests::update_category(&app.app, &acme, &staff, &id, draft("Certificates", false))
        .await
        .unwrap();
    assert!(
        !browser
            .get("/portal/acme/requests/new")
            .await
            .body
            .contains(">Certificates<")
    );
    let umbrella = org_id(&app, "umbrella").await;
    let umbrella_staff = app.admin_id("admin@umbrella.example").await;
    assert!(matches!(
        requests::update_category(
            &app.app,
            &umbrella,
            &umbrella_staff,
            &id,
            draft("Mine", true)
        )
        .await,
        Err(AppError::NotFound)
    ));
}

async fn staff_write_solutions_that_publish_into_search(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let staff = app.admin_id("admin@acme.example").await;
    let mut draft = SolutionDraft {
        topic: "Technical support".to_owned(),
        title: "Servicing a pneumatic nailer".to_owned(),
        body: "Oil the **nailer** with three drops before each shift.".to_owned(),
        status: SolutionStatus::Draft,
    };
    let id = solutions::create(&app.app, &acme, &staff, draft.clone())
        .await
        .unwrap();
    assert!(
        solutions::search(&app.app, &acme, "pneumatic", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let browser = app.browser();
    let url = format!("/portal/acme/solutions/{id}");
    assert_eq!(
        browser.get(&url).await.status,
        StatusCode::NOT_FOUND,
        "drafts are hidden"
    );

    draft.status = SolutionStatus::Published;
    draft.title = "Servicing a pneumatic framing nailer".to_owned();
    solutions::update(&app.app, &acme, &staff, &id, draft.clone())
        .await
        .unwrap();
    let found = solutions::search(&app.app, &acme, "framing", 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<strong>nailer</strong>"));

    let duplicate = SolutionDraft {
        title: "How to download a past invoice".to_owned(),
        ..draft.clone()
    };
    let Err(AppError::Invalid { field, .. }) =
        solutions::create(&app.app, &acme, &staff, duplicate).await
    else {
        panic!("a duplicate title must be refused");
    };
    assert_eq!(field, Some("title"));
    let outsider = app.admin_id("admin@umbrella.example").await;
    assert!(matches!(
        solutions::update(&app.app, &acme, &outsider, &id, draft).await,
        Err(AppError::Forbidden)
    ));
}
