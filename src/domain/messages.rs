//! Messages to contacts: email (subject, plain text and HTML) and SMS text, rendered from
//! handlebars templates in `portal_templates/messages/`.
//!
//! Text parts are rendered without HTML escaping and HTML parts with it, both in strict mode,
//! so a missing value is an error rather than a silent gap. Templates see only the values they
//! are given; handlebars has no way to run code or read files from a template.
//!
//! An organization may word the messages of its portal ([`MessageKind`]) its own way in the
//! admin console. Such a wording is written by a tenant, so it is checked before it is saved
//! ([`check`]) and rendered in a sandbox: a fresh registry per part, holding no other template
//! (so no partial can name one), with only the built-in helpers less `log` (which would write
//! values such as the code to the server log). Partials and decorators are refused outright,
//! since inline partials could include each other without end. A stored wording that still
//! fails when sending falls back to the built-in one, so a contact always gets their code.

use std::collections::HashMap;

use handlebars::{Handlebars, Template};
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

/// What a message about a contact's account says: its code and link where it carries one
/// (empty and 0 where it does not).
#[derive(Debug, Serialize)]
pub struct AccountMessage<'a> {
    pub org_name: &'a str,
    pub contact_name: &'a str,
    pub code: &'a str,
    pub minutes: u32,
    pub link: &'a str,
}

/// The messages of a portal that its organization may word its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    LoginCode,
    RequestReceived,
    RequestReplied,
    PasswordReset,
    PasswordChanged,
    PasswordInvitation,
    RegistrationCode,
    RegistrationExists,
    RegistrationApproved,
    RegistrationRefused,
    ContactChangeCode,
    ContactChanged,
    MobileChanged,
}

impl MessageKind {
    /// Every kind, in the order the console lists them.
    pub const ALL: [Self; 13] = [
        Self::LoginCode,
        Self::RequestReceived,
        Self::RequestReplied,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::PasswordInvitation,
        Self::RegistrationCode,
        Self::RegistrationExists,
        Self::RegistrationApproved,
        Self::RegistrationRefused,
        Self::ContactChangeCode,
        Self::ContactChanged,
        Self::MobileChanged,
    ];

    /// The template name, also the name in URLs and storage.
    pub fn name(self) -> &'static str {
        match self {
            Self::LoginCode => "login_code",
            Self::RequestReceived => "request_received",
            Self::RequestReplied => "request_replied",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::PasswordInvitation => "password_invitation",
            Self::RegistrationCode => "registration_code",
            Self::RegistrationExists => "registration_exists",
            Self::RegistrationApproved => "registration_approved",
            Self::RegistrationRefused => "registration_refused",
            Self::ContactChangeCode => "contact_change_code",
            Self::ContactChanged => "contact_changed",
            Self::MobileChanged => "mobile_changed",
        }
    }

    /// What an admin calls it.
    pub fn title(self) -> &'static str {
        match self {
            Self::LoginCode => "Login code",
            Self::RequestReceived => "Request received",
            Self::RequestReplied => "Request replied",
            Self::PasswordReset => "Password reset code",
            Self::PasswordChanged => "Password changed",
            Self::PasswordInvitation => "Password invitation",
            Self::RegistrationCode => "Registration code",
            Self::RegistrationExists => "Registration of an existing address",
            Self::RegistrationApproved => "Registration approved",
            Self::RegistrationRefused => "Registration refused",
            Self::ContactChangeCode => "New address code",
            Self::ContactChanged => "Address changed",
            Self::MobileChanged => "Mobile number changed (to the old number)",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether the message is also sent by SMS.
    pub fn has_sms(self) -> bool {
        matches!(
            self,
            Self::LoginCode
                | Self::PasswordReset
                | Self::RegistrationCode
                | Self::ContactChangeCode
                | Self::MobileChanged
        )
    }

    /// Whether the message is sent by email; a notice to an old mobile number goes by SMS only.
    pub fn has_email(self) -> bool {
        self != Self::MobileChanged
    }

    /// The values a template of this kind may use, as the help text lists them.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            Self::LoginCode => &["org_name", "code", "minutes", "portal_link"],
            Self::RequestReceived | Self::RequestReplied => &[
                "org_name",
                "contact_name",
                "number",
                "subject",
                "reply",
                "link",
            ],
            Self::MobileChanged => &["org_name", "contact_name", "link"],
            _ => &["org_name", "contact_name", "code", "minutes", "link"],
        }
    }

    /// Made-up values for previews and checks, in the organization's name.
    pub fn sample(self, org_name: &str, portal_link: &str) -> serde_json::Value {
        let value = match self {
            Self::LoginCode => serde_json::to_value(CodeMessage {
                org_name,
                code: "123456",
                minutes: 5,
                portal_link,
            }),
            Self::RequestReceived | Self::RequestReplied => serde_json::to_value(RequestMessage {
                org_name,
                contact_name: "Dana Sample",
                number: 42,
                subject: "The printer on the second floor is jammed",
                reply: if self == Self::RequestReplied {
                    "We sent a technician; please tell us if it happens again."
                } else {
                    ""
                },
                link: portal_link,
            }),
            _ => serde_json::to_value(AccountMessage {
                org_name,
                contact_name: "Dana Sample",
                code: "123456",
                minutes: 10,
                link: portal_link,
            }),
        };
        value.unwrap_or(serde_json::Value::Null)
    }
}

