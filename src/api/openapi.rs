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
        super::service::healthz,
        super::service::metrics,
        document,
        super::post_scan,
        super::photo::post_scan_image,
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
                Policy::Scan => "a station (only as itself) or any signed-in user".to_owned(),
                Policy::User(role) => format!("a user whose role is {role} or above"),
                Policy::Display => "a wall display, by its own cookie".to_owned(),
            };
            let description = op.description.get_or_insert_with(String::new);
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&format!("Who may call it: {who}."));
            if rule.policy != Policy::Public {
                refusal(op, "401", "no valid token or session");
                refusal(
                    op,
                    "503",
                    "storage unavailable: nothing recorded; try again",
                );
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
                .schema(Some(utoipa::openapi::Ref::from_schema_name(
                    ErrorBody::name(),
                )))
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
mod tests {
    use serde_json::Value;
    use std::collections::{BTreeMap, BTreeSet};

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn doc() -> Value {
        serde_json::to_value(super::spec()).unwrap()
    }

    /// (method, path, operation) for every operation in the document.
    fn operations(doc: &Value) -> Vec<(&'static str, &str, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for m in METHODS {
                if let Some(op) = item.get(m) {
                    out.push((m, path.as_str(), op));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_and_the_route_table_name_the_same_routes() {
        let doc = doc();
        let routes = super::super::routes();
        let routed: BTreeSet<(String, String)> = routes
            .rules()
            .iter()
            .filter(|r| !crate::auth::is_page(r.path))
            .map(|r| (r.method.to_lowercase(), r.path.to_owned()))
            .collect();
        assert!(routed.len() > 20, "the API's routes: {routed:?}");
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the OpenAPI document (add #[utoipa::path] and list the handler in ApiDoc): {undocumented:?}"
        );
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r);
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves_to_a_component() {
        let doc = doc();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 50, "{} refs", all.len());
        for r in all {
            assert!(
                r.starts_with("#/components/"),
                "{r} is not a local component"
            );
            let target = doc.pointer(&r[1..]);
            assert!(target.is_some_and(Value::is_object), "{r} does not resolve");
        }
        // Every security requirement names a scheme.
        let schemes = &doc["components"]["securitySchemes"];
        let mut requirements: Vec<&Value> = vec![&doc["security"]];
        requirements.extend(operations(&doc).iter().map(|(_, _, op)| &op["security"]));
        for list in requirements {
            for req in list.as_array().into_iter().flatten() {
                for name in req.as_object().unwrap().keys() {
                    assert!(
                        schemes[name].is_object(),
                        "security scheme {name} is not declared"
                    );
                }
            }
        }
    }

    /// Walk every schema object (components and inline), depth first.
    fn schemas<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(o) => {
                if o.contains_key("type")
                    || o.contains_key("$ref")
                    || o.contains_key("allOf")
                    || o.contains_key("oneOf")
                {
                    out.push(v);
                }
                o.values().for_each(|x| schemas(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| schemas(x, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_valid_openapi_3_1() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "chartrack");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

        // It reads back as an OpenAPI document, unchanged.
        let text = super::spec().to_json().unwrap();
        let back: utoipa::openapi::OpenApi = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), doc);

        let mut operation_ids = BTreeMap::new();
        for (method, path, op) in operations(&doc) {
            let what = format!("{method} {path}");
            assert!(path.starts_with('/'), "{what}: a path starts with '/'");
            // Path parameters: each `{x}` in the template is declared `in: path`, required, and
            // nothing else is declared in the path.
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
            let declared: BTreeSet<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(
                        p["required"], true,
                        "{what}: path parameter {p} must be required"
                    );
                    p["name"].as_str().unwrap()
                })
                .collect();
            assert_eq!(in_template, declared, "{what}: path parameters");
            let mut seen = BTreeSet::new();
            for p in &params {
                let key = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                assert!(
                    ["path", "query", "header", "cookie"].contains(&key.1),
                    "{what}: parameter {p} is in an unknown place"
                );
                assert!(seen.insert(key), "{what}: parameter {key:?} twice");
                assert!(
                    p["schema"].is_object(),
                    "{what}: parameter {p} has no schema"
                );
            }
            // Answers: at least one success (or a default); every one described.
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s == "default"),
                "{what}: no 2xx or default response"
            );
            for (status, r) in responses {
                assert!(
                    status == "default"
                        || (status.len() == 3
                            && status.parse::<u16>().is_ok_and(|s| (100..600).contains(&s))),
                    "{what}: {status} is not a status code"
                );
                assert!(
                    r["description"].is_string(),
                    "{what} {status}: a response needs a description"
                );
            }
            if op.get("requestBody").is_some() {
                assert!(
                    op["requestBody"]["content"]
                        .as_object()
                        .is_some_and(|c| !c.is_empty()),
                    "{what}: a request body without content"
                );
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no operationId"));
            if let Some(other) = operation_ids.insert(id.to_owned(), what.clone()) {
                panic!("operationId {id} is used by {other} and {what}");
            }
            // Tags are declared at the top.
            for tag in op["tags"].as_array().into_iter().flatten() {
                assert!(
                    doc["tags"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|t| &t["name"] == tag),
                    "{what}: tag {tag} is not declared"
                );
            }
        }

        // Component names follow the specification's rule; object schemas require only
        // properties they name; every pattern is a regular expression.
        for name in doc["components"]["schemas"].as_object().unwrap().keys() {
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)),
                "component name {name:?}"
            );
        }
        let mut all = Vec::new();
        schemas(&doc["components"]["schemas"], &mut all);
        schemas(&doc["paths"], &mut all);
        assert!(all.len() > 100, "{} schemas", all.len());
        for s in all {
            if let Some(required) = s["required"].as_array() {
                let props = s["properties"]
                    .as_object()
                    .expect("required without properties");
                for r in required {
                    assert!(
                        props.contains_key(r.as_str().unwrap()),
                        "{r} is required but not a property of {s}"
                    );
                }
            }
            if let Some(p) = s["pattern"].as_str() {
                assert!(regex::Regex::new(p).is_ok(), "pattern {p}");
            }
            if let Some(t) = s["type"].as_str() {
                assert!(
                    ["null", "boolean", "object", "array", "number", "integer", "string"]
                        .contains(&t),
                    "type {t}"
                );
            }
        }
    }

    /// The policies in the route table are what the document says: public routes need no
    /// credentials, the others name both schemes and their refusals.
    #[test]
    fn security_follows_the_route_table() {
        let doc = doc();
        for rule in super::super::routes().rules() {
            let op = &doc["paths"][rule.path][rule.method.to_lowercase()];
            let public = rule.policy == crate::auth::Policy::Public;
            if public {
                assert_eq!(
                    op["security"],
                    serde_json::json!([]),
                    "{} {}",
                    rule.method,
                    rule.path
                );
            } else {
                assert!(
                    op.get("security").is_none(),
                    "{} {}: the document's default",
                    rule.method,
                    rule.path
                );
                assert!(
                    op["responses"]["401"].is_object(),
                    "{} {}",
                    rule.method,
                    rule.path
                );
            }
            assert!(
                op["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("Who may call it")),
                "{} {}",
                rule.method,
                rule.path
            );
        }
        let default: Vec<&str> = doc["security"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
            .collect();
        assert_eq!(default, ["bearer", "session"]);
    }
}
