//! `/healthz` (the process is alive) and `/readyz` (the database answers and no migration is
//! pending), for load balancers and orchestrators.

use std::sync::Arc;

use poem::{handler, http::StatusCode, web::Data};

use crate::App;

#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

#[handler]
pub async fn readyz(Data(app): Data<&Arc<App>>) -> (StatusCode, &'static str) {
    let db = app.db.clone();
    let ready = tokio::task::spawn_blocking(move || db.is_ready())
        .await
        .ok()
        .and_then(Result::ok);
    match ready {
        Some(true) => (StatusCode::OK, "ready"),
        Some(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    }
}
