//! Portico: a multi-tenant customer self-service portal.
//!
//! The crate is layered the way the product is: [`web`] is the HTTP surface (portal pages, the
//! common login page, health checks), [`domain`] holds the rules (organizations and their login
//! policy, contacts, passwords, sessions), and [`storage`] keeps them in SQLite or PostgreSQL.
//! Routes hold no SQL and storage knows no HTTP. [`config`] and [`cli`] start it all.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod fixtures;
pub mod metrics;
pub mod secret;
pub mod storage;
pub mod web;
pub mod workers;

pub use app::App;
pub use config::Config;
pub use error::AppError;
