//! The camera fallback, `POST /api/v1/scans/image`: photos of labels (PNG and JPEG; rotated,
//! small, faint) are read and recorded exactly like typed scans; noise, what is not a picture,
//! and what is too large are refused with a 4xx and record nothing.

use crate::helpers::*;
use serde_json::Value;

/// A picture of a Code 128 label: `module` pixels a module, dark and light grey levels,
/// turned by `quarter_turns` × 90°.
pub(crate) fn label_picture(
    text: &str,
    module: usize,
    dark: u8,
    light: u8,
    quarter_turns: u8,
) -> (Vec<u8>, u32, u32) {
    let modules = chartrack::labels::code128_modules(text).unwrap();
    let (w, h) = (modules.len() * module + 40, 60 * module.max(2) + 40);
    let mut px = vec![light; w * h];
    for (i, &on) in modules.iter().enumerate() {
        if on {
            for y in 20..h - 20 {
                for dx in 0..module {
                    px[y * w + 20 + i * module + dx] = dark;
                }
            }
        }
    }
    let (mut px, mut w, mut h) = (px, w, h);
    for _ in 0..quarter_turns {
        // Rotate 90° clockwise.
        let mut r = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                r[x * h + (h - 1 - y)] = px[y * w + x];
            }
        }
        px = r;
        std::mem::swap(&mut w, &mut h);
    }
    (px, w as u32, h as u32)
}

pub(crate) fn png_of((px, w, h): (Vec<u8>, u32, u32)) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, w, h);
        e.set_color(png::ColorType::Grayscale);
        e.set_depth(png::BitDepth::Eight);
        e.write_header().unwrap().write_image_data(&px).unwrap();
    }
    out
}

fn jpeg_of((px, w, h): (Vec<u8>, u32, u32)) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&px, w as u16, h as u16, jpeg_encoder::ColorType::Luma)
        .unwrap();
    out
}

async fn send(app: &TestApp, station: &str, id: &str, kind: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(format!(
            "{}/api/v1/scans/image?station={station}&id={id}",
            app.base
        ))
        .bearer_auth(&app.admin)
        .header("content-type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn recorded(app: &TestApp, barcode: &str, id: &str) -> usize {
    let (_, moves) = app
        .get(&format!("/api/v1/volumes/{barcode}/movements"), &app.admin)
        .await;
    moves
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["scan_id"] == id)
        .count()
}

#[tokio::test]
async fn a_photo_of_a_label_is_recorded_like_a_typed_scan_whatever_its_angle_size_and_contrast() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[0];
    // Straight, sharp: the same answer as a typed scan gets.
    let first = id();
    let (s, a) = send(
        &app,
        "w4",
        &first,
        "image/png",
        png_of(label_picture(v, 3, 0, 255, 0)),
    )
    .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["accepted"], true, "{a}");
    assert_eq!(a["action"], "receive", "{a}");
    assert_eq!(a["volume"]["barcode"], v.as_str(), "{a}");
    assert_eq!(recorded(&app, v, &first).await, 1);
    // The same id again is the same scan, answered alike and recorded once.
    let (s, again) = send(
        &app,
        "w4",
        &first,
        "image/png",
        png_of(label_picture(v, 3, 0, 255, 0)),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(again["scan_id"], a["scan_id"]);
    assert_eq!(recorded(&app, v, &first).await, 1);

    // Turned, small, faint, and as JPEG: each read and recorded at the other station.
    let stations = ["card", "w4"];
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "quarter turn",
            "image/png",
            png_of(label_picture(v, 3, 0, 255, 1)),
        ),
        (
            "upside down",
            "image/png",
            png_of(label_picture(v, 3, 0, 255, 2)),
        ),
        (
            "three quarter turns",
            "image/png",
            png_of(label_picture(v, 3, 0, 255, 3)),
        ),
        ("small", "image/png", png_of(label_picture(v, 2, 0, 255, 0))),
        (
            "large",
            "image/png",
            png_of(label_picture(v, 12, 0, 255, 0)),
        ),
        (
            "faint",
            "image/png",
            png_of(label_picture(v, 3, 110, 150, 0)),
        ),
        (
            "jpeg",
            "image/jpeg",
            jpeg_of(label_picture(v, 3, 0, 255, 0)),
        ),
        (
            "jpeg, turned",
            "image/jpeg",
            jpeg_of(label_picture(v, 4, 20, 230, 1)),
        ),
    ];
    for (n, (what, kind, body)) in cases.into_iter().enumerate() {
        // Past the duplicate window, so each photo is a movement of its own.
        app.clock.advance(chrono::Duration::seconds(30));
        let scan = id();
        let station = stations[n % 2];
        let (s, a) = send(&app, station, &scan, kind, body).await;
        assert_eq!(s, 200, "{what}: {a}");
        assert_eq!(a["volume"]["barcode"], v.as_str(), "{what}: {a}");
        assert_eq!(recorded(&app, v, &scan).await, 1, "{what}");
    }
}

