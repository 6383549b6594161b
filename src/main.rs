//! The `portico` binary: parses the command line, sets up logging and runs the command.

// The server's endpoint is a type nested once for each layer of middleware, deeper than the
// compiler's default limit lets an optimized build lay out.
#![recursion_limit = "256"]

use clap::Parser;
use portico::{AppError, cli};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PORTICO_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli::run(cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portico: {}", describe(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// One sentence for the operator.
fn describe(error: &AppError) -> String {
    match error {
        AppError::Invalid { message, .. } => message.clone(),
        AppError::Unavailable(cause) => format!("Cannot reach the database: {cause}."),
        AppError::NotFound => "No such organization or admin.".to_owned(),
        other => other.to_string(),
    }
}
