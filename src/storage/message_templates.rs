//! The organizations' own wordings of their messages: at most one per organization and
//! message, replacing the built-in templates while it exists. Checking that a wording renders
//! is the domain's job ([`crate::domain::messages`]); this module only keeps them.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl};

use super::{DbConnection, schema::message_templates};
use crate::{AppError, domain::messages::MessageParts, domain::org::OrgId};

/// The organization's wording of `message` (such as `login_code`), if it has one.
pub fn find(
    conn: &mut DbConnection,
    org_id: &OrgId,
    message: &str,
) -> Result<Option<MessageParts>, AppError> {
    let row: Option<(String, String, String, String)> = message_templates::table
        .find((org_id.to_string(), message))
        .select((
            message_templates::subject,
            message_templates::body_text,
            message_templates::body_html,
            message_templates::sms,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(subject, text, html, sms)| MessageParts {
        subject,
        text,
        html,
        sms,
    }))
}

/// The messages the organization words its own way.
pub fn customized(conn: &mut DbConnection, org_id: &OrgId) -> Result<Vec<String>, AppError> {
    Ok(message_templates::table
        .filter(message_templates::org_id.eq(org_id.to_string()))
        .select(message_templates::message)
        .load(conn)?)
}

/// Stores the organization's wording of `message`, replacing any earlier one.
pub fn save(
    conn: &mut DbConnection,
    org_id: &OrgId,
    message: &str,
    parts: &MessageParts,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let deleted = diesel::delete(message_templates::table.find((org_id.to_string(), message)));
    deleted.execute(conn)?;
    diesel::insert_into(message_templates::table)
        .values((
            message_templates::org_id.eq(org_id.to_string()),
            message_templates::message.eq(message),
            message_templates::subject.eq(&parts.subject),
            message_templates::body_text.eq(&parts.text),
            message_templates::body_html.eq(&parts.html),
            message_templates::sms.eq(&parts.sms),
            message_templates::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes the organization's wording of `message`, so the built-in one applies again;
/// whether there was one.
pub fn reset(conn: &mut DbConnection, org_id: &OrgId, message: &str) -> Result<bool, AppError> {
    let removed = diesel::delete(message_templates::table.find((org_id.to_string(), message)))
        .execute(conn)?;
    Ok(removed > 0)
}
