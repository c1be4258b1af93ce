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
    /// Exit 0 when the server configured here answers `/healthz` (a container's health check).
    Healthcheck,
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
            Command::Healthcheck => healthcheck(&settings).await,
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

/// Asks the local server's `/healthz`: a server bound to every address is asked on loopback.
async fn healthcheck(settings: &Settings) -> Result<(), CliError> {
    let host = match settings.host {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let scheme = if settings.tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}/healthz", std::net::SocketAddr::new(host, settings.port));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        // Our own listener on loopback, asked by address (its certificate names the public host);
        // nothing is sent but the request.
        .danger_accept_invalid_certs(settings.tls.is_some())
        .build()
        .map_err(|e| failed(format!("cannot make an HTTP client: {e}")))?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(failed(format!("{url} answered {}", response.status()))),
        Err(err) => Err(failed(format!("{url} did not answer: {err}"))),
    }
}

fn failed(message: String) -> CliError {
    CliError::Failed(message)
}

/// One line on stderr, exit code 1.
fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::FAILURE
}
