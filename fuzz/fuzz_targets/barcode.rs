//! Identifiers and check characters: `Barcode`, `Mrn`, `LocationCode` (`domain::ids`) and the
//! ISO/IEC 7064 MOD 37,36 check character (`domain::checkchar`).
//!
//! Properties checked, besides "never panics":
//! - parse(render(x)) == x for each identifier, and through JSON (serde) too;
//! - the two parsers of each identifier agree: `parse` accepts exactly what the OpenAPI
//!   document's `pattern` and `maxLength` for it accept (the document is what clients follow);
//! - a barcode's text is its normalised scan line (a printed barcode scans as itself);
//! - a computed check character is accepted by `verify_check_char`, every other last character
//!   is refused, and `verify_check_char` says yes exactly when the last character is the one
//!   `check_char` computes for the rest;
//! - an issued barcode verifies and parses as a `Barcode` that prints back to it.
#![no_main]

use chartrack::domain::{
    check_char, issue_barcode, normalise_line, verify_check_char, Barcode, LocationCode, Mrn,
};
use libfuzzer_sys::fuzz_target;
use regex::Regex;
use std::sync::OnceLock;

/// The OpenAPI document's rules for an identifier: its pattern and its maximum length.
struct Rule {
    pattern: Regex,
    max: usize,
}

impl Rule {
    fn accepts(&self, s: &str) -> bool {
        let n = s.chars().count();
        (1..=self.max).contains(&n) && self.pattern.is_match(s)
    }
}

/// The rules as served in `/api/v1/openapi.json`, read from the document itself.
fn rules() -> &'static [Rule; 3] {
    static RULES: OnceLock<[Rule; 3]> = OnceLock::new();
    RULES.get_or_init(|| {
        let doc = serde_json::to_value(chartrack::api::openapi::spec()).unwrap();
        let rule = |name: &str| {
            let s = &doc["components"]["schemas"][name];
            Rule {
                pattern: Regex::new(s["pattern"].as_str().unwrap()).unwrap(),
                max: s["maxLength"].as_u64().unwrap() as usize,
            }
        };
        [rule("Barcode"), rule("Mrn"), rule("LocationCode")]
    })
}

fn round_trips<T>(x: &T, text: &str, parse: impl Fn(&str) -> Option<T>)
where
    T: PartialEq
        + std::fmt::Debug
        + std::fmt::Display
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    assert_eq!(x.to_string(), text);
    assert_eq!(parse(text).as_ref(), Some(x), "parse(render(x)) != x");
    let json = serde_json::to_string(x).unwrap();
    assert_eq!(
        serde_json::from_str::<T>(&json).unwrap(),
        *x,
        "JSON round trip"
    );
}

fuzz_target!(|data: &[u8]| {
    let [b0, b1, b2, b3, ..] = *data else { return };
    // issue_barcode over any prefix letter and serial.
    let prefix = char::from(b'A' + b0 % 26);
    let serial = u64::from_le_bytes([b1, b2, b3, 0, 0, 0, 0, 0]) * u64::from(b0 / 26 + 1);
    let issued = issue_barcode(prefix, serial);
    assert!(
        verify_check_char(&issued),
        "issued {issued} does not verify"
    );
    let b = Barcode::parse(&issued).expect("an issued barcode parses");
    round_trips(&b, &issued, |s| Barcode::parse(s).ok());

    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let [barcode_rule, mrn_rule, location_rule] = rules();

    match Barcode::parse(s) {
        Ok(b) => {
            assert!(
                barcode_rule.accepts(s),
                "parse accepts {s:?}, the document does not"
            );
            round_trips(&b, &s.to_ascii_uppercase(), |t| Barcode::parse(t).ok());
            assert_eq!(normalise_line(s.as_bytes()).as_deref(), Ok(b.as_str()));
        }
        Err(_) => assert!(
            !barcode_rule.accepts(s),
            "the document accepts {s:?}, parse does not"
        ),
    }
    match Mrn::parse(s) {
        Ok(m) => {
            assert!(
                mrn_rule.accepts(s),
                "MRN: parse accepts {s:?}, the document does not"
            );
            round_trips(&m, s, |t| Mrn::parse(t).ok());
        }
        Err(_) => assert!(!mrn_rule.accepts(s), "MRN: the document accepts {s:?}"),
    }
    match LocationCode::parse(s) {
        Ok(l) => {
            assert!(location_rule.accepts(s), "location: parse accepts {s:?}");
            round_trips(&l, s, |t| LocationCode::parse(t).ok());
        }
        Err(_) => assert!(
            !location_rule.accepts(s),
            "location: the document accepts {s:?}"
        ),
    }

    // Check characters.
    let computed = check_char(s);
    let body_ok = s
        .bytes()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    assert_eq!(computed.is_some(), body_ok, "check_char over {s:?}");
    if let Some(c) = computed {
        assert!(c.is_ascii_digit() || c.is_ascii_uppercase());
        if !s.is_empty() {
            let full = format!("{s}{c}");
            assert!(verify_check_char(&full), "{full} does not verify");
            for other in ('0'..='9').chain('A'..='Z').filter(|&o| o != c) {
                assert!(!verify_check_char(&format!("{s}{other}")));
            }
        }
    }
    let expected = match s.char_indices().last() {
        Some((i, last)) if i > 0 => check_char(&s[..i]) == Some(last),
        _ => false,
    };
    assert_eq!(verify_check_char(s), expected, "verify_check_char({s:?})");
});
