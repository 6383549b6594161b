//! The account lifecycle through the API: a forgotten password, self-registration, and the
//! logged-in contact's proven change of email address or mobile number (which also adds a
//! mobile number to a contact who has none).
//!
//! Every endpoint calls the same domain functions as the portal's pages
//! ([`crate::domain::password_reset`], [`crate::domain::registration`],
//! [`crate::domain::contact_change`]), so the limits, the answers-alike for unknown or taken
//! addresses, the code rules and the audit events are the pages' own. A reset or registration
//! started on one portal is looked up within that portal only, and a change within the token's
//! own organization only, so nothing started in one organization can be finished in another.
//! Wrong, expired, used and unknown codes get one answer.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    ApiError, ApiResult, ApiTags, ContactAuth, client,
    portal::{SessionToken, WRONG_CODE, identifier, open_session},
};
use crate::{
    App, AppError,
    domain::{
        contact_change::{self, ChangeRequest, Field},
        password_reset::{self, PasswordSet},
        registration::{self, Proof, SignUp, TypedCodes},
    },
    secret::SecretString,
    web::portal::Portal,
};

/// The account endpoints.
pub struct AccountApi;

/// A forgotten password: the email address or mobile number the contact logs in with.
#[derive(Object, Debug)]
pub struct PasswordResetRequest {
    #[oai(validator(min_length = 1, max_length = 256))]
    pub identifier: String,
}

/// A reset was asked for; the answer is the same whether or not the identifier is known.
#[derive(Object, Debug)]
pub struct PasswordResetStarted {
    /// Send it back with the code to `/password-reset/confirm`.
    pub reset_id: String,
}

/// A reset (or invitation) code with the new password.
#[derive(Object, Debug)]
pub struct PasswordResetConfirmation {
    #[oai(validator(min_length = 1, max_length = 64))]
    pub reset_id: String,
    #[oai(validator(min_length = 1, max_length = 32))]
    pub code: String,
    /// Checked against the organization's password rules before the code is looked at.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub new_password: String,
}

/// A sign-up, as on the portal's registration page.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct RegistrationRequest {
    #[oai(validator(min_length = 1, max_length = 256))]
    pub name: String,
    #[oai(validator(min_length = 1, max_length = 256))]
    pub email: String,
    /// Required where the portal sends login codes by SMS; ignored elsewhere.
    #[oai(validator(max_length = 64))]
    pub mobile: Option<String>,
    /// Required where the portal's login uses a password; ignored elsewhere.
    #[oai(validator(max_length = 128))]
    pub password: Option<String>,
}

/// A registration was taken and its codes sent; the answer is the same for an address that
/// already has an account (whose owner is told by email instead).
#[derive(Object, Debug)]
pub struct RegistrationStarted {
    /// Send the codes to `/registrations/{id}/verify`.
    pub id: String,
    /// Whether a second code went to the mobile number, to be sent back as `mobile_code`.
    pub mobile_code: bool,
}

/// The codes that prove a registration's addresses.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct RegistrationCodes {
    #[oai(validator(min_length = 1, max_length = 32))]
    pub email_code: String,
    #[oai(validator(min_length = 1, max_length = 32))]
    pub mobile_code: Option<String>,
}

/// Where a proven registration stands when an admin decides next.
#[derive(Object, Debug)]
pub struct RegistrationWaiting {
    /// `awaiting_approval`: the contact is told by email once an admin decides.
    pub state: String,
}

/// A new email address, with the proof of the current login.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct EmailChange {
    #[oai(validator(min_length = 1, max_length = 256))]
    pub new_email: String,
    /// Required for a contact with a password. Without one, the token's session must have been
    /// opened within the last ten minutes.
    #[oai(validator(max_length = 128))]
    pub current_password: Option<String>,
}

/// A new (or a first) mobile number, with the proof of the current login.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct MobileChange {
    /// In E.164 (`+15550100001`), or national in the server's phone region.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub new_mobile: String,
    /// Required for a contact with a password. Without one, the token's session must have been
    /// opened within the last ten minutes.
    #[oai(validator(max_length = 128))]
    pub current_password: Option<String>,
}

/// A change was taken; a code went to the new address.
#[derive(Object, Debug)]
pub struct ChangeStarted {
    /// Send it back with the code to the change's `/verify`.
    pub change_id: String,
}

/// The code sent to the new address.
#[derive(Object, Debug)]
pub struct ChangeVerification {
    #[oai(validator(min_length = 1, max_length = 64))]
    pub change_id: String,
    #[oai(validator(min_length = 1, max_length = 32))]
    pub code: String,
}