/// The source of each part of one message: subject, plain text, HTML and SMS text (empty for
/// a message sent by email only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageParts {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sms: String,
}

/// Longest source of one part, in characters.
pub const PART_MAX_CHARS: usize = 20_000;

/// Why a part of a wording cannot be used, by part (`subject`, `text`, `html`, `sms`).
pub type PartErrors = Vec<(&'static str, String)>;

/// Checks an organization's wording of `kind`: every part must be present, free of partials
/// and decorators, valid handlebars, and render in strict mode with `sample` values. Each error
/// names the line of the part and the reason.
pub fn check(kind: MessageKind, parts: &MessageParts, sample: &serde_json::Value) -> PartErrors {
    let mut errors = Vec::new();
    for (part, source) in part_sources(kind, parts) {
        if let Err(error) = check_part(part, source, sample) {
            errors.push((part, error));
        }
    }
    errors
}

fn part_sources(kind: MessageKind, parts: &MessageParts) -> Vec<(&'static str, &str)> {
    let mut sources = Vec::new();
    if kind.has_email() {
        sources.push(("subject", parts.subject.as_str()));
        sources.push(("text", parts.text.as_str()));
        sources.push(("html", parts.html.as_str()));
    }
    if kind.has_sms() {
        sources.push(("sms", parts.sms.as_str()));
    }
    sources
}

fn check_part(part: &str, source: &str, sample: &serde_json::Value) -> Result<(), String> {
    if source.trim().is_empty() {
        return Err("This part cannot be empty.".to_owned());
    }
    if source.chars().count() > PART_MAX_CHARS {
        return Err(format!("At most {PART_MAX_CHARS} characters."));
    }
    if let Some(line) = partial_or_decorator(source) {
        return Err(format!(
            "Line {line}: partials and decorators ({{{{> …}}}}, {{{{#> …}}}}, {{{{* …}}}}) are not \
             available in messages."
        ));
    }
    if let Err(error) = Template::compile(source) {
        let line = error.pos().map_or(1, |(line, _)| line);
        return Err(format!("Line {line}: {}.", error.reason()));
    }
    match sandbox(part == "html").render_template(source, sample) {
        Ok(_) => Ok(()),
        Err(error) => {
            let line = error.line_no.unwrap_or(1);
            Err(format!("Line {line}: {}.", error.reason()))
        }
    }
}

/// The line of the first partial (`{{> x}}`, `{{#> x}}`) or decorator (`{{* x}}`,
/// `{{#* x}}`) in `source`, if it has one.
fn partial_or_decorator(source: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = source[from..].find("{{") {
        let start = from + at;
        let rest = source[start + 2..]
            .trim_start_matches(['{', '~', '&'])
            .trim_start();
        let rest = rest.strip_prefix('#').unwrap_or(rest).trim_start();
        if rest.starts_with('>') || rest.starts_with('*') {
            return Some(source[..start].matches('\n').count() + 1);
        }
        from = start + 2;
    }
    None
}

/// A registry for one tenant-written part: strict, no template to include, no `log` helper;
/// HTML-escaping for HTML parts only.
fn sandbox(html: bool) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.unregister_helper("log");
    if !html {
        registry.register_escape_fn(handlebars::no_escape);
    }
    registry
}

