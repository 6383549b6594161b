//! A portal's public information and its login endpoints: password, one-time code, and the
//! password-then-code two-step login.
//!
//! Each endpoint calls the same domain functions as the portal's login pages
//! ([`crate::domain::login`], [`crate::domain::code_login`]), so the same limits, lockouts,
//! answers-alike for unknown identifiers, and audit events apply. A proven login opens a
//! session like the browser's and hands its token out once, as
//! `<organization id>.<session token>`.

use chrono::{DateTime, Duration, Utc};
use poem::Request;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Union, param::Path, payload::Json};

use super::{ApiError, ApiResult, ApiTags, client, contact_token};
use crate::{
    App, AppError,
    domain::{
        code_login::{self, CodeLogin, CodeRequested, Requester},
        contact::{Contact, Identifier},
        login::{self, SessionOpening},
        org::{LoginMode, OtpChannel},
        otp::AttemptId,
    },
    secret::SecretString,
    web::portal::Portal,
};

/// The portal endpoints.
pub struct PortalApi;

/// How a portal's contacts log in.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiLoginMode {
    Password,
    Otp,
    PasswordOrOtp,
    PasswordAndOtp,
}

impl From<LoginMode> for ApiLoginMode {
    fn from(mode: LoginMode) -> Self {
        match mode {
            LoginMode::Password => Self::Password,
            LoginMode::Otp => Self::Otp,
            LoginMode::PasswordOrOtp => Self::PasswordOrOtp,
            LoginMode::PasswordAndOtp => Self::PasswordAndOtp,
        }
    }
}

impl From<ApiLoginMode> for LoginMode {
    fn from(mode: ApiLoginMode) -> Self {
        match mode {
            ApiLoginMode::Password => Self::Password,
            ApiLoginMode::Otp => Self::Otp,
            ApiLoginMode::PasswordOrOtp => Self::PasswordOrOtp,
            ApiLoginMode::PasswordAndOtp => Self::PasswordAndOtp,
        }
    }
}

/// Where one-time codes go.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiOtpChannel {
    Email,
    Mobile,
    EmailAndMobile,
}

impl From<OtpChannel> for ApiOtpChannel {
    fn from(channel: OtpChannel) -> Self {
        match channel {
            OtpChannel::Email => Self::Email,
            OtpChannel::Mobile => Self::Mobile,
            OtpChannel::EmailAndMobile => Self::EmailAndMobile,
        }
    }
}

impl From<ApiOtpChannel> for OtpChannel {
    fn from(channel: ApiOtpChannel) -> Self {
        match channel {
            ApiOtpChannel::Email => Self::Email,
            ApiOtpChannel::Mobile => Self::Mobile,
            ApiOtpChannel::EmailAndMobile => Self::EmailAndMobile,
        }
    }
}

/// What anyone may know of a portal.
#[derive(Object, Debug)]
pub struct PortalInfo {
    pub slug: String,
    pub name: String,
    /// `live`, or `retired` (read-only).
    pub status: String,
    pub accent_color: String,
    pub welcome_text: String,
    pub footer_text: String,
    pub login_mode: ApiLoginMode,
    pub otp_channel: ApiOtpChannel,
    /// Whether solutions can be read without logging in.
    pub anonymous_solutions: bool,
}

/// A password login.
#[derive(Object, Debug)]
pub struct PasswordLogin {
    /// The contact's email address or mobile number.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub identifier: String,
    #[oai(validator(max_length = 128))]
    pub password: String,
}

/// A session: the bearer token to send as `Authorization: Bearer <token>`.
#[derive(Object, Debug)]
pub struct SessionToken {
    pub token: String,
    /// When the session ends at the latest (it ends sooner when left idle).
    pub expires_at: DateTime<Utc>,
}

/// What comes after a login step.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum NextStep {
    /// Enter the code sent to the contact, at `/login/otp/verify`.
    Otp,
}

/// The password was right; a code was sent to finish the login.
#[derive(Object, Debug)]
pub struct SecondStep {
    pub next: NextStep,
    pub login_id: String,
    pub resend_after_seconds: u32,
}

/// A session, or the second step of a two-step login.
#[derive(Union, Debug)]
#[oai(one_of)]
pub enum LoginResult {
    Session(SessionToken),
    SecondStep(SecondStep),
}