#[derive(ApiResponse)]
pub enum ResetStartedResponse {
    /// Taken; a code is on its way if the identifier belongs to a contact of this portal.
    #[oai(status = 202)]
    Accepted(Json<PasswordResetStarted>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum RegistrationStartedResponse {
    /// Taken; codes are on their way.
    #[oai(status = 202)]
    Accepted(Json<RegistrationStarted>),
}

#[derive(ApiResponse)]
pub enum RegistrationProvenResponse {
    /// Open registration: the contact exists, and this is their session.
    #[oai(status = 200)]
    Registered(Json<SessionToken>),
    /// Registration with approval: an admin decides next.
    #[oai(status = 202)]
    Waiting(Json<RegistrationWaiting>),
}

#[derive(ApiResponse)]
pub enum ChangeStartedResponse {
    /// Taken; a code went to the new address.
    #[oai(status = 202)]
    Accepted(Json<ChangeStarted>),
}

/// Names the API's own field when the domain speaks of the new value.
fn for_field(error: AppError, field: &'static str) -> AppError {
    match error {
        AppError::Invalid {
            field: Some("new_value"),
            message,
        } => AppError::invalid(field, message),
        other => other,
    }
}

/// A registration's id in the API: its email attempt, and its mobile attempt when there is one.
fn registration_id(email_attempt: &str, mobile_attempt: Option<&str>) -> String {
    match mobile_attempt {
        Some(mobile) => format!("{email_attempt}.{mobile}"),
        None => email_attempt.to_owned(),
    }
}

async fn start_change(
    app: &App,
    req: &Request,
    auth: ContactAuth,
    (field, new_value, current_password): (Field, String, Option<String>),
) -> ApiResult<ChangeStartedResponse> {
    let signed_in = auth.0;
    let request = ChangeRequest {
        field,
        new_value,
        current_password: SecretString::new(current_password.unwrap_or_default()),
        session_started: signed_in.session_started,
    };
    let api_field = match field {
        Field::Email => "new_email",
        Field::Mobile => "new_mobile",
    };
    let change_id = contact_change::request_change(
        app,
        &signed_in.org,
        &signed_in.policy,
        &signed_in.contact,
        request,
        &client(req),
    )
    .await
    .map_err(|error| for_field(error, api_field))?;
    Ok(ChangeStartedResponse::Accepted(Json(ChangeStarted {
        change_id: change_id.to_string(),
    })))
}

async fn verify_change(
    app: &App,
    req: &Request,
    auth: ContactAuth,
    (field, body): (Field, ChangeVerification),
) -> ApiResult<Done> {
    let signed_in = auth.0;
    let changed = contact_change::confirm_change(
        app,
        &signed_in.org,
        &signed_in.contact,
        (field, &body.change_id),
        &body.code,
        &client(req),
    )
    .await?;
    if !changed {
        return Err(AppError::invalid("code", WRONG_CODE).into());
    }
    Ok(Done::NoContent)
}

#[OpenApi(tag = "ApiTags::Account")]
impl AccountApi {
    /// Asks for a password reset code, sent to the email address or mobile number typed. The
    /// answer is the same whether or not the identifier belongs to a contact; nothing is sent
    /// for one that does not. Not found on a portal whose login takes no password.
    #[oai(
        path = "/portals/:slug/password-reset",
        method = "post",
        operation_id = "request_password_reset"
    )]
    async fn request_reset(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        slug: Path<String>,
        body: Json<PasswordResetRequest>,
    ) -> ApiResult<ResetStartedResponse> {
        let portal = Portal::load_open(&app, &slug).await?;
        if !password_reset::offered(&portal.policy) {
            return Err(AppError::NotFound.into());
        }
        let identifier = identifier(&app, &body.identifier)?;
        let requested = password_reset::request_reset(
            &app,
            &portal.org,
            &portal.policy,
            &identifier,
            &client(req),
        )
        .await?;
        Ok(ResetStartedResponse::Accepted(Json(PasswordResetStarted {
            reset_id: requested.reset_id.to_string(),
        })))
    }

