//! The OpenAPI 3.1 description of the HTTP API, served at `/api/v1/openapi.json`.
//!
//! Generated, so it cannot drift: the schemas come from the request and response types
//! themselves (`#[derive(utoipa::ToSchema)]` next to their serde derives), each operation from
//! the `#[utoipa::path]` on its handler, and who may call it from the route table
//! (`auth::Routes`): [`Policies`] sets each operation's security and its 401/403/503 answers
//! from the route's [`Policy`]. The tests below check the document against the route table in
//! both directions and for structural validity; `tests/api/openapi.rs` checks real answers
//! against it.

use super::ErrorBody;
use crate::auth::Policy;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chartrack",
        description = "Chart tracking: scans, volumes, locations, stations, requests, missing \
charts, loose reports, stocktakes.\n\nAuthenticate with `Authorization: Bearer TOKEN` (a user's \
or a station's token: `chartrack token create`) or a signed-in session's cookie. Errors are \
`{\"error\": TEXT}` with a 4xx or 5xx status."
    ),
    paths(
        super::healthz,
        super::metrics,
        document,
        super::post_scan,
        super::get_exceptions,
        super::post_volume,
        super::get_volume,
        super::get_movements,
        super::search,
        super::get_locations,
        super::post_location,
        super::get_location,
        super::get_stations,
        super::post_station,
        super::post_report,
        super::workflows::waiting_reports,
        super::workflows::list_requests,
        super::workflows::post_request,
        super::workflows::get_request,
        super::workflows::cancel_request,
        super::workflows::pull_list,
        super::workflows::mark_missing,
        super::workflows::get_missing,
        super::workflows::acknowledge_found,
        super::workflows::list_stocktakes,
        super::workflows::open_stocktake,
        super::workflows::get_stocktake,
        super::workflows::close_stocktake,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Policies),
    tags(
        (name = "scans", description = "Scans from stations, and the exceptions they raise"),
        (name = "volumes", description = "Where a chart volume is, and where it has been"),
        (name = "locations", description = "Places a chart can be"),
        (name = "stations", description = "Scanners and their state"),
        (name = "requests", description = "Requests for volumes, and the file room's pull list"),
        (name = "missing", description = "Volumes looked for and not found"),
        (name = "reports", description = "Loose reports waiting to be filed"),
        (name = "stocktakes", description = "Inventory of a shelf range or a location"),
        (name = "admin", description = "Registering volumes, locations and stations"),
        (name = "service", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

/// The security schemes, and each operation's security and refusals from its route's policy.
struct Policies;

const BEARER: &str = "bearer";
const SESSION: &str = "session";

impl Modify for Policies {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user's or a station's token (`chartrack token create --user NAME` \
                         or `--station ID`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "chartrack_session",
                "A signed-in session's cookie (`__Host-chartrack` when served over HTTPS). A \
                 request other than GET made with it must come from chartrack's own pages \
                 (Origin / Sec-Fetch-Site) and carry the session's anti-forgery token in \
                 `X-CSRF-Token`.",
            ))),
        );
        let signed_in = || {
            vec![
                SecurityRequirement::new(BEARER, Vec::<String>::new()),
                SecurityRequirement::new(SESSION, Vec::<String>::new()),
            ]
        };
        doc.security = Some(signed_in());
        for rule in super::routes().rules() {
            let Some(op) = doc
                .paths
                .paths
                .get_mut(rule.path)
                .and_then(|item| operation(item, rule.method))
            else {
                continue; // an undocumented route: the tests name it
            };
            let who = match rule.policy {
                Policy::Public => {
                    op.security = Some(vec![]);
                    "anyone: no credentials needed".to_owned()
                }
                Policy::Any => "any valid token or session: a user's or a station's".to_owned(),
                Policy::Scan => {
                    "a station (only as itself) or any signed-in user".to_owned()
                }
                Policy::User(role) => format!("a user whose role is {role} or above"),
            };
            let description = op.description.get_or_insert_with(String::new);
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&format!("Who may call it: {who}."));
            if rule.policy != Policy::Public {
                refusal(op, "401", "no valid token or session");
                refusal(op, "503", "storage unavailable: nothing recorded; try again");
            }
            if matches!(rule.policy, Policy::Scan | Policy::User(_)) {
                refusal(op, "403", "this caller may not do this");
            }
        }
    }
}

fn operation<'a>(
    item: &'a mut utoipa::openapi::PathItem,
    method: &str,
) -> Option<&'a mut Operation> {
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "DELETE" => item.delete.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "HEAD" => item.head.as_mut(),
        _ => None,
    }
}

/// Add an error answer to an operation unless it already names that status.
fn refusal(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(error_response(description)));
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}

/// The document, generated once.
pub fn spec() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// This document
///
/// The OpenAPI 3.1 description of the HTTP API, generated from the request and response types.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service", operation_id = "openapi",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| spec().to_json().expect("the document serializes"));
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

#[cfg(test)]
mod dump {
    #[test]
    fn dump() {
        std::fs::write("/tmp/openapi.json", super::spec().to_pretty_json().unwrap()).unwrap();
    }
}