/// A code request: an identifier for a new login, or the `login_id` of a login under way for a
/// new code.
#[derive(Object, Debug)]
pub struct CodeRequest {
    #[oai(validator(min_length = 1, max_length = 256))]
    pub identifier: Option<String>,
    #[oai(validator(min_length = 1, max_length = 64))]
    pub login_id: Option<String>,
}

/// A code request was taken; the answer is the same whether or not the identifier is known.
#[derive(Object, Debug)]
pub struct CodeRequestTaken {
    pub login_id: String,
    pub resend_after_seconds: u32,
}

/// A code typed for a login.
#[derive(Object, Debug)]
pub struct CodeVerification {
    #[oai(validator(min_length = 1, max_length = 64))]
    pub login_id: String,
    #[oai(validator(min_length = 1, max_length = 32))]
    pub code: String,
}

#[derive(ApiResponse)]
pub enum PortalResponse {
    /// The portal.
    #[oai(status = 200)]
    Ok(Json<PortalInfo>),
}

#[derive(ApiResponse)]
pub enum LoginResponse {
    /// A session, or the second step of a two-step login.
    #[oai(status = 200)]
    Ok(Json<LoginResult>),
}

#[derive(ApiResponse)]
pub enum CodeRequestResponse {
    /// The request is taken; a code is on its way if the identifier may log in by code.
    #[oai(status = 202)]
    Accepted(Json<CodeRequestTaken>),
}

#[derive(ApiResponse)]
pub enum VerifyResponse {
    /// The code was right: a session.
    #[oai(status = 200)]
    Ok(Json<SessionToken>),
}

/// The one refusal of every failed password login.
const WRONG_CREDENTIALS: &str = "That email address or mobile number and password do not match.";

/// The one refusal of a wrong, expired, used or unknown code.
pub(super) const WRONG_CODE: &str =
    "That code is wrong or no longer valid. Check it, or ask for a new code.";

pub(super) fn identifier(app: &App, typed: &str) -> Result<Identifier, AppError> {
    Identifier::parse(typed, &app.config.phone_region).map_err(|error| match error {
        AppError::Invalid { message, .. } => AppError::invalid("identifier", message),
        other => other,
    })
}

pub(super) async fn open_session(
    app: &App,
    portal: &Portal,
    contact: &Contact,
    method: &'static str,
    req: &Request,
) -> Result<SessionToken, AppError> {
    let token = login::open_session(app, &portal.policy, contact, method, &client(req)).await?;
    Ok(session_token(portal, &token))
}

/// The API's answer for a session just opened at `portal` with this token.
fn session_token(portal: &Portal, token: &SecretString) -> SessionToken {
    let lifetime = Duration::seconds(i64::from(portal.policy.session_absolute_secs));
    SessionToken {
        token: contact_token(&portal.org.id, token).expose().clone(),
        expires_at: Utc::now() + lifetime,
    }
}

fn taken(requested: &CodeRequested) -> CodeRequestTaken {
    CodeRequestTaken {
        login_id: requested.attempt_id.to_string(),
        resend_after_seconds: requested.resend_after_secs,
    }
}

#[OpenApi(tag = "ApiTags::Login")]
impl PortalApi {
    /// A portal's public information: name, branding, login mode and code channel.
    #[oai(path = "/portals/:slug", method = "get", operation_id = "get_portal")]
    async fn portal(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        slug: Path<String>,
    ) -> ApiResult<PortalResponse> {
        let portal = Portal::load_open(&app, &slug).await?;
        let (org, policy) = (portal.org, portal.policy);
        Ok(PortalResponse::Ok(Json(PortalInfo {
            slug: org.slug,
            name: org.name,
            status: org.status.as_str().to_owned(),
            accent_color: org.branding.accent_color,
            welcome_text: org.branding.welcome_text,
            footer_text: org.branding.footer_text,
            login_mode: policy.login_mode.into(),
            otp_channel: policy.otp_channel.into(),
            anonymous_solutions: policy.anonymous_solutions,
        })))
    }

