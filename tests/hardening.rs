//! What every answer carries and what every request is held to: security headers on pages,
//! the API, static files and errors; the body size and request time limits; the cookie flags;
//! and `/metrics`, who may read it and what it counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    Backend, DEMO_PASSWORD, TestApp,
    sms::{Mode, SmsReceiver},
    smtp::SmtpReceiver,
};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_backends!(
    every_answer_carries_the_security_headers,
    hsts_only_when_the_public_url_is_https,
    a_body_over_the_limit_is_refused_even_without_a_length,
    a_request_that_trickles_its_body_runs_out_of_time,
    a_connection_that_sends_nothing_is_closed,
    cookies_carry_the_flags_of_the_design,
    metrics_count_logins_codes_and_latency,
    metrics_answer_only_loopback_or_the_token,
    a_nul_in_a_search_or_filter_is_bad_input_not_a_fault,
    a_slug_no_portal_can_have_is_not_found_alike_everywhere,
);

/// PostgreSQL cannot hold a NUL in text: a search or filter carrying one is the client's
/// mistake, answered as such, never a 500.
async fn a_nul_in_a_search_or_filter_is_bad_input_not_a_fault(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let console = app.admin("admin@acme.example").await;
    for path in [
        "/admin/orgs/acme/contacts?q=%00",
        "/admin/orgs/acme/audit?kind=%00",
        "/portal/acme/solutions?q=a%00b",
    ] {
        let page = console.get(path).await;
        assert!(
            !page.status.is_server_error(),
            "{path}: {} {}",
            page.status,
            page.body
        );
    }
}

/// A portal slug with a NUL, capitals or other characters no slug may hold is simply not
/// found, on every backend, on the pages and the API alike.
async fn a_slug_no_portal_can_have_is_not_found_alike_everywhere(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    for slug in [
        "acme%00",
        "ACME",
        "acme%20",
        "ac%27me",
        "acme.",
        "%E2%80%AEacme",
    ] {
        for path in [
            format!("/portal/{slug}/"),
            format!("/portal/{slug}/login"),
            format!("/api/v1/portals/{slug}"),
        ] {
            let page = browser.get(&path).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        }
    }
    assert_eq!(
        browser.get("/portal/acme/login").await.status,
        StatusCode::OK
    );
}

