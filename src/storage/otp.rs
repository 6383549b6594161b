//! Login attempts and their one-time codes.
//!
//! A guess is counted, and its code used up or killed, by one conditional `UPDATE`, so
//! concurrent guesses are each counted and exactly one right guess wins.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, dsl, prelude::*};

use super::{
    DbConnection,
    accounts::ContactRow,
    schema::{common_code_logins, contacts, login_attempts, one_time_codes},
};
use crate::{
    AppError,
    domain::{
        contact::{Contact, ContactId},
        ids::Id,
        org::OrgId,
        otp::{AttemptId, LoginAttempt, Purpose},
    },
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = login_attempts)]
struct AttemptRow {
    org_id: String,
    id: String,
    contact_id: Option<String>,
    identifier_hash: String,
    purpose: String,
    password_proven: bool,
    expires_at: NaiveDateTime,
}

impl AttemptRow {
    fn into_domain(self) -> Result<LoginAttempt, AppError> {
        Ok(LoginAttempt {
            org_id: Id::from_stored(&self.org_id)?,
            id: Id::from_stored(&self.id)?,
            contact_id: self
                .contact_id
                .as_deref()
                .map(Id::from_stored)
                .transpose()?,
            identifier_hash: self.identifier_hash,
            purpose: Purpose::parse(&self.purpose)
                .ok_or_else(|| AppError::internal("unknown code purpose"))?,
            password_proven: self.password_proven,
            expires_at: self.expires_at,
        })
    }
}

/// Stores a login attempt.
pub fn insert_attempt(
    conn: &mut DbConnection,
    attempt: &LoginAttempt,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::org_id.eq(attempt.org_id.to_string()),
            login_attempts::id.eq(attempt.id.to_string()),
            login_attempts::contact_id.eq(attempt.contact_id.map(|id| id.to_string())),
            login_attempts::identifier_hash.eq(&attempt.identifier_hash),
            login_attempts::purpose.eq(attempt.purpose.as_str()),
            login_attempts::password_proven.eq(attempt.password_proven),
            login_attempts::created_at.eq(now),
            login_attempts::expires_at.eq(attempt.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The organization's login attempt with this id, while it has not expired.
pub fn find_attempt(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &AttemptId,
    now: NaiveDateTime,
) -> Result<Option<LoginAttempt>, AppError> {
    login_attempts::table
        .find((org_id.to_string(), attempt_id.to_string()))
        .filter(login_attempts::expires_at.gt(now))
        .select(AttemptRow::as_select())
        .first(conn)
        .optional()?
        .map(AttemptRow::into_domain)
        .transpose()
}

/// The live attempt `attempt_id` of the organization together with the contact it is for,
/// in one statement; `None` when the attempt is unknown, expired, or for nobody.
pub fn find_attempt_of_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &AttemptId,
    now: NaiveDateTime,
) -> Result<Option<(LoginAttempt, Contact)>, AppError> {
    let found: Option<(AttemptRow, ContactRow)> = login_attempts::table
        .inner_join(
            contacts::table.on(contacts::org_id
                .eq(login_attempts::org_id)
                .and(login_attempts::contact_id.eq(contacts::id.nullable()))),
        )
        .filter(login_attempts::org_id.eq(org_id.to_string()))
        .filter(login_attempts::id.eq(attempt_id.to_string()))
        .filter(login_attempts::expires_at.gt(now))
        .select((AttemptRow::as_select(), ContactRow::as_select()))
        .first(conn)
        .optional()?;
    found
        .map(|(attempt, contact)| Ok((attempt.into_domain()?, contact.into_domain()?.contact)))
        .transpose()
}

/// A code to store.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub org_id: &'a OrgId,
    pub attempt_id: &'a AttemptId,
    pub contact_id: &'a ContactId,
    pub purpose: Purpose,
    pub code_hash: &'a str,
    pub max_guesses: u32,
    pub lifetime_secs: u32,
    pub now: NaiveDateTime,
}

/// Retires every live code of the contact for this purpose; returns how many.
pub fn retire_codes(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    purpose: Purpose,
) -> Result<usize, AppError> {
    Ok(diesel::update(
        one_time_codes::table
            .filter(one_time_codes::org_id.eq(org_id.to_string()))
            .filter(one_time_codes::contact_id.eq(contact_id.to_string()))
            .filter(one_time_codes::purpose.eq(purpose.as_str()))
            .filter(is_live()),
    )
    .set(one_time_codes::status.eq("retired"))
    .execute(conn)?)
}

