//! The knowledge base at `/portal/{slug}/solutions`: published solutions by topic, search,
//! one article, and the JSON suggestions the new-request form asks for while a contact types
//! a subject (`/static/suggest.js`; the page works the same without it).
//!
//! Contacts of the organization always see its published solutions; anonymous visitors do
//! when the login policy's `anonymous_solutions` allows, and are sent to the login page
//! otherwise. Drafts are never shown here. Article bodies go through the safe Markdown subset
//! of [`crate::domain::markdown`], the only HTML a page inserts unescaped.

use std::sync::Arc;

use poem::{
    IntoResponse, Response, Route, handler,
    http::StatusCode,
    web::{Data, Json, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    portal::{Chrome, Portal},
    see_other,
};
use crate::{
    App, AppError,
    domain::{
        contact::Contact,
        markdown,
        solutions::{self, SearchTerms, Solution, SolutionId, SolutionStatus},
    },
    storage::solutions as store,
};

/// Most results a search page shows.
const SEARCH_LIMIT: i64 = 50;
/// Most suggestions sent while a subject is typed.
const SUGGEST_LIMIT: i64 = 5;

/// Adds the solution pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/portal/:slug/solutions", poem::get(index))
        .at("/portal/:slug/solutions/suggest", poem::get(suggest))
        .at("/portal/:slug/solutions/:id", poem::get(article))
}

/// The portal at `slug` and its reader, when the visitor may read its solutions: `Err` carries
/// where to send them.
async fn reader(
    app: &App,
    slug: &str,
    jar: &CookieJar,
) -> Result<Result<(Portal, Option<Contact>), Response>, AppError> {
    let (portal, contact) = Portal::visit(app, slug, jar).await?;
    if contact.is_none() && !portal.policy.anonymous_solutions {
        return Ok(Err(see_other(&format!(
            "/portal/{}/login",
            portal.org.slug
        ))));
    }
    Ok(Ok((portal, contact)))
}

#[derive(Serialize)]
struct SolutionLine {
    title: String,
    url: String,
}

#[derive(Serialize)]
struct TopicView {
    topic: String,
    solutions: Vec<SolutionLine>,
}

#[derive(Serialize)]
struct IndexView {
    #[serde(flatten)]
    chrome: Chrome,
    q: String,
    searched: bool,
    results: Vec<SolutionLine>,
    topics: Vec<TopicView>,
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    q: Option<String>,
}

fn line(slug: &str, solution: &Solution) -> SolutionLine {
    SolutionLine {
        title: solution.title.clone(),
        url: format!("/portal/{slug}/solutions/{}", solution.id),
    }
}

#[handler]
async fn index(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<SearchQuery>,
) -> poem::Result<Response> {
    let (portal, contact) = match reader(app, &slug, jar).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let q: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let searched = !SearchTerms::parse(&q).is_empty();
    let org_id = portal.org.id;
    let results = if searched {
        solutions::search(app, &org_id, &q, SEARCH_LIMIT).await?
    } else {
        Vec::new()
    };
    let mut topics: Vec<TopicView> = Vec::new();
    if !searched {
        let all = app
            .db
            .run(move |conn| store::published(conn, &org_id))
            .await?;
        for solution in &all {
            match topics.last_mut() {
                Some(topic) if topic.topic == solution.topic => {
                    topic.solutions.push(line(&slug, solution));
                }
                _ => topics.push(TopicView {
                    topic: solution.topic.clone(),
                    solutions: vec![line(&slug, solution)],
                }),
            }
        }
    }
    let view = IndexView {
        chrome: portal.chrome(app, jar, "Solutions", contact.as_ref()),
        q,
        searched,
        results: results.iter().map(|s| line(&slug, s)).collect(),
        topics,
    };
    Ok(app.pages.render("portal/solutions", &view)?.into_response())
}

#[derive(Serialize)]
struct ArticleView {
    #[serde(flatten)]
    chrome: Chrome,
    topic: String,
    title: String,
    body_html: String,
    updated: String,
}

#[handler]
async fn article(
    Path((slug, id)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let (portal, contact) = match reader(app, &slug, jar).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let id = SolutionId::parse(&id).ok_or(AppError::NotFound)?;
    let org_id = portal.org.id;
    let solution = app
        .db
        .run(move |conn| store::find(conn, &org_id, &id))
        .await?
        .filter(|s| s.status == SolutionStatus::Published)
        .ok_or(AppError::NotFound)?;
    let view = ArticleView {
        chrome: portal.chrome(app, jar, &solution.title, contact.as_ref()),
        topic: solution.topic.clone(),
        title: solution.title.clone(),
        body_html: markdown::to_safe_html(&solution.body),
        updated: solution.updated_at.format("%Y-%m-%d").to_string(),
    };
    Ok(app.pages.render("portal/solution", &view)?.into_response())
}

#[derive(Serialize)]
struct Suggestions {
    solutions: Vec<SolutionLine>,
}

#[handler]
async fn suggest(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<SearchQuery>,
) -> poem::Result<Response> {
    let Ok((portal, _)) = reader(app, &slug, jar).await? else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    let q: String = query.q.unwrap_or_default().chars().take(200).collect();
    let found = solutions::search(app, &portal.org.id, &q, SUGGEST_LIMIT).await?;
    let body = Suggestions {
        solutions: found.iter().map(|s| line(&slug, s)).collect(),
    };
    Ok(Json(body).into_response())
}
