//! What the build may contain: one version each of getrandom and of the RustCrypto digest
//! family (two would mean two copies of the same job compiled and audited twice), and one
//! cryptographic library, the system's OpenSSL (the agent's client through native-tls, the
//! server's HTTPS through rustls-openssl): neither ring nor aws-lc.
//!
//! Asked of cargo (`cargo tree`: what is compiled for this machine, tests included), not read
//! off Cargo.lock: the lock file also lists optional dependencies that nothing turns on when a
//! crate names one in a weak feature (`ring?/alloc` in rustls-webpki puts ring, and ring's
//! getrandom 0.2, in the lock; rust-lang/cargo#10801), and those are never built.

use std::collections::BTreeMap;

/// Every package compiled for this machine: name → versions.
fn built() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--edges",
            "normal,build,dev",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packages: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let versions = packages.entry(name.to_owned()).or_default();
        if !versions.iter().any(|v| v == version) {
            versions.push(version.to_owned());
        }
    }
    packages
}

#[test]
fn the_build_has_one_getrandom_one_digest_and_one_crypto_library() {
    let packages = built();
    assert!(packages.contains_key("chartrack"), "{packages:?}");
    for name in ["getrandom", "digest", "crypto-common", "block-buffer"] {
        let versions = packages.get(name).cloned().unwrap_or_default();
        assert!(
            versions.len() <= 1,
            "{name} is built in {} versions: {versions:?}",
            versions.len()
        );
    }
    assert!(packages.contains_key("openssl-sys"), "{packages:?}");
    for other in ["ring", "aws-lc-rs", "aws-lc-sys"] {
        assert!(
            !packages.contains_key(other),
            "{other} is built: a second cryptographic library beside OpenSSL"
        );
    }
}
