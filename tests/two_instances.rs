//! Two Portico instances on one PostgreSQL database, as behind a load balancer: a code made
//! through one is proven through the other, limits and lockouts add up across both, and
//! valid logins arriving at both at once are never refused, and what one publishes reaches
//! the other's pages within the moment an instance keeps a portal in memory. SQLite serves one
//! instance, so these run on PostgreSQL only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, DEMO_PASSWORD, TestApp, smtp::SmtpReceiver};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Two instances on one fresh PostgreSQL database, with the demo loaded and email going to
/// `smtp`; `None` when PostgreSQL is not configured.
async fn pair(
    smtp: &SmtpReceiver,
    adjust: impl FnOnce(&mut portico::Config),
) -> Option<(TestApp, TestApp)> {
    let url = smtp.url();
    let first = TestApp::demo_with(Backend::Postgres, move |config| {
        config.smtp_url = Some(url.into());
        adjust(config);
    })
    .await?;
    let second = first.another_instance().await;
    Some((first, second))
}

/// POSTs JSON to the API of `app`; returns the status and body.
async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1{path}", app.base))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/api/v1{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn password(app: &TestApp, identifier: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({ "identifier": identifier, "password": password });
    post(app, "/portals/acme/login/password", None, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_requested_through_one_instance_is_proven_through_the_other() {
    let smtp = SmtpReceiver::start().await;
    let Some((a, b)) = pair(&smtp, |_| {}).await else {
        return;
    };
    let (status, asked) = post(
        &a,
        "/portals/globex/login/otp",
        None,
        json!({ "identifier": "demo@globex.example" }),
    )
    .await;
    assert!(status.is_success(), "{status} {asked}");
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let login_id = asked["login_id"].as_str().unwrap();
    let (status, proven) = post(
        &b,
        "/portals/globex/login/otp/verify",
        None,
        json!({ "login_id": login_id, "code": code }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{proven}");
    let token = proven["token"].as_str().unwrap();
    assert_eq!(get(&a, "/me", token).await, StatusCode::OK);
    assert_eq!(get(&b, "/me", token).await, StatusCode::OK);

    let (status, _) = post(
        &a,
        "/portals/globex/login/otp/verify",
        None,
        json!({ "login_id": login_id, "code": code }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "used once, on either instance"
    );

    let browser = a.browser();
    let page = browser
        .request_code("globex", "c.mendoza@globex.example")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let code = smtp.wait_for("c.mendoza@globex.example", 1).await.code();
    let across = common::Browser {
        client: browser.client.clone(),
        base: b.base.clone(),
    };
    let answer = across.enter_code("globex", &page, &code).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the page's form works on B"
    );
    assert!(across.get("/portal/globex/").await.is_logged_in());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_guesses_and_password_failures_add_up_across_instances() {
    let smtp = SmtpReceiver::start().await;
    let Some((a, b)) = pair(&smtp, |_| {}).await else {
        return;
    };
    let (_, asked) = post(
        &a,
        "/portals/globex/login/otp",
        None,
        json!({ "identifier": "demo@globex.example" }),
    )
    .await;
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let login_id = asked["login_id"].as_str().unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for app in [&a, &b, &a] {
        let (status, _) = post(
            app,
            "/portals/globex/login/otp/verify",
            None,
            json!({ "login_id": login_id, "code": wrong }),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = post(
        &b,
        "/portals/globex/login/otp/verify",
        None,
        json!({ "login_id": login_id, "code": code }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "three wrong guesses over two instances killed the code"
    );

    for round in 0..10 {
        let app = if round % 2 == 0 { &a } else { &b };
        let (status, _) = password(app, "demo@acme.example", "wrong password here").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for app in [&a, &b] {
        let (status, _) = password(app, "demo@acme.example", DEMO_PASSWORD).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "ten failures, five on each instance, lock the contact out of both"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_request_limits_add_up_across_instances() {
    let smtp = SmtpReceiver::start().await;
    let Some((a, b)) = pair(&smtp, |config| {
        config.limits.code_requests_per_ip_per_hour = 4;
    })
    .await
    else {
        return;
    };
    for (n, app) in [&a, &b, &a, &b].into_iter().enumerate() {
        let (status, body) = post(
            app,
            "/portals/globex/login/otp",
            None,
            json!({ "identifier": format!("visitor{n}@elsewhere.example") }),
        )
        .await;
        assert!(status.is_success(), "request {n}: {status} {body}");
    }
    for app in [&a, &b] {
        let (status, body) = post(
            app,
            "/portals/globex/login/otp",
            None,
            json!({ "identifier": "demo@globex.example" }),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(body["retry_after_seconds"].as_u64().unwrap() > 0);
    }

    let (status, _) = post(
        &a,
        "/portals/initech/login/otp",
        None,
        json!({ "identifier": "demo@initech.example" }),
    )
    .await;
    assert!(
        status.is_success(),
        "the limit is per organization: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_valid_logins_on_both_instances_are_never_refused() {
    let smtp = SmtpReceiver::start().await;
    let Some((a, b)) = pair(&smtp, |_| {}).await else {
        return;
    };
    let mut logins = tokio::task::JoinSet::new();
    for n in 0..24 {
        let base = if n % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let identifier = if n % 3 == 0 {
            "pat@shared.example"
        } else {
            "demo@acme.example"
        };
        logins.spawn(async move {
            let answer = reqwest::Client::new()
                .post(format!("{base}/api/v1/portals/acme/login/password"))
                .json(&json!({ "identifier": identifier, "password": DEMO_PASSWORD }))
                .send()
                .await
                .unwrap();
            answer.status()
        });
    }
    let mut refused = 0;
    while let Some(status) = logins.join_next().await {
        if status.unwrap() != StatusCode::OK {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 0,
        "of 24 concurrent right passwords over two instances"
    );
}

/// Each instance keeps a portal's latest solutions in memory for a moment: a solution published
/// through one instance is on the other's home page within that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solution_published_through_one_instance_reaches_the_others_home_page() {
    use portico::{
        domain::solutions::{self, SolutionDraft, SolutionStatus},
        storage::orgs::{self, PORTAL_CACHE_SECS},
    };
    let smtp = SmtpReceiver::start().await;
    let Some((first, second)) = pair(&smtp, |_| {}).await else {
        return;
    };
    let browser = second.browser();
    browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let title = "Replacing a worn chuck key";
    assert!(!browser.get("/portal/acme/").await.body.contains(title));

    let org = first
        .app
        .db
        .run(|conn| Ok(orgs::find_by_slug(conn, "acme")?.unwrap().id))
        .await
        .unwrap();
    let staff = first.admin_id("admin@acme.example").await;
    let draft = SolutionDraft {
        topic: "Tools".to_owned(),
        title: title.to_owned(),
        body: "Order the key by the chuck's size.".to_owned(),
        status: SolutionStatus::Published,
    };
    solutions::create(&first.app, &org, &staff, draft)
        .await
        .unwrap();
    let published = std::time::Instant::now();
    let deadline = std::time::Duration::from_secs(PORTAL_CACHE_SECS + 1);
    loop {
        if browser.get("/portal/acme/").await.body.contains(title) {
            break;
        }
        assert!(
            published.elapsed() < deadline,
            "the other instance still lists the solutions it read before"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
