//! The OpenAPI document, generated from the handlers' annotations.

use super::schemas::ErrorBody;
use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "carry", description = "Keep downstream patch series alive on top of moving upstream projects"),
    paths(
        super::api::health,
        super::api::workspace,
        super::api::graph,
        super::api::graph_svg,
        super::api::order,
        super::api::impact,
        super::api::impact_many,
        super::api::debt,
        super::conflicts::list,
        super::conflicts::review,
        super::conflicts::acknowledge,
        super::runs::list,
        super::runs::start,
        super::runs::show,
        super::runs::events,
        super::hooks::upstream,
        document,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::HttpAuthScheme;
        use utoipa::openapi::security::HttpBuilder;
        use utoipa::openapi::security::SecurityScheme;
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "this document", body = serde_json::Value), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
