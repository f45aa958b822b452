//! The scan page's camera fallback in a real browser: a photo chosen with the page's camera
//! control is read and recorded, and the answer shown like a scan's; a photo with no barcode is
//! said so and records nothing.

use crate::browser::{browser, open_scan_page, sign_in, text_until};
use crate::helpers::*;
use crate::photos::{label_picture, png_of};
use chartrack::domain::Role;
use fantoccini::Locator;

#[tokio::test]
async fn a_photo_taken_on_the_scan_page_is_recorded_and_answered_like_a_scan() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[0];
    app.person("nina", Role::Nurse).await;
    sign_in(b, &app, "nina").await;
    open_scan_page(b, &app.base, "w4").await;

    let photo = app.dir.path().join("label.png");
    std::fs::write(&photo, png_of(label_picture(v, 3, 0, 255, 1))).unwrap();
    b.find(Locator::Id("camera-input"))
        .await
        .unwrap()
        .send_keys(photo.to_str().unwrap())
        .await
        .unwrap();
    let said = text_until(b, "#answer .message", "the photo's answer", |t| {
        t.contains("received at 4W")
    })
    .await;
    assert!(said.contains(v.as_str()), "{said}");
    let (_, moves) = app
        .get(&format!("/api/v1/volumes/{v}/movements"), &app.admin)
        .await;
    assert_eq!(moves[0]["to"], "4W", "{moves}");
    assert_eq!(
        moves[0]["user"], "nina",
        "recorded as the signed-in nurse: {moves}"
    );

    // A photo with nothing in it: said, not recorded; the scanner's box is ready again.
    let blank = app.dir.path().join("blank.png");
    std::fs::write(&blank, png_of((vec![200u8; 300 * 200], 300, 200))).unwrap();
    b.find(Locator::Id("camera-input"))
        .await
        .unwrap()
        .send_keys(blank.to_str().unwrap())
        .await
        .unwrap();
    let said = text_until(b, "#answer .verdict", "the refusal", |t| {
        t == "Not recorded"
    })
    .await;
    assert_eq!(said, "Not recorded");
    let why = b
        .find(Locator::Css("#answer .message"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(why.contains("no barcode"), "{why}");
    let (_, after) = app
        .get(&format!("/api/v1/volumes/{v}/movements"), &app.admin)
        .await;
    assert_eq!(
        after.as_array().unwrap().len(),
        moves.as_array().unwrap().len()
    );
}
