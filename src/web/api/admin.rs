//! Administration with an API key: organizations and their branding, their login policy,
//! contacts (details, passwords, invitations, status, lockout, sessions), and the delivery log
//! and audit log with their filters.
//!
//! A key reaches the organization it is scoped to, or every organization for a platform key;
//! any other organization is answered 404, exactly as if it did not exist. Every change is
//! written to the audit log in the same transaction, with the key as its actor. A login policy
//! change is checked as in the console (ranges, an SMS gateway for mobile codes) and, when it
//! would strand contacts, refused with 409 unless repeated with `confirm=true`; the checks and
//! the save are [`policy_change::save`]'s, as in the console. Contacts are changed through
//! [`crate::domain::directory`]'s functions, the console's own. Service categories, solutions
//! and requests are in [`super::admin_content`]. Known limit: the console's re-entry of the
//! admin's password has no API counterpart (keys carry no password).

use chrono::Utc;
use poem::Request;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::json;

use super::{
    AdminAuth, ApiError, ApiResult, ApiTags, client,
    content::{
        self, ApiPriority, ApiRequestStatus, Category, RequestPage, RequestSummary, paging,
        search_text,
    },
    portal::{ApiLoginMode, ApiOtpChannel},
    utc,
};
use crate::{
    App, AppError,
    domain::{
        admin::AdminId,
        api_keys::ApiKey,
        audit::{Actor, AuditEvent, Origin},
        contact::{ContactId, mask_email, mask_mobile},
        directory::{self as rules, ContactAction},
        org::{
            Branding, LoginPolicy, OrgId, OrgStatus, Organization, SelfRegistration, check_slug,
        },
        password_reset,
        policy_change::{self, Assurance, PolicySave},
        portal_settings::{self, PortalSettings},
        requests::CategoryId,
    },
    secret::SecretString,
    storage::{
        audit, audit_log, directory, orgs as org_store, outbox, portal_settings as settings_store,
        requests as request_store, solutions as solution_store,
    },
};

/// The admin endpoints.
pub struct AdminApi;

/// An organization as admins see it.
#[derive(Object, Debug)]
pub struct Org {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// `draft`, `live` or `retired`.
    pub status: String,
    pub accent_color: String,
    pub welcome_text: String,
    pub footer_text: String,
}

impl Org {
    fn of(org: Organization) -> Self {
        Self {
            id: org.id.to_string(),
            slug: org.slug,
            name: org.name,
            status: org.status.as_str().to_owned(),
            accent_color: org.branding.accent_color,
            welcome_text: org.branding.welcome_text,
            footer_text: org.branding.footer_text,
        }
    }
}

/// A new organization, made as a draft.
#[derive(Object, Debug)]
pub struct NewOrg {
    #[oai(validator(min_length = 1, max_length = 40))]
    pub slug: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
}

/// An organization's name, status and branding: the document `PUT /admin/orgs/{slug}` takes.
#[derive(Object, Debug)]
pub struct OrgSettings {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    pub status: ApiOrgStatus,
    /// A colour like `#1d4ed8`.
    #[oai(validator(pattern = "^#[0-9a-fA-F]{6}$"))]
    pub accent_color: String,
    #[oai(validator(max_length = 2000))]
    pub welcome_text: String,
    #[oai(validator(max_length = 500))]
    pub footer_text: String,
    /// Host names that map straight to the portal; none unless given.
    #[oai(validator(max_items = 10))]
    pub host_names: Option<Vec<String>>,
}

/// Where an organization stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiOrgStatus {
    Draft,
    Live,
    Retired,
}

/// Whether and how visitors may register themselves.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiSelfRegistration {
    Off,
    Open,
    WithApproval,
}

