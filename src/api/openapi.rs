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
                    "barcode": {"type": "string"}, "mrn": {"type": "string"}, "description": {"type": "string"}}},
                "NewRequest": {"type": "object", "required": ["barcode", "location", "priority"], "properties": {
                    "barcode": {"type": "string", "description": "the volume's barcode"},
                    "location": {"type": "string", "description": "deliver to (a unit, clinic, office or person)"},
                    "priority": {"type": "string", "enum": ["stat", "routine"]},
                    "needed_by": {"type": "string", "format": "date-time"}, "reason": {"type": "string"}}},
                "Request": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "integer"}, "barcode": {"type": "string", "description": "the slip's barcode"},
                    "status": {"type": "string", "enum": ["open", "pulled", "delivered", "cancelled", "not_found"]},
                    "priority": {"type": "string", "enum": ["stat", "routine"]}, "volume": {"type": "string"},
                    "location": loc, "needed_by": {"type": "string"}, "reason": {"type": "string"},
                    "transfer": {"type": "boolean", "description": "asked of whoever holds the volume, not the file room"},
                    "holder": loc, "requested": {"type": "object"}, "pulled": {"type": "object"}, "delivered": {"type": "object"},
                    "ended": {"type": "object"}, "end_reason": {"type": "string"}, "end_note": {"type": "string"},
                    "turnaround_minutes": {"type": "integer"}}},
                "Cancel": {"type": "object", "required": ["reason"], "properties": {
                    "reason": {"type": "string", "enum": ["entry_mistake", "clinic_cancelled", "patient_discharged", "no_longer_needed", "not_on_shelf", "not_at_holder", "other"]},
                    "note": {"type": "string"}}},
                "MarkMissing": {"type": "object", "required": ["reason"], "properties": {
                    "reason": {"type": "string", "enum": ["not_on_shelf", "not_returned", "not_at_location", "not_seen_in_stocktake", "request_not_found", "other"]},
                    "note": {"type": "string", "description": "required when the reason is other"}}},
                "NewStocktake": {"type": "object", "required": ["station"], "properties": {
                    "station": {"type": "string"}, "location": {"type": "string", "description": "a location code; or"},
                    "terminal": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2, "description": "a terminal-digit range [from, to]"}}}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"summary": "health (no auth): the database, the writer and checkpoint threads", "security": [], "responses": {"200": {"description": "{\"status\": \"ok\", \"writer\": \"running\", \"checkpoint\": \"running\", \"database\": \"ok\", \"down\": []}"}, "503": {"description": "something is down: \"down\" names it (writer, checkpoint, database)"}}}},
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
            "/api/v1/reports": {
                "post": op("register a loose report", json!([]), Some(json!({"$ref": "#/components/schemas/NewReport"})), ok(json!({"type": "object"}))),
                "get": op("loose reports waiting to be filed, oldest first", json!([]), None, ok(json!({"type": "array"})))},
            "/api/v1/requests": {
                "post": op("request a volume for a location (201 new; 200 the one already open)", json!([]), Some(json!({"$ref": "#/components/schemas/NewRequest"})), ok(json!({"$ref": "#/components/schemas/Request"}))),
                "get": op("requests, newest first", json!([query_param("location", "string", false), query_param("active", "boolean", false), query_param("since", "string", false), query_param("limit", "integer", false)]), None, ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Request"}})))},
            "/api/v1/requests/{id}": {"get": op("one request and where it stands", json!([path_param("id")]), None, ok(json!({"$ref": "#/components/schemas/Request"})))},
            "/api/v1/requests/{id}/cancel": {"post": op("cancel an open or pulled request with a coded reason", json!([path_param("id")]), Some(json!({"$ref": "#/components/schemas/Cancel"})), ok(json!({"$ref": "#/components/schemas/Request"})))},
            "/api/v1/pull-list": {"get": op("the file room's pull list (STAT, needed-by, terminal-digit order) and transfer requests", json!([]), None, ok(json!({"type": "object"})))},
            "/api/v1/volumes/{barcode}/missing": {"post": op("mark a volume missing (supervisor)", json!([path_param("barcode")]), Some(json!({"$ref": "#/components/schemas/MarkMissing"})), ok(json!({"type": "object"})))},
            "/api/v1/missing": {"get": op("missing volumes with where to look, found ones to acknowledge, candidates", json!([]), None, ok(json!({"type": "object"})))},
            "/api/v1/missing/{id}/acknowledge": {"post": op("acknowledge a found volume", json!([path_param("id")]), None, ok(json!({"type": "object"})))},
            "/api/v1/stocktakes": {
                "post": op("open a stocktake at a station over a location or a terminal-digit range", json!([]), Some(json!({"$ref": "#/components/schemas/NewStocktake"})), ok(json!({"type": "object"}))),
                "get": op("stocktakes, newest first", json!([]), None, ok(json!({"type": "array"})))},
            "/api/v1/stocktakes/{id}": {"get": op("a stocktake's results: corrected, not seen, misfiles", json!([path_param("id")]), None, ok(json!({"type": "object"})))},
            "/api/v1/stocktakes/{id}/close": {"post": op("close a stocktake", json!([path_param("id")]), None, ok(json!({"type": "object"})))}
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
        let routes = super::super::routes();
        for r in routes.rules() {
            let (method, path) = (r.method, r.path);
            let op = &spec["paths"][path][method.to_lowercase()];
            assert!(
                op.is_object(),
                "{method} {path} is missing from the OpenAPI document"
            );
        }
    }
}
