//! Messages to contacts: email (subject, plain text and HTML) and SMS text, rendered from
//! handlebars templates in `portal_templates/messages/`.
//!
//! Text parts are rendered without HTML escaping and HTML parts with it, both in strict mode,
//! so a missing value is an error rather than a silent gap. Templates see only the values they
//! are given; handlebars has no way to run code or read files from a template.
//! Known limit: per-organization overrides with a preview come with the admin console (#4).

use handlebars::Handlebars;
use rust_embed::RustEmbed;
use serde::Serialize;

use crate::AppError;

#[derive(RustEmbed)]
#[folder = "portal_templates/messages/"]
#[include = "*.hbs"]
struct MessageTemplates;

/// One message, rendered for every channel.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sms: String,
}

/// What a one-time-code message says.
#[derive(Debug, Serialize)]
pub struct CodeMessage<'a> {
    pub org_name: &'a str,
    pub code: &'a str,
    pub minutes: u32,
    pub portal_link: &'a str,
}

/// What the common login page's code message says: no organization is named, since the code
/// may open several.
#[derive(Debug, Serialize)]
pub struct CommonCodeMessage<'a> {
    pub code: &'a str,
    pub minutes: u32,
    pub portal_link: &'a str,
}

/// What a message about a request says.
#[derive(Debug, Serialize)]
pub struct RequestMessage<'a> {
    pub org_name: &'a str,
    pub contact_name: &'a str,
    pub number: i64,
    pub subject: &'a str,
    /// The staff reply, for a reply notice.
    pub reply: &'a str,
    pub link: &'a str,
}

/// The message templates.
pub struct Messages {
    text: Handlebars<'static>,
    html: Handlebars<'static>,
}

impl Messages {
    /// Registers every embedded message template; a broken one stops start-up.
    pub fn load() -> Result<Self, AppError> {
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        for path in MessageTemplates::iter() {
            let Some(file) = MessageTemplates::get(&path) else {
                continue;
            };
            let source = std::str::from_utf8(&file.data)
                .map_err(|_| AppError::internal(format!("message template {path} is not UTF-8")))?;
            let name = path.trim_end_matches(".hbs");
            let registry = if name.ends_with(".html") {
                &mut html
            } else {
                &mut text
            };
            registry
                .register_template_string(name, source.trim_end_matches('\n'))
                .map_err(|error| AppError::internal(format!("message template {name}: {error}")))?;
        }
        Ok(Self { text, html })
    }

    /// Renders the message `name` (such as `login_code`) for every channel; a message with no
    /// SMS template gets an empty SMS text.
    pub fn render(&self, name: &str, values: &impl Serialize) -> Result<Rendered, AppError> {
        let part = |registry: &Handlebars<'static>, kind: &str| {
            registry
                .render(&format!("{name}.{kind}"), values)
                .map_err(|error| AppError::internal(format!("message {name}.{kind}: {error}")))
        };
        Ok(Rendered {
            subject: part(&self.text, "subject")?.trim().to_owned(),
            text: part(&self.text, "text")?,
            html: part(&self.html, "html")?,
            sms: if self.text.has_template(&format!("{name}.sms")) {
                part(&self.text, "sms")?.trim().to_owned()
            } else {
                String::new()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_message_carries_the_code_everywhere_and_escapes_html() {
        let messages = Messages::load().unwrap();
        let rendered = messages
            .render(
                "login_code",
                &CodeMessage {
                    org_name: "Globex <Freight>",
                    code: "123456",
                    minutes: 5,
                    portal_link: "http://127.0.0.1:8080/portal/globex/login",
                },
            )
            .unwrap();
        assert_eq!(rendered.subject, "Your Globex <Freight> login code");
        assert!(rendered.text.contains("123456") && rendered.text.contains("5 minutes"));
        assert!(
            rendered
                .sms
                .starts_with("123456 is your Globex <Freight> login code")
        );
        assert!(rendered.html.contains("Globex &lt;Freight&gt;"));
        assert!(rendered.html.contains("123456"));
    }
}
