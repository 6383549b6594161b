//! Contacts: the people who log in to an organization's portal, and how they are identified.
//!
//! A contact belongs to exactly one organization; the same email or mobile number in two
//! organizations is two contacts with two passwords. An [`Identifier`] is what a person types
//! into a login form, normalized so that it matches what is stored: emails trimmed and
//! lowercased, mobile numbers parsed with the libphonenumber rules and reduced to E.164
//! (`+15550100001`); a number typed without its country code is read in the platform's
//! configured region.

use serde::Serialize;

use super::{ids::Id, org::OrgId};
use crate::AppError;

/// A contact's id.
pub type ContactId = Id<Contact>;

/// One person registered with one organization.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub org_id: OrgId,
    pub id: ContactId,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub name: String,
    pub time_zone: String,
    pub status: ContactStatus,
}

/// Whether a contact may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    Active,
    Disabled,
}

impl ContactStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// What a person types to say who they are: an email address or a mobile number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Email(String),
    Mobile(String),
}

/// Longest identifier looked at; longer input is refused before any lookup.
const IDENTIFIER_MAX_CHARS: usize = 254;

impl Identifier {
    /// Normalizes what was typed. The error is safe to show next to the `identifier` field.
    pub fn parse(input: &str, region: &str) -> Result<Self, AppError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(AppError::invalid(
                "identifier",
                "Enter your email address or mobile number.",
            ));
        }
        if text.chars().count() > IDENTIFIER_MAX_CHARS {
            return Err(AppError::invalid(
                "identifier",
                "That is longer than any email address or mobile number.",
            ));
        }
        if text.contains('@') {
            return normalize_email(text).map(Self::Email);
        }
        normalize_mobile(text, region).map(Self::Mobile)
    }

    /// The normalized text, as stored.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(text) | Self::Mobile(text) => text,
        }
    }
}

/// Trims and lowercases an email address and checks its rough shape.
pub fn normalize_email(input: &str) -> Result<String, AppError> {
    let email = input.trim().to_lowercase();
    let shaped = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }
        None => false,
    };
    if !shaped || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::invalid(
            "identifier",
            "That is not an email address.",
        ));
    }
    Ok(email)
}

/// Reduces a mobile number to E.164. A number without `+` and country code is read as a
/// number of `region` (an ISO 3166 code such as `US`).
pub fn normalize_mobile(input: &str, region: &str) -> Result<String, AppError> {
    let refused = || {
        AppError::invalid(
            "identifier",
            "Enter an email address, or a mobile number such as +1 555 010 0001.",
        )
    };
    let text = input.trim();
    let allowed = |c: char| c.is_ascii_digit() || " +-.()/".contains(c);
    if !text.chars().all(allowed) || text.chars().filter(char::is_ascii_digit).count() < 6 {
        return Err(refused());
    }
    let country = region.parse::<phonenumber::country::Id>().ok();
    let number = phonenumber::parse(country, text).map_err(|_| refused())?;
    let formatted = number.format().mode(phonenumber::Mode::E164).to_string();
    if !(8..=16).contains(&formatted.len()) {
        return Err(refused());
    }
    Ok(formatted)
}

/// Whether a character is invisible yet changes how text around it reads: a zero-width space,
/// a byte-order mark, or a bidirectional embedding, override or isolate. Such characters let a
/// name pose as another; joiners and direction marks, which scripts and emoji need, pass.
pub fn is_deceptive_format(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{202A}'..='\u{202E}' | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Whether a name holds anything but visible text: control characters or deceptive format
/// characters.
pub fn has_hidden_characters(name: &str) -> bool {
    name.chars()
        .any(|c| c.is_control() || is_deceptive_format(c))
}

/// A mobile number as it may be shown to someone who typed it: `+1 *** *** 0003`.
pub fn mask_mobile(e164: &str) -> String {
    let code = phonenumber::parse(None, e164)
        .map(|n| n.code().value().to_string())
        .unwrap_or_default();
    let last: String = e164
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("+{code} *** *** {last}")
}

/// An email address as it may be shown: `d***@globex.example`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Identifier::parse("  Demo@ACME.example ", "US").unwrap(),
            Identifier::Email("demo@acme.example".to_owned())
        );
    }

    #[test]
    fn mobiles_become_e164() {
        for typed in [
            "+1 (555) 010-0001",
            "555 010 0001",
            "(555) 010-0001",
            "+15550100001",
        ] {
            assert_eq!(
                Identifier::parse(typed, "US").unwrap(),
                Identifier::Mobile("+15550100001".to_owned()),
                "{typed}"
            );
        }
        assert_eq!(
            Identifier::parse("020 7946 0018", "GB").unwrap(),
            Identifier::Mobile("+442079460018".to_owned())
        );
    }

    #[test]
    fn names_with_hidden_characters_are_caught() {
        assert!(has_hidden_characters("\u{202E}evil"));
        assert!(has_hidden_characters("zero\u{200B}width"));
        assert!(has_hidden_characters("nul\0"));
        assert!(!has_hidden_characters("Zoë O'Brien-Łukasz"));
        assert!(!has_hidden_characters("\u{05D3}\u{05E0}\u{05D4} \u{200F}"));
    }

    #[test]
    fn destinations_are_masked() {
        assert_eq!(mask_mobile("+15550100003"), "+1 *** *** 0003");
        assert_eq!(mask_email("demo@globex.example"), "d***@globex.example");
    }

    #[test]
    fn junk_is_refused_with_a_field_message() {
        for bad in [
            "",
            "   ",
            "not an email",
            "a@b",
            "@acme.example",
            "+12",
            "' OR 1=1 --",
        ] {
            let Err(AppError::Invalid { field, .. }) = Identifier::parse(bad, "US") else {
                panic!("{bad:?} must be refused");
            };
            assert_eq!(field, Some("identifier"));
        }
        assert!(Identifier::parse(&"a".repeat(300), "US").is_err());
        assert!(Identifier::parse("+1 555 CALL NOW", "US").is_err());
    }
}
