//! Contacts: the people who log in to an organization's portal, and how they are identified.
//!
//! A contact belongs to exactly one organization; the same email or mobile number in two
//! organizations is two contacts with two passwords. An [`Identifier`] is what a person types
//! into a login form, normalized so that it matches what is stored: emails trimmed and
//! lowercased, mobile numbers reduced to E.164 (`+15550100001`).
//! Known limit: national phone formats are left to the one-time-code work (issue #3); for now a
//! mobile number must be typed with its `+` country code.

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
    pub fn parse(input: &str) -> Result<Self, AppError> {
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
        normalize_mobile(text).map(Self::Mobile)
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

/// Reduces an international mobile number to E.164, dropping spaces, dots, dashes and
/// brackets.
pub fn normalize_mobile(input: &str) -> Result<String, AppError> {
    let text = input.trim();
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let valid = digits.starts_with('+')
        && (8..=16).contains(&digits.len())
        && digits[1..].bytes().all(|b| b.is_ascii_digit())
        && !digits[1..].starts_with('0');
    if !valid {
        return Err(AppError::invalid(
            "identifier",
            "Enter an email address, or a mobile number with its country code, like +1 555 010 0001.",
        ));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Identifier::parse("  Demo@ACME.example ").unwrap(),
            Identifier::Email("demo@acme.example".to_owned())
        );
    }

    #[test]
    fn mobiles_become_e164() {
        assert_eq!(
            Identifier::parse("+1 (555) 010-0001").unwrap(),
            Identifier::Mobile("+15550100001".to_owned())
        );
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
            let Err(AppError::Invalid { field, .. }) = Identifier::parse(bad) else {
                panic!("{bad:?} must be refused");
            };
            assert_eq!(field, Some("identifier"));
        }
        assert!(Identifier::parse(&"a".repeat(300)).is_err());
    }
}