    /// Logs in with a password. In the two-step mode the answer is the second step: a code was
    /// sent, to be entered at `/login/otp/verify`.
    #[oai(
        path = "/portals/:slug/login/password",
        method = "post",
        operation_id = "login_with_password"
    )]
    async fn password(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        slug: Path<String>,
        body: Json<PasswordLogin>,
    ) -> ApiResult<LoginResponse> {
        let portal = Portal::load_open(&app, &slug).await?;
        if !portal.policy.login_mode.uses_password() {
            return Err(ApiError::with_detail(
                AppError::Forbidden,
                "This portal logs people in with a one-time code, not a password.",
            ));
        }
        let identifier = identifier(&app, &body.identifier)?;
        let password = SecretString::from(body.0.password);
        let proven = login::prove_password(
            &app,
            &portal.org,
            &portal.policy,
            &identifier,
            password,
            &client(req),
        )
        .await?;
        let Some(contact) = proven else {
            return Err(ApiError::with_detail(
                AppError::Unauthenticated,
                WRONG_CREDENTIALS,
            ));
        };
        if portal.policy.login_mode.password_suffices() {
            let session = open_session(&app, &portal, &contact, "password", req).await?;
            return Ok(LoginResponse::Ok(Json(LoginResult::Session(session))));
        }
        let requester = Requester::PasswordProven(contact);
        let requested =
            code_login::request_code(&app, &portal.org, &portal.policy, requester, &client(req))
                .await?;
        Ok(LoginResponse::Ok(Json(LoginResult::SecondStep(
            SecondStep {
                next: NextStep::Otp,
                login_id: requested.attempt_id.to_string(),
                resend_after_seconds: requested.resend_after_secs,
            },
        ))))
    }

    /// Asks for a one-time code for an identifier, or (with `login_id`) for a new code within a
    /// login under way. The answer is the same whether or not the identifier is known.
    #[oai(
        path = "/portals/:slug/login/otp",
        method = "post",
        operation_id = "request_login_code"
    )]
    async fn request_code(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        slug: Path<String>,
        body: Json<CodeRequest>,
    ) -> ApiResult<CodeRequestResponse> {
        let portal = Portal::load_open(&app, &slug).await?;
        let requester = match (&body.identifier, &body.login_id) {
            (Some(typed), None) => {
                let by_code = matches!(
                    portal.policy.login_mode,
                    LoginMode::Otp | LoginMode::PasswordOrOtp
                );
                if !by_code {
                    return Err(ApiError::with_detail(
                        AppError::Forbidden,
                        "This portal does not log people in with a code alone.",
                    ));
                }
                Requester::Identifier(identifier(&app, typed)?)
            }
            (None, Some(login_id)) => {
                let attempt = AttemptId::parse(login_id.trim()).ok_or(AppError::NotFound)?;
                Requester::Resend(attempt)
            }
            _ => {
                return Err(AppError::invalid(
                    "identifier",
                    "Give either an identifier or the login_id of a login under way.",
                )
                .into());
            }
        };
        let requested =
            code_login::request_code(&app, &portal.org, &portal.policy, requester, &client(req))
                .await?;
        Ok(CodeRequestResponse::Accepted(Json(taken(&requested))))
    }

    /// Checks a one-time code and, when it is right, opens a session.
    #[oai(
        path = "/portals/:slug/login/otp/verify",
        method = "post",
        operation_id = "verify_login_code"
    )]
    async fn verify_code(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        slug: Path<String>,
        body: Json<CodeVerification>,
    ) -> ApiResult<VerifyResponse> {
        let portal = Portal::load_open(&app, &slug).await?;
        let client = client(req);
        let session = SessionOpening::new(&portal.policy, None, &client);
        let check = code_login::verify_code(
            &app,
            &portal.org,
            &portal.policy,
            &body.login_id,
            &body.code,
            &client,
            session,
        )
        .await?;
        match check {
            CodeLogin::LoggedIn { token, .. } => {
                Ok(VerifyResponse::Ok(Json(session_token(&portal, &token))))
            }
            CodeLogin::Refused => Err(ApiError::with_detail(AppError::Unauthenticated, WRONG_CODE)),
            CodeLogin::Retired => Err(ApiError::with_detail(
                AppError::Unauthenticated,
                "That code was replaced by a newer one. Enter the latest code we sent.",
            )),
        }
    }
}
