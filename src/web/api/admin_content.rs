//! An organization's content through an API key, as its staff: service categories (add,
//! change, archive by making inactive), solutions (add, read, change, publish, withdraw) and
//! requests (read one with its whole thread, answer, add an internal note, change the status,
//! assign).
//!
//! Every change goes through the console's own domain functions in
//! [`crate::domain::requests`] and [`crate::domain::solutions`], with the key as the acting
//! staff ([`crate::domain::staff::Staff`]): the same checks, the same audit events, the same
//! email to the contact after a reply. As in the console, a category is never deleted (made
//! inactive, it stays on the requests that have it) and a solution is withdrawn to draft
//! rather than deleted. A key reaches its own organization only; anything else is 404.

use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    AdminAuth, ApiResult, ApiTags,
    admin::{AdminCategory, AdminSolution, reached_org},
    attachments::AttachmentInfo,
    content::{self, ApiPriority, ApiRequestStatus, number},
    utc,
};
use crate::{
    App, AppError,
    domain::{
        admin::AdminId,
        org::OrgId,
        requests::{self, AuthorKind, CategoryDraft, CategoryId, ServiceCategory},
        solutions::{self, Solution, SolutionDraft, SolutionId, SolutionStatus},
    },
    storage::{requests as request_store, solutions as solution_store},
};

/// The admin endpoints for categories, solutions and requests.
pub struct AdminContentApi;

/// A service category as an admin fills it in.
#[derive(Object, Debug)]
pub struct CategoryDoc {
    #[oai(validator(min_length = 1, max_length = 80))]
    pub name: String,
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// Whether contacts may choose it for new requests; `true` unless given.
    pub active: Option<bool>,
    /// Its place in the portal's list, lowest first; 0 unless given.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<i32>,
}

impl CategoryDoc {
    fn draft(self) -> CategoryDraft {
        CategoryDraft {
            name: self.name,
            description: self.description.unwrap_or_default(),
            active: self.active.unwrap_or(true),
            position: self.position.unwrap_or(0),
        }
    }
}

/// Whether a solution is shown in the portal.
#[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiSolutionStatus {
    Draft,
    Published,
}

/// A solution as an admin writes it.
#[derive(Object, Debug)]
pub struct SolutionDoc {
    #[oai(validator(min_length = 1, max_length = 80))]
    pub topic: String,
    #[oai(validator(min_length = 3, max_length = 200))]
    pub title: String,
    /// Markdown.
    #[oai(validator(min_length = 1, max_length = 50000))]
    pub body: String,
    /// `draft` unless given.
    pub status: Option<ApiSolutionStatus>,
}

/// A solution with its body, drafts included.
#[derive(Object, Debug)]
pub struct AdminSolutionDetail {
    #[oai(flatten)]
    pub solution: AdminSolution,
    /// Markdown.
    pub body: String,
}

/// A message in a request's thread as staff see it, internal notes included.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffReply {
    pub id: String,
    /// `contact` or `staff`.
    pub author: String,
    /// The contact's id, the admin's id, or `api_key:<id>`.
    pub author_id: Option<String>,
    /// An internal note: never shown to the contact.
    pub internal: bool,
    pub body: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A request as staff see it: its whole thread and its files.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffRequest {
    pub number: i64,
    pub subject: String,
    pub description: String,
    pub status: ApiRequestStatus,
    pub priority: ApiPriority,
    pub category_id: String,
    pub contact_id: String,
    /// The admin it is assigned to, if any.
    pub assignee_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub replies: Vec<StaffReply>,
    pub attachments: Vec<AttachmentInfo>,
}

/// A staff answer to the contact, who is told by email.
#[derive(Object, Debug)]
pub struct StaffAnswer {
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: String,
    /// The request's status after the answer; `awaiting_contact` unless given.
    pub status: Option<ApiRequestStatus>,
}

/// An internal note, seen by staff only.
#[derive(Object, Debug)]
pub struct InternalNote {
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: String,
}

/// A request's new status.
#[derive(Object, Debug)]
pub struct StatusChange {
    pub status: ApiRequestStatus,
}

