//! One-time codes: how they are made, bound, stored and compared.
//!
//! A code is a string of digits drawn uniformly from the operating system's CSPRNG. It is
//! stored only as an HMAC under the server's key, bound to the organization, the contact, the
//! purpose and the login attempt it was made for, so a code (or its hash) is worthless anywhere
//! else. Comparison is constant-time. The flow around codes (limits, delivery, sessions) lives
//! in [`super::code_login`].

use rand::{Rng, rngs::OsRng};

use super::{contact::ContactId, ids::Id, org::OrgId, signing::Signer};
use crate::{AppError, secret::SecretString};

/// A login attempt's id: what a code request hands back and a verification names.
pub type AttemptId = Id<LoginAttempt>;

/// A request for a code, stored whether or not the identifier matched anyone.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    pub org_id: OrgId,
    pub id: AttemptId,
    /// The contact the code went to; `None` when the identifier matched nobody eligible.
    pub contact_id: Option<ContactId>,
    pub identifier_hash: String,
    pub purpose: Purpose,
    /// For the second step of `password_and_otp`: the password was proven first.
    pub password_proven: bool,
    pub expires_at: chrono::NaiveDateTime,
}

/// What a code is for. A code never works for another purpose: the purpose is part of the
/// code's keyed hash, and every check names the purposes it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Logging in with a code alone.
    Login,
    /// The second step of a password-then-code login.
    SecondFactor,
    /// Setting a new password after forgetting the old one.
    PasswordReset,
    /// Setting a first password from an admin's invitation.
    Invitation,
    /// Proving the email address of a registration.
    RegistrationEmail,
    /// Proving the mobile number of a registration.
    RegistrationMobile,
    /// Proving a new email address or mobile number of a contact.
    ContactChange,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::SecondFactor => "second_factor",
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
            Self::RegistrationEmail => "registration_email",
            Self::RegistrationMobile => "registration_mobile",
            Self::ContactChange => "contact_change",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "login" => Some(Self::Login),
            "second_factor" => Some(Self::SecondFactor),
            "password_reset" => Some(Self::PasswordReset),
            "invitation" => Some(Self::Invitation),
            "registration_email" => Some(Self::RegistrationEmail),
            "registration_mobile" => Some(Self::RegistrationMobile),
            "contact_change" => Some(Self::ContactChange),
            _ => None,
        }
    }
}

/// A fresh code of `length` digits.
pub fn generate(length: u32) -> SecretString {
    let digits: String = (0..length)
        .map(|_| char::from(b'0' + OsRng.gen_range(0..10u8)))
        .collect();
    SecretString::new(digits)
}

/// What a code's hash is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub org_id: &'a OrgId,
    pub contact_id: &'a ContactId,
    pub purpose: Purpose,
    pub attempt_id: &'a AttemptId,
}

impl Binding<'_> {
    fn mac(&self, signer: &Signer, code: &str) -> Vec<u8> {
        let org = self.org_id.to_string();
        let contact = self.contact_id.to_string();
        let attempt = self.attempt_id.to_string();
        signer.mac(
            "one-time-code",
            &[
                org.as_bytes(),
                contact.as_bytes(),
                self.purpose.as_str().as_bytes(),
                attempt.as_bytes(),
                code.as_bytes(),
            ],
        )
    }

    /// The stored form of `code` under this binding.
    pub fn hash(&self, signer: &Signer, code: &str) -> String {
        hex::encode(self.mac(signer, code))
    }

    /// Whether `code` is the one whose hash is `stored`, compared in constant time.
    pub fn matches(&self, signer: &Signer, stored: &str, code: &str) -> bool {
        use subtle::ConstantTimeEq;
        match hex::decode(stored) {
            Ok(stored) => self.mac(signer, code).ct_eq(&stored).into(),
            Err(_) => false,
        }
    }
}

/// Reads a typed code: spaces and dashes are dropped, anything else but digits is refused.
pub fn read_typed(input: &str) -> Result<String, AppError> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if code.is_empty() {
        return Err(AppError::invalid("code", "Enter the code we sent you."));
    }
    if !(6..=10).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::invalid(
            "code",
            "The code is 6 to 10 digits, with no letters.",
        ));
    }
    Ok(code)
}

/// The keyed hash of an identifier within an organization, used to count requests per
/// identifier without storing what was typed.
pub fn identifier_hash(signer: &Signer, org_id: &OrgId, identifier: &str) -> String {
    let org = org_id.to_string();
    hex::encode(signer.mac("identifier", &[org.as_bytes(), identifier.as_bytes()]))
}

/// The keyed hash of an identifier typed on the common login page.
pub fn platform_identifier_hash(signer: &Signer, identifier: &str) -> String {
    hex::encode(signer.mac("identifier", &[b"platform", identifier.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_digits_of_the_asked_length_and_spread_evenly() {
        let mut counts = [0u32; 10];
        for _ in 0..2000 {
            let code = generate(8);
            assert_eq!(code.expose().len(), 8);
            for b in code.expose().bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        // 16,000 digits: each digit is expected 1,600 times; allow a wide margin.
        assert!(
            counts.iter().all(|&n| (1300..1900).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_hash_is_bound_to_everything_it_was_made_for() {
        let signer = Signer::new("key".into());
        let (org, contact, attempt) = (OrgId::new(), ContactId::new(), AttemptId::new());
        let bound = Binding {
            org_id: &org,
            contact_id: &contact,
            purpose: Purpose::Login,
            attempt_id: &attempt,
        };
        let stored = bound.hash(&signer, "123456");
        assert!(!stored.contains("123456"));
        assert!(bound.matches(&signer, &stored, "123456"));
        assert!(!bound.matches(&signer, &stored, "123457"));
        let (other_org, other_contact, other_attempt) =
            (OrgId::new(), ContactId::new(), AttemptId::new());
        let elsewhere = [
            Binding {
                org_id: &other_org,
                ..bound
            },
            Binding {
                contact_id: &other_contact,
                ..bound
            },
            Binding {
                purpose: Purpose::SecondFactor,
                ..bound
            },
            Binding {
                attempt_id: &other_attempt,
                ..bound
            },
        ];
        for other in elsewhere {
            assert!(!other.matches(&signer, &stored, "123456"), "{other:?}");
        }
    }

    #[test]
    fn typed_codes_are_read_strictly() {
        assert_eq!(read_typed(" 123 456 ").unwrap(), "123456");
        assert_eq!(read_typed("123-456").unwrap(), "123456");
        assert!(read_typed("12a456").is_err());
        assert!(read_typed("12345").is_err(), "shorter than any code");
        assert!(read_typed("-1").is_err());
        assert!(read_typed("").is_err());
        assert!(
            read_typed("１２３４５６").is_err(),
            "full-width digits are not ASCII digits"
        );
    }
}
