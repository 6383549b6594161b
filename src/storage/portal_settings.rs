//! Customer Portal Settings: an organization's name, status, branding, host names and logo.
//!
//! Host names are kept as one newline-separated text column; the logo as base64 text (both
//! backends share `TEXT`) with its media type, and the portal pages ask only for its type, to
//! know whether to show it.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Utc;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl};

use super::{DbConnection, schema::organizations};
use crate::{
    AppError,
    domain::{
        org::{OrgId, OrgStatus},
        portal_settings::{LogoType, PortalSettings},
    },
};

/// The organization's settings as stored.
pub fn load(conn: &mut DbConnection, org_id: &OrgId) -> Result<PortalSettings, AppError> {
    let (name, status, accent_color, welcome_text, footer_text, host_names): (
        String,
        String,
        String,
        String,
        String,
        String,
    ) = organizations::table
        .find(org_id.to_string())
        .select((
            organizations::name,
            organizations::status,
            organizations::accent_color,
            organizations::welcome_text,
            organizations::footer_text,
            organizations::host_names,
        ))
        .first(conn)?;
    Ok(PortalSettings {
        name,
        status: OrgStatus::parse(&status)
            .ok_or_else(|| AppError::internal("unknown organization status"))?,
        accent_color,
        welcome_text,
        footer_text,
        host_names: host_names
            .split('\n')
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Replaces the organization's settings.
pub fn save(
    conn: &mut DbConnection,
    org_id: &OrgId,
    settings: &PortalSettings,
) -> Result<(), AppError> {
    super::orgs::note_change();
    diesel::update(organizations::table.find(org_id.to_string()))
        .set((
            organizations::name.eq(settings.name.trim()),
            organizations::status.eq(settings.status.as_str()),
            organizations::accent_color.eq(&settings.accent_color),
            organizations::welcome_text.eq(&settings.welcome_text),
            organizations::footer_text.eq(&settings.footer_text),
            organizations::host_names.eq(settings.host_names.join("\n")),
            organizations::updated_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every organization that maps host names, as its slug and its newline-separated names.
pub fn mapped_hosts(conn: &mut DbConnection) -> Result<Vec<(String, String)>, AppError> {
    Ok(organizations::table
        .filter(organizations::host_names.ne(""))
        .select((organizations::slug, organizations::host_names))
        .load(conn)?)
}

/// The first of `hosts` that another organization already maps, if any.
pub fn host_name_taken(
    conn: &mut DbConnection,
    org_id: &OrgId,
    hosts: &[String],
) -> Result<Option<String>, AppError> {
    if hosts.is_empty() {
        return Ok(None);
    }
    let others: Vec<String> = organizations::table
        .filter(organizations::id.ne(org_id.to_string()))
        .filter(organizations::host_names.ne(""))
        .select(organizations::host_names)
        .load(conn)?;
    Ok(hosts
        .iter()
        .find(|host| {
            others
                .iter()
                .any(|list| list.split('\n').any(|taken| taken == host.as_str()))
        })
        .cloned())
}

/// Stores the organization's logo.
pub fn save_logo(
    conn: &mut DbConnection,
    org_id: &OrgId,
    logo_type: LogoType,
    bytes: &[u8],
) -> Result<(), AppError> {
    super::orgs::note_change();
    diesel::update(organizations::table.find(org_id.to_string()))
        .set((
            organizations::logo_type.eq(logo_type.media_type()),
            organizations::logo_data.eq(STANDARD.encode(bytes)),
            organizations::updated_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The media type of the organization's logo, if it has one, without reading the image.
pub fn logo_type(conn: &mut DbConnection, org_id: &OrgId) -> Result<Option<LogoType>, AppError> {
    let stored: Option<Option<String>> = organizations::table
        .find(org_id.to_string())
        .select(organizations::logo_type)
        .first(conn)
        .optional()?;
    Ok(stored.flatten().as_deref().and_then(LogoType::parse))
}

/// The organization's logo, if it has one.
pub fn logo(
    conn: &mut DbConnection,
    org_id: &OrgId,
) -> Result<Option<(LogoType, Vec<u8>)>, AppError> {
    let stored: Option<(Option<String>, Option<String>)> = organizations::table
        .find(org_id.to_string())
        .select((organizations::logo_type, organizations::logo_data))
        .first(conn)
        .optional()?;
    let Some((Some(media_type), Some(data))) = stored else {
        return Ok(None);
    };
    let logo_type = LogoType::parse(&media_type)
        .ok_or_else(|| AppError::internal("stored logo has an unknown type"))?;
    let bytes = STANDARD
        .decode(data)
        .map_err(|_| AppError::internal("stored logo is not base64"))?;
    Ok(Some((logo_type, bytes)))
}