/// An organization's whole login policy: the document `GET` returns and `PUT` takes.
#[derive(Object, Debug, Clone)]
pub struct LoginPolicyDoc {
    pub login_mode: ApiLoginMode,
    pub otp_channel: ApiOtpChannel,
    #[oai(validator(minimum(value = "6"), maximum(value = "10")))]
    pub code_length: u32,
    #[oai(validator(minimum(value = "120"), maximum(value = "600")))]
    pub code_lifetime_secs: u32,
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub code_max_guesses: u32,
    #[oai(validator(minimum(value = "30"), maximum(value = "300")))]
    pub resend_cooldown_secs: u32,
    #[oai(validator(minimum(value = "1"), maximum(value = "20")))]
    pub codes_per_hour: u32,
    /// At least `codes_per_hour`.
    #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
    pub codes_per_day: u32,
    #[oai(validator(minimum(value = "3"), maximum(value = "50")))]
    pub code_failures_per_hour: u32,
    /// At least 15 when a password is the only factor, 8 in `password_and_otp`.
    #[oai(validator(minimum(value = "8"), maximum(value = "64")))]
    pub password_min_length: u32,
    #[oai(validator(minimum(value = "3"), maximum(value = "50")))]
    pub lockout_threshold: u32,
    #[oai(validator(minimum(value = "60"), maximum(value = "86400")))]
    pub lockout_window_secs: u32,
    #[oai(validator(minimum(value = "60"), maximum(value = "86400")))]
    pub lockout_secs: u32,
    #[oai(validator(minimum(value = "300"), maximum(value = "86400")))]
    pub session_idle_secs: u32,
    #[oai(validator(minimum(value = "900"), maximum(value = "2592000")))]
    pub session_absolute_secs: u32,
    pub self_registration: ApiSelfRegistration,
    /// Email domains allowed to register; empty allows any.
    #[oai(validator(max_items = 50))]
    pub registration_domains: Vec<String>,
    pub anonymous_solutions: bool,
    pub contacts_may_close: bool,
    pub contacts_may_reopen: bool,
}

impl LoginPolicyDoc {
    fn of(policy: LoginPolicy) -> Self {
        Self {
            login_mode: policy.login_mode.into(),
            otp_channel: policy.otp_channel.into(),
            code_length: policy.code_length,
            code_lifetime_secs: policy.code_lifetime_secs,
            code_max_guesses: policy.code_max_guesses,
            resend_cooldown_secs: policy.resend_cooldown_secs,
            codes_per_hour: policy.codes_per_hour,
            codes_per_day: policy.codes_per_day,
            code_failures_per_hour: policy.code_failures_per_hour,
            password_min_length: policy.password_min_length,
            lockout_threshold: policy.lockout_threshold,
            lockout_window_secs: policy.lockout_window_secs,
            lockout_secs: policy.lockout_secs,
            session_idle_secs: policy.session_idle_secs,
            session_absolute_secs: policy.session_absolute_secs,
            self_registration: match policy.self_registration {
                SelfRegistration::Off => ApiSelfRegistration::Off,
                SelfRegistration::Open => ApiSelfRegistration::Open,
                SelfRegistration::WithApproval => ApiSelfRegistration::WithApproval,
            },
            registration_domains: policy.registration_domains,
            anonymous_solutions: policy.anonymous_solutions,
            contacts_may_close: policy.contacts_may_close,
            contacts_may_reopen: policy.contacts_may_reopen,
        }
    }

    fn into_policy(self) -> LoginPolicy {
        LoginPolicy {
            login_mode: self.login_mode.into(),
            otp_channel: self.otp_channel.into(),
            code_length: self.code_length,
            code_lifetime_secs: self.code_lifetime_secs,
            code_max_guesses: self.code_max_guesses,
            resend_cooldown_secs: self.resend_cooldown_secs,
            codes_per_hour: self.codes_per_hour,
            codes_per_day: self.codes_per_day,
            code_failures_per_hour: self.code_failures_per_hour,
            password_min_length: self.password_min_length,
            lockout_threshold: self.lockout_threshold,
            lockout_window_secs: self.lockout_window_secs,
            lockout_secs: self.lockout_secs,
            session_idle_secs: self.session_idle_secs,
            session_absolute_secs: self.session_absolute_secs,
            self_registration: match self.self_registration {
                ApiSelfRegistration::Off => SelfRegistration::Off,
                ApiSelfRegistration::Open => SelfRegistration::Open,
                ApiSelfRegistration::WithApproval => SelfRegistration::WithApproval,
            },
            registration_domains: self
                .registration_domains
                .iter()
                .map(|d| d.trim().to_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            anonymous_solutions: self.anonymous_solutions,
            contacts_may_close: self.contacts_may_close,
            contacts_may_reopen: self.contacts_may_reopen,
        }
    }
}

/// A contact as the directory shows it.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactInfo {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub has_password: bool,
    pub locked: bool,
}

impl ContactInfo {
    fn of(entry: directory::DirectoryEntry) -> Self {
        let locked = entry.is_locked(Utc::now().naive_utc());
        Self {
            has_password: entry.has_password(),
            id: entry.id,
            name: entry.name,
            email: entry.email,
            mobile: entry.mobile,
            status: entry.status,
            locked,
        }
    }
}

