//! The contact directory as admins keep it: the details of a contact they add or edit, the
//! rules for a password they set, and contacts imported from CSV.
//!
//! An import is all or nothing: [`parse_import`] reads every row and says, row by row, what it
//! accepted and what it refused and why; the console stores the rows only when none was
//! refused. Rows that clash with contacts already stored are refused by the console, which
//! knows them.

use std::collections::HashSet;

use serde::Serialize;

use super::{
    contact::{normalize_email, normalize_mobile},
    org::{LoginPolicy, Organization, PASSWORD_MAX_CHARS},
};
use crate::AppError;

const NAME_MAX_CHARS: usize = 200;

/// The largest import accepted, in rows.
pub const IMPORT_MAX_ROWS: usize = 5000;

/// A contact's details as an admin typed them, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactDetails {
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

/// Checks and normalizes typed details; returns each broken rule with its field.
pub fn check_details(
    name: &str,
    email: &str,
    mobile: &str,
    region: &str,
) -> Result<ContactDetails, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        errors.push(("name", format!("Use 1 to {NAME_MAX_CHARS} characters.")));
    } else if crate::domain::contact::has_hidden_characters(name) {
        errors.push((
            "name",
            "Use letters, spaces and punctuation, without invisible characters.".to_owned(),
        ));
    }
    let email = match email.trim() {
        "" => None,
        text => match normalize_email(text) {
            Ok(email) => Some(email),
            Err(_) => {
                errors.push(("email", "That is not an email address.".to_owned()));
                None
            }
        },
    };
    let mobile = match mobile.trim() {
        "" => None,
        text => match normalize_mobile(text, region) {
            Ok(mobile) => Some(mobile),
            Err(_) => {
                errors.push((
                    "mobile",
                    "That is not a mobile number, such as +1 555 010 0001.".to_owned(),
                ));
                None
            }
        },
    };
    if errors.is_empty() && email.is_none() && mobile.is_none() {
        errors.push((
            "email",
            "Give an email address, a mobile number, or both.".to_owned(),
        ));
    }
    if errors.is_empty() {
        Ok(ContactDetails {
            name: name.to_owned(),
            email,
            mobile,
        })
    } else {
        Err(errors)
    }
}

/// Checks a password an admin sets for a contact: at least the policy's minimum, at most
/// [`PASSWORD_MAX_CHARS`], and not the organization's own name or slug.
pub fn check_password(
    password: &str,
    policy: &LoginPolicy,
    org: &Organization,
) -> Result<(), AppError> {
    let length = password.chars().count();
    let min = usize::try_from(policy.password_min_length).unwrap_or(usize::MAX);
    if length < min || length > PASSWORD_MAX_CHARS {
        return Err(AppError::invalid(
            "password",
            format!("Use {min} to {PASSWORD_MAX_CHARS} characters."),
        ));
    }
    let squeezed = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let typed = squeezed(password);
    let own_names = [squeezed(&org.name), squeezed(&org.slug)];
    if own_names
        .iter()
        .any(|own| !own.is_empty() && typed.contains(own.as_str()))
    {
        return Err(AppError::invalid(
            "password",
            "A password may not contain the organization's own name.",
        ));
    }
    Ok(())
}

/// One row of an import, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRow {
    /// The line in the file, counting the header as line 1.
    pub line: u64,
    pub name: String,
    pub email: String,
    pub mobile: String,
    /// Why the row is refused; `None` when it is accepted.
    pub refusal: Option<String>,
    /// The normalized details of an accepted row.
    #[serde(skip)]
    pub details: Option<ContactDetails>,
}

/// Reads a CSV with the header `name,email,mobile`. The error is a whole-file problem (a
/// wrong header, unreadable text); row problems are in the rows' `refusal`.
pub fn parse_import(bytes: &[u8], region: &str) -> Result<Vec<ImportRow>, AppError> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| AppError::invalid("file", "The file is not UTF-8 text."))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|_| AppError::invalid("file", "The file is not readable CSV."))?
        .iter()
        .map(str::to_lowercase)
        .collect();
    if header != ["name", "email", "mobile"] {
        return Err(AppError::invalid(
            "file",
            "The first line must be exactly: name,email,mobile",
        ));
    }

    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for (index, record) in reader.records().enumerate() {
        if rows.len() >= IMPORT_MAX_ROWS {
            return Err(AppError::invalid(
                "file",
                format!("Import at most {IMPORT_MAX_ROWS} contacts at once."),
            ));
        }
        let line = u64::try_from(index).unwrap_or(0) + 2;
        let record =
            record.map_err(|_| AppError::invalid("file", "The file is not readable CSV."))?;
        let field = |i: usize| record.get(i).unwrap_or_default().to_owned();
        let mut row = ImportRow {
            line,
            name: field(0),
            email: field(1),
            mobile: field(2),
            refusal: None,
            details: None,
        };
        if record.len() != 3 {
            row.refusal = Some(format!("Has {} fields instead of 3.", record.len()));
        } else {
            match check_details(&row.name, &row.email, &row.mobile, region) {
                Ok(details) => {
                    let keys = [details.email.clone(), details.mobile.clone()];
                    if keys.iter().flatten().any(|key| seen.contains(key)) {
                        row.refusal = Some("Repeats an email or mobile of an earlier row.".into());
                    } else {
                        seen.extend(keys.into_iter().flatten());
                        row.details = Some(details);
                    }
                }
                Err(errors) => {
                    let reasons: Vec<String> = errors
                        .into_iter()
                        .map(|(field, message)| format!("{field}: {message}"))
                        .collect();
                    row.refusal = Some(reasons.join(" "));
                }
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(AppError::invalid("file", "The file holds no contacts."));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::org::{Branding, OrgId, OrgStatus};

    fn acme() -> Organization {
        Organization {
            id: OrgId::new(),
            slug: "acme".to_owned(),
            name: "Acme Corporation".to_owned(),
            status: OrgStatus::Live,
            branding: Branding {
                accent_color: "#000000".to_owned(),
                welcome_text: String::new(),
                footer_text: String::new(),
            },
        }
    }

    #[test]
    fn passwords_follow_the_policy_and_avoid_the_org_name() {
        let policy = LoginPolicy::default();
        assert!(check_password("a long enough passphrase", &policy, &acme()).is_ok());
        assert!(check_password("too short", &policy, &acme()).is_err());
        assert!(check_password(&"x".repeat(129), &policy, &acme()).is_err());
        assert!(check_password("Acme Corporation 2026!", &policy, &acme()).is_err());
    }

    #[test]
    fn imports_report_each_row() {
        let csv = "name,email,mobile\n\
                   Ann,ann@x.example,\n\
                   Bob,not-an-email,\n\
                   Ann again,ANN@x.example,\n\
                   Cy,,12345\n";
        let rows = parse_import(csv.as_bytes(), "US").unwrap();
        assert_eq!(rows.len(), 4);
        assert!(rows[0].refusal.is_none());
        assert!(rows[1].refusal.as_deref().unwrap().contains("email"));
        assert!(rows[2].refusal.as_deref().unwrap().contains("Repeats"));
        assert!(rows[3].refusal.as_deref().unwrap().contains("mobile"));
        assert!(parse_import(b"email,name\nx@y.example,X\n", "US").is_err());
    }
}