/// Sends raw bytes to the server and reads what comes back within `wait`.
async fn raw(app: &TestApp, request: &[u8], wait: Duration) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn assert_secure_headers(what: &str, headers: &reqwest::header::HeaderMap) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_owned()
    };
    let csp = get("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    let scripts = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .unwrap_or_else(|| panic!("{what}: no script-src in {csp}"));
    assert!(
        !scripts.contains("unsafe-inline") && !scripts.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert!(!get("referrer-policy").is_empty(), "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
}

async fn every_answer_carries_the_security_headers(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paths = [
        ("/", StatusCode::OK),
        ("/portal/acme/login", StatusCode::OK),
        ("/portal/acme/requests", StatusCode::SEE_OTHER),
        ("/admin/login", StatusCode::OK),
        ("/static/portico.css", StatusCode::OK),
        ("/static/portico.js", StatusCode::OK),
        ("/portal/acme/theme.css", StatusCode::OK),
        ("/api/v1/openapi.json", StatusCode::OK),
        ("/api/v1/me", StatusCode::UNAUTHORIZED),
        ("/api/v1/no-such-route", StatusCode::NOT_FOUND),
        ("/no/such/page", StatusCode::NOT_FOUND),
        ("/portal/no-such-portal/", StatusCode::NOT_FOUND),
        ("/healthz", StatusCode::OK),
        ("/metrics", StatusCode::OK),
    ];
    for (path, status) in paths {
        let answer = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{path}");
        assert_secure_headers(path, answer.headers());
        assert!(
            answer.headers().get("strict-transport-security").is_none(),
            "{path}: no HSTS over a plain-http public URL"
        );
    }
    let posted = http
        .post(format!("{}/portal/acme/login", app.base))
        .form(&[("identifier", "x@y.example"), ("password", "p")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert_secure_headers("refused form", posted.headers());
}

async fn hsts_only_when_the_public_url_is_https(backend: Backend) {
    let Some(app) = TestApp::demo_with(backend, |config| {
        config.public_url = "https://help.portico.test".to_owned();
    })
    .await
    else {
        return;
    };
    for path in [
        "/",
        "/api/v1/openapi.json",
        "/static/portico.css",
        "/nowhere",
    ] {
        let answer = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
        let hsts = answer
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: no HSTS"));
        assert!(hsts.contains("max-age=31536000"), "{path}: {hsts}");
        assert_secure_headers(path, answer.headers());
    }
}

async fn a_body_over_the_limit_is_refused_even_without_a_length(backend: Backend) {
    let Some(app) = TestApp::demo_with(backend, |config| config.max_body_bytes = 4096).await else {
        return;
    };
    let mut request = b"POST /api/v1/portals/acme/login/password HTTP/1.1\r\nHost: x\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..8 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b' '; 0x400]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(&app, &request, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );

    let form = "POST /portal/acme/login HTTP/1.1\r\nHost: x\r\nContent-Type: \
        application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\nidentifier=";
    let answer = raw(&app, form.as_bytes(), Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-security-policy")
    );
}

async fn a_request_that_trickles_its_body_runs_out_of_time(backend: Backend) {
    let Some(app) = TestApp::demo_with(backend, |config| config.request_timeout_secs = 1).await
    else {
        return;
    };
    let started = Instant::now();
    let slow = b"POST /portal/acme/login HTTP/1.1\r\nHost: x\r\nContent-Type: \
        application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nidentifier=";
    let answer = raw(&app, slow, Duration::from_secs(10)).await;
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-security-policy"),
        "{answer}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "answered after {waited:?}, not about one second"
    );
    let normal = app.browser().get("/portal/acme/login").await;
    assert_eq!(normal.status, StatusCode::OK, "other requests go on");
}

async fn a_connection_that_sends_nothing_is_closed(backend: Backend) {
    let Some(app) = TestApp::demo_with(backend, |config| config.request_timeout_secs = 1).await
    else {
        return;
    };
    let addr = app.base.trim_start_matches("http://");
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buffer = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "the silent connection is still open: {closed:?}"
    );
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(12), "closed after {waited:?}");
    eprintln!("a silent connection was cut after {waited:?} (limit 1 s + 5 s)");
}

/// The `Set-Cookie` header of `name` in `page`, lowercased.
fn cookie<'a>(cookies: &'a [String], name: &str) -> &'a str {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

