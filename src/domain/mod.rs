//! The rules of the product, free of HTTP and SQL.
//!
//! Organizations and their login policy ([`org`]), contacts and how they are identified
//! ([`contact`]), password hashing in a bounded pool ([`password`]), sessions ([`session`]),
//! the password login itself with its lockout ([`login`]), the admins ([`admin`]) and the
//! audit trail ([`audit`]). Typed ids ([`ids`]) keep one kind of id from standing in for another.

pub mod admin;
pub mod audit;
pub mod contact;
pub mod ids;
pub mod login;
pub mod org;
pub mod password;
pub mod session;
pub mod signing;
