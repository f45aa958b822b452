//! The OpenAPI 3.1 description of the HTTP API, served at `/api/v1/openapi.json`.
//! Written by hand (one place, next to the routes); a test checks it names every route.

use axum::Json;
use serde_json::{json, Value};

fn err() -> Value {
    json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(schema: Value) -> Value {
    json!({"description": "ok", "content": {"application/json": {"schema": schema}}})
}

fn op(summary: &str, params: Value, body: Option<Value>, response: Value) -> Value {
    let mut o = json!({
        "summary": summary,
        "parameters": params,
        "responses": {"200": response, "201": response, "400": err(), "401": err(), "403": err(), "404": err(), "422": err(), "503": err()}
    });
    if let Some(b) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": b}}});
    }
    o
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}
fn query_param(name: &str, ty: &str, required: bool) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": {"type": ty}})
}

pub fn spec() -> Value {
    let loc = json!({"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "chartrack", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Chart tracking: scans, volumes, locations, stations. Authenticate with `Authorization: Bearer TOKEN` (`chartrack token create`)."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Location": loc,
                "ScanRequest": {"type": "object", "required": ["barcode"], "properties": {
                    "station": {"type": "string", "description": "required with a user token; with a station token it may be left out (the token's station)"},
                    "barcode": {"type": "string"},
                    "id": {"type": "string", "format": "uuid", "description": "unique per scan; a repeat is answered with the first answer"},
                    "scanned_at": {"type": "string", "format": "date-time"}}},
                "ScanAnswer": {"type": "object", "required": ["scan_id", "accepted", "action", "message"], "properties": {
                    "scan_id": {"type": "string"}, "accepted": {"type": "boolean"}, "action": {"type": "string"},
                    "message": {"type": "string"}, "warnings": {"type": "array", "items": {"type": "string"}},
                    "station": {"type": "string"}, "mode": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                    "moved": {"type": "integer"}, "volume": {"type": "object"}}},
                "Volume": {"type": "object", "properties": {
                    "barcode": {"type": "string"}, "mrn": {"type": "string"}, "volume": {"type": "integer"},
                    "status": {"type": "string", "enum": ["on_shelf", "in_transit", "at_location", "missing"]},
                    "location": {"$ref": "#/components/schemas/Location"}, "destination": {"$ref": "#/components/schemas/Location"},
                    "last_scan": {"type": "object", "properties": {"at": {"type": "string"}, "station": {"type": "string"}, "user": {"type": "string"}, "location": {"$ref": "#/components/schemas/Location"}}}}},
                "Movement": {"type": "object", "properties": {
                    "scan_id": {"type": "string"}, "action": {"type": "string"}, "at": {"type": "string"}, "from": {"type": "string"},
                    "to": {"type": "string"}, "station": {"type": "string"}, "user": {"type": "string"}}},
                "NewVolume": {"type": "object", "required": ["mrn", "last_name", "first_name", "home"], "properties": {
                    "barcode": {"type": "string"}, "mrn": {"type": "string"}, "last_name": {"type": "string"}, "first_name": {"type": "string"},
                    "birth_date": {"type": "string", "format": "date"}, "volume": {"type": "integer"}, "record_type": {"type": "string"}, "home": {"type": "string"}}},
                "NewLocation": {"type": "object", "required": ["code", "name", "kind"], "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"},
                    "kind": {"type": "string", "enum": ["shelf", "unit", "clinic", "office", "offsite", "person", "container"]},
                    "barcode": {"type": "string"}, "terminal": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}}},
                "NewStation": {"type": "object", "required": ["id", "location", "mode"], "properties": {
                    "id": {"type": "string"}, "location": {"type": "string"},
                    "mode": {"type": "string", "enum": ["check-out", "check-in", "receive", "transfer", "file", "inventory"]},
                    "port": {"type": "string"}, "usb": {"type": "string"}}},
                "Station": {"type": "object", "properties": {"id": {"type": "string"}, "location": {"type": "string"}, "mode": {"type": "string"},
                    "connected": {"type": "boolean"}, "last_scan_at": {"type": "string"}}},
                "NewReport": {"type": "object", "required": ["mrn", "description"], "properties": {
                    "barcode": {"type": "string"}, "mrn": {"type": "string"}, "description": {"type": "string"}}}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"summary": "liveness (no auth)", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus text metrics", "responses": {"200": {"description": "text/plain"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "this document", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/api/v1/scans": {"post": op("record a scan from a station", json!([]), Some(json!({"$ref": "#/components/schemas/ScanRequest"})), ok(json!({"$ref": "#/components/schemas/ScanAnswer"})))},
            "/api/v1/volumes": {"post": op("register a volume (and its patient)", json!([]), Some(json!({"$ref": "#/components/schemas/NewVolume"})), ok(json!({"type": "object"})))},
            "/api/v1/volumes/{barcode}": {"get": op("where a volume is", json!([path_param("barcode")]), None, ok(json!({"$ref": "#/components/schemas/Volume"})))},
            "/api/v1/volumes/{barcode}/movements": {"get": op("a volume's movements, newest first", json!([path_param("barcode"), query_param("limit", "integer", false)]), None, ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Movement"}})))},
            "/api/v1/search": {"get": op("volumes by barcode, MRN or patient name", json!([query_param("q", "string", true), query_param("limit", "integer", false)]), None, ok(json!({"type": "array"})))},
            "/api/v1/locations": {
                "get": op("all locations with counts", json!([]), None, ok(json!({"type": "array"}))),
                "post": op("create a location", json!([]), Some(json!({"$ref": "#/components/schemas/NewLocation"})), ok(json!({"type": "object"})))},
            "/api/v1/locations/{code}": {"get": op("a location and what is there now", json!([path_param("code"), query_param("limit", "integer", false)]), None, ok(json!({"type": "object"})))},
            "/api/v1/stations": {
                "get": op("stations and their state", json!([]), None, ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Station"}}))),
                "post": op("create or update a station", json!([]), Some(json!({"$ref": "#/components/schemas/NewStation"})), ok(json!({"type": "object"})))},
            "/api/v1/exceptions": {"get": op("unknown barcodes and misreads to resolve", json!([query_param("all", "boolean", false), query_param("limit", "integer", false)]), None, ok(json!({"type": "array"})))},
            "/api/v1/reports": {"post": op("register a loose report", json!([]), Some(json!({"$ref": "#/components/schemas/NewReport"})), ok(json!({"type": "object"})))}
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        let spec = super::spec();
        for (method, path, _) in crate::auth::POLICY {
            if crate::auth::is_page(path) && *path != "/healthz" && *path != "/metrics" {
                continue; // pages are not part of the API
            }
            let op = &spec["paths"][path][method.to_lowercase()];
            assert!(
                op.is_object(),
                "{method} {path} is missing from the OpenAPI document"
            );
        }
    }
}
