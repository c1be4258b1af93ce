//! `prompt-manager`: the server and its operator commands.

use std::process::ExitCode;

use api::config::Settings;
use api::startup::{Application, ShutdownSignal};
use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command.as_ref().unwrap_or(&Command::Serve) {
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
        match cli.command.unwrap_or(Command::Serve) {
            Command::Migrate => {
                let db =
                    persistence::Database::connect(&settings.database).await.map_err(|e| e.to_string())?;
                db.migrate().await.map_err(|e| e.to_string())?;
                tracing::info!("database schema is up to date");
                Ok(())
            }
            Command::Serve | Command::Openapi => {
                let shutdown =
                    ShutdownSignal::install().map_err(|e| format!("cannot handle signals: {e}"))?;
                let app = Application::build(settings).await.map_err(|e| e.to_string())?;
                app.run_until(shutdown).await.map_err(|e| e.to_string())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// One line on stderr, exit code 1.
fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::FAILURE
}
