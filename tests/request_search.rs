//! Searching requests, on SQLite and PostgreSQL: the search follows edits and deletions and
//! ignores replies, takes every word literally (wildcards, quotes, FTS5 operators, non-ASCII
//! letters), serves short words, mixed case and request numbers, stays inside one organization,
//! and pages its matches like any list.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, Browser, DEMO_PASSWORD, TestApp};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use portico::{
    domain::{
        contact::{ContactId, Identifier},
        org::OrgId,
        requests::{AuthorKind, Priority, RequestStatus},
    },
    storage::{
        accounts, orgs,
        requests::{self as store, NewReplyRow, NewRequestRow, RequestFilter},
        schema::requests,
    },
};
use reqwest::StatusCode;

both_backends!(
    a_search_follows_edits_and_deletions_and_ignores_replies,
    every_word_is_taken_literally,
    short_words_mixed_case_and_numbers_are_found,
    a_search_stays_inside_its_organization,
    searched_pages_count_right,
    requests_stored_before_the_search_index_are_found,
);

/// A demo contact of `slug`, who owns the requests [`Portal::raise`] stores.
struct Portal {
    slug: String,
    org_id: OrgId,
    contact_id: ContactId,
    browser: Browser,
}

impl Portal {
    async fn of(app: &TestApp, slug: &str) -> Self {
        let email = format!("demo@{slug}.example");
        let browser = app.browser();
        let answer = browser.password_login(slug, &email, DEMO_PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{email} logs in");
        let (slug_owned, identifier) = (slug.to_owned(), Identifier::parse(&email, "US").unwrap());
        let (org_id, contact_id) = app
            .app
            .db
            .run(move |conn| {
                let org_id = orgs::find_by_slug(conn, &slug_owned)?.unwrap().id;
                let contact = accounts::find_contact_by_identifier(conn, &org_id, &identifier)?;
                Ok((org_id, contact.unwrap().contact.id))
            })
            .await
            .unwrap();
        Self {
            slug: slug.to_owned(),
            org_id,
            contact_id,
            browser,
        }
    }

    /// The demo contact of `slug`, without the requests the fixtures gave them.
    async fn fresh(app: &TestApp, slug: &str) -> Self {
        let portal = Self::of(app, slug).await;
        let (org, contact) = (portal.org_id.to_string(), portal.contact_id.to_string());
        app.app
            .db
            .run(move |conn| {
                diesel::delete(
                    requests::table
                        .filter(requests::org_id.eq(&org))
                        .filter(requests::contact_id.eq(&contact)),
                )
                .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
        portal
    }

    /// Stores a request of the contact's and returns its number.
    async fn raise(&self, app: &TestApp, subject: &str, description: &str) -> i64 {
        let (org_id, contact_id) = (self.org_id, self.contact_id);
        let (subject, description) = (subject.to_owned(), description.to_owned());
        app.app
            .db
            .transaction(move |conn| {
                let category = store::categories(conn, &org_id)?.remove(0).id;
                let row = NewRequestRow {
                    contact_id: &contact_id,
                    category_id: &category,
                    subject: &subject,
                    description: &description,
                    priority: Priority::Medium,
                    status: RequestStatus::Open,
                    created_at: chrono::Utc::now().naive_utc(),
                };
                Ok(store::insert_request(conn, &org_id, &row)?.number)
            })
            .await
            .unwrap()
    }

    /// The contact's list searched for `q`: how many match, and the page.
    async fn search(&self, q: &str) -> (usize, String) {
        let query = serde_urlencoded::to_string([("q", q)]).unwrap();
        let page = self
            .browser
            .get(&format!("/portal/{}/requests?{query}", self.slug))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{q}: {}", page.body);
        (matches(&page.body, q), page.body)
    }

    /// How many of the contact's requests match `q`.
    async fn count(&self, q: &str) -> usize {
        self.search(q).await.0
    }
}

/// The number in the list's "N request(s) match" line.
fn matches(body: &str, q: &str) -> usize {
    let end = body
        .find(" request(s) match")
        .unwrap_or_else(|| panic!("{q}: no count in {body}"));
    let start = body[..end].rfind('>').unwrap() + 1;
    body[start..end].trim().parse().unwrap()
}

async fn a_search_follows_edits_and_deletions_and_ignores_replies(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = Portal::fresh(&app, "acme").await;
    let number = acme
        .raise(
            &app,
            "Conveyor belt squeaks",
            "Since Tuesday's maintenance visit",
        )
        .await;
    assert_eq!(acme.count("squeaks").await, 1);
    assert_eq!(acme.count("TUESDAY").await, 1, "the description counts");

    // A reply is not part of the request's text, and changes nothing in its search.
    let (org_id, request) = (acme.org_id, number);
    app.app
        .db
        .transaction(move |conn| {
            let found = store::find_request(conn, &org_id, request)?.unwrap();
            let reply = NewReplyRow {
                request_id: &found.id,
                author_kind: AuthorKind::Staff,
                author_id: None,
                body: "We replaced the gearbox",
                internal: false,
                created_at: chrono::Utc::now().naive_utc(),
            };
            store::insert_reply(conn, &org_id, &reply)?;
            let now = chrono::Utc::now().naive_utc();
            store::set_status(conn, &org_id, &found.id, RequestStatus::Resolved, now)
        })
        .await
        .unwrap();
    assert_eq!(acme.count("gearbox").await, 0, "replies are not searched");
    assert_eq!(acme.count("squeaks").await, 1);

    // The subject is edited: the old words no longer find it, the new ones do.
    let org = org_id.to_string();
    app.app
        .db
        .run(move |conn| {
            diesel::update(
                requests::table
                    .filter(requests::org_id.eq(&org))
                    .filter(requests::number.eq(request)),
            )
            .set(requests::subject.eq("Conveyor belt rattles"))
            .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(acme.count("squeaks").await, 0);
    assert_eq!(acme.count("rattles").await, 1);
    assert_eq!(acme.count("tuesday conveyor").await, 1);

    // Deleted, it is found no more; a request stored afterwards is found alone.
    let org = org_id.to_string();
    app.app
        .db
        .run(move |conn| {
            diesel::delete(
                requests::table
                    .filter(requests::org_id.eq(&org))
                    .filter(requests::number.eq(request)),
            )
            .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(acme.count("rattles").await, 0);
    acme.raise(&app, "Second conveyor rattles too", "Line 2")
        .await;
    let (found, page) = acme.search("rattles").await;
    assert_eq!(found, 1);
    assert!(page.contains("Second conveyor rattles too"));
}

async fn every_word_is_taken_literally(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = Portal::fresh(&app, "acme").await;
    let odd = "Refund 100% of \"Widget\" (blue) *urgent*";
    acme.raise(&app, odd, "NEAR the AND gate, order_7 in C:\\temp, ask Zoë")
        .await;
    acme.raise(&app, "Refund 100 of Widget blue", "order 7, nothing odd")
        .await;

    for (q, expected) in [
        ("100%", 1),
        ("%", 1),
        ("\"Widget\"", 1),
        ("\"", 1),
        ("(blue)", 1),
        ("(", 1),
        ("*urgent*", 1),
        ("NEAR", 1),
        ("widget AND blue", 1),
        ("r_7", 1),
        ("_7", 1),
        ("C:\\temp", 1),
        ("\\", 1),
        ("zoë", 1),
        ("Zoë", 1),
        ("refund widget", 2),
        ("-blue", 0),
        ("blue*", 0),
        ("^refund", 0),
        ("NEAR(refund widget)", 0),
        ("refund OR zebra", 0),
        ("\"unbalanced", 0),
        ("widget\"\"", 0),
        ("'; DROP TABLE requests; --", 0),
    ] {
        let (found, page) = acme.search(q).await;
        assert_eq!(found, expected, "{q}");
        if expected == 1 {
            assert!(page.contains("*urgent*"), "{q} finds the odd request");
        }
    }
    assert_eq!(acme.count("refund").await, 2, "the table is still there");
}

async fn short_words_mixed_case_and_numbers_are_found(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = Portal::fresh(&app, "acme").await;
    let number = acme
        .raise(&app, "Printer jams on A4 paper", "Tray two only")
        .await;
    for (q, expected) in [
        ("a4", 1),
        ("A4", 1),
        ("PRINTER", 1),
        ("pRiNtEr JAMS", 1),
        ("a4 jams", 1),
        ("jams a4 tray", 1),
        ("a4 zebra", 0),
        ("j", 1),
        ("jam", 1),
        ("ams", 1),
        ("xq", 0),
    ] {
        assert_eq!(acme.count(q).await, expected, "{q}");
    }

    // A request's number finds it, with or without its hash.
    for q in [number.to_string(), format!("#{number}")] {
        let (found, page) = acme.search(&q).await;
        assert_eq!(found, 1, "{q}");
        assert!(page.contains("Printer jams on A4 paper"), "{q}");
    }
    assert_eq!(acme.count("987654321").await, 0);
}

async fn a_search_stays_inside_its_organization(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = Portal::fresh(&app, "acme").await;
    let umbrella = Portal::fresh(&app, "umbrella").await;
    acme.raise(&app, "Forklift battery swelling (north)", "Bay 4")
        .await;
    umbrella
        .raise(&app, "Forklift battery swelling (south)", "Bay 4")
        .await;

    for q in ["forklift battery", "swelling ba", "bay 4", "4"] {
        let (found, page) = acme.search(q).await;
        assert_eq!(found, 1, "{q}");
        assert!(page.contains("(north)") && !page.contains("(south)"), "{q}");
        let (found, page) = umbrella.search(q).await;
        assert_eq!(found, 1, "{q}");
        assert!(page.contains("(south)") && !page.contains("(north)"), "{q}");
    }

    // The staff queue of one organization neither.
    let console = app.admin("admin@acme.example").await;
    let queue = console
        .get("/admin/orgs/acme/requests?q=forklift+battery")
        .await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains("(north)") && !queue.body.contains("(south)"));
    let (org_id, filter) = (
        umbrella.org_id,
        RequestFilter {
            text: Some("FORKLIFT swelling".to_owned()),
            ..RequestFilter::default()
        },
    );
    let found = app
        .app
        .db
        .run(move |conn| store::list(conn, &org_id, &filter, 1, 50))
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(
        found.requests[0].subject,
        "Forklift battery swelling (south)"
    );
}

async fn searched_pages_count_right(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = Portal::fresh(&app, "acme").await;
    let (org_id, contact_id) = (acme.org_id, acme.contact_id);
    app.app
        .db
        .transaction(move |conn| {
            let category = store::categories(conn, &org_id)?.remove(0).id;
            let start = chrono::Utc::now().naive_utc();
            for i in 0..55i64 {
                let subject = if i % 11 == 10 {
                    format!("Crate count {i:02}")
                } else {
                    format!("Pallet label {i:02}")
                };
                let row = NewRequestRow {
                    contact_id: &contact_id,
                    category_id: &category,
                    subject: &subject,
                    description: "Warehouse",
                    priority: Priority::Low,
                    status: if i % 2 == 0 {
                        RequestStatus::Open
                    } else {
                        RequestStatus::Closed
                    },
                    // Five share each timestamp: the order must still be total.
                    created_at: start + chrono::Duration::seconds(i / 5),
                };
                store::insert_request(conn, &org_id, &row)?;
            }
            Ok(())
        })
        .await
        .unwrap();

    // 50 pallet labels, 20 a page in the portal: 20, 20 and 10, newest first, none twice.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let body = acme
            .browser
            .get(&format!("/portal/acme/requests?q=pallet+LABEL&page={page}"))
            .await
            .body;
        assert!(
            body.contains(&format!("50 request(s) match · page {page} of 3")),
            "{body}"
        );
        let labels: Vec<String> = body
            .match_indices("Pallet label ")
            .map(|(at, _)| body[at..at + 15].to_owned())
            .collect();
        assert_eq!(labels.len(), if page == 3 { 10 } else { 20 }, "page {page}");
        seen.extend(labels);
    }
    assert_eq!(seen.first().unwrap(), "Pallet label 53");
    assert_eq!(seen.last().unwrap(), "Pallet label 00");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 50, "every match once");

    // Filters and words together, and a short word, in the staff queue's pages of 25.
    let filter = RequestFilter {
        contact_id: Some(contact_id),
        status: Some(RequestStatus::Open),
        text: Some("label wa".to_owned()),
        ..RequestFilter::default()
    };
    let pages = app
        .app
        .db
        .run(move |conn| {
            let first = store::list(conn, &org_id, &filter, 1, 20)?;
            let second = store::list(conn, &org_id, &filter, 2, 20)?;
            let beyond = store::list(conn, &org_id, &filter, 9, 20)?;
            let words_only = RequestFilter {
                text: Some("LABEL pallet".to_owned()),
                ..RequestFilter::default()
            };
            assert_eq!(store::list(conn, &org_id, &words_only, 3, 20)?.total, 50);
            Ok((first, second, beyond))
        })
        .await
        .unwrap();
    assert_eq!(pages.0.total, 25, "open pallet labels");
    assert_eq!(pages.0.requests.len(), 20);
    assert_eq!(pages.1.requests.len(), 5);
    assert!(pages.2.requests.is_empty());
    assert_eq!(pages.2.total, 25);
    let console = app.admin("admin@acme.example").await;
    let second = console
        .get("/admin/orgs/acme/requests?q=pallet&page=2")
        .await;
    assert_eq!(second.body.matches(">Pallet label ").count(), 25);
}

async fn requests_stored_before_the_search_index_are_found(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let acme = Portal::of(&app, "acme").await;
    acme.raise(&app, "Older request about a torque wrench", "")
        .await;
    let (down, up) = match backend {
        Backend::Sqlite => (
            include_str!("../migrations/sqlite/2026-12-04-000009_request_search/down.sql"),
            include_str!("../migrations/sqlite/2026-12-04-000009_request_search/up.sql"),
        ),
        Backend::Postgres => (
            include_str!("../migrations/postgres/2026-12-04-000009_request_search/down.sql"),
            include_str!("../migrations/postgres/2026-12-04-000009_request_search/up.sql"),
        ),
    };
    let org = acme.org_id.to_string();
    app.app
        .db
        .run(move |conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute(down)?;
            // Stored while the index is gone: the migration must bring it in.
            diesel::update(requests::table.filter(requests::org_id.eq(&org)))
                .filter(requests::subject.eq("Older request about a torque wrench"))
                .set(requests::description.eq("Calibrate the wrench"))
                .execute(conn)?;
            conn.batch_execute(up)?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(acme.count("torque").await, 1);
    assert_eq!(
        acme.count("calibrate").await,
        1,
        "its text as it was edited"
    );
    assert!(
        acme.count("bolts").await >= 1,
        "a fixture request is found again"
    );
}
