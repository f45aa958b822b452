//! Identifier newtypes with one fallible `parse` each.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a value was refused, in words a clerk or an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

impl ParseError {
    pub fn new(msg: impl Into<String>) -> Self {
        ParseError(msg.into())
    }
}

macro_rules! string_newtype {
    ($name:ident, $pattern:literal, $max:expr, $description:literal) => {
        /// In the OpenAPI document: a string with the rules `parse` enforces.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some($pattern))
                    .description(Some($description))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }
    };
}

/// A barcode value as printed on a volume, report, location, badge or container label:
/// 1 to 48 characters of ASCII letters, digits and `- . _ / +`. Barcodes are case-insensitive
/// (a keyboard-wedge scanner types lower case when Caps Lock is on): the value is kept in its
/// canonical form, upper case, and every lookup uses [`Barcode::canonical`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Barcode(String);
string_newtype!(
    Barcode,
    "^[A-Za-z0-9._/+-]+$",
    Barcode::MAX_LEN,
    "A barcode: 1 to 48 ASCII letters, digits and `- . _ / +`; case-insensitive (kept upper case)."
);

impl Barcode {
    pub const MAX_LEN: usize = 48;
    /// The canonical form of a barcode-like value, for storing and looking up: ASCII letters
    /// in upper case, everything else unchanged.
    pub fn canonical(s: &str) -> String {
        s.to_ascii_uppercase()
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() {
            return Err(ParseError::new("barcode is empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "barcode is longer than {} characters",
                Self::MAX_LEN
            )));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._/+".contains(*c)))
        {
            return Err(ParseError::new(format!(
                "barcode has a character that is not allowed: {c:?}"
            )));
        }
        Ok(Barcode(Self::canonical(s)))
    }
}

/// A medical record number: 1 to 12 digits. Leading zeros are significant and kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mrn(String);
string_newtype!(
    Mrn,
    "^[0-9]+$",
    Mrn::MAX_LEN,
    "A medical record number: 1 to 12 digits; leading zeros are kept."
);

impl Mrn {
    pub const MAX_LEN: usize = 12;
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() {
            return Err(ParseError::new("MRN is empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "MRN is longer than {} digits",
                Self::MAX_LEN
            )));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new("MRN must be digits only"));
        }
        Ok(Mrn(s.to_owned()))
    }
    /// The last `n` digits, for masked displays.
    pub fn last_digits(&self, n: usize) -> &str {
        &self.0[self.0.len().saturating_sub(n)..]
    }
}

/// A location code such as `FR-00-19` or `4W`: 1 to 32 upper-case letters, digits and `-`,
/// starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocationCode(String);
string_newtype!(
    LocationCode,
    "^[A-Z0-9][A-Z0-9-]*$",
    LocationCode::MAX_LEN,
    "A location code such as `FR-00-19` or `4W`: 1 to 32 upper-case letters, digits and `-`, not starting with `-`."
);

impl LocationCode {
    pub const MAX_LEN: usize = 32;
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() {
            return Err(ParseError::new("location code is empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "location code is longer than {} characters",
                Self::MAX_LEN
            )));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            || s.starts_with('-')
        {
            return Err(ParseError::new(
                "location code must be upper-case letters, digits and '-', not starting with '-'",
            ));
        }
        Ok(LocationCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert!(Barcode::parse("V0012345K").is_ok());
        assert!(Barcode::parse("").is_err());
        assert!(Barcode::parse("A B").is_err());
        assert_eq!(Barcode::parse("v0000998x").unwrap().as_str(), "V0000998X");
        assert_eq!(
            Barcode::parse("cmd-checkin").unwrap().as_str(),
            "CMD-CHECKIN"
        );
        assert!(Mrn::parse("000123").is_ok());
        assert_eq!(Mrn::parse("000123").unwrap().last_digits(2), "23");
        assert!(Mrn::parse("12a").is_err());
        assert!(LocationCode::parse("FR-00-19").is_ok());
        assert!(LocationCode::parse("fr").is_err());
        assert!(LocationCode::parse("-X").is_err());
    }

    proptest! {
        #[test]
        fn barcode_roundtrip(s in "[A-Za-z0-9._/+-]{1,48}") {
            let b = Barcode::parse(&s).unwrap();
            prop_assert_eq!(Barcode::parse(b.as_str()).unwrap(), b.clone());
            prop_assert_eq!(b.to_string(), s.to_ascii_uppercase());
            prop_assert_eq!(Barcode::parse(&s.to_ascii_lowercase()).unwrap(), b);
        }
        #[test]
        fn mrn_roundtrip(s in "[0-9]{1,12}") {
            let m = Mrn::parse(&s).unwrap();
            prop_assert_eq!(Mrn::parse(m.as_ref()).unwrap(), m);
        }
        #[test]
        fn location_roundtrip(s in "[A-Z0-9][A-Z0-9-]{0,31}") {
            let l = LocationCode::parse(&s).unwrap();
            prop_assert_eq!(LocationCode::parse(l.as_ref()).unwrap(), l);
        }
        #[test]
        fn parsers_never_panic(s in ".{0,80}") {
            let _ = Barcode::parse(&s);
            let _ = Mrn::parse(&s);
            let _ = LocationCode::parse(&s);
        }
        /// `parse` and the OpenAPI document's `pattern` and `maxLength` (what clients follow)
        /// accept the same values.
        #[test]
        fn parse_agrees_with_the_documented_pattern(s in "[A-Za-z0-9._/+ \\-]{0,50}|[0-9]{0,14}|[A-Z0-9-]{0,34}|.{0,10}") {
            fn documented<T: utoipa::PartialSchema>(s: &str) -> bool {
                let schema = serde_json::to_value(T::schema()).unwrap();
                let re = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
                let max = schema["maxLength"].as_u64().unwrap() as usize;
                (1..=max).contains(&s.chars().count()) && re.is_match(s)
            }
            prop_assert_eq!(Barcode::parse(&s).is_ok(), documented::<Barcode>(&s));
            prop_assert_eq!(Mrn::parse(&s).is_ok(), documented::<Mrn>(&s));
            prop_assert_eq!(LocationCode::parse(&s).is_ok(), documented::<LocationCode>(&s));
        }
        #[test]
        fn too_long_refused(s in "[0-9]{13,40}") {
            prop_assert!(Mrn::parse(&s).is_err());
        }
    }
}
