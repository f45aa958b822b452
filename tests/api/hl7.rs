//! The hospital's feeds over HL7 v2 (MLLP), through the real listener over TCP: framing edge
//! cases, every acknowledgement code, resends, merges, transfers, clinic appointments, unknown
//! locations; and python-hl7's `mllp_send` (a client nobody here wrote) against the server.

use crate::helpers::{start_time, until, TestApp};
use chartrack::clock::Clock;
use chartrack::config::Config;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VT: u8 = 0x0B;
const FS_CR: &[u8] = b"\x1c\r";

async fn spawn(locations: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("chartrack.db"),
        hl7_listen: Some("127.0.0.1:0".into()),
        ..Config::default()
    };
    for (from, to) in locations {
        config
            .hl7
            .locations
            .insert(from.to_string(), to.to_string());
    }
    TestApp::spawn_with_config(dir, Clock::manual(start_time()), config).await
}

/// A test's MLLP client: writes bytes, reads acknowledgements frame by frame.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Client {
    async fn connect(app: &TestApp) -> Client {
        Client {
            stream: TcpStream::connect(app.hl7.expect("hl7 listener"))
                .await
                .unwrap(),
            pending: Vec::new(),
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// The next acknowledgement (its text without the framing).
    async fn ack(&mut self) -> String {
        let read = async {
            loop {
                if let Some(end) = self.pending.windows(2).position(|w| w == FS_CR) {
                    let frame: Vec<u8> = self.pending.drain(..end + 2).collect();
                    assert_eq!(frame[0], VT, "an acknowledgement starts with VT");
                    return String::from_utf8(frame[1..frame.len() - 2].to_vec()).unwrap();
                }
                let mut buf = [0u8; 4096];
                let n = self.stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the server closed the connection");
                self.pending.extend_from_slice(&buf[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("an acknowledgement within 10 s")
    }

    async fn send(&mut self, message: &str) -> String {
        self.write(&framed(message)).await;
        self.ack().await
    }
}

fn framed(message: &str) -> Vec<u8> {
    let mut out = vec![VT];
    out.extend_from_slice(message.as_bytes());
    out.extend_from_slice(FS_CR);
    out
}

/// A message from the registration system (synthetic patients only).
fn msg(kind: &str, control: &str, segments: &[&str]) -> String {
    let mut m =
        format!("MSH|^~\\&|REG|GENHOSP|CHARTRACK|HIM|20260302075900||{kind}|{control}|P|2.5");
    for s in segments {
        m.push('\r');
        m.push_str(s);
    }
    m.push('\r');
    m
}

fn a01(control: &str, mrn: &str, name: &str) -> String {
    msg(
        "ADT^A01^ADT_A01",
        control,
        &[
            "EVN|A01|20260302075900",
            &format!("PID|1||{mrn}^^^GENHOSP^MR||{name}||19800214|F"),
            "PV1|1|I",
        ],
    )
}

/// MSA-1 and MSA-2 of an acknowledgement, and its ERR segment if any.
fn msa(ack: &str) -> (String, String, Option<String>) {
    let seg = |name: &str| {
        ack.split('\r')
            .find(|s| s.starts_with(name))
            .map(str::to_owned)
    };
    assert!(ack.starts_with("MSH|^~\\&|"), "{ack:?}");
    let msa = seg("MSA|").unwrap_or_else(|| panic!("no MSA in {ack:?}"));
    let f: Vec<&str> = msa.split('|').collect();
    (f[1].to_owned(), f[2].to_owned(), seg("ERR|"))
}

async fn search(app: &TestApp, q: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/search?q={q}"), &app.admin).await;
    assert_eq!(s, 200, "{b}");
    b.as_array()
        .cloned()
        .or_else(|| b["hits"].as_array().cloned())
        .unwrap()
}

/// The patient with this MRN as stored: family name, given name, birth date.
async fn patient(app: &TestApp, mrn: &str) -> Option<(String, String, Option<String>)> {
    let mrn = mrn.to_owned();
    app.store
        .read(move |c| {
            use rusqlite::OptionalExtension;
            Ok(c.query_row(
                "SELECT last_name, first_name, birth_date FROM patient WHERE mrn = ?",
                [mrn],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn hl7_frames_split_joined_among_garbage_and_cut_off() {
    let app = spawn(&[]).await;
    app.seed().await;
    let mut c = Client::connect(&app).await;
    // One message split over three writes.
    let m = framed(&a01("F1", "500001", "SPLIT^ONE"));
    c.write(&m[..10]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.write(&m[10..m.len() - 1]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.write(&m[m.len() - 1..]).await;
    assert_eq!(msa(&c.ack().await).0, "AA");
    // Two messages in one write, with garbage before, between and after.
    let mut two = b"\r\nnoise".to_vec();
    two.extend(framed(&a01("F2", "500002", "JOINED^TWO")));
    two.extend_from_slice(b"garbage \x1c\r");
    two.extend(framed(&a01("F3", "500003", "JOINED^THREE")));
    two.extend_from_slice(b"tail");
    c.write(&two).await;
    assert_eq!(msa(&c.ack().await), ("AA".into(), "F2".into(), None));
    assert_eq!(msa(&c.ack().await), ("AA".into(), "F3".into(), None));
    // A frame past the limit is refused (AR) and the connection stays up.
    let mut big = vec![VT];
    big.extend(a01("F4", "500004", "BIG^ONE").as_bytes());
    big.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 10));
    big.extend_from_slice(FS_CR);
    c.write(&big).await;
    let (code, control, err) = msa(&c.ack().await);
    assert_eq!(code, "AR");
    assert_eq!(control, "F4", "the answer names the message it refuses");
    assert!(err.unwrap().contains("longer than"));
    // FS without its CR, then the next frame: both answered (fresh-eyes: the first was lost).
    let mut no_cr = framed(&a01("F7", "500007", "NO^CR"));
    no_cr.pop();
    no_cr.extend(framed(&a01("F8", "500008", "AFTER^NOCR")));
    c.write(&no_cr).await;
    assert_eq!(msa(&c.ack().await).1, "F7");
    assert_eq!(msa(&c.ack().await).1, "F8");
    assert_eq!(
        msa(&c.send(&a01("F5", "500005", "AFTER^BIG")).await).0,
        "AA"
    );
    // A frame cut off by a disconnect is dropped: nothing applied.
    let mut cut = Client::connect(&app).await;
    let m = framed(&a01("F6", "500006", "CUT^OFF"));
    cut.write(&m[..m.len() - 2]).await;
    drop(cut);
    // Several connections at once, each answered on its own.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(Client::connect(&app).await);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.write(&framed(&a01(
            &format!("P{i}"),
            &format!("60000{i}"),
            "MANY^AT ONCE",
        )))
        .await;
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(msa(&c.ack().await), ("AA".into(), format!("P{i}"), None));
    }
    // The patients arrived; the one cut off did not.
    for mrn in [
        "500001", "500002", "500003", "500005", "500007", "500008", "600000", "600003",
    ] {
        assert!(patient(&app, mrn).await.is_some(), "{mrn}");
    }
    assert_eq!(patient(&app, "500002").await.unwrap().0, "JOINED");
    assert_eq!(
        patient(&app, "500004").await,
        None,
        "a refused frame is not applied"
    );
    assert_eq!(
        patient(&app, "500006").await,
        None,
        "a message cut off is not applied"
    );
    // The refused big one is on the supervisors' exceptions page, by its control id.
    app.person("sue", chartrack::domain::Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    let (_, page) = app.page(&sue.cookie, "/exceptions").await;
    assert!(
        page.contains("longer than") && page.contains("F4"),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test]
async fn hl7_every_answer_code_resends_and_the_exceptions_page() {
    let app = spawn(&[]).await;
    app.seed().await;
    let mut c = Client::connect(&app).await;
    // AA: applied; the patient exists with the feed's name and birth date.
    let first = c.send(&a01("R1", "700001", "RIVERA^SAM")).await;
    assert_eq!(msa(&first), ("AA".into(), "R1".into(), None));
    assert!(first.contains("|ACK^A01^ACK|"), "{first:?}");
    assert_eq!(
        patient(&app, "700001").await,
        Some(("RIVERA".into(), "SAM".into(), Some("1980-02-14".into())))
    );
    // A name with a control character, one longer than a page would take, or a birth date in
    // the future: AE, the patient not created (fresh-eyes: all three were applied).
    for (control, mrn, pid5, dob) in [
        ("V1", "700101", "TAB\tBED^ANN", "19800214"),
        (
            "V2",
            "700102",
            &format!("{}^ANN", "L".repeat(81)),
            "19800214",
        ),
        ("V3", "700103", "FUTURE^ANN", "20990101"),
    ] {
        let m = msg(
            "ADT^A04",
            control,
            &[&format!("PID|1||{mrn}^^^GENHOSP^MR||{pid5}||{dob}")],
        );
        let (code, _, err) = msa(&c.send(&m).await);
        assert_eq!(code, "AE", "{control}: {err:?}");
        assert!(patient(&app, mrn).await.is_none(), "{control}");
    }
    // A resend (same sender, same control id) is acknowledged again and applied once: the
    // changed name in it is not applied.
    let again = c.send(&a01("R1", "700001", "CHANGED^NAME")).await;
    assert_eq!(msa(&again), ("AA".into(), "R1".into(), None));
    assert_eq!(patient(&app, "700001").await.unwrap().0, "RIVERA");
    // A message in ISO 8859-1 (not UTF-8) keeps its letters.
    let mut latin = msg(
        "ADT^A04",
        "R0",
        &["PID|1||700002^^^GENHOSP^MR||M\u{fc}LLER^J\u{f6}RG"],
    )
    .into_bytes();
    // Turn the UTF-8 ü and ö into their single ISO 8859-1 bytes.
    latin = String::from_utf8(latin)
        .unwrap()
        .chars()
        .map(|ch| u8::try_from(u32::from(ch)).unwrap())
        .collect();
    c.write(&[&[VT][..], &latin, FS_CR].concat()).await;
    assert_eq!(msa(&c.ack().await).0, "AA");
    assert_eq!(
        patient(&app, "700002").await.map(|p| (p.0, p.1)),
        Some(("MüLLER".into(), "JöRG".into()))
    );
    // A08 with a new control id updates.
    let a08 = msg(
        "ADT^A08",
        "R2",
        &["PID|1||700001^^^GENHOSP^MR||RIVERA-LOPEZ^SAM||19800214"],
    );
    assert_eq!(msa(&c.send(&a08).await).0, "AA");
    assert_eq!(patient(&app, "700001").await.unwrap().0, "RIVERA-LOPEZ");
    // AR: unreadable, and a kind chartrack does not take; the connection stays up.
    let (code, _, err) = msa(&c.send("this is not HL7").await);
    assert_eq!(code, "AR");
    assert!(err.unwrap().contains("100^"));
    let oru = msg("ORU^R01", "R3", &["OBR|1"]);
    let (code, control, err) = msa(&c.send(&oru).await);
    assert_eq!((code.as_str(), control.as_str()), ("AR", "R3"));
    assert!(err.unwrap().contains("200^Unsupported message type"));
    // AE: understood, not applicable: a merge of an unknown MRN, a transfer to an unknown unit.
    let a40 = msg(
        "ADT^A40^ADT_A39",
        "R4",
        &[
            "PID|1||700001^^^GENHOSP^MR||RIVERA-LOPEZ^SAM",
            "MRG|799999^^^GENHOSP^MR",
        ],
    );
    let (code, control, err) = msa(&c.send(&a40).await);
    assert_eq!((code.as_str(), control.as_str()), ("AE", "R4"));
    assert!(
        err.as_deref()
            .unwrap()
            .contains("204^Unknown key identifier"),
        "{err:?}"
    );
    assert!(err.unwrap().contains("799999"));
    let a02 = msg(
        "ADT^A02",
        "R5",
        &[
            "PID|1||700001^^^GENHOSP^MR||RIVERA-LOPEZ^SAM",
            "PV1|1|I|9NORTH^12^1",
        ],
    );
    let (code, _, err) = msa(&c.send(&a02).await);
    assert_eq!(code, "AE");
    assert!(
        err.as_deref()
            .unwrap()
            .contains("103^Table value not found"),
        "{err:?}"
    );
    assert!(err.unwrap().contains("unknown location 9NORTH"));
    let unit = app
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM patient_unit u JOIN patient p USING (patient_id) WHERE p.mrn = '700001'",
                [],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(unit, 0, "nothing applied");
    // The AE is resent after nothing changed: answered AE again.
    assert_eq!(msa(&c.send(&a02).await).0, "AE");
    // The supervisors' exceptions page lists what was not applied, with reason and text.
    app.person("sup", chartrack::domain::Role::Supervisor).await;
    let sup = app.sign_in("sup").await;
    let (s, page) = app.page(&sup.cookie, "/exceptions").await;
    assert_eq!(s, 200);
    assert!(
        page.contains("Hospital feed messages not applied"),
        "{page}"
    );
    assert!(page.contains("unknown location 9NORTH"));
    assert!(page.contains("this is not HL7"));
    assert!(page.contains("ORU^R01 R3"));
    // The A02 was tried twice: listed once. Once the unit exists, the engine's resend is
    // applied and the message leaves the list.
    assert_eq!(page.matches("ADT^A02 R5").count(), 1, "{page}");
    let (s, b) = app
        .post(
            "/api/v1/locations",
            &app.admin,
            &json!({"code": "9NORTH", "name": "Nine North", "kind": "unit"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(msa(&c.send(&a02).await).0, "AA");
    let (_, page) = app.page(&sup.cookie, "/exceptions").await;
    assert!(!page.contains("ADT^A02 R5"), "{page}");
    assert!(page.contains("ORU^R01 R3"));
    assert!(page.contains("Dismiss"));
    // A supervisor dismisses one: off the list (and off the dashboard's count), still recorded.
    let id = app
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT message_id FROM hl7_message WHERE control_id = 'R3'",
                [],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .unwrap();
    let r = app
        .form(
            &sup,
            &format!("/exceptions/hl7/{id}/dismiss"),
            &[],
            Some(&sup.csrf),
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let (_, page) = app.page(&sup.cookie, "/exceptions").await;
    assert!(!page.contains("ORU^R01 R3"), "{page}");
    assert!(page.contains("this is not HL7"));
    let r = app
        .form(
            &sup,
            &format!("/exceptions/hl7/{id}/dismiss"),
            &[],
            Some(&sup.csrf),
        )
        .await;
    assert_eq!(r.status(), 404, "dismissed once");
    // A nurse is not shown it.
    app.person("nurse", chartrack::domain::Role::Nurse).await;
    let nurse = app.sign_in("nurse").await;
    let (s, page) = app.page(&nurse.cookie, "/exceptions").await;
    assert_eq!(s, 403);
    assert!(!page.contains("9NORTH"));
    // Applied messages are in the access log; metrics count by type and answer.
    let log = app.access_log().await;
    assert!(
        log.iter()
            .any(|(actor, action, subject, _)| actor == "hl7:REG^GENHOSP"
                && action == "hl7-apply"
                && subject.contains("ADT^A01 R1")),
        "{log:?}"
    );
    let m = app.metrics().await;
    assert!(
        m.contains("chartrack_hl7_messages_applied_total{message_type=\"ADT^A01\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("chartrack_hl7_messages_rejected_total{message_type=\"ADT^A02\",code=\"AE\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("chartrack_hl7_messages_rejected_total{message_type=\"other\",code=\"AR\"} 2"),
        "{m}"
    );
    app.stop().await;
}

#[tokio::test]
async fn hl7_merge_moves_volumes_reports_and_requests_and_search_finds_the_old_mrn() {
    let app = spawn(&[]).await;
    let h = app.seed().await;
    // 123445 (O'Brien) is retired into 123405 (Ashdown).
    let retired_volume = h.volumes[1].clone();
    let (s, b) = app
        .post(
            "/api/v1/requests",
            &app.admin,
            &json!({"barcode": retired_volume, "location": "4W", "priority": "routine"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let request = b["id"].as_i64().unwrap();
    let (s, b) = app
        .post(
            "/api/v1/reports",
            &app.admin,
            &json!({"mrn": "123445", "description": "lab result"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let mut c = Client::connect(&app).await;
    let a40 = msg(
        "ADT^A40^ADT_A39",
        "M1",
        &[
            "EVN|A40|20260302075900",
            "PID|1||123405^^^GENHOSP^MR||ASHDOWN^TEST",
            "MRG|123445^^^GENHOSP^MR",
        ],
    );
    assert_eq!(msa(&c.send(&a40).await), ("AA".into(), "M1".into(), None));
    let v = app.volume(&retired_volume).await;
    assert_eq!(v["mrn"], "123405", "{v}");
    // The surviving patient's volumes count the moved report.
    assert_eq!(app.volume(&h.volumes[0]).await["waiting_reports"], 1);
    let (s, r) = app
        .get(&format!("/api/v1/requests/{request}"), &app.admin)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (r["status"].as_str(), r["mrn"].as_str()),
        (Some("open"), Some("123405"))
    );
    // Search by the retired MRN still finds the charts (now the surviving patient's).
    let hits = search(&app, "123445").await;
    let found: Vec<&str> = hits
        .iter()
        .map(|h| h["barcode"].as_str().unwrap())
        .collect();
    assert!(found.contains(&retired_volume.as_str()), "{hits:?}");
    assert!(found.contains(&h.volumes[0].as_str()), "{hits:?}");
    // The merge is on record, with its message.
    let kept = app
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT m.retired_mrn, p.mrn, h.control_id, m.volumes FROM patient_merge m
                 JOIN patient p ON p.patient_id = m.surviving_id JOIN hl7_message h ON h.message_id = m.message_id",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?)),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(kept, ("123445".into(), "123405".into(), "M1".into(), 1));
    // A message for the retired MRN is refused, naming the survivor.
    let a08 = msg(
        "ADT^A08",
        "M2",
        &["PID|1||123445^^^GENHOSP^MR||OBRIEN^TEST"],
    );
    let (code, _, err) = msa(&c.send(&a08).await);
    assert_eq!(code, "AE");
    assert!(err.unwrap().contains("merged into MRN 123405"));
    app.stop().await;
}

#[tokio::test]
async fn hl7_transfer_and_discharge_show_the_patients_unit() {
    // The feed calls 4W "W4": mapped in [hl7.locations].
    let app = spawn(&[("W4", "4W")]).await;
    let h = app.seed().await;
    let mut c = Client::connect(&app).await;
    let a02 = msg(
        "ADT^A02",
        "T1",
        &[
            "PID|1||123405^^^GENHOSP^MR||ASHDOWN^TEST",
            "PV1|1|I|W4^401^1",
        ],
    );
    assert_eq!(msa(&c.send(&a02).await).0, "AA");
    let v = app.volume(&h.volumes[0]).await;
    assert_eq!(v["patient_unit"]["code"], "4W", "{v}");
    // The volume page says it beside the chart's whereabouts.
    app.person("clerk", chartrack::domain::Role::Clerk).await;
    let clerk = app.sign_in("clerk").await;
    let (s, page) = app
        .page(&clerk.cookie, &format!("/volumes/{}", h.volumes[0]))
        .await;
    assert_eq!(s, 200);
    assert!(page.contains("Patient on"), "{page}");
    assert!(page.contains("<strong>4W</strong>"));
    // Discharged: no unit any more.
    let a03 = msg(
        "ADT^A03",
        "T2",
        &[
            "PID|1||123405^^^GENHOSP^MR||ASHDOWN^TEST",
            "PV1|1|I|W4^401^1",
        ],
    );
    assert_eq!(msa(&c.send(&a03).await).0, "AA");
    assert_eq!(app.volume(&h.volumes[0]).await["patient_unit"], Value::Null);
    // A restricted patient's unit is whereabouts too: hidden from a nurse, shown to a supervisor.
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "778801", "last_name": "Vipward", "first_name": "Ivy", "home": "FR-00-19", "restricted": true}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let vip = b["barcode"].as_str().unwrap().to_owned();
    let a02 = msg(
        "ADT^A02",
        "T4",
        &[
            "PID|1||778801^^^GENHOSP^MR||VIPWARD^IVY",
            "PV1|1|I|4W^401^1",
        ],
    );
    assert_eq!(msa(&c.send(&a02).await).0, "AA");
    let nurse = app
        .user("nurse-t", chartrack::domain::Role::Nurse, None)
        .await;
    let (s, v) = app.get(&format!("/api/v1/volumes/{vip}"), &nurse).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["patient_unit"], Value::Null, "{v}");
    assert_eq!(app.volume(&vip).await["patient_unit"]["code"], "4W");
    // A transfer of an unknown patient is AE.
    let unknown = msg(
        "ADT^A02",
        "T3",
        &["PID|1||999999^^^GENHOSP^MR||NOBODY^KNOWN", "PV1|1|I|4W"],
    );
    let (code, _, err) = msa(&c.send(&unknown).await);
    assert_eq!(code, "AE");
    assert!(err.unwrap().contains("no patient has MRN 999999"));
    app.stop().await;
}

fn siu(event: &str, control: &str, appointment: &str, start: &str, clinic: &str) -> String {
    msg(
        &format!("SIU^{event}^SIU_S12"),
        control,
        &[
            &format!("SCH|{appointment}^SCHED|{appointment}^SCHED||||ROUTINE^Routine visit|||||^^^{start}"),
            "PID|1||123405^^^GENHOSP^MR||ASHDOWN^TEST",
            "RGS|1",
            &format!("AIS|1||CONSULT^Consultation|{start}"),
            &format!("AIL|1||{clinic}^^^GENHOSP"),
        ],
    )
}

#[tokio::test]
async fn hl7_clinic_appointments_make_move_and_cancel_requests() {
    let app = spawn(&[]).await;
    let h = app.seed().await;
    let mut c = Client::connect(&app).await;
    // Start 2026-03-03 14:00 UTC; the lead time (120 minutes) makes it needed by 12:00.
    let s12 = siu("S12", "S1", "APT100", "202603031400+0000", "CARD");
    assert_eq!(msa(&c.send(&s12).await), ("AA".into(), "S1".into(), None));
    let (s, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(s, 200);
    let pull: Vec<&Value> = list["pull"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["volume"] == h.volumes[0].as_str())
        .collect();
    assert_eq!(pull.len(), 1, "{list}");
    let r = pull[0];
    assert_eq!(r["location"]["code"], "CARD");
    assert_eq!(r["priority"], "routine");
    assert_eq!(r["needed_by"], "2026-03-03T12:00:00.000Z");
    assert!(r["reason"].as_str().unwrap().contains("APT100"), "{r}");
    let id = r["id"].as_i64().unwrap();
    // The pull list page shows it with its appointment, like any request.
    app.person("clerk", chartrack::domain::Role::Clerk).await;
    let clerk = app.sign_in("clerk").await;
    let (s, page) = app.page(&clerk.cookie, "/pull-list").await;
    assert_eq!(s, 200);
    assert!(page.contains("clinic appointment APT100"), "{page}");
    let (s, page) = app.page(&clerk.cookie, &format!("/requests/{id}")).await;
    assert_eq!(s, 200, "{page}");
    // The same appointment sent again, under its control id or a new one: nothing new.
    assert_eq!(msa(&c.send(&s12).await).0, "AA");
    let again = siu("S12", "S1b", "APT100", "202603031400+0000", "CARD");
    assert_eq!(msa(&c.send(&again).await).0, "AA");
    let count = |list: &Value| {
        list["pull"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["volume"] == h.volumes[0].as_str())
            .count()
    };
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(count(&list), 1);
    // S14 moves it to 16:30: needed by 14:30.
    let s14 = siu("S14", "S2", "APT100", "202603031630+0000", "CARD");
    assert_eq!(msa(&c.send(&s14).await).0, "AA");
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(r["needed_by"], "2026-03-03T14:30:00.000Z", "{r}");
    // S15 cancels it, coded "clinic cancelled".
    let s15 = siu("S15", "S3", "APT100", "202603031630+0000", "CARD");
    assert_eq!(msa(&c.send(&s15).await).0, "AA");
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(r["end_reason"], "clinic_cancelled");
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(count(&list), 0);
    // An appointment at a clinic chartrack does not know: AE, nothing made.
    let unknown = siu("S12", "S4", "APT200", "202603041000+0000", "DERM");
    let (code, _, err) = msa(&c.send(&unknown).await);
    assert_eq!(code, "AE");
    assert!(err.unwrap().contains("unknown location DERM (AIL-3)"));
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(count(&list), 0);
    // A patient registered with no chart: nothing to pull, said in MSA-3.
    let a04 = msg(
        "ADT^A04",
        "S5",
        &["PID|1||900001^^^GENHOSP^MR||NEWCOMER^NED"],
    );
    assert_eq!(msa(&c.send(&a04).await).0, "AA");
    let none = siu("S12", "S6", "APT300", "202603041000+0000", "CARD").replace("123405", "900001");
    let ack = c.send(&none).await;
    assert_eq!(msa(&ack).0, "AA");
    assert!(ack.contains("no chart (medical) to pull"), "{ack:?}");
    // A malformed start is refused (AR), nothing made.
    let bad = siu("S12", "S7", "APT400", "tomorrow", "CARD");
    let (code, _, err) = msa(&c.send(&bad).await);
    assert_eq!(code, "AR");
    assert!(err.unwrap().contains("102^"));
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(count(&list), 0);
    app.stop().await;
}

/// Two appointments of one patient at one clinic share the chart's request: it is needed by the
/// earlier, and cancelling one leaves it open for the other; an S14 for an appointment never
/// seen joins it too. (Fresh-eyes: the second got nothing, and cancelling the first left it with
/// no request.)
#[tokio::test]
async fn hl7_two_appointments_at_one_clinic_share_the_request_until_the_last_is_cancelled() {
    let app = spawn(&[]).await;
    let h = app.seed().await;
    let mut c = Client::connect(&app).await;
    let open = |list: &Value| -> Vec<Value> {
        list["pull"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["volume"] == h.volumes[0].as_str())
            .cloned()
            .collect()
    };
    assert_eq!(
        msa(&c
            .send(&siu("S12", "T1", "APTA", "202603051400+0000", "CARD"))
            .await)
        .0,
        "AA"
    );
    assert_eq!(
        msa(&c
            .send(&siu("S12", "T2", "APTB", "202603041400+0000", "CARD"))
            .await)
        .0,
        "AA"
    );
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    let reqs = open(&list);
    assert_eq!(reqs.len(), 1, "one request for the chart at CARD: {list}");
    assert_eq!(
        reqs[0]["needed_by"], "2026-03-04T12:00:00.000Z",
        "the earlier appointment's"
    );
    let id = reqs[0]["id"].as_i64().unwrap();
    // APTA cancelled: APTB still needs the chart.
    let ack = c
        .send(&siu("S15", "T3", "APTA", "202603051400+0000", "CARD"))
        .await;
    assert_eq!(msa(&ack).0, "AA");
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(r["status"], "open", "kept for APTB: {r}");
    // An S14 for an appointment never seen joins it; cancelling APTB leaves it for that one.
    assert_eq!(
        msa(&c
            .send(&siu("S14", "T4", "APTC", "202603041500+0000", "CARD"))
            .await)
        .0,
        "AA"
    );
    assert_eq!(
        msa(&c
            .send(&siu("S15", "T5", "APTB", "202603041400+0000", "CARD"))
            .await)
        .0,
        "AA"
    );
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(r["status"], "open", "kept for APTC: {r}");
    // The last one cancelled: the request ends, coded clinic cancelled.
    assert_eq!(
        msa(&c
            .send(&siu("S15", "T6", "APTC", "202603041500+0000", "CARD"))
            .await)
        .0,
        "AA"
    );
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(r["end_reason"], "clinic_cancelled");
    app.stop().await;
}

/// python-hl7's `mllp_send`: `CHARTRACK_MLLP_SEND`, else `mllp_send` on the PATH.
fn mllp_send() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("CHARTRACK_MLLP_SEND") {
        return Some(p.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("mllp_send"))
            .find(|p| p.is_file())
    })
}

/// Send one file with `mllp_send --loose`; the MSA-1|MSA-2 of each acknowledgement it prints.
async fn mllp_send_file(
    client: &std::path::Path,
    port: u16,
    file: &std::path::Path,
) -> Vec<String> {
    let out = tokio::process::Command::new(client)
        .args(["--loose", "--port", &port.to_string(), "--file"])
        .arg(file)
        .arg("127.0.0.1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split(['\r', '\n'])
        .filter(|s| s.starts_with("MSA|"))
        .map(|s| s.split('|').take(3).collect::<Vec<_>>().join("|"))
        .collect()
}

#[tokio::test]
async fn hl7_mllp_send_from_python_hl7_feeds_chartrack() {
    let Some(client) = mllp_send() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("mllp_send is required in CI: .ci/run installs it (pip install hl7==0.4.5 in .venv-ci); or set CHARTRACK_MLLP_SEND");
        }
        eprintln!("skipped: mllp_send not found (set CHARTRACK_MLLP_SEND, or run .ci/run)");
        return;
    };
    let app = spawn(&[("W4", "4W")]).await;
    let h = app.seed().await;
    let port = app.hl7.unwrap().port();
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hl7-samples");
    let send = |name: &str| {
        let file = samples.join(name);
        let client = client.clone();
        async move { mllp_send_file(&client, port, &file).await }
    };
    assert_eq!(send("01_adt_a04_register.hl7").await, ["MSA|AA|SMP0001"]);
    assert_eq!(
        patient(&app, "810001").await,
        Some(("TESTER".into(), "PAT".into(), Some("1991-11-11".into())))
    );
    assert_eq!(send("02_adt_a01_admit.hl7").await, ["MSA|AA|SMP0002"]);
    assert_eq!(
        app.volume(&h.volumes[2]).await["patient_unit"]["code"],
        "4W"
    );
    assert_eq!(send("03_adt_a02_transfer.hl7").await, ["MSA|AA|SMP0003"]);
    assert_eq!(
        app.volume(&h.volumes[0]).await["patient_unit"]["code"],
        "4W"
    );
    assert_eq!(send("04_adt_a03_discharge.hl7").await, ["MSA|AA|SMP0004"]);
    assert_eq!(app.volume(&h.volumes[2]).await["patient_unit"], Value::Null);
    assert_eq!(send("05_adt_a40_merge.hl7").await, ["MSA|AA|SMP0005"]);
    assert_eq!(app.volume(&h.volumes[1]).await["mrn"], "123405");
    assert_eq!(send("06_siu_s12_new.hl7").await, ["MSA|AA|SMP0006"]);
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    let made: Vec<&Value> = list["pull"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == "clinic appointment APT9001")
        .collect();
    assert_eq!(made.len(), 1, "{list}");
    let id = made[0]["id"].as_i64().unwrap();
    assert_eq!(made[0]["needed_by"], "2026-03-03T12:00:00.000Z");
    assert_eq!(send("07_siu_s14_moved.hl7").await, ["MSA|AA|SMP0007"]);
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(r["needed_by"], "2026-03-03T14:00:00.000Z", "{r}");
    assert_eq!(send("08_siu_s15_cancelled.hl7").await, ["MSA|AA|SMP0008"]);
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(
        (r["status"].as_str(), r["end_reason"].as_str()),
        (Some("cancelled"), Some("clinic_cancelled"))
    );
    assert_eq!(
        send("09_adt_a02_unknown_unit.hl7").await,
        ["MSA|AE|SMP0009"]
    );
    // Every sample again in one file, one connection: resends, answered as before.
    let all = app.dir.path().join("all.hl7");
    let mut text = String::new();
    let mut names: Vec<_> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    names.sort();
    for p in &names {
        text.push_str(&std::fs::read_to_string(p).unwrap());
    }
    std::fs::write(&all, text).unwrap();
    let answers = mllp_send_file(&client, port, &all).await;
    let expected: Vec<String> = (1..=9)
        .map(|i| format!("MSA|{}|SMP000{i}", if i == 9 { "AE" } else { "AA" }))
        .collect();
    assert_eq!(answers, expected);
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert!(
        !list.to_string().contains("APT9001"),
        "no request made again: {list}"
    );
    until(Duration::from_secs(5), "metrics", || async {
        app.metrics()
            .await
            .contains("chartrack_hl7_messages_received_total{message_type=\"ADT^A02\"} 4")
    })
    .await;
    app.stop().await;
}
