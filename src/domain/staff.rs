//! Who works on an organization's content as its staff: an admin in the console, or an API
//! client with an API key.
//!
//! The staff operations on requests, service categories and solutions take a [`Staff`], check
//! it again inside their transaction ([`Staff::check`]) and name it in the audit log and on
//! the replies it writes. An admin must manage the organization; a key must be scoped to it or
//! to the platform. Known limit: a key's revocation is seen at its next request, not in the
//! middle of one.

use super::{
    admin::AdminId,
    api_keys::{ApiKey, ApiKeyId},
    audit::Actor,
    org::OrgId,
};
use crate::{AppError, storage::DbConnection, storage::requests::admin_manages};

/// An admin or an API key acting as an organization's staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staff {
    /// An admin, by id; whether they manage the organization is looked up.
    Admin(AdminId),
    /// An API key, with the organization it is scoped to (`None` for a platform key).
    ApiKey { id: ApiKeyId, scope: Option<OrgId> },
}

impl From<&AdminId> for Staff {
    fn from(admin: &AdminId) -> Self {
        Self::Admin(*admin)
    }
}

impl From<&ApiKey> for Staff {
    fn from(key: &ApiKey) -> Self {
        Self::ApiKey {
            id: key.id,
            scope: key.org_id,
        }
    }
}

impl Staff {
    /// Who the audit log says acted.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Admin(id) => Actor::Admin(id.to_string()),
            Self::ApiKey { id, .. } => Actor::ApiKey(id.to_string()),
        }
    }

    /// The author a staff reply or note is stored under: an admin's id, or `api_key:<id>`.
    pub fn author_id(&self) -> String {
        match self {
            Self::Admin(id) => id.to_string(),
            Self::ApiKey { .. } => self.actor().to_stored(),
        }
    }

    /// Refuses staff who may not work on the organization.
    pub fn check(&self, conn: &mut DbConnection, org_id: &OrgId) -> Result<(), AppError> {
        let allowed = match self {
            Self::Admin(id) => admin_manages(conn, org_id, id)?,
            Self::ApiKey { scope, .. } => scope.is_none_or(|own| own == *org_id),
        };
        if allowed {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_apart_from_admins() {
        let admin = AdminId::new();
        let key = ApiKeyId::new();
        let by_key = Staff::ApiKey {
            id: key,
            scope: None,
        };
        assert_eq!(Staff::from(&admin).author_id(), admin.to_string());
        assert_eq!(by_key.author_id(), format!("api_key:{key}"));
        assert_eq!(by_key.actor(), Actor::ApiKey(key.to_string()));
    }
}
