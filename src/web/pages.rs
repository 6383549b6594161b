//! Page templates: handlebars in strict mode, embedded in the binary.
//!
//! Portal pages (and the common login page) come from `portal_templates/`, console pages from
//! `admin_templates/`. A template named `portal_templates/login.hbs` is registered as
//! `portal/login`; each surface has one base layout (`portal/layout`) that pages fill as a
//! partial block. Every page is rendered from one serializable view struct; handlebars escapes
//! every value, so text typed by anyone is shown, never run.

use handlebars::Handlebars;
use poem::web::Html;
use rust_embed::RustEmbed;
use serde::Serialize;

use crate::AppError;

#[derive(RustEmbed)]
#[folder = "portal_templates/"]
#[include = "*.hbs"]
#[exclude = "messages/*"]
struct PortalTemplates;

#[derive(RustEmbed)]
#[folder = "admin_templates/"]
#[include = "*.hbs"]
struct AdminTemplates;

/// The registry of every page template.
pub struct Pages {
    registry: Handlebars<'static>,
}

impl Pages {
    /// Registers every embedded template; a broken template stops start-up.
    pub fn load() -> Result<Self, AppError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        register::<PortalTemplates>(&mut registry, "portal")?;
        register::<AdminTemplates>(&mut registry, "admin")?;
        Ok(Self { registry })
    }

    /// Renders the page `name` (such as `portal/login`) from `view`.
    pub fn render(&self, name: &str, view: &impl Serialize) -> Result<Html<String>, AppError> {
        self.registry
            .render(name, view)
            .map(Html)
            .map_err(|error| AppError::internal(format!("template {name}: {error}")))
    }
}

fn register<Files: RustEmbed>(
    registry: &mut Handlebars<'static>,
    surface: &str,
) -> Result<(), AppError> {
    for path in Files::iter() {
        let Some(file) = Files::get(&path) else {
            continue;
        };
        let text = std::str::from_utf8(&file.data)
            .map_err(|_| AppError::internal(format!("template {path} is not UTF-8")))?;
        let name = format!("{surface}/{}", path.trim_end_matches(".hbs"));
        registry
            .register_template_string(&name, text)
            .map_err(|error| AppError::internal(format!("template {name}: {error}")))?;
    }
    Ok(())
}
