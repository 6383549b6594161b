//! Sessions: proof that a contact logged in, carried by a random token.
//!
//! A token is 256 random bits, handed to the client once and stored only as its SHA-256 hash,
//! so a leaked database holds no usable session. A session belongs to one organization and is
//! looked up only together with that organization, so it is worthless on any other portal.
//! It ends at logout, after the policy's idle timeout, or at its absolute lifetime.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::NaiveDateTime;
use rand::{RngCore, rngs::OsRng};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{contact::ContactId, ids::Id, org::OrgId};
use crate::secret::SecretString;

/// A contact session's id (not its token).
pub type SessionId = Id<ContactSession>;

/// A stored contact session.
#[derive(Debug, Clone, Serialize)]
pub struct ContactSession {
    pub org_id: OrgId,
    pub id: SessionId,
    pub contact_id: ContactId,
    pub auth_method: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub client_ip: String,
    pub user_agent: String,
}

/// Where a session was opened from, recorded for the contact's session list and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

/// A new random token, as handed to the client.
pub fn new_token() -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    SecretString::new(URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token.
pub fn token_hash(token: &SecretString) -> String {
    hex::encode(Sha256::digest(token.expose().as_bytes()))
}

/// Whether text is shaped like a token Portico made, checked before any lookup.
pub fn is_token_shaped(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.expose(), b.expose());
        assert!(is_token_shaped(a.expose()));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), *a.expose());
    }

    #[test]
    fn tampered_tokens_are_not_token_shaped() {
        assert!(!is_token_shaped("short"));
        assert!(!is_token_shaped(&format!("{}'", "a".repeat(42))));
    }
}
