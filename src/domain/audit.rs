//! The audit trail: who did what, when, and from where.
//!
//! Events are written in the same transaction as the change they describe where there is one.
//! They carry ids and outcomes, never passwords, codes or tokens, and never the text typed
//! into a login form for an identifier that matched nobody.

use serde::Serialize;

use super::org::OrgId;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone not (yet) logged in.
    Anonymous,
    /// A contact, by id.
    Contact(String),
    /// An admin, by id.
    Admin(String),
    /// An API client, by the id of its API key.
    ApiKey(String),
    /// Portico itself (seeding, the CLI).
    System,
}

impl Actor {
    /// The stored form: `anonymous`, `contact:<id>`, `admin:<id>`, `api_key:<id>` or `system`.
    pub fn to_stored(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::Contact(id) => format!("contact:{id}"),
            Self::Admin(id) => format!("admin:{id}"),
            Self::ApiKey(id) => format!("api_key:{id}"),
            Self::System => "system".to_owned(),
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub org_id: Option<OrgId>,
    pub actor: Actor,
    /// A dotted name such as `login.succeeded` or `login.failed`.
    pub kind: &'static str,
    /// Event details as JSON: method, reason, what changed from what to what.
    pub detail: serde_json::Value,
    pub client_ip: String,
}

/// Who causes a change and from where: what every audit event of the change carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub actor: Actor,
    pub client_ip: String,
}

impl Origin {
    /// An event of this origin in the organization.
    pub fn event(
        &self,
        org_id: OrgId,
        kind: &'static str,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            org_id: Some(org_id),
            actor: self.actor.clone(),
            kind,
            detail,
            client_ip: self.client_ip.clone(),
        }
    }
}

/// Why a login attempt failed, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    UnknownIdentifier,
    WrongPassword,
    EmptyPassword,
    NoPassword,
    Locked,
    Disabled,
}