/// Whom a request is assigned to.
#[derive(Object, Debug)]
pub struct Assignment {
    /// An admin of the organization, by id; none (or `null`) for nobody.
    #[oai(validator(max_length = 64))]
    pub assignee_id: Option<String>,
}

#[derive(ApiResponse)]
pub enum CategoryResponse {
    /// The service category.
    #[oai(status = 200)]
    Ok(Json<AdminCategory>),
    /// The service category is added.
    #[oai(status = 201)]
    Created(Json<AdminCategory>),
}

#[derive(ApiResponse)]
pub enum SolutionResponse {
    /// The solution.
    #[oai(status = 200)]
    Ok(Json<AdminSolutionDetail>),
    /// The solution is added.
    #[oai(status = 201)]
    Created(Json<AdminSolutionDetail>),
}

#[derive(ApiResponse)]
pub enum StaffRequestResponse {
    /// The request with its whole thread.
    #[oai(status = 200)]
    Ok(Json<StaffRequest>),
}

fn admin_category(category: &ServiceCategory) -> AdminCategory {
    AdminCategory {
        category: content::category(category),
        active: category.active,
        position: category.position,
    }
}

async fn find_category(app: &App, org_id: OrgId, id: &str) -> Result<ServiceCategory, AppError> {
    let id = CategoryId::parse(id.trim()).ok_or(AppError::NotFound)?;
    app.db
        .run(move |conn| request_store::find_category(conn, &org_id, &id))
        .await?
        .ok_or(AppError::NotFound)
}

fn solution_detail(solution: Solution) -> AdminSolutionDetail {
    AdminSolutionDetail {
        solution: AdminSolution {
            id: solution.id.to_string(),
            topic: solution.topic,
            title: solution.title,
            status: solution.status.as_str().to_owned(),
            updated_at: utc(solution.updated_at),
        },
        body: solution.body,
    }
}

async fn find_solution(app: &App, org_id: OrgId, id: &str) -> Result<Solution, AppError> {
    let id = SolutionId::parse(id.trim()).ok_or(AppError::NotFound)?;
    app.db
        .run(move |conn| solution_store::find(conn, &org_id, &id))
        .await?
        .ok_or(AppError::NotFound)
}

fn solution_draft(doc: SolutionDoc, default: SolutionStatus) -> SolutionDraft {
    SolutionDraft {
        topic: doc.topic,
        title: doc.title,
        body: doc.body,
        status: match doc.status {
            None => default,
            Some(ApiSolutionStatus::Draft) => SolutionStatus::Draft,
            Some(ApiSolutionStatus::Published) => SolutionStatus::Published,
        },
    }
}

/// Publishes or withdraws a solution, keeping the rest of it.
async fn set_published(
    app: &App,
    auth: &AdminAuth,
    (slug, id): (&str, &str),
    status: SolutionStatus,
) -> ApiResult<SolutionResponse> {
    let org = reached_org(app, &auth.0, slug).await?;
    let found = find_solution(app, org.id, id).await?;
    let draft = SolutionDraft {
        topic: found.topic,
        title: found.title,
        body: found.body,
        status,
    };
    solutions::update(app, &org.id, &auth.0, &found.id, draft).await?;
    let saved = find_solution(app, org.id, id).await?;
    Ok(SolutionResponse::Ok(Json(solution_detail(saved))))
}

/// One of the organization's requests as staff see it.
async fn staff_request(
    app: &App,
    auth: &AdminAuth,
    org_id: OrgId,
    number: i64,
) -> ApiResult<StaffRequestResponse> {
    let found = requests::staff_view(app, &org_id, &auth.0, number).await?;
    let request = found.request;
    Ok(StaffRequestResponse::Ok(Json(StaffRequest {
        number: request.number,
        subject: request.subject,
        description: request.description,
        status: ApiRequestStatus::from_domain(request.status),
        priority: ApiPriority::from_domain(request.priority),
        category_id: request.category_id.to_string(),
        contact_id: request.contact_id.to_string(),
        assignee_id: request.assignee_id.map(|id| id.to_string()),
        created_at: utc(request.created_at),
        updated_at: utc(request.updated_at),
        replies: found
            .replies
            .into_iter()
            .map(|reply| StaffReply {
                id: reply.id.to_string(),
                author: match reply.author_kind {
                    AuthorKind::Contact => "contact".to_owned(),
                    AuthorKind::Staff => "staff".to_owned(),
                },
                author_id: reply.author_id,
                internal: reply.internal,
                body: reply.body,
                created_at: utc(reply.created_at),
            })
            .collect(),
        attachments: found.attachments.iter().map(AttachmentInfo::of).collect(),
    })))
}

