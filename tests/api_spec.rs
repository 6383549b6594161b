//! The API's OpenAPI document and its docs: the document is compared with the snapshot in
//! `tests/snapshots/openapi.json`, so every change to the API shows in review
//! (`PORTICO_UPDATE_SNAPSHOTS=1 cargo test --test api_spec` writes a new snapshot), the server
//! serves exactly that document, and Swagger UI comes from Portico itself with no inline script.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

both_backends!(the_server_serves_the_spec_and_swagger_ui_from_portico);

fn snapshot_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json")
}

fn pretty(spec: &str) -> String {
    let value: Value = serde_json::from_str(spec).unwrap();
    format!("{}\n", serde_json::to_string_pretty(&value).unwrap())
}

#[test]
fn the_spec_matches_its_snapshot() {
    let spec = pretty(&portico::web::api::spec());
    if std::env::var("PORTICO_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::write(snapshot_path(), &spec).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(snapshot_path()).unwrap_or_default();
    assert!(
        stored == spec,
        "the API spec differs from tests/snapshots/openapi.json; review the change and run \
         PORTICO_UPDATE_SNAPSHOTS=1 cargo test --test api_spec to accept it"
    );
}

#[test]
fn every_operation_is_named_summarised_and_documents_its_problems() {
    let spec: Value = serde_json::from_str(&portico::web::api::spec()).unwrap();
    assert_eq!(spec["servers"][0]["url"], "/api/v1");
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let name = format!("{method} {path}");
            assert!(
                operation["operationId"].is_string(),
                "{name} has no operationId"
            );
            assert!(operation["summary"].is_string(), "{name} has no summary");
            for status in ["400", "404", "422", "500"] {
                let content = &operation["responses"][status]["content"];
                assert!(
                    content["application/problem+json"].is_object(),
                    "{name} does not document {status} as problem+json"
                );
            }
        }
    }
    assert!(operations >= 30, "only {operations} operations");
    let problem = &spec["components"]["schemas"]["Problem"]["properties"];
    for field in ["type", "title", "status", "detail"] {
        assert!(problem[field].is_object(), "Problem has no {field}");
    }
}

async fn the_server_serves_the_spec_and_swagger_ui_from_portico(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let get = |path: &str| reqwest::get(format!("{}{path}", app.base));

    let served = get("/api/v1/openapi.json").await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(
        pretty(&served.text().await.unwrap()),
        pretty(&portico::web::api::spec())
    );

    let docs = get("/api/docs").await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let page = docs.text().await.unwrap();
    assert!(!page.contains("<script>"), "inline script on the docs page");
    assert!(!page.contains("<style"), "inline style on the docs page");
    for asset in [
        "/api/docs/swagger-ui.js",
        "/api/docs/swagger-ui.css",
        "/api/docs/init.js",
    ] {
        assert!(page.contains(asset), "the page does not load {asset}");
    }
    let bundle = get("/api/docs/swagger-ui.js")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(bundle.len() > 100_000 && bundle.contains("SwaggerUIBundle"));
    let style = get("/api/docs/swagger-ui.css")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(style.contains(".swagger-ui"));
    let init = get("/api/docs/init.js")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/api/v1/openapi.json"));
}
