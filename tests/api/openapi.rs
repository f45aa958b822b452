//! The served OpenAPI document agrees with the real answers: every operation it documents is
//! called here for real, and each request body sent and each answer received (successes and
//! errors) is checked against the schema the document gives for it — required properties
//! present, types, enums, formats and patterns right, and no property the document does not
//! name.

use crate::helpers::TestApp;
use chartrack::domain::Role;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document, and the operations answered with a 2xx so far.
struct Conformance<'a> {
    app: &'a TestApp,
    doc: Value,
    exercised: BTreeSet<(String, String)>,
}

impl<'a> Conformance<'a> {
    async fn new(app: &'a TestApp) -> Conformance<'a> {
        let (s, doc) = app.get("/api/v1/openapi.json", "").await;
        assert_eq!(s, 200, "{doc}");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut c = Conformance {
            app,
            doc,
            exercised: BTreeSet::new(),
        };
        c.check("get", "/api/v1/openapi.json", 200, None, &Value::Null);
        c
    }

    /// The documented path template a concrete path matches (literal segments preferred).
    fn template(&self, path: &str) -> String {
        let path = path.split('?').next().unwrap();
        let segs: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .filter_map(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                let fits = ts.len() == segs.len()
                    && ts
                        .iter()
                        .zip(&segs)
                        .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')));
                let literal = ts.iter().filter(|t| !t.starts_with('{')).count();
                fits.then_some((literal, t.clone()))
            })
            .max()
            .unwrap_or_else(|| panic!("{path} is not in the document"))
            .1
    }

    async fn get(&mut self, path: &str, token: &str) -> (u16, Value) {
        let (s, body) = self.app.get(path, token).await;
        let t = self.template(path);
        self.check("get", &t, s, None, &body);
        (s, body)
    }

    async fn post(&mut self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let (s, answer) = self.app.post(path, token, body).await;
        let t = self.template(path);
        self.check("post", &t, s, Some(body), &answer);
        (s, answer)
    }

    /// Check a request body and an answer against the document's schemas for them.
    fn check(&mut self, method: &str, path: &str, status: u16, sent: Option<&Value>, got: &Value) {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let what = format!("{} {path}", method.to_uppercase());
        // A body the server accepted fits the schema the document gives for it.
        if let Some(sent) = sent.filter(|_| (200..300).contains(&status)) {
            if let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") {
                let mut errs = Vec::new();
                validate(&self.doc, schema, sent, "$", false, &mut errs);
                assert!(
                    errs.is_empty(),
                    "{what}: the body sent {sent} does not fit its documented schema:\n{}",
                    errs.join("\n")
                );
            }
        }
        let responses = &op["responses"];
        let response = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
            .unwrap_or_else(|| panic!("{what} answered {status}, which is not documented: {got}"));
        if let Some(content) = response["content"].as_object() {
            let (_, media) = content.iter().next().expect("a content type");
            let schema = &media["schema"];
            let mut errs = Vec::new();
            validate(&self.doc, schema, got, "$", false, &mut errs);
            assert!(
                errs.is_empty(),
                "{what} {status}: the answer does not fit its documented schema:\n{}\nanswer: {got}",
                errs.join("\n")
            );
        }
        if (200..300).contains(&status) {
            self.exercised.insert((method.to_owned(), path.to_owned()));
        }
    }

    /// Every documented operation was called and answered with a 2xx.
    fn all_exercised(&self) {
        let mut missing = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for m in METHODS {
                if item.get(m).is_some() && !self.exercised.contains(&(m.to_owned(), path.clone()))
                {
                    missing.push(format!("{} {path}", m.to_uppercase()));
                }
            }
        }
        assert!(missing.is_empty(), "not exercised here: {missing:?}");
    }
}

/// `#/components/schemas/X` → the schema.
fn resolve<'d>(doc: &'d Value, r: &str) -> &'d Value {
    let target = doc
        .pointer(r.trim_start_matches('#'))
        .unwrap_or(&Value::Null);
    assert!(!target.is_null(), "{r} does not resolve");
    target
}

/// The property names a schema documents, through `$ref` and `allOf`.
fn documented_properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        documented_properties(doc, resolve(doc, r), out);
    }
    if let Some(props) = schema["properties"].as_object() {
        out.extend(props.keys().cloned());
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        documented_properties(doc, part, out);
    }
}

fn type_fits(ty: &str, v: &Value) -> bool {
    match ty {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => panic!("unknown JSON Schema type {other}"),
    }
}

