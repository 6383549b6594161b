//! The `portico` command line: serve, demo, migrate, seed, admin accounts and API keys, and
//! the API's OpenAPI document.
//!
//! Every command reads the same configuration (`--config`, `--data-dir`, `--database-url`
//! and the `PORTICO_*` variables) in the same order, so a command always talks to the database
//! the server would use.

use std::{io::IsTerminal, io::Read, path::PathBuf, sync::Arc};

use clap::{Args, Parser, Subcommand};

use crate::{
    App, AppError, Config,
    config::Overrides,
    domain::{api_keys, contact::normalize_email, password},
    fixtures::{self, FixtureSet},
    secret::SecretString,
    storage::{
        accounts::{self, NewAdmin},
        orgs,
    },
    web,
};

/// Portico: self-hosted customer portals for many organizations.
#[derive(Debug, Parser)]
#[command(name = "portico", version, about)]
pub struct Cli {
    /// A TOML configuration file (see the README for its keys).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for the SQLite database, the secret key and the file outboxes.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/NAME.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portals, the common login page and the console (the default).
    Serve(ServeArgs),
    /// Load the demo organizations into the database and serve them.
    Demo(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load fixtures from a folder (admins.toml and orgs/*.toml); a second run changes nothing.
    Seed {
        /// The fixtures folder.
        dir: PathBuf,
    },
    /// Manage admin accounts and API keys.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print the API's OpenAPI document (JSON) and exit.
    Openapi,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on, such as 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin; the password is read from standard input or prompted for.
    Create {
        #[arg(long)]
        email: String,
        /// The organization this admin manages; without it, a platform admin.
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
        /// The admin's display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Set a new password for an admin and lift any lockout.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
    /// Manage API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make an API key and print it, alone on the last line; it is shown this once.
    Create {
        /// The organization the key administers; without it, a platform key.
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
        /// What the key is for, as the console lists it.
        #[arg(long, default_value = "command line")]
        name: String,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    if matches!(cli.command, Some(Command::Openapi)) {
        println!("{}", web::api::spec());
        return Ok(());
    }
    let bind = match &cli.command {
        Some(Command::Serve(args) | Command::Demo(args)) => args.bind.clone(),
        _ => None,
    };
    let overrides = Overrides {
        config_file: cli.config,
        data_dir: cli.data_dir,
        bind,
        database_url: cli.database_url,
    };
    let config = Config::load(&overrides).map_err(|error| AppError::Invalid {
        field: None,
        message: error.to_string(),
    })?;
    let app = App::build(config)?;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(_) => serve(app).await,
        Command::Demo(_) => demo(app).await,
        Command::Migrate => {
            println!("Database is up to date ({}).", app.db.backend());
            Ok(())
        }
        Command::Seed { dir } => {
            let report = fixtures::seed(&app, &FixtureSet::from_dir(&dir)?).await?;
            println!("{}", describe_report(&report));
            Ok(())
        }
        Command::Admin(command) => admin(&app, command).await,
        Command::Openapi => Ok(()),
    }
}

async fn serve(app: Arc<App>) -> Result<(), AppError> {
    // The address is a setting: a taken or forbidden one is the operator's to change, and is
    // not reported as the database being out of reach.
    let acceptor = web::bind(app.config.bind)
        .await
        .map_err(|error| AppError::Invalid {
            field: Some("bind"),
            message: format!(
                "Cannot listen on {}: {error}. Choose another address with PORTICO_BIND.",
                app.config.bind
            ),
        })?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    web::serve(app, acceptor, shutdown)
        .await
        .map_err(AppError::internal)
}

async fn demo(app: Arc<App>) -> Result<(), AppError> {
    let report = fixtures::seed(&app, &FixtureSet::embedded()?).await?;
    if !report.is_empty() {
        tracing::info!(
            organizations = report.organizations,
            contacts = report.contacts,
            "demo fixtures loaded"
        );
    }
    let base = app.config.public_url.clone();
    let slugs = {
        let db = app.db.clone();
        db.run(orgs::list).await?
    };
    println!("\nPortico demo is running.\n");
    println!("  {:<27} {base}/", "Common login page");
    for org in &slugs {
        println!("  {:<27} {base}/portal/{}/", org.name, org.slug);
    }
    println!("  {:<27} {base}/admin/", "Admin console");
    println!("\nDemo contacts (password: portico-demo-password):");
    println!("  demo@<slug>.example in each portal, e.g. demo@acme.example");
    println!("  pat@shared.example  belongs to both Acme and Umbrella (try the common page)");
    println!("Admins (password: portico-admin-password):");
    println!("  admin@portico.example (platform), admin@acme.example (Acme only)");
    let data = app.config.data_dir.display();
    if app.config.smtp_url.is_none() {
        println!("One-time codes by email are written to {data}/mail/ as .eml files.");
    }
    if app.config.sms_gateway.is_none() {
        println!("One-time codes by SMS are written to {data}/sms/ as JSON files.");
    }
    println!();
    serve(app).await
}

async fn admin(app: &App, command: AdminCommand) -> Result<(), AppError> {
    match command {
        AdminCommand::Create { email, org, name } => {
            let email = normalize_email(&email)?;
            let password = read_new_password()?;
            let hash = app.hasher.hash(password).await?;
            let new = NewAdmin {
                name: name.unwrap_or_else(|| email.clone()),
                email,
                password_hash: hash,
                is_platform: org.is_none(),
            };
            let email = new.email.clone();
            app.db
                .transaction(move |conn| {
                    if accounts::find_admin_by_email(conn, &new.email)?.is_some() {
                        return Err(AppError::Conflict("an admin with this email exists".into()));
                    }
                    let id = accounts::insert_admin(conn, &new)?;
                    if let Some(slug) = org {
                        let org = orgs::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
                        accounts::grant_admin_org(conn, &id, &org.id)?;
                    }
                    Ok(())
                })
                .await?;
            println!("Admin {email} created.");
            Ok(())
        }
        AdminCommand::ResetPassword { email } => {
            let email = normalize_email(&email)?;
            let password = read_new_password()?;
            let hash = app.hasher.hash(password).await?;
            let lookup = email.clone();
            app.db
                .transaction(move |conn| {
                    let (admin, _) =
                        accounts::find_admin_by_email(conn, &lookup)?.ok_or(AppError::NotFound)?;
                    accounts::set_admin_password_hash(conn, &admin.id, &hash)
                })
                .await?;
            println!("Password of {email} changed.");
            Ok(())
        }
        AdminCommand::ApiKey(ApiKeyCommand::Create { org, name }) => {
            let org_id = match org {
                Some(slug) => {
                    let found = app
                        .db
                        .run(move |conn| orgs::find_by_slug(conn, &slug))
                        .await?
                        .ok_or(AppError::NotFound)?;
                    Some(found.id)
                }
                None => None,
            };
            let (key, text) =
                api_keys::create(app, org_id, &name, api_keys::Maker::CommandLine, "").await?;
            let scope = if org_id.is_some() {
                "organization"
            } else {
                "platform"
            };
            println!(
                "API key {} ({scope}) created. It is shown this once:",
                key.id
            );
            println!("{}", text.expose());
            Ok(())
        }
    }
}

/// Reads a new password: prompted (twice) on a terminal, else the first line of stdin.
fn read_new_password() -> Result<SecretString, AppError> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").map_err(AppError::internal)?;
        let again = rpassword::prompt_password("Again: ").map_err(AppError::internal)?;
        if first != again {
            return Err(AppError::invalid("password", "The two passwords differ."));
        }
        first
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(AppError::internal)?;
        text.lines().next().unwrap_or_default().to_owned()
    };
    if password.chars().count() < 15 || password::is_too_long(&password) {
        return Err(AppError::invalid(
            "password",
            "An admin password needs 15 to 128 characters.",
        ));
    }
    Ok(SecretString::new(password))
}

fn describe_report(report: &fixtures::SeedReport) -> String {
    if report.is_empty() {
        return "Nothing to add: every fixture is already stored.".to_owned();
    }
    format!(
        "Added {} organizations, {} contacts, {} admins, {} service categories, {} solutions, {} requests.",
        report.organizations,
        report.contacts,
        report.admins,
        report.categories,
        report.solutions,
        report.requests
    )
}