/// The message templates.
pub struct Messages {
    text: Handlebars<'static>,
    html: Handlebars<'static>,
    /// The built-in sources by template name (such as `login_code.text`), for the console.
    sources: HashMap<String, String>,
}

impl Messages {
    /// Registers every embedded message template; a broken one stops start-up.
    pub fn load() -> Result<Self, AppError> {
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut sources = HashMap::new();
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
            let source = source.trim_end_matches('\n');
            registry
                .register_template_string(name, source)
                .map_err(|error| AppError::internal(format!("message template {name}: {error}")))?;
            sources.insert(name.to_owned(), source.to_owned());
        }
        Ok(Self {
            text,
            html,
            sources,
        })
    }

    /// The built-in wording of `kind`, as an admin starts from.
    pub fn defaults(&self, kind: MessageKind) -> MessageParts {
        let source = |part: &str| {
            self.sources
                .get(&format!("{}.{part}", kind.name()))
                .cloned()
                .unwrap_or_default()
        };
        MessageParts {
            subject: source("subject"),
            text: source("text"),
            html: source("html"),
            sms: source("sms"),
        }
    }

    /// Renders `kind` with the organization's own wording when it has one, else the built-in
    /// one. A wording that fails (it was checked when saved, so this should not happen) gives
    /// way to the built-in one, with a warning in the log.
    pub fn render_for(
        &self,
        kind: MessageKind,
        custom: Option<&MessageParts>,
        values: &impl Serialize,
    ) -> Result<Rendered, AppError> {
        if let Some(parts) = custom {
            match render_parts(kind, parts, values) {
                Ok(rendered) => return Ok(rendered),
                Err(reason) => tracing::warn!(
                    message.kind = kind.name(),
                    error = %reason,
                    "an organization's message template failed; the built-in one is used"
                ),
            }
        }
        self.render(kind.name(), values)
    }

    /// Renders the message `name` (such as `login_code`) for every channel. A message with no
    /// SMS template gets an empty SMS text, and one with no email subject (an SMS-only notice)
    /// empty email parts; an email with a subject but no text or HTML part is an error.
    pub fn render(&self, name: &str, values: &impl Serialize) -> Result<Rendered, AppError> {
        let part = |registry: &Handlebars<'static>, kind: &str| {
            registry
                .render(&format!("{name}.{kind}"), values)
                .map_err(|error| AppError::internal(format!("message {name}.{kind}: {error}")))
        };
        let has = |kind: &str| self.text.has_template(&format!("{name}.{kind}"));
        let mut rendered = Rendered {
            subject: String::new(),
            text: String::new(),
            html: String::new(),
            sms: String::new(),
        };
        if has("subject") {
            rendered.subject = part(&self.text, "subject")?.trim().to_owned();
            rendered.text = part(&self.text, "text")?;
            rendered.html = part(&self.html, "html")?;
        }
        if has("sms") {
            rendered.sms = part(&self.text, "sms")?.trim().to_owned();
        }
        Ok(rendered)
    }
}