/// A JSON Schema (2020-12, as OpenAPI 3.1 uses it) check of the keywords the document uses.
/// `in_all_of`: this schema is one part of an `allOf`, whose whole names the properties.
fn validate(
    doc: &Value,
    schema: &Value,
    v: &Value,
    at: &str,
    in_all_of: bool,
    errs: &mut Vec<String>,
) {
    if schema == &Value::Bool(true) {
        return;
    }
    if let Some(r) = schema["$ref"].as_str() {
        validate(doc, resolve(doc, r), v, at, in_all_of, errs);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for p in parts {
            validate(doc, p, v, at, true, errs);
        }
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(branches) = schema[keyword].as_array() {
            let fits = branches
                .iter()
                .filter(|b| {
                    let mut e = Vec::new();
                    validate(doc, b, v, at, in_all_of, &mut e);
                    e.is_empty()
                })
                .count();
            if fits == 0 || (exactly_one && fits > 1) {
                errs.push(format!("{at}: {fits} of the {keyword} branches fit {v}"));
            }
        }
    }
    match &schema["type"] {
        Value::String(t) if !type_fits(t, v) => errs.push(format!("{at}: {v} is not {t}")),
        Value::Array(ts) if !ts.iter().any(|t| type_fits(t.as_str().unwrap(), v)) => {
            errs.push(format!("{at}: {v} is none of {ts:?}"))
        }
        _ => {}
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(v) {
            errs.push(format!("{at}: {v} is not one of {values:?}"));
        }
    }
    if let Some(s) = v.as_str() {
        check_string(schema, s, at, errs);
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), v.as_f64()) {
        if n < min {
            errs.push(format!("{at}: {n} is below {min}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(name.as_str().unwrap()) {
                errs.push(format!("{at}: required property {name} is missing"));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, s) in props {
                if let Some(x) = obj.get(k) {
                    validate(doc, s, x, &format!("{at}.{k}"), false, errs);
                }
            }
        }
        // The answer has no property the document does not name.
        let names_properties = schema.get("properties").is_some() || schema.get("allOf").is_some();
        if names_properties && !in_all_of {
            let mut known = BTreeSet::new();
            documented_properties(doc, schema, &mut known);
            for k in obj.keys().filter(|k| !known.contains(*k)) {
                errs.push(format!("{at}.{k} is not documented"));
            }
        }
    }
    if let Some(items) = v.as_array() {
        let prefix = schema["prefixItems"]
            .as_array()
            .map_or(&[][..], |p| p.as_slice());
        for (i, x) in items.iter().enumerate() {
            let s = match prefix.get(i) {
                Some(p) => p,
                None => match schema.get("items") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{at}: more than {} items", prefix.len()));
                        break;
                    }
                    Some(s) => s,
                    None => continue,
                },
            };
            validate(doc, s, x, &format!("{at}[{i}]"), false, errs);
        }
        let n = items.len() as u64;
        if schema["minItems"].as_u64().is_some_and(|m| n < m)
            || schema["maxItems"].as_u64().is_some_and(|m| n > m)
        {
            errs.push(format!("{at}: {n} items is out of range"));
        }
    }
}

fn check_string(schema: &Value, s: &str, at: &str, errs: &mut Vec<String>) {
    let ok = match schema["format"].as_str() {
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        Some("date") => s.parse::<chrono::NaiveDate>().is_ok(),
        Some("uuid") => uuid::Uuid::parse_str(s).is_ok(),
        _ => true,
    };
    if !ok {
        errs.push(format!("{at}: {s:?} is not a {}", schema["format"]));
    }
    if let Some(p) = schema["pattern"].as_str() {
        if !regex::Regex::new(p).unwrap().is_match(s) {
            errs.push(format!("{at}: {s:?} does not match {p}"));
        }
    }
    let len = s.chars().count() as u64;
    if schema["minLength"].as_u64().is_some_and(|m| len < m)
        || schema["maxLength"].as_u64().is_some_and(|m| len > m)
    {
        errs.push(format!("{at}: {s:?} has a length out of range"));
    }
}