#[tokio::test]
async fn noise_and_what_is_not_a_picture_or_too_large_are_refused_and_record_nothing() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[0];
    // Noise: a picture with no barcode in it.
    let mut seed = 7u32;
    let noise: Vec<u8> = (0..400 * 300)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        })
        .collect();
    let scan = id();
    let (s, e) = send(&app, "w4", &scan, "image/png", png_of((noise, 400, 300))).await;
    assert_eq!(s, 422, "{e}");
    assert!(e["error"].as_str().unwrap().contains("no barcode"), "{e}");
    // Not a picture, though it says it is; a kind that is not taken; nothing at all.
    let (s, e) = send(&app, "w4", &id(), "image/png", b"GIF89a not a png".to_vec()).await;
    assert_eq!(s, 415, "{e}");
    let (s, e) = send(
        &app,
        "w4",
        &id(),
        "image/gif",
        png_of(label_picture(v, 3, 0, 255, 0)),
    )
    .await;
    assert_eq!(s, 415, "{e}");
    let (s, e) = send(&app, "w4", &id(), "image/png", Vec::new()).await;
    assert_eq!(s, 400, "{e}");
    // A broken PNG.
    let mut broken = png_of(label_picture(v, 3, 0, 255, 0));
    broken.truncate(60);
    let (s, e) = send(&app, "w4", &id(), "image/png", broken).await;
    assert_eq!(s, 422, "{e}");
    // Over 8 MB: 413. Under it but over the 1 MB other requests take: read.
    let (s, e) = send(&app, "w4", &id(), "image/png", vec![0u8; 9 * 1024 * 1024]).await;
    assert_eq!(s, 413, "{e}");
    let (px, w, hgt) = label_picture(v, 3, 0, 255, 0);
    let mut big = png_of((px, w, hgt));
    // Pad with a private chunk so the file is 2 MB and still a valid picture.
    let iend = big.len() - 12;
    let mut chunk = Vec::new();
    let data = vec![0u8; 2 * 1024 * 1024];
    chunk.extend((data.len() as u32).to_be_bytes());
    chunk.extend(b"prVt");
    chunk.extend(&data);
    let crc = {
        let mut c = 0xffff_ffffu32;
        for &b in b"prVt".iter().chain(&data) {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    };
    chunk.extend(crc.to_be_bytes());
    big.splice(iend..iend, chunk);
    let big_id = id();
    let (s, a) = send(&app, "w4", &big_id, "image/png", big).await;
    assert_eq!(s, 200, "a 2 MB photo is taken: {a}");
    // An unknown station: 404, as for a typed scan.
    let (s, _) = send(
        &app,
        "nowhere",
        &id(),
        "image/png",
        png_of(label_picture(v, 3, 0, 255, 0)),
    )
    .await;
    assert_eq!(s, 404);
    // None of the refused ones was recorded: the noise's id is still free for a good photo.
    assert_eq!(recorded(&app, v, &scan).await, 0);
    let (s, _) = send(
        &app,
        "card",
        &scan,
        "image/png",
        png_of(label_picture(v, 3, 0, 255, 0)),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(recorded(&app, v, &scan).await, 1);
}
