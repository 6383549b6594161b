//! Admins: the people who run organizations' portals (organization admins) or the whole
//! platform (platform admins).
//!
//! Admins are not tenant-owned: one admin may look after several organizations, which the
//! `org_admins` table lists. The console that uses them is its own piece of work (issue #4);
//! here live the account and what it may reach.

use serde::Serialize;

use super::{ids::Id, org::OrgId};

/// An admin's id.
pub type AdminId = Id<Admin>;

/// One admin account.
#[derive(Debug, Clone, Serialize)]
pub struct Admin {
    pub id: AdminId,
    pub email: String,
    pub name: String,
    /// Platform admins see and manage every organization.
    pub is_platform: bool,
    /// The organizations an organization admin manages.
    pub org_ids: Vec<OrgId>,
}

impl Admin {
    /// Whether this admin may manage the organization.
    pub fn manages(&self, org_id: &OrgId) -> bool {
        self.is_platform || self.org_ids.contains(org_id)
    }
}