    /// Sets a new password with a reset or invitation code. Every session of the contact ends;
    /// they log in again with the new password.
    #[oai(
        path = "/portals/:slug/password-reset/confirm",
        method = "post",
        operation_id = "confirm_password_reset"
    )]
    async fn confirm_reset(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        slug: Path<String>,
        body: Json<PasswordResetConfirmation>,
    ) -> ApiResult<Done> {
        let portal = Portal::load_open(&app, &slug).await?;
        if !password_reset::offered(&portal.policy) {
            return Err(AppError::NotFound.into());
        }
        let body = body.0;
        let outcome = password_reset::set_password(
            &app,
            &portal.org,
            &portal.policy,
            &body.reset_id,
            &body.code,
            SecretString::new(body.new_password),
            &client(req),
        )
        .await?;
        match outcome {
            PasswordSet::Done(_) => Ok(Done::NoContent),
            PasswordSet::Refused => {
                Err(ApiError::with_detail(AppError::Unauthenticated, WRONG_CODE))
            }
        }
    }

    /// Registers a new contact where the portal lets visitors sign up: codes go to the email
    /// address (and to the mobile number where the portal sends codes by SMS). An address that
    /// already has an account gets the same answer, and its owner is told by email. Not found
    /// where registration is off.
    #[oai(
        path = "/portals/:slug/registrations",
        method = "post",
        operation_id = "start_registration"
    )]
    async fn start_registration(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        slug: Path<String>,
        body: Json<RegistrationRequest>,
    ) -> ApiResult<RegistrationStartedResponse> {
        let portal = Portal::load_open(&app, &slug).await?;
        if !registration::is_open(&portal.policy) {
            return Err(AppError::NotFound.into());
        }
        let client = client(req);
        registration::count_attempt(&app, &portal.org, &client).await?;

        let body = body.0;
        let form = SignUp {
            name: body.name,
            email: body.email,
            mobile: body.mobile.unwrap_or_default(),
            password: SecretString::new(body.password.unwrap_or_default()),
        };
        let region = &app.config.phone_region;
        let details = registration::check_sign_up(&portal.org, &portal.policy, &form, region)
            .map_err(|errors| match errors.into_iter().next() {
                Some((field, message)) => AppError::invalid(field, message),
                None => AppError::invalid("email", "Check the registration."),
            })?;
        let signed_up = registration::sign_up(
            &app,
            &portal.org,
            &portal.policy,
            details,
            form.password,
            &client,
        )
        .await?;

        let mobile = signed_up.mobile_attempt.map(|id| id.to_string());
        let email = signed_up.email_attempt.to_string();
        Ok(RegistrationStartedResponse::Accepted(Json(
            RegistrationStarted {
                id: registration_id(&email, mobile.as_deref()),
                mobile_code: mobile.is_some(),
            },
        )))
    }

    /// Proves a registration with its codes. Open registration answers with the new contact's
    /// session; registration with approval says that an admin decides next.
    #[oai(
        path = "/portals/:slug/registrations/:id/verify",
        method = "post",
        operation_id = "verify_registration"
    )]
    async fn verify_registration(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        slug: Path<String>,
        id: Path<String>,
        body: Json<RegistrationCodes>,
    ) -> ApiResult<RegistrationProvenResponse> {
        let portal = Portal::load_open(&app, &slug).await?;
        if !registration::is_open(&portal.policy) {
            return Err(AppError::NotFound.into());
        }
        let (email_attempt, mobile_attempt) = id.0.split_once('.').unwrap_or((id.as_str(), ""));
        let body = body.0;
        let typed = TypedCodes {
            email_attempt: email_attempt.to_owned(),
            email_code: body.email_code,
            mobile_attempt: mobile_attempt.to_owned(),
            mobile_code: body.mobile_code.unwrap_or_default(),
        };
        let proof =
            registration::prove(&app, &portal.org, &portal.policy, typed, &client(req)).await?;
        match proof {
            Proof::Registered(contact) => {
                let session = open_session(&app, &portal, &contact, "registration", req).await?;
                Ok(RegistrationProvenResponse::Registered(Json(session)))
            }
            Proof::AwaitingApproval => Ok(RegistrationProvenResponse::Waiting(Json(
                RegistrationWaiting {
                    state: "awaiting_approval".to_owned(),
                },
            ))),
            Proof::Refused => Err(ApiError::with_detail(AppError::Unauthenticated, WRONG_CODE)),
        }
    }

    /// Starts a change of the contact's email address: proves the current login, then sends a
    /// code to the new address. A new address that another contact uses gets the same answer
    /// and no code.
    #[oai(
        path = "/me/email-change",
        method = "post",
        operation_id = "start_email_change"
    )]
    async fn start_email_change(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: ContactAuth,
        body: Json<EmailChange>,
    ) -> ApiResult<ChangeStartedResponse> {
        let body = body.0;
        let change = (Field::Email, body.new_email, body.current_password);
        start_change(&app, req, auth, change).await
    }

    /// Finishes the email change with the code sent to the new address; the old address is
    /// told.
    #[oai(
        path = "/me/email-change/verify",
        method = "post",
        operation_id = "verify_email_change"
    )]
    async fn verify_email_change(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: ContactAuth,
        body: Json<ChangeVerification>,
    ) -> ApiResult<Done> {
        verify_change(&app, req, auth, (Field::Email, body.0)).await
    }

    /// Starts a change of the contact's mobile number, or adds one to a contact who has none:
    /// proves the current login, then sends a code by SMS to the new number. A number that
    /// another contact uses gets the same answer and no code.
    #[oai(
        path = "/me/mobile-change",
        method = "post",
        operation_id = "start_mobile_change"
    )]
    async fn start_mobile_change(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: ContactAuth,
        body: Json<MobileChange>,
    ) -> ApiResult<ChangeStartedResponse> {
        let body = body.0;
        let change = (Field::Mobile, body.new_mobile, body.current_password);
        start_change(&app, req, auth, change).await
    }

    /// Finishes the mobile number change with the code sent to the new number; the email
    /// address and the old number are told.
    #[oai(
        path = "/me/mobile-change/verify",
        method = "post",
        operation_id = "verify_mobile_change"
    )]
    async fn verify_mobile_change(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: ContactAuth,
        body: Json<ChangeVerification>,
    ) -> ApiResult<Done> {
        verify_change(&app, req, auth, (Field::Mobile, body.0)).await
    }
}
