//! A secret (a session's cookie value, its anti-forgery token, a bearer token) that `Debug`
//! and `Display` cannot print: a log line or a panic message with a `Secret` in it shows
//! `Secret(…)`. The value is read only by saying so: [`Secret::expose`].

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The secret in clear: to set a cookie, compare, or print once for its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("…")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("abc123-very-secret");
        assert!(!format!("{s:?} {s}").contains("abc123"));
        assert_eq!(s.expose(), "abc123-very-secret");
    }
}
