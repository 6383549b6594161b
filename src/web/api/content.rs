//! Solutions, service categories and the contact's own requests.
//!
//! Solutions and categories hang under their portal; anonymous callers read the solutions
//! when the portal allows, and a contact's token of another organization is answered 404.
//! Requests are always the token's own organization's and the contact's own, found by their
//! number. A retired portal is read-only, as in the browser.

use poem::Request as HttpRequest;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{ApiResult, ApiTags, ContactAuth, MaybeContact, SignedIn, client, utc};
use crate::{
    App, AppError,
    domain::{
        markdown,
        org::OrgStatus,
        requests::{
            self, AuthorKind, Priority, Request, RequestDraft, RequestStatus, ServiceCategory,
        },
        solutions::{self, SearchTerms, Solution, SolutionId, SolutionStatus},
    },
    storage::{
        requests::{self as request_store, RequestFilter},
        solutions as solution_store,
    },
    web::portal::Portal,
};

/// The content endpoints.
pub struct ContentApi;

/// Most items on one page of a list.
pub const MAX_PER_PAGE: u32 = 100;
/// Items on one page of a list unless asked otherwise.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// Most solutions a search considers.
const SEARCH_LIMIT: i64 = 500;

/// A solution as a list shows it.
#[derive(Object, Debug)]
pub struct SolutionSummary {
    pub id: String,
    pub topic: String,
    pub title: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One page of solutions.
#[derive(Object, Debug)]
pub struct SolutionPage {
    pub items: Vec<SolutionSummary>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// A whole solution.
#[derive(Object, Debug)]
pub struct SolutionDetail {
    pub id: String,
    pub topic: String,
    pub title: String,
    /// The article in Markdown.
    pub body: String,
    /// The article as the portal shows it: safe HTML.
    pub body_html: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A service category requests are raised under.
#[derive(Object, Debug)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// Where a request stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiRequestStatus {
    Open,
    InProgress,
    AwaitingContact,
    Resolved,
    Closed,
}

impl ApiRequestStatus {
    pub fn from_domain(status: RequestStatus) -> Self {
        match status {
            RequestStatus::Open => Self::Open,
            RequestStatus::InProgress => Self::InProgress,
            RequestStatus::AwaitingContact => Self::AwaitingContact,
            RequestStatus::Resolved => Self::Resolved,
            RequestStatus::Closed => Self::Closed,
        }
    }

    pub fn to_domain(self) -> RequestStatus {
        match self {
            Self::Open => RequestStatus::Open,
            Self::InProgress => RequestStatus::InProgress,
            Self::AwaitingContact => RequestStatus::AwaitingContact,
            Self::Resolved => RequestStatus::Resolved,
            Self::Closed => RequestStatus::Closed,
        }
    }
}

/// How urgent a request is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ApiPriority {
    Low,
    Medium,
    High,
    Urgent,
}

impl ApiPriority {
    pub fn from_domain(priority: Priority) -> Self {
        match priority {
            Priority::Low => Self::Low,
            Priority::Medium => Self::Medium,
            Priority::High => Self::High,
            Priority::Urgent => Self::Urgent,
        }
    }