/// Renders an organization's wording of `kind` in the sandbox.
pub fn render_parts(
    kind: MessageKind,
    parts: &MessageParts,
    values: &impl Serialize,
) -> Result<Rendered, String> {
    let part = |source: &str, html: bool| {
        if partial_or_decorator(source).is_some() {
            return Err("partials and decorators are not available".to_owned());
        }
        sandbox(html)
            .render_template(source, values)
            .map_err(|error| error.to_string())
    };
    let email = kind.has_email();
    let email_part = |source: &str, html: bool| {
        if email {
            part(source, html)
        } else {
            Ok(String::new())
        }
    };
    Ok(Rendered {
        subject: email_part(&parts.subject, false)?.trim().to_owned(),
        text: email_part(&parts.text, false)?,
        html: email_part(&parts.html, true)?,
        sms: if kind.has_sms() {
            part(&parts.sms, false)?.trim().to_owned()
        } else {
            String::new()
        },
    })
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

#[cfg(test)]
mod sms_only_tests {
    use super::*;

    #[test]
    fn the_old_mobile_notice_is_an_sms_alone_and_names_nobody() {
        let messages = Messages::load().unwrap();
        let rendered = messages
            .render_for(
                MessageKind::MobileChanged,
                None,
                &AccountMessage {
                    org_name: "Acme Corporation",
                    contact_name: "Dana Sample",
                    code: "",
                    minutes: 0,
                    link: "http://127.0.0.1:8080/portal/acme/",
                },
            )
            .unwrap();
        assert!(rendered.subject.is_empty() && rendered.text.is_empty());
        assert!(rendered.html.is_empty());
        assert!(
            rendered
                .sms
                .starts_with("Acme Corporation: this mobile number")
        );
        assert!(!rendered.sms.contains("Dana"));
        let sample = MessageKind::MobileChanged.sample("Acme", "http://127.0.0.1/portal/acme/");
        let wording = MessageParts {
            sms: "{{org_name}} changed".to_owned(),
            ..MessageParts::default()
        };
        assert!(check(MessageKind::MobileChanged, &wording, &sample).is_empty());
    }
}

#[cfg(test)]
mod sandbox_tests {
    use super::*;

    fn wording(text: &str) -> MessageParts {
        MessageParts {
            subject: "Your {{org_name}} code".to_owned(),
            text: text.to_owned(),
            html: "<p>{{code}}</p>".to_owned(),
            sms: "{{code}}".to_owned(),
        }
    }

    fn errors(text: &str) -> PartErrors {
        let sample = MessageKind::LoginCode.sample("Globex", "http://127.0.0.1/portal/globex/");
        check(MessageKind::LoginCode, &wording(text), &sample)
    }

    #[test]
    fn a_good_wording_passes_and_renders() {
        assert!(errors("Code {{code}}, {{minutes}} minutes").is_empty());
        let sample = MessageKind::LoginCode.sample("Globex <B>", "http://x/");
        let rendered = render_parts(MessageKind::LoginCode, &wording("{{code}}"), &sample).unwrap();
        assert_eq!(rendered.subject, "Your Globex <B> code");
        assert_eq!(rendered.text, "123456");
        assert_eq!(rendered.sms, "123456");
    }

    #[test]
    fn syntax_errors_and_unknown_values_are_refused_with_their_line() {
        let broken = errors("Hello\nthere {{#if code}}\nno end");
        assert_eq!(broken[0].0, "text");
        assert!(broken[0].1.starts_with("Line "), "{}", broken[0].1);
        let unknown = errors("Hello\n\n{{password}}");
        assert!(unknown[0].1.starts_with("Line 3:"), "{}", unknown[0].1);
        assert!(unknown[0].1.contains("password"), "{}", unknown[0].1);
        assert!(errors(" ")[0].1.contains("empty"));
    }

    #[test]
    fn partials_decorators_and_lookups_do_nothing_harmful() {
        for source in [
            "{{> login_code.text}}",
            "one\n{{#> layout}}x{{/layout}}",
            "{{~> /etc/passwd}}",
            "{{#*inline \"a\"}}{{> a}}{{/inline}}{{> a}}",
            "{{* decorator}}",
        ] {
            let found = errors(source);
            assert_eq!(found.len(), 1, "{source}");
            assert!(found[0].1.contains("partials"), "{source}: {}", found[0].1);
        }
        assert!(errors("{{partial}}")[0].1.contains("partial"));
        assert!(!errors("{{log code}}").is_empty(), "no log helper");
        let sample = MessageKind::LoginCode.sample("Globex", "http://x/");
        let escape = wording("[{{lookup this \"../../etc/passwd\"}}{{lookup @root \"..\"}}]");
        if let Ok(rendered) = render_parts(MessageKind::LoginCode, &escape, &sample) {
            assert_eq!(rendered.text, "[]", "a lookup reads nothing but the values");
        }
        let looked = render_parts(
            MessageKind::LoginCode,
            &wording("[{{lookup this \"org_name\"}}]"),
            &sample,
        )
        .unwrap();
        assert_eq!(looked.text, "[Globex]");
    }
}
