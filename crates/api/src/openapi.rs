//! The OpenAPI document. Paths come from the registered routes (see [`crate::routes::configure`]);
//! this adds the document's header and the shared schemas.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AI Prompt Manager API",
        description = "Multi-tenant storage, search, versioning and execution of AI prompts. \
            Errors are RFC 9457 problem documents (`application/problem+json`) with a stable `code`.",
        license(name = "MIT"),
    ),
    // PromptSort is used only by query parameters, which utoipa does not collect schemas from.
    components(schemas(
        domain::wire::Problem,
        domain::wire::ErrorCode,
        domain::wire::FieldError,
        domain::prompt::PromptSort
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "auth", description = "Sign-in, sessions and the caller's own account"),
        (name = "tokens", description = "API tokens for integrations"),
        (name = "prompts", description = "The prompt library: prompts, versions, search, rendering, import and export"),
        (name = "ai", description = "AI services: providers, connections (keys sealed at rest), the caller's choice and the tenant's policy"),
        (name = "runs", description = "Running prompts on AI services (whole or streamed), comparing, enhancing, token counts and run history"),
        (name = "admin", description = "Administration"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer <token>`, where the token is a session token from sign-in or an API
/// token (`pmt_…`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from `POST /api/v1/auth/login`, or an API token (`pmt_…`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as the server serves it at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts()
        .1
}

/// The committed form of the document (`openapi/openapi.json`): pretty JSON, newline-terminated.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut json = serde_json::to_string_pretty(&document())?;
    json.push('\n');
    Ok(json)
}