    pub fn to_domain(self) -> Priority {
        match self {
            Self::Low => Priority::Low,
            Self::Medium => Priority::Medium,
            Self::High => Priority::High,
            Self::Urgent => Priority::Urgent,
        }
    }
}

/// A request as lists show it.
#[derive(Object, Debug)]
pub struct RequestSummary {
    pub number: i64,
    pub subject: String,
    pub status: ApiRequestStatus,
    pub priority: ApiPriority,
    pub category_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl RequestSummary {
    pub fn of(request: &Request) -> Self {
        Self {
            number: request.number,
            subject: request.subject.clone(),
            status: ApiRequestStatus::from_domain(request.status),
            priority: ApiPriority::from_domain(request.priority),
            category_id: request.category_id.to_string(),
            created_at: utc(request.created_at),
            updated_at: utc(request.updated_at),
        }
    }
}

/// One page of requests, newest first.
#[derive(Object, Debug)]
pub struct RequestPage {
    pub items: Vec<RequestSummary>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// A message in a request's thread.
#[derive(Object, Debug)]
pub struct ReplyInfo {
    pub id: String,
    /// `contact` or `staff`.
    pub author: String,
    pub body: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A request with its thread, and what the contact may do with it now.
#[derive(Object, Debug)]
pub struct RequestDetail {
    pub number: i64,
    pub subject: String,
    pub description: String,
    pub status: ApiRequestStatus,
    pub priority: ApiPriority,
    pub category_id: String,
    pub category: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub replies: Vec<ReplyInfo>,
    pub may_reply: bool,
    pub may_close: bool,
    pub may_reopen: bool,
}

/// A new request.
#[derive(Object, Debug)]
pub struct NewRequest {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub subject: String,
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub description: String,
    /// One of the portal's service categories (`GET /portals/{slug}/service-categories`).
    #[oai(validator(min_length = 1, max_length = 64))]
    pub category_id: String,
    /// `medium` unless given.
    pub priority: Option<ApiPriority>,
}

/// A reply of the contact.
#[derive(Object, Debug)]
pub struct NewReply {
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: String,
}

#[derive(ApiResponse)]
pub enum SolutionPageResponse {
    /// One page of published solutions.
    #[oai(status = 200)]
    Ok(Json<SolutionPage>),
}

#[derive(ApiResponse)]
pub enum SolutionResponse {
    /// The solution.
    #[oai(status = 200)]
    Ok(Json<SolutionDetail>),
}

#[derive(ApiResponse)]
pub enum CategoriesResponse {
    /// The active service categories, in their order.
    #[oai(status = 200)]
    Ok(Json<Vec<Category>>),
}

#[derive(ApiResponse)]
pub enum RequestPageResponse {
    /// One page of the contact's requests.
    #[oai(status = 200)]
    Ok(Json<RequestPage>),
}

#[derive(ApiResponse)]
pub enum RequestResponse {
    /// The request.
    #[oai(status = 200)]
    Ok(Json<RequestDetail>),
}

#[derive(ApiResponse)]
pub enum RaisedResponse {
    /// The request is raised.
    #[oai(status = 201)]
    Created(Json<RequestDetail>),
}

/// Page number and size from a query, within their ranges.
pub fn paging(page: Option<u32>, per_page: Option<u32>) -> (u32, u32) {
    (
        page.unwrap_or(1).clamp(1, 1_000_000),
        per_page.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE),
    )
}

/// Search text from a query: trimmed, without control characters, at most 200 characters.
pub fn search_text(q: Option<String>) -> String {
    q.unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// The portal at `slug`, and whether the caller may read its solutions. A contact of another
/// organization finds nothing.
async fn readable_portal(app: &App, slug: &str, auth: &MaybeContact) -> Result<Portal, AppError> {
    let portal = Portal::load_open(app, slug).await?;
    match auth {
        MaybeContact::Contact(contact) if contact.0.org.id != portal.org.id => {
            Err(AppError::NotFound)
        }
        MaybeContact::Contact(_) => Ok(portal),
        MaybeContact::Anonymous if portal.policy.anonymous_solutions => Ok(portal),
        MaybeContact::Anonymous => Err(AppError::Unauthenticated),
    }
}

fn summary(solution: &Solution) -> SolutionSummary {
    SolutionSummary {
        id: solution.id.to_string(),
        topic: solution.topic.clone(),
        title: solution.title.clone(),
        updated_at: utc(solution.updated_at),
    }
}

pub fn check_writable(signed_in: &SignedIn) -> Result<(), AppError> {
    if signed_in.org.status == OrgStatus::Retired {
        Err(AppError::Forbidden)
    } else {
        Ok(())
    }
}

/// A request number from the path; anything else names no request.
pub fn number(text: &str) -> Result<i64, AppError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(AppError::NotFound)
}

/// One of the contact's requests with its thread.
async fn detail(app: &App, signed_in: &SignedIn, number: i64) -> Result<RequestDetail, AppError> {
    let (org_id, contact_id) = (signed_in.org.id, signed_in.contact.id);
    let (request, replies, category) = app
        .db
        .run(move |conn| {
            let request =
                request_store::find_request_of_contact(conn, &org_id, &contact_id, number)?
                    .ok_or(AppError::NotFound)?;
            let replies = request_store::replies(conn, &org_id, &request.id, false)?;
            let category = request_store::find_category(conn, &org_id, &request.category_id)?;
            Ok((request, replies, category))
        })
        .await?;
    let actions = requests::contact_actions(&signed_in.policy, request.status);
    let writable = signed_in.org.status != OrgStatus::Retired;
    Ok(RequestDetail {
        number: request.number,
        subject: request.subject,
        description: request.description,
        status: ApiRequestStatus::from_domain(request.status),
        priority: ApiPriority::from_domain(request.priority),
        category_id: request.category_id.to_string(),
        category: category.map(|c| c.name).unwrap_or_default(),
        created_at: utc(request.created_at),
        updated_at: utc(request.updated_at),
        replies: replies
            .into_iter()
            .map(|reply| ReplyInfo {
                id: reply.id.to_string(),
                author: match reply.author_kind {
                    AuthorKind::Contact => "contact".to_owned(),
                    AuthorKind::Staff => "staff".to_owned(),
                },
                body: reply.body,
                created_at: utc(reply.created_at),
            })
            .collect(),
        may_reply: writable && actions.may_reply,
        may_close: writable && actions.may_close,
        may_reopen: writable && actions.may_reopen,
    })
}

#[OpenApi(tag = "ApiTags::Content")]
impl ContentApi {
    /// A portal's published solutions, searched by words (`q`), a page at a time.
    #[oai(
        path = "/portals/:slug/solutions",
        method = "get",
        operation_id = "list_solutions"
    )]
    async fn solutions(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: MaybeContact,
        slug: Path<String>,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] per_page: Query<
            Option<u32>,
        >,
    ) -> ApiResult<SolutionPageResponse> {
        let portal = readable_portal(&app, &slug, &auth).await?;
        let (page, per_page) = paging(page.0, per_page.0);
        let q = search_text(q.0);
        let org_id = portal.org.id;
        let found = if SearchTerms::parse(&q).is_empty() {
            app.db
                .run(move |conn| solution_store::published(conn, &org_id))
                .await?
        } else {
            solutions::search(&app, &org_id, &q, SEARCH_LIMIT).await?
        };
        let total = i64::try_from(found.len()).unwrap_or(i64::MAX);
        let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let items = found
            .iter()
            .skip(skip)
            .take(per_page as usize)
            .map(summary)
            .collect();
        Ok(SolutionPageResponse::Ok(Json(SolutionPage {
            items,
            total,
            page,
            per_page,
        })))
    }

