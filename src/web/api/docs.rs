//! Swagger UI at `/api/docs`, served by Portico itself: no CDN, and no inline script, since
//! the site's Content-Security-Policy allows scripts from Portico's own origin only.
//!
//! The Swagger UI bundle and its stylesheet come from poem-openapi, which embeds them in the
//! binary but hands them out only inside one HTML page with inline script and style. At
//! start-up they are taken out of that page once and served as `/api/docs/swagger-ui.js` and
//! `/api/docs/swagger-ui.css`; a small script of Portico's own, `/api/docs/init.js`, starts
//! Swagger UI on `/api/v1/openapi.json`. Known limit: should poem-openapi change the shape of
//! that page, the assets come out empty, which the API spec test notices.

use poem::{Response, Route, endpoint::make_sync, http::header};
use poem_openapi::{OpenApi, OpenApiService};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Portico API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="ui"></div>
<script src="/api/docs/swagger-ui.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
"#;

const INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#ui",
    deepLinking: true,
    validatorUrl: null
  });
});
"##;

/// The text between the first `open` and the `close` after it.
fn between<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
    page.find(open)
        .map(|start| &page[start + open.len()..])
        .and_then(|rest| rest.find(close).map(|end| &rest[..end]))
        .unwrap_or_default()
}

/// The Swagger UI bundle and stylesheet embedded in poem-openapi.
pub fn assets<T: OpenApi, W: poem_openapi::Webhook>(
    service: &OpenApiService<T, W>,
) -> (String, String) {
    let page = service.swagger_ui_html();
    let script = between(&page, "<script charset=\"UTF-8\">", "</script>").to_owned();
    let style = between(&page, "<style charset=\"UTF-8\">", "</style>").to_owned();
    (script, style)
}

fn asset(body: String, content_type: &'static str) -> impl poem::Endpoint {
    make_sync(move |_| {
        Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .body(body.clone())
    })
}

/// Adds Swagger UI and its assets to `route`.
pub fn routes<T: OpenApi, W: poem_openapi::Webhook>(
    route: Route,
    service: &OpenApiService<T, W>,
) -> Route {
    let (script, style) = assets(service);
    route
        .at(
            "/api/docs",
            asset(PAGE.to_owned(), "text/html; charset=utf-8"),
        )
        .at(
            "/api/docs/swagger-ui.js",
            asset(script, "text/javascript; charset=utf-8"),
        )
        .at(
            "/api/docs/swagger-ui.css",
            asset(style, "text/css; charset=utf-8"),
        )
        .at(
            "/api/docs/init.js",
            asset(INIT.to_owned(), "text/javascript; charset=utf-8"),
        )
}
