//! The OpenAPI document. Paths come from the registered routes (see [`crate::routes::configure`]);
//! this adds the document's header, the shared schemas and, in [`complete`], the problem answers
//! that come from one place for every route (malformed input, credentials, the route's rule).

use actix_web::App;
use domain::access::Policy;
use domain::wire::ErrorCode;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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
        (name = "releases", description = "Release labels: which version applications fetch (`?label=`), moves with their history, rollback; protected labels, the release policy and approvals"),
        (name = "webhooks", description = "Webhook endpoints for events, signed per Standard Webhooks, delivered from a durable outbox with retries; the delivery log and redelivery"),
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
    complete(
        App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(crate::routes::configure)
            .split_for_parts()
            .1,
    )
}

/// Adds to every operation the problem answers that do not come from its handler but from the
/// extractors, [`crate::error`] and [`crate::access::enforce`], unless the route documents that
/// status itself. Run on the merged document (the paths are only known after the routes are
/// registered), both for the served and the committed document.
pub fn complete(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut used = std::collections::BTreeSet::new();
    let names_tenant = tenant_naming_bodies(&api);
    for (path, item) in &mut api.paths.paths {
        let operations = [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("PATCH", &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let policy = crate::access::policy_for(method, path).unwrap_or(Policy::Public);
            let body = operation.request_body.as_ref().and_then(|body| body.content.get("application/json"));
            let body_names_tenant = body
                .and_then(|content| match &content.schema {
                    Some(RefOr::Ref(schema)) => schema.ref_location.rsplit('/').next(),
                    _ => None,
                })
                .is_some_and(|schema| names_tenant.contains(schema));
            for answer in StandardProblem::ALL {
                if answer.applies(path, operation, policy, body_names_tenant) {
                    let status = answer.code().status().to_string();
                    if let std::collections::btree_map::Entry::Vacant(entry) =
                        operation.responses.responses.entry(status)
                    {
                        entry.insert(RefOr::Ref(Ref::from_response_name(answer.name())));
                        used.insert(answer);
                    }
                }
            }
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    for answer in used {
        let problem = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        let response =
            ResponseBuilder::new().description(answer.description()).content(PROBLEM_JSON, problem);
        components.responses.insert(answer.name().to_owned(), RefOr::T(response.build()));
    }
    api
}

const PROBLEM_JSON: &str = crate::error::PROBLEM_JSON;

/// The request bodies (schema names) with a `tenant_id` field: system administrators acting in
/// another tenant, which may not exist.
fn tenant_naming_bodies(api: &utoipa::openapi::OpenApi) -> std::collections::BTreeSet<String> {
    let schemas = api.components.as_ref().map(|components| &components.schemas);
    schemas
        .into_iter()
        .flatten()
        .filter(|(_, schema)| match schema {
            RefOr::T(utoipa::openapi::schema::Schema::Object(object)) => {
                object.properties.contains_key("tenant_id")
            }
            _ => false,
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// A problem any route of a kind may answer, whatever its handler does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StandardProblem {
    InvalidJson,
    Unauthorized,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    RateLimited,
    ServiceUnavailable,
}

impl StandardProblem {
    const ALL: [StandardProblem; 9] = [
        StandardProblem::InvalidJson,
        StandardProblem::Unauthorized,
        StandardProblem::Forbidden,
        StandardProblem::NotFound,
        StandardProblem::PayloadTooLarge,
        StandardProblem::UnsupportedMediaType,
        StandardProblem::ValidationFailed,
        StandardProblem::RateLimited,
        StandardProblem::ServiceUnavailable,
    ];

    fn applies(self, path: &str, operation: &Operation, policy: Policy, body_names_tenant: bool) -> bool {
        let has_body = operation.request_body.is_some();
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        let names_resource = body_names_tenant
            || parameters.iter().any(|p| p.parameter_in == ParameterIn::Path || p.name == "tenant_id");
        match self {
            // The JSON extractor: malformed, oversized or not JSON at all.
            StandardProblem::InvalidJson
            | StandardProblem::PayloadTooLarge
            | StandardProblem::UnsupportedMediaType => has_body,
            // The access rule: no valid credential, or one without the right.
            StandardProblem::Unauthorized => policy != Policy::Public,
            StandardProblem::Forbidden => !matches!(policy, Policy::Public | Policy::Reader),
            // A path naming nothing (or another tenant's resource), or a `tenant_id` naming no
            // tenant.
            StandardProblem::NotFound => names_resource,
            // The path, query and body extractors and the fields' own rules.
            StandardProblem::ValidationFailed => has_body || !parameters.is_empty(),
            // The general request rate limit (`crate::rate_limit`) covers the whole API.
            StandardProblem::RateLimited => path.starts_with("/api/"),
            // The database did not answer.
            StandardProblem::ServiceUnavailable => path != "/healthz",
        }
    }

    fn code(self) -> ErrorCode {
        match self {
            StandardProblem::InvalidJson => ErrorCode::InvalidJson,
            StandardProblem::Unauthorized => ErrorCode::Unauthorized,
            StandardProblem::Forbidden => ErrorCode::Forbidden,
            StandardProblem::NotFound => ErrorCode::NotFound,
            StandardProblem::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            StandardProblem::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            StandardProblem::ValidationFailed => ErrorCode::ValidationFailed,
            StandardProblem::RateLimited => ErrorCode::RateLimited,
            StandardProblem::ServiceUnavailable => ErrorCode::ServiceUnavailable,
        }
    }

    /// The name under `components/responses`.
    fn name(self) -> &'static str {
        match self {
            StandardProblem::InvalidJson => "InvalidJson",
            StandardProblem::Unauthorized => "Unauthorized",
            StandardProblem::Forbidden => "Forbidden",
            StandardProblem::NotFound => "NotFound",
            StandardProblem::PayloadTooLarge => "PayloadTooLarge",
            StandardProblem::UnsupportedMediaType => "UnsupportedMediaType",
            StandardProblem::ValidationFailed => "ValidationFailed",
            StandardProblem::RateLimited => "RateLimited",
            StandardProblem::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    fn description(self) -> &'static str {
        match self {
            StandardProblem::InvalidJson => "`invalid_json`: the body is not JSON of the expected shape",
            StandardProblem::Unauthorized => {
                "`unauthorized`: no credential, or one that is invalid, expired or revoked \
                 (`WWW-Authenticate: Bearer`)"
            }
            StandardProblem::Forbidden => "`forbidden`: the caller's role or token scope does not allow this",
            StandardProblem::NotFound => {
                "`not_found`: nothing of that id or name (or it belongs to another tenant)"
            }
            StandardProblem::PayloadTooLarge => {
                "`payload_too_large`: the body is larger than the server accepts"
            }
            StandardProblem::UnsupportedMediaType => {
                "`unsupported_media_type`: the body is not `application/json`"
            }
            StandardProblem::ValidationFailed => {
                "`validation_failed`: a path, query or body value is malformed or out of range; \
                 `errors` names each"
            }
            StandardProblem::RateLimited => {
                "`rate_limited`: too many requests from this credential or address; retry after \
                 `Retry-After` seconds"
            }
            StandardProblem::ServiceUnavailable => {
                "`service_unavailable`: the database is unavailable; retry after `Retry-After` seconds"
            }
        }
    }
}

/// The committed form of the document (`openapi/openapi.json`): pretty JSON, newline-terminated.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut json = serde_json::to_string_pretty(&document())?;
    json.push('\n');
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What schemathesis found undocumented (422 for malformed path and query values, 401, 403,
    /// 400/413/415 for bodies, 404 for `tenant_id`) is documented on every operation it applies to.
    #[test]
    fn every_operation_documents_the_problems_that_come_from_one_place() {
        let document = serde_json::to_value(document()).unwrap();
        let mut checked = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let documents = |status: &str| responses.contains_key(status);
                let rule = crate::access::policy_for(&method.to_uppercase(), path).unwrap();
                let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
                let in_path = parameters.iter().any(|p| p["in"] == "path");
                let what = format!("{method} {path}");
                if rule != Policy::Public {
                    assert!(documents("401"), "{what}: 401");
                }
                if !matches!(rule, Policy::Public | Policy::Reader) {
                    assert!(documents("403"), "{what}: 403");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415", "422"] {
                        assert!(documents(status), "{what}: {status}");
                    }
                }
                if in_path || parameters.iter().any(|p| p["name"] == "tenant_id") {
                    assert!(documents("404"), "{what}: 404");
                }
                if !parameters.is_empty() {
                    assert!(documents("422"), "{what}: 422");
                }
                if path.starts_with("/api/") {
                    assert!(documents("429"), "{what}: 429");
                }
                checked += 1;
            }
        }
        assert!(checked > 50, "{checked} operations");
        let shared = document["components"]["responses"]["ValidationFailed"].clone();
        assert_eq!(shared["content"][PROBLEM_JSON]["schema"]["$ref"], "#/components/schemas/Problem");
    }
}
