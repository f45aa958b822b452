//! What the build may contain: one version each of getrandom and of the RustCrypto digest
//! family (two would mean two copies of the same job compiled and audited twice).

#[test]
fn the_lock_file_has_one_getrandom_and_one_digest() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    for name in ["getrandom", "digest", "crypto-common", "block-buffer"] {
        let versions: Vec<&str> = lock
            .split("[[package]]")
            .filter(|p| p.contains(&format!("\nname = \"{name}\"\n")))
            .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .collect();
        assert!(
            versions.len() <= 1,
            "{name} is built in {} versions: {versions:?}",
            versions.len()
        );
    }
}