/// The checker itself catches a missing required property, a wrong type, an undocumented
/// property, a value outside an enum and a malformed date-time.
#[tokio::test]
async fn the_checker_catches_disagreements() {
    let app = TestApp::spawn().await;
    let c = Conformance::new(&app).await;
    let volume = json!({"$ref": "#/components/schemas/Volume"});
    let good = json!({
        "barcode": "V1", "mrn": "1", "last_name": "A", "first_name": "B", "volume": 1,
        "record_type": "medical", "status": "on_shelf", "since": "2026-01-01T00:00:00.000Z",
        "home": {"code": "FR", "name": "F"}, "location": {"code": "FR", "name": "F"},
        "destination": null, "container": null, "last_scan": null, "waiting_reports": 0,
        "restricted": false
    });
    let errors = |v: &Value| {
        let mut e = Vec::new();
        validate(&c.doc, &volume, v, "$", false, &mut e);
        e
    };
    assert_eq!(errors(&good), Vec::<String>::new());
    for (field, bad) in [
        ("status", json!("lost")),
        ("volume", json!("one")),
        ("since", json!("yesterday")),
        ("destination", json!({"code": "4W"})),
        ("extra", json!(1)),
    ] {
        let mut v = good.clone();
        v[field] = bad;
        assert!(!errors(&v).is_empty(), "{field}: {v}");
    }
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("barcode");
    assert!(!errors(&v).is_empty());
}

