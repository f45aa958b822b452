//! Password hashing with argon2id (the crate's defaults are OWASP's minimum: m=19456 KiB, t=2,
//! p=1). Hashing is CPU work: call from a blocking thread, never on the async runtime.

use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::Argon2;

pub fn hash(password: &str) -> anyhow::Result<String> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
        .to_string())
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Passwords must be at least 12 characters (OWASP ASVS 2.1.1).
pub fn check_policy(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < 12 {
        anyhow::bail!("the password must be at least 12 characters");
    }
    if password.chars().count() > 128 {
        anyhow::bail!("the password must be at most 128 characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(super::verify("correct horse battery", &h));
        assert!(!super::verify("wrong", &h));
    }
}
