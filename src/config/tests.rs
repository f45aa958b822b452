use super::*;

#[test]
fn product_example_parses() {
    let c = Config::parse(
        r#"
listen = "127.0.0.1:8080"
database = "chartrack.db"
timezone = "America/Chicago"
[[stations]]
id = "fileroom-1"
location = "FR-00-19"
mode = "check-out"
port = "/dev/ttyACM0"
baud = 9600
"#,
    )
    .unwrap();
    assert_eq!(c.stations[0].mode, Mode::CheckOut);
    assert_eq!(c.duplicate_seconds, 5);
    assert_eq!(c.timezone, chrono_tz::America::Chicago);
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_the_nearest_known_key() {
    let e = Config::parse("listen = \"127.0.0.1:9000\"\nsecure_cookie = true\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2"), "{e}");
    assert!(e.contains("`secure_cookie`"), "{e}");
    assert!(e.contains("did you mean `secure_cookies`?"), "{e}");

    let e = Config::parse("[loan_days]\nunits = 4\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2") && e.contains("did you mean `unit`?"),
        "{e}"
    );

    let e = Config::parse("[[stations]]\nid = \"a\"\nlocation = \"FR\"\nprot = \"/dev/ttyACM0\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 4") && e.contains("did you mean `port`?"),
        "{e}"
    );
}

#[test]
fn the_hl7_listener_and_its_table_are_read() {
    let c = Config::parse(
        "hl7_listen = \"127.0.0.1:2575\"\n[hl7]\nlead_minutes = 90\n[hl7.locations]\n5E = \"5EAST\"\n",
    )
    .unwrap();
    assert_eq!(c.hl7_listen.as_deref(), Some("127.0.0.1:2575"));
    assert_eq!(c.hl7.lead_minutes, 90);
    assert_eq!(c.hl7.record_types, ["medical"]);
    assert_eq!(c.hl7.locations["5E"], "5EAST");
    let e = Config::parse("[hl7]\nlead_minute = 90\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("lead_minutes"), "{e}");
    let e = Config::parse("[hl7.locations]\n5E = \"5east\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a chartrack location code"), "{e}");
    let e = Config::parse("hl7_listen = \"2575\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not ADDRESS:PORT"), "{e}");
}

#[test]
fn tls_needs_the_certificate_and_its_key_together_and_turns_secure_cookies_on() {
    let e = Config::parse("tls_cert = \"c.pem\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tls_key is not"), "{e}");
    let e = Config::parse("tls_key = \"k.pem\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tls_cert is not"), "{e}");
    let plain = Config::parse("").unwrap();
    assert!(plain.tls().is_none());
    assert!(!plain.sessions().secure_cookies);
    let c = Config::parse("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n").unwrap();
    assert_eq!(c.tls(), Some((Path::new("c.pem"), Path::new("k.pem"))));
    assert!(
        c.sessions().secure_cookies,
        "HTTPS served directly: secure cookies"
    );
}

#[test]
fn every_key_of_the_defaults_is_known() {
    let keys = known_keys(&[]);
    for k in [
        "listen",
        "database",
        "secure_cookies",
        "timezone",
        "loan_days",
        "stations",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
    }
    assert!(known_keys(&["stations"])
        .iter()
        .any(|k| k == "flow_control"));
    for k in ["roles", "locations"] {
        assert!(known_keys(&["stations"]).iter().any(|x| x == k), "{k}");
    }
}

#[test]
fn a_station_names_who_may_use_it_and_a_bad_role_is_refused() {
    let c = Config::parse(
        "[[stations]]\nid='FR-DESK'\nlocation='FR-DESK'\nmode='check-in'\nroles=['clerk','supervisor']\nlocations=['4W']\n",
    )
    .unwrap();
    assert_eq!(c.stations[0].roles, [Role::Clerk, Role::Supervisor]);
    assert_eq!(c.stations[0].locations[0].as_str(), "4W");
    let e = Config::parse("[[stations]]\nid='a'\nlocation='X'\nroles=['janitor']\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("janitor"), "{e}");
    let e = Config::parse("[[stations]]\nid='a'\nlocation='X'\nrole=['clerk']\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown key `role`"), "{e}");
}

#[test]
fn timezone_is_an_iana_name_and_defaults_to_utc() {
    assert_eq!(Config::default().timezone, chrono_tz::UTC);
    let c = Config::parse("timezone = \"America/Chicago\"").unwrap();
    assert_eq!(c.timezone, chrono_tz::America::Chicago);
    let e = Config::parse("timezone = \"America/Chicgo\"").unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("timezone = \"America/Chicgo\" is not an IANA time zone"),
        "{e}"
    );
}

#[test]
fn a_listen_address_that_is_not_address_and_port_is_refused() {
    for bad in [
        "nonsense",
        ":8080",
        "127.0.0.1:",
        "127.0.0.1:http",
        "127.0.0.1:99999",
    ] {
        let e = Config::parse(&format!("listen = \"{bad}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not ADDRESS:PORT"), "{bad}: {e}");
    }
    for good in [
        "127.0.0.1:0",
        "0.0.0.0:8080",
        "localhost:8080",
        "[::1]:8080",
    ] {
        Config::parse(&format!("listen = \"{good}\"\n")).unwrap();
    }
}

#[test]
fn replication_is_none_or_litestream_and_anything_else_is_refused() {
    assert_eq!(Config::default().replication, Replication::None);
    let c = Config::parse("replication = \"litestream\"").unwrap();
    assert_eq!(c.replication, Replication::Litestream);
    let e = Config::parse("replication = \"rsync\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rsync") && e.contains("none") && e.contains("litestream"),
        "{e}"
    );
}

#[test]
fn bad_mode_is_refused() {
    let e = Config::parse("[[stations]]\nid='a'\nlocation='X'\nmode='juggle'\n").unwrap_err();
    assert!(e.to_string().contains("juggle"), "{e}");
}
