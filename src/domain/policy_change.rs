//! Changing an organization's login policy: whether the new policy can work at all, whom it
//! would strand, and what exactly changed, for the audit log.
//!
//! Ranges are [`LoginPolicy::check`]'s; this module adds what needs the platform around the
//! policy (an SMS gateway) or its contacts (who has a mobile number, who has a password).
//! [`save`] is the one way a changed policy is stored, by the console and the API alike: it
//! checks, asks for what is missing (a fresh password proof, a confirmation), then saves the
//! policy and one `policy.changed` audit event per changed setting in one transaction.

use serde::Serialize;

use super::{
    audit::Origin,
    org::{LoginMode, LoginPolicy, OrgId, OtpChannel},
};
use crate::{
    App, AppError,
    storage::{audit, directory, orgs as org_store, sms_gateways},
};

/// How many active contacts of the organization lack each way in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactReach {
    pub without_email: i64,
    pub without_mobile: i64,
    pub without_password: i64,
}

/// One setting that changed, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingChange {
    pub setting: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

/// Whether codes of this policy go to mobile numbers.
fn sends_sms(policy: &LoginPolicy) -> bool {
    policy.login_mode != LoginMode::Password && policy.otp_channel != OtpChannel::Email
}

/// Refuses a policy that cannot work: values outside their ranges, or codes by SMS with no
/// SMS gateway to send them.
pub fn check_feasible(policy: &LoginPolicy, sms_gateway_configured: bool) -> Result<(), AppError> {
    policy.check()?;
    if sends_sms(policy) && !sms_gateway_configured {
        return Err(AppError::invalid(
            "otp_channel",
            "Codes cannot go to mobile numbers: no SMS gateway is configured. Choose email, \
             or configure an SMS gateway first.",
        ));
    }
    if policy
        .registration_domains
        .iter()
        .any(|domain| !is_domain_shaped(domain))
    {
        return Err(AppError::invalid(
            "registration_domains",
            "List domains like example.com, separated by commas.",
        ));
    }
    Ok(())
}

/// Whether text looks like a DNS domain: dot-separated labels of lowercase letters, digits
/// and inner hyphens.
pub fn is_domain_shaped(text: &str) -> bool {
    text.len() <= 253
        && text.contains('.')
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// What a change from `old` to `new` does to contacts who lack a way in that `new` needs, in
/// sentences that say how many and how they will get in. Empty when nobody is stranded.
pub fn stranding(old: &LoginPolicy, new: &LoginPolicy, reach: ContactReach) -> Vec<String> {
    let mut warnings = Vec::new();
    if old.login_mode == new.login_mode && old.otp_channel == new.otp_channel {
        return warnings;
    }
    let needs_password = matches!(
        new.login_mode,
        LoginMode::Password | LoginMode::PasswordAndOtp
    );
    let codes = new.login_mode != LoginMode::Password;
    if needs_password && reach.without_password > 0 {
        warnings.push(format!(
            "{} no password. They will not be able to log in until an admin sets one for \
             them under Contacts.",
            how_many(reach.without_password)
        ));
    }
    if codes && new.otp_channel == OtpChannel::Mobile && reach.without_mobile > 0 {
        warnings.push(format!(
            "{} no mobile number. They will not get a code, and cannot log in, until an \
             admin adds their mobile number under Contacts.",
            how_many(reach.without_mobile)
        ));
    }
    if codes && new.otp_channel == OtpChannel::Email && reach.without_email > 0 {
        warnings.push(format!(
            "{} no email address. They will not get a code, and cannot log in, until an \
             admin adds their email address under Contacts.",
            how_many(reach.without_email)
        ));
    }
    warnings
}

fn how_many(count: i64) -> String {
    if count == 1 {
        "1 contact has".to_owned()
    } else {
        format!("{count} contacts have")
    }
}

/// Every setting whose value differs between `old` and `new`, by its name.
pub fn changes(old: &LoginPolicy, new: &LoginPolicy) -> Vec<SettingChange> {
    let as_map = |policy: &LoginPolicy| match serde_json::to_value(policy) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (before, after) = (as_map(old), as_map(new));
    after
        .into_iter()
        .filter_map(|(setting, to)| {
            let from = before
                .get(&setting)
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            (from != to).then_some(SettingChange { setting, from, to })
        })
        .collect()
}

/// What the one saving a policy has already done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assurance {
    /// The admin proved their password recently enough (API keys always have).
    pub proved: bool,
    /// The saver accepts that the change strands contacts.
    pub confirmed: bool,
}

