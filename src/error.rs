//! The one error type of Portico.
//!
//! Every layer returns [`AppError`]. Its kinds are stable and machine-readable
//! ([`AppError::kind`]); the web layer maps them to HTTP statuses and pages in one place
//! (`web::errors`). The message a user sees never carries an internal cause: storage and
//! configuration failures keep their cause for the log, which records it once, where the
//! error turns into a response.

use std::fmt;

/// What went wrong, in the product's words.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The thing asked for does not exist, or is not visible to the asker.
    #[error("not found")]
    NotFound,
    /// The input breaks a rule; the message is safe to show next to `field`.
    #[error("invalid input: {message}")]
    Invalid {
        field: Option<&'static str>,
        message: String,
    },
    /// The asker is known but may not do this.
    #[error("forbidden")]
    Forbidden,
    /// A form arrived without the token that proves it came from Portico's own page.
    #[error("the form's security token is missing or wrong")]
    CsrfRejected,
    /// The request body is larger than Portico accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// A session or credential is needed and none valid was given.
    #[error("not logged in")]
    Unauthenticated,
    /// Too many attempts in too short a time; try again after the given wait.
    #[error("rate limited for {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// The change conflicts with what is stored (a duplicate, say).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a broken invariant. The text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A rule broken by the value of one form field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    /// An internal failure, keeping its cause for the log.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// A stable, machine-readable name of the kind, used in API problem types and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::Invalid { .. } => "invalid-input",
            Self::Forbidden => "forbidden",
            Self::CsrfRejected => "csrf-rejected",
            Self::PayloadTooLarge => "payload-too-large",
            Self::Unauthenticated => "unauthenticated",
            Self::RateLimited { .. } => "rate-limited",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => Self::NotFound,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            ) => Self::Conflict(info.message().to_owned()),
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::Unavailable(info.message().to_owned()),
            // The database cannot take writes just now: locked by another process past the
            // busy timeout, or out of disk. Nothing was stored; the client may try again.
            diesel::result::Error::DatabaseError(_, info)
                if [
                    "database is locked",
                    "disk is full",
                    "No space left on device",
                ]
                .iter()
                .any(|cause| info.message().contains(cause)) =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            // PostgreSQL cannot hold a NUL in text, wherever it came from (a search term, a
            // filter, a field no rule checks): that is bad input, not a fault.
            diesel::result::Error::DatabaseError(_, info)
                if info.message().contains("invalid byte sequence") =>
            {
                Self::Invalid {
                    field: None,
                    message: "Text may not contain a NUL character.".to_owned(),
                }
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::Internal(error.to_string())
    }
}
