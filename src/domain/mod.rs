//! The rules of the product, free of HTTP and SQL.
//!
//! Organizations and their login policy ([`org`]), contacts and how they are identified
//! ([`contact`]), password hashing in a bounded pool ([`password`]), sessions ([`session`]),
//! the password login itself with its lockout ([`login`]), the admins ([`admin`]), the
//! audit trail ([`audit`]), and self-service: requests ([`requests`]), solutions
//! ([`solutions`]), the safe Markdown they are shown in ([`markdown`]) and what contacts
//! change about themselves ([`profile`]). Typed ids ([`ids`]) keep one kind of id from standing
//! in for another.

pub mod admin;
pub mod audit;
pub mod contact;
pub mod ids;
pub mod login;
pub mod markdown;
pub mod org;
pub mod password;
pub mod profile;
pub mod requests;
pub mod session;
pub mod signing;
pub mod solutions;
