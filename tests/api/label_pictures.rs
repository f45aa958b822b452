//! Labels drawn, rasterised by a real browser (headless Chromium, as a sheet printer's driver
//! would), and read back by rxing's decoder: every kind, in Code 128 and DataMatrix, gives back
//! its barcode.

use crate::browser::browser;
use crate::labels::{department, ok};
use rxing::BarcodeFormat;

/// PNG bytes to grey levels: the camera fallback's own reader (`labels::photo::grey`, tested
/// with the photos), not a second copy of it.
fn luma(png_bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    chartrack::labels::photo::grey(png_bytes).unwrap()
}

async fn round_trip(symbology: &str, format: BarcodeFormat) {
    let Some(b) = browser().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), &format!("label_symbology = \"{symbology}\"\n"));
    let reports = dir.path().join("r.csv");
    std::fs::write(
        &reports,
        "barcode,mrn,description\nRP0001,123456,Lab results\n",
    )
    .unwrap();
    ok(&config, &["import", "reports", reports.to_str().unwrap()]);
    let cases = [
        ("volume", "LB0001", "LB0001".to_owned()),
        ("location", "FR-00-19", String::new()),
        ("container", "CART-1", String::new()),
        ("badge", "clara", String::new()),
        ("report", "RP0001", "RP0001".to_owned()),
    ];
    for (kind, id, expected) in cases {
        let svg = dir.path().join(format!("{kind}.svg"));
        ok(
            &config,
            &[
                "label",
                kind,
                id,
                "--format",
                "svg",
                "--out",
                svg.to_str().unwrap(),
            ],
        );
        // The barcode the label must carry: its own, or the one issued (location, badge).
        let text = std::fs::read_to_string(&svg).unwrap();
        let expected = if expected.is_empty() {
            let zpl = ok(&config, &["label", kind, id]);
            zpl.split("^FD")
                .last()
                .unwrap()
                .split("^FS")
                .next()
                .unwrap()
                .to_owned()
        } else {
            expected
        };
        // At four times its size on a white page, as a driver would rasterise it.
        let page = dir.path().join(format!("{kind}.html"));
        std::fs::write(
            &page,
            format!("<!doctype html><body style=\"margin:20px;background:#fff\"><img src=\"{kind}.svg\" style=\"width:1008px\"></body>"),
        )
        .unwrap();
        b.client
            .goto(&format!("file://{}", page.display()))
            .await
            .unwrap();
        let shot = b.client.screenshot().await.unwrap();
        let (grey, w, h) = luma(&shot);
        let read = rxing::helpers::detect_in_luma(grey, w, h, Some(format))
            .unwrap_or_else(|e| panic!("{symbology} {kind} label did not decode: {e}\n{text}"));
        assert_eq!(read.getText(), expected, "{symbology} {kind}");
    }
}

#[tokio::test]
async fn every_label_kind_in_code_128_reads_back_after_a_browser_rasterises_it() {
    round_trip("code128", BarcodeFormat::CODE_128).await;
}

#[tokio::test]
async fn every_label_kind_in_datamatrix_reads_back_after_a_browser_rasterises_it() {
    round_trip("datamatrix", BarcodeFormat::DATA_MATRIX).await;
}

#[test]
fn a_png_label_reads_back_as_its_barcode() {
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "");
    let out = dir.path().join("v.png");
    ok(
        &config,
        &[
            "label",
            "volume",
            "LB0002",
            "--format",
            "png",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let (grey, w, h) = luma(&std::fs::read(&out).unwrap());
    assert!(w > 700, "300 dpi: {w} px wide");
    let read = rxing::helpers::detect_in_luma(grey, w, h, Some(BarcodeFormat::CODE_128)).unwrap();
    assert_eq!(read.getText(), "LB0002");
}
