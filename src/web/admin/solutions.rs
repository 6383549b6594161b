//! The knowledge base of one organization: every solution, draft or published, by topic;
//! adding one and editing one (topic, title, Markdown body, status), with a preview.
//!
//! The preview is rendered by [`crate::domain::markdown::to_safe_html`], the same safe subset
//! the portal shows, so an admin sees exactly what contacts will see and nothing an admin types
//! can run in the console either. A published solution appears in the portal's list and
//! search at once; a draft is seen here only. Known limit: solutions cannot be deleted from the
//! console, only withdrawn to draft.

use std::sync::Arc;

use poem::{
    Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{Chrome, FieldErrors, open_org, render, to_login};
use crate::{
    App, AppError,
    domain::{
        admin_login::AdminSession,
        markdown,
        org::Organization,
        solutions::{self, Solution, SolutionDraft, SolutionId, SolutionStatus},
    },
    storage::solutions as store,
    web::{csrf, see_other},
};

/// Adds the solution pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/admin/orgs/:slug/solutions", poem::get(list))
        .at(
            "/admin/orgs/:slug/solutions/new",
            poem::get(new_page).post(add),
        )
        .at(
            "/admin/orgs/:slug/solutions/:id",
            poem::get(show).post(edit),
        )
}

#[derive(Serialize)]
struct SolutionLine {
    id: String,
    topic: String,
    title: String,
    status: &'static str,
    updated: String,
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    chrome: Chrome,
    solutions: Vec<SolutionLine>,
    drafts: usize,
    published: usize,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[handler]
async fn list(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let org_id = org.id;
    let all = app.db.run(move |conn| store::all(conn, &org_id)).await?;
    let published = all
        .iter()
        .filter(|s| s.status == SolutionStatus::Published)
        .count();
    let view = ListView {
        chrome: Chrome::for_org(app, jar, &session, &org, "solutions", "Solutions")
            .with_notice(query.notice.as_deref()),
        drafts: all.len() - published,
        published,
        solutions: all
            .iter()
            .map(|solution| SolutionLine {
                id: solution.id.to_string(),
                topic: solution.topic.clone(),
                title: solution.title.clone(),
                status: solution.status.as_str(),
                updated: solution.updated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            })
            .collect(),
    };
    render(app, "admin/solutions", &view, StatusCode::OK)
}

/// A solution as its form shows it.
#[derive(Serialize, Default)]
struct SolutionFields {
    id: String,
    topic: String,
    title: String,
    body: String,
    published: bool,
}

impl SolutionFields {
    fn from_solution(solution: &Solution) -> Self {
        Self {
            id: solution.id.to_string(),
            topic: solution.topic.clone(),
            title: solution.title.clone(),
            body: solution.body.clone(),
            published: solution.status == SolutionStatus::Published,
        }
    }
}

#[derive(Serialize)]
struct EditView {
    #[serde(flatten)]
    chrome: Chrome,
    form: SolutionFields,
    /// The body through the portal's safe Markdown; the only unescaped HTML on the page.
    preview: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct SolutionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    status: String,
    /// `preview` shows the page again with the body rendered and saves nothing.
    #[serde(default)]
    intent: String,
}

impl SolutionForm {
    fn fields(&self, id: String) -> SolutionFields {
        SolutionFields {
            id,
            topic: self.topic.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            published: self.status == SolutionStatus::Published.as_str(),
        }
    }

    fn draft(&self) -> Result<SolutionDraft, AppError> {
        let status = SolutionStatus::parse(self.status.trim())
            .ok_or_else(|| AppError::invalid("status", "Choose draft or published."))?;
        Ok(SolutionDraft {
            topic: self.topic.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            status,
        })
    }
}

fn render_edit(
    app: &App,
    jar: &CookieJar,
    (session, org): (&AdminSession, &Organization),
    (form, errors): (SolutionFields, FieldErrors),
    notice: Option<&str>,
) -> poem::Result<Response> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let title = if form.id.is_empty() {
        "New solution"
    } else {
        "Solution"
    };
    let view = EditView {
        chrome: Chrome::for_org(app, jar, session, org, "solutions", title).with_notice(notice),
        preview: markdown::to_safe_html(&form.body),
        form,
        errors,
    };
    render(app, "admin/solution", &view, status)
}

#[handler]
async fn new_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let typed = (SolutionFields::default(), FieldErrors::new());
    render_edit(app, jar, (&session, &org), typed, None)
}

/// Saves the form (or only previews it), then goes back to the list; a refusal shows the form
/// again with the error next to its field.
async fn save(
    app: &App,
    jar: &CookieJar,
    (session, org): (&AdminSession, &Organization),
    id: Option<SolutionId>,
    form: SolutionForm,
) -> poem::Result<Response> {
    let shown_id = id.map(|id| id.to_string()).unwrap_or_default();
    if form.intent == "preview" {
        let typed = (form.fields(shown_id), FieldErrors::new());
        return render_edit(app, jar, (session, org), typed, None);
    }
    let staff = session.admin.id;
    let outcome = match (form.draft(), id) {
        (Ok(draft), Some(id)) => solutions::update(app, &org.id, &staff, &id, draft).await,
        (Ok(draft), None) => solutions::create(app, &org.id, &staff, draft)
            .await
            .map(|_| ()),
        (Err(error), _) => Err(error),
    };
    match outcome {
        Ok(()) => {
            tracing::info!(org.id = %org.id, "solution saved");
            Ok(see_other(&format!(
                "/admin/orgs/{}/solutions?notice=solution",
                org.slug
            )))
        }
        Err(AppError::Invalid { field, message }) => {
            let mut errors = FieldErrors::new();
            errors.insert(field.unwrap_or("body"), message);
            render_edit(
                app,
                jar,
                (session, org),
                (form.fields(shown_id), errors),
                None,
            )
        }
        Err(other) => Err(other.into()),
    }
}

#[handler]
async fn add(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<SolutionForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    save(app, jar, (&session, &org), None, form).await
}

async fn find(app: &App, org: &Organization, id: &str) -> Result<Solution, AppError> {
    let id = SolutionId::parse(id).ok_or(AppError::NotFound)?;
    let org_id = org.id;
    app.db
        .run(move |conn| store::find(conn, &org_id, &id))
        .await?
        .ok_or(AppError::NotFound)
}

#[handler]
async fn show(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let solution = find(app, &org, &id).await?;
    let typed = (SolutionFields::from_solution(&solution), FieldErrors::new());
    render_edit(app, jar, (&session, &org), typed, query.notice.as_deref())
}

#[handler]
async fn edit(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<SolutionForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let solution = find(app, &org, &id).await?;
    save(app, jar, (&session, &org), Some(solution.id), form).await
}