#[tokio::test]
async fn real_answers_fit_the_document() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let supervisor = app.user("him", Role::Supervisor, None).await;
    let admin = app.admin.clone();
    let mut c = Conformance::new(&app).await;

    // Service, and refusals before anything else: no token, unknown volume, malformed body.
    assert_eq!(c.get("/healthz", "").await.0, 200);
    assert_eq!(c.get("/metrics", &admin).await.0, 200);
    assert_eq!(c.get("/api/v1/stations", "").await.0, 401);
    assert_eq!(c.get("/api/v1/volumes/NOPE-1", &admin).await.0, 404);
    let (s, e) = c
        .post("/api/v1/scans", &admin, &json!({"station": "fr-out"}))
        .await;
    assert_eq!(s, 400, "{e}");

    // Administration.
    let (s, e) = c
        .post(
            "/api/v1/locations",
            &admin,
            &json!({"code": "STORE-1", "name": "Off-site store", "kind": "offsite"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, e) = c
        .post(
            "/api/v1/locations",
            &admin,
            &json!({"code": "FR-20-39", "name": "Shelf", "kind": "shelf", "terminal": [20, 39]}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, e) = c
        .post(
            "/api/v1/stations",
            &admin,
            &json!({"id": "fr-count", "location": "FR-00-19", "mode": "inventory"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, e) = c
        .post(
            "/api/v1/volumes",
            &admin,
            &json!({"mrn": "000777", "last_name": "Conform", "first_name": "Test",
                    "birth_date": "1970-01-02", "home": "FR-00-19", "record_type": "radiology"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");

    // Scans: accepted (with the volume brief), refused (unknown barcode), a reused id.
    let id = uuid::Uuid::new_v4().to_string();
    let scan_at = |station: &str, barcode: &str, id: Option<&str>| {
        let mut b = json!({"station": station, "barcode": barcode});
        if let Some(id) = id {
            b["id"] = json!(id);
        }
        b
    };
    let scan = |barcode: &str, id: Option<&str>| scan_at("fr-out", barcode, id);
    let v0 = &h.volumes[0];
    c.post("/api/v1/scans", &admin, &scan(&h.loc["4W"], None))
        .await;
    let (s, a) = c.post("/api/v1/scans", &admin, &scan(v0, Some(&id))).await;
    assert_eq!((s, &a["accepted"]), (200, &json!(true)), "{a}");
    assert!(a["volume"].is_object(), "{a}");
    let (s, a) = c
        .post("/api/v1/scans", &admin, &scan("UNKNOWN-42", None))
        .await;
    assert_eq!((s, &a["accepted"]), (200, &json!(false)), "{a}");
    // A photo of a label: the same answer's schema; and a picture with nothing in it.
    let photo = crate::photos::png_of(crate::photos::label_picture(v0, 3, 0, 255, 0));
    for (body, want) in [(photo, 200), (b"not a picture".to_vec(), 415)] {
        let r = app
            .http
            .post(format!("{}/api/v1/scans/image?station=fr-out", app.base))
            .bearer_auth(&admin)
            .header("content-type", "image/png")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap();
        assert_eq!(status, want, "{answer}");
        c.check("post", "/api/v1/scans/image", status, None, &answer);
    }
    let (s, e) = c
        .post("/api/v1/scans", &admin, &scan_at("w4", v0, Some(&id)))
        .await;
    assert_eq!(s, 409, "{e}");

    // Reads: a volume in transit (destination, last scan), its movements, search, places.
    let (s, v) = c.get(&format!("/api/v1/volumes/{v0}"), &admin).await;
    assert_eq!((s, &v["status"]), (200, &json!("in_transit")), "{v}");
    assert!(
        v["last_scan"].is_object() && v["destination"].is_object(),
        "{v}"
    );
    let (s, m) = c
        .get(&format!("/api/v1/volumes/{v0}/movements?limit=5"), &admin)
        .await;
    assert_eq!((s, m.as_array().map(Vec::len)), (200, Some(1)), "{m}");
    let (s, hits) = c.get("/api/v1/search?q=Ashdown", &admin).await;
    assert_eq!((s, hits.as_array().map(Vec::len)), (200, Some(1)), "{hits}");
    assert_eq!(c.get("/api/v1/locations", &admin).await.0, 200);
    let (s, l) = c.get("/api/v1/locations/4W", &admin).await;
    assert_eq!((s, &l["incoming"]), (200, &json!(1)), "{l}");
    assert_eq!(c.get("/api/v1/stations", &admin).await.0, 200);
    let (s, ex) = c.get("/api/v1/exceptions?all=true", &admin).await;
    assert_eq!((s, ex.as_array().map(Vec::len)), (200, Some(1)), "{ex}");

    // Requests: new, the same again, read, listed, on the pull list, cancelled.
    let body = json!({"barcode": h.volumes[1], "location": "CARD", "priority": "stat",
                      "needed_by": "2030-01-01T10:00:00Z", "reason": "clinic at 10"});
    let (s, r) = c.post("/api/v1/requests", &admin, &body).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(c.post("/api/v1/requests", &admin, &body).await.0, 200);
    let (s, r2) = c
        .post(
            "/api/v1/requests",
            &admin,
            &json!({"barcode": v0, "location": "CARD", "priority": "routine"}),
        )
        .await;
    assert_eq!((s, &r2["transfer"]), (201, &json!(true)), "{r2}");
    assert_eq!(
        c.get(&format!("/api/v1/requests/{}", r["id"]), &admin)
            .await
            .0,
        200
    );
    let (s, list) = c.get("/api/v1/requests?active=true&limit=10", &admin).await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(2)), "{list}");
    let (s, pull) = c.get("/api/v1/pull-list", &admin).await;
    assert_eq!(s, 200, "{pull}");
    assert_eq!(
        (
            pull["pull"].as_array().map(Vec::len),
            pull["transfer"].as_array().map(Vec::len)
        ),
        (Some(1), Some(1)),
        "{pull}"
    );
    let (s, r) = c
        .post(
            &format!("/api/v1/requests/{}/cancel", r["id"]),
            &admin,
            &json!({"reason": "clinic_cancelled", "note": "moved to Friday"}),
        )
        .await;
    assert_eq!((s, &r["status"]), (200, &json!("cancelled")), "{r}");

    // A loose report waiting for a volume that is out.
    let (s, e) = c
        .post(
            "/api/v1/reports",
            &admin,
            &json!({"mrn": "123405", "description": "lab result"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, w) = c.get("/api/v1/reports", &admin).await;
    assert_eq!((s, w.as_array().map(Vec::len)), (200, Some(1)), "{w}");

    // Missing, where to look, found, acknowledged.
    let (s, e) = c
        .post(
            &format!("/api/v1/volumes/{v0}/missing"),
            &supervisor,
            &json!({"reason": "not_at_location"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, m) = c.get("/api/v1/missing", &supervisor).await;
    assert_eq!(
        (s, m["missing"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{m}"
    );
    app.scan("w4", v0).await;
    let (_, m) = c.get("/api/v1/missing", &supervisor).await;
    let mark = &m["found"][0]["mark_id"];
    assert!(mark.is_i64(), "{m}");
    let (s, e) = c
        .post(
            &format!("/api/v1/missing/{mark}/acknowledge"),
            &supervisor,
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{e}");

    // A stocktake of FR-00-19: one chart counted, one from another section, one not seen.
    let (s, t) = c
        .post(
            "/api/v1/stocktakes",
            &admin,
            &json!({"station": "fr-count", "location": "FR-00-19"}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    app.scan("fr-count", &h.volumes[2]).await;
    app.scan("fr-count", &h.volumes[1]).await;
    let (s, e) = c
        .post(
            &format!("/api/v1/stocktakes/{}/close", t["id"]),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(c.get("/api/v1/stocktakes", &admin).await.0, 200);
    let (s, r) = c
        .get(&format!("/api/v1/stocktakes/{}", t["id"]), &admin)
        .await;
    assert_eq!(s, 200, "{r}");
    assert!(
        !r["not_seen"].as_array().unwrap().is_empty()
            && !r["misfiles"].as_array().unwrap().is_empty(),
        "{r}"
    );

    c.all_exercised();
}
