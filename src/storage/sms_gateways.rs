//! Organizations' own HTTP SMS gateways, one at most per organization. The URL and the header
//! values are secrets: they come back as [`SecretString`]s, and only the console's masked
//! forms of them are ever shown.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl};

use super::{DbConnection, schema::sms_gateways};
use crate::{AppError, config::SmsGateway, domain::org::OrgId, secret::SecretString};

type Row = (String, String, String, String, String, String, i32);

/// The organization's own gateway, if it has one.
pub fn find(conn: &mut DbConnection, org_id: &OrgId) -> Result<Option<SmsGateway>, AppError> {
    let row: Option<Row> = sms_gateways::table
        .find(org_id.to_string())
        .select((
            sms_gateways::url,
            sms_gateways::method,
            sms_gateways::headers,
            sms_gateways::body_template,
            sms_gateways::content_type,
            sms_gateways::accept_statuses,
            sms_gateways::timeout_secs,
        ))
        .first(conn)
        .optional()?;
    let Some((url, method, headers, body_template, content_type, accept_statuses, timeout)) = row
    else {
        return Ok(None);
    };
    let headers: BTreeMap<String, String> = serde_json::from_str(&headers)
        .map_err(|_| AppError::internal("an SMS gateway's stored headers are not JSON"))?;
    Ok(Some(SmsGateway {
        url: SecretString::new(url),
        method,
        headers: headers
            .into_iter()
            .map(|(name, value)| (name, SecretString::new(value)))
            .collect(),
        body_template,
        content_type,
        accept_statuses,
        timeout_secs: u64::try_from(timeout).unwrap_or(10),
    }))
}

/// Stores the organization's gateway, replacing any earlier one.
pub fn save(
    conn: &mut DbConnection,
    org_id: &OrgId,
    gateway: &SmsGateway,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let headers: BTreeMap<&str, &str> = gateway
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.expose().as_str()))
        .collect();
    let headers = serde_json::to_string(&headers).map_err(AppError::internal)?;
    remove(conn, org_id)?;
    diesel::insert_into(sms_gateways::table)
        .values((
            sms_gateways::org_id.eq(org_id.to_string()),
            sms_gateways::url.eq(gateway.url.expose()),
            sms_gateways::method.eq(&gateway.method),
            sms_gateways::headers.eq(headers),
            sms_gateways::body_template.eq(&gateway.body_template),
            sms_gateways::content_type.eq(&gateway.content_type),
            sms_gateways::accept_statuses.eq(&gateway.accept_statuses),
            sms_gateways::timeout_secs.eq(i32::try_from(gateway.timeout_secs).unwrap_or(10)),
            sms_gateways::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes the organization's gateway; whether it had one.
pub fn remove(conn: &mut DbConnection, org_id: &OrgId) -> Result<bool, AppError> {
    let removed = diesel::delete(sms_gateways::table.find(org_id.to_string())).execute(conn)?;
    Ok(removed > 0)
}