async fn cookies_carry_the_flags_of_the_design(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let login = browser.get("/portal/acme/login").await;
    let csrf = cookie(&login.set_cookies(), "portico_csrf").to_owned();
    assert!(
        csrf.contains("HttpOnly") && csrf.contains("Path=/"),
        "{csrf}"
    );
    assert!(!csrf.contains("Secure"), "plain http: {csrf}");
    let answer = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let session = cookie(&answer.set_cookies(), "portico_session_acme").to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(flag), "{flag}: {session}");
    }
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
    let cookies = entered.set_cookies();
    let console = cookies
        .iter()
        .find(|c| c.contains("SameSite=Strict"))
        .unwrap_or_else(|| panic!("the console's cookie is SameSite=Strict: {cookies:?}"));
    assert!(console.contains("HttpOnly"), "{console}");

    let Some(secure) = TestApp::demo_with(backend, |config| {
        config.public_url = "https://help.portico.test".to_owned();
    })
    .await
    else {
        return;
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = common::read(
        http.get(format!("{}/portal/acme/login", secure.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let csrf_cookie = cookie(&page.set_cookies(), "__Host-portico_csrf").to_owned();
    assert!(csrf_cookie.contains("Secure"), "{csrf_cookie}");
    let value = csrf_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let answer = common::read(
        http.post(format!("{}/portal/acme/login", secure.base))
            .header("cookie", format!("__Host-portico_csrf={value}"))
            .form(&[
                ("csrf", page.csrf().as_str()),
                ("identifier", "demo@acme.example"),
                ("password", DEMO_PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let session = cookie(&answer.set_cookies(), "__Host-portico_session_acme").to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(session.contains(flag), "{flag}: {session}");
    }
    assert!(!session.contains("Domain="), "{session}");
}

/// `/metrics` as a loopback scraper reads it.
async fn scrape(app: &TestApp) -> String {
    let answer = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    answer.text().await.unwrap()
}

/// The value of the sample whose name and labels are `series`, or 0 when it is absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn org_id(app: &TestApp, slug: &str) -> String {
    let slug = slug.to_owned();
    app.app
        .db
        .run(move |conn| portico::storage::orgs::find_by_slug(conn, &slug))
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string()
}

async fn metrics_count_logins_codes_and_latency(backend: Backend) {
    let port = SmtpReceiver::unused_port().await;
    let sms = SmsReceiver::start(Mode::Accept).await;
    let gateway = sms.gateway();
    let Some(app) = TestApp::demo_with(backend, move |config| {
        config.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        config.sms_gateway = Some(gateway);
    })
    .await
    else {
        return;
    };
    let acme = org_id(&app, "acme").await;
    let globex = org_id(&app, "globex").await;
    let browser = app.browser();
    browser
        .password_login("acme", "demo@acme.example", "not the password")
        .await;
    browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    let page = browser.request_code("globex", "demo@globex.example").await;
    app.deliver_now().await;
    app.settled_deliveries("globex").await;
    let down = scrape(&app).await;
    let series = |org: &str, method: &str, outcome: &str| {
        format!(
            "portico_logins_total{{org_id=\"{org}\",method=\"{method}\",outcome=\"{outcome}\"}}"
        )
    };
    assert_eq!(sample(&down, &series(&acme, "password", "failed")), 1.0);
    assert_eq!(sample(&down, &series(&acme, "password", "succeeded")), 1.0);
    assert!(sample(&down, "portico_codes_failed_total{channel=\"email\"}") >= 1.0);
    assert_eq!(
        sample(&down, "portico_codes_sent_total{channel=\"email\"}"),
        0.0
    );
    assert_eq!(sample(&down, "portico_deliveries_pending"), 1.0);

    let smtp = SmtpReceiver::start_on(port).await;
    app.deliver_now().await;
    let mail = smtp.wait_for("demo@globex.example", 1).await;
    browser.enter_code("globex", &page, "000000").await;
    browser.enter_code("globex", &page, &mail.code()).await;
    let up = scrape(&app).await;
    assert_eq!(
        sample(&up, "portico_codes_sent_total{channel=\"email\"}"),
        1.0
    );
    assert_eq!(sample(&up, "portico_deliveries_pending"), 0.0);
    assert_eq!(sample(&up, &series(&globex, "otp", "failed")), 1.0);
    assert_eq!(sample(&up, &series(&globex, "otp", "succeeded")), 1.0);
    let requests = sample(&up, "portico_request_duration_seconds_count");
    assert!(requests >= 8.0, "{up}");
    assert_eq!(
        sample(&up, "portico_request_duration_seconds_bucket{le=\"+Inf\"}"),
        requests
    );
    assert!(
        !up.contains("@") && !up.contains(&mail.code()),
        "no address or code in the metrics"
    );
}

async fn metrics_answer_only_loopback_or_the_token(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |config| {
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", app.base);
    let outside = http
        .get(&url)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::NOT_FOUND, "through the proxy");
    let inside = http.get(&url).send().await.unwrap();
    assert_eq!(inside.status(), StatusCode::OK);

    let Some(app) = TestApp::start_with(backend, |config| {
        config.metrics_token = Some("scrape-secret-123".into());
    })
    .await
    else {
        return;
    };
    let url = format!("{}/metrics", app.base);
    let bare = http.get(&url).send().await.unwrap();
    assert_eq!(
        bare.status(),
        StatusCode::NOT_FOUND,
        "loopback needs the token too"
    );
    let wrong = http
        .get(&url)
        .bearer_auth("scrape-secret-124")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let right = http
        .get(&url)
        .bearer_auth("scrape-secret-123")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(
        right
            .text()
            .await
            .unwrap()
            .contains("# TYPE portico_logins_total counter")
    );
}
