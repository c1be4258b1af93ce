//! `prompt-manager`: the server and its operator commands.

use std::process::ExitCode;

use api::cli::{self, CliError, TenantCommand, UserCommand};
use api::config::Settings;
use api::startup::{Application, ShutdownSignal};
use api::state::Passwords;
use auth::password::PasswordHasher;
use clap::{Parser, Subcommand};
use persistence::Database;

#[derive(Parser)]
#[command(name = "prompt-manager", version, about = "AI Prompt Manager: multi-tenant prompt server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        return match api::openapi::document_json() {
            Ok(json) => {
                print!("{json}");
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err),
        };
    }

    // A missing .env is normal; values already in the environment win over it.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        return fail(&format!("cannot read .env: {err}"));
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => return fail(&err),
    };
    api::telemetry::init(settings.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Serve | Command::Openapi => {
                let shutdown =
                    ShutdownSignal::install().map_err(|e| failed(format!("cannot handle signals: {e}")))?;
                let app = Application::build(settings).await.map_err(|e| failed(e.to_string()))?;
                app.run_until(shutdown).await.map_err(|e| failed(e.to_string()))
            }
            Command::Migrate => {
                open_database(&settings).await?;
                tracing::info!("database schema is up to date");
                Ok(())
            }
            Command::Tenant(command) => cli::tenant(&open_database(&settings).await?, command).await,
            Command::User(command) => {
                let passwords = Passwords::new(PasswordHasher::default(), 1);
                cli::user(&open_database(&settings).await?, &passwords, command).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Refused(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(message)) => fail(&message),
    }
}

/// Opens and migrates the configured database.
async fn open_database(settings: &Settings) -> Result<Database, CliError> {
    let db = Database::connect(&settings.database).await.map_err(|e| failed(e.to_string()))?;
    db.migrate().await.map_err(|e| failed(e.to_string()))?;
    Ok(db)
}

fn failed(message: String) -> CliError {
    CliError::Failed(message)
}

/// One line on stderr, exit code 1.
fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::FAILURE
}
