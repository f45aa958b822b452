//! The API's JSON request bodies, by the names the OpenAPI document gives them: each read as its
//! handler's extractor reads it (`serde_json` over the whole body, as axum's `Json`) and given
//! the checks its handler makes before the writer is asked. The checks that need the database
//! (a location exists, a barcode is free) run in the writer and are not made here. For the fuzz
//! target `api_json` (`fuzz/`) and its regression tests.

use super::{ReportBody, ScanBody};
use crate::service::requests::CancelBody;
use crate::store::admin::{NewLocation, NewStation, NewVolume};
use crate::store::requests::NewRequest;
use crate::store::stocktake::NewStocktake;
use serde::de::DeserializeOwned;

/// Every JSON request body the API takes, by its schema name in `/api/v1/openapi.json`.
pub const BODIES: [&str; 9] = [
    "ScanRequest",
    "NewVolume",
    "NewLocation",
    "NewStation",
    "NewReport",
    "NewRequest",
    "Cancel",
    "MarkMissing",
    "NewStocktake",
];

fn read<T: DeserializeOwned>(json: &[u8]) -> Result<T, String> {
    serde_json::from_slice(json).map_err(|e| e.to_string())
}

/// `Ok` when the handler of the body named `schema` would go on to the writer with `json`;
/// otherwise the refusal's words (a 400 or 422 from the server).
pub fn check_body(schema: &str, json: &[u8]) -> Result<(), String> {
    match schema {
        "ScanRequest" => read::<ScanBody>(json)?
            .check()
            .map_err(|e| format!("{e:?}")),
        "NewVolume" => read::<NewVolume>(json)?
            .validate()
            .map_err(|e| e.to_string()),
        "NewLocation" => read::<NewLocation>(json)?
            .validate()
            .map_err(|e| e.to_string()),
        "NewStation" => read::<NewStation>(json).map(drop),
        "NewReport" => read::<ReportBody>(json).map(drop),
        "NewRequest" => read::<NewRequest>(json).map(drop),
        "Cancel" => read::<CancelBody>(json).map(drop),
        "MarkMissing" => read::<super::workflows::MissingBody>(json).map(drop),
        "NewStocktake" => read::<NewStocktake>(json).map(drop),
        other => Err(format!("no request body is named {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_body_is_named_in_the_openapi_document() {
        let doc = serde_json::to_value(super::super::openapi::spec()).unwrap();
        for name in BODIES {
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{name} is not a schema of the document"
            );
        }
        assert!(check_body("Nothing", b"{}").is_err());
    }

    #[test]
    fn examples_pass_and_fail_as_the_handlers_do() {
        let ok = br#"{"mrn":"123405","last_name":"Ashdown","first_name":"Test","home":"FR-00-19"}"#;
        assert_eq!(check_body("NewVolume", ok), Ok(()));
        let bad = br#"{"mrn":"123405","last_name":" ","first_name":"Test","home":"FR-00-19"}"#;
        assert!(check_body("NewVolume", bad).is_err());
        assert_eq!(
            check_body(
                "ScanRequest",
                br#"{"station":"fr-in","barcode":"V0000001H"}"#
            ),
            Ok(())
        );
        assert!(check_body("ScanRequest", br#"{"station":"","barcode":"V"}"#).is_err());
    }
}
