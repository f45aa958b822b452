//! The API's JSON request bodies (`api::bodies::check_body`): each read as its handler's
//! extractor reads it and given the checks the handler makes before the writer.
//!
//! The first byte picks the body (`api::bodies::BODIES`), the rest is the JSON.
//!
//! Properties checked, besides "never panics":
//! - for the bodies that are also written out (`NewVolume`, `NewLocation`, `NewStation`: the
//!   configuration and the admin pages render them), parse(render(x)) == x, and a body the
//!   handler takes is still taken after the round trip (and one it refuses still refused);
//! - reading from bytes and reading from an already-parsed JSON value agree on whether the body
//!   is taken (a client that builds a `serde_json::Value` gets the server's answer).
#![no_main]

use chartrack::api::bodies::{check_body, BODIES};
use chartrack::store::admin::{NewLocation, NewStation, NewVolume};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn round_trip<T: Serialize + DeserializeOwned>(name: &str, json: &[u8]) {
    let Ok(x) = serde_json::from_slice::<T>(json) else {
        return;
    };
    let rendered = serde_json::to_value(&x).unwrap();
    let again: T = serde_json::from_value(rendered.clone())
        .unwrap_or_else(|e| panic!("{name}: its own rendering does not parse: {e}: {rendered}"));
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        rendered,
        "{name}: parse(render(x)) != x"
    );
    let bytes = serde_json::to_vec(&rendered).unwrap();
    assert_eq!(
        check_body(name, &bytes).is_ok(),
        check_body(name, json).is_ok(),
        "{name}: the round trip changed the handler's answer: {rendered}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, json)) = data.split_first() else {
        return;
    };
    let name = BODIES[usize::from(first) % BODIES.len()];
    let answer = check_body(name, json);
    match name {
        "NewVolume" => round_trip::<NewVolume>(name, json),
        "NewLocation" => round_trip::<NewLocation>(name, json),
        "NewStation" => round_trip::<NewStation>(name, json),
        _ => {}
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) {
        let bytes = serde_json::to_vec(&v).unwrap();
        // Duplicate keys are the one difference: bytes with a key twice are refused, a Value
        // keeps the last one. A body without them reads the same either way.
        if answer.is_ok() {
            assert!(
                check_body(name, &bytes).is_ok(),
                "{name}: taken from bytes, not from the value {v}"
            );
        }
    }
});
