//! Organizations (tenants) and the login policy each one chooses.
//!
//! An organization owns a portal at `/portal/{slug}/`. Its [`OrgStatus`] decides who may open
//! it, its branding how it looks, and its [`LoginPolicy`] how its contacts log in. The policy's
//! ranges are DESIGN.md's and are checked by [`LoginPolicy::check`] before anything is stored.

use serde::{Deserialize, Serialize};

use super::ids::Id;
use crate::AppError;

/// An organization's id.
pub type OrgId = Id<Organization>;

/// Words that may not be slugs because they name Portico's own paths.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin", "api", "static", "portal", "login", "logout", "healthz", "readyz", "metrics",
    "choose", "assets",
];

/// One tenant of the platform.
#[derive(Debug, Clone, Serialize)]
pub struct Organization {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub status: OrgStatus,
    pub branding: Branding,
}

/// How an organization's portal looks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Branding {
    /// A `#rrggbb` colour for buttons and the header.
    pub accent_color: String,
    pub welcome_text: String,
    pub footer_text: String,
}

/// Who may open an organization's portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    /// Being set up: only its admins can open it.
    Draft,
    /// Open to its contacts.
    Live,
    /// Read-only.
    Retired,
}

impl OrgStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Live => "live",
            Self::Retired => "retired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(Self::Draft),
            "live" => Some(Self::Live),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// Whether `slug` may name a portal: 2 to 40 lowercase letters, digits and inner hyphens,
/// and not one of Portico's own words.
pub fn check_slug(slug: &str) -> Result<(), AppError> {
    let well_formed = (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !well_formed {
        return Err(AppError::invalid(
            "slug",
            "Use 2 to 40 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
        ));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(AppError::invalid(
            "slug",
            format!("'{slug}' is reserved by Portico."),
        ));
    }
    Ok(())
}

/// Whether `color` is a `#rrggbb` colour.
pub fn check_accent_color(color: &str) -> Result<(), AppError> {
    let ok = color.len() == 7
        && color.starts_with('#')
        && color[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "accent_color",
            "Use a colour like #1d4ed8.",
        ))
    }
}

/// How contacts prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMode {
    Password,
    Otp,
    PasswordOrOtp,
    PasswordAndOtp,
}

impl LoginMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Otp => "otp",
            Self::PasswordOrOtp => "password_or_otp",
            Self::PasswordAndOtp => "password_and_otp",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "password" => Some(Self::Password),
            "otp" => Some(Self::Otp),
            "password_or_otp" => Some(Self::PasswordOrOtp),
            "password_and_otp" => Some(Self::PasswordAndOtp),
            _ => None,
        }
    }

    /// Whether the login form asks for a password.
    pub fn uses_password(self) -> bool {
        !matches!(self, Self::Otp)
    }

    /// Whether a password alone is enough to log in.
    pub fn password_suffices(self) -> bool {
        matches!(self, Self::Password | Self::PasswordOrOtp)
    }
}

/// Where one-time codes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpChannel {
    Email,
    Mobile,
    EmailAndMobile,
}

impl OtpChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Mobile => "mobile",
            Self::EmailAndMobile => "email_and_mobile",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Self::Email),
            "mobile" => Some(Self::Mobile),
            "email_and_mobile" => Some(Self::EmailAndMobile),
            _ => None,
        }
    }
}

/// Whether and how visitors may register themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfRegistration {
    Off,
    Open,
    WithApproval,
}

impl SelfRegistration {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Open => "open",
            Self::WithApproval => "with_approval",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "open" => Some(Self::Open),
            "with_approval" => Some(Self::WithApproval),
            _ => None,
        }
    }
}

/// Everything an organization decides about how its contacts log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginPolicy {
    pub login_mode: LoginMode,
    pub otp_channel: OtpChannel,
    pub code_length: u32,
    pub code_lifetime_secs: u32,
    pub code_max_guesses: u32,
    pub resend_cooldown_secs: u32,
    pub codes_per_hour: u32,
    pub codes_per_day: u32,
    pub code_failures_per_hour: u32,
    pub password_min_length: u32,
    pub lockout_threshold: u32,
    pub lockout_window_secs: u32,
    pub lockout_secs: u32,
    pub session_idle_secs: u32,
    pub session_absolute_secs: u32,
    pub self_registration: SelfRegistration,
    /// Email domains allowed to register; empty allows any.
    pub registration_domains: Vec<String>,
    pub anonymous_solutions: bool,
    pub contacts_may_close: bool,
    pub contacts_may_reopen: bool,
}

/// Consecutive password failures after which only an admin can unlock a contact.
pub const HARD_LOCK_FAILURES: u32 = 100;