/// The request at `number` of the organization at `slug`, after `change` was made to it.
async fn after<F>(
    app: &App,
    auth: &AdminAuth,
    (slug, number): (&str, &str),
    change: F,
) -> ApiResult<StaffRequestResponse>
where
    F: AsyncFnOnce(OrgId, i64) -> Result<(), AppError>,
{
    let org = reached_org(app, &auth.0, slug).await?;
    let number = self::number(number)?;
    change(org.id, number).await?;
    tracing::info!(org.id = %org.id, request.number = number, "request changed");
    staff_request(app, auth, org.id, number).await
}

#[OpenApi(prefix_path = "/admin", tag = "ApiTags::Admin")]
impl AdminContentApi {
    /// Adds a service category; names are unique within the organization.
    #[oai(
        path = "/orgs/:slug/service-categories",
        method = "post",
        operation_id = "admin_create_service_category"
    )]
    async fn create_category(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        body: Json<CategoryDoc>,
    ) -> ApiResult<CategoryResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let id = requests::create_category(&app, &org.id, &auth.0, body.0.draft()).await?;
        tracing::info!(org.id = %org.id, category.id = %id, "service category added");
        let created = find_category(&app, org.id, &id.to_string()).await?;
        Ok(CategoryResponse::Created(Json(admin_category(&created))))
    }

    /// One service category.
    #[oai(
        path = "/orgs/:slug/service-categories/:id",
        method = "get",
        operation_id = "admin_get_service_category"
    )]
    async fn category(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<CategoryResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let found = find_category(&app, org.id, &id).await?;
        Ok(CategoryResponse::Ok(Json(admin_category(&found))))
    }

    /// Changes a service category. Archive one with `"active": false`: it is no longer offered
    /// for new requests but stays on the requests that have it (categories are never deleted).
    #[oai(
        path = "/orgs/:slug/service-categories/:id",
        method = "put",
        operation_id = "admin_update_service_category"
    )]
    async fn update_category(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
        body: Json<CategoryDoc>,
    ) -> ApiResult<CategoryResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let found = find_category(&app, org.id, &id).await?;
        requests::update_category(&app, &org.id, &auth.0, &found.id, body.0.draft()).await?;
        tracing::info!(org.id = %org.id, category.id = %found.id, "service category changed");
        let saved = find_category(&app, org.id, &id).await?;
        Ok(CategoryResponse::Ok(Json(admin_category(&saved))))
    }

    /// Adds a solution, as a draft unless `status` says `published`; titles are unique within
    /// the organization.
    #[oai(
        path = "/orgs/:slug/solutions",
        method = "post",
        operation_id = "admin_create_solution"
    )]
    async fn create_solution(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        body: Json<SolutionDoc>,
    ) -> ApiResult<SolutionResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let draft = solution_draft(body.0, SolutionStatus::Draft);
        let id = solutions::create(&app, &org.id, &auth.0, draft).await?;
        tracing::info!(org.id = %org.id, solution.id = %id, "solution saved");
        let created = find_solution(&app, org.id, &id.to_string()).await?;
        Ok(SolutionResponse::Created(Json(solution_detail(created))))
    }

    /// One solution with its body, draft or published.
    #[oai(
        path = "/orgs/:slug/solutions/:id",
        method = "get",
        operation_id = "admin_get_solution"
    )]
    async fn solution(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<SolutionResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let found = find_solution(&app, org.id, &id).await?;
        Ok(SolutionResponse::Ok(Json(solution_detail(found))))
    }

    /// Replaces a solution's topic, title and body; its status stays unless `status` is given.
    #[oai(
        path = "/orgs/:slug/solutions/:id",
        method = "put",
        operation_id = "admin_update_solution"
    )]
    async fn update_solution(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
        body: Json<SolutionDoc>,
    ) -> ApiResult<SolutionResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let found = find_solution(&app, org.id, &id).await?;
        let draft = solution_draft(body.0, found.status);
        solutions::update(&app, &org.id, &auth.0, &found.id, draft).await?;
        tracing::info!(org.id = %org.id, solution.id = %found.id, "solution saved");
        let saved = find_solution(&app, org.id, &id).await?;
        Ok(SolutionResponse::Ok(Json(solution_detail(saved))))
    }

    /// Publishes a solution: the portal lists it at once.
    #[oai(
        path = "/orgs/:slug/solutions/:id/publish",
        method = "post",
        operation_id = "admin_publish_solution"
    )]
    async fn publish(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<SolutionResponse> {
        set_published(&app, &auth, (&slug, &id), SolutionStatus::Published).await
    }

    /// Withdraws a solution to draft: only staff see it.
    #[oai(
        path = "/orgs/:slug/solutions/:id/unpublish",
        method = "post",
        operation_id = "admin_unpublish_solution"
    )]
    async fn unpublish(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<SolutionResponse> {
        set_published(&app, &auth, (&slug, &id), SolutionStatus::Draft).await
    }

    /// One request of the organization with its whole thread, internal notes included.
    #[oai(
        path = "/orgs/:slug/requests/:number",
        method = "get",
        operation_id = "admin_get_request"
    )]
    async fn request(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        number: Path<String>,
    ) -> ApiResult<StaffRequestResponse> {
        let org = reached_org(&app, &auth.0, &slug).await?;
        let number = self::number(&number)?;
        staff_request(&app, &auth, org.id, number).await
    }

    /// Answers the contact, who is told by email; the request then waits for the contact
    /// unless `status` says otherwise.
    #[oai(
        path = "/orgs/:slug/requests/:number/replies",
        method = "post",
        operation_id = "admin_reply_to_request"
    )]
    async fn reply(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        number: Path<String>,
        body: Json<StaffAnswer>,
    ) -> ApiResult<StaffRequestResponse> {
        let answer = body.0;
        let status = answer.status.map(ApiRequestStatus::to_domain);
        let staff = &auth.0;
        after(&app, &auth, (&slug, &number), async |org_id, number| {
            requests::staff_reply(&app, &org_id, staff, number, answer.body, status).await
        })
        .await
    }

    /// Adds an internal note under a request; the contact neither sees it nor is told.
    #[oai(
        path = "/orgs/:slug/requests/:number/notes",
        method = "post",
        operation_id = "admin_note_request"
    )]
    async fn note(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        number: Path<String>,
        body: Json<InternalNote>,
    ) -> ApiResult<StaffRequestResponse> {
        let text = body.0.body;
        let staff = &auth.0;
        after(&app, &auth, (&slug, &number), async |org_id, number| {
            requests::add_internal_note(&app, &org_id, staff, number, text).await
        })
        .await
    }

    /// Moves a request to another status.
    #[oai(
        path = "/orgs/:slug/requests/:number/status",
        method = "put",
        operation_id = "admin_set_request_status"
    )]
    async fn status(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        number: Path<String>,
        body: Json<StatusChange>,
    ) -> ApiResult<StaffRequestResponse> {
        let status = body.0.status.to_domain();
        let staff = &auth.0;
        after(&app, &auth, (&slug, &number), async |org_id, number| {
            requests::change_status(&app, &org_id, staff, number, status).await
        })
        .await
    }

    /// Assigns a request to an admin of the organization, or to nobody.
    #[oai(
        path = "/orgs/:slug/requests/:number/assignee",
        method = "put",
        operation_id = "admin_assign_request"
    )]
    async fn assign(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: AdminAuth,
        slug: Path<String>,
        number: Path<String>,
        body: Json<Assignment>,
    ) -> ApiResult<StaffRequestResponse> {
        let assignee = match body.0.assignee_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(AdminId::parse(text).ok_or_else(|| {
                AppError::invalid(
                    "assignee",
                    "Assign the request to an admin of this organization.",
                )
            })?),
        };
        let staff = &auth.0;
        after(&app, &auth, (&slug, &number), async |org_id, number| {
            requests::assign(&app, &org_id, staff, number, assignee).await
        })
        .await
    }
}
