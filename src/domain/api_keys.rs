//! API keys: how admin clients of the API prove who they are.
//!
//! A key is scoped to one organization or to the whole platform. Its text is
//! `portico_<key id>_<secret>`: the id finds the key, and the secret (256 random bits) is
//! stored only as its SHA-256 hash and compared in constant time. A key is shown once, when
//! it is made, and can be revoked but never shown again. Making and revoking keys is audited.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{NaiveDateTime, Utc};
use rand::{RngCore, rngs::OsRng};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    audit::{Actor, AuditEvent},
    ids::Id,
    org::OrgId,
};
use crate::{
    App, AppError,
    secret::SecretString,
    storage::{
        api_keys::{self as store, NewKey},
        audit,
    },
};

/// An API key's id.
pub type ApiKeyId = Id<ApiKey>;

/// Longest key name, in characters.
pub const NAME_MAX_CHARS: usize = 100;

const PREFIX: &str = "portico_";

/// A stored API key, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    /// The organization the key administers; `None` for a platform key.
    pub org_id: Option<OrgId>,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiKey {
    /// Whether this key may administer the organization.
    pub fn reaches(&self, org_id: &OrgId) -> bool {
        self.org_id.is_none_or(|own| own == *org_id)
    }
}

/// Who makes a key: an admin in the console, or an operator on the command line.
#[derive(Debug, Clone)]
pub enum Maker {
    Admin(String),
    CommandLine,
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Checks a key's name; returns it trimmed.
pub fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(AppError::invalid(
            "name",
            format!("Use 1 to {NAME_MAX_CHARS} characters."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::invalid("name", "Use letters, digits and spaces."));
    }
    Ok(name.to_owned())
}

/// Makes a key for the organization (or the platform) and returns it with its text, which is
/// shown this once.
pub async fn create(
    app: &App,
    org_id: Option<OrgId>,
    name: &str,
    maker: Maker,
    client_ip: &str,
) -> Result<(ApiKey, SecretString), AppError> {
    let name = check_name(name)?;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let id = ApiKeyId::new();
    let text = SecretString::new(format!("{PREFIX}{}_{secret}", id.simple()));
    let hash = secret_hash(&secret);
    let now = Utc::now().naive_utc();
    let (created_by, actor) = match &maker {
        Maker::Admin(admin_id) => (admin_id.clone(), Actor::Admin(admin_id.clone())),
        Maker::CommandLine => ("command line".to_owned(), Actor::System),
    };
    let event = AuditEvent {
        org_id,
        actor,
        kind: "api_key.created",
        detail: json!({ "key_id": id.to_string(), "name": name }),
        client_ip: client_ip.to_owned(),
    };
    let stored_name = name.clone();
    app.db
        .transaction(move |conn| {
            store::insert(
                conn,
                &NewKey {
                    id: &id,
                    org_id: org_id.as_ref(),
                    name: &stored_name,
                    secret_hash: &hash,
                    created_by: &created_by,
                    now,
                },
            )?;
            audit::record(conn, &event)
        })
        .await?;
    let key = ApiKey {
        id,
        org_id,
        name,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((key, text))
}

/// The live key whose text this is, if any.
pub async fn authenticate(app: &App, text: &str) -> Result<Option<ApiKey>, AppError> {
    let Some((id, secret)) = text
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    let Some(id) = ApiKeyId::parse(id) else {
        return Ok(None);
    };
    let typed = secret_hash(secret);
    let found = app
        .db
        .run(move |conn| store::find_for_use(conn, &id, Utc::now().naive_utc()))
        .await?;
    Ok(found.and_then(|(key, stored)| {
        let same = bool::from(stored.as_bytes().ct_eq(typed.as_bytes()));
        (same && key.revoked_at.is_none()).then_some(key)
    }))
}

/// The organization's keys, newest first, revoked ones included.
pub async fn list(app: &App, org_id: OrgId) -> Result<Vec<ApiKey>, AppError> {
    app.db
        .run(move |conn| store::list(conn, Some(&org_id)))
        .await
}

/// Revokes one of the organization's keys; another organization's key is not found.
pub async fn revoke(
    app: &App,
    org_id: OrgId,
    key_id: ApiKeyId,
    admin_id: String,
    client_ip: &str,
) -> Result<(), AppError> {
    let event = AuditEvent {
        org_id: Some(org_id),
        actor: Actor::Admin(admin_id),
        kind: "api_key.revoked",
        detail: json!({ "key_id": key_id.to_string() }),
        client_ip: client_ip.to_owned(),
    };
    app.db
        .transaction(move |conn| {
            if !store::revoke(conn, &org_id, &key_id, Utc::now().naive_utc())? {
                return Err(AppError::NotFound);
            }
            audit::record(conn, &event)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  CRM sync ").unwrap(), "CRM sync");
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_name("a\u{0}b").is_err());
    }

    #[test]
    fn platform_keys_reach_every_organization() {
        let org = OrgId::new();
        let mut key = ApiKey {
            id: ApiKeyId::new(),
            org_id: None,
            name: "k".to_owned(),
            created_at: Utc::now().naive_utc(),
            last_used_at: None,
            revoked_at: None,
        };
        assert!(key.reaches(&org));
        key.org_id = Some(OrgId::new());
        assert!(!key.reaches(&org));
    }
}
