//! Service categories of one organization: the list in the portal's order, adding one and
//! editing one (name, description, whether contacts may choose it, its place in the order).
//!
//! A category is never deleted: made inactive, it is no longer offered on the portal's
//! new-request form but stays on the requests that already have it. The checks and the
//! uniqueness of names are the domain's ([`crate::domain::requests::create_category`]).

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
        org::Organization,
        requests::{self, CategoryDraft, CategoryId, ServiceCategory},
    },
    storage::requests as store,
    web::{csrf, see_other},
};

/// Adds the category pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/admin/orgs/:slug/categories", poem::get(list).post(add))
        .at(
            "/admin/orgs/:slug/categories/:id",
            poem::get(show).post(edit),
        )
}

/// A category as its form shows it.
#[derive(Serialize, Default)]
struct CategoryFields {
    id: String,
    name: String,
    description: String,
    active: bool,
    position: String,
}

impl CategoryFields {
    fn from_category(category: &ServiceCategory) -> Self {
        Self {
            id: category.id.to_string(),
            name: category.name.clone(),
            description: category.description.clone(),
            active: category.active,
            position: category.position.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    chrome: Chrome,
    categories: Vec<CategoryFields>,
    form: CategoryFields,
    errors: FieldErrors,
}

#[derive(Serialize)]
struct EditView {
    #[serde(flatten)]
    chrome: Chrome,
    form: CategoryFields,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct CategoryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    active: Option<String>,
    #[serde(default)]
    position: String,
}

impl CategoryForm {
    /// The typed fields, to show again when they are refused.
    fn fields(&self, id: String) -> CategoryFields {
        CategoryFields {
            id,
            name: self.name.clone(),
            description: self.description.clone(),
            active: self.active.is_some(),
            position: self.position.clone(),
        }
    }

    /// The draft the domain checks; a position that is no whole number is refused here.
    fn draft(&self) -> Result<CategoryDraft, AppError> {
        let position = match self.position.trim() {
            "" => 0,
            text => text
                .parse::<i32>()
                .ok()
                .filter(|n| (0..=10_000).contains(n))
                .ok_or_else(|| {
                    AppError::invalid("position", "Use a whole number from 0 to 10000.")
                })?,
        };
        Ok(CategoryDraft {
            name: self.name.clone(),
            description: self.description.clone(),
            active: self.active.is_some(),
            position,
        })
    }
}

fn refused(error: AppError) -> Result<FieldErrors, AppError> {
    match error {
        AppError::Invalid { field, message } => {
            let mut errors = FieldErrors::new();
            errors.insert(field.unwrap_or("name"), message);
            Ok(errors)
        }
        other => Err(other),
    }
}

async fn render_list(
    app: &App,
    jar: &CookieJar,
    (session, org): (&AdminSession, &Organization),
    (form, errors): (CategoryFields, FieldErrors),
    notice: Option<&str>,
) -> poem::Result<Response> {
    let org_id = org.id;
    let categories = app
        .db
        .run(move |conn| store::categories(conn, &org_id))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = ListView {
        chrome: Chrome::for_org(app, jar, session, org, "categories", "Service categories")
            .with_notice(notice),
        categories: categories
            .iter()
            .map(CategoryFields::from_category)
            .collect(),
        form,
        errors,
    };
    render(app, "admin/categories", &view, status)
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
    let blank = CategoryFields {
        active: true,
        ..CategoryFields::default()
    };
    let typed = (blank, FieldErrors::new());
    render_list(app, jar, (&session, &org), typed, query.notice.as_deref()).await
}

#[handler]
async fn add(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<CategoryForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let outcome = match form.draft() {
        Ok(draft) => requests::create_category(app, &org.id, &session.admin.id, draft).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(id) => {
            tracing::info!(org.id = %org.id, category.id = %id, "service category added");
            Ok(see_other(&format!(
                "/admin/orgs/{slug}/categories?notice=category"
            )))
        }
        Err(error) => {
            let errors = refused(error)?;
            let typed = (form.fields(String::new()), errors);
            render_list(app, jar, (&session, &org), typed, None).await
        }
    }
}

async fn find(app: &App, org: &Organization, id: &str) -> Result<ServiceCategory, AppError> {
    let id = CategoryId::parse(id).ok_or(AppError::NotFound)?;
    let org_id = org.id;
    app.db
        .run(move |conn| store::find_category(conn, &org_id, &id))
        .await?
        .ok_or(AppError::NotFound)
}

fn render_edit(
    app: &App,
    jar: &CookieJar,
    (session, org): (&AdminSession, &Organization),
    (form, errors): (CategoryFields, FieldErrors),
) -> poem::Result<Response> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = EditView {
        chrome: Chrome::for_org(app, jar, session, org, "categories", "Service category"),
        form,
        errors,
    };
    render(app, "admin/category", &view, status)
}

#[handler]
async fn show(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let category = find(app, &org, &id).await?;
    let typed = (CategoryFields::from_category(&category), FieldErrors::new());
    render_edit(app, jar, (&session, &org), typed)
}

#[handler]
async fn edit(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Form(form): Form<CategoryForm>,
) -> poem::Result<Response> {
    let Some((session, org)) = open_org(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let category = find(app, &org, &id).await?;
    let outcome = match form.draft() {
        Ok(draft) => {
            requests::update_category(app, &org.id, &session.admin.id, &category.id, draft).await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => {
            tracing::info!(org.id = %org.id, category.id = %category.id, "service category changed");
            Ok(see_other(&format!(
                "/admin/orgs/{slug}/categories?notice=category"
            )))
        }
        Err(error) => {
            let errors = refused(error)?;
            let typed = (form.fields(category.id.to_string()), errors);
            render_edit(app, jar, (&session, &org), typed)
        }
    }
}
