//! The knowledge base in the portal, on SQLite and PostgreSQL: browsing, full-text search with
//! the same results on both, safe Markdown, suggestions, and who may read it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, DEMO_PASSWORD, TestApp};
use portico::{
    domain::{
        org::OrgId,
        solutions::{self, SolutionDraft, SolutionId, SolutionStatus},
    },
    storage::orgs,
};
use reqwest::StatusCode;

both_backends!(
    each_portal_shows_only_its_own_published_solutions,
    search_matches_prefixes_and_ranks_titles_first,
    search_syntax_of_either_engine_is_plain_words,
    markdown_with_script_raw_html_or_javascript_links_is_made_safe,
    anonymous_visitors_read_solutions_only_when_allowed,
    suggestions_answer_while_a_subject_is_typed,
    the_home_page_follows_publishing_and_withdrawing_at_once,
);

async fn org_id(app: &TestApp, slug: &str) -> OrgId {
    let slug = slug.to_owned();
    app.app
        .db
        .run(move |conn| Ok(orgs::find_by_slug(conn, &slug)?.unwrap().id))
        .await
        .unwrap()
}

async fn publish(app: &TestApp, slug: &str, title: &str, body: &str) -> SolutionId {
    let org = org_id(app, slug).await;
    let staff = app.admin_id(&format!("admin@{slug}.example")).await;
    let draft = SolutionDraft {
        topic: "Testing".to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        status: SolutionStatus::Published,
    };
    solutions::create(&app.app, &org, &staff, draft)
        .await
        .unwrap()
}

async fn titles(app: &TestApp, slug: &str, query: &str) -> Vec<String> {
    let org = org_id(app, slug).await;
    solutions::search(&app.app, &org, query, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.title)
        .collect()
}

