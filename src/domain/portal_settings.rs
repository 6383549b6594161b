//! Customer Portal Settings: an organization's name, status, branding, host names and logo,
//! as an admin changes them, with the checks each value must pass.
//!
//! A logo is a PNG or a JPEG of at most [`LOGO_MAX_BYTES`], recognized by its first bytes,
//! never by the name or type the browser claims; anything else, SVG above all (it can carry
//! script), is refused.

use serde::Serialize;

use super::org::{OrgStatus, check_accent_color};
use crate::AppError;

/// The largest logo accepted.
pub const LOGO_MAX_BYTES: usize = 512 * 1024;

/// The longest name, welcome text and footer accepted.
const NAME_MAX_CHARS: usize = 100;
const WELCOME_MAX_CHARS: usize = 2000;
const FOOTER_MAX_CHARS: usize = 500;
const HOST_NAMES_MAX: usize = 10;

/// Everything on the Customer Portal Settings page but the logo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalSettings {
    pub name: String,
    pub status: OrgStatus,
    pub accent_color: String,
    pub welcome_text: String,
    pub footer_text: String,
    /// Host names that map straight to the portal, lowercase, one each.
    pub host_names: Vec<String>,
}

/// Why text with control or invisible direction-changing characters is refused.
const HIDDEN_CHARACTERS: &str =
    "Remove the control or invisible characters: they can make text read as something else.";

/// Checks every value; returns each broken rule with its field, so all can be shown at once.
pub fn check(settings: &PortalSettings) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    let name = settings.name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        errors.push(("name", format!("Use 1 to {NAME_MAX_CHARS} characters.")));
    } else if super::contact::has_hidden_characters(name) {
        errors.push(("name", HIDDEN_CHARACTERS.to_owned()));
    }
    if check_accent_color(&settings.accent_color).is_err() {
        errors.push(("accent_color", "Use a colour like #1d4ed8.".to_owned()));
    }
    if settings.welcome_text.chars().count() > WELCOME_MAX_CHARS {
        errors.push((
            "welcome_text",
            format!("Use at most {WELCOME_MAX_CHARS} characters."),
        ));
    } else if super::requests::has_stray_controls(&settings.welcome_text) {
        errors.push(("welcome_text", HIDDEN_CHARACTERS.to_owned()));
    }
    if settings.footer_text.chars().count() > FOOTER_MAX_CHARS {
        errors.push((
            "footer_text",
            format!("Use at most {FOOTER_MAX_CHARS} characters."),
        ));
    } else if super::requests::has_stray_controls(&settings.footer_text) {
        errors.push(("footer_text", HIDDEN_CHARACTERS.to_owned()));
    }
    if settings.host_names.len() > HOST_NAMES_MAX {
        errors.push((
            "host_names",
            format!("List at most {HOST_NAMES_MAX} host names."),
        ));
    } else if let Some(bad) = settings
        .host_names
        .iter()
        .find(|host| !super::policy_change::is_domain_shaped(host) || is_ip_address(host))
    {
        errors.push((
            "host_names",
            format!("'{bad}' is not a host name like help.example.com."),
        ));
    }
    errors
}

/// Whether `host` is an IP address rather than a name: a portal is mapped by name only, so
/// that no organization can take the server's own address.
fn is_ip_address(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// Each setting that differs from `old` to `new` as an audit detail: which, from what, to what.
pub fn changes(old: &PortalSettings, new: &PortalSettings) -> Vec<serde_json::Value> {
    let as_map = |settings: &PortalSettings| match serde_json::to_value(settings) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let before = as_map(old);
    as_map(new)
        .into_iter()
        .filter(|(setting, to)| before.get(setting) != Some(to))
        .map(|(setting, to)| {
            let from = before.get(&setting).cloned();
            serde_json::json!({ "setting": setting, "from": from, "to": to })
        })
        .collect()
}

/// Reads the host names typed one per line (or separated by commas or spaces), lowercased,
/// without duplicates.
pub fn parse_host_names(text: &str) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for host in text.split(|c: char| c == ',' || c.is_whitespace()) {
        let host = host.trim().trim_end_matches('.').to_lowercase();
        if !host.is_empty() && !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// The kinds of image a logo may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoType {
    Png,
    Jpeg,
}

impl LogoType {
    /// The media type the logo is served with.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    /// Reads a stored media type.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            _ => None,
        }
    }
}

/// Checks an uploaded logo's size and first bytes and says what kind of image it is.
pub fn check_logo(bytes: &[u8]) -> Result<LogoType, AppError> {
    if bytes.is_empty() {
        return Err(AppError::invalid("logo", "Choose a PNG or JPEG file."));
    }
    if bytes.len() > LOGO_MAX_BYTES {
        return Err(AppError::invalid(
            "logo",
            format!(
                "The logo is {} KiB; at most {} KiB is accepted.",
                bytes.len().div_ceil(1024),
                LOGO_MAX_BYTES / 1024
            ),
        ));
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(LogoType::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(LogoType::Jpeg);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_lowercase();
    if head.contains("<svg") || head.contains("<?xml") {
        return Err(AppError::invalid(
            "logo",
            "SVG logos are not accepted, because they can carry script. Use a PNG or JPEG.",
        ));
    }
    Err(AppError::invalid(
        "logo",
        "That file is not a PNG or JPEG image.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logos_are_known_by_their_first_bytes() {
        assert_eq!(check_logo(b"\x89PNG\r\n\x1a\nrest").unwrap(), LogoType::Png);
        assert_eq!(
            check_logo(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(),
            LogoType::Jpeg
        );
        assert!(check_logo(b"<svg onload=\"alert(1)\"></svg>").is_err());
        assert!(check_logo(b"GIF89a").is_err());
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(LOGO_MAX_BYTES + 1, 0);
        assert!(check_logo(&big).is_err());
    }

    #[test]
    fn host_names_are_normalized_and_checked() {
        assert_eq!(
            parse_host_names("Help.Acme.example\nhelp.acme.example, support.acme.example."),
            vec!["help.acme.example", "support.acme.example"]
        );
        let settings = PortalSettings {
            name: "Acme".to_owned(),
            status: OrgStatus::Live,
            accent_color: "#123456".to_owned(),
            welcome_text: String::new(),
            footer_text: String::new(),
            host_names: vec!["<script>".to_owned()],
        };
        assert_eq!(check(&settings)[0].0, "host_names");
    }
}
