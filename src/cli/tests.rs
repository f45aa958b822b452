use std::sync::Mutex;

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The line the hook writes for a panic that quotes a (synthetic) patient name and MRN.
fn line_for_panic(detail: bool) -> String {
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        SEEN.lock().unwrap().push(super::panic_line(info, detail))
    }));
    let r = std::thread::Builder::new()
        .name("scan-worker".into())
        .spawn(|| panic!("no row for Canarywick, Zelphine MRN 8675309"))
        .unwrap()
        .join();
    std::panic::set_hook(before);
    assert!(r.is_err());
    // Other tests' panics may land here meanwhile: take this one's line by its thread.
    let mut seen = SEEN.lock().unwrap();
    let i = seen
        .iter()
        .position(|l| l.contains("'scan-worker'"))
        .expect("the hook saw the panic");
    seen.remove(i)
}

#[test]
fn a_panic_is_reported_by_place_and_thread_without_its_message() {
    let line = line_for_panic(false);
    assert!(
        line.contains("thread 'scan-worker' panicked at src/cli/tests.rs:"),
        "{line}"
    );
    for canary in ["Canarywick", "Zelphine", "8675309"] {
        assert!(!line.contains(canary), "{line}");
    }
    let line = line_for_panic(true);
    assert!(
        line.contains("Canarywick"),
        "a developer can ask for it: {line}"
    );
}