    /// One published solution.
    #[oai(
        path = "/portals/:slug/solutions/:id",
        method = "get",
        operation_id = "get_solution"
    )]
    async fn solution(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: MaybeContact,
        slug: Path<String>,
        id: Path<String>,
    ) -> ApiResult<SolutionResponse> {
        let portal = readable_portal(&app, &slug, &auth).await?;
        let id = SolutionId::parse(id.trim()).ok_or(AppError::NotFound)?;
        let org_id = portal.org.id;
        let solution = app
            .db
            .run(move |conn| solution_store::find(conn, &org_id, &id))
            .await?
            .filter(|s| s.status == SolutionStatus::Published)
            .ok_or(AppError::NotFound)?;
        Ok(SolutionResponse::Ok(Json(SolutionDetail {
            id: solution.id.to_string(),
            topic: solution.topic,
            title: solution.title,
            body_html: markdown::to_safe_html(&solution.body),
            body: solution.body,
            updated_at: utc(solution.updated_at),
        })))
    }

    /// The service categories a contact may raise requests under.
    #[oai(
        path = "/portals/:slug/service-categories",
        method = "get",
        operation_id = "list_service_categories"
    )]
    async fn categories(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        slug: Path<String>,
    ) -> ApiResult<CategoriesResponse> {
        if auth.0.org.slug != *slug {
            return Err(AppError::NotFound.into());
        }
        let org_id = auth.0.org.id;
        let found = app
            .db
            .run(move |conn| request_store::categories(conn, &org_id))
            .await?;
        Ok(CategoriesResponse::Ok(Json(
            found.iter().filter(|c| c.active).map(category).collect(),
        )))
    }

    /// The contact's requests, newest first, filtered by status and words, a page at a time.
    #[oai(path = "/requests", method = "get", operation_id = "list_requests")]
    async fn requests(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        status: Query<Option<ApiRequestStatus>>,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] per_page: Query<
            Option<u32>,
        >,
    ) -> ApiResult<RequestPageResponse> {
        let (page, per_page) = paging(page.0, per_page.0);
        let q = search_text(q.0);
        let filter = RequestFilter {
            contact_id: Some(auth.0.contact.id),
            status: status.0.map(ApiRequestStatus::to_domain),
            text: Some(q).filter(|t| !t.is_empty()),
            ..RequestFilter::default()
        };
        let org_id = auth.0.org.id;
        let found = app
            .db
            .read_list(filter.text.is_some(), move |conn| {
                request_store::list(conn, &org_id, &filter, page, per_page)
            })
            .await?;
        Ok(RequestPageResponse::Ok(Json(RequestPage {
            items: found.requests.iter().map(RequestSummary::of).collect(),
            total: found.total,
            page,
            per_page,
        })))
    }

    /// Raises a request in the contact's organization.
    #[oai(path = "/requests", method = "post", operation_id = "raise_request")]
    async fn raise(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &HttpRequest,
        auth: ContactAuth,
        body: Json<NewRequest>,
    ) -> ApiResult<RaisedResponse> {
        check_writable(&auth.0)?;
        let body = body.0;
        let draft = RequestDraft {
            subject: body.subject,
            description: body.description,
            category_id: body.category_id,
            priority: body
                .priority
                .unwrap_or(ApiPriority::Medium)
                .to_domain()
                .as_str()
                .to_owned(),
        };
        let checked = requests::check_draft(&draft).map_err(|mut errors| {
            errors
                .drain(..)
                .next()
                .unwrap_or_else(|| AppError::invalid("subject", "Check the request."))
        })?;
        let raised = requests::raise(&app, &auth.0.contact, checked, None, &client(req)).await?;
        let detail = detail(&app, &auth.0, raised.number).await?;
        Ok(RaisedResponse::Created(Json(detail)))
    }

    /// One of the contact's requests, with its thread.
    #[oai(
        path = "/requests/:number",
        method = "get",
        operation_id = "get_request"
    )]
    async fn request(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        number: Path<String>,
    ) -> ApiResult<RequestResponse> {
        let number = self::number(&number)?;
        Ok(RequestResponse::Ok(Json(
            detail(&app, &auth.0, number).await?,
        )))
    }

    /// Adds the contact's reply to one of their requests.
    #[oai(
        path = "/requests/:number/replies",
        method = "post",
        operation_id = "reply_to_request"
    )]
    async fn reply(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        number: Path<String>,
        body: Json<NewReply>,
    ) -> ApiResult<RequestResponse> {
        let number = self::number(&number)?;
        check_writable(&auth.0)?;
        requests::reply_as_contact(&app, &auth.0.contact, number, body.0.body, None).await?;
        Ok(RequestResponse::Ok(Json(
            detail(&app, &auth.0, number).await?,
        )))
    }

    /// Closes one of the contact's requests, when the organization allows.
    #[oai(
        path = "/requests/:number/close",
        method = "post",
        operation_id = "close_request"
    )]
    async fn close(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &HttpRequest,
        auth: ContactAuth,
        number: Path<String>,
    ) -> ApiResult<RequestResponse> {
        close_or_reopen(&app, req, &auth.0, &number, false).await
    }

    /// Reopens one of the contact's resolved or closed requests, when the organization allows.
    #[oai(
        path = "/requests/:number/reopen",
        method = "post",
        operation_id = "reopen_request"
    )]
    async fn reopen(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        req: &HttpRequest,
        auth: ContactAuth,
        number: Path<String>,
    ) -> ApiResult<RequestResponse> {
        close_or_reopen(&app, req, &auth.0, &number, true).await
    }
}

async fn close_or_reopen(
    app: &App,
    req: &HttpRequest,
    signed_in: &SignedIn,
    number: &str,
    reopen: bool,
) -> ApiResult<RequestResponse> {
    let number = self::number(number)?;
    check_writable(signed_in)?;
    requests::close_or_reopen(
        app,
        &signed_in.policy,
        &signed_in.contact,
        number,
        reopen,
        &client(req),
    )
    .await?;
    Ok(RequestResponse::Ok(Json(
        detail(app, signed_in, number).await?,
    )))
}

/// A service category as the API shows it.
pub fn category(category: &ServiceCategory) -> Category {
    Category {
        id: category.id.to_string(),
        name: category.name.clone(),
        description: category.description.clone(),
    }
}