/// Stores a new code, pending until its message is accepted; returns its id. A pending code
/// already works (whoever types it has received it) until its lifetime has passed since it was
/// made; once a gateway accepts its message, its lifetime starts again from that moment.
pub fn insert_code(conn: &mut DbConnection, code: &NewCode<'_>) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(one_time_codes::table)
        .values((
            one_time_codes::org_id.eq(code.org_id.to_string()),
            one_time_codes::id.eq(&id),
            one_time_codes::attempt_id.eq(code.attempt_id.to_string()),
            one_time_codes::contact_id.eq(code.contact_id.to_string()),
            one_time_codes::purpose.eq(code.purpose.as_str()),
            one_time_codes::code_hash.eq(code.code_hash),
            one_time_codes::guesses.eq(0),
            one_time_codes::max_guesses.eq(i32::try_from(code.max_guesses).unwrap_or(3)),
            one_time_codes::status.eq("pending"),
            one_time_codes::lifetime_secs.eq(i32::try_from(code.lifetime_secs).unwrap_or(300)),
            one_time_codes::created_at.eq(code.now),
            one_time_codes::expires_at
                .eq(code.now + Duration::seconds(i64::from(code.lifetime_secs))),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Counts one guess of the code whose keyed hash is `typed_hash` against the attempt's live
/// code, atomically, and in the same statement uses the code up when the guess is right, or
/// kills it when this was its last guess. True when the guess was right and used the code:
/// for exactly one of any number of right guesses racing, since the others find the code no
/// longer live. False for a wrong guess, and when no live code is left to guess (none sent,
/// expired, used, retired or out of guesses).
///
/// The hashes are compared by the database: they are keyed, so how long a comparison takes
/// tells a guesser nothing about any other guess.
pub fn guess(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &AttemptId,
    typed_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let (org_id, attempt_id) = (org_id.to_string(), attempt_id.to_string());
    let (used, dead): (&'static str, &'static str) = ("used", "dead");
    let status = dsl::case_when::<_, _, diesel::sql_types::Text>(
        one_time_codes::code_hash.eq(typed_hash),
        used,
    )
    .when(
        (one_time_codes::guesses + 1).ge(one_time_codes::max_guesses),
        dead,
    )
    .otherwise(one_time_codes::status);
    let counted: Vec<String> = diesel::update(
        one_time_codes::table
            .filter(one_time_codes::org_id.eq(&org_id))
            .filter(one_time_codes::attempt_id.eq(&attempt_id)),
    )
    .filter(is_live())
    .filter(one_time_codes::guesses.lt(one_time_codes::max_guesses))
    .filter(one_time_codes::expires_at.gt(now))
    .set((
        one_time_codes::guesses.eq(one_time_codes::guesses + 1),
        one_time_codes::status.eq(status),
    ))
    .returning(one_time_codes::status)
    .get_results(conn)?;
    Ok(counted.iter().any(|status| status == used))
}

/// A code that may still be guessed: pending or active. Spelled without an `IN` list, which
/// diesel prepares afresh on every use, so that every statement using it stays prepared.
#[dsl::auto_type(no_type_alias)]
fn is_live() -> _ {
    let pending: &'static str = "pending";
    let active: &'static str = "active";
    one_time_codes::status
        .eq(pending)
        .or(one_time_codes::status.eq(active))
}

/// The attempt's codes that can no longer be guessed because they were replaced by newer
/// ones (`retired`) or proved the attempt (`used`): their status and hash.
pub fn spent_codes(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &AttemptId,
) -> Result<Vec<(String, String)>, AppError> {
    let (retired, used): (&'static str, &'static str) = ("retired", "used");
    Ok(one_time_codes::table
        .filter(one_time_codes::org_id.eq(org_id.to_string()))
        .filter(one_time_codes::attempt_id.eq(attempt_id.to_string()))
        .filter(
            one_time_codes::status
                .eq(retired)
                .or(one_time_codes::status.eq(used)),
        )
        .select((one_time_codes::status, one_time_codes::code_hash))
        .load(conn)?)
}

/// Starts the lifetimes of pending codes now that their messages were accepted: `codes` are
/// (organization, code id) pairs. A code already active (its other copy arrived first) keeps
/// its earlier start. Two statements for each organization among them, one more for each
/// further lifetime its codes have.
pub fn activate(
    conn: &mut DbConnection,
    codes: &[(OrgId, String)],
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let mut by_org: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (org_id, code_id) in codes {
        by_org.entry(org_id.to_string()).or_default().push(code_id);
    }
    for (org_id, ids) in by_org {
        let pending = || {
            one_time_codes::table
                .filter(one_time_codes::org_id.eq(org_id.clone()))
                .filter(one_time_codes::id.eq_any(ids.clone()))
                .filter(one_time_codes::status.eq("pending"))
        };
        let lifetimes: Vec<(String, i32)> = pending()
            .select((one_time_codes::id, one_time_codes::lifetime_secs))
            .load(conn)?;
        let mut by_lifetime: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for (id, lifetime) in lifetimes {
            by_lifetime.entry(lifetime).or_default().push(id);
        }
        for (lifetime, ids) in by_lifetime {
            diesel::update(pending().filter(one_time_codes::id.eq_any(ids)))
                .set((
                    one_time_codes::status.eq("active"),
                    one_time_codes::valid_from.eq(now),
                    one_time_codes::expires_at.eq(now + Duration::seconds(i64::from(lifetime))),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Which of `codes`, each an organization and a code id, can still be used: live and not
/// expired. One statement, however many.
pub fn still_useful(
    conn: &mut DbConnection,
    codes: &[(OrgId, String)],
    now: NaiveDateTime,
) -> Result<Vec<(OrgId, String)>, AppError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let orgs: Vec<String> = codes.iter().map(|(org, _)| org.to_string()).collect();
    let ids: Vec<&str> = codes.iter().map(|(_, id)| id.as_str()).collect();
    let live: Vec<(String, String)> = one_time_codes::table
        .filter(one_time_codes::org_id.eq_any(&orgs))
        .filter(one_time_codes::id.eq_any(&ids))
        .filter(is_live())
        .filter(one_time_codes::expires_at.gt(now))
        .select((one_time_codes::org_id, one_time_codes::id))
        .load(conn)?;
    // A code counts only under the organization named with it.
    Ok(codes
        .iter()
        .filter(|(org, id)| {
            live.iter()
                .any(|(live_org, live_id)| *live_org == org.to_string() && live_id == id)
        })
        .cloned()
        .collect())
}

/// The status and guess count of the attempt's newest code, for tests and the console.
pub fn newest_code_state(
    conn: &mut DbConnection,
    org_id: &OrgId,
    attempt_id: &AttemptId,
) -> Result<Option<(String, i32)>, AppError> {
    Ok(one_time_codes::table
        .filter(one_time_codes::org_id.eq(org_id.to_string()))
        .filter(one_time_codes::attempt_id.eq(attempt_id.to_string()))
        .order(one_time_codes::created_at.desc())
        .select((one_time_codes::status, one_time_codes::guesses))
        .first(conn)
        .optional()?)
}

/// Stores a common-page code request and the attempts it made, as `org_id:attempt_id` pairs.
pub fn insert_common(
    conn: &mut DbConnection,
    id: &str,
    attempts: &[(OrgId, AttemptId)],
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<(), AppError> {
    let listed: Vec<String> = attempts
        .iter()
        .map(|(org, attempt)| format!("{org}:{attempt}"))
        .collect();
    diesel::insert_into(common_code_logins::table)
        .values((
            common_code_logins::id.eq(id),
            common_code_logins::attempts.eq(listed.join(",")),
            common_code_logins::created_at.eq(now),
            common_code_logins::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The attempts of a common-page code request that has not expired.
pub fn find_common(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<Option<Vec<(OrgId, AttemptId)>>, AppError> {
    let listed: Option<String> = common_code_logins::table
        .find(id)
        .filter(common_code_logins::expires_at.gt(now))
        .select(common_code_logins::attempts)
        .first(conn)
        .optional()?;
    Ok(listed.map(|text| {
        text.split(',')
            .filter_map(|pair| pair.split_once(':'))
            .filter_map(|(org, attempt)| Some((Id::parse(org)?, Id::parse(attempt)?)))
            .collect()
    }))
}

/// Deletes attempts (and their codes) that expired before `before`.
pub fn sweep(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, AppError> {
    Ok(
        diesel::delete(login_attempts::table.filter(login_attempts::expires_at.lt(before)))
            .execute(conn)?,
    )
}
