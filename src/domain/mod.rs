//! The rules of the product, free of HTTP and SQL.
//!
//! Organizations and their login policy ([`org`]), contacts and how they are identified
//! ([`contact`]), password hashing on threads of its own ([`password`]), sessions ([`session`]),
//! the password login itself with its lockout ([`login`]), one-time codes ([`otp`]) and the
//! code login around them ([`code_login`]), messages ([`messages`]) and their delivery
//! ([`delivery`]), the admins ([`admin`]), their login ([`admin_login`]), the API keys of admin clients
//! ([`api_keys`]) and the changes they
//! make ([`policy_change`], [`portal_settings`], [`directory`]), the audit trail ([`audit`]),
//! and self-service: requests ([`requests`]), solutions ([`solutions`]) and the staff who
//! keep them, admins or API keys ([`staff`]), the safe Markdown
//! they are shown in ([`markdown`]) and what contacts change about themselves ([`profile`]).
//! The account lifecycle: forgotten passwords and invitations ([`password_reset`]),
//! self-registration ([`registration`]) and the codes both use ([`account_codes`]).
//! Typed ids ([`ids`]) keep one kind of id from standing in for another.

pub mod account_codes;
pub mod admin;
pub mod admin_login;
pub mod api_keys;
pub mod audit;
pub mod code_login;
pub mod contact;
pub mod contact_change;
pub mod delivery;
pub mod directory;
pub mod ids;
pub mod login;
pub mod markdown;
pub mod messages;
pub mod org;
pub mod otp;
pub mod password;
pub mod password_reset;
pub mod policy_change;
pub mod portal_settings;
pub mod profile;
pub mod registration;
pub mod requests;
pub mod session;
pub mod signing;
pub mod solutions;
pub mod staff;