/// Longest password accepted; longer ones are refused before any hashing.
pub const PASSWORD_MAX_CHARS: usize = 128;

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            login_mode: LoginMode::Password,
            otp_channel: OtpChannel::Email,
            code_length: 6,
            code_lifetime_secs: 300,
            code_max_guesses: 3,
            resend_cooldown_secs: 60,
            codes_per_hour: 5,
            codes_per_day: 10,
            code_failures_per_hour: 10,
            password_min_length: 15,
            lockout_threshold: 10,
            lockout_window_secs: 15 * 60,
            lockout_secs: 15 * 60,
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 60 * 60,
            self_registration: SelfRegistration::Off,
            registration_domains: Vec::new(),
            anonymous_solutions: true,
            contacts_may_close: true,
            contacts_may_reopen: true,
        }
    }
}

impl LoginPolicy {
    /// The default policy for a login mode and channel, with the password length that mode
    /// needs (15 when a password is the only factor, 8 with a second factor).
    pub fn for_mode(login_mode: LoginMode, otp_channel: OtpChannel) -> Self {
        let password_min_length = if login_mode == LoginMode::PasswordAndOtp {
            8
        } else {
            15
        };
        Self {
            login_mode,
            otp_channel,
            password_min_length,
            ..Self::default()
        }
    }

    /// Checks every value against its range; the error names the field and the range.
    pub fn check(&self) -> Result<(), AppError> {
        let single_factor = self.login_mode != LoginMode::PasswordAndOtp;
        let password_floor = if single_factor { 15 } else { 8 };
        let ranges: [(&'static str, u32, u32, u32, &str); 14] = [
            ("code_length", self.code_length, 6, 10, "digits"),
            (
                "code_lifetime_secs",
                self.code_lifetime_secs,
                120,
                600,
                "seconds",
            ),
            ("code_max_guesses", self.code_max_guesses, 1, 5, "guesses"),
            (
                "resend_cooldown_secs",
                self.resend_cooldown_secs,
                30,
                300,
                "seconds",
            ),
            ("codes_per_hour", self.codes_per_hour, 1, 20, "codes"),
            ("codes_per_day", self.codes_per_day, 1, 50, "codes"),
            (
                "code_failures_per_hour",
                self.code_failures_per_hour,
                3,
                50,
                "failures",
            ),
            (
                "password_min_length",
                self.password_min_length,
                password_floor,
                64,
                "characters",
            ),
            (
                "lockout_threshold",
                self.lockout_threshold,
                3,
                50,
                "failures",
            ),
            (
                "lockout_window_secs",
                self.lockout_window_secs,
                60,
                86_400,
                "seconds",
            ),
            ("lockout_secs", self.lockout_secs, 60, 86_400, "seconds"),
            (
                "session_idle_secs",
                self.session_idle_secs,
                300,
                86_400,
                "seconds",
            ),
            (
                "session_absolute_secs",
                self.session_absolute_secs,
                900,
                30 * 86_400,
                "seconds",
            ),
            (
                "codes_per_day",
                self.codes_per_day,
                self.codes_per_hour,
                50,
                "codes",
            ),
        ];
        for (field, value, low, high, unit) in ranges {
            if !(low..=high).contains(&value) {
                return Err(AppError::invalid(
                    field,
                    format!("Must be from {low} to {high} {unit}."),
                ));
            }
        }
        if self.session_idle_secs > self.session_absolute_secs {
            return Err(AppError::invalid(
                "session_idle_secs",
                "The idle timeout cannot be longer than the absolute session lifetime.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_checked() {
        assert!(check_slug("acme").is_ok());
        assert!(check_slug("acme-eu-2").is_ok());
        for bad in [
            "admin", "../admin", "Acme", "a", "-acme", "acme-", "ac me", "acme/x",
        ] {
            assert!(check_slug(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn default_policy_is_valid_and_ranges_hold() {
        assert!(LoginPolicy::default().check().is_ok());
        let two_step = LoginPolicy::for_mode(LoginMode::PasswordAndOtp, OtpChannel::Email);
        assert_eq!(two_step.password_min_length, 8);
        assert!(two_step.check().is_ok());

        let short = LoginPolicy {
            password_min_length: 8,
            ..LoginPolicy::default()
        };
        let Err(AppError::Invalid { field, .. }) = short.check() else {
            panic!("an 8-character single-factor password must be refused");
        };
        assert_eq!(field, Some("password_min_length"));

        let long_code = LoginPolicy {
            code_lifetime_secs: 601,
            ..LoginPolicy::default()
        };
        assert!(long_code.check().is_err());
    }
}