/// One page of contacts, by name.
#[derive(Object, Debug)]
pub struct ContactPage {
    pub items: Vec<ContactInfo>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// A new contact: a name and an email address, a mobile number, or both.
#[derive(Object, Debug)]
pub struct NewContact {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    #[oai(validator(max_length = 32))]
    pub mobile: Option<String>,
}

/// Changes to a contact's details: only the fields given change, and `""` removes an email
/// address or a mobile number (a contact keeps at least one of them).
#[derive(Object, Debug)]
pub struct ContactPatch {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    #[oai(validator(max_length = 32))]
    pub mobile: Option<String>,
}

/// A password an admin sets for a contact, by the organization's password rules.
#[derive(Object)]
pub struct NewPassword {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub password: String,
}

/// What became of an email or SMS.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiDeliveryState {
    Pending,
    Sending,
    Sent,
    Dropped,
    Failed,
}

impl ApiDeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Dropped => "dropped",
            Self::Failed => "failed",
        }
    }
}

/// How a message travels.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiChannel {
    Email,
    Sms,
}

impl ApiChannel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

/// A solution as admins see it, drafts included.
#[derive(Object, Debug)]
pub struct AdminSolution {
    pub id: String,
    pub topic: String,
    pub title: String,
    /// `draft` or `published`.
    pub status: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A service category as admins see it, inactive ones included.
#[derive(Object, Debug)]
pub struct AdminCategory {
    #[oai(flatten)]
    pub category: Category,
    pub active: bool,
    pub position: i32,
}

/// One email or SMS and what became of it; never its body, and the recipient masked.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryInfo {
    pub id: String,
    /// `email` or `sms`.
    pub channel: String,
    pub recipient: String,
    /// `pending`, `sending`, `sent`, `dropped` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One page of deliveries, newest first.
#[derive(Object, Debug)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryInfo>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// One audit event.
#[derive(Object, Debug)]
pub struct AuditEventInfo {
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// `anonymous`, `contact:<id>`, `admin:<id>`, `api_key:<id>` or `system`.
    pub actor: String,
    pub kind: String,
    pub detail: serde_json::Value,
    pub client_ip: String,
}

/// One page of audit events, newest first.
#[derive(Object, Debug)]
pub struct AuditPage {
    pub items: Vec<AuditEventInfo>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

#[derive(ApiResponse)]
pub enum OrgsResponse {
    /// The organizations this key reaches.
    #[oai(status = 200)]
    Ok(Json<Vec<Org>>),
}

#[derive(ApiResponse)]
pub enum OrgResponse {
    /// The organization.
    #[oai(status = 200)]
    Ok(Json<Org>),
    /// The organization is made, as a draft.
    #[oai(status = 201)]
    Created(Json<Org>),
}

#[derive(ApiResponse)]
pub enum PolicyResponse {
    /// The login policy.
    #[oai(status = 200)]
    Ok(Json<LoginPolicyDoc>),
}

#[derive(ApiResponse)]
pub enum ContactPageResponse {
    /// One page of contacts.
    #[oai(status = 200)]
    Ok(Json<ContactPage>),
}

#[derive(ApiResponse)]
pub enum ContactResponse {
    /// The contact.
    #[oai(status = 200)]
    Ok(Json<ContactInfo>),
    /// The contact is added.
    #[oai(status = 201)]
    Created(Json<ContactInfo>),
}

#[derive(ApiResponse)]
pub enum InvitationResponse {
    /// The invitation is on its way: the contact sets a password from the email.
    #[oai(status = 202)]
    Accepted(Json<ContactInfo>),
}

#[derive(ApiResponse)]
pub enum CategoriesResponse {
    /// Every service category, in order.
    #[oai(status = 200)]
    Ok(Json<Vec<AdminCategory>>),
}

#[derive(ApiResponse)]
pub enum SolutionsResponse {
    /// Every solution, by topic then title.
    #[oai(status = 200)]
    Ok(Json<Vec<AdminSolution>>),
}

#[derive(ApiResponse)]
pub enum RequestsResponse {
    /// One page of the request queue.
    #[oai(status = 200)]
    Ok(Json<RequestPage>),
}

#[derive(ApiResponse)]
pub enum DeliveriesResponse {
    /// One page of the delivery log.
    #[oai(status = 200)]
    Ok(Json<DeliveryPage>),
}

#[derive(ApiResponse)]
pub enum AuditResponse {
    /// One page of the audit log.
    #[oai(status = 200)]
    Ok(Json<AuditPage>),
}

/// The organization at `slug`, when the key reaches it; not found otherwise.
pub async fn reached_org(app: &App, key: &ApiKey, slug: &str) -> Result<Organization, AppError> {
    let slug = slug.to_owned();
    let org = app
        .db
        .run(move |conn| org_store::find_by_slug(conn, &slug))
        .await?
        .ok_or(AppError::NotFound)?;
    if key.reaches(&org.id) {
        Ok(org)
    } else {
        Err(AppError::NotFound)
    }
}

/// An audit event caused by this key in this organization.
fn key_event(
    key: &ApiKey,
    org_id: OrgId,
    req: &Request,
    kind: &'static str,
    detail: serde_json::Value,
) -> AuditEvent {
    key_origin(key, req).event(org_id, kind, detail)
}

pub fn offset(page: u32, per_page: u32) -> i64 {
    i64::from(page - 1) * i64::from(per_page)
}

/// One contact of the organization, as the directory shows it.
async fn entry(
    app: &App,
    org_id: OrgId,
    id: &str,
) -> Result<(ContactId, directory::DirectoryEntry), AppError> {
    let contact_id = ContactId::parse(id.trim()).ok_or(AppError::NotFound)?;
    let found = app
        .db
        .run(move |conn| directory::entry(conn, &org_id, &contact_id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((contact_id, found))
}

async fn act_on_contact(
    app: &App,
    key: &ApiKey,
    req: &Request,
    (slug, id): (&str, &str),
    action: ContactAction,
) -> ApiResult<ContactResponse> {
    let org = reached_org(app, key, slug).await?;
    let (contact_id, _) = entry(app, org.id, id).await?;
    rules::act(app, org.id, contact_id, action, &key_origin(key, req)).await?;
    let (_, changed) = entry(app, org.id, id).await?;
    Ok(ContactResponse::Ok(Json(ContactInfo::of(changed))))
}

/// This key, from where this request came: the origin of the changes it makes.
pub fn key_origin(key: &ApiKey, req: &Request) -> Origin {
    Origin {
        actor: Actor::ApiKey(key.id.to_string()),
        client_ip: client(req).ip,
    }
}

/// A refusal of the domain as the API answers it: a conflict keeps its sentence, which the
/// domain made safe to show.
pub fn shown(error: AppError) -> ApiError {
    match error {
        AppError::Conflict(message) => {
            ApiError::with_detail(AppError::Conflict(String::new()), message)
        }
        other => other.into(),
    }
}

/// The first broken rule of typed contact details, as the API refuses it.
fn first_refusal(errors: Vec<(&'static str, String)>) -> AppError {
    let (field, message) = errors
        .into_iter()
        .next()
        .unwrap_or(("name", "Check the contact's details.".to_owned()));
    AppError::invalid(field, message)
}

#[OpenApi(prefix_path = "/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// The organizations this key reaches: its own, or every one for a platform key.
    #[oai(path = "/orgs", method = "get", operation_id = "admin_list_orgs")]
    async fn orgs(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
    ) -> ApiResult<OrgsResponse> {
        let all = app.db.run(org_store::list).await?;
        let reached = all
            .into_iter()
            .filter(|org| auth.0.reaches(&org.id))
            .map(Org::of)
            .collect();
        Ok(OrgsResponse::Ok(Json(reached)))
    }

    /// Makes a new organization, as a draft. Platform keys only.
    #[oai(path = "/orgs", method = "post", operation_id = "admin_create_org")]
    async fn create_org(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        body: Json<NewOrg>,
    ) -> ApiResult<OrgResponse> {
        if auth.0.org_id.is_some() {
            return Err(ApiError::with_detail(
                AppError::Forbidden,
                "Only a platform key makes organizations.",
            ));
        }
        let slug = body.slug.trim().to_owned();
        let name = body.name.trim().to_owned();
        check_slug(&slug)?;
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(AppError::invalid("name", "Use 1 to 100 characters.").into());
        }
        let org = Organization {
            id: OrgId::new(),
            slug: slug.clone(),
            name: name.clone(),
            status: OrgStatus::Draft,
            branding: Branding {
                accent_color: "#1d4ed8".to_owned(),
                welcome_text: String::new(),
                footer_text: String::new(),
            },
        };
        let event = key_event(
            &auth.0,
            org.id,
            req,
            "org.created",
            json!({ "slug": slug, "name": name }),
        );
        let stored = org.clone();
        app.db
            .transaction(move |conn| {
                if org_store::find_by_slug(conn, &stored.slug)?.is_some() {
                    return Err(AppError::Conflict("slug taken".to_owned()));
                }
                org_store::insert(conn, &stored, &LoginPolicy::default())?;
                audit::record(conn, &event)
            })
            .await
            .map_err(|error| match error {
                AppError::Conflict(_) => ApiError::with_detail(
                    AppError::Conflict(String::new()),
                    format!("'{slug}' is already taken."),
                ),
                other => other.into(),
            })?;
        tracing::info!(org.id = %org.id, api_key.id = %auth.0.id, "organization created");
        Ok(OrgResponse::Created(Json(Org::of(org))))
    }

    /// One organization.
    #[oai(path = "/orgs/:slug", method = "get", operation_id = "admin_get_org")]
    async fn org(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
    ) -> ApiResult<OrgResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        Ok(OrgResponse::Ok(Json(Org::of(org))))
    }

    /// Changes an organization's name, status and branding (its portal's Customer Portal
    /// Settings, but the logo).
    #[oai(
        path = "/orgs/:slug",
        method = "put",
        operation_id = "admin_update_org"
    )]
    async fn update_org(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        body: Json<OrgSettings>,
    ) -> ApiResult<OrgResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let body = body.0;
        let new = PortalSettings {
            name: body.name.trim().to_owned(),
            status: match body.status {
                ApiOrgStatus::Draft => OrgStatus::Draft,
                ApiOrgStatus::Live => OrgStatus::Live,
                ApiOrgStatus::Retired => OrgStatus::Retired,
            },
            accent_color: body.accent_color.trim().to_lowercase(),
            welcome_text: body.welcome_text.trim().to_owned(),
            footer_text: body.footer_text.trim().to_owned(),
            host_names: portal_settings::parse_host_names(
                &body.host_names.unwrap_or_default().join("\n"),
            ),
        };
        if let Some((field, message)) = portal_settings::check(&new).into_iter().next() {
            return Err(AppError::invalid(field, message).into());
        }
        let org_id = org.id;
        let old = app
            .db
            .run(move |conn| settings_store::load(conn, &org_id))
            .await?;
        let events: Vec<_> = portal_settings::changes(&old, &new)
            .into_iter()
            .map(|change| key_event(&auth.0, org_id, req, "portal_settings.changed", change))
            .collect();
        let saved = new.clone();
        let taken = app
            .db
            .transaction(move |conn| {
                if let Some(host) =
                    settings_store::host_name_taken(conn, &org_id, &saved.host_names)?
                {
                    return Ok(Some(host));
                }
                settings_store::save(conn, &org_id, &saved)?;
                for event in &events {
                    audit::record(conn, event)?;
                }
                Ok(None)
            })
            .await?;
        if let Some(host) = taken {
            return Err(ApiError::with_detail(
                AppError::Conflict(String::new()),
                format!("'{host}' already belongs to another organization's portal."),
            ));
        }
        let org_id = org.id;
        let updated = app
            .db
            .run(move |conn| org_store::find(conn, &org_id))
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(OrgResponse::Ok(Json(Org::of(updated))))
    }

    /// The organization's login policy.
    #[oai(
        path = "/orgs/:slug/login-policy",
        method = "get",
        operation_id = "admin_get_login_policy"
    )]
    async fn policy(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
    ) -> ApiResult<PolicyResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let org_id = org.id;
        let policy = app
            .db
            .run(move |conn| org_store::policy(conn, &org_id))
            .await?;
        Ok(PolicyResponse::Ok(Json(LoginPolicyDoc::of(policy))))
    }

    /// Replaces the organization's login policy with the document `GET` returns, changed. A
    /// change that would leave contacts without a way in is refused (409, saying how many)
    /// unless `confirm=true`.
    #[oai(
        path = "/orgs/:slug/login-policy",
        method = "put",
        operation_id = "admin_put_login_policy"
    )]
    async fn put_policy(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        confirm: Query<Option<bool>>,
        body: Json<LoginPolicyDoc>,
    ) -> ApiResult<PolicyResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let assurance = Assurance {
            proved: true,
            confirmed: confirm.0 == Some(true),
        };
        let origin = key_origin(&auth.0, req);
        let new = body.0.into_policy();
        match policy_change::save(&app, org.id, new, assurance, &origin).await? {
            PolicySave::NeedsConfirmation(warnings) => Err(ApiError::with_detail(
                AppError::Conflict(String::new()),
                format!("{} Repeat with confirm=true to save.", warnings.join(" ")),
            )),
            PolicySave::NeedsProof => Err(AppError::internal("a key was asked for proof").into()),
            PolicySave::Unchanged | PolicySave::Saved(_) => {
                let org_id = org.id;
                let stored = app
                    .db
                    .run(move |conn| org_store::policy(conn, &org_id))
                    .await?;
                Ok(PolicyResponse::Ok(Json(LoginPolicyDoc::of(stored))))
            }
        }
    }

    /// The organization's contacts whose name, email or mobile contains `q`, by name.
    #[oai(
        path = "/orgs/:slug/contacts",
        method = "get",
        operation_id = "admin_list_contacts"
    )]
    async fn contacts(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] per_page: Query<
            Option<u32>,
        >,
    ) -> ApiResult<ContactPageResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (page, per_page) = paging(page.0, per_page.0);
        let (org_id, q) = (org.id, search_text(q.0));
        let (entries, total) = app
            .db
            .run(move |conn| {
                directory::search(
                    conn,
                    &org_id,
                    &q,
                    offset(page, per_page),
                    i64::from(per_page),
                )
            })
            .await?;
        Ok(ContactPageResponse::Ok(Json(ContactPage {
            items: entries.into_iter().map(ContactInfo::of).collect(),
            total,
            page,
            per_page,
        })))
    }

    /// Adds a contact, active and without a password.
    #[oai(
        path = "/orgs/:slug/contacts",
        method = "post",
        operation_id = "admin_create_contact"
    )]
    async fn create_contact(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        body: Json<NewContact>,
    ) -> ApiResult<ContactResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let details = rules::check_details(
            &body.name,
            body.email.as_deref().unwrap_or_default(),
            body.mobile.as_deref().unwrap_or_default(),
            &app.config.phone_region,
        )
        .map_err(first_refusal)?;
        let id = rules::add(&app, org.id, details, &key_origin(&auth.0, req))
            .await
            .map_err(shown)?;
        let (_, created) = entry(&app, org.id, &id.to_string()).await?;
        Ok(ContactResponse::Created(Json(ContactInfo::of(created))))
    }

    /// One contact.
    #[oai(
        path = "/orgs/:slug/contacts/:id",
        method = "get",
        operation_id = "admin_get_contact"
    )]
    async fn contact(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<ContactResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (_, found) = entry(&app, org.id, &id).await?;
        Ok(ContactResponse::Ok(Json(ContactInfo::of(found))))
    }

    /// Disables a contact and ends all their sessions.
    #[oai(
        path = "/orgs/:slug/contacts/:id/disable",
        method = "post",
        operation_id = "admin_disable_contact"
    )]
    async fn disable(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<ContactResponse> {
        act_on_contact(&app, &auth.0, req, (&slug, &id), ContactAction::Disable).await
    }

    /// Lets a disabled contact log in again.
    #[oai(
        path = "/orgs/:slug/contacts/:id/enable",
        method = "post",
        operation_id = "admin_enable_contact"
    )]
    async fn enable(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<ContactResponse> {
        act_on_contact(&app, &auth.0, req, (&slug, &id), ContactAction::Enable).await
    }

    /// Lifts a contact's password lockout.
    #[oai(
        path = "/orgs/:slug/contacts/:id/unlock",
        method = "post",
        operation_id = "admin_unlock_contact"
    )]
    async fn unlock(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<ContactResponse> {
        act_on_contact(&app, &auth.0, req, (&slug, &id), ContactAction::Unlock).await
    }

    /// Ends every session of a contact.
    #[oai(
        path = "/orgs/:slug/contacts/:id/end-sessions",
        method = "post",
        operation_id = "admin_end_contact_sessions"
    )]
    async fn end_sessions(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<ContactResponse> {
        act_on_contact(&app, &auth.0, req, (&slug, &id), ContactAction::EndSessions).await
    }

    /// Changes a contact's name, email address or mobile number, checked as in the console;
    /// an email or mobile number another contact of the organization has is refused (409).
    #[oai(
        path = "/orgs/:slug/contacts/:id",
        method = "patch",
        operation_id = "admin_update_contact"
    )]
    async fn update_contact(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
        body: Json<ContactPatch>,
    ) -> ApiResult<ContactResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (contact_id, stored) = entry(&app, org.id, &id).await?;
        let patch = body.0;
        let details = rules::check_details(
            patch.name.as_deref().unwrap_or(&stored.name),
            patch
                .email
                .as_deref()
                .unwrap_or(stored.email.as_deref().unwrap_or_default()),
            patch
                .mobile
                .as_deref()
                .unwrap_or(stored.mobile.as_deref().unwrap_or_default()),
            &app.config.phone_region,
        )
        .map_err(first_refusal)?;
        let origin = key_origin(&auth.0, req);
        rules::change_details(&app, org.id, contact_id, details, &origin)
            .await
            .map_err(shown)?;
        let (_, changed) = entry(&app, org.id, &id).await?;
        Ok(ContactResponse::Ok(Json(ContactInfo::of(changed))))
    }

    /// Sets a contact's password, by the organization's password rules.
    #[oai(
        path = "/orgs/:slug/contacts/:id/password",
        method = "put",
        operation_id = "admin_set_contact_password"
    )]
    async fn set_password(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
        body: Json<NewPassword>,
    ) -> ApiResult<ContactResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (contact_id, _) = entry(&app, org.id, &id).await?;
        let password = SecretString::new(body.0.password);
        let origin = key_origin(&auth.0, req);
        rules::set_password(&app, &org, contact_id, password, &origin).await?;
        let (_, changed) = entry(&app, org.id, &id).await?;
        Ok(ContactResponse::Ok(Json(ContactInfo::of(changed))))
    }

    /// Removes a contact's password.
    #[oai(
        path = "/orgs/:slug/contacts/:id/password",
        method = "delete",
        operation_id = "admin_clear_contact_password"
    )]
    async fn clear_password(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<ContactResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (contact_id, _) = entry(&app, org.id, &id).await?;
        let origin = key_origin(&auth.0, req);
        rules::clear_password(&app, org.id, contact_id, &origin).await?;
        let (_, changed) = entry(&app, org.id, &id).await?;
        Ok(ContactResponse::Ok(Json(ContactInfo::of(changed))))
    }

    /// Emails a contact a link to set their password, as the console's invitation button does.
    #[oai(
        path = "/orgs/:slug/contacts/:id/invitation",
        method = "post",
        operation_id = "admin_invite_contact"
    )]
    async fn invite(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &Request,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<InvitationResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (contact_id, _) = entry(&app, org.id, &id).await?;
        let org_id = org.id;
        let policy = app
            .db
            .run(move |conn| org_store::policy(conn, &org_id))
            .await?;
        let detail = json!({ "contact_id": contact_id.to_string() });
        let event = key_origin(&auth.0, req).event(org.id, "contact.invited", detail);
        password_reset::invite(&app, &org, &policy, &contact_id, event).await?;
        tracing::info!(org.id = %org.id, contact.id = %contact_id, "password invitation sent");
        let (_, invited) = entry(&app, org.id, &id).await?;
        Ok(InvitationResponse::Accepted(Json(ContactInfo::of(invited))))
    }

    /// The organization's service categories, inactive ones included.
    #[oai(
        path = "/orgs/:slug/service-categories",
        method = "get",
        operation_id = "admin_list_service_categories"
    )]
    async fn categories(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
    ) -> ApiResult<CategoriesResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let org_id = org.id;
        let found = app
            .db
            .run(move |conn| request_store::categories(conn, &org_id))
            .await?;
        Ok(CategoriesResponse::Ok(Json(
            found
                .iter()
                .map(|c| AdminCategory {
                    category: content::category(c),
                    active: c.active,
                    position: c.position,
                })
                .collect(),
        )))
    }

    /// The organization's solutions, drafts included.
    #[oai(
        path = "/orgs/:slug/solutions",
        method = "get",
        operation_id = "admin_list_solutions"
    )]
    async fn solutions(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
    ) -> ApiResult<SolutionsResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let org_id = org.id;
        let found = app
            .db
            .run(move |conn| solution_store::all(conn, &org_id))
            .await?;
        Ok(SolutionsResponse::Ok(Json(
            found
                .into_iter()
                .map(|s| AdminSolution {
                    id: s.id.to_string(),
                    topic: s.topic,
                    title: s.title,
                    status: s.status.as_str().to_owned(),
                    updated_at: utc(s.updated_at),
                })
                .collect(),
        )))
    }

    /// The organization's requests, every contact's, newest first, filtered as the console's
    /// queue: by `status`, `category_id`, `priority`, `assignee` (an admin's id, or `none` for
    /// requests nobody is assigned to) and words or a number (`q`).
    #[oai(
        path = "/orgs/:slug/requests",
        method = "get",
        operation_id = "admin_list_requests"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per query parameter, as the spec lists them"
    )]
    async fn requests(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        status: Query<Option<ApiRequestStatus>>,
        #[oai(validator(max_length = 64))] category_id: Query<Option<String>>,
        priority: Query<Option<ApiPriority>>,
        #[oai(validator(max_length = 64))] assignee: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] per_page: Query<
            Option<u32>,
        >,
    ) -> ApiResult<RequestsResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (page, per_page) = paging(page.0, per_page.0);
        let q = search_text(q.0);
        let category_id = match category_id.0.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(CategoryId::parse(text).ok_or_else(|| {
                AppError::invalid("category_id", "Give one of the organization's categories.")
            })?),
        };
        let assignee = match assignee.0.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("none") => Some(None),
            Some(text) => Some(Some(AdminId::parse(text).ok_or_else(|| {
                AppError::invalid("assignee", "Give an admin's id, or none.")
            })?)),
        };
        let filter = request_store::RequestFilter {
            contact_id: None,
            status: status.0.map(ApiRequestStatus::to_domain),
            category_id,
            priority: priority.0.map(ApiPriority::to_domain),
            assignee,
            text: Some(q).filter(|t| !t.is_empty()),
        };
        let org_id = org.id;
        let found = app
            .db
            .read_list(filter.text.is_some(), move |conn| {
                request_store::list(conn, &org_id, &filter, page, per_page)
            })
            .await?;
        Ok(RequestsResponse::Ok(Json(RequestPage {
            items: found.requests.iter().map(RequestSummary::of).collect(),
            total: found.total,
            page,
            per_page,
        })))
    }

    /// The organization's delivery log, newest first: never a body, recipients masked.
    /// Filtered by `state`, `channel` and the time a message was queued (`since`, `until`);
    /// pages stay the same while the log grows when `until` is kept from the first page.
    #[oai(
        path = "/orgs/:slug/deliveries",
        method = "get",
        operation_id = "admin_list_deliveries"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per query parameter, as the spec lists them"
    )]
    async fn deliveries(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        state: Query<Option<ApiDeliveryState>>,
        channel: Query<Option<ApiChannel>>,
        since: Query<Option<chrono::DateTime<Utc>>>,
        until: Query<Option<chrono::DateTime<Utc>>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] per_page: Query<
            Option<u32>,
        >,
    ) -> ApiResult<DeliveriesResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (page, per_page) = paging(page.0, per_page.0);
        let org_id = org.id;
        let filter = outbox::DeliveryFilter {
            state: state.0.map(|s| s.as_str().to_owned()),
            channel: channel.0.map(|c| c.as_str().to_owned()),
            since: since.0.map(|at| at.naive_utc()),
            until: until.0.map(|at| at.naive_utc()),
        };
        let (found, total) = app
            .db
            .run(move |conn| {
                outbox::page(
                    conn,
                    &org_id,
                    &filter,
                    offset(page, per_page),
                    i64::from(per_page),
                )
            })
            .await?;
        let items = found
            .into_iter()
            .map(|d| DeliveryInfo {
                recipient: if d.channel == "sms" {
                    mask_mobile(&d.recipient)
                } else {
                    mask_email(&d.recipient)
                },
                id: d.id,
                channel: d.channel,
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error,
                created_at: utc(d.created_at),
                sent_at: d.sent_at.map(utc),
            })
            .collect();
        Ok(DeliveriesResponse::Ok(Json(DeliveryPage {
            items,
            total,
            page,
            per_page,
        })))
    }

    /// The organization's audit log, newest first: every event, or those of one `kind`, by or
    /// about one `contact` (an id), at or after `since` and at or before `until`. Pages stay
    /// the same while the log grows when `until` is kept from the first page.
    #[oai(
        path = "/orgs/:slug/audit-events",
        method = "get",
        operation_id = "admin_list_audit_events"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per query parameter, as the spec lists them"
    )]
    async fn audit_events(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        #[oai(validator(max_length = 64))] kind: Query<Option<String>>,
        #[oai(validator(max_length = 64))] contact: Query<Option<String>>,
        since: Query<Option<chrono::DateTime<Utc>>>,
        until: Query<Option<chrono::DateTime<Utc>>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] per_page: Query<
            Option<u32>,
        >,
    ) -> ApiResult<AuditResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let (page, per_page) = paging(page.0, per_page.0);
        let org_id = org.id;
        let contact = match contact.0.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(ContactId::parse(text).ok_or_else(|| {
                AppError::invalid(
                    "contact",
                    "Give a contact's id, as the contacts list shows it.",
                )
            })?),
        };
        let filter = audit_log::EventFilter {
            contact,
            kind: kind.0.filter(|k| !k.trim().is_empty()),
            since: since.0.map(|at| at.naive_utc()),
            until: until.0.map(|at| at.naive_utc()),
        };
        let (found, total) = app
            .db
            .run(move |conn| {
                audit_log::page(
                    conn,
                    &org_id,
                    &filter,
                    offset(page, per_page),
                    i64::from(per_page),
                )
            })
            .await?;
        let items = found
            .into_iter()
            .map(|e| AuditEventInfo {
                occurred_at: utc(e.occurred_at),
                actor: e.actor,
                kind: e.kind,
                detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
                client_ip: e.client_ip,
            })
            .collect();
        Ok(AuditResponse::Ok(Json(AuditPage {
            items,
            total,
            page,
            per_page,
        })))
    }
}