async fn each_portal_shows_only_its_own_published_solutions(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    for email in ["demo@acme.example", "demo@umbrella.example"] {
        let slug = email
            .trim_end_matches(".example")
            .rsplit('@')
            .next()
            .unwrap();
        browser.password_login(slug, email, DEMO_PASSWORD).await;
    }
    let acme = browser.get("/portal/acme/solutions").await;
    assert_eq!(acme.status, StatusCode::OK);
    assert!(acme.body.contains("How to download a past invoice"));
    assert!(
        acme.body.contains("Warranty and repairs"),
        "grouped by topic"
    );
    assert!(
        !acme
            .body
            .contains("Choosing a drill bit for stainless steel"),
        "a draft"
    );
    assert!(
        !acme.body.contains("Reading your Explanation of Benefits"),
        "umbrella's"
    );

    let umbrella = browser.get("/portal/umbrella/solutions").await;
    assert!(
        umbrella
            .body
            .contains("Reading your Explanation of Benefits")
    );
    assert!(
        !umbrella.body.contains("Changing how you pay your premium"),
        "a draft"
    );
    assert!(
        !umbrella.body.contains("How to download a past invoice"),
        "acme's"
    );

    // Searching one portal never finds another's solutions, and their ids are not found.
    let crossed = browser
        .get("/portal/umbrella/solutions?q=invoice%20download")
        .await;
    assert!(
        crossed.body.contains("No solution matches"),
        "{}",
        crossed.body
    );
    let start = acme.body.find("/portal/acme/solutions/").unwrap();
    let end = start + acme.body[start..].find('"').unwrap();
    let acme_article = &acme.body[start..end];
    assert_eq!(browser.get(acme_article).await.status, StatusCode::OK);
    let foreign = acme_article.replace("/portal/acme/", "/portal/umbrella/");
    assert_eq!(browser.get(&foreign).await.status, StatusCode::NOT_FOUND);
    for junk in [
        "not-a-uuid",
        "1%20OR%201=1",
        "00000000-0000-0000-0000-000000000000",
    ] {
        let answer = browser.get(&format!("/portal/acme/solutions/{junk}")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{junk}");
    }
}

async fn search_matches_prefixes_and_ranks_titles_first(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    publish(
        &app,
        "acme",
        "Gearbox noise on the BX-200 lathe",
        "A whine at high speed usually means the oil is low.",
    )
    .await;
    publish(
        &app,
        "acme",
        "Lathe maintenance schedule",
        "Weekly: check the belt. Monthly: drain and refill the gearbox oil.",
    )
    .await;
    publish(
        &app,
        "acme",
        "Choosing cutting oil",
        "Any oil works; the gearbox is a separate matter.",
    )
    .await;

    // A title match outranks body matches; equal ranks go by title.
    let found = titles(&app, "acme", "gearbox").await;
    assert_eq!(found[0], "Gearbox noise on the BX-200 lathe", "{found:?}");
    // The warranty article's body speaks of "gearboxes": a prefix match.
    assert_eq!(found.len(), 4, "{found:?}");
    // Words match as prefixes, case aside, and every word must match.
    assert_eq!(titles(&app, "acme", "GEARB").await, found);
    assert_eq!(
        titles(&app, "acme", "gearbox whine").await,
        vec!["Gearbox noise on the BX-200 lathe"]
    );
    assert!(titles(&app, "acme", "gearbox zebra").await.is_empty());
    assert_eq!(
        titles(&app, "acme", "torque").await,
        vec!["Sending a torque wrench for recalibration"]
    );
    // Drafts are never found.
    assert!(titles(&app, "acme", "stainless").await.is_empty());

    let browser = app.browser();
    let page = browser.get("/portal/acme/solutions?q=gearbox").await;
    let first = page.body.find("Gearbox noise").unwrap();
    let second = page.body.find("Choosing cutting oil").unwrap();
    assert!(first < second, "the page keeps the ranking");
}

async fn search_syntax_of_either_engine_is_plain_words(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    publish(
        &app,
        "acme",
        "Words that look like operators",
        "Stand NEAR the press, OR behind the line; never - ever - reach in.",
    )
    .await;
    let hostile = [
        "\"",
        "\"invoice",
        "invoice\"",
        "*",
        "invoice*",
        "-",
        "-invoice",
        "NEAR",
        "NEAR(invoice past)",
        "invoice OR warranty",
        "invoice AND NOT warranty",
        "title:invoice",
        "{title body}: invoice",
        "^invoice",
        "invoice & !past | (x <-> y)",
        "'; DROP TABLE solutions; --",
        "' OR '1'='1",
        "\\",
        "%",
        "\u{0}",
        "()",
    ];
    let browser = app.browser();
    for query in hostile {
        let found = titles(&app, "acme", query).await;
        for title in &found {
            assert!(!title.is_empty(), "{query:?}");
        }
        let encoded = serde_urlencoded::to_string([("q", query)]).unwrap();
        let page = browser
            .get(&format!("/portal/acme/solutions?{encoded}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{query:?}");
        let suggest = browser
            .get(&format!("/portal/acme/solutions/suggest?{encoded}"))
            .await;
        assert_eq!(suggest.status, StatusCode::OK, "{query:?}");
    }
    assert_eq!(
        titles(&app, "acme", "\"invoice").await,
        titles(&app, "acme", "invoice").await,
        "an unbalanced quote is ignored"
    );
    assert_eq!(
        titles(&app, "acme", "NEAR OR").await,
        vec!["Words that look like operators"],
        "operators are plain words"
    );
    assert!(
        titles(&app, "acme", "-invoice").await.len() >= 2,
        "minus is no negation"
    );
    assert!(
        titles(&app, "acme", "past")
            .await
            .contains(&"How to download a past invoice".to_owned())
    );
    assert!(
        browser
            .get("/portal/acme/solutions")
            .await
            .body
            .contains("past invoice"),
        "the table is still there"
    );
}

async fn markdown_with_script_raw_html_or_javascript_links_is_made_safe(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let body = "Read **this** first.\n\n\
        <script>alert('block')</script>\n\n\
        Inline <img src=x onerror=alert(1)> and <a href=\"javascript:alert(2)\">raw link</a>.\n\n\
        [a markdown link](javascript:alert(3)) and [a data link](data:text/html,hi) \
        and <javascript:alert(4)> and [Mixed](JaVaScRiPt:alert(5))\n\n\
        ![tracker](https://evil.example/pixel.png)\n\n\
        [our manual](https://acme.example/manual) or [email us](mailto:help@acme.example)\n\n\
        <iframe src=\"https://evil.example\"></iframe>\n\n\
        <style>body{display:none}</style>";
    let id = publish(&app, "acme", "A hostile article", body).await;
    let page = app
        .browser()
        .get(&format!("/portal/acme/solutions/{id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let start = page.body.find("<div class=\"article-body\">").unwrap();
    let end = start + page.body[start..].find("</div>").unwrap();
    let article = page.body[start..end].to_ascii_lowercase();
    for banned in [
        "<script",
        "<img",
        "onerror",
        "<iframe",
        "<style",
        "href=\"javascript",
        "href=\"data",
        "src=",
    ] {
        assert!(!article.contains(banned), "{banned} in {article}");
    }
    assert!(article.contains("<strong>this</strong>"), "{article}");
    assert!(article.contains("<a href=\"https://acme.example/manual\">our manual</a>"));
    assert!(article.contains("<a href=\"mailto:help@acme.example\">email us</a>"));
    assert!(
        article.contains("a markdown link"),
        "the text of a dropped link stays"
    );
    assert!(article.contains("tracker"), "an image leaves its alt text");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

async fn anonymous_visitors_read_solutions_only_when_allowed(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let anonymous = app.browser();
    let open = anonymous.get("/portal/acme/solutions?q=warranty").await;
    assert_eq!(open.status, StatusCode::OK);
    assert!(open.body.contains("What the two-year tool warranty covers"));
    assert!(
        !open.body.contains("raise a request"),
        "no request link without a login"
    );

    let acme = org_id(&app, "acme").await;
    app.app
        .db
        .run(move |conn| {
            let mut policy = orgs::policy(conn, &acme)?;
            policy.anonymous_solutions = false;
            orgs::save_policy(conn, &acme, &policy)
        })
        .await
        .unwrap();
    let closed = anonymous.get("/portal/acme/solutions").await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    assert_eq!(closed.location(), "/portal/acme/login");
    let start = open.body.find("/portal/acme/solutions/").unwrap();
    let end = start + open.body[start..].find('"').unwrap();
    let article = anonymous.get(&open.body[start..end]).await;
    assert_eq!(article.status, StatusCode::SEE_OTHER);
    let suggest = anonymous
        .get("/portal/acme/solutions/suggest?q=warranty")
        .await;
    assert_eq!(suggest.status, StatusCode::UNAUTHORIZED);
    assert!(!suggest.body.contains("warranty"));

    let contact = app.browser();
    contact
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let page = contact.get("/portal/acme/solutions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("What the two-year tool warranty covers"));
}

async fn suggestions_answer_while_a_subject_is_typed(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let answer = browser
        .get("/portal/acme/solutions/suggest?q=torque%20wre")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let list = json["solutions"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{json}");
    assert_eq!(
        list[0]["title"],
        "Sending a torque wrench for recalibration"
    );
    assert!(
        list[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("/portal/acme/solutions/")
    );

    let empty = browser.get("/portal/acme/solutions/suggest?q=").await;
    assert_eq!(empty.body, "{\"solutions\":[]}");
    let script = browser.get("/static/suggest.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        !script.body.contains("innerHTML"),
        "suggestions are never parsed as HTML"
    );
}

/// The home page lists the latest solutions from memory: publishing one, or withdrawing it,
/// shows on the next visit all the same, and only in its own portal.
async fn the_home_page_follows_publishing_and_withdrawing_at_once(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    browser
        .password_login("umbrella", "demo@umbrella.example", DEMO_PASSWORD)
        .await;
    let title = "Resetting the torque limiter";
    for slug in ["acme", "umbrella"] {
        let home = browser.get(&format!("/portal/{slug}/")).await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(!home.body.contains(title), "{slug} before publishing");
    }

    let id = publish(&app, "acme", title, "Hold the collar and turn it back.").await;
    let acme = browser.get("/portal/acme/").await;
    assert!(acme.body.contains(title), "published: {}", acme.body);
    assert!(acme.body.contains(&format!("/portal/acme/solutions/{id}")));
    let umbrella = browser.get("/portal/umbrella/").await;
    assert!(!umbrella.body.contains(title), "another portal's solution");

    let org = org_id(&app, "acme").await;
    let staff = app.admin_id("admin@acme.example").await;
    let withdrawn = SolutionDraft {
        topic: "Testing".to_owned(),
        title: title.to_owned(),
        body: "Hold the collar and turn it back.".to_owned(),
        status: SolutionStatus::Draft,
    };
    solutions::update(&app.app, &org, &staff, &id, withdrawn)
        .await
        .unwrap();
    let acme = browser.get("/portal/acme/").await;
    assert!(!acme.body.contains(title), "withdrawn: {}", acme.body);
}