/// What became of a policy save.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySave {
    /// The policy is the stored one already; nothing was written.
    Unchanged,
    /// The change needs the admin's password again first; nothing was written.
    NeedsProof,
    /// The change would strand contacts, as these sentences say; nothing was written.
    NeedsConfirmation(Vec<String>),
    /// The policy is saved, with these changes recorded.
    Saved(Vec<SettingChange>),
}

/// Checks and saves the organization's new login policy. A policy that cannot work is refused
/// as invalid input; the gates of [`Assurance`] are asked for in order (proof, then
/// confirmation), and only a change that passes them all is written, with its audit events.
pub async fn save(
    app: &App,
    org_id: OrgId,
    new: LoginPolicy,
    assurance: Assurance,
    origin: &Origin,
) -> Result<PolicySave, AppError> {
    let (old, reach, own_gateway) = app
        .db
        .run(move |conn| {
            Ok((
                org_store::policy(conn, &org_id)?,
                directory::reach(conn, &org_id)?,
                sms_gateways::find(conn, &org_id)?.is_some(),
            ))
        })
        .await?;
    check_feasible(&new, own_gateway || app.deliveries.has_sms_gateway())?;
    let changes = changes(&old, &new);
    if changes.is_empty() {
        return Ok(PolicySave::Unchanged);
    }

    if !assurance.proved {
        return Ok(PolicySave::NeedsProof);
    }
    let warnings = stranding(&old, &new, reach);
    if !warnings.is_empty() && !assurance.confirmed {
        return Ok(PolicySave::NeedsConfirmation(warnings));
    }

    let events: Vec<_> = changes
        .iter()
        .map(|change| {
            let detail = serde_json::to_value(change).unwrap_or_default();
            origin.event(org_id, "policy.changed", detail)
        })
        .collect();
    app.db
        .transaction(move |conn| {
            org_store::save_policy(conn, &org_id, &new)?;
            for event in &events {
                audit::record(conn, event)?;
            }
            Ok(())
        })
        .await?;
    tracing::info!(org.id = %org_id, actor = %origin.actor.to_stored(), "login policy changed");
    Ok(PolicySave::Saved(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_codes_need_an_sms_gateway() {
        let mobile = LoginPolicy::for_mode(LoginMode::Otp, OtpChannel::Mobile);
        let Err(AppError::Invalid { field, .. }) = check_feasible(&mobile, false) else {
            panic!("mobile codes without a gateway must be refused");
        };
        assert_eq!(field, Some("otp_channel"));
        assert!(check_feasible(&mobile, true).is_ok());
        let email = LoginPolicy::for_mode(LoginMode::Otp, OtpChannel::Email);
        assert!(check_feasible(&email, false).is_ok());
    }

    #[test]
    fn stranded_contacts_are_counted() {
        let reach = ContactReach {
            without_email: 0,
            without_mobile: 3,
            without_password: 2,
        };
        let password = LoginPolicy::default();
        let mobile = LoginPolicy::for_mode(LoginMode::Otp, OtpChannel::Mobile);
        let warnings = stranding(&password, &mobile, reach);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("3 contacts have no mobile number"));
        let back = stranding(&mobile, &password, reach);
        assert!(back[0].starts_with("2 contacts have no password"));
        assert!(stranding(&password, &password, reach).is_empty());
    }

    #[test]
    fn changes_name_each_setting_with_both_values() {
        let old = LoginPolicy::default();
        let new = LoginPolicy {
            code_length: 8,
            login_mode: LoginMode::Otp,
            ..old.clone()
        };
        let found = changes(&old, &new);
        assert_eq!(found.len(), 2);
        assert!(found.iter().any(|c| c.setting == "code_length"
            && c.from == serde_json::json!(6)
            && c.to == serde_json::json!(8)));
        assert!(found.iter().any(|c| c.setting == "login_mode"));
    }
}
