use actix_web::{get, web};
use domain::wire::{Health, Problem, Readiness};

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: the process is up and answering.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "The server is up", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok".to_owned(), version: env!("CARGO_PKG_VERSION").to_owned() })
}

/// Readiness: the database answers, so requests can be served.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The database is unreachable", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Readiness>, ApiError> {
    let database = state.db.backend().as_str().to_owned();
    match state.db.ping().await {
        Ok(()) => Ok(web::Json(Readiness { status: "ok".to_owned(), database })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::new(
                domain::wire::ErrorCode::ServiceUnavailable,
                format!("The {database} database is unreachable."),
            ))
        }
    }
}
