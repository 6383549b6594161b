//! The logged-in contact's own account: who they are, their sessions, and logging out.
//!
//! Sessions are the contact's own, in their own organization: another contact's session id
//! is not found, and ending the session in use is a logout.

use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{ApiResult, ApiTags, ContactAuth, utc};
use crate::{
    App, AppError,
    domain::{profile, session::SessionId},
    storage::{profile as store, sessions},
};

/// The contact endpoints about the contact themselves.
pub struct MeApi;

/// The logged-in contact.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct Me {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub time_zone: String,
    /// The slug of the contact's organization.
    pub portal: String,
}

/// One live session of the contact.
#[derive(Object, Debug)]
pub struct SessionInfo {
    pub id: String,
    /// How the session was opened: `password`, `otp` or `password+otp`.
    pub auth_method: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub client_ip: String,
    pub user_agent: String,
    /// Whether this is the session of the token in use.
    pub current: bool,
}

#[derive(ApiResponse)]
pub enum MeResponse {
    /// The contact.
    #[oai(status = 200)]
    Ok(Json<Me>),
}

#[derive(ApiResponse)]
pub enum SessionsResponse {
    /// The contact's live sessions, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<SessionInfo>>),
}

#[derive(ApiResponse)]
pub enum Ended {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Me")]
impl MeApi {
    /// Ends the session of the token in use.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
    ) -> ApiResult<Ended> {
        let (org_id, token_hash) = (auth.0.org.id, auth.0.token_hash);
        app.db
            .write(move |conn| sessions::delete_by_token(conn, &org_id, &token_hash))
            .await?;
        Ok(Ended::NoContent)
    }

    /// The logged-in contact.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn me(&self, auth: ContactAuth) -> ApiResult<MeResponse> {
        let contact = auth.0.contact;
        Ok(MeResponse::Ok(Json(Me {
            id: contact.id.to_string(),
            name: contact.name,
            email: contact.email,
            mobile: contact.mobile,
            time_zone: contact.time_zone,
            portal: auth.0.org.slug,
        })))
    }

    /// The contact's live sessions, browsers and API clients alike.
    #[oai(
        path = "/me/sessions",
        method = "get",
        operation_id = "list_my_sessions"
    )]
    async fn sessions(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
    ) -> ApiResult<SessionsResponse> {
        let signed_in = auth.0;
        let (org_id, contact_id) = (signed_in.org.id, signed_in.contact.id);
        let (idle, current) = (signed_in.policy.session_idle_secs, signed_in.token_hash);
        let found = app
            .db
            .run(move |conn| {
                let now = chrono::Utc::now().naive_utc();
                store::live_sessions(conn, &org_id, &contact_id, idle, &current, now)
            })
            .await?;
        let sessions = found
            .into_iter()
            .map(|(session, current)| SessionInfo {
                id: session.id.to_string(),
                auth_method: session.auth_method,
                created_at: utc(session.created_at),
                last_seen_at: utc(session.last_seen_at),
                expires_at: utc(session.expires_at),
                client_ip: session.client_ip,
                user_agent: session.user_agent,
                current,
            })
            .collect();
        Ok(SessionsResponse::Ok(Json(sessions)))
    }

    /// Ends one of the contact's sessions.
    #[oai(
        path = "/me/sessions/:id",
        method = "delete",
        operation_id = "end_my_session"
    )]
    async fn end_session(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        id: Path<String>,
    ) -> ApiResult<Ended> {
        let session_id = SessionId::parse(id.trim()).ok_or(AppError::NotFound)?;
        profile::end_session(&app, &auth.0.contact, session_id).await?;
        Ok(Ended::NoContent)
    }
}
