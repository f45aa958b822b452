//! The label pages in a real browser: a clerk opens a chart, previews its label, prints it on
//! the department's printer (a loopback listener), is told where it went, must give a reason to
//! print it again, and prints a sheet of shelf labels; a supervisor sees the record; a nurse
//! cannot print.

use crate::browser::{browser, sign_in, text_until};
use crate::helpers::*;
use chartrack::config::{Config, PrinterConfig};
use chartrack::domain::Role;
use fantoccini::Locator;
use std::io::Read;
use std::time::Duration;

/// A printer on loopback that hands over what each connection sent.
fn printer() -> (String, std::sync::mpsc::Receiver<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let mut got = String::new();
            c.unwrap().read_to_string(&mut got).unwrap();
            if tx.send(got).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

async fn app_with_printer(address: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("chartrack.db"),
        printers: vec![PrinterConfig {
            name: "fr-zebra".into(),
            address: address.into(),
            size: "4x2".into(),
        }],
        ..Config::default()
    };
    TestApp::spawn_with_config(dir, chartrack::clock::Clock::manual(start_time()), config).await
}

async fn click(b: &fantoccini::Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_clerk_previews_prints_and_reprints_a_volume_label_and_a_supervisor_sees_the_record() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let (addr, got) = printer();
    let app = app_with_printer(&addr).await;
    let h = app.seed().await;
    let v = h.volumes[0].clone();
    app.person("clara", Role::Clerk).await;
    sign_in(b, &app, "clara").await;

    // From the chart to its label: a preview with the barcode drawn.
    b.goto(&format!("{}/volumes/{v}", app.base)).await.unwrap();
    click(b, &format!("a[href='/labels/volume/{v}']")).await;
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".label-preview svg rect"))
        .await
        .unwrap();
    click(b, "form.print button[type=submit]").await;
    let said = text_until(b, ".answer-ok", "sent", |t| t.contains("fr-zebra")).await;
    assert!(said.contains("Sent to fr-zebra"), "{said}");
    let zpl = got.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        zpl.starts_with("^XA") && zpl.contains(&format!("^FD{v}^FS")),
        "{zpl}"
    );

    // Again: the page says when it was printed and asks why; without a reason the browser will
    // not send the form, with one it prints.
    b.goto(&format!("{}/labels/volume/{v}", app.base))
        .await
        .unwrap();
    let note = text_until(b, "p.note", "printed before", |t| {
        t.contains("Printed before")
    })
    .await;
    assert!(
        note.contains("clara") && note.contains("fr-zebra"),
        "{note}"
    );
    let reason = b.find(Locator::Id("reason")).await.unwrap();
    assert_eq!(
        reason.attr("required").await.unwrap().as_deref(),
        Some("true")
    );
    reason.send_keys("label torn off the cover").await.unwrap();
    click(b, "form.print button[type=submit]").await;
    text_until(b, ".answer-ok", "sent again", |t| t.contains("fr-zebra")).await;
    assert!(got
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .contains(&v));

    // A sheet of shelf labels for the office printer.
    b.goto(&format!("{}/labels", app.base)).await.unwrap();
    b.find(Locator::Id("from"))
        .await
        .unwrap()
        .send_keys("A")
        .await
        .unwrap();
    b.find(Locator::Id("to"))
        .await
        .unwrap()
        .send_keys("Z")
        .await
        .unwrap();
    b.find(Locator::Css(
        "form[action='/labels/sheet'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let tools = text_until(b, ".tools", "the sheet", |t| t.contains("labels on")).await;
    assert!(tools.contains("1 sheet(s)"), "{tools}");
    let cells = b.find_all(Locator::Css(".sheet svg > svg")).await.unwrap();
    assert!(!cells.is_empty(), "labels placed on the sheet");

    // The supervisor's record: both prints and the sheet, the reprint with its reason.
    app.person("sue", Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    let (status, html) = app.page(&sue.cookie, "/labels/printed").await;
    assert_eq!(status, 200);
    assert!(html.contains("label torn off the cover"), "{html}");
    assert!(
        html.contains("clara") && html.contains("sheet:letter"),
        "{html}"
    );
    // A nurse may not print.
    app.person("nina", Role::Nurse).await;
    let nina = app.sign_in("nina").await;
    let (status, _) = app.page(&nina.cookie, &format!("/labels/volume/{v}")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_printer_that_does_not_answer_is_named_on_the_page_and_nothing_is_recorded() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let app = app_with_printer(&dead).await;
    let h = app.seed().await;
    app.person("clara", Role::Clerk).await;
    let clara = app.sign_in("clara").await;
    let r = app
        .form(
            &clara,
            &format!("/labels/volume/{}/print", h.volumes[0]),
            &[("printer", "fr-zebra"), ("copies", "1")],
            Some(&clara.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 502);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("printer fr-zebra") && html.contains("nothing was printed"),
        "{html}"
    );
    let (_, html) = app.page(&clara.cookie, "/labels/printed").await;
    assert!(
        !html.contains("fr-zebra"),
        "not for a clerk, or nothing recorded: {html}"
    );
    let n: i64 = app
        .store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM print_job", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 0);
    // Bad input: copies out of range, an unknown printer, an unknown kind.
    for (form, want) in [
        (vec![("printer", "fr-zebra"), ("copies", "0")], 422),
        (vec![("printer", "nope"), ("copies", "1")], 422),
    ] {
        let r = app
            .form(
                &clara,
                &format!("/labels/volume/{}/print", h.volumes[0]),
                &form,
                Some(&clara.csrf),
            )
            .await;
        assert_eq!(r.status().as_u16(), want, "{form:?}");
    }
    let (status, _) = app.page(&clara.cookie, "/labels/sticker/X").await;
    assert_eq!(status, 404);
    let (status, _) = app.page(&clara.cookie, "/labels/badge/clara").await;
    assert_eq!(status, 403, "badges are an admin's");
}
